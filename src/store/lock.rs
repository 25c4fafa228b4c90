//! Cross-process locks (advisory file locks under `$XDG_STATE_HOME/awsenv/locks`), so that
//! parallel shells resolving the same session make one STS call, ask for one code, and never
//! corrupt an entry.
//!
//! A process that has to wait is never silent: the holder writes what it is doing into the lock
//! file ([`announce_held`], e.g. "the MFA code for arn:… being entered in another terminal"),
//! and a waiter prints that once, at once, on stderr — and again only when it changes. Ctrl-C
//! cancels a wait (also inside a shell hook, which ignores SIGINT for itself): the wait ends
//! with [`Cancelled`].

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};

pub use crate::tty::Cancelled;

/// A held lock; released on drop.
pub struct Lock {
    file: File,
    path: PathBuf,
}

/// Lock files this process holds (a second descriptor of each), so that [`announce_held`] can
/// describe the work in them without opening them again by path.
static HELD: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the description before the lock is released (closing the file unlocks it).
        let _ = self.file.set_len(0);
        if let Ok(mut held) = HELD.lock() {
            held.retain(|(p, _)| p != &self.path);
        }
    }
}

/// `$XDG_STATE_HOME/awsenv/locks`, checked as every directory of awsenv's own
/// ([`crate::safefile::Dir`]).
fn lock_dir() -> Result<PathBuf> {
    let state = crate::activation::state_dir()
        .ok_or_else(|| anyhow!("neither XDG_STATE_HOME nor HOME is set"))?;
    let dir = crate::safefile::Dir::open(&state)?.subdir("locks")?;
    Ok(dir.path().to_path_buf())
}

fn lock_path(name: &str) -> Result<PathBuf> {
    let digest: String = Sha256::digest(name.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(lock_dir()?.join(format!("{digest}.lock")))
}

/// What the holder of `file` says it is doing (at most a line of text, sanitised).
fn holder_says(file: &mut File) -> String {
    let mut buf = Vec::new();
    let _ = file.rewind();
    let _ = file.take(512).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean.trim().to_string()
}

/// Takes the exclusive lock named by `name` (hashed; no names appear in file names). When
/// another process holds it, says once on stderr what that process is doing and waits until it
/// is done; Ctrl-C ends the wait with [`Cancelled`].
pub fn acquire(name: &str) -> Result<Lock> {
    acquire_at(
        lock_path(name)?,
        "another awsenv process working on the same session",
    )
}

/// [`acquire`] with the lock file at `path` (created 0600 when missing; its directory must
/// exist and be one of the user's own, see [`crate::safefile::Dir`]; a symbolic link there is
/// refused, never followed). While the holder has announced nothing, a waiter says it waits
/// for `idle_what`.
pub fn acquire_at(path: PathBuf, idle_what: &str) -> Result<Lock> {
    let mut file = open_lock(&path)?;
    if !try_lock(&file, &path)? {
        let sigint = crate::tty::SigintGuard::install();
        let mut said = String::new();
        loop {
            let now = holder_says(&mut file);
            let what = if now.is_empty() {
                idle_what.to_string()
            } else {
                now
            };
            if what != said {
                eprintln!("awsenv: waiting for {what} (Ctrl-C to stop waiting)");
                said = what;
            }
            if sigint.interrupted() {
                return Err(anyhow::Error::new(Cancelled::new("waiting")));
            }
            std::thread::sleep(Duration::from_millis(100));
            if try_lock(&file, &path)? {
                break;
            }
        }
    }
    Ok(held(file, path))
}

/// [`acquire`] without waiting: `None` when another process holds the lock (nothing is said).
pub fn try_acquire(name: &str) -> Result<Option<Lock>> {
    let path = lock_path(name)?;
    let file = open_lock(&path)?;
    if !try_lock(&file, &path)? {
        return Ok(None);
    }
    Ok(Some(held(file, path)))
}

fn open_lock(path: &Path) -> Result<File> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(anyhow!("{} is no lock file name", path.display()));
    };
    let dir = crate::safefile::Dir::open_existing(dir).context("cannot take a lock")?;
    dir.open_file(name).context("cannot take a lock")
}

/// Records a lock just taken: no description yet, listed for [`announce_held`].
fn held(file: File, path: PathBuf) -> Lock {
    let _ = file.set_len(0);
    if let Ok(mut held) = HELD.lock()
        && let Ok(dup) = file.try_clone()
    {
        held.push((path.clone(), dup));
    }
    Lock { file, path }
}

fn try_lock(file: &File, path: &std::path::Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Tells processes waiting for a lock this process holds what it is doing now, e.g. "the MFA
/// code for arn:aws:iam::111111111111:mfa/calvin being entered in another terminal". Call it
/// before anything that can take long: a prompt, a browser sign-in.
pub fn announce_held(what: &str) {
    let Ok(held) = HELD.lock() else { return };
    for (_, file) in held.iter() {
        let mut f: &File = file;
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = f.write_all(what.as_bytes());
    }
}
