//! awsenv's own state variables, and the record of what an activation replaced.
//!
//! The state is **data, never code**, and it never exposes a replaced secret:
//!
//! - awsenv restores only the variables it manages ([`MANAGED`]); a record naming anything else
//!   (`PATH`, `LD_PRELOAD`, a name with `;` in it) is ignored with one line on stderr, and every
//!   recorded value is checked before it is used.
//! - The record ([`RESTORE`], exported so that subshells and tmux panes inherit it) holds, for
//!   every variable an activation touched, the value it found — except for the credential
//!   variables ([`PRIVATE`]): their previous values are kept in **unexported** shell variables
//!   (`__awsenv_prev_AWS_SECRET_ACCESS_KEY`, …; unexported explicitly, so that `set -a` or an
//!   inherited export of that name changes nothing), so no child process (terraform, `exec`'s
//!   command) can read a previous secret while a profile is active. The record only notes that
//!   such a value is "held". Restoring it is a fixed statement that copies the shell variable
//!   back (`export X="$__awsenv_prev_X"`): the value is expanded as data, never evaluated. A
//!   subshell, which does not inherit unexported variables, unsets the credentials instead.
//! - With each entry the record keeps a digest of the value awsenv set. Restoring puts back
//!   what was found only where the current value is still awsenv's: a variable the user changed
//!   by hand is kept.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::shell::Change;

/// The active profile's name.
pub const PROFILE: &str = "AWSENV_PROFILE";
/// Where the activation came from: `manual` (from `awsenv use`) or the `.awsprofile` path.
pub const SOURCE: &str = "AWSENV_SOURCE";
/// The restore record (JSON, see the module docs).
pub const RESTORE: &str = "AWSENV_RESTORE";
/// Epoch seconds after which the hook refreshes the active session (hook-activated or manual).
pub const REFRESH_AT: &str = "AWSENV_REFRESH_AT";
/// The options a manual `awsenv use` was given (JSON), so a refresh asks for the same.
pub const OPTS: &str = "AWSENV_OPTS";
/// The hook's fingerprint of the `.awsprofile` it last acted on (see `activation`).
pub const WATCH: &str = "AWSENV_WATCH";
/// Set by `awsenv exec --server` in its command's environment (the profile served): the hook
/// then never exports keys, which SDKs would prefer over the credential endpoint.
pub const SERVER: &str = "AWSENV_SERVER";
/// Set by `awsenv reload` typed in a hooked shell (through its shell function): the next prompt
/// retries activation — and a failed refresh of a manually chosen profile — in this shell only;
/// that prompt's `awsenv export` removes it.
pub const RELOAD: &str = "AWSENV_RELOAD";
/// Where the exported region came from: `--region`, `.awsprofile`, `profile NAME` (the profile
/// or the nearest one up its `source_profile` chain) or `[default]`; `status` shows it.
pub const REGION_SOURCE: &str = "AWSENV_REGION_SOURCE";
/// The user's own AWS config file while `AWS_CONFIG_FILE` names awsenv's overlay (see the
/// engine's `overlay` module).
pub const USER_CONFIG: &str = "AWSENV_USER_CONFIG";
/// [`SOURCE`] value of a manual `awsenv use`.
pub const MANUAL: &str = "manual";

/// Variables awsenv owns outright (not restored, simply removed on deactivation).
pub const OWN: &[&str] = &[PROFILE, SOURCE, RESTORE, REFRESH_AT, OPTS];

/// Every variable an activation may set or unset — the only names a record may restore.
pub const MANAGED: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_SESSION_EXPIRATION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_VAULT",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    USER_CONFIG,
    REGION_SOURCE,
];

/// Managed variables whose previous values are credentials: kept in unexported shell
/// variables, never in the exported record.
pub const PRIVATE: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// The unexported shell variable holding the previous value of the private variable `name`.
pub fn private_var(name: &str) -> String {
    format!("__awsenv_prev_{name}")
}

/// A view of the environment with pending changes applied on top.
#[derive(Default, Clone)]
pub struct EnvView {
    overlay: BTreeMap<String, Option<OsString>>,
}

impl EnvView {
    /// The process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name` after the applied changes.
    pub fn get(&self, name: &str) -> Option<OsString> {
        match self.overlay.get(name) {
            Some(v) => v.clone(),
            None => std::env::var_os(name),
        }
    }

    /// Applies changes to the view. A restore from a private shell variable cannot be seen
    /// from here; the view assumes the variable is then unset.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Set(n, v) => {
                    self.overlay.insert(n.clone(), Some(v.clone()));
                }
                Change::Unset(n) | Change::RestorePrivate(n, _) => {
                    self.overlay.insert(n.clone(), None);
                }
                Change::SetPrivate(..) | Change::DropPrivate(..) => {}
            }
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Record {
    /// Per variable: the value before activation and the digest of what awsenv left there.
    vars: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The previous value, hex-encoded bytes; `None` when it was unset or is `held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev: Option<String>,
    /// The previous value is in the unexported shell variable [`private_var`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    held: bool,
    /// Digest of the value awsenv set; `None` when awsenv unset the variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    set: Option<String>,
}

const DIGEST_HEX: usize = 24;

fn digest(v: &OsStr) -> String {
    let h = Sha256::digest(v.as_bytes());
    h[..DIGEST_HEX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Why part of a record was refused.
fn refuse(what: &str) {
    eprintln!("awsenv: ignoring {RESTORE}: {what}");
}

/// The longest record accepted (a real one is well under 2 KiB).
const MAX_RECORD: usize = 64 * 1024;

/// Parses and checks a restore record: only managed names, hex previous values without NUL
/// bytes, well-formed digests, and `held` only for private variables. Entries that fail are
/// dropped (and said once on stderr); anything that is not a record at all is an empty record.
fn parse_record(raw: &[u8]) -> Record {
    if raw.len() > MAX_RECORD {
        refuse("it is too long to be a record awsenv wrote");
        return Record::default();
    }
    let rec: Record = match serde_json::from_slice(raw) {
        Ok(r) => r,
        Err(_) => {
            refuse("it is not a record awsenv wrote");
            return Record::default();
        }
    };
    let mut bad = Vec::new();
    let vars = rec
        .vars
        .into_iter()
        .filter(|(name, e)| {
            let ok = MANAGED.contains(&name.as_str())
                && e.prev
                    .as_deref()
                    .is_none_or(|p| unhex(p).is_some_and(|b| !b.contains(&0)))
                && e.set.as_deref().is_none_or(|d| {
                    d.len() == DIGEST_HEX && d.bytes().all(|b| b.is_ascii_hexdigit())
                })
                && (!e.held || (PRIVATE.contains(&name.as_str()) && e.prev.is_none()));
            if !ok {
                bad.push(format!("{name:?}"));
            }
            ok
        })
        .collect();
    if !bad.is_empty() {
        refuse(&format!(
            "entries for {} are not ones awsenv writes (it restores only the AWS variables it manages)",
            bad.join(", ")
        ));
    }
    Record { vars }
}

fn load(view: &EnvView) -> Record {
    match view.get(RESTORE) {
        Some(v) => parse_record(v.as_bytes()),
        None => Record::default(),
    }
}

/// Whether the current value of a recorded variable is still the one awsenv left.
fn untouched(view: &EnvView, name: &str, e: &Entry) -> bool {
    match (view.get(name), &e.set) {
        (Some(cur), Some(d)) => &digest(&cur) == d,
        (None, None) => true,
        _ => false,
    }
}

/// What an activation records besides the variables: who asked for it and when to refresh.
pub struct Meta<'a> {
    /// The profile's name.
    pub profile: &'a str,
    /// [`MANUAL`] or the `.awsprofile` path (any bytes).
    pub source: &'a OsStr,
    /// Epoch seconds at which the hook should refresh the session.
    pub refresh_at: Option<i64>,
    /// The options of a manual `use`, for its refresh ([`OPTS`]).
    pub opts: Option<String>,
}

/// The full list of changes that activates `wanted` (credential variables to set or unset,
/// all of them [`MANAGED`]) on top of `view`, with the state variables. A variable an earlier
/// activation set and the user left alone keeps its original previous value, so that switching
/// profiles and leaving restores what was there before the first one; variables the earlier
/// activation touched and this one does not are restored now.
pub fn activate(view: &EnvView, wanted: Vec<Change>, meta: &Meta<'_>) -> Vec<Change> {
    let old = load(view);
    let mut rec = Record::default();
    let mut changes = Vec::new();
    for (name, e) in &old.vars {
        if !wanted.iter().any(|c| c.name() == name) {
            changes.extend(restore_one(view, name, e));
        }
    }
    for c in &wanted {
        let name = c.name().to_string();
        if !MANAGED.contains(&name.as_str()) {
            continue;
        }
        let private = PRIVATE.contains(&name.as_str());
        let mut entry = match old.vars.get(&name) {
            Some(e) if untouched(view, &name, e) => e.clone(),
            _ => {
                let cur = view.get(&name);
                match cur {
                    Some(v) if private => {
                        changes.push(Change::SetPrivate(private_var(&name), v));
                        Entry {
                            held: true,
                            ..Entry::default()
                        }
                    }
                    Some(v) => Entry {
                        prev: Some(hex(v.as_bytes())),
                        ..Entry::default()
                    },
                    None => {
                        if private {
                            changes.push(Change::DropPrivate(private_var(&name)));
                        }
                        Entry::default()
                    }
                }
            }
        };
        entry.set = match c {
            Change::Set(_, v) => Some(digest(v)),
            _ => None,
        };
        rec.vars.insert(name, entry);
    }
    changes.extend(wanted);
    let json = serde_json::to_string(&rec).unwrap_or_default();
    changes.push(Change::set(PROFILE, meta.profile));
    changes.push(Change::set(SOURCE, meta.source));
    changes.push(Change::set(RESTORE, json));
    changes.push(match meta.refresh_at {
        Some(at) => Change::set(REFRESH_AT, at.to_string()),
        None => Change::unset(REFRESH_AT),
    });
    changes.push(match &meta.opts {
        Some(o) => Change::set(OPTS, o),
        None => Change::unset(OPTS),
    });
    changes
}

/// Puts one recorded variable back, unless the user changed it meanwhile (then only the held
/// copy of a previous secret is dropped).
fn restore_one(view: &EnvView, name: &str, e: &Entry) -> Option<Change> {
    if !untouched(view, name, e) {
        return PRIVATE
            .contains(&name)
            .then(|| Change::DropPrivate(private_var(name)));
    }
    if e.held {
        return Some(Change::RestorePrivate(name.to_string(), private_var(name)));
    }
    Some(match e.prev.as_deref().and_then(unhex) {
        Some(bytes) => Change::Set(name.to_string(), OsString::from_vec(bytes)),
        None => Change::unset(name),
    })
}

/// The changes that undo the current activation: every recorded variable goes back to its
/// previous value (unset where it was unset) unless the user changed it meanwhile, and awsenv's
/// own state variables are removed — the hook's fingerprint too, so that the next prompt lets
/// the directory's `.awsprofile` decide again. Empty when nothing is active.
pub fn deactivate(view: &EnvView) -> Vec<Change> {
    if view.get(SOURCE).is_none() && view.get(RESTORE).is_none() {
        return Vec::new();
    }
    let rec = load(view);
    let mut changes: Vec<Change> = rec
        .vars
        .iter()
        .filter_map(|(name, e)| restore_one(view, name, e))
        .collect();
    changes.extend(OWN.iter().map(|n| Change::unset(n)));
    changes.push(Change::unset(WATCH));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_with(pairs: &[(&str, Option<&str>)]) -> EnvView {
        let mut v = EnvView::new();
        let changes: Vec<Change> = pairs
            .iter()
            .map(|(n, val)| match val {
                Some(s) => Change::set(n, s),
                None => Change::unset(n),
            })
            .collect();
        v.apply(&changes);
        v
    }

    fn meta(p: &str) -> Meta<'_> {
        Meta {
            profile: p,
            source: OsStr::new(MANUAL),
            refresh_at: None,
            opts: None,
        }
    }

    #[test]
    fn restore_is_exact_and_no_clobber() {
        let mut v = view_with(&[
            ("AWS_REGION", Some("orig")),
            ("AWS_DEFAULT_REGION", None),
            ("AWS_VAULT", Some("")),
            ("AWS_PROFILE", Some("keep")),
            (RESTORE, None),
            (SOURCE, None),
        ]);
        let act = activate(
            &v,
            vec![
                Change::set("AWS_REGION", "new"),
                Change::set("AWS_DEFAULT_REGION", "b"),
                Change::set("AWS_VAULT", "c"),
                Change::unset("AWS_PROFILE"),
            ],
            &meta("p"),
        );
        v.apply(&act);
        assert_eq!(v.get("AWS_REGION"), Some("new".into()));
        // The user edits AWS_VAULT by hand while active.
        v.apply(&[Change::set("AWS_VAULT", "mine")]);
        let back = deactivate(&v);
        v.apply(&back);
        assert_eq!(v.get("AWS_REGION"), Some("orig".into()));
        assert_eq!(v.get("AWS_DEFAULT_REGION"), None);
        assert_eq!(v.get("AWS_VAULT"), Some("mine".into()));
        assert_eq!(v.get("AWS_PROFILE"), Some("keep".into()));
        assert_eq!(v.get(SOURCE), None);
    }

    #[test]
    fn second_activation_keeps_original_previous_values() {
        let mut v = view_with(&[
            ("AWS_REGION", Some("orig")),
            (RESTORE, None),
            (SOURCE, None),
        ]);
        let a1 = activate(
            &v,
            vec![
                Change::set("AWS_REGION", "one"),
                Change::set("AWS_DEFAULT_REGION", "x"),
            ],
            &meta("a"),
        );
        v.apply(&a1);
        let a2 = activate(&v, vec![Change::set("AWS_REGION", "two")], &meta("b"));
        v.apply(&a2);
        assert_eq!(
            v.get("AWS_DEFAULT_REGION"),
            None,
            "a variable only the first profile set is restored"
        );
        v.apply(&deactivate(&v));
        assert_eq!(v.get("AWS_REGION"), Some("orig".into()));
    }

    #[test]
    fn previous_secrets_never_enter_the_record() {
        let v = view_with(&[
            ("AWS_SECRET_ACCESS_KEY", Some("old-secret-value")),
            ("AWS_ACCESS_KEY_ID", Some("AKIAOLDOLDOLDOLD")),
            (RESTORE, None),
            (SOURCE, None),
        ]);
        let act = activate(
            &v,
            vec![
                Change::set("AWS_SECRET_ACCESS_KEY", "new"),
                Change::set("AWS_ACCESS_KEY_ID", "ASIANEW"),
                Change::unset("AWS_SESSION_TOKEN"),
            ],
            &meta("p"),
        );
        let rec = act
            .iter()
            .find_map(|c| match c {
                Change::Set(n, v) if n == RESTORE => Some(v.to_string_lossy().into_owned()),
                _ => None,
            })
            .unwrap_or_default();
        assert!(!rec.contains(&hex(b"old-secret-value")), "{rec}");
        assert!(!rec.contains("old-secret-value"));
        assert!(act.contains(&Change::SetPrivate(
            private_var("AWS_SECRET_ACCESS_KEY"),
            "old-secret-value".into()
        )));
    }

    #[test]
    fn records_naming_other_variables_are_refused() {
        let hostile = br#"{"vars":{"X;touch /tmp/p;Y":{},"PATH":{"prev":"2f"},"LD_PRELOAD":{"set":"00"},"AWS_REGION":{"prev":"7800"},"AWS_VAULT":{"prev":"6869"}}}"#;
        let rec = parse_record(hostile);
        assert_eq!(rec.vars.keys().collect::<Vec<_>>(), vec!["AWS_VAULT"]);
        assert!(parse_record(b"not json").vars.is_empty());
        assert!(
            parse_record(br#"{"vars":{"AWS_REGION":{"held":true}}}"#)
                .vars
                .is_empty()
        );
    }
}
