//! The encrypted file store, for machines without an OS keyring.
//!
//! Layout of the store directory (0700, files 0600):
//! - `identity.age`: an age X25519 identity, encrypted with the passphrase (age scrypt
//!   recipient, work factor 2^16: about 64 MiB and a fraction of a second per unlock).
//! - one file per entry, encrypted to that identity: `k-<hmac>.age` for stored keys (and any
//!   entry that is not a cache), `s-<hmac>.age` for cached sessions (`session/…` keys). The
//!   `<hmac>` is an HMAC-SHA-256 of the entry key under a key derived from the identity, so a
//!   name reveals no profile name, role ARN or expiry time — the one-letter kind leaks only how
//!   many keys and how many sessions there are. A key rotation's journal (`rotation/…`) is
//!   `r-<hmac>.age`, kept like keys when damaged (it may hold a new key's secret). The kind is in the name because a damaged
//!   file cannot be decrypted to learn its key: a damaged `s-` file is a cache and is dropped
//!   (and fetched again), a damaged `k-` file is reported and never dropped. The entry key is
//!   stored inside the ciphertext too, so a renamed file is detected.
//! - `.lock`: the store-wide lock ([`super::lock::acquire_at`]). Creating the identity and
//!   every write or removal happen under it, after re-checking what is on disk, so parallel
//!   processes never create two identities or lose an entry.
//!
//! The first layout named entries `<hmac>.age` (no kind). Such files are still read (their
//! kind comes from the key inside), each is replaced by its `k-`/`s-` name when it is next
//! written, and a damaged one is listed with an unknown kind (kept, like keys).
//!
//! A store with entries but without a readable `identity.age` is an error that says so:
//! awsenv never creates a new identity next to existing entries (they would be lost for good).
//!
//! age authenticates everything (header MAC, STREAM chunks with a final-chunk flag): a wrong
//! passphrase, a tampered or a truncated file is an error, never "no credentials".
//!
//! Unlocking: with `AWSENV_FILE_PASSPHRASE` (taken out of the environment when the engine
//! starts, see [`take_env_passphrase`]) each process unlocks the store itself. Otherwise the
//! unlocked identity lives only in the per-user [`super::agent`], which decrypts entries and
//! names files for its clients; the passphrase is asked once on the terminal.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, Result, anyhow, bail};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{Damaged, Kind, Listing, SecretStore, Unreadable, agent, kind_of, lock};

/// scrypt work factor (log2 N, r = 8) of the passphrase-wrapped identity.
pub const SCRYPT_LOG_N: u8 = 16;
pub(super) const IDENTITY_FILE: &str = "identity.age";
const LOCK_FILE: &str = ".lock";
const MAX_LOG_N: u8 = 22;
/// No entry or identity awsenv writes comes near this; a larger file is not read.
pub(super) const MAX_FILE: u64 = 1 << 20;
const KEYS_PREFIX: &str = "k-";
const CACHE_PREFIX: &str = "s-";
const JOURNAL_PREFIX: &str = "r-";

/// The passphrase from `AWSENV_FILE_PASSPHRASE`: `None` until [`take_env_passphrase`] ran,
/// then `Some(None)` when the variable was not set.
static ENV_PASSPHRASE: Mutex<Option<Option<Zeroizing<String>>>> = Mutex::new(None);

/// Moves `AWSENV_FILE_PASSPHRASE` out of the environment into this process's memory, so that
/// no child (`exec`, `exec --server`, `mfa_process`, `credential_process`, the agent) inherits
/// it, and overwrites the variable's bytes so that `/proc/<pid>/environ` no longer shows it.
///
/// # Safety
/// Changes the process environment: call it before any other thread exists.
pub unsafe fn take_env_passphrase() {
    const NAME: &[u8] = b"AWSENV_FILE_PASSPHRASE\0";
    let value = std::env::var_os("AWSENV_FILE_PASSPHRASE")
        .map(|v| Zeroizing::new(v.to_string_lossy().into_owned()));
    if value.is_some() {
        // SAFETY: single-threaded (the caller's contract). getenv returns the variable's value
        // inside the environment block (or a copy set later), writable and NUL-terminated; we
        // overwrite exactly its strlen bytes before unsetting it.
        unsafe {
            let p = libc::getenv(NAME.as_ptr().cast());
            if !p.is_null() {
                let n = libc::strlen(p);
                for i in 0..n {
                    std::ptr::write_volatile(p.add(i), 0);
                }
            }
            std::env::remove_var("AWSENV_FILE_PASSPHRASE");
        }
    }
    if let Ok(mut held) = ENV_PASSPHRASE.lock() {
        *held = Some(value);
    }
}

/// The passphrase given by `AWSENV_FILE_PASSPHRASE`, if any.
pub(super) fn env_passphrase() -> Result<Option<SecretString>> {
    let held = ENV_PASSPHRASE
        .lock()
        .map_err(|_| anyhow!("the passphrase holder is poisoned"))?;
    let value = match &*held {
        Some(v) => v.as_ref().map(|p| p.to_string()),
        // Not taken (library use): read the variable as it is.
        None => std::env::var("AWSENV_FILE_PASSPHRASE").ok(),
    };
    match value {
        Some(p) if p.is_empty() => bail!("AWSENV_FILE_PASSPHRASE is empty"),
        Some(p) => Ok(Some(SecretString::from(p))),
        None => Ok(None),
    }
}

/// Asks for a new store's passphrase (twice) on the terminal.
fn new_passphrase(dir: &Path) -> Result<SecretString> {
    let no_tty = || {
        anyhow!(
            "creating the file store at {} needs a passphrase and there is no terminal to ask on: run the command in a terminal, or set AWSENV_FILE_PASSPHRASE",
            dir.display()
        )
    };
    let prompt = format!(
        "Choose a passphrase for the new file store at {}: ",
        dir.display()
    );
    // Asked again on a slip: what the user typed before (the keys `add` is storing) stays.
    for attempt in 1..=3 {
        let first = read_secret(&prompt, no_tty)?;
        let problem = if first.is_empty() {
            "the passphrase is empty"
        } else if *read_secret("Repeat the passphrase: ", no_tty)? != *first {
            "the passphrases do not match"
        } else {
            return Ok(SecretString::from(first.to_string()));
        };
        if attempt == 3 {
            bail!("{problem}; no file store was created");
        }
        eprintln!("awsenv: {problem}; try again");
    }
    bail!("no passphrase chosen")
}

/// Reads a hidden line on the terminal; Ctrl-C or end of input is [`crate::tty::Cancelled`].
pub(super) fn read_secret(
    prompt: &str,
    no_tty: impl FnOnce() -> anyhow::Error,
) -> Result<Zeroizing<String>> {
    use crate::tty::TtyError;
    match crate::tty::read_line(prompt, true) {
        Ok(line) => Ok(line),
        Err(TtyError::Interrupted | TtyError::Eof) => Err(anyhow::Error::new(
            crate::tty::Cancelled::new("passphrase prompt"),
        )),
        Err(e) => Err(e.or_else_no_tty(no_tty)),
    }
}

/// Writes `bytes` to `path` atomically (a private temporary file, fsync, rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), rand_suffix()));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn rand_suffix() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    hex(&b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file of at most [`MAX_FILE`] bytes; `Ok(None)` when it does not exist.
pub(super) fn read_small(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other("larger than awsenv ever writes"));
    }
    Ok(Some(buf))
}

/// Why a decryption failed, in words.
fn decrypt(bytes: &[u8], identity: &dyn age::Identity) -> Result<Zeroizing<Vec<u8>>, DecryptFail> {
    let dec =
        age::Decryptor::new_buffered(bytes).map_err(|e| DecryptFail::Damaged(e.to_string()))?;
    let mut reader = dec
        .decrypt(std::iter::once(identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                DecryptFail::NoKey(e.to_string())
            }
            age::DecryptError::ExcessiveWork { required, .. } => DecryptFail::Damaged(format!(
                "it asks for scrypt work factor 2^{required}, more than awsenv accepts; it was not written by awsenv"
            )),
            other => DecryptFail::Damaged(other.to_string()),
        })?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut out)
        .map_err(|e| DecryptFail::Damaged(e.to_string()))?;
    Ok(out)
}

enum DecryptFail {
    /// The identity does not open the header (a wrong passphrase, or another store's file).
    NoKey(String),
    /// The file is damaged, truncated or tampered with.
    Damaged(String),
}

/// The unlocked store: the identity and the key that names entry files. Both are inline (no
/// heap), so the agent can keep them in one locked, non-dumpable page; zeroized on drop.
pub(super) struct Unlocked {
    identity: age::x25519::Identity,
    names_key: [u8; 32],
}

impl Drop for Unlocked {
    fn drop(&mut self) {
        // The identity (x25519 StaticSecret) zeroizes itself.
        self.names_key.zeroize();
    }
}

impl Unlocked {
    fn new(identity: age::x25519::Identity) -> Unlocked {
        let mut h = Sha256::new();
        h.update(b"awsenv file-store names v1\0");
        h.update(identity.to_string().expose_secret().as_bytes());
        Unlocked {
            identity,
            names_key: h.finalize().into(),
        }
    }

    /// Decrypts `identity.age` (`bytes`, read from `path`) with `passphrase`.
    pub(super) fn unlock(path: &Path, bytes: &[u8], passphrase: SecretString) -> Result<Unlocked> {
        let dir = path.parent().unwrap_or(path);
        let mut id = age::scrypt::Identity::new(passphrase);
        id.set_max_work_factor(MAX_LOG_N);
        let plain = decrypt(bytes, &id).map_err(|e| match e {
            DecryptFail::NoKey(_) => anyhow!(WrongPassphrase(dir.display().to_string())),
            DecryptFail::Damaged(why) => anyhow!(Damaged {
                location: path.display().to_string(),
                why
            }),
        })?;
        let damaged = || {
            anyhow!(Damaged {
                location: path.display().to_string(),
                why: "not an age identity inside".into()
            })
        };
        let text = std::str::from_utf8(&plain).map_err(|_| damaged())?;
        let identity = text
            .trim()
            .parse::<age::x25519::Identity>()
            .map_err(|_| damaged())?;
        Ok(Unlocked::new(identity))
    }

    /// The HMAC part of the file name of entry `key` (40 hex digits).
    pub(super) fn name(&self, key: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.names_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(key.as_bytes());
        hex(&mac.finalize().into_bytes()[..20])
    }

    /// Decrypts an entry file's bytes; `Err` says why it cannot be read.
    pub(super) fn open(&self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(bytes, &self.identity).map_err(|e| match e {
            DecryptFail::NoKey(why) => format!("{why}: it was not encrypted to this store"),
            DecryptFail::Damaged(why) => why,
        })
    }

    /// The store's public key, for encrypting entries.
    pub(super) fn recipient(&self) -> age::x25519::Recipient {
        self.identity.to_public()
    }
}

/// A wrong passphrase for the file store in the named directory.
#[derive(Debug)]
pub(super) struct WrongPassphrase(pub(super) String);

impl std::fmt::Display for WrongPassphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wrong passphrase for the file store at {}", self.0)
    }
}

impl std::error::Error for WrongPassphrase {}

/// How this process decrypts entries and names files.
enum Access {
    /// Unlocked here, with `AWSENV_FILE_PASSPHRASE`.
    Local(Box<Unlocked>),
    /// Through the unlock agent, which holds the identity.
    Agent(agent::Client),
}

impl Access {
    fn name(&self, key: &str) -> Result<String> {
        match self {
            Access::Local(u) => Ok(u.name(key)),
            Access::Agent(c) => c.name(key),
        }
    }

    fn open(&self, path: &Path, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let why = match self {
            Access::Local(u) => u.open(bytes),
            Access::Agent(c) => c.open(bytes)?,
        };
        why.map_err(|why| {
            anyhow!(Damaged {
                location: path.display().to_string(),
                why
            })
        })
    }

    fn recipient(&self) -> age::x25519::Recipient {
        match self {
            Access::Local(u) => u.recipient(),
            Access::Agent(c) => c.recipient().clone(),
        }
    }
}

/// What one entry file holds: its key and value.
#[derive(Serialize, Deserialize)]
struct Sealed {
    key: String,
    value: String,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// The kind an entry file's name says (`None` for the first layout), if it is an entry file.
fn classify(name: &str) -> Option<(Option<Kind>, &str)> {
    let stem = name.strip_suffix(".age")?;
    let (kind, hmac) = if let Some(h) = stem.strip_prefix(KEYS_PREFIX) {
        (Some(Kind::Keys), h)
    } else if let Some(h) = stem.strip_prefix(CACHE_PREFIX) {
        (Some(Kind::Cache), h)
    } else if let Some(h) = stem.strip_prefix(JOURNAL_PREFIX) {
        (Some(Kind::Journal), h)
    } else {
        (None, stem)
    };
    (hmac.len() == 40 && hmac.bytes().all(|b| b.is_ascii_hexdigit())).then_some((kind, hmac))
}

/// The encrypted file store in one directory.
pub struct FileStore {
    dir: PathBuf,
    access: OnceLock<Access>,
}

impl FileStore {
    /// A store in `dir` (made absolute; created with mode 0700 on first write).
    pub fn new(dir: PathBuf) -> FileStore {
        FileStore {
            dir: std::path::absolute(&dir).unwrap_or(dir),
            access: OnceLock::new(),
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let md = fs::metadata(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?;
        if md.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict {} to 0700", self.dir.display()))?;
        }
        Ok(())
    }

    /// The store-wide lock (creation, writes, removals).
    fn lock(&self) -> Result<lock::Lock> {
        lock::acquire_at(
            self.dir.join(LOCK_FILE),
            &format!(
                "another awsenv process writing to the file store at {}",
                self.dir.display()
            ),
        )
    }

    fn unreadable_dir(&self, e: &std::io::Error) -> anyhow::Error {
        anyhow!(
            "cannot read the file store directory {}: {e}; it must be a directory you can read and write (mode 0700)",
            self.dir.display()
        )
    }

    /// How many entry files the directory holds (0 when it does not exist).
    fn count_entries(&self) -> Result<usize> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.unreadable_dir(&e)),
        };
        let mut n = 0;
        for ent in rd {
            let ent = ent.map_err(|e| self.unreadable_dir(&e))?;
            if classify(&ent.file_name().to_string_lossy()).is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The bytes of `identity.age`; `None` for an empty store (no identity and no entries).
    /// Entries without an identity, or an identity that cannot be read, are errors.
    pub(super) fn identity(&self) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(IDENTITY_FILE);
        match read_small(&path) {
            Ok(Some(bytes)) => Ok(Some(bytes)),
            Ok(None) => match self.count_entries()? {
                0 => Ok(None),
                n => bail!(
                    "the file store at {} holds {n} entr{} but its identity.age is missing, so {} cannot be decrypted: restore identity.age from a backup (awsenv never makes a new identity next to existing entries; to start over, move the directory away)",
                    self.dir.display(),
                    if n == 1 { "y" } else { "ies" },
                    if n == 1 { "it" } else { "they" },
                ),
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(self.unreadable_dir(&e)),
            Err(e) => bail!(
                "cannot read {}: {e}; the file store cannot be unlocked without it (restore it from a backup, or fix its permissions)",
                path.display()
            ),
        }
    }

    fn unlock_with(&self, id_bytes: &[u8]) -> Result<Access> {
        let path = self.dir.join(IDENTITY_FILE);
        match env_passphrase()? {
            Some(p) => Ok(Access::Local(Box::new(Unlocked::unlock(
                &path, id_bytes, p,
            )?))),
            None => Ok(Access::Agent(agent::Client::connect_or_unlock(
                &self.dir, id_bytes,
            )?)),
        }
    }

    fn set_access(&self, a: Access) -> Result<&Access> {
        let _ = self.access.set(a);
        self.access
            .get()
            .ok_or_else(|| anyhow!("the file store could not be unlocked"))
    }

    /// Unlocks the store if it exists; `None` for an empty store.
    fn access(&self) -> Result<Option<&Access>> {
        if let Some(a) = self.access.get() {
            return Ok(Some(a));
        }
        let Some(id) = self.identity()? else {
            return Ok(None);
        };
        let a = self.unlock_with(&id)?;
        self.set_access(a).map(Some)
    }

    /// Unlocks the store, creating it first when it is empty — under the store lock, after
    /// checking again that no other process created it meanwhile.
    fn access_or_create(&self) -> Result<&Access> {
        if let Some(a) = self.access()? {
            return Ok(a);
        }
        self.ensure_dir()?;
        let store_lock = self.lock()?;
        if let Some(id) = self.identity()? {
            // Created by another process while we waited. Unlock outside the store lock (an
            // unlocking process waits for the agent's lock, never for this one).
            drop(store_lock);
            let a = self.unlock_with(&id)?;
            return self.set_access(a);
        }
        let env = env_passphrase()?;
        // Without AWSENV_FILE_PASSPHRASE the new identity goes to an agent: hold its lock too,
        // so that nobody asks to unlock the store we are creating (lock order: store, agent).
        let agent_lock = match env {
            Some(_) => None,
            None => Some(agent::lock_unlocking(&self.dir)?),
        };
        let pass = match env {
            Some(p) => p,
            None => {
                lock::announce_held(&format!(
                    "the passphrase for the new file store at {} being chosen in another terminal",
                    self.dir.display()
                ));
                new_passphrase(&self.dir)?
            }
        };
        let identity = age::x25519::Identity::generate();
        let mut r = age::scrypt::Recipient::new(pass.clone());
        r.set_work_factor(SCRYPT_LOG_N);
        let sealed = {
            let secret = identity.to_string();
            age::encrypt(&r, secret.expose_secret().as_bytes())
                .map_err(|e| anyhow!("cannot encrypt the new identity: {e}"))?
        };
        let path = self.dir.join(IDENTITY_FILE);
        write_private(&path, &sealed)?;
        sync_dir(&self.dir);
        let access = match agent_lock {
            None => Access::Local(Box::new(Unlocked::new(identity))),
            Some(_) => {
                drop(identity);
                Access::Agent(agent::Client::start(&self.dir, &sealed, pass)?)
            }
        };
        drop(agent_lock);
        drop(store_lock);
        self.set_access(access)
    }

    fn entry_path(&self, kind: Kind, hmac: &str) -> PathBuf {
        let prefix = match kind {
            Kind::Keys => KEYS_PREFIX,
            Kind::Cache => CACHE_PREFIX,
            Kind::Journal => JOURNAL_PREFIX,
        };
        self.dir.join(format!("{prefix}{hmac}.age"))
    }

    fn legacy_path(&self, hmac: &str) -> PathBuf {
        self.dir.join(format!("{hmac}.age"))
    }

    fn read_entry(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        read_small(path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Decrypts an entry file and checks that it is the entry its name says (`expected`: the
    /// key asked for; else the name is recomputed from the key inside).
    fn open_entry(
        &self,
        a: &Access,
        path: &Path,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Sealed> {
        let plain = a.open(path, bytes)?;
        let damaged = |why: &str| {
            anyhow!(Damaged {
                location: path.display().to_string(),
                why: why.to_string()
            })
        };
        let sealed: Sealed =
            serde_json::from_slice(&plain).map_err(|_| damaged("not an awsenv entry inside"))?;
        let matches = match expected {
            Some(k) => sealed.key == k,
            None => {
                let name = a.name(&sealed.key)?;
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
                [
                    self.entry_path(kind_of(&sealed.key), &name),
                    self.legacy_path(&name),
                ]
                .iter()
                .any(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()) == file)
            }
        };
        if !matches {
            return Err(damaged("it is not the entry its name says"));
        }
        Ok(sealed)
    }

    /// Every entry file: (path, the kind its name says).
    fn entry_files(&self) -> Result<Vec<(PathBuf, Option<Kind>)>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.unreadable_dir(&e)),
        };
        let mut files = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| self.unreadable_dir(&e))?;
            let name = ent.file_name();
            if let Some((kind, _)) = classify(&name.to_string_lossy()) {
                files.push((ent.path(), kind));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }
}

impl SecretStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<Zeroizing<String>>> {
        let Some(a) = self.access()? else {
            return Ok(None);
        };
        let name = a.name(key)?;
        for path in [
            self.entry_path(kind_of(key), &name),
            self.legacy_path(&name),
        ] {
            if let Some(bytes) = self.read_entry(&path)? {
                let sealed = self.open_entry(a, &path, &bytes, Some(key))?;
                return Ok(Some(Zeroizing::new(sealed.value.clone())));
            }
        }
        Ok(None)
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        let a = self.access_or_create()?;
        let name = a.name(key)?;
        let plain = Zeroizing::new(
            serde_json::to_vec(&Sealed {
                key: key.to_string(),
                value: value.to_string(),
            })
            .map_err(|e| anyhow!("cannot encode entry: {e}"))?,
        );
        let sealed =
            age::encrypt(&a.recipient(), &plain).map_err(|e| anyhow!("cannot encrypt: {e}"))?;
        let _lock = self.lock()?;
        write_private(&self.entry_path(kind_of(key), &name), &sealed)?;
        match fs::remove_file(self.legacy_path(&name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot remove {}", self.legacy_path(&name).display())
                });
            }
        }
        sync_dir(&self.dir);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let Some(a) = self.access()? else {
            return Ok(false);
        };
        let name = a.name(key)?;
        let _lock = self.lock()?;
        let mut existed = false;
        for path in [
            self.entry_path(kind_of(key), &name),
            self.legacy_path(&name),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => existed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
        }
        sync_dir(&self.dir);
        Ok(existed)
    }

    fn list(&self) -> Result<Listing> {
        let Some(a) = self.access()? else {
            return Ok(Listing::default());
        };
        let mut listing = Listing::default();
        for (path, named_kind) in self.entry_files()? {
            let read = match self.read_entry(&path) {
                Ok(None) => continue, // removed meanwhile
                Ok(Some(bytes)) => self.open_entry(a, &path, &bytes, None),
                Err(e) => Err(e),
            };
            match read {
                Ok(sealed) => listing.keys.push(sealed.key.clone()),
                Err(e) if super::damaged(&e).is_some() || e.is::<std::io::Error>() => {
                    listing.unreadable.push(Unreadable {
                        kind: named_kind,
                        location: path.display().to_string(),
                        why: super::damaged(&e)
                            .map(|d| d.why.clone())
                            .unwrap_or_else(|| format!("{e:#}")),
                        key: None,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        listing.keys.sort();
        Ok(listing)
    }

    fn drop_unreadable(&self, entry: &Unreadable) -> Result<bool> {
        if entry.kind != Some(Kind::Cache) {
            bail!(
                "{} is not a cached session; awsenv does not remove it",
                entry.location
            );
        }
        let path = PathBuf::from(&entry.location);
        let ours = path.parent() == Some(self.dir.as_path())
            && path
                .file_name()
                .and_then(|n| classify(&n.to_string_lossy()).map(|(k, _)| k))
                == Some(Some(Kind::Cache));
        if !ours {
            bail!(
                "{} is not a cache file of {}",
                entry.location,
                self.describe()
            );
        }
        let Some(a) = self.access()? else {
            return Ok(false);
        };
        let _lock = self.lock()?;
        let Some(bytes) = self.read_entry(&path).ok().flatten() else {
            return Ok(false);
        };
        if self.open_entry(a, &path, &bytes, None).is_ok() {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    fn describe(&self) -> String {
        format!("the file store at {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_kind_and_nothing_else() {
        let h = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            classify(&format!("k-{h}.age")).map(|c| c.0),
            Some(Some(Kind::Keys))
        );
        assert_eq!(
            classify(&format!("s-{h}.age")).map(|c| c.0),
            Some(Some(Kind::Cache))
        );
        assert_eq!(
            classify(&format!("r-{h}.age")).map(|c| c.0),
            Some(Some(Kind::Journal))
        );
        assert_eq!(classify(&format!("{h}.age")).map(|c| c.0), Some(None));
        for other in [
            "identity.age",
            ".lock",
            ".tmp-1-abc",
            "k-short.age",
            "x-{h}.age",
        ] {
            assert!(classify(other).is_none(), "{other}");
        }
    }

    #[test]
    fn entries_open_only_with_their_identity() {
        let u = Unlocked::new(age::x25519::Identity::generate());
        let other = Unlocked::new(age::x25519::Identity::generate());
        let ct = age::encrypt(&u.recipient(), b"{}").expect("encrypt");
        assert_eq!(u.open(&ct).expect("open").as_slice(), b"{}");
        assert!(other.open(&ct).is_err());
        assert!(u.open(&ct[..ct.len() - 3]).is_err());
        assert_ne!(u.name("keys/a"), other.name("keys/a"));
        assert_eq!(u.name("keys/a"), u.name("keys/a"));
        assert_eq!(u.name("keys/a").len(), 40);
    }
}
