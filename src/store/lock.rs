//! Cross-process locks (advisory file locks under `$XDG_STATE_HOME/awsenv/locks`), so that
//! parallel shells resolving the same session make one STS call and never corrupt an entry.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};

/// A held lock; released on drop.
pub struct Lock {
    _file: File,
}

fn lock_dir() -> Result<PathBuf> {
    let dir = crate::activation::state_dir()
        .ok_or_else(|| anyhow!("neither XDG_STATE_HOME nor HOME is set"))?
        .join("locks");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Takes the exclusive lock named by `name` (hashed; no names appear in file names), waiting
/// for another process that holds it.
pub fn acquire(name: &str) -> Result<Lock> {
    let digest: String = Sha256::digest(name.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = lock_dir()?.join(format!("{digest}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open lock {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Lock { _file: file })
}
