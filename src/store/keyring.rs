//! The OS keyring backend, through the keyring crate family (`keyring-core` plus one store
//! crate per platform).

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use keyring_core::{Entry, Error as KError};
use zeroize::Zeroizing;

use super::{Damaged, Kind, Listing, SecretStore, Unreadable};

/// The keyring "service" every awsenv entry is filed under.
pub const SERVICE: &str = "awsenv";

/// The OS keyring.
pub struct KeyringStore;

fn platform_store() -> Result<std::sync::Arc<keyring_core::CredentialStore>> {
    #[cfg(target_os = "linux")]
    {
        let s = dbus_secret_service_keyring_store::Store::new().map_err(describe)?;
        Ok(s)
    }
    #[cfg(target_os = "macos")]
    {
        let s = apple_native_keyring_store::keychain::Store::new().map_err(describe)?;
        Ok(s)
    }
    #[cfg(target_os = "windows")]
    {
        let s = windows_native_keyring_store::Store::new().map_err(describe)?;
        Ok(s)
    }
}

/// The OS keyring answers but is locked (the Secret Service collection, the macOS keychain):
/// unlocking it is the fix, not another backend (which would be an empty store).
#[derive(Debug)]
pub struct Locked(String);

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the OS keyring is locked ({}): unlock it — log in to the desktop session, or open your keyring tool (Passwords and Keys, KeePassXC, 'Keychain Access') and unlock the collection — then run the command again",
            self.0
        )
    }
}

impl std::error::Error for Locked {}

fn describe(e: KError) -> anyhow::Error {
    match e {
        KError::NoStorageAccess(p) => {
            anyhow::Error::new(Locked(crate::sanitize::one_line(&p.to_string())))
        }
        e => anyhow!("{}", crate::sanitize::one_line(&e.to_string())),
    }
}

impl KeyringStore {
    /// Connects to the OS store and checks that it answers.
    pub fn open() -> Result<KeyringStore> {
        let store = platform_store()?;
        keyring_core::set_default_store(store);
        // A search proves the service is reachable (and unlocked) before we rely on it.
        let spec = HashMap::from([("service", SERVICE)]);
        Entry::search(&spec).map_err(describe)?;
        Ok(KeyringStore)
    }

    fn entry(key: &str) -> Result<Entry> {
        Entry::new(SERVICE, key).map_err(describe)
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, key: &str) -> Result<Option<Zeroizing<String>>> {
        match Self::entry(key)?.get_password() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(KError::NoEntry) => Ok(None),
            Err(e @ (KError::BadEncoding(_) | KError::BadDataFormat(..))) => {
                Err(anyhow!(Damaged {
                    location: format!("keyring entry {key}"),
                    why: crate::awsconfig::one_line(&e.to_string()),
                }))
            }
            Err(e) => Err(anyhow!("keyring entry {key}: {}", describe(e))),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        Self::entry(key)?
            .set_password(value)
            .map_err(|e| anyhow!("cannot write keyring entry {key}: {}", describe(e)))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        match Self::entry(key)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KError::NoEntry) => Ok(false),
            Err(e) => Err(anyhow!(
                "cannot delete keyring entry {key}: {}",
                describe(e)
            )),
        }
    }

    fn list(&self) -> Result<Listing> {
        let spec = HashMap::from([("service", SERVICE)]);
        let mut keys: Vec<String> = Entry::search(&spec)
            .map_err(describe)?
            .iter()
            .filter_map(|e| e.get_specifiers())
            .filter(|(s, _)| s == SERVICE)
            .map(|(_, u)| u)
            .collect();
        keys.sort();
        keys.dedup();
        // Entries are read one by one by their users; a damaged one shows there (get).
        Ok(Listing {
            keys,
            unreadable: Vec::new(),
        })
    }

    fn drop_unreadable(&self, entry: &Unreadable) -> Result<bool> {
        match (&entry.key, entry.kind) {
            (Some(key), Some(Kind::Cache)) => self.delete(key),
            _ => Err(anyhow!(
                "{} is not a cached session; awsenv does not remove it",
                entry.location
            )),
        }
    }

    fn describe(&self) -> String {
        "the OS keyring".to_string()
    }
}
