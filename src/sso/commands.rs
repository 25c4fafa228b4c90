//! `awsenv sso login|logout|profiles`, and what `list` and `status` show about sign-ins.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{Context as _, Result, anyhow, bail};

use super::config::{self, SsoSession};
use super::portal::{Account, Portal, PortalError};
use super::tokens::{self, Ctx, Mode};
use crate::awsconfig::{AwsConfig, config_path_text};
use crate::cli::SsoCommand;
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

fn block_markers(session: &str) -> (String, String) {
    (
        format!(
            "# BEGIN awsenv sso profiles {session} (generated by 'awsenv sso profiles {session} --write'; edits inside are replaced)"
        ),
        format!("# END awsenv sso profiles {session}"),
    )
}

/// `text` without the generated block of `session` (and whether there was one).
fn without_block(text: &str, session: &str) -> (String, Option<(usize, usize)>) {
    let (begin, end) = block_markers(session);
    let begin_key = begin.split(" (").next().unwrap_or_default().to_string();
    let mut start = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if start.is_none() && trimmed.starts_with(&begin_key) {
            start = Some(pos);
        } else if let Some(s) = start
            && trimmed == end
        {
            let stop = pos + line.len();
            let mut rest = String::with_capacity(text.len());
            rest.push_str(&text[..s]);
            rest.push_str(&text[stop..]);
            return (rest, Some((s, stop)));
        }
        pos += line.len();
    }
    (text.to_string(), None)
}

/// Profile names that have a section header in `text` (`[profile X]` or `[X]`).
fn section_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('[')?.split(']').next()?.trim();
            let name = inner
                .strip_prefix("profile")
                .filter(|r| r.starts_with(char::is_whitespace))
                .map(str::trim)
                .unwrap_or(inner);
            (!name.starts_with("sso-session") && !name.starts_with("services"))
                .then(|| name.to_string())
        })
        .collect()
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

        let path = std::path::PathBuf::from(config_path_file());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let session_name = session.name.clone().unwrap_or_default();
        let (user_text, _) = without_block(&text, &session_name);
        let user_names = section_names(&user_text);
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
        let mut taken: BTreeSet<String> = user_names.clone();
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
                let mut name = format!("{base}-{}", slug(role));
                if taken.contains(&name) {
                    name = format!("{name}-{}", a.id);
                }
                taken.insert(name.clone());
                rows.push(Row {
                    account: a.clone(),
                    role: role.clone(),
                    profile: name,
                    configured: false,
                });
            }
        }

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
            let n = write_block(&path, &text, sname, &session, &new)?;
            eprintln!(
                "awsenv: {} {n} profile{} in {} (between the '# BEGIN/END awsenv sso profiles {sname}' lines; the rest of the file is untouched)",
                if n == 0 { "no new profiles;" } else { "wrote" },
                if n == 1 { "" } else { "s" },
                path.display()
            );
        }
        Ok(0)
    })?
}

fn config_path_file() -> String {
    match std::env::var("AWS_CONFIG_FILE") {
        Ok(p) if !p.is_empty() => p,
        _ => std::env::var("HOME")
            .map(|h| format!("{h}/.aws/config"))
            .unwrap_or_else(|_| config_path_text()),
    }
}

/// Replaces (or appends) the generated block of `sname` in the config file; the user's text
/// outside it is kept byte for byte. Returns the number of profiles in the block.
fn write_block(
    path: &std::path::Path,
    text: &str,
    sname: &str,
    session: &SsoSession,
    rows: &[&Row],
) -> Result<usize> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let (begin, end) = block_markers(sname);
    let mut block = String::new();
    if !rows.is_empty() {
        block.push_str(&begin);
        block.push('\n');
        for r in rows {
            block.push_str(&format!(
                "[profile {}]\nsso_session = {sname}\nsso_account_id = {}\nsso_role_name = {}\nregion = {}\n\n",
                r.profile, r.account.id, r.role, session.region
            ));
        }
        block.push_str(&end);
        block.push('\n');
    }
    let (_, span) = without_block(text, sname);
    let new_text = match span {
        Some((s, e)) => format!("{}{}{}", &text[..s], block, &text[e..]),
        None if block.is_empty() => text.to_string(),
        None => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{block}")
        }
    };
    if new_text == text {
        return Ok(rows.len());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let tmp = dir.join(format!(
        ".{}.awsenv-{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = f
        .write_all(new_text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode));
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(rows.len())
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
                    humantime::format_duration(o_settings.sso.session_duration)
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

    #[test]
    fn block_is_replaced_and_the_rest_kept() {
        let (b, e) = block_markers("corp");
        let text = format!("[default]\nregion = x\n\n{b}\n[profile a]\n{e}\n# mine\n");
        let (rest, span) = without_block(&text, "corp");
        assert_eq!(rest, "[default]\nregion = x\n\n# mine\n");
        assert!(span.is_some());
        assert_eq!(without_block("[default]\n", "corp").1, None);
    }

    #[test]
    fn section_names_of_profiles() {
        let names = section_names("[default]\n[profile a b]\n[sso-session corp]\n[ profile c ]\n");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec!["a b", "c", "default"]
        );
    }
}
