//! `awsenv sso login|logout|profiles`, and what `list` and `status` show about sign-ins.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};

use super::config::{self, SsoSession};
use super::portal::{Account, Portal, PortalError};
use super::tokens::{self, Ctx, Mode};
use crate::awsconfig::AwsConfig;
use crate::cli::SsoCommand;
use crate::configedit::{ConfigFile, section_names, unique_name};
use crate::runtime::block_on;
use crate::settings::Settings;
use crate::store::{self, SecretStore};
use crate::timefmt::{now_epoch, remaining};

struct Opened {
    settings: Settings,
    config: AwsConfig,
    store: Box<dyn SecretStore>,
}

async fn open() -> Result<Opened> {
    let settings = Settings::load()?;
    let config = AwsConfig::load().await?;
    let store = store::open(&settings)?;
    Ok(Opened {
        settings,
        config,
        store,
    })
}

impl Opened {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &*self.store,
            settings: &self.settings,
        }
    }
}

/// Runs an `awsenv sso …` command.
pub fn run(cmd: SsoCommand) -> Result<i32> {
    match cmd {
        SsoCommand::Login {
            name,
            use_device_code,
        } => login(name.as_deref(), use_device_code),
        SsoCommand::Logout { name } => logout(name.as_deref()),
        SsoCommand::Profiles { name, write } => profiles(name.as_deref(), write),
    }
}

fn login(name: Option<&str>, device: bool) -> Result<i32> {
    block_on(async {
        let o = open().await?;
        let session = config::pick(&o.config, name)?;
        let profile = name.filter(|n| o.config.sso_session(n).is_none());
        let cmd = session.login_command(profile);
        let mode = if device { Mode::Device } else { Mode::Auto };
        let expires_at = tokens::login(&o.ctx(), &session, mode, &cmd).await?;
        eprintln!(
            "awsenv: signed in to IAM Identity Center at {}; the access token lasts {} and is refreshed without a browser until the portal session ends",
            session.describe(),
            remaining(expires_at - now_epoch())
        );
        Ok(0)
    })?
}

/// Sessions with tokens in the store (also those no longer in the config).
fn stored_sessions(o: &Opened) -> Result<Vec<SsoSession>> {
    let mut v = Vec::new();
    for key in o.store.keys()? {
        if !key.starts_with("sso/") {
            continue;
        }
        let Some(text) = o.store.get(&key)? else {
            continue;
        };
        if let Ok(e) = serde_json::from_str::<tokens::Entry>(&text) {
            let configured = config::all_sessions(&o.config)
                .into_iter()
                .find(|s| s.store_key() == key);
            v.push(configured.unwrap_or(SsoSession {
                name: None,
                start_url: e.start_url.clone(),
                region: e.region.clone(),
                scopes: e.scopes.clone(),
            }));
        }
    }
    Ok(v)
}

/// Drops cached role credentials that came from `sessions` (all SSO ones when `None`).
fn drop_role_credentials(o: &Opened, sessions: Option<&[SsoSession]>) -> Result<usize> {
    let mut n = 0;
    for key in o.store.keys()? {
        if !key.starts_with("session/") {
            continue;
        }
        let Some(text) = o.store.get(&key)? else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v.get("kind").and_then(|k| k.as_str()) != Some("sso") {
            continue;
        }
        let matches = match sessions {
            None => true,
            Some(list) => v
                .get("profile")
                .and_then(|p| p.as_str())
                .and_then(|p| o.config.profile(p).ok())
                .and_then(|p| config::session_of(&o.config, &p).ok().flatten())
                .is_none_or(|s| list.iter().any(|x| x.store_key() == s.store_key())),
        };
        if matches && o.store.delete(&key)? {
            n += 1;
        }
    }
    Ok(n)
}

fn logout(name: Option<&str>) -> Result<i32> {
    block_on(async {
        let o = open().await?;
        let sessions = match name {
            Some(_) => vec![config::pick(&o.config, name)?],
            None => stored_sessions(&o)?,
        };
        let mut ended = 0;
        let mut first_error = None;
        for s in &sessions {
            match tokens::logout(&o.ctx(), s).await {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let dropped = drop_role_credentials(&o, name.map(|_| sessions.as_slice()))?;
        if let Some(e) = first_error {
            return Err(e);
        }
        eprintln!(
            "awsenv: signed out of {ended} IAM Identity Center session{} and removed {dropped} cached role credential{}",
            if ended == 1 { "" } else { "s" },
            if dropped == 1 { "" } else { "s" }
        );
        let cli: Vec<&SsoSession> = sessions
            .iter()
            .filter(|s| tokens::read_cli_token(s).is_some())
            .collect();
        if !cli.is_empty() && !o.settings.sso.write_aws_cache {
            eprintln!(
                "awsenv: note: the AWS CLI still holds its own token for {} in ~/.aws/sso/cache; 'aws sso logout' ends it",
                cli.iter()
                    .map(|s| s.start_url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(0)
    })?
}

async fn reachable(
    portal: &Portal,
    token: &str,
) -> Result<Vec<(Account, Vec<String>)>, PortalError> {
    let mut v = Vec::new();
    for a in portal.accounts(token).await? {
        let roles = match portal.roles(token, &a.id).await {
            Ok(r) => r,
            // An account whose assignment went away between the two calls.
            Err(PortalError::Forbidden) => Vec::new(),
            Err(e) => return Err(e),
        };
        v.push((a, roles));
    }
    Ok(v)
}

/// A profile-name fragment: lower case, `[a-z0-9._-]`, no leading/trailing/double `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// One row of `sso profiles`.
struct Row {
    account: Account,
    role: String,
    profile: String,
    configured: bool,
}

fn profiles(name: Option<&str>, write: bool) -> Result<i32> {
    block_on(async {
        let o = open().await?;
        let session = config::pick(&o.config, name)?;
        let ctx = o.ctx();
        let portal = Portal::new(&session.region)?;
        let mut token = tokens::access_token(&ctx, &session, None, None).await?;
        let listed = match reachable(&portal, &token).await {
            Err(PortalError::Unauthorized) => {
                token = tokens::access_token(&ctx, &session, Some(&token), None).await?;
                reachable(&portal, &token).await
            }
            other => other,
        };
        let listed = listed.map_err(|e| match e {
            PortalError::Failed(e) => e,
            PortalError::Unauthorized => anyhow!(
                "the AWS access portal refuses the IAM Identity Center token for {}; sign in again with '{}'",
                session.describe(),
                session.login_command(None)
            ),
            PortalError::Forbidden => anyhow!("the AWS access portal denies listing accounts"),
        })?;

        let session_name = session.name.clone().unwrap_or_default();
        let label = format!("sso profiles {session_name}");
        let file = ConfigFile::read()?;
        // A damaged block (BEGIN without END) stops a write, not the listing.
        let outside = match file.outside(&label) {
            Err(e) if write => return Err(e),
            other => other.unwrap_or_else(|_| file.text.clone()),
        };
        let user_names = section_names(&outside, false);
        // (account, role) -> the user's own profile for it.
        let mut existing: BTreeMap<(String, String), String> = BTreeMap::new();
        for n in o.config.names() {
            if !user_names.contains(&n) {
                continue;
            }
            if let Ok(p) = o.config.profile(&n)
                && let Ok(Some(r)) = config::role_of(&o.config, &p)
                && r.session.store_key() == session.store_key()
            {
                existing
                    .entry((r.account_id.clone(), r.role_name.clone()))
                    .or_insert(n);
            }
        }
        // No generated name may take one of the config file (outside the block), of the
        // credentials file, or another generated one.
        let mut taken = file.taken(&label).unwrap_or_else(|_| user_names.clone());
        let mut notices = Vec::new();
        let mut rows = Vec::new();
        for (a, roles) in &listed {
            for role in roles {
                if let Some(p) = existing.get(&(a.id.clone(), role.clone())) {
                    rows.push(Row {
                        account: a.clone(),
                        role: role.clone(),
                        profile: p.clone(),
                        configured: true,
                    });
                    continue;
                }
                let base = if slug(&a.name).is_empty() {
                    a.id.clone()
                } else {
                    slug(&a.name)
                };
                let wanted = format!("{base}-{}", slug(role));
                let name = unique_name(&wanted, &a.id, &mut taken);
                if name != wanted && write && file.in_credentials(&wanted) {
                    notices.push(format!(
                        "profile {wanted} is defined in the AWS credentials file; {} {role} is written as {name}",
                        a.id
                    ));
                } else if name != wanted && write {
                    notices.push(format!(
                        "profile {wanted} is already taken; {} {role} is written as {name}",
                        a.id
                    ));
                }
                rows.push(Row {
                    account: a.clone(),
                    role: role.clone(),
                    profile: name,
                    configured: false,
                });
            }
        }

        super::offered::save(
            session.name.as_deref().unwrap_or(&session.start_url),
            rows.iter()
                .map(|r| super::offered::Offered {
                    account_id: r.account.id.clone(),
                    account_name: r.account.name.clone(),
                    role: r.role.clone(),
                    profile: r.profile.clone(),
                    configured: r.configured || write,
                })
                .collect(),
        );
        let mut out = String::new();
        let w_name = rows
            .iter()
            .map(|r| r.account.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_role = rows.iter().map(|r| r.role.len()).max().unwrap_or(4).max(4);
        out.push_str(&format!(
            "{:<12}  {:<w_name$}  {:<w_role$}  PROFILE\n",
            "ACCOUNT", "NAME", "ROLE"
        ));
        for r in &rows {
            out.push_str(&format!(
                "{:<12}  {:<w_name$}  {:<w_role$}  {}{}\n",
                r.account.id,
                r.account.name,
                r.role,
                r.profile,
                if r.configured {
                    ""
                } else if write {
                    " (written)"
                } else {
                    " (not in config)"
                }
            ));
        }
        crate::commands::write_stdout(out.as_bytes())?;

        if write {
            let Some(sname) = session.name.as_deref() else {
                bail!(
                    "'awsenv sso profiles --write' writes profiles that name an [sso-session]; add one for {} and set sso_session on your profiles",
                    session.start_url
                );
            };
            let new: Vec<&Row> = rows.iter().filter(|r| !r.configured).collect();
            for n in &notices {
                eprintln!("awsenv: note: {n}");
            }
            let backup = write_block(&file, &label, sname, &session, &new)?;
            let n = new.len();
            eprintln!(
                "awsenv: {} {n} profile{} in {} (between the '# BEGIN/END awsenv sso profiles {sname}' lines; the rest of the file is untouched){}",
                if n == 0 { "no new profiles;" } else { "wrote" },
                if n == 1 { "" } else { "s" },
                file.path.display(),
                match backup {
                    Some(b) => format!("; the previous file is in {}", b.display()),
                    None => String::new(),
                }
            );
        }
        Ok(0)
    })?
}

/// Replaces (or appends, or removes) the generated block of `sname` through the config
/// editor; the user's text outside it is kept byte for byte. Returns the backup's path.
fn write_block(
    file: &ConfigFile,
    label: &str,
    sname: &str,
    session: &SsoSession,
    rows: &[&Row],
) -> Result<Option<std::path::PathBuf>> {
    let mut body = String::new();
    for r in rows {
        body.push_str(&format!(
            "[profile {}]\nsso_session = {sname}\nsso_account_id = {}\nsso_role_name = {}\nregion = {}\n\n",
            r.profile, r.account.id, r.role, session.region
        ));
    }
    let note =
        format!("generated by 'awsenv sso profiles {sname} --write'; edits inside are replaced");
    let new_text = file.with_block(label, &note, &body)?;
    let generated: Vec<String> = rows.iter().map(|r| r.profile.clone()).collect();
    file.verify(&new_text, &generated)?;
    file.replace(&new_text)
}

/// The `[profile …]` section for a role the portal offered (`sso profiles` wrote it the same
/// way): through `[sso-session NAME]` when the sign-in has one, else with the legacy start URL
/// and region. `key` is the sign-in as the offer cache names it (session name or start URL).
/// Returns the section and the session's name, if any.
pub fn offered_section(
    config: &AwsConfig,
    key: &str,
    o: &super::offered::Offered,
) -> Result<(String, Option<String>)> {
    let session = config::all_sessions(config)
        .into_iter()
        .find(|s| s.name.as_deref() == Some(key) || (s.name.is_none() && s.start_url == key))
        .ok_or_else(|| {
            anyhow!(
                "the sign-in {} that offered {} is no longer in {}",
                crate::sanitize::printable(key.as_bytes(), 100),
                o.profile,
                crate::awsconfig::config_path_text()
            )
        })?;
    let from = match &session.name {
        Some(n) => format!("sso_session = {n}\n"),
        None => format!(
            "sso_start_url = {}\nsso_region = {}\n",
            session.start_url, session.region
        ),
    };
    Ok((
        format!(
            "[profile {}]\n{from}sso_account_id = {}\nsso_role_name = {}\nregion = {}\n\n",
            o.profile, o.account_id, o.role, session.region
        ),
        session.name,
    ))
}

/// Adds one offered role's `section` (from [`offered_section`], profile `profile`) to the
/// block `awsenv sso profiles SNAME --write` keeps in the AWS config, through the one config
/// editor: the block's other profiles and the rest of the file are kept. Returns the file
/// written and its backup.
pub fn write_offered(
    sname: &str,
    profile: &str,
    section: &str,
) -> Result<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    let label = format!("sso profiles {sname}");
    let file = ConfigFile::read()?;
    if file.taken(&label)?.contains(profile) || section_names(&file.text, false).contains(profile) {
        bail!(
            "profile {profile} already exists in {} or the credentials file; run 'awsenv sso profiles {sname}' to list the portal's roles again",
            file.path.display()
        );
    }
    let mut body = match crate::configedit::find_block(&file.text, &label)? {
        Some((s, e)) => {
            // The block without its BEGIN and END lines.
            let lines: Vec<&str> = file.text[s..e].split_inclusive('\n').collect();
            lines
                .get(1..lines.len().saturating_sub(1))
                .unwrap_or_default()
                .concat()
        }
        None => String::new(),
    };
    body.push_str(section);
    let note =
        format!("generated by 'awsenv sso profiles {sname} --write'; edits inside are replaced");
    let new_text = file.with_block(&label, &note, &body)?;
    file.verify(&new_text, &[profile.to_string()])?;
    let backup = file.replace(&new_text)?;
    Ok((file.path.clone(), backup))
}

fn session_text(o_settings: &Settings, st: &tokens::Status) -> String {
    let now = now_epoch();
    let portal = |at: Option<i64>| match at {
        Some(at) => {
            let left = at + o_settings.sso.session_duration.as_secs() as i64 - now;
            if left > 0 {
                format!("portal session about {} left", remaining(left))
            } else {
                format!(
                    "portal session longer than {} (sso.session_duration)",
                    crate::timefmt::human(o_settings.sso.session_duration)
                )
            }
        }
        None => String::new(),
    };
    match (st.access_left, st.cli_left) {
        (Some(l), _) if l > 0 => format!(
            "signed in: access token {}{}, {}",
            remaining(l),
            if st.refreshable {
                " (refreshed automatically)"
            } else {
                ""
            },
            portal(st.signed_in_at)
        ),
        (Some(_), _) if st.refreshable => format!(
            "signed in: access token expired, refreshed at next use, {}",
            portal(st.signed_in_at)
        ),
        (_, Some(c)) => format!(
            "signed in with the AWS CLI: its token {} left",
            remaining(c)
        ),
        _ => "not signed in".to_string(),
    }
}

/// The `list` section about IAM Identity Center sign-ins (empty when none is configured).
pub fn list_text(config: &AwsConfig, store: &dyn SecretStore, settings: &Settings) -> String {
    let sessions = config::all_sessions(config);
    if sessions.is_empty() {
        return String::new();
    }
    let ctx = Ctx { store, settings };
    let names: Vec<String> = sessions
        .iter()
        .map(|s| s.name.clone().unwrap_or_else(|| "(legacy)".into()))
        .collect();
    let w = names.iter().map(String::len).max().unwrap_or(11).max(11);
    let wu = sessions
        .iter()
        .map(|s| s.start_url.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut out = format!("\n{:<w$}  {:<wu$}  STATE\n", "SSO SESSION", "START URL");
    for (s, n) in sessions.iter().zip(&names) {
        let state = match tokens::status(&ctx, s) {
            Ok(st) => session_text(settings, &st),
            Err(e) => format!(
                "unknown ({})",
                crate::awsconfig::one_line(&format!("{e:#}"))
            ),
        };
        out.push_str(&format!("{n:<w$}  {:<wu$}  {state}\n", s.start_url));
    }
    out
}

/// The `status` line for an active profile whose chain starts at an SSO profile.
pub fn status_line(profile: &str) -> Option<String> {
    let (settings, config) = block_on(async {
        let settings = Settings::load().ok()?;
        let config = AwsConfig::load().await.ok()?;
        Some((settings, config))
    })
    .ok()??;
    let chain = config.chain(profile).ok()?;
    let root = chain.first()?;
    let session = config::session_of(&config, root).ok()??;
    let store = store::open(&settings).ok()?;
    let ctx = Ctx {
        store: &*store,
        settings: &settings,
    };
    let st = tokens::status(&ctx, &session).ok()?;
    Some(format!(
        "sso:      {} — {}",
        session.describe(),
        session_text(&settings, &st)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("My Dev Account"), "my-dev-account");
        assert_eq!(slug("--A__b--"), "a__b");
        assert_eq!(slug("ÄÖ"), "");
    }
}
