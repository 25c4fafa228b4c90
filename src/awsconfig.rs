//! Reading AWS's own configuration (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`) with the
//! SDK's profile-file parser, plus what the SDK does not do: `include_profile` merging and
//! `source_profile` chains with cycle detection.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
use aws_types::os_shim_internal::{Env, Fs};

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
    // IAM Identity Center (see `crate::sso::config`).
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
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
                        "profile {}: duration_seconds = {v:?} is not a number of seconds",
                        self.name
                    )
                })
            })
            .transpose()
    }
}

/// The parsed AWS configuration.
pub struct AwsConfig {
    set: ProfileSet,
}

impl AwsConfig {
    /// Loads and parses the AWS config and credentials files (missing files are empty).
    pub async fn load() -> Result<AwsConfig> {
        let set =
            aws_config::profile::load(&Fs::real(), &Env::real(), &ProfileFiles::default(), None)
                .await
                .map_err(|e| anyhow!("cannot read the AWS config: {}", one_line(&e.to_string())))?;
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
        let mut scored: Vec<(f64, String)> = self
            .names()
            .into_iter()
            .map(|n| (strsim::jaro_winkler(name, &n), n))
            .filter(|(s, _)| *s > 0.7)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let close: Vec<String> = scored.into_iter().take(3).map(|(_, n)| n).collect();
        if close.is_empty() {
            anyhow!(
                "unknown profile {name:?}: add [profile {name}] to {}",
                config_path_text()
            )
        } else {
            anyhow!(
                "unknown profile {name:?}; did you mean {}?",
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

/// The config file's path as text, for messages.
pub fn config_path_text() -> String {
    std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| "~/.aws/config".to_string())
}

/// Collapses a possibly multi-line message into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
