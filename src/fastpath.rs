//! The shell-side fast path: what lets the zsh and fish hooks skip starting `awsenv` at a
//! prompt where nothing changed.
//!
//! Starting any process from a prompt hook costs a fork and an exec (about 1–3 ms in zsh and
//! fish, more than awsenv's own work). So when `awsenv export` finds nothing to do, it also
//! hands the shell a *key*: everything its own no-op check looked at — `$PWD` (and the hook
//! checks `. -ef $PWD`: a directory moved away under the shell is noticed), awsenv's state
//! variables, the `.awsprofile` candidates that must stay absent, the change times of the
//! nearest `.awsprofile`, its directory, the trust directory and the reload marker (and, while
//! an `AWS_CONFIG_FILE` overlay is active, the overlay and the user's config), and the
//! time the session is due for refresh. The hook compares these with builtins only (zsh:
//! `zstat`, `EPOCHSECONDS`; fish: `test`, `path mtime`; bash: `test -nt`, `printf '%(%s)T'`)
//! and starts `awsenv` only when one of them differs.
//!
//! A time stamp has one-second resolution in the shell; a key is handed out only when every
//! stamp is at least three seconds old (`SETTLED`), so that any later change gets a different stamp
//! (the kernel's file clock may lag the wall clock by a tick). zsh compares change times
//! (ctime, which no tool can set back); fish reads modification times; bash has no builtin
//! `stat` and asks `[[ FILE -nt REF ]]` instead, where REF is a file in awsenv's state
//! directory whose mtime awsenv set to a second after every stamp and before any later change
//! (`ref-SECONDS`, shared by all shells; one removed early only costs one run of awsenv). So in
//! fish and bash a file put back in place with an old mtime (`cp -p`, `touch -d`) is noticed at
//! the next `cd` instead (like direnv, which compares mtimes too).
//!
//! The key is unexported shell variables (`__awsenv_fk_*`): a child shell starts without one
//! and asks `awsenv` once. This module is on the hot path's side.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::activation;
use crate::envstate;
use crate::shell::{Shell, fish_quote, posix_quote};

/// How old (seconds) every stamp must be before the shell may rely on it.
const SETTLED: i64 = 3;
/// Reference files older than this (seconds) are removed when a new one is made.
const REF_KEEP: i64 = 86_400;
/// `until` when no refresh is due ever (year 2286).
const NEVER: i64 = 9_999_999_999;

/// What the shell compares before it skips `awsenv export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `$PWD` as the shell has it.
    pub pwd: OsString,
    /// `AWSENV_WATCH`, `AWSENV_SOURCE`, `AWSENV_REFRESH_AT` as they are now (empty if unset).
    pub state: [OsString; 3],
    /// Candidates between the working directory and the nearest `.awsprofile` that must stay
    /// non-files.
    pub absent: Vec<PathBuf>,
    /// Paths and their stamp (ctime for zsh, mtime for fish; `None`: must not exist).
    pub stamps: Vec<(PathBuf, Option<i64>)>,
    /// The shell skips `awsenv` only while its clock is before this (epoch seconds).
    pub until: i64,
    /// bash: the file every existing stamped path must not be newer than.
    pub reference: Option<PathBuf>,
}

/// The key for `shell` as things are now, or `None` when the shell has no fast path, `$PWD` is
/// not this directory, a stamp is too fresh to rely on, or (bash) no reference file can be made.
///
/// `noop` is what [`activation::hook_noop`] looked at; the key is built from it, so the walk
/// up the directories is done once.
pub fn key(shell: Shell, now: i64, noop: &activation::NoOp) -> Option<Key> {
    if !matches!(shell, Shell::Zsh | Shell::Fish | Shell::Bash) {
        return None;
    }
    let cwd = &noop.cwd;
    let pwd = std::env::var_os("PWD").filter(|p| Path::new(p).is_absolute())?;
    if fs::canonicalize(&pwd).ok()? != *cwd {
        return None;
    }
    let stamp = |md: &fs::Metadata| match shell {
        Shell::Zsh => md.ctime(),
        _ => md.mtime(),
    };
    // Both times must be settled, whichever the shell compares (an mtime can be set ahead).
    let settled = |md: &fs::Metadata| md.mtime().max(md.ctime()) + SETTLED <= now;
    let stamped = |p: &Path| -> Result<Option<i64>, ()> {
        match fs::metadata(p) {
            Ok(md) if settled(&md) => Ok(Some(stamp(&md))),
            Ok(_) => Err(()),
            Err(_) => Ok(None),
        }
    };
    // The candidates `find` saw as no file: every directory below the one holding the file.
    let holder = noop.found.as_ref().and_then(|(f, _)| f.parent());
    let absent = cwd
        .ancestors()
        .take_while(|d| Some(*d) != holder)
        .map(|d| d.join(activation::FILE_NAME))
        .collect();
    let mut stamps = Vec::new();
    if let (Some((file, md)), Some(d)) = (&noop.found, holder) {
        if !settled(md) {
            return None;
        }
        stamps.push((file.clone(), Some(stamp(md))));
        // Renaming or replacing the file changes its directory.
        stamps.push((d.to_path_buf(), Some(stamped(d).ok()??)));
        for p in [activation::trust_dir(), activation::reload_marker()]
            .into_iter()
            .flatten()
        {
            let s = stamped(&p).ok()?;
            stamps.push((p, s));
        }
    }
    // A write into the overlay or an edit of the user's config: the hook regenerates it.
    for p in activation::overlay_files().into_iter().flatten() {
        let s = stamped(&p).ok()?;
        stamps.push((p, s));
    }
    let var = |n: &str| std::env::var_os(n).unwrap_or_default();
    // Never due without a session or with a refresh time that is no number (as refresh_due).
    let until = activation::refresh_at().map_or(NEVER, |at| at.clamp(0, NEVER));
    let reference = if shell == Shell::Bash {
        Some(reference(now - SETTLED + 1)?)
    } else {
        None
    };
    Some(Key {
        pwd,
        state: [
            var(envstate::WATCH),
            var(envstate::SOURCE),
            var(envstate::REFRESH_AT),
        ],
        absent,
        stamps,
        until,
        reference,
    })
}

/// `STATE/awsenv/ref-AT` with its mtime set to `AT` (made if missing); older ones are removed.
/// Made through [`crate::safefile::Dir`]: a state directory that is a link (say into another
/// user's directory, where that user could re-date the file and hide a change from the hook),
/// not the user's own, or below a directory someone else could swap, gives no reference file
/// and so no key.
fn reference(at: i64) -> Option<PathBuf> {
    let dir = crate::safefile::Dir::open(&activation::state_dir()?).ok()?;
    let name = format!("ref-{at}");
    let f = dir.open_file(&name).ok()?;
    if f.metadata().ok()?.mtime() != at {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(at).ok()?);
        f.set_modified(t).ok()?;
        if let Ok(names) = dir.names() {
            for n in names {
                let old = n
                    .to_str()
                    .and_then(|n| n.strip_prefix("ref-"))
                    .and_then(|n| n.parse::<i64>().ok())
                    .is_some_and(|t| t < at - REF_KEEP);
                if let (true, Some(n)) = (old, n.to_str()) {
                    let _ = dir.remove(n);
                }
            }
        }
    }
    // The shell follows this path at every prompt: only one no one else can redirect.
    Some(dir.real_path_if_private()?.join(name))
}

/// The statements that hand `key` to the hook of `shell` (zsh or fish; empty otherwise).
///
/// Every value is quoted for the shell; `__awsenv_fk_pwd` comes last, since the hook trusts a
/// key only once that is set. The stamps are two parallel lists (`spath`, `stime`) for the
/// paths that exist and one (`gone`) for those that must not.
pub fn render(shell: Shell, key: &Key) -> Vec<u8> {
    type Quote = fn(&mut Vec<u8>, &[u8]);
    let (quote, list_open, list_close): (Quote, &str, &str) = match shell {
        Shell::Zsh => (posix_quote, "typeset -ga {}; {}=(", " );\n"),
        // Plain assignments are global from inside the hook function (nothing there is local).
        Shell::Bash => (posix_quote, "{}=(", " );\n"),
        Shell::Fish => (fish_quote, "set -g {}", ";\n"),
        _ => return Vec::new(),
    };
    let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();
    let mut out = Vec::new();
    let mut list = |name: &str, items: &[Vec<u8>]| {
        out.extend_from_slice(list_open.replace("{}", name).as_bytes());
        for i in items {
            out.push(b' ');
            quote(&mut out, i);
        }
        out.extend_from_slice(list_close.as_bytes());
    };
    let one = |v: &[u8]| vec![v.to_vec()];
    let gone: Vec<Vec<u8>> = key
        .stamps
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| bytes(p))
        .collect();
    let (paths, times): (Vec<Vec<u8>>, Vec<Vec<u8>>) = key
        .stamps
        .iter()
        .filter_map(|(p, s)| s.map(|s| (bytes(p), s.to_string().into_bytes())))
        .unzip();
    let absent: Vec<Vec<u8>> = key.absent.iter().map(|p| bytes(p)).collect();
    list("__awsenv_fk_watch", &one(key.state[0].as_bytes()));
    list("__awsenv_fk_source", &one(key.state[1].as_bytes()));
    list("__awsenv_fk_refresh", &one(key.state[2].as_bytes()));
    list("__awsenv_fk_until", &one(key.until.to_string().as_bytes()));
    list("__awsenv_fk_absent", &absent);
    list("__awsenv_fk_gone", &gone);
    list("__awsenv_fk_spath", &paths);
    list("__awsenv_fk_stime", &times);
    if let Some(r) = &key.reference {
        list("__awsenv_fk_ref", &one(r.as_os_str().as_bytes()));
    }
    list("__awsenv_fk_pwd", &one(key.pwd.as_bytes()));
    if shell == Shell::Fish {
        out.extend_from_slice(b"true;\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Key {
        Key {
            pwd: "/h/it's".into(),
            state: ["w\u{1f}x".into(), "/h/it's/.awsprofile".into(), "12".into()],
            absent: vec!["/h/it's/a b/.awsprofile".into()],
            stamps: vec![("/h/it's/.awsprofile".into(), Some(5)), ("/m".into(), None)],
            until: 12,
            reference: None,
        }
    }

    #[test]
    fn zsh_key_quotes_every_value_and_sets_pwd_last() {
        let out = String::from_utf8(render(Shell::Zsh, &sample())).expect("utf-8");
        assert!(
            out.trim_end()
                .ends_with("typeset -ga __awsenv_fk_pwd; __awsenv_fk_pwd=( '/h/it'\\''s' );"),
            "{out}"
        );
        assert!(
            out.contains("__awsenv_fk_spath=( '/h/it'\\''s/.awsprofile' );"),
            "{out}"
        );
        assert!(out.contains("__awsenv_fk_stime=( '5' );"), "{out}");
        assert!(out.contains("__awsenv_fk_gone=( '/m' );"), "{out}");
        assert!(out.contains("__awsenv_fk_until=( '12' );"), "{out}");
    }

    #[test]
    fn fish_key_is_lists_and_ends_true() {
        let out = String::from_utf8(render(Shell::Fish, &sample())).expect("utf-8");
        assert!(
            out.contains("set -g __awsenv_fk_spath '/h/it\\'s/.awsprofile';"),
            "{out}"
        );
        assert!(out.contains("set -g __awsenv_fk_stime '5';"), "{out}");
        assert!(out.contains("set -g __awsenv_fk_gone '/m';"), "{out}");
        assert!(out.ends_with("true;\n"), "{out}");
        assert!(render(Shell::Sh, &sample()).is_empty());
    }
}
