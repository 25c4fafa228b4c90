//! The encrypted file store, for machines without an OS keyring.
//!
//! Layout of the store directory (0700, files 0600):
//! - `identity.age`: an age X25519 identity, encrypted with the passphrase (age scrypt
//!   recipient, work factor 2^16: about 64 MiB and a fraction of a second per unlock).
//! - one `<hmac>.age` file per entry, encrypted to that identity. The file name is an
//!   HMAC-SHA-256 of the entry key under a key derived from the identity, so it reveals no
//!   profile name, role ARN or expiry time. The entry key is stored inside the ciphertext too,
//!   so a renamed file is detected.
//!
//! age authenticates everything (header MAC, STREAM chunks with a final-chunk flag): a wrong
//! passphrase, a tampered or a truncated file is an error, never "no credentials". The
//! passphrase comes from `AWSENV_FILE_PASSPHRASE` or a hidden prompt on the terminal, once per
//! process.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, Result, anyhow, bail};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SecretStore;

/// scrypt work factor (log2 N, r = 8) of the passphrase-wrapped identity.
pub const SCRYPT_LOG_N: u8 = 16;
const IDENTITY_FILE: &str = "identity.age";
const MAX_LOG_N: u8 = 22;

/// The encrypted file store in one directory.
pub struct FileStore {
    dir: PathBuf,
    unlocked: OnceLock<Unlocked>,
}

struct Unlocked {
    identity: age::x25519::Identity,
    names_key: Zeroizing<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    key: String,
    value: String,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

fn passphrase(dir: &Path, creating: bool) -> Result<SecretString> {
    if let Ok(p) = std::env::var("AWSENV_FILE_PASSPHRASE") {
        if p.is_empty() {
            bail!("AWSENV_FILE_PASSPHRASE is empty");
        }
        return Ok(SecretString::from(p));
    }
    let prompt = if creating {
        format!(
            "Choose a passphrase for the new file store at {}: ",
            dir.display()
        )
    } else {
        format!("Enter passphrase to unlock {}: ", dir.display())
    };
    let no_tty = || {
        anyhow!(
            "the file store at {} needs its passphrase and there is no terminal: set AWSENV_FILE_PASSPHRASE",
            dir.display()
        )
    };
    let first = crate::tty::read_line(&prompt, true).map_err(|e| e.or_else_no_tty(no_tty))?;
    if first.is_empty() {
        bail!("empty passphrase");
    }
    if creating {
        let again = crate::tty::read_line("Repeat the passphrase: ", true)
            .map_err(|e| e.or_else_no_tty(no_tty))?;
        if *again != *first {
            bail!("the passphrases do not match");
        }
    }
    Ok(SecretString::from(first.to_string()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), rand_suffix()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn rand_suffix() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decrypts `bytes` (the file at `path`) with `identity`. A failure to open the header with a
/// passphrase identity means a wrong passphrase; any later failure means a damaged or tampered file.
fn open_sealed(
    path: &Path,
    bytes: &[u8],
    identity: &dyn age::Identity,
    passphrase: bool,
) -> Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let damaged = |e: &dyn std::fmt::Display| {
        anyhow!("{} is damaged or was tampered with ({e})", path.display())
    };
    let dec = age::Decryptor::new_buffered(bytes).map_err(|e| damaged(&e))?;
    let mut reader = dec.decrypt(std::iter::once(identity)).map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys if passphrase => {
            anyhow!("wrong passphrase for the file store at {}", path.parent().unwrap_or(path).display())
        }
        age::DecryptError::ExcessiveWork { required, .. } => anyhow!(
            "{} asks for scrypt work factor 2^{required}, more than awsenv accepts; it was not written by awsenv",
            path.display()
        ),
        other => damaged(&other),
    })?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out).map_err(|e| damaged(&e))?;
    Ok(out)
}

impl FileStore {
    /// A store in `dir` (created with mode 0700 on first write).
    pub fn new(dir: PathBuf) -> FileStore {
        FileStore {
            dir,
            unlocked: OnceLock::new(),
        }
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

    fn unlock(&self) -> Result<&Unlocked> {
        if let Some(u) = self.unlocked.get() {
            return Ok(u);
        }
        let path = self.dir.join(IDENTITY_FILE);
        let identity = match fs::read(&path) {
            Ok(bytes) => {
                let pass = passphrase(&self.dir, false)?;
                let mut id = age::scrypt::Identity::new(pass);
                id.set_max_work_factor(MAX_LOG_N);
                let plain = open_sealed(&path, &bytes, &id, true)?;
                let text = std::str::from_utf8(&plain)
                    .map_err(|_| anyhow!("{} is damaged", path.display()))?;
                text.trim()
                    .parse::<age::x25519::Identity>()
                    .map_err(|_| anyhow!("{} is damaged", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.ensure_dir()?;
                let pass = passphrase(&self.dir, true)?;
                let id = age::x25519::Identity::generate();
                let mut r = age::scrypt::Recipient::new(pass);
                r.set_work_factor(SCRYPT_LOG_N);
                let secret = id.to_string();
                let sealed = age::encrypt(&r, secret.expose_secret().as_bytes())
                    .map_err(|e| anyhow!("cannot encrypt the new identity: {e}"))?;
                write_private(&path, &sealed)?;
                id
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut h = Sha256::new();
        h.update(b"awsenv file-store names v1\0");
        h.update(identity.to_string().expose_secret().as_bytes());
        let names_key = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        let _ = self.unlocked.set(Unlocked {
            identity,
            names_key,
        });
        self.unlocked
            .get()
            .ok_or_else(|| anyhow!("file store unlock failed"))
    }

    fn path_for(&self, u: &Unlocked, key: &str) -> Result<PathBuf> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&u.names_key[..])
            .map_err(|_| anyhow!("bad HMAC key"))?;
        mac.update(key.as_bytes());
        let name: String = mac.finalize().into_bytes()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(self.dir.join(format!("{name}.age")))
    }

    fn read_sealed(&self, u: &Unlocked, path: &Path) -> Result<Sealed> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let plain = open_sealed(path, &bytes, &u.identity, false)?;
        serde_json::from_slice(&plain).map_err(|_| anyhow!("{} is damaged", path.display()))
    }

    /// True when the store has been created (its identity file exists).
    pub fn exists(&self) -> bool {
        self.dir.join(IDENTITY_FILE).is_file()
    }
}

impl SecretStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<Zeroizing<String>>> {
        if !self.exists() {
            return Ok(None);
        }
        let u = self.unlock()?;
        let path = self.path_for(u, key)?;
        if !path.exists() {
            return Ok(None);
        }
        let sealed = self.read_sealed(u, &path)?;
        if sealed.key != key {
            bail!(
                "{} is not the entry its name says: the store was tampered with",
                path.display()
            );
        }
        Ok(Some(Zeroizing::new(sealed.value.clone())))
    }

    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.ensure_dir()?;
        let u = self.unlock()?;
        let path = self.path_for(u, key)?;
        let plain = Zeroizing::new(
            serde_json::to_vec(&Sealed {
                key: key.to_string(),
                value: value.to_string(),
            })
            .map_err(|e| anyhow!("cannot encode entry: {e}"))?,
        );
        let sealed = age::encrypt(&u.identity.to_public(), &plain)
            .map_err(|e| anyhow!("cannot encrypt: {e}"))?;
        write_private(&path, &sealed)
    }

    fn delete(&self, key: &str) -> Result<bool> {
        if !self.exists() {
            return Ok(false);
        }
        let u = self.unlock()?;
        let path = self.path_for(u, key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    fn keys(&self) -> Result<Vec<String>> {
        if !self.exists() {
            return Ok(Vec::new());
        }
        let u = self.unlock()?;
        let mut keys = Vec::new();
        let rd = fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        for ent in rd.flatten() {
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if name == IDENTITY_FILE || !name.ends_with(".age") {
                continue;
            }
            keys.push(self.read_sealed(u, &ent.path())?.key.clone());
        }
        keys.sort();
        Ok(keys)
    }

    fn describe(&self) -> String {
        format!("the file store at {}", self.dir.display())
    }
}
