//! Credential sources: where the root of a `source_profile` chain gets its credentials.
//!
//! Each source is one module behind [`Source`]: which profiles it takes (the keys it needs from
//! the config), whether the engine may cache what it returns and under which key
//! ([`CacheSpec`]), and how it reports being unavailable (an error of one line that names the
//! profile and what to do). The engine (`resolve`) asks [`root_of`] for the source of a chain's
//! root and knows nothing else of it; sources know nothing of the engine. Adding a source is
//! its module plus one line in [`SOURCES`].

use std::future::Future;
use std::pin::Pin;

use anyhow::{Result, bail};

use crate::awsconfig::{AwsConfig, Profile};
use crate::settings::Settings;
use crate::store::SecretStore;
use crate::sts::{Creds, Endpoint};

pub mod ecs;
pub mod environment;
pub mod imds;
pub mod login;
pub mod process;
pub mod sso;
pub mod stored_keys;
pub mod web_identity;

/// What a source may use: the AWS config, the settings, the secret store.
pub struct Cx<'a> {
    /// The AWS config.
    pub config: &'a AwsConfig,
    /// Effective settings.
    pub settings: &'a Settings,
    /// The secret store.
    pub store: &'a dyn SecretStore,
    /// The STS endpoint of the resolution (region, endpoint override, limits).
    pub sts: &'a Endpoint,
}

/// Where the engine caches a source's credentials: the session cache key is made of `kind`,
/// the root profile, `upstream` (everything else that shapes the result) and `endpoint`.
pub struct CacheSpec {
    /// The entry's kind (`sso`, …), shown by `awsenv list`.
    pub kind: &'static str,
    /// What the credentials come from, for the key (never a secret in clear: it is digested,
    /// but hash secrets first anyway).
    pub upstream: String,
    /// An endpoint override that shapes the result.
    pub endpoint: Option<String>,
    /// Shown by `awsenv list` in place of a role ARN (e.g. `123456789012/ReadOnly`).
    pub label: Option<String>,
}

/// The credentials a source is fetching.
pub type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Creds>> + 'a>>;

/// One credential source.
pub trait Source {
    /// A short name for messages: `stored keys`, `credential_process`, `IAM Identity Center`.
    fn name(&self) -> &'static str;

    /// Whether `root` gets its credentials from this source: `Ok(false)` when none of its keys
    /// are set; an error naming the profile and the key when they are set but unusable (half
    /// set, an unknown value).
    fn claims(&self, _cx: &Cx<'_>, root: &Profile) -> Result<bool> {
        Ok(self.credential_source().is_some()
            && root.get("credential_source").map(str::trim) == self.credential_source())
    }

    /// The `credential_source` value this source answers to (`Environment`, …), if any; the
    /// default [`Source::claims`] takes the profiles that name it.
    fn credential_source(&self) -> Option<&'static str> {
        None
    }

    /// Whether the credentials are already those of the root's own `role_arn` (web identity):
    /// the engine then assumes no role on the root.
    fn takes_role(&self) -> bool {
        false
    }

    /// What a role assumed from this root's credentials is keyed by in the session cache, when
    /// it is not the credentials' access key (the default, `None`): for a source whose keys
    /// change at every refresh, so that a role's cached session outlives them.
    fn upstream(&self, _root: &Profile) -> Option<String> {
        None
    }

    /// Where the engine caches what [`Source::fetch`] returns; `None` (the default): not cached,
    /// fetched at every resolution (long-term keys, or a source with its own cache).
    fn cache(&self, _cx: &Cx<'_>, _root: &Profile) -> Result<Option<CacheSpec>> {
        Ok(None)
    }

    /// The credentials, checked with [`crate::credcheck`]. Unavailable (nothing stored, the
    /// command failed, the service refused): an error of one line naming the profile and what
    /// to do.
    fn fetch<'a>(&'a self, cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a>;
}

/// Every source, asked in this order; the first that claims a root is its source. Stored keys
/// come last: a root that no other source claims holds long-term keys in the store.
#[rustfmt::skip]
pub static SOURCES: &[&(dyn Source + Sync)] = &[
    &sso::Sso,
    &process::Process,
    &login::Login,
    &web_identity::WebIdentity,
    &environment::Environment,
    &ecs::EcsContainer,
    &imds::Ec2InstanceMetadata,
    &stored_keys::Keys,
];

/// Checks profile `p` of a chain that is not its root (it has `source_profile`): it must not
/// also name a `credential_source`, since its credentials come from the source profile.
pub fn check_link(p: &Profile) -> Result<()> {
    if p.get("credential_source").is_some() {
        bail!(
            "profile {} has both source_profile and credential_source; keep one (credential_source belongs on the root of the chain)",
            p.name
        );
    }
    Ok(())
}

/// The local user name, as the default `role_session_name` (cleaned to STS's alphabet).
pub fn local_user() -> String {
    let raw = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(passwd_name)
        .unwrap_or_else(|| "awsenv".into());
    let mut s: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('_');
    }
    s
}

fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into our buffers; we check its result before reading.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(
            libc::getuid(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        ) != 0
            || out.is_null()
        {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Credentials from one of aws-config's providers, as awsenv keeps them.
pub fn from_sdk(c: &aws_credential_types::Credentials) -> Creds {
    Creds {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: c.session_token().map(str::to_string),
        expiration: c
            .expiry()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    }
}

/// An error of one of aws-config's providers, on one line.
pub fn sdk_error(e: &(dyn std::error::Error + 'static)) -> String {
    crate::awsconfig::one_line(&format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(e)
    ))
}

/// The source of root profile `root` (see [`SOURCES`]).
pub fn root_of(cx: &Cx<'_>, root: &Profile) -> Result<&'static (dyn Source + Sync)> {
    if let Some(v) = root.get("credential_source") {
        let known: Vec<&str> = SOURCES
            .iter()
            .filter_map(|s| s.credential_source())
            .collect();
        if !known.contains(&v.trim()) {
            bail!(
                "profile {}: credential_source = {} is not one of {}; fix it in {}",
                root.name,
                crate::sanitize::quoted(v.as_bytes(), 40),
                known.join(", "),
                crate::awsconfig::config_path_text()
            );
        }
    }
    for s in SOURCES {
        if s.claims(cx, root)? {
            return Ok(*s);
        }
    }
    Ok(&stored_keys::Keys)
}
