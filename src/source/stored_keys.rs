//! Stored keys: a root profile that no other source claims holds long-term IAM keys in the
//! secret store (`keys/<profile>`, written by `awsenv add`, `import` and `rotate`). Not cached:
//! they are long-term; the engine makes (and caches) an MFA session from them.

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;
use crate::store::{self, SecretStore};
use crate::sts::Creds;

/// Long-term keys as kept in the store (`keys/<profile>`).
#[derive(Serialize, Deserialize)]
pub struct StoredKeys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// When IAM created the key (epoch seconds), when known (`awsenv rotate` records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When the key was stored in awsenv (epoch seconds; entries older than this field lack
    /// it): the key is at least this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<i64>,
}

impl Drop for StoredKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

/// The long-term keys stored for `profile` in `store`.
pub fn read(store: &dyn SecretStore, profile: &str) -> Result<Option<StoredKeys>> {
    let value = store.get(&store::keys_key(profile)).map_err(|e| {
        if store::damaged(&e).is_some() {
            anyhow!(
                "the stored keys of profile {profile} cannot be read: {}; the file is kept: restore it from a backup, or store the keys again with 'awsenv add {profile} --force'",
                crate::awsconfig::one_line(&format!("{e:#}"))
            )
        } else {
            e
        }
    })?;
    match value {
        None => Ok(None),
        Some(v) => serde_json::from_str(&v)
            .map(Some)
            .map_err(|_| anyhow!("the stored keys of profile {profile} are unreadable; store them again with 'awsenv add {profile} --force'")),
    }
}

/// The stored-keys source.
pub struct Keys;

impl Source for Keys {
    fn name(&self) -> &'static str {
        "stored keys"
    }

    fn claims(&self, _cx: &Cx<'_>, _root: &Profile) -> Result<bool> {
        Ok(true)
    }

    fn fetch<'a>(&'a self, cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            match read(cx.store, &root.name)? {
                Some(k) => {
                    let creds = Creds {
                        access_key_id: k.access_key_id.clone(),
                        secret_access_key: k.secret_access_key.clone(),
                        session_token: None,
                        expiration: None,
                    };
                    crate::credcheck::check(
                        &creds,
                        &format!("profile {}: the secret store", root.name),
                        &format!("store them again with 'awsenv add {} --force'", root.name),
                    )?;
                    Ok(creds)
                }
                None if cx.config.has_static_keys(&root.name) => bail!(
                    "no keys stored for profile {0}; its keys are in plaintext in {1}: 'awsenv import {0}' moves them into {2}",
                    root.name,
                    crate::awsconfig::credentials_path_text(),
                    cx.store.describe()
                ),
                None => bail!(
                    "no keys stored for profile {}: run 'awsenv add {}' (keys are kept in {})",
                    root.name,
                    root.name,
                    cx.store.describe()
                ),
            }
        })
    }
}
