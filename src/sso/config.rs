//! IAM Identity Center configuration as the AWS CLI writes it: `[sso-session NAME]` sections
//! (`sso_start_url`, `sso_region`, `sso_registration_scopes`) referenced by a profile's
//! `sso_session`, and the legacy form (`sso_start_url` / `sso_region` on the profile), with
//! `sso_account_id` and `sso_role_name` naming the role. Validated here, with errors that say
//! what to change.
//!
//! Beyond the AWS CLI: a legacy profile whose start URL and region match an `[sso-session]`
//! shares that session's sign-in (the CLI keeps them apart and asks twice).

use anyhow::{Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::awsconfig::{AwsConfig, Profile, config_path_text};

/// The scope awsenv registers for when the configuration names none: the one the AWS CLI uses
/// for the authorization-code flow. A client registered with a scope gets refresh tokens.
pub const DEFAULT_SCOPE: &str = "sso:account:access";

/// One sign-in: a start URL in a region, with the scopes of its client registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoSession {
    /// The `[sso-session NAME]` it comes from; `None` for a legacy profile that matches none.
    pub name: Option<String>,
    /// `sso_start_url`, e.g. `https://d-1234567890.awsapps.com/start`.
    pub start_url: String,
    /// `sso_region`: where the OIDC and portal endpoints are.
    pub region: String,
    /// `sso_registration_scopes` (default [`DEFAULT_SCOPE`]), sorted.
    pub scopes: Vec<String>,
}

impl SsoSession {
    /// The store key of this sign-in's tokens and client registrations: `sso/<digest>` of the
    /// start URL, region and scopes (so two sections describing the same sign-in share it).
    pub fn store_key(&self) -> String {
        let id = format!(
            "{}\n{}\n{}",
            normalize_url(&self.start_url),
            self.region,
            self.scopes.join(" ")
        );
        let d: String = Sha256::digest(id.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sso/{d}")
    }

    /// For messages: `https://…/start (sso-session corp)`.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} (sso-session {n})", self.start_url),
            None => self.start_url.clone(),
        }
    }

    /// The command that signs in to this session, for messages.
    pub fn login_command(&self, profile: Option<&str>) -> String {
        match (&self.name, profile) {
            (Some(n), _) => format!("awsenv sso login {n}"),
            (None, Some(p)) => format!("awsenv sso login {p}"),
            (None, None) => "awsenv sso login".to_string(),
        }
    }

    /// Whether `url` names this session's start URL (a trailing `/` does not matter).
    pub fn same_start_url(&self, url: &str) -> bool {
        normalize_url(url) == normalize_url(&self.start_url)
    }
}

/// The role an SSO profile resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoRole {
    /// The profile.
    pub profile: String,
    /// The sign-in it uses.
    pub session: SsoSession,
    /// `sso_account_id` (12 digits).
    pub account_id: String,
    /// `sso_role_name` (the permission set).
    pub role_name: String,
}

impl SsoRole {
    /// `111111111111/Admin`, for messages and `list`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.account_id, self.role_name)
    }

    /// Everything that shapes the role credentials, for the cache key.
    pub fn cache_identity(&self) -> String {
        format!(
            "sso:{}:{}:{}:{}",
            normalize_url(&self.session.start_url),
            self.session.region,
            self.account_id,
            self.role_name
        )
    }
}

fn normalize_url(u: &str) -> &str {
    u.trim().trim_end_matches('/')
}

/// Whether a profile uses IAM Identity Center (any `sso_*` key).
pub fn is_sso(p: &Profile) -> bool {
    [
        "sso_session",
        "sso_start_url",
        "sso_region",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| p.get(k).is_some())
}

fn check_start_url(url: &str, origin: &str) -> Result<()> {
    let ok = url.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or_default();
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    }) && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        let q_url = crate::sanitize::quoted(url.as_bytes(), 200);
        bail!(
            "{origin}: sso_start_url = {q_url} is not an https URL (e.g. https://d-1234567890.awsapps.com/start)"
        );
    }
    Ok(())
}

fn check_region(region: &str, origin: &str) -> Result<()> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        let q_region = crate::sanitize::quoted(region.as_bytes(), 40);
        bail!("{origin}: sso_region = {q_region} is not a region name (e.g. eu-west-1)");
    }
    Ok(())
}

/// Parses `sso_registration_scopes` (comma-separated); the default when absent.
fn scopes(text: Option<&str>, origin: &str) -> Result<Vec<String>> {
    let Some(text) = text else {
        return Ok(vec![DEFAULT_SCOPE.to_string()]);
    };
    let mut v: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if v.is_empty() {
        return Ok(vec![DEFAULT_SCOPE.to_string()]);
    }
    for s in &v {
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_-.*".contains(&b))
        {
            let q_s = crate::sanitize::quoted(s.as_bytes(), 64);
            bail!("{origin}: sso_registration_scopes has an invalid scope {q_s}");
        }
    }
    v.sort();
    v.dedup();
    Ok(v)
}

/// The `[sso-session NAME]` section as a session. Missing section or keys are errors.
pub fn named_session(config: &AwsConfig, name: &str) -> Result<SsoSession> {
    let origin = format!("[sso-session {name}]");
    let Some(props) = config.sso_session(name) else {
        let names = config.sso_session_names();
        if names.is_empty() {
            bail!(
                "there is no [sso-session {name}] section in {}",
                config_path_text()
            );
        }
        bail!(
            "there is no [sso-session {name}] section in {}; sessions: {}",
            config_path_text(),
            names.join(", ")
        );
    };
    let start_url = props
        .get("sso_start_url")
        .cloned()
        .ok_or_else(|| anyhow!("{origin} in {} has no sso_start_url", config_path_text()))?;
    let region = props
        .get("sso_region")
        .cloned()
        .ok_or_else(|| anyhow!("{origin} in {} has no sso_region", config_path_text()))?;
    check_start_url(&start_url, &origin)?;
    check_region(&region, &origin)?;
    Ok(SsoSession {
        name: Some(name.to_string()),
        start_url,
        region,
        scopes: scopes(
            props.get("sso_registration_scopes").map(String::as_str),
            &origin,
        )?,
    })
}

/// The sign-in a profile uses, if it is an SSO profile (`None` otherwise).
pub fn session_of(config: &AwsConfig, p: &Profile) -> Result<Option<SsoSession>> {
    if !is_sso(p) {
        return Ok(None);
    }
    let origin = format!("profile {}", p.name);
    if let Some(name) = p.get("sso_session") {
        let s = named_session(config, name).map_err(|e| anyhow!("{origin}: {e}"))?;
        // The AWS CLI refuses a profile whose own legacy keys contradict its session.
        if let Some(u) = p.get("sso_start_url")
            && !s.same_start_url(u)
        {
            bail!(
                "{origin}: sso_start_url = {u} differs from sso_session {name}'s {}; remove one",
                s.start_url
            );
        }
        if let Some(r) = p.get("sso_region")
            && r != s.region
        {
            bail!(
                "{origin}: sso_region = {r} differs from sso_session {name}'s {}; remove one",
                s.region
            );
        }
        return Ok(Some(s));
    }
    let (Some(url), Some(region)) = (p.get("sso_start_url"), p.get("sso_region")) else {
        bail!(
            "{origin} has sso_* keys but neither sso_session nor both sso_start_url and sso_region; add sso_session = NAME and an [sso-session NAME] section"
        );
    };
    check_start_url(url, &origin)?;
    check_region(region, &origin)?;
    // A legacy profile shares the sign-in of an [sso-session] with the same start URL/region.
    for name in config.sso_session_names() {
        if let Ok(s) = named_session(config, &name)
            && s.same_start_url(url)
            && s.region == region
        {
            return Ok(Some(s));
        }
    }
    Ok(Some(SsoSession {
        name: None,
        start_url: url.to_string(),
        region: region.to_string(),
        scopes: scopes(p.get("sso_registration_scopes"), &origin)?,
    }))
}

/// The role an SSO profile resolves to, if it is one.
pub fn role_of(config: &AwsConfig, p: &Profile) -> Result<Option<SsoRole>> {
    let Some(session) = session_of(config, p)? else {
        return Ok(None);
    };
    let origin = format!("profile {}", p.name);
    let (Some(account), Some(role)) = (p.get("sso_account_id"), p.get("sso_role_name")) else {
        bail!(
            "{origin} signs in with IAM Identity Center but has no sso_account_id and sso_role_name; 'awsenv sso profiles{}' lists the accounts and roles you can use",
            session
                .name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        );
    };
    let account = account.trim();
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        let q_account = crate::sanitize::quoted(account.as_bytes(), 40);
        bail!("{origin}: sso_account_id = {q_account} is not a 12-digit AWS account id");
    }
    let role = role.trim();
    if role.is_empty()
        || role.len() > 64
        || !role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        let q_role = crate::sanitize::quoted(role.as_bytes(), 80);
        bail!("{origin}: sso_role_name = {q_role} is not a role (permission set) name");
    }
    if p.get("source_profile").is_some() {
        bail!(
            "{origin} has both source_profile and sso_* keys; keep the sso_* keys on the profile at the root of the chain"
        );
    }
    Ok(Some(SsoRole {
        profile: p.name.clone(),
        session,
        account_id: account.to_string(),
        role_name: role.to_string(),
    }))
}

/// Every distinct sign-in the configuration describes: the `[sso-session]` sections, then the
/// start URLs of legacy profiles that match none. Sections that fail validation are skipped.
pub fn all_sessions(config: &AwsConfig) -> Vec<SsoSession> {
    let mut v: Vec<SsoSession> = Vec::new();
    let mut push = |s: SsoSession| {
        if !v.iter().any(|x| x.store_key() == s.store_key()) {
            v.push(s);
        }
    };
    for name in config.sso_session_names() {
        if let Ok(s) = named_session(config, &name) {
            push(s);
        }
    }
    for name in config.names() {
        if let Ok(p) = config.profile(&name)
            && let Ok(Some(s)) = session_of(config, &p)
        {
            push(s);
        }
    }
    v
}

/// The session for `awsenv sso login|logout|profiles [SESSION|PROFILE]`: an `[sso-session]` by
/// name, else a profile's; without a name, the only one configured.
pub fn pick(config: &AwsConfig, name: Option<&str>) -> Result<SsoSession> {
    match name {
        Some(n) if config.sso_session(n).is_some() => named_session(config, n),
        Some(n) if config.has(n) => {
            let p = config.profile(n)?;
            session_of(config, &p)?.ok_or_else(|| {
                anyhow!(
                    "profile {n} does not use IAM Identity Center (no sso_session or sso_start_url)"
                )
            })
        }
        Some(n) => {
            let sessions = config.sso_session_names();
            bail!(
                "no [sso-session {n}] section and no profile {n} in {}{}",
                config_path_text(),
                if sessions.is_empty() {
                    String::new()
                } else {
                    format!("; sessions: {}", sessions.join(", "))
                }
            )
        }
        None => {
            let mut all = all_sessions(config);
            match all.len() {
                1 => Ok(all.remove(0)),
                0 => bail!(
                    "no IAM Identity Center configuration in {}: add an [sso-session NAME] section with sso_start_url and sso_region",
                    config_path_text()
                ),
                _ => bail!(
                    "several IAM Identity Center sign-ins are configured; name one: {}",
                    all.iter()
                        .map(|s| s.name.clone().unwrap_or_else(|| s.start_url.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_sort_and_default() {
        assert_eq!(scopes(None, "x").unwrap(), vec![DEFAULT_SCOPE]);
        assert_eq!(
            scopes(Some("sso:account:access, codewhisperer:completions"), "x").unwrap(),
            vec!["codewhisperer:completions", "sso:account:access"]
        );
        assert!(scopes(Some("bad scope"), "x").is_err());
    }

    #[test]
    fn store_key_ignores_a_trailing_slash_and_the_name() {
        let a = SsoSession {
            name: Some("a".into()),
            start_url: "https://d-1.awsapps.com/start/".into(),
            region: "eu-west-1".into(),
            scopes: vec![DEFAULT_SCOPE.into()],
        };
        let b = SsoSession {
            name: None,
            start_url: "https://d-1.awsapps.com/start".into(),
            ..a.clone()
        };
        assert_eq!(a.store_key(), b.store_key());
        let c = SsoSession {
            region: "us-east-1".into(),
            ..a.clone()
        };
        assert_ne!(a.store_key(), c.store_key());
    }

    #[test]
    fn start_urls_must_be_https() {
        assert!(check_start_url("https://d-1.awsapps.com/start", "p").is_ok());
        assert!(check_start_url("http://d-1.awsapps.com/start", "p").is_err());
        assert!(check_start_url("https:///start", "p").is_err());
        assert!(check_start_url("https://a b/start", "p").is_err());
    }
}
