//! Per-directory activation, the part the per-prompt hook needs: finding the nearest
//! `.awsprofile`, its fingerprint, parsing it, and trust (`awsenv allow`).
//!
//! This module is on the hot path's side: no AWS SDK, no secret store, no async runtime.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::envstate;

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = ".awsprofile";

/// A per-user directory from an XDG variable, falling back to `$HOME/<default>`.
pub fn xdg_dir(var: &str, home_default: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() && Path::new(&v).is_absolute() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(home_default)),
    }
}

/// `$XDG_DATA_HOME/awsenv/allow`: one file per trusted (path, content) hash.
pub fn trust_dir() -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share").map(|d| d.join("awsenv").join("allow"))
}

/// `$XDG_STATE_HOME/awsenv`: locks and the `reload` marker.
pub fn state_dir() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state").map(|d| d.join("awsenv"))
}

/// The directory of the engine's `AWS_CONFIG_FILE` overlays: `$XDG_RUNTIME_DIR/awsenv`, else
/// `$XDG_STATE_HOME/awsenv/run`.
pub fn overlay_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(r) if Path::new(&r).is_absolute() => Some(PathBuf::from(r).join("awsenv")),
        _ => state_dir().map(|d| d.join("run")),
    }
}

/// Whether `path` is an overlay file (a file in [`overlay_dir`]).
pub fn is_overlay(path: &Path) -> bool {
    overlay_dir().is_some_and(|d| path.parent() == Some(d.as_path()))
}

/// The user's config file when `config_file` (the value of `AWS_CONFIG_FILE`) is an overlay:
/// [`envstate::USER_CONFIG`], else `~/.aws/config`. `None` when it is not an overlay.
pub fn user_config_for(config_file: &Path) -> Option<PathBuf> {
    user_config_in(config_file, std::env::var_os(envstate::USER_CONFIG))
}

fn user_config_in(config_file: &Path, recorded: Option<OsString>) -> Option<PathBuf> {
    if !is_overlay(config_file) {
        return None;
    }
    match recorded.filter(|v| !v.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".aws").join("config")),
    }
}

/// While `AWS_CONFIG_FILE` is an overlay: the overlay and the user's own config, whose changes
/// the hook watches (a write into the overlay, an edit of the user's file).
pub fn overlay_files() -> Option<[PathBuf; 2]> {
    overlay_files_in(
        std::env::var_os("AWS_CONFIG_FILE"),
        std::env::var_os(envstate::USER_CONFIG),
    )
}

/// [`overlay_files`] for given values of `AWS_CONFIG_FILE` and [`envstate::USER_CONFIG`].
pub fn overlay_files_in(
    config_file: Option<OsString>,
    recorded: Option<OsString>,
) -> Option<[PathBuf; 2]> {
    let current = PathBuf::from(config_file.filter(|v| !v.is_empty())?);
    let user = user_config_in(&current, recorded)?;
    Some([current, user])
}

/// The part of the fingerprint for the overlay files (empty without an overlay).
pub fn overlay_stamps(files: Option<[PathBuf; 2]>) -> OsString {
    let mut s = OsString::new();
    for f in files.into_iter().flatten() {
        s.push(format!("\u{1f}{}", mtime_key(Some(f))));
    }
    s
}

/// The state directory as a [`crate::safefile::Dir`]: created when `create` (and refused when
/// it is not the user's own, see there); `None` when it is missing or not safe.
pub fn state_dir_opened(create: bool) -> Option<crate::safefile::Dir> {
    let path = state_dir()?;
    if create {
        crate::safefile::Dir::open(&path).ok()
    } else {
        crate::safefile::Dir::open_existing(&path).ok()
    }
}

/// The marker file `awsenv reload` touches.
pub fn reload_marker() -> Option<PathBuf> {
    state_dir().map(|d| d.join("reload"))
}

/// The nearest `.awsprofile` from `dir` up to `/`, with its metadata.
pub fn find(dir: &Path) -> Option<(PathBuf, fs::Metadata)> {
    let mut cur = Some(dir);
    let mut buf = PathBuf::new();
    while let Some(d) = cur {
        buf.clear();
        buf.push(d);
        buf.push(FILE_NAME);
        if let Ok(md) = fs::metadata(&buf)
            && md.is_file()
        {
            return Some((buf, md));
        }
        cur = d.parent();
    }
    None
}

fn mtime_key(path: Option<PathBuf>) -> String {
    match path.and_then(|p| fs::metadata(p).ok()) {
        Some(md) => format!("{}.{}", md.mtime(), md.mtime_nsec()),
        None => "-".to_string(),
    }
}

/// The fingerprint of the hook's world, from the nearest `.awsprofile` as [`find`] returned
/// it: empty when none applies; otherwise the file's path and identity (device, inode, mtime,
/// size) plus the modification times of the trust directory and the reload marker, so that an
/// edit, an `awsenv allow`/`deny` or an `awsenv reload` each changes it; while an overlay is
/// `AWS_CONFIG_FILE`, also its and the user's config's modification times ([`overlay_files`]).
pub fn fingerprint_of(found: Option<&(PathBuf, fs::Metadata)>) -> OsString {
    let mut s = fingerprint_of_file(found);
    s.push(overlay_stamps(overlay_files()));
    s
}

/// The fingerprint's part for the nearest `.awsprofile` (see [`fingerprint_of`]).
pub fn fingerprint_of_file(found: Option<&(PathBuf, fs::Metadata)>) -> OsString {
    let Some((path, md)) = found else {
        return OsString::new();
    };
    let mut s = path.clone().into_os_string();
    s.push(format!(
        "\u{1f}{}:{}:{}.{}:{}\u{1f}{}\u{1f}{}",
        md.dev(),
        md.ino(),
        md.mtime(),
        md.mtime_nsec(),
        md.size(),
        mtime_key(trust_dir()),
        mtime_key(reload_marker()),
    ));
    s
}

/// What the no-op check looked at: the working directory and its nearest `.awsprofile`.
pub struct NoOp {
    /// The (physical) working directory.
    pub cwd: PathBuf,
    /// The nearest `.awsprofile` from it, with its metadata, as [`find`] returned it.
    pub found: Option<(PathBuf, fs::Metadata)>,
}

/// The hot path: `Some` when `awsenv export` has nothing to do — the fingerprint matches the
/// one recorded in the environment and no session is due for refresh.
pub fn hook_noop() -> Option<NoOp> {
    let cwd = std::env::current_dir().ok()?;
    let found = find(&cwd);
    let recorded = std::env::var_os(envstate::WATCH).unwrap_or_default();
    // `awsenv reload` asked this shell to retry: the engine decides.
    let reload = std::env::var_os(envstate::RELOAD).is_some();
    (fingerprint_of(found.as_ref()) == recorded && !refresh_due() && !reload)
        .then_some(NoOp { cwd, found })
}

/// The active session's refresh time (epoch seconds), if a session (hook-activated or chosen
/// with `awsenv use`) is active and its `AWSENV_REFRESH_AT` is a number.
pub fn refresh_at() -> Option<i64> {
    if std::env::var_os(envstate::SOURCE).is_none_or(|s| s.is_empty()) {
        return None;
    }
    std::env::var(envstate::REFRESH_AT)
        .ok()?
        .parse::<i64>()
        .ok()
}

/// Whether the active session has reached its refresh time.
pub fn refresh_due() -> bool {
    refresh_at().is_some_and(|at| crate::timefmt::now_epoch() >= at)
}

/// The most of an `.awsprofile` awsenv reads; a larger file is refused, never read whole.
pub const MAX_FILE_SIZE: u64 = 64 * 1024;

/// Reads an `.awsprofile` without letting it stall or flood the shell: opened non-blocking
/// (a FIFO swapped in after [`find`]'s stat cannot block the open or the read), the opened
/// file's own type checked (regular files only), and at most [`MAX_FILE_SIZE`] bytes read.
///
/// The error is one line naming the file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let md = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !md.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if md.len() > MAX_FILE_SIZE {
        return Err(too_large(path));
    }
    let mut content = Vec::with_capacity(md.len() as usize);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut content)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // The file may have grown between the fstat and the read.
    if content.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(path));
    }
    Ok(content)
}

fn too_large(path: &Path) -> String {
    format!(
        "{} is larger than {} KiB; an .awsprofile holds one profile name",
        path.display(),
        MAX_FILE_SIZE / 1024
    )
}

/// What an `.awsprofile` asks for: a local profile, or a role that one of the user's profiles
/// yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsProfileFile {
    /// The local profile to activate (`calvin`, `profile = "calvin"`); `None` when the file
    /// names a role instead.
    pub profile: Option<String>,
    /// The role the file names (`role_arn`, or `account` + `role`).
    pub role: Option<RoleRef>,
    /// A region overriding the profile's own.
    pub region: Option<String>,
    /// `accounts = [...]`: the only accounts whose credentials may be activated here.
    pub accounts: Vec<String>,
}

/// A role an `.awsprofile` names: an account and an IAM role name (or an IAM Identity Center
/// permission set name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    /// The 12-digit account id.
    pub account: String,
    /// The role's name (the last part of its ARN), or a permission set's name.
    pub role: String,
}

impl AwsProfileFile {
    /// What the file names, for messages: the profile, or `role NAME in account ID`.
    pub fn wanted(&self) -> String {
        match (&self.profile, &self.role) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) => format!("role {} in account {}", r.role, r.account),
            (None, None) => String::new(),
        }
    }
}

/// An AWS account id: twelve digits.
pub fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM role or permission set name: 1–64 of `A-Za-z0-9+=,.@_-`.
fn valid_role_name(r: &str) -> bool {
    (1..=64).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An IAM role ARN's account and name: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
pub fn parse_role_arn(arn: &str) -> Option<RoleRef> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    let rest = rest.strip_prefix("iam::")?;
    let (account, res) = rest.split_once(':')?;
    let path = res.strip_prefix("role/")?;
    let role = path.rsplit('/').next()?;
    (valid_account(account) && valid_role_name(role)).then(|| RoleRef {
        account: account.to_string(),
        role: role.to_string(),
    })
}

/// `["111111111111", "222222222222"]` (or one bare id): the guard's account ids.
fn parse_accounts(v: &str) -> Result<Vec<String>, String> {
    let inner = v
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(v);
    let mut out = Vec::new();
    for item in inner.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let id = item.trim_matches(|c| c == '"' || c == '\'');
        if !valid_account(id) {
            return Err(format!(
                "{} is not an account id (twelve digits)",
                crate::sanitize::quoted(id.as_bytes(), 40)
            ));
        }
        out.push(id.to_string());
    }
    if out.is_empty() {
        return Err("accounts lists no account; write accounts = [\"222222222222\"]".to_string());
    }
    Ok(out)
}

/// Parses an `.awsprofile` the way people write one: a bare profile name on the first
/// non-blank, non-`#` line, and/or `key = value` lines with `profile` and `region` (TOML's
/// `profile = "calvin"`, or unquoted) — or, instead of a profile, the role the code needs
/// (`role_arn = "arn:aws:iam::…:role/…"`, or `account` + `role`), and optionally
/// `accounts = ["…"]`, the accounts whose credentials may be activated here. A byte-order
/// mark, CRLF line ends and `#` comments are fine. Anything else is refused with a sentence
/// naming the line and the fix.
pub fn parse(text: &str) -> Result<AwsProfileFile, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let shown = |v: &str| crate::sanitize::quoted(v.as_bytes(), 60);
    let mut profile: Option<(String, usize)> = None;
    let mut region: Option<String> = None;
    let mut role_arn: Option<(RoleRef, usize)> = None;
    let mut account: Option<String> = None;
    let mut role: Option<String> = None;
    let mut accounts = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) if k.trim() == "accounts" => {
                let v = v.split(" #").next().unwrap_or(v);
                accounts = parse_accounts(v).map_err(|why| format!("line {n}: {why}"))?;
                continue;
            }
            Some((k, v)) => (Some(k.trim()), unquote(v.trim())),
            None => (None, Ok(line)),
        };
        let value = value.map_err(|why| format!("line {n}: {why}"))?;
        match key {
            None | Some("profile") => {
                if let Some((_, first)) = &profile {
                    return Err(format!(
                        "line {n}: a second profile name ({}) after the one on line {first}; keep one",
                        shown(value)
                    ));
                }
                if !valid_name(value) {
                    return Err(format!(
                        "line {n}: {} is not a profile name (letters, digits and - _ . @ + /, at most 128)",
                        shown(value)
                    ));
                }
                profile = Some((value.to_string(), n));
            }
            Some("region") => {
                if !value.is_empty() && !valid_region(value) {
                    // The region becomes part of the STS host name: never let it steer the host.
                    return Err(format!(
                        "line {n}: {} is not a region name (a region looks like eu-west-1)",
                        shown(value)
                    ));
                }
                region = (!value.is_empty()).then(|| value.to_string());
            }
            Some("role_arn") => {
                let r = parse_role_arn(value).ok_or_else(|| {
                    format!(
                        "line {n}: {} is not an IAM role ARN (arn:aws:iam::222222222222:role/NAME)",
                        shown(value)
                    )
                })?;
                role_arn = Some((r, n));
            }
            Some("account") => {
                if !valid_account(value) {
                    return Err(format!(
                        "line {n}: {} is not an account id (twelve digits)",
                        shown(value)
                    ));
                }
                account = Some(value.to_string());
            }
            Some("role") => {
                if !valid_role_name(value) {
                    return Err(format!(
                        "line {n}: {} is not a role name (letters, digits and + = , . @ _ -, at most 64)",
                        shown(value)
                    ));
                }
                role = Some(value.to_string());
            }
            Some(other) => {
                return Err(format!(
                    "line {n}: unknown key {}; an .awsprofile holds a profile name (or role_arn, or account and role) and optionally region = \"eu-west-1\"",
                    shown(other)
                ));
            }
        }
    }
    let named_role = match (role_arn, account, role) {
        (Some((r, _)), None, None) => Some(r),
        (None, Some(account), Some(role)) => Some(RoleRef { account, role }),
        (None, None, None) => None,
        (Some(_), _, _) => {
            return Err("names role_arn and account/role: keep one of them".to_string());
        }
        (None, Some(_), None) => {
            return Err("names an account but no role: add role = \"ROLE_NAME\"".to_string());
        }
        (None, None, Some(_)) => {
            return Err("names a role but no account: add account = \"222222222222\"".to_string());
        }
    };
    match (profile, named_role) {
        (Some(_), Some(_)) => Err(
            "names both a profile and a role: keep one (a role works for every teammate)"
                .to_string(),
        ),
        (Some((profile, _)), None) => Ok(AwsProfileFile {
            profile: Some(profile),
            role: None,
            region,
            accounts,
        }),
        (None, Some(r)) => Ok(AwsProfileFile {
            profile: None,
            role: Some(r),
            region,
            accounts,
        }),
        (None, None) if region.is_some() => {
            Err("names a region but no profile: add a line with the profile name".to_string())
        }
        (None, None) => Err("is empty: write a profile name in it".to_string()),
    }
}

/// A value as written after `=`: `"calvin"`, `'calvin'` or `calvin`, with an optional trailing
/// `# comment` after it.
fn unquote(v: &str) -> Result<&str, String> {
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q) {
            let Some(end) = rest.find(q) else {
                return Err(format!("a quote ({q}) is not closed; close it"));
            };
            let after = rest[end + 1..].trim();
            if !(after.is_empty() || after.starts_with('#')) {
                return Err("text after the closing quote; remove it".to_string());
            }
            return Ok(&rest[..end]);
        }
    }
    Ok(v.split(" #").next().unwrap_or(v).trim())
}

/// A region name as AWS writes them: a lowercase DNS label (`eu-west-1`, `us-gov-east-1`).
fn valid_region(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-')
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+/".contains(c))
}

/// The trust hash of a file: SHA-256 over its absolute path and its content.
pub fn trust_hash(path: &Path, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(path.as_os_str().as_bytes());
    h.update([0u8]);
    h.update(content);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether some earlier content of the file at `path` was allowed (an `awsenv allow` entry
/// names it): then a file that is not trusted now was edited since. Reads at most 4,096 small
/// entries of the trust directory; not on the per-prompt path.
pub fn was_allowed_before(path: &Path) -> bool {
    let Some(dir) = trust_dir().and_then(|d| crate::safefile::Dir::open_existing(&d).ok()) else {
        return false;
    };
    let Ok(names) = dir.names() else {
        return false;
    };
    let want = path.as_os_str().as_bytes();
    names.iter().take(4096).any(|name| {
        let Some(name) = name.to_str().filter(|n| dir.has_own_file(n)) else {
            return false;
        };
        let mut buf = Vec::new();
        dir.open_file(name)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4097), &mut buf))
            .is_ok()
            && buf.strip_suffix(b"\n") == Some(want)
    })
}

/// What to say about the file at `path` that is not trusted: never allowed, or edited since.
pub fn untrusted_message(path: &Path) -> String {
    if was_allowed_before(path) {
        format!(
            "{} has changed since you allowed it; review it, then run 'awsenv allow'",
            path.display()
        )
    } else {
        format!("{} is not allowed; run 'awsenv allow'", path.display())
    }
}

/// Whether the file at `path` with `content` is allowed: its entry is a regular file of this
/// user's in a trust directory of this user's that no one else can write (checked on the
/// directory itself, [`crate::safefile::Dir`]; a trust directory that is a link is refused, so
/// another user cannot plant entries through one).
pub fn is_trusted(path: &Path, content: &[u8]) -> bool {
    trust_dir()
        .and_then(|d| crate::safefile::Dir::open_existing(&d).ok())
        .is_some_and(|d| d.has_own_file(&trust_hash(path, content)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_name_and_toml() {
        assert_eq!(
            parse("# c\n\n calvin \n").map(|f| f.profile),
            Ok(Some("calvin".into()))
        );
        let f = parse("profile = \"prod\"\nregion = \"eu-west-1\"\n");
        assert_eq!(
            f,
            Ok(AwsProfileFile {
                profile: Some("prod".into()),
                role: None,
                region: Some("eu-west-1".into()),
                accounts: vec![],
            })
        );
        assert!(parse("").is_err());
        assert!(parse("profile = \"a\" \"b\"").is_err());
        assert!(parse("rm -rf /").is_err());
    }

    /// What people write: a name and then a region line, quoted or not; a BOM; CRLF; and
    /// sentences that name the line and the fix for the rest.
    #[test]
    fn accepts_what_people_write_and_says_what_is_wrong() {
        let want = Ok(AwsProfileFile {
            profile: Some("calvin".into()),
            role: None,
            region: Some("eu-west-1".into()),
            accounts: vec![],
        });
        assert_eq!(parse("calvin\nregion = \"eu-west-1\"\n"), want);
        assert_eq!(parse("calvin\r\nregion = eu-west-1 # Ireland\r\n"), want);
        assert_eq!(parse("\u{feff}profile = calvin\nregion='eu-west-1'"), want);
        assert_eq!(
            parse("calvin\nhobbes\n"),
            Err(
                "line 2: a second profile name (\"hobbes\") after the one on line 1; keep one"
                    .into()
            )
        );
        assert_eq!(
            parse("calvin\nbackend = file\n"),
            Err("line 2: unknown key \"backend\"; an .awsprofile holds a profile name (or role_arn, or account and role) and optionally region = \"eu-west-1\"".into())
        );
        assert_eq!(
            parse("profile = \"calvin\n"),
            Err("line 1: a quote (\") is not closed; close it".into())
        );
        let e = parse("pro\x1bfile\n").expect_err("control byte");
        assert!(!e.contains('\x1b'), "{e:?}");
    }

    #[test]
    fn a_region_that_is_not_a_region_name_is_refused() {
        for bad in [
            "evil.example.com/x",
            "EU-WEST-1",
            "eu-west-1\n",
            "-eu",
            "eu west",
            "a@b",
        ] {
            let text = format!("profile = \"prod\"\nregion = {bad:?}\n");
            let e = parse(&text).expect_err(bad);
            assert!(e.contains("is not a region name"), "{bad}: {e}");
        }
        assert!(parse("profile = \"prod\"\nregion = \"us-gov-east-1\"\n").is_ok());
    }

    #[test]
    fn a_file_may_name_a_role_and_guard_accounts() {
        let want = RoleRef {
            account: "222222222222".into(),
            role: "productionEC2Full".into(),
        };
        let f = parse(
            "role_arn = \"arn:aws:iam::222222222222:role/ops/productionEC2Full\"\nregion = us-east-2\naccounts = [\"222222222222\", \"333333333333\"]\n",
        )
        .expect("role_arn");
        assert_eq!(f.profile, None);
        assert_eq!(f.role.as_ref(), Some(&want));
        assert_eq!(f.accounts, ["222222222222", "333333333333"]);
        let f =
            parse("account = \"222222222222\"\nrole = \"productionEC2Full\"\n").expect("account");
        assert_eq!(f.role, Some(want));
        for (bad, why) in [
            (
                "role_arn = \"arn:aws:iam::2222:role/x\"",
                "not an IAM role ARN",
            ),
            ("account = \"222222222222\"\n", "no role"),
            (
                "calvin\nrole_arn = arn:aws:iam::222222222222:role/x\n",
                "both a profile and a role",
            ),
            ("calvin\naccounts = [\"12\"]\n", "not an account id"),
            (
                "role = \"a b\"\naccount = 222222222222\n",
                "not a role name",
            ),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn trust_hash_depends_on_path_and_content() {
        let a = trust_hash(Path::new("/a/.awsprofile"), b"x");
        assert_ne!(a, trust_hash(Path::new("/b/.awsprofile"), b"x"));
        assert_ne!(a, trust_hash(Path::new("/a/.awsprofile"), b"y"));
    }
}
