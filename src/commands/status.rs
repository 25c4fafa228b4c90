//! `awsenv status`: what this shell really holds — an awsenv profile, another tool's session,
//! `AWS_PROFILE`, bare keys or a credential endpoint — where it came from, and how long it lasts.
//!
//! Everything shown comes from the environment (and, for the account and identity, one short
//! GetCallerIdentity with the keys the shell holds); every value is shown as printable text.

use anyhow::Result;

use crate::activation;
use crate::envstate;
use crate::runtime::block_on;
use crate::timefmt;

/// How long `status` waits for GetCallerIdentity.
const STATUS_STS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

fn var(n: &str) -> Option<String> {
    std::env::var(n).ok().filter(|v| !v.is_empty())
}

fn show(v: &str, max: usize) -> String {
    crate::sts::printable(v.as_bytes(), max)
}

/// Who put the credentials this shell holds there, in words.
fn origin(profile: Option<&str>) -> String {
    if let Some(p) = var(envstate::SERVER) {
        let uri = var("AWS_CONTAINER_CREDENTIALS_FULL_URI").unwrap_or_default();
        return format!(
            "awsenv exec --server {}: the endpoint {} serves refreshed credentials",
            show(&p, 100),
            show(&uri, 100)
        );
    }
    match (profile, var(envstate::SOURCE)) {
        (Some(_), Some(s)) if s == envstate::MANUAL => "awsenv use (manual)".into(),
        (Some(_), Some(s)) => show(&s, 300),
        (Some(_), None) => "awsenv exec (this process's environment)".into(),
        (None, _) if var("AWS_VAULT").is_some() => {
            "aws-vault (or a tool that sets AWS_VAULT), not awsenv".into()
        }
        (None, _) => "the environment, not awsenv".into(),
    }
}

/// The text of `awsenv status` for the current environment, at `now`.
fn describe(now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let awsenv_profile = var(envstate::PROFILE);
    let profile = awsenv_profile.clone().or_else(|| var("AWS_VAULT"));
    let keys = var("AWS_ACCESS_KEY_ID");
    let endpoint = var("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let sdk_profile = var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE"));
    if profile.is_none() && keys.is_none() && endpoint.is_none() && sdk_profile.is_none() {
        out.push("No AWS credentials or profile are set in this shell.".into());
        return out;
    }
    if let Some(p) = &profile {
        out.push(format!("profile:  {}", show(p, 300)));
    }
    if profile.is_some() || keys.is_some() || endpoint.is_some() {
        out.push(format!("from:     {}", origin(awsenv_profile.as_deref())));
    }
    if let Some(p) = &sdk_profile {
        let name = if var("AWS_PROFILE").is_some() {
            "AWS_PROFILE"
        } else {
            "AWS_DEFAULT_PROFILE"
        };
        out.push(format!(
            "{name}: {} — SDKs and the AWS CLI resolve this profile from the AWS config themselves{}",
            show(p, 300),
            if keys.is_some() {
                " (keys in the environment win over it)"
            } else {
                "; 'awsenv use' it to cache its session here"
            }
        ));
    }
    if let Some(k) = &keys {
        let kind = if var("AWS_SESSION_TOKEN").is_some() {
            "temporary"
        } else {
            "long-term"
        };
        out.push(format!(
            "keys:     {kind}, access key {}",
            show(&super::keys::masked(k), 12)
        ));
    }
    if let Some(r) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        let from = match var(envstate::REGION_SOURCE) {
            Some(f) => show(&f, 80),
            None => "the environment, not awsenv".to_string(),
        };
        out.push(format!("region:   {} (from {from})", show(&r, 64)));
    }
    let exp = var("AWS_CREDENTIAL_EXPIRATION").or_else(|| var("AWS_SESSION_EXPIRATION"));
    if let Some(exp) = exp {
        let line = match timefmt::parse_rfc3339(&exp) {
            Some(at) => {
                let left = if at > now {
                    format!("{} left", timefmt::remaining(at - now))
                } else {
                    "expired".into()
                };
                match timefmt::local_clock(at, now) {
                    Some(local) => format!("expires:  {local} ({}, {left})", timefmt::rfc3339(at)),
                    None => format!("expires:  {} ({left})", timefmt::rfc3339(at)),
                }
            }
            None => format!("expires:  {} (not a time awsenv can read)", show(&exp, 64)),
        };
        out.push(line);
    }
    out
}

/// What `status` says while `AWS_CONFIG_FILE` is awsenv's overlay: which profiles it serves.
fn overlay_line(overlay: &std::path::Path, user: &std::path::Path) -> String {
    let text = crate::awsconfig::read_text_file(overlay, crate::awsconfig::MAX_FILE, "", "")
        .ok()
        .flatten()
        .unwrap_or_default();
    let served: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("credential_process = "))
        .filter_map(|l| l.split(" credential-process ").nth(1))
        .collect();
    let shown = match served.len() {
        0 => "none of your profiles".to_string(),
        n => {
            let mut names = served
                .iter()
                .take(5)
                .map(|n| show(n, 64))
                .collect::<Vec<_>>();
            if n > 5 {
                names.push(format!("… {} more", n - 5));
            }
            format!(
                "{n} profile{} ({})",
                if n == 1 { "" } else { "s" },
                names.join(", ")
            )
        }
    };
    let verb = if served.len() == 1 {
        "reaches"
    } else {
        "reach"
    };
    format!(
        "served:   {shown} {verb} SDKs and Terraform through awsenv (AWS_CONFIG_FILE is awsenv's overlay of {})",
        show(&user.display().to_string(), 300)
    )
}

/// While the hook activated an `.awsprofile` naming a role: `role:     productionEC2Full
/// (222222222222) via profile calvin` (or `via role_base_profile jan-work`).
fn role_line() -> Option<String> {
    let active = var(envstate::PROFILE)?;
    let source = std::path::PathBuf::from(var(envstate::SOURCE)?);
    if !source.is_absolute() || var(envstate::SERVER).is_some() {
        return None;
    }
    let content = activation::read_file(&source).ok()?;
    let file = activation::parse(&String::from_utf8_lossy(&content)).ok()?;
    file.role.as_ref()?;
    let c = super::session::choose(&file).ok()?;
    let label = c.label.filter(|_| c.profile == active)?;
    Some(format!("role:     {label}"))
}

/// `awsenv status`.
pub fn status() -> Result<i32> {
    let mut lines = describe(timefmt::now_epoch());
    if var(envstate::PROFILE).is_none()
        && let Ok(cwd) = std::env::current_dir()
        && let Some((path, _)) = activation::find(&cwd)
    {
        lines.push(match activation::read_file(&path) {
            Ok(c) => format!(
                "{} applies here ({})",
                path.display(),
                if activation::is_trusted(&path, &c) {
                    "allowed"
                } else {
                    "not allowed: run 'awsenv allow'"
                }
            ),
            Err(e) => format!("{e}: it does not apply"),
        });
    }
    if let Some(line) = role_line() {
        lines.push(line);
    }
    if let Some(p) = var(envstate::PROFILE)
        && let Some(line) = crate::sso::commands::status_line(&p)
    {
        lines.push(line);
    }
    if let Some([overlay, user]) = activation::overlay_files() {
        lines.push(overlay_line(&overlay, &user));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    super::write_stdout(text.as_bytes())?;
    if let (Some(ak), Some(sk)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let profile = var(envstate::PROFILE)
            .or_else(|| var("AWS_VAULT"))
            .unwrap_or_else(|| "(environment)".into());
        let creds = crate::sts::Creds {
            access_key_id: ak,
            secret_access_key: sk,
            session_token: var("AWS_SESSION_TOKEN"),
            expiration: None,
        };
        // A status line must come at once: one short attempt, no retries.
        let ep = crate::sts::Endpoint::new(var("AWS_REGION").as_deref(), None)
            .with_limits(STATUS_STS_TIMEOUT, 1);
        let ctx = crate::sts::Context {
            profile: &profile,
            root: &profile,
            mfa_serial: None,
            what: "GetCallerIdentity".into(),
        };
        let text = match block_on(crate::sts::caller_identity(&ep, &creds, &ctx))? {
            Ok((account, arn)) => format!("account:  {account}\nidentity: {arn}\n"),
            Err(e) => match e.downcast_ref::<crate::sts::NoAnswer>() {
                Some(t) => format!(
                    "identity: unknown (STS did not answer within {})\n",
                    t.within
                ),
                None => format!("identity: unknown ({e:#})\n"),
            },
        };
        super::write_stdout(text.as_bytes())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `describe` with exactly `vars` set (the test binary's own AWS variables cleared).
    fn with_env(vars: &[(&str, &str)]) -> Vec<String> {
        let names = [
            envstate::PROFILE,
            envstate::SOURCE,
            envstate::SERVER,
            envstate::REGION_SOURCE,
            "AWS_VAULT",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_CREDENTIAL_EXPIRATION",
            "AWS_SESSION_EXPIRATION",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ];
        let _g = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the lock keeps these tests from touching the environment concurrently.
        unsafe {
            for n in names {
                std::env::remove_var(n);
            }
            std::env::set_var("TZ", "UTC");
            for (k, v) in vars {
                std::env::set_var(k, v);
            }
        }
        describe(1_796_644_800)
    }

    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn nothing_set_says_so() {
        assert_eq!(
            with_env(&[]),
            vec!["No AWS credentials or profile are set in this shell."]
        );
    }

    #[test]
    fn aws_profile_and_aws_vault_are_described_not_ignored() {
        let t = with_env(&[("AWS_PROFILE", "dev")]).join("\n");
        assert!(t.contains("AWS_PROFILE: dev"), "{t}");
        let t = with_env(&[
            ("AWS_VAULT", "calvin"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEY1234"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_SESSION_TOKEN", "t"),
            ("AWS_CREDENTIAL_EXPIRATION", "2026-12-07T12:48:00Z"),
        ])
        .join("\n");
        assert!(t.contains("profile:  calvin"), "{t}");
        assert!(t.contains("aws-vault"), "{t}");
        assert!(t.contains("temporary, access key ****1234"), "{t}");
        assert!(
            t.contains("expires:  12:48 UTC (2026-12-07T12:48:00Z, 48m left)"),
            "{t}"
        );
    }

    #[test]
    fn inside_exec_server_the_endpoint_is_the_source() {
        let t = with_env(&[
            (envstate::PROFILE, "calvin"),
            (envstate::SERVER, "calvin"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:4242/",
            ),
        ])
        .join("\n");
        assert!(
            t.contains(
                "from:     awsenv exec --server calvin: the endpoint http://127.0.0.1:4242/"
            ),
            "{t}"
        );
    }

    #[test]
    fn hostile_values_are_shown_as_text() {
        let t = with_env(&[("AWS_PROFILE", "a\x1b]0;x\x07b")]).join("\n");
        assert!(!t.contains('\x1b') && !t.contains('\x07'), "{t:?}");
    }
}
