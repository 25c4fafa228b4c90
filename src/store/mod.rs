//! The secret store: long-term keys and cached sessions, behind one small trait with two
//! backends — the OS keyring and an encrypted file store (unlocked once per login by the
//! [`agent`]).
//!
//! Rules every backend keeps:
//! - a damaged entry is an error ([`Damaged`]), never "no entry";
//! - a damaged *cache* entry ([`Kind::Cache`], `session/…` keys) may be dropped and fetched
//!   again; a damaged entry of any other kind (stored keys, a key rotation's journal) is
//!   reported and kept;
//! - listing never fails because of one bad entry: it is returned as [`Unreadable`].

pub mod agent;
mod file;
mod keyring;
pub mod lock;

use anyhow::{Result, bail};
use zeroize::Zeroizing;

use crate::settings::{Backend, Settings};

pub use file::{FileStore, take_env_passphrase};
pub use keyring::KeyringStore;

/// What an entry is, as far as dropping it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something only the user can supply again (long-term keys): never dropped.
    Keys,
    /// A cached session: dropped when damaged, and fetched again.
    Cache,
    /// The journal of a key rotation (`rotation/…`, written by `awsenv rotate`): it may hold the
    /// only copy of a new key's secret, so it is never dropped either.
    Journal,
}

/// The kind of the entry stored under `key`: [`Kind::Cache`] for `session/…`,
/// [`Kind::Journal`] for `rotation/…`, else [`Kind::Keys`].
pub fn kind_of(key: &str) -> Kind {
    if key.starts_with("session/") {
        Kind::Cache
    } else if key.starts_with("rotation/") {
        Kind::Journal
    } else {
        Kind::Keys
    }
}

/// An entry that is there but cannot be read (a damaged or tampered file, an undecodable
/// keyring item).
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// Its kind, when the store knows it without reading the entry (`None`: unknown, e.g. a
    /// damaged file of the first file-store layout).
    pub kind: Option<Kind>,
    /// Where it is: a file path or a keyring entry name.
    pub location: String,
    /// Why it cannot be read.
    pub why: String,
    /// Its key, when the store knows it without reading the entry (the keyring does).
    pub key: Option<String>,
}

/// Everything a store holds: the readable keys and the entries that cannot be read.
#[derive(Default, Debug)]
pub struct Listing {
    /// Keys of readable entries, sorted.
    pub keys: Vec<String>,
    /// Entries that cannot be read.
    pub unreadable: Vec<Unreadable>,
}

/// The error for an entry that exists but cannot be read (damaged, tampered with, not what
/// its name says). Find it in an error chain with [`damaged`].
#[derive(Debug)]
pub struct Damaged {
    /// The file or keyring entry.
    pub location: String,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is damaged or was tampered with ({})",
            self.location, self.why
        )
    }
}

impl std::error::Error for Damaged {}

/// The [`Damaged`] error in `e`'s chain, if that is what `e` is.
pub fn damaged(e: &anyhow::Error) -> Option<&Damaged> {
    e.chain().find_map(|c| c.downcast_ref::<Damaged>())
}

/// A place to keep secrets by key. Keys are short ASCII strings such as `keys/calvin` or
/// `session/<digest>`; values are JSON documents.
pub trait SecretStore {
    /// The value under `key`, or `None` when there is none. A damaged entry is a [`Damaged`]
    /// error and a locked store an error, never `None`.
    fn get(&self, key: &str) -> Result<Option<Zeroizing<String>>>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &str) -> Result<()>;
    /// Removes `key` (also when its entry is damaged); true if it existed.
    fn delete(&self, key: &str) -> Result<bool>;
    /// Every entry: readable keys and unreadable entries. Fails only when the store as a whole
    /// cannot be read.
    fn list(&self) -> Result<Listing>;
    /// Every readable key (see [`SecretStore::list`] for the unreadable ones).
    fn keys(&self) -> Result<Vec<String>> {
        Ok(self.list()?.keys)
    }
    /// Removes an unreadable entry found by [`SecretStore::list`]; refuses unless it is a
    /// [`Kind::Cache`] entry. Keeps it when it has become readable meanwhile (written again
    /// by another process). True when it was removed.
    fn drop_unreadable(&self, entry: &Unreadable) -> Result<bool>;
    /// A short description for messages (`the OS keyring`, `the file store at …`).
    fn describe(&self) -> String;
}

/// The store key of a profile's long-term keys.
pub fn keys_key(profile: &str) -> String {
    format!("keys/{profile}")
}

/// The store key of the journal of a key rotation of `profile` (`awsenv rotate`).
pub fn rotation_key(profile: &str) -> String {
    format!("rotation/{profile}")
}

/// Opens the configured backend: the explicit choice, or the OS keyring when it answers.
pub fn open(settings: &Settings) -> Result<Box<dyn SecretStore>> {
    match settings.backend {
        Some(Backend::File) => Ok(Box::new(FileStore::new(settings.file_dir.clone()))),
        Some(Backend::Keyring) => Ok(Box::new(KeyringStore::open()?)),
        None => match KeyringStore::open() {
            Ok(k) => Ok(Box::new(k)),
            Err(e) if e.downcast_ref::<keyring::Locked>().is_some() => Err(e),
            Err(e) => bail!(
                "no OS keyring answers ({e:#}); set AWSENV_BACKEND=file (or backend = \"file\" in the settings file) to use the encrypted file store"
            ),
        },
    }
}
