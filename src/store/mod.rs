//! The secret store: long-term keys and cached sessions, behind one small trait with two
//! backends — the OS keyring and an encrypted file store.

mod file;
mod keyring;
pub mod lock;

use anyhow::{Result, bail};
use zeroize::Zeroizing;

use crate::settings::{Backend, Settings};

pub use file::FileStore;
pub use keyring::KeyringStore;

/// A place to keep secrets by key. Keys are short ASCII strings such as `keys/calvin` or
/// `session/<digest>`; values are JSON documents.
pub trait SecretStore {
    /// The value under `key`, or `None` when there is none. A damaged entry or a locked store
    /// is an error, never `None`.
    fn get(&self, key: &str) -> Result<Option<Zeroizing<String>>>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &str) -> Result<()>;
    /// Removes `key`; true if it existed.
    fn delete(&self, key: &str) -> Result<bool>;
    /// Every key held.
    fn keys(&self) -> Result<Vec<String>>;
    /// A short description for messages (`keyring`, `file store at …`).
    fn describe(&self) -> String;
}

/// The store key of a profile's long-term keys.
pub fn keys_key(profile: &str) -> String {
    format!("keys/{profile}")
}

/// Opens the configured backend: the explicit choice, or the OS keyring when it answers.
pub fn open(settings: &Settings) -> Result<Box<dyn SecretStore>> {
    match settings.backend {
        Some(Backend::File) => Ok(Box::new(FileStore::new(settings.file_dir.clone()))),
        Some(Backend::Keyring) => Ok(Box::new(KeyringStore::open()?)),
        None => match KeyringStore::open() {
            Ok(k) => Ok(Box::new(k)),
            Err(e) => bail!(
                "no OS keyring answers ({e:#}); set AWSENV_BACKEND=file (or backend = \"file\" in the settings file) to use the encrypted file store"
            ),
        },
    }
}
