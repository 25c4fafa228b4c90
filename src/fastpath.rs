//! The shell-side fast path: what lets the zsh and fish hooks skip starting `awsenv` at a
//! prompt where nothing changed.
//!
//! Starting any process from a prompt hook costs a fork and an exec (about 1–3 ms in zsh and
//! fish, more than awsenv's own work). So when `awsenv export` finds nothing to do, it also
//! hands the shell a *key*: everything its own no-op check looked at — `$PWD`, awsenv's state
//! variables, the `.awsprofile` candidates that must stay absent, the change times of the
//! nearest `.awsprofile`, its directory, the trust directory and the reload marker, and the
//! time the session is due for refresh. The hook compares these with builtins only (zsh:
//! `zstat`, `EPOCHSECONDS`; fish: `test`, `path mtime`) and starts `awsenv` only when one of
//! them differs. bash has no builtin `stat`, so its hook starts the binary at every prompt.
//!
//! A time stamp has one-second resolution in the shell; a key is handed out only when every
//! stamp is at least two seconds old, so that any later change gets a different stamp. zsh
//! compares change times (ctime, which no tool can set back); fish can only read modification
//! times, so there a file put back with an old mtime in place (`cp -p`, `touch -d`) is noticed
//! at the next `cd` instead (like direnv, which compares mtimes too).
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
const SETTLED: i64 = 2;
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
}

/// The key for `shell` as things are now, or `None` when the shell has no fast path (bash),
/// `$PWD` is not this directory, or a stamp is too fresh to rely on.
pub fn key(shell: Shell, now: i64) -> Option<Key> {
    if !matches!(shell, Shell::Zsh | Shell::Fish) {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    let pwd = std::env::var_os("PWD").filter(|p| Path::new(p).is_absolute())?;
    if fs::canonicalize(&pwd).ok()? != cwd {
        return None;
    }
    let stamp = |md: &fs::Metadata| match shell {
        Shell::Zsh => md.ctime(),
        _ => md.mtime(),
    };
    let mut absent = Vec::new();
    let mut stamps = Vec::new();
    let mut dir = Some(cwd.as_path());
    while let Some(d) = dir {
        let candidate = d.join(activation::FILE_NAME);
        match fs::metadata(&candidate) {
            Ok(md) if md.is_file() => {
                stamps.push((candidate, Some(stamp(&md))));
                // Renaming or replacing the file changes its directory.
                stamps.push((d.to_path_buf(), Some(stamp(&fs::metadata(d).ok()?))));
                for p in [activation::trust_dir(), activation::reload_marker()]
                    .into_iter()
                    .flatten()
                {
                    let s = fs::metadata(&p).ok().map(|m| stamp(&m));
                    stamps.push((p, s));
                }
                break;
            }
            _ => absent.push(candidate),
        }
        dir = d.parent();
    }
    if stamps
        .iter()
        .any(|(_, s)| s.is_some_and(|s| s + SETTLED > now))
    {
        return None;
    }
    let var = |n: &str| std::env::var_os(n).unwrap_or_default();
    let until = if var(envstate::SOURCE).is_empty() {
        NEVER
    } else {
        var(envstate::REFRESH_AT)
            .to_str()
            .and_then(|v| v.parse::<i64>().ok())
            .map_or(NEVER, |at| at.clamp(0, NEVER))
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
    })
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
        assert!(render(Shell::Bash, &sample()).is_empty());
    }
}
