//! awsenv's own settings: `$XDG_CONFIG_HOME/awsenv/config.toml`, each key overridable by an
//! `AWSENV_*` variable.
//!
//! [`Settings::load`] reads the file (a regular file of at most [`MAX_FILE`] bytes, opened so a
//! FIFO or a device cannot block or flood it) and hands its text and an environment lookup to
//! [`Settings::parse`], a pure function (no file, no process environment) for tests and fuzzing.
//! Durations are checked against AWS's limits and against each other.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde::Deserialize;

use crate::timefmt::parse_duration;

/// The largest settings file read (64 KiB).
pub const MAX_FILE: u64 = 64 * 1024;
/// GetSessionToken's limits for an IAM user: 15 minutes to 36 hours.
pub const SESSION_LIMITS: (u64, u64) = (900, 129_600);
/// AssumeRole's limits: 15 minutes to 12 hours (the role's MaxSessionDuration may be lower).
pub const ROLE_LIMITS: (u64, u64) = (900, 43_200);
/// The default of `sts_timeout`: 20 seconds.
pub const DEFAULT_STS_TIMEOUT: Duration = Duration::from_secs(20);
/// The bounds of `sts_timeout`: 1 second to 5 minutes.
pub const STS_TIMEOUT_LIMITS: (u64, u64) = (1, 300);

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
    /// GetSessionToken duration (15m–36h).
    pub session_ttl: Duration,
    /// Default AssumeRole duration (15m–12h; a profile's `duration_seconds` wins).
    pub role_ttl: Duration,
    /// A cached entry is used while more than this remains (shorter than both TTLs).
    pub refresh_window: Duration,
    /// The total time one STS operation may take, retries included (1s–5m).
    pub sts_timeout: Duration,
    /// The console federation endpoint (`AWSENV_FEDERATION_URL`), for `awsenv login`.
    pub federation_url: String,
    /// The file-store agent forgets the unlocked store after this long without a request
    /// (`unlock_ttl`, `AWSENV_UNLOCK_TTL`; default 15 min).
    pub unlock_ttl: Duration,
    /// ... and this long after it was unlocked, used or not (`unlock_max`,
    /// `AWSENV_UNLOCK_MAX`; default 8 h).
    pub unlock_max: Duration,
    /// `list` warns about stored keys older than this (`key_max_age`, `AWSENV_KEY_MAX_AGE`;
    /// default 90 days).
    pub key_max_age: Duration,
    /// IAM Identity Center settings (the `[sso]` table).
    pub sso: SsoSettings,
    /// `config_overlay` (`AWSENV_CONFIG_OVERLAY`): while a profile is active, point
    /// `AWS_CONFIG_FILE` at an overlay serving every profile through awsenv. On by default.
    pub config_overlay: bool,
    /// When to say on stderr that a profile activated, switched, refreshed with a new code or
    /// deactivated (`announce`, `AWSENV_ANNOUNCE`).
    pub announce: Announce,
    /// The order of the profile picker's list before anything is typed (`picker_order`,
    /// `AWSENV_PICKER_ORDER`): most picked first (the default) or by name.
    pub picker_order: PickerOrder,
    /// `role_base_profile` (`AWSENV_ROLE_BASE_PROFILE`): the profile from which awsenv assumes
    /// a role an `.awsprofile` names when none of the user's profiles yields it (opt-in; off
    /// when unset).
    pub role_base_profile: Option<String>,
}

/// The `picker_order` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerOrder {
    /// Frecency: how often and how recently each profile was picked (the default).
    Frecency,
    /// By name, always the same.
    Alphabetical,
}

impl PickerOrder {
    fn parse(s: &str) -> Option<PickerOrder> {
        match s {
            "frecency" => Some(PickerOrder::Frecency),
            "alphabetical" => Some(PickerOrder::Alphabetical),
            _ => None,
        }
    }
}

/// The `announce` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// When stderr is a terminal (the default).
    Auto,
    /// Always, also when stderr is a file or a pipe.
    Always,
    /// Never.
    Never,
}

impl Announce {
    fn parse(s: &str) -> Option<Announce> {
        match s {
            "auto" => Some(Announce::Auto),
            "always" | "true" | "yes" | "on" => Some(Announce::Always),
            "never" | "false" | "no" | "off" => Some(Announce::Never),
            _ => None,
        }
    }
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
    sts_timeout: Option<toml::Value>,
    federation_url: Option<String>,
    unlock_ttl: Option<toml::Value>,
    unlock_max: Option<toml::Value>,
    key_max_age: Option<toml::Value>,
    announce: Option<toml::Value>,
    picker_order: Option<String>,
    config_overlay: Option<bool>,
    role_base_profile: Option<String>,
    sso: Option<FileSsoSettings>,
}

/// The settings file's path.
pub fn path() -> Option<PathBuf> {
    crate::activation::xdg_dir("XDG_CONFIG_HOME", ".config")
        .map(|d| d.join("awsenv").join("config.toml"))
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

/// A duration as text: `8h`, `45m`, `1h30m`, `20s`.
fn shown(d: Duration) -> String {
    crate::timefmt::remaining(d.as_secs() as i64)
}

/// Parses `AWSENV_STS_TIMEOUT`'s text (`20`, `20s`, `1m`) within [`STS_TIMEOUT_LIMITS`].
pub fn sts_timeout(text: &str) -> Result<Duration> {
    let d = parse_duration(text).ok_or_else(|| {
        anyhow!(
            "AWSENV_STS_TIMEOUT={} is not a duration (e.g. 20, 20s, 1m)",
            crate::sanitize::quoted(text.as_bytes(), 40)
        )
    })?;
    let (lo, hi) = STS_TIMEOUT_LIMITS;
    if !(lo..=hi).contains(&d.as_secs()) {
        bail!(
            "AWSENV_STS_TIMEOUT={} must be between {lo}s and {hi}s",
            crate::sanitize::quoted(text.as_bytes(), 40)
        );
    }
    Ok(d)
}

/// A TOML parser message as a sentence with the fix, given the line it is about.
fn toml_in_words(msg: &str, line: &str) -> String {
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let unquoted = msg.contains("string values must be quoted")
        || msg.contains("invalid boolean")
        || msg.contains("expected literal string")
        || msg.contains("invalid string");
    match key {
        Some(k) if unquoted => {
            let v = line.split_once('=').map_or("", |(_, v)| v.trim());
            format!(
                "the value of `{k}` must be in double quotes: {k} = \"{}\"",
                crate::awsconfig::printable(v.trim_matches(['"', '\'']).as_bytes(), 60)
            )
        }
        _ if msg.starts_with("unknown field `") => {
            let known = msg.split_once("expected").map_or(String::new(), |(_, k)| {
                format!("; known keys:{}", k.trim_start_matches(" one of"))
            });
            format!(
                "unknown key `{}`{}",
                msg.trim_start_matches("unknown field `")
                    .split('`')
                    .next()
                    .unwrap_or(""),
                crate::awsconfig::printable(known.as_bytes(), 300)
            )
        }
        _ => format!(
            "not valid TOML ({}); a setting is written key = \"value\"",
            crate::awsconfig::printable(msg.as_bytes(), 200)
        ),
    }
}

/// Where a value came from, for messages: the variable, or the file and line.
enum Origin<'a> {
    Env(&'a str, String),
    File(&'a str),
}

impl Settings {
    /// Reads the settings file (absent is fine; anything but a regular file of at most 64 KiB
    /// is an error) and applies `AWSENV_*` overrides from the process environment.
    pub fn load() -> Result<Settings> {
        let path = path();
        let text = match &path {
            Some(p) => crate::awsconfig::read_text_file(
                p,
                MAX_FILE,
                "the awsenv settings",
                "replace it with a TOML file",
            )?,
            None => None,
        };
        let file = match (&path, &text) {
            (Some(p), Some(t)) => Some((p.as_path(), t.as_str())),
            _ => None,
        };
        Settings::parse(file, &|name| std::env::var_os(name))
    }

    /// The settings from the file's text (`file`: its path, for messages, and its content) and
    /// an environment lookup (`AWSENV_*`, `XDG_DATA_HOME`, `HOME`). Pure: reads no file and no
    /// process state.
    pub fn parse(
        file: Option<(&Path, &str)>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Settings> {
        let (shown_path, text) = match file {
            Some((p, t)) => (p.display().to_string(), t),
            None => (String::new(), ""),
        };
        // A byte-order mark (Windows editors write one) is not part of the settings.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let fs: FileSettings = if file.is_some() {
            toml::from_str(text).map_err(|e| {
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
                    Some(key) => line_of(text, key),
                    None => e
                        .span()
                        .and_then(|s| text.get(..s.start))
                        .map(|before| before.lines().count().max(1))
                        .unwrap_or(1),
                };
                anyhow!(
                    "bad settings file {shown_path}, line {line}: {}",
                    toml_in_words(&msg, text.lines().nth(line - 1).unwrap_or(""))
                )
            })?
        } else {
            FileSettings::default()
        };
        let var = |n: &str| {
            env(n)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned())
        };
        let file_err = |key: &str, what: &str| {
            anyhow!(
                "bad settings file {shown_path}, line {}: key `{key}` {what}",
                line_of(text, key)
            )
        };
        // A duration from the variable (wins) or the file, within `limits` (seconds).
        let dur = |key: &'static str,
                   name: &'static str,
                   v: &Option<toml::Value>,
                   default: u64,
                   limits: (u64, u64)|
         -> Result<(Duration, Origin<'static>)> {
            let (d, origin) = if let Some(s) = var(name) {
                let d = parse_duration(&s).ok_or_else(|| {
                    anyhow!(
                        "{name}={} is not a duration (e.g. 3600, 45m, 8h)",
                        crate::sanitize::quoted(s.as_bytes(), 40)
                    )
                })?;
                (d, Origin::Env(name, s))
            } else {
                let d = match v {
                    None => Duration::from_secs(default),
                    Some(toml::Value::Integer(n)) if *n >= 0 => Duration::from_secs(*n as u64),
                    Some(toml::Value::String(s)) => parse_duration(s).ok_or_else(|| {
                        file_err(key, "must be a duration such as \"8h\" or 3600")
                    })?,
                    Some(_) => {
                        return Err(file_err(key, "must be a duration such as \"8h\" or 3600"));
                    }
                };
                (d, Origin::File(key))
            };
            let (lo, hi) = limits;
            if !(lo..=hi).contains(&d.as_secs()) {
                let range = format!(
                    "must be between {} and {}",
                    shown(Duration::from_secs(lo)),
                    shown(Duration::from_secs(hi))
                );
                return Err(match &origin {
                    Origin::Env(n, s) => {
                        anyhow!("{n}={} {range}", crate::sanitize::quoted(s.as_bytes(), 40))
                    }
                    Origin::File(k) => file_err(k, &format!("{range} (AWS limits)")),
                });
            }
            Ok((d, origin))
        };

        let (session_ttl, _) = dur(
            "session_ttl",
            "AWSENV_SESSION_TTL",
            &fs.session_ttl,
            8 * 3600,
            SESSION_LIMITS,
        )?;
        let (role_ttl, _) = dur(
            "role_ttl",
            "AWSENV_ROLE_TTL",
            &fs.role_ttl,
            3600,
            ROLE_LIMITS,
        )?;
        let (refresh_window, window_origin) = dur(
            "refresh_window",
            "AWSENV_REFRESH_WINDOW",
            &fs.refresh_window,
            600,
            (0, SESSION_LIMITS.1),
        )?;
        let shortest = session_ttl.min(role_ttl);
        if refresh_window >= shortest {
            let which = if role_ttl <= session_ttl {
                format!("role_ttl ({})", shown(role_ttl))
            } else {
                format!("session_ttl ({})", shown(session_ttl))
            };
            let problem = format!(
                "must be shorter than {which}: a cached session would never be used and every use would ask STS (and for an MFA code) again"
            );
            return Err(match window_origin {
                Origin::Env(n, s) => anyhow!(
                    "{n}={} {problem}",
                    crate::sanitize::quoted(s.as_bytes(), 40)
                ),
                Origin::File(k) => file_err(k, &problem),
            });
        }
        let sts_timeout = match var("AWSENV_STS_TIMEOUT") {
            Some(s) => sts_timeout(&s)?,
            None => {
                dur(
                    "sts_timeout",
                    "AWSENV_STS_TIMEOUT",
                    &fs.sts_timeout,
                    DEFAULT_STS_TIMEOUT.as_secs(),
                    STS_TIMEOUT_LIMITS,
                )?
                .0
            }
        };

        let backend_env = var("AWSENV_BACKEND");
        let backend_text = backend_env.clone().or(fs.backend.clone());
        let backend = match backend_text.as_deref() {
            None | Some("") | Some("auto") => None,
            Some(b) => Some(Backend::parse(b).ok_or_else(|| {
                if backend_env.is_some() {
                    anyhow!(
                        "AWSENV_BACKEND={} is not a backend: use keyring or file",
                        crate::sanitize::quoted(b.as_bytes(), 40)
                    )
                } else {
                    file_err("backend", "must be \"keyring\" or \"file\"")
                }
            })?),
        };
        let file_dir = match env("AWSENV_FILE_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => match fs.file_dir {
                Some(d) => d,
                None => {
                    let data = match env("XDG_DATA_HOME") {
                        Some(v) if !v.is_empty() && Path::new(&v).is_absolute() => {
                            Some(PathBuf::from(v))
                        }
                        _ => env("HOME")
                            .filter(|h| !h.is_empty())
                            .map(|h| PathBuf::from(h).join(".local/share")),
                    };
                    data.map(|d| d.join("awsenv").join("store"))
                        .ok_or_else(|| anyhow!("neither XDG_DATA_HOME nor HOME is set"))?
                }
            },
        };
        let unlock_limits = (1, 7 * 86_400);
        let (unlock_ttl, _) = dur(
            "unlock_ttl",
            "AWSENV_UNLOCK_TTL",
            &fs.unlock_ttl,
            15 * 60,
            unlock_limits,
        )?;
        let (unlock_max, _) = dur(
            "unlock_max",
            "AWSENV_UNLOCK_MAX",
            &fs.unlock_max,
            8 * 3600,
            unlock_limits,
        )?;
        let (key_max_age, _) = dur(
            "key_max_age",
            "AWSENV_KEY_MAX_AGE",
            &fs.key_max_age,
            90 * 86_400,
            (1, 100 * 365 * 86_400),
        )?;
        let announce = match var("AWSENV_ANNOUNCE") {
            Some(v) => Announce::parse(&v).ok_or_else(|| {
                anyhow!(
                    "AWSENV_ANNOUNCE={:?} is not a choice: use auto, always or never",
                    crate::awsconfig::printable(v.as_bytes(), 40)
                )
            })?,
            None => match &fs.announce {
                None => Announce::Auto,
                Some(toml::Value::Boolean(true)) => Announce::Always,
                Some(toml::Value::Boolean(false)) => Announce::Never,
                Some(toml::Value::String(v)) => Announce::parse(v).ok_or_else(|| {
                    file_err("announce", "must be \"auto\", \"always\" or \"never\"")
                })?,
                Some(_) => {
                    return Err(file_err(
                        "announce",
                        "must be \"auto\", \"always\" or \"never\"",
                    ));
                }
            },
        };
        let picker_order = match var("AWSENV_PICKER_ORDER") {
            Some(v) => PickerOrder::parse(&v).ok_or_else(|| {
                anyhow!(
                    "AWSENV_PICKER_ORDER={:?} is not a choice: use frecency or alphabetical",
                    crate::awsconfig::printable(v.as_bytes(), 40)
                )
            })?,
            None => match fs.picker_order.as_deref() {
                None => PickerOrder::Frecency,
                Some(v) => PickerOrder::parse(v).ok_or_else(|| {
                    file_err("picker_order", "must be \"frecency\" or \"alphabetical\"")
                })?,
            },
        };
        let config_overlay = match var("AWSENV_CONFIG_OVERLAY").as_deref() {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(v) => bail!(
                "AWSENV_CONFIG_OVERLAY={} is not a boolean: use true or false",
                crate::sanitize::quoted(v.as_bytes(), 40)
            ),
            None => fs.config_overlay.unwrap_or(true),
        };
        let role_base_profile = var("AWSENV_ROLE_BASE_PROFILE")
            .or(fs.role_base_profile)
            .filter(|v| !v.is_empty());
        let fsso = fs.sso.unwrap_or_default();
        let write_aws_cache = match var("AWSENV_SSO_WRITE_AWS_CACHE").as_deref() {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(v) => bail!(
                "AWSENV_SSO_WRITE_AWS_CACHE={} is not a boolean: use true or false",
                crate::sanitize::quoted(v.as_bytes(), 40)
            ),
            None => fsso.write_aws_cache.unwrap_or(false),
        };
        let sso = SsoSettings {
            write_aws_cache,
            session_duration: dur(
                "session_duration",
                "AWSENV_SSO_SESSION_DURATION",
                &fsso.session_duration,
                8 * 3600,
                (900, 90 * 86_400),
            )?
            .0,
            sign_in_timeout: dur(
                "sign_in_timeout",
                "AWSENV_SSO_SIGN_IN_TIMEOUT",
                &fsso.sign_in_timeout,
                300,
                (1, 3600),
            )?
            .0,
        };
        Ok(Settings {
            announce,
            picker_order,
            config_overlay,
            role_base_profile,
            unlock_ttl,
            unlock_max,
            key_max_age,
            backend,
            file_dir,
            session_ttl,
            role_ttl,
            refresh_window,
            sts_timeout,
            federation_url: var("AWSENV_FEDERATION_URL")
                .or(fs.federation_url)
                .unwrap_or_else(|| "https://signin.aws.amazon.com/federation".to_string()),
            sso,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .chain([("HOME".to_string(), OsString::from("/home/u"))])
            .collect();
        Settings::parse(
            file.map(|t| (Path::new("/c/config.toml"), t)),
            &|n: &str| map.get(n).cloned(),
        )
    }

    fn err(file: Option<&str>, vars: &[(&str, &str)]) -> String {
        match parse(file, vars) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn defaults() {
        let s = parse(None, &[]).expect("defaults");
        assert_eq!(s.session_ttl.as_secs(), 8 * 3600);
        assert_eq!(s.role_ttl.as_secs(), 3600);
        assert_eq!(s.refresh_window.as_secs(), 600);
        assert_eq!(s.sts_timeout.as_secs(), 20);
        assert_eq!(s.key_max_age.as_secs(), 90 * 86_400);
        assert_eq!(
            s.file_dir,
            PathBuf::from("/home/u/.local/share/awsenv/store")
        );
    }

    #[test]
    fn durations_outside_aws_limits_are_refused() {
        let e = err(None, &[("AWSENV_REFRESH_WINDOW", "18446744073709551615")]);
        assert!(e.contains("AWSENV_REFRESH_WINDOW"), "{e}");
        let e = err(None, &[("AWSENV_SESSION_TTL", "99999999999h")]);
        assert!(e.contains("AWSENV_SESSION_TTL") && e.contains("36h"), "{e}");
        let e = err(None, &[("AWSENV_SESSION_TTL", "10m")]);
        assert!(e.contains("15m"), "{e}");
        let e = err(None, &[("AWSENV_ROLE_TTL", "13h")]);
        assert!(e.contains("AWSENV_ROLE_TTL") && e.contains("12h"), "{e}");
        let e = err(Some("role_ttl = 50000\n"), &[]);
        assert!(e.contains("line 1") && e.contains("role_ttl"), "{e}");
        assert!(parse(None, &[("AWSENV_SESSION_TTL", "36h")]).is_ok());
        assert!(parse(None, &[("AWSENV_ROLE_TTL", "12h")]).is_ok());
    }

    #[test]
    fn parser_jargon_becomes_a_sentence_with_the_fix() {
        let Err(e) = parse(Some("\u{feff}session_ttl = \"8h\"\nbackend = file\n"), &[]) else {
            panic!("unquoted value accepted")
        };
        assert_eq!(
            format!("{e}"),
            "bad settings file /c/config.toml, line 2: the value of `backend` must be in double quotes: backend = \"file\""
        );
        let Err(e) = parse(Some("backend = keyring\n"), &[]) else {
            panic!("unquoted value accepted")
        };
        assert!(format!("{e}").contains("backend = \"keyring\""), "{e}");
    }

    #[test]
    fn announce_from_the_file_or_the_variable() {
        assert_eq!(parse(None, &[]).expect("default").announce, Announce::Auto);
        assert_eq!(
            parse(None, &[]).expect("default").picker_order,
            PickerOrder::Frecency
        );
        let s = parse(Some("picker_order = \"alphabetical\"\n"), &[]).expect("file");
        assert_eq!(s.picker_order, PickerOrder::Alphabetical);
        let s = parse(
            Some("picker_order = \"alphabetical\"\n"),
            &[("AWSENV_PICKER_ORDER", "frecency")],
        );
        assert_eq!(s.expect("env wins").picker_order, PickerOrder::Frecency);
        assert!(parse(Some("picker_order = \"random\"\n"), &[]).is_err());
        let s = parse(Some("announce = \"never\"\n"), &[]).expect("file");
        assert_eq!(s.announce, Announce::Never);
        let s = parse(Some("announce = false\n"), &[("AWSENV_ANNOUNCE", "always")]);
        assert_eq!(s.expect("env wins").announce, Announce::Always);
        let Err(e) = parse(Some("announce = \"loud\"\n"), &[]) else {
            panic!("a bad value is an error")
        };
        assert!(format!("{e}").contains("line 1: key `announce`"), "{e}");
    }

    #[test]
    fn key_max_age_from_the_file_or_the_variable() {
        let s = parse(Some("key_max_age = \"30d\"\n"), &[]).expect("file");
        assert_eq!(s.key_max_age.as_secs(), 30 * 86_400);
        let s = parse(
            Some("key_max_age = \"30d\"\n"),
            &[("AWSENV_KEY_MAX_AGE", "180d")],
        )
        .expect("variable wins");
        assert_eq!(s.key_max_age.as_secs(), 180 * 86_400);
        let e = err(None, &[("AWSENV_KEY_MAX_AGE", "soon")]);
        assert!(e.contains("AWSENV_KEY_MAX_AGE"), "{e}");
        let e = err(Some("\nkey_max_age = true\n"), &[]);
        assert!(e.contains("line 2") && e.contains("key_max_age"), "{e}");
    }

    #[test]
    fn a_refresh_window_as_long_as_a_ttl_is_an_error() {
        let e = err(None, &[("AWSENV_REFRESH_WINDOW", "1h")]);
        assert!(e.contains("shorter than role_ttl (1h)"), "{e}");
        let e = err(
            Some("session_ttl = \"2h\"\nrole_ttl = \"3h\"\nrefresh_window = \"2h\"\n"),
            &[],
        );
        assert!(
            e.contains("line 3") && e.contains("shorter than session_ttl (2h)"),
            "{e}"
        );
        assert!(parse(None, &[("AWSENV_REFRESH_WINDOW", "59m")]).is_ok());
    }

    #[test]
    fn sts_timeout_must_be_a_duration() {
        let e = err(None, &[("AWSENV_STS_TIMEOUT", "abc")]);
        assert!(e.contains("AWSENV_STS_TIMEOUT") && e.contains("abc"), "{e}");
        let e = err(None, &[("AWSENV_STS_TIMEOUT", "0")]);
        assert!(e.contains("between 1s and 300s"), "{e}");
        let s = parse(Some("sts_timeout = \"7s\"\n"), &[]).expect("file value");
        assert_eq!(s.sts_timeout.as_secs(), 7);
        let s = parse(Some("sts_timeout = 7\n"), &[("AWSENV_STS_TIMEOUT", "4")]).expect("env");
        assert_eq!(s.sts_timeout.as_secs(), 4);
    }

    #[test]
    fn bad_file_names_line_and_key() {
        let e = err(
            Some("# c\nbackend = \"file\"\nsession_ttl = \"soon\"\n"),
            &[],
        );
        assert!(
            e.contains("config.toml, line 3") && e.contains("session_ttl"),
            "{e}"
        );
        let e = err(Some("x = [\n"), &[]);
        assert!(e.contains("config.toml, line"), "{e}");
    }
}
