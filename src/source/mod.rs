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

use anyhow::Result;

use crate::awsconfig::{AwsConfig, Profile};
use crate::settings::Settings;
use crate::store::SecretStore;
use crate::sts::Creds;

pub mod process;
pub mod sso;
pub mod stored_keys;

/// What a source may use: the AWS config, the settings, the secret store.
pub struct Cx<'a> {
    /// The AWS config.
    pub config: &'a AwsConfig,
    /// Effective settings.
    pub settings: &'a Settings,
    /// The secret store.
    pub store: &'a dyn SecretStore,
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
    fn claims(&self, cx: &Cx<'_>, root: &Profile) -> Result<bool>;

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
pub static SOURCES: &[&(dyn Source + Sync)] = &[&sso::Sso, &process::Process, &stored_keys::Keys];

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
    for s in SOURCES {
        if s.claims(cx, root)? {
            return Ok(*s);
        }
    }
    Ok(&stored_keys::Keys)
}
