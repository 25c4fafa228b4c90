//! Build script: puts the git commit of the source into `AWSENV_VERSION` ("0.1.0 (1a2b3c4)"), for
//! `awsenv --version`. The commit comes from `.cargo_vcs_info.json` in a packaged crate (written
//! by `cargo package`), else from `git rev-parse` when this directory is the top of a git work
//! tree, else it is "unknown". Only an environment variable: nothing is linked into the front
//! binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = packaged_commit(&dir)
        .or_else(|| git_commit(&dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=AWSENV_VERSION={version} ({commit})");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Asks cargo to run this again when `path` changes; only for a path that exists (cargo reruns a
/// build script at every build for a missing one).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The `git.sha1` of `.cargo_vcs_info.json`, shortened like `git rev-parse --short`.
fn packaged_commit(dir: &Path) -> Option<String> {
    let info = dir.join(".cargo_vcs_info.json");
    watch(&info);
    let text = std::fs::read_to_string(info).ok()?;
    let rest = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let sha: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (sha.len() >= 7).then(|| sha[..7].to_string())
}

/// `git rev-parse --short HEAD`, only when `dir` is the top of its work tree (a crate unpacked
/// inside some other repository must not take that repository's commit). Asks cargo to run
/// again when HEAD or the branch it names moves.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", name]) {
            watch(Path::new(&p));
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", &branch])
    {
        watch(Path::new(&p));
    }
    git(&["rev-parse", "--short=7", "HEAD"])
}
