//! Reading AWS's own configuration (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`) with the
//! SDK's profile-file parser, plus what the SDK does not do: `include_profile` merging and
//! `source_profile` chains with cycle detection.
//!
//! awsenv reads the files itself ([`read_text_file`]: regular files only, opened non-blocking,
//! at most [`MAX_FILE`] bytes, UTF-8) and hands their text to the SDK's parser through an
//! in-memory file system, so a FIFO cannot hang it, `/dev/zero` cannot flood it, a directory or
//! a non-UTF-8 file is not silently read as empty, and a parse error names the file and line.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles as ProfileFiles};
use aws_types::os_shim_internal::{Env, Fs};
use zeroize::Zeroizing;

/// The one sanitiser, under the names the engine has always used (see [`crate::sanitize`]).
pub use crate::sanitize::{one_line, printable};

/// The largest AWS config or credentials file read (4 MiB).
pub const MAX_FILE: u64 = 4 * 1024 * 1024;

/// Reads the text file at `path` for `what` (e.g. "the AWS config"): `None` when it does not
/// exist. Refuses anything but a regular file (checked on the opened descriptor, which is
/// opened with `O_NONBLOCK` so a FIFO cannot block), a file over `limit` bytes, and text that
/// is not UTF-8. `fix` ends the message about a file that is not regular ("point
/// AWS_CONFIG_FILE at a file").
pub fn read_text_file(path: &Path, limit: u64, what: &str, fix: &str) -> Result<Option<String>> {
    let shown = path.display();
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => bail!("cannot read {what} {shown}: {e}"),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {what} {shown}"))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        bail!("{what} {shown} is {kind}, not a regular file; {fix}");
    }
    let too_big = || {
        anyhow!(
            "{what} {shown} is larger than {} KiB; is it the right file?",
            limit / 1024
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    match std::str::from_utf8(&bytes) {
        Ok(t) => Ok(Some(t.to_string())),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            bail!("{what} {shown} is not UTF-8 text (line {line}); save it as UTF-8")
        }
    }
}

/// The path of one of AWS's files: the override variable (`~` expanded as the SDK does), else
/// `~/.aws/<default>`; `None` without a home directory.
pub fn aws_file_path(var: &str, default: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let raw = std::env::var_os(var).filter(|v| !v.is_empty());
    let p = match raw {
        Some(v) => PathBuf::from(v),
        None => return home.map(|h| PathBuf::from(h).join(".aws").join(default)),
    };
    let p = match p.strip_prefix("~") {
        Ok(rest) => home.map(|h| PathBuf::from(h).join(rest))?,
        Err(_) => p,
    };
    // awsenv's own overlay stands for the user's file, which awsenv reads itself.
    if var == "AWS_CONFIG_FILE"
        && let Some(user) = crate::activation::user_config_for(&p)
    {
        return Some(user);
    }
    Some(p)
}

/// One AWS file's text, for [`AwsConfig::parse`].
pub struct ConfigText<'a> {
    /// The path, as shown in errors.
    pub path: &'a str,
    /// The file's content.
    pub text: &'a str,
}

/// Turns the SDK's parse error (`error parsing PATH on line N:\n  MESSAGE`) into one line that
/// names the file, the line and the reason.
fn parse_error(e: &aws_config::profile::ProfileFileLoadError) -> anyhow::Error {
    let inner = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    let (head, reason) = inner.split_once(":\n").unwrap_or((&inner, ""));
    let located = head
        .strip_prefix("error parsing ")
        .and_then(|h| h.rsplit_once(" on line "));
    match located {
        Some((path, line)) => anyhow!(
            "cannot read the AWS config: {path}, line {line}: {}; fix that line",
            one_line(reason)
        ),
        None => anyhow!("cannot read the AWS config: {}", one_line(&inner)),
    }
}

/// Runs a future that cannot wait on anything (the SDK's loader over an in-memory file system
/// and environment) to completion without a runtime.
fn ready<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// The keys awsenv reads from a profile.
pub const KEYS: &[&str] = &[
    "region",
    "role_arn",
    "source_profile",
    "mfa_serial",
    "role_session_name",
    "external_id",
    "duration_seconds",
    "source_identity",
    "mfa_process",
    "credential_process",
    "endpoint_url",
    // A PEM file of CAs to trust besides the system's (AWS_CA_BUNDLE wins; src/netconf.rs).
    "ca_bundle",
    // Workload identities (src/source/web_identity.rs, environment.rs, ecs.rs, imds.rs).
    "web_identity_token_file",
    "credential_source",
    // `aws login` (AWS CLI 2.32+): the session in the CLI's login cache.
    "login_session",
    // IAM Identity Center (validated by the sso module).
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
    // The account's name, shown by the profile picker (awsenv's own note; AWS tools ignore it).
    "account_alias",
];

/// The keys of an `[sso-session NAME]` section that awsenv reads.
pub const SSO_SESSION_KEYS: &[&str] = &["sso_start_url", "sso_region", "sso_registration_scopes"];

/// One profile with `include_profile` applied.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    props: BTreeMap<String, String>,
}

impl Profile {
    /// A property, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `duration_seconds`, validated.
    pub fn duration_seconds(&self) -> Result<Option<u64>> {
        self.get("duration_seconds")
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    anyhow!(
                        "profile {}: duration_seconds = {} is not a number of seconds",
                        self.name,
                        crate::sanitize::quoted(v.as_bytes(), 40)
                    )
                })
            })
            .transpose()
    }
}

/// Keys found in plaintext in the AWS config or credentials file.
pub struct PlaintextKeys {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: zeroize::Zeroizing<String>,
    /// An `aws_session_token` is beside them: temporary credentials, not for the store.
    pub temporary: bool,
}

/// Profile sections this process reads as if they ended the AWS config file (see
/// [`add_in_memory`]).
static IN_MEMORY: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Adds `sections` (config-file text, no secrets) that every later load of the AWS config in
/// this process reads after the file's own text, without writing the file: a role of the AWS
/// access portal picked for one command, or the role a `.awsprofile` names assumed from the
/// `role_base_profile` setting's profile. The names must not be taken in the file; sections
/// added before are not added twice.
pub fn add_in_memory(sections: &str) {
    if let Ok(mut t) = IN_MEMORY.lock()
        && !t.contains(sections)
    {
        t.push_str(sections);
    }
}

/// Adds `[profile NAME]` with `keys` (`key = value` lines) in memory ([`add_in_memory`]).
pub fn add_synthetic_profile(name: &str, keys: &str) {
    add_in_memory(&format!("[profile {name}]\n{keys}"));
}

/// Whether profile `name` exists only in memory ([`add_in_memory`]).
pub fn is_in_memory(name: &str) -> bool {
    in_memory_text().contains(&format!("[profile {name}]\n"))
}

fn in_memory_text() -> String {
    IN_MEMORY.lock().map(|t| t.clone()).unwrap_or_default()
}

/// The parsed AWS configuration.
pub struct AwsConfig {
    set: ProfileSet,
}

impl AwsConfig {
    /// Loads and parses the AWS config and credentials files (missing files are empty).
    pub async fn load() -> Result<AwsConfig> {
        AwsConfig::load_now()
    }

    /// [`AwsConfig::load`] without an async context.
    pub fn load_now() -> Result<AwsConfig> {
        let mut texts: Vec<(String, String, EnvConfigFileKind)> = Vec::new();
        for (var, default, kind, what, fix) in [
            (
                "AWS_CONFIG_FILE",
                "config",
                EnvConfigFileKind::Config,
                "the AWS config",
                "point AWS_CONFIG_FILE at a file",
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "credentials",
                EnvConfigFileKind::Credentials,
                "the AWS credentials file",
                "point AWS_SHARED_CREDENTIALS_FILE at a file",
            ),
        ] {
            let Some(path) = aws_file_path(var, default) else {
                continue;
            };
            if let Some(text) = read_text_file(&path, MAX_FILE, what, fix)? {
                texts.push((path.to_string_lossy().into_owned(), text, kind));
            }
        }
        let extra = in_memory_text();
        if !extra.is_empty() {
            match texts
                .iter_mut()
                .find(|t| matches!(t.2, EnvConfigFileKind::Config))
            {
                Some(t) => t.1 = format!("{}\n{extra}", t.1),
                None => texts.push((config_path_text(), extra, EnvConfigFileKind::Config)),
            }
        }
        let config = texts
            .iter()
            .find(|t| matches!(t.2, EnvConfigFileKind::Config))
            .map(|t| ConfigText {
                path: &t.0,
                text: &t.1,
            });
        let credentials = texts
            .iter()
            .find(|t| matches!(t.2, EnvConfigFileKind::Credentials))
            .map(|t| ConfigText {
                path: &t.0,
                text: &t.1,
            });
        let parsed = AwsConfig::parse(config, credentials);
        for t in &mut texts {
            zeroize::Zeroize::zeroize(&mut t.1);
        }
        parsed
    }

    /// Parses the AWS config and credentials files' texts with the SDK's parser. Pure: reads no
    /// file and no environment (for tests and fuzzing).
    pub fn parse(
        config: Option<ConfigText<'_>>,
        credentials: Option<ConfigText<'_>>,
    ) -> Result<AwsConfig> {
        let mut files = HashMap::new();
        let mut builder = ProfileFiles::builder();
        for (kind, t) in [
            (EnvConfigFileKind::Config, config),
            (EnvConfigFileKind::Credentials, credentials),
        ] {
            if let Some(t) = t {
                files.insert(t.path.to_string(), t.text.as_bytes().to_vec());
                builder = builder.with_file(kind, t.path);
            }
        }
        if files.is_empty() {
            builder = builder.with_contents(EnvConfigFileKind::Config, "");
        }
        let fs = Fs::from_map(files);
        let env = Env::from_slice(&[]);
        let set = ready(aws_config::profile::load(&fs, &env, &builder.build(), None))
            .ok_or_else(|| anyhow!("cannot read the AWS config: the parser did not finish"))?
            .map_err(|e| parse_error(&e))?;
        Ok(AwsConfig { set })
    }

    /// Every profile name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.profiles().map(str::to_string).collect();
        v.sort();
        v
    }

    /// Whether a profile holds static keys (`aws_access_key_id`) in the config or credentials
    /// file.
    pub fn has_static_keys(&self, name: &str) -> bool {
        self.set
            .get_profile(name)
            .and_then(|p| p.get("aws_access_key_id"))
            .is_some_and(|v| !v.is_empty())
    }

    /// The static keys a profile holds in plaintext (`aws_access_key_id`,
    /// `aws_secret_access_key`, and whether an `aws_session_token` makes them temporary), as
    /// `awsenv import` moves them into the store.
    pub fn plaintext_keys(&self, name: &str) -> Option<PlaintextKeys> {
        let p = self.set.get_profile(name)?;
        let id = p.get("aws_access_key_id").filter(|v| !v.is_empty())?;
        let secret = p.get("aws_secret_access_key").filter(|v| !v.is_empty())?;
        Some(PlaintextKeys {
            access_key_id: id.trim().to_string(),
            secret_access_key: zeroize::Zeroizing::new(secret.trim().to_string()),
            temporary: p.get("aws_session_token").is_some_and(|t| !t.is_empty()),
        })
    }

    /// Every `[sso-session NAME]` name, sorted.
    pub fn sso_session_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.sso_sessions().map(str::to_string).collect();
        v.sort();
        v
    }

    /// The `[sso-session NAME]` section's keys ([`SSO_SESSION_KEYS`] that are set and not
    /// empty), or `None` when there is no such section.
    pub fn sso_session(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let s = self.set.sso_session(name)?;
        Some(
            SSO_SESSION_KEYS
                .iter()
                .filter_map(|k| {
                    s.get(k)
                        .filter(|v| !v.is_empty())
                        .map(|v| (k.to_string(), v.to_string()))
                })
                .collect(),
        )
    }

    /// Whether a profile exists.
    pub fn has(&self, name: &str) -> bool {
        self.set.get_profile(name).is_some()
    }

    /// The profile `name` with `include_profile` applied (the including profile's own keys
    /// win). Unknown names are an error listing the closest existing names.
    pub fn profile(&self, name: &str) -> Result<Profile> {
        let mut seen = Vec::new();
        self.profile_inner(name, &mut seen)
    }

    fn profile_inner(&self, name: &str, seen: &mut Vec<String>) -> Result<Profile> {
        if seen.iter().any(|s| s == name) {
            seen.push(name.to_string());
            bail!("include_profile cycle: {}", seen.join(" -> "));
        }
        seen.push(name.to_string());
        let Some(raw) = self.set.get_profile(name) else {
            return Err(self.unknown(name));
        };
        let mut props = BTreeMap::new();
        if let Some(inc) = raw.get("include_profile") {
            let base = self
                .profile_inner(inc, seen)
                .with_context(|| format!("profile {name}: include_profile = {inc}"))?;
            props = base.props;
        }
        for key in KEYS {
            if let Some(v) = raw.get(key) {
                props.insert(key.to_string(), v.to_string());
            }
        }
        Ok(Profile {
            name: name.to_string(),
            props,
        })
    }

    /// The error for an unknown profile, naming the closest existing ones.
    pub fn unknown(&self, name: &str) -> anyhow::Error {
        let close = close_names(name, &self.names());
        let q_name = crate::sanitize::quoted(name.as_bytes(), 80);
        if close.is_empty() {
            anyhow!(
                "unknown profile {q_name}: add [profile {}] to {}",
                printable(name.as_bytes(), 80),
                config_path_text()
            )
        } else {
            anyhow!(
                "unknown profile {q_name}; did you mean {}?",
                close.join(", ")
            )
        }
    }

    /// The `source_profile` chain from the root (first) to `name` (last). A cycle is an error
    /// naming the profiles in it.
    pub fn chain(&self, name: &str) -> Result<Vec<Profile>> {
        let mut chain = vec![self.profile(name)?];
        loop {
            let last = chain
                .last()
                .map(|p| (p.name.clone(), p.get("source_profile").map(str::to_string)));
            let Some((cur, Some(src))) = last else { break };
            if src == cur {
                break; // A profile that names itself holds its own base credentials.
            }
            if chain.iter().any(|p| p.name == src) {
                let mut names: Vec<String> = chain.iter().rev().map(|p| p.name.clone()).collect();
                names.reverse();
                names.push(src);
                bail!("source_profile cycle: {}", names.join(" -> "));
            }
            let next = self
                .profile(&src)
                .with_context(|| format!("profile {cur}: source_profile = {src}"))?;
            chain.push(next);
        }
        chain.reverse();
        Ok(chain)
    }
}

/// Names close enough to `name` to be what the user meant: at most one edit per three
/// characters (at least one), a typo's distance, closest first; at most three.
pub fn close_names(name: &str, names: &[String]) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(&lower, &n.to_lowercase()), n))
        .filter(|(d, n)| *d <= (lower.chars().count().max(n.chars().count()) / 3).max(1))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

/// The credentials file's path as text, for messages.
pub fn credentials_path_text() -> String {
    aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.aws/credentials".to_string())
}

/// The config file's path as text, for messages.
pub fn config_path_text() -> String {
    aws_file_path("AWS_CONFIG_FILE", "config")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.aws/config".to_string())
}

#[cfg(test)]
mod close_tests {
    use super::close_names;

    #[test]
    fn only_typos_are_suggested() {
        let names: Vec<String> = ["calvin", "hobbes", "prod", "dev", "jan-work"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(close_names("calvn", &names), vec!["calvin"]);
        assert_eq!(close_names("Calvin", &names), vec!["calvin"]);
        assert_eq!(close_names("jan-wrok", &names), vec!["jan-work"]);
        assert!(close_names("staging", &names).is_empty());
        assert!(close_names("x", &names).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(config: &str) -> Result<AwsConfig> {
        AwsConfig::parse(
            Some(ConfigText {
                path: "/h/.aws/config",
                text: config,
            }),
            None,
        )
    }

    #[test]
    fn a_parse_error_names_file_line_and_reason() {
        let e = parse("[profile a]\nregion = x\n\nnot a property\n")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("/h/.aws/config, line 4: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse("region = x\n")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            e.contains("/h/.aws/config, line 1: Expected a profile definition"),
            "{e}"
        );
    }

    #[test]
    fn both_files_and_none() {
        let c = AwsConfig::parse(
            Some(ConfigText {
                path: "/c",
                text: "[profile a]\nregion = eu-west-1\n",
            }),
            Some(ConfigText {
                path: "/k",
                text: "[b]\naws_access_key_id = AKIA\n",
            }),
        )
        .expect("parse");
        assert_eq!(c.names(), vec!["a".to_string(), "b".to_string()]);
        assert!(c.has_static_keys("b"));
        assert!(
            AwsConfig::parse(None, None)
                .expect("empty")
                .names()
                .is_empty()
        );
    }

    #[test]
    fn only_regular_bounded_utf8_files_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("config");
        assert!(
            read_text_file(&p, 100, "x", "f")
                .expect("missing")
                .is_none()
        );
        std::fs::write(&p, "[profile a]\n").expect("write");
        assert_eq!(
            read_text_file(&p, 100, "x", "f").expect("read").as_deref(),
            Some("[profile a]\n")
        );
        let e = format!(
            "{:#}",
            read_text_file(&p, 5, "x", "f").expect_err("too big")
        );
        assert!(e.contains("larger than"), "{e}");
        std::fs::write(&p, b"[profile \xff]\n").expect("write");
        let e = format!("{:#}", read_text_file(&p, 100, "x", "f").expect_err("utf8"));
        assert!(e.contains("not UTF-8 text (line 1)"), "{e}");
        let e = format!(
            "{:#}",
            read_text_file(dir.path(), 100, "x", "f").expect_err("dir")
        );
        assert!(e.contains("is a directory"), "{e}");
        let e = format!(
            "{:#}",
            read_text_file(Path::new("/dev/zero"), 100, "x", "f").expect_err("device")
        );
        assert!(e.contains("is a device"), "{e}");
    }
}
