//! awsenv's own settings: `$XDG_CONFIG_HOME/awsenv/config.toml`, each key overridable by an
//! `AWSENV_*` variable.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde::Deserialize;

use crate::activation::xdg_dir;
use crate::timefmt::parse_duration;

/// Which secret store holds keys and sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// The encrypted file store.
    File,
}

impl Backend {
    /// Parses `keyring` or `file`.
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "keyring" => Some(Backend::Keyring),
            "file" => Some(Backend::File),
            _ => None,
        }
    }
}

/// Effective settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Chosen backend; `None` means "keyring if the OS store answers".
    pub backend: Option<Backend>,
    /// The file store's directory.
    pub file_dir: PathBuf,
    /// GetSessionToken duration.
    pub session_ttl: Duration,
    /// Default AssumeRole duration (a profile's `duration_seconds` wins).
    pub role_ttl: Duration,
    /// A cached entry is used while more than this remains.
    pub refresh_window: Duration,
    /// The console federation endpoint (`AWSENV_FEDERATION_URL`), for `awsenv login`.
    pub federation_url: String,
    /// IAM Identity Center settings (the `[sso]` table).
    pub sso: SsoSettings,
}

/// The `[sso]` table: IAM Identity Center behaviour.
#[derive(Clone, Debug)]
pub struct SsoSettings {
    /// `write_aws_cache` (`AWSENV_SSO_WRITE_AWS_CACHE`): also write tokens to the AWS CLI's
    /// `~/.aws/sso/cache`, in plaintext, for other tools. Off by default.
    pub write_aws_cache: bool,
    /// `session_duration` (`AWSENV_SSO_SESSION_DURATION`): how long the portal session lasts
    /// (the administrator's setting; IAM Identity Center's default is 8 h), for `list`/`status`.
    pub session_duration: Duration,
    /// `sign_in_timeout` (`AWSENV_SSO_SIGN_IN_TIMEOUT`): how long to wait for a browser sign-in.
    pub sign_in_timeout: Duration,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSsoSettings {
    write_aws_cache: Option<bool>,
    session_duration: Option<toml::Value>,
    sign_in_timeout: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    backend: Option<String>,
    file_dir: Option<PathBuf>,
    session_ttl: Option<toml::Value>,
    role_ttl: Option<toml::Value>,
    refresh_window: Option<toml::Value>,
    federation_url: Option<String>,
    sso: Option<FileSsoSettings>,
}

/// The settings file's path.
pub fn path() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("awsenv").join("config.toml"))
}

fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

impl Settings {
    /// Reads the settings file (absent is fine) and applies `AWSENV_*` overrides.
    pub fn load() -> Result<Settings> {
        let path = path();
        let mut fs = FileSettings::default();
        let mut text = String::new();
        if let Some(p) = &path
            && let Ok(t) = std::fs::read_to_string(p)
        {
            fs = toml::from_str(&t).map_err(|e| {
                let msg = e
                    .message()
                    .lines()
                    .next()
                    .unwrap_or("invalid TOML")
                    .to_string();
                let unknown = msg
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next());
                let line = match unknown {
                    Some(key) => line_of(&t, key),
                    None => e
                        .span()
                        .map(|s| t[..s.start].lines().count().max(1))
                        .unwrap_or(1),
                };
                anyhow!("bad settings file {}, line {line}: {msg}", p.display())
            })?;
            text = t;
        }
        let shown = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let dur = |key: &str,
                   env: &str,
                   v: &Option<toml::Value>,
                   default: u64|
         -> Result<Duration> {
            if let Ok(s) = std::env::var(env) {
                return parse_duration(&s)
                    .ok_or_else(|| anyhow!("{env}={s:?} is not a duration (e.g. 3600, 45m, 8h)"));
            }
            match v {
                None => Ok(Duration::from_secs(default)),
                Some(toml::Value::Integer(n)) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
                Some(toml::Value::String(s)) if parse_duration(s).is_some() => {
                    Ok(parse_duration(s).unwrap_or_default())
                }
                Some(_) => bail!(
                    "bad settings file {shown}, line {}: key `{key}` must be a duration such as \"8h\" or 3600",
                    line_of(&text, key)
                ),
            }
        };
        let backend_text = std::env::var("AWSENV_BACKEND").ok().or(fs.backend.clone());
        let backend = match backend_text.as_deref() {
            None | Some("") | Some("auto") => None,
            Some(b) => Some(Backend::parse(b).ok_or_else(|| {
                if std::env::var("AWSENV_BACKEND").is_ok() {
                    anyhow!("AWSENV_BACKEND={b:?} is not a backend: use keyring or file")
                } else {
                    anyhow!(
                        "bad settings file {shown}, line {}: key `backend` must be \"keyring\" or \"file\"",
                        line_of(&text, "backend")
                    )
                }
            })?),
        };
        let file_dir = match std::env::var_os("AWSENV_FILE_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => match fs.file_dir {
                Some(d) => d,
                None => xdg_dir("XDG_DATA_HOME", ".local/share")
                    .map(|d| d.join("awsenv").join("store"))
                    .ok_or_else(|| anyhow!("neither XDG_DATA_HOME nor HOME is set"))?,
            },
        };
        let fsso = fs.sso.unwrap_or_default();
        let write_aws_cache = match std::env::var("AWSENV_SSO_WRITE_AWS_CACHE") {
            Ok(v) => match v.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" | "" => false,
                _ => bail!("AWSENV_SSO_WRITE_AWS_CACHE={v:?} is not a boolean: use true or false"),
            },
            Err(_) => fsso.write_aws_cache.unwrap_or(false),
        };
        let sso = SsoSettings {
            write_aws_cache,
            session_duration: dur(
                "session_duration",
                "AWSENV_SSO_SESSION_DURATION",
                &fsso.session_duration,
                8 * 3600,
            )?,
            sign_in_timeout: dur(
                "sign_in_timeout",
                "AWSENV_SSO_SIGN_IN_TIMEOUT",
                &fsso.sign_in_timeout,
                300,
            )?,
        };
        Ok(Settings {
            backend,
            file_dir,
            session_ttl: dur(
                "session_ttl",
                "AWSENV_SESSION_TTL",
                &fs.session_ttl,
                8 * 3600,
            )?,
            role_ttl: dur("role_ttl", "AWSENV_ROLE_TTL", &fs.role_ttl, 3600)?,
            refresh_window: dur(
                "refresh_window",
                "AWSENV_REFRESH_WINDOW",
                &fs.refresh_window,
                600,
            )?,
            federation_url: std::env::var("AWSENV_FEDERATION_URL")
                .ok()
                .or(fs.federation_url)
                .unwrap_or_else(|| "https://signin.aws.amazon.com/federation".to_string()),
            sso,
        })
    }
}
