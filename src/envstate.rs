//! awsenv's own state variables, and the record of what an activation replaced.
//!
//! The state lives in exported variables so that subshells and tmux panes inherit it. An
//! activation records, for every variable it touches, the value it found (or that it was unset)
//! and a digest of the value it set. Restoring puts back what was found — except where the
//! current value no longer matches what awsenv set: the user changed it by hand, and it is kept.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::shell::Change;

/// The active profile's name.
pub const PROFILE: &str = "AWSENV_PROFILE";
/// Where the activation came from: `manual` (from `awsenv use`) or the `.awsprofile` path.
pub const SOURCE: &str = "AWSENV_SOURCE";
/// The restore record (JSON).
pub const RESTORE: &str = "AWSENV_RESTORE";
/// Epoch seconds after which the hook refreshes a hook-activated session.
pub const REFRESH_AT: &str = "AWSENV_REFRESH_AT";
/// Epoch seconds at which the active credentials expire (from `AWS_CREDENTIAL_EXPIRATION`), so
/// the shells' `awsenv_prompt` functions can show the time left without parsing RFC 3339.
pub const EXPIRES: &str = "AWSENV_EXPIRES";
/// The hook's fingerprint of the `.awsprofile` it last acted on (see `activation`).
pub const WATCH: &str = "AWSENV_WATCH";
/// Where the exported region came from: `--region`, `.awsprofile`, `profile NAME` (the profile
/// or the nearest one up its `source_profile` chain) or `[default]`; `status` shows it.
pub const REGION_SOURCE: &str = "AWSENV_REGION_SOURCE";
/// [`SOURCE`] value of a manual `awsenv use`.
pub const MANUAL: &str = "manual";

/// Variables awsenv owns outright (not restored, simply removed on deactivation).
pub const OWN: &[&str] = &[PROFILE, SOURCE, RESTORE, REFRESH_AT, EXPIRES];

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

    /// Applies changes to the view.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Set(n, v) => self.overlay.insert(n.clone(), Some(v.clone())),
                Change::Unset(n) => self.overlay.insert(n.clone(), None),
            };
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Record {
    /// Per variable: the value before activation and the digest of what awsenv left there.
    vars: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Entry {
    /// The previous value, hex-encoded bytes; `None` when it was unset.
    prev: Option<String>,
    /// Digest of the value awsenv set; `None` when awsenv unset the variable.
    set: Option<String>,
}

fn digest(v: &OsString) -> String {
    let h = Sha256::digest(v.as_bytes());
    h[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn load(view: &EnvView) -> Record {
    view.get(RESTORE)
        .and_then(|v| serde_json::from_slice(v.as_bytes()).ok())
        .unwrap_or_default()
}

/// Whether the current value of a recorded variable is still the one awsenv left.
fn untouched(view: &EnvView, name: &str, e: &Entry) -> bool {
    match (view.get(name), &e.set) {
        (Some(cur), Some(d)) => &digest(&cur) == d,
        (None, None) => true,
        _ => false,
    }
}

/// The full list of changes that activates `wanted` (credential variables to set or unset) on
/// top of `view`, with the state variables: the profile name, the source (`manual` or a path)
/// and the restore record. Values that an earlier activation set are not recorded as "previous":
/// the original values from before the first activation are kept.
pub fn activate(view: &EnvView, wanted: Vec<Change>, profile: &str, source: &str) -> Vec<Change> {
    let old = load(view);
    let mut rec = Record::default();
    // Variables the previous activation touched but this one does not: restore them now.
    let mut changes = Vec::new();
    for (name, e) in &old.vars {
        if !wanted.iter().any(|c| c.name() == name) && untouched(view, name, e) {
            changes.push(restore_one(name, e));
        }
    }
    for c in &wanted {
        let name = c.name().to_string();
        let prev = match old.vars.get(&name) {
            Some(e) if untouched(view, &name, e) => e.prev.clone(),
            _ => view.get(&name).map(|v| hex(v.as_bytes())),
        };
        let set = match c {
            Change::Set(_, v) => Some(digest(v)),
            Change::Unset(_) => None,
        };
        rec.vars.insert(name, Entry { prev, set });
    }
    let expires = wanted.iter().find_map(|c| match c {
        Change::Set(n, v) if n == "AWS_CREDENTIAL_EXPIRATION" => {
            v.to_str().and_then(crate::timefmt::parse_rfc3339)
        }
        _ => None,
    });
    changes.extend(wanted);
    let json = serde_json::to_string(&rec).unwrap_or_default();
    changes.push(Change::set(PROFILE, profile));
    changes.push(Change::set(SOURCE, source));
    changes.push(Change::set(RESTORE, json));
    changes.push(Change::unset(REFRESH_AT));
    changes.push(match expires {
        Some(at) => Change::set(EXPIRES, at.to_string()),
        None => Change::unset(EXPIRES),
    });
    changes
}

fn restore_one(name: &str, e: &Entry) -> Change {
    match e.prev.as_deref().and_then(unhex) {
        Some(bytes) => Change::Set(name.to_string(), OsString::from_vec(bytes)),
        None => Change::unset(name),
    }
}

/// The changes that undo the current activation: every recorded variable goes back to its
/// previous value (unset where it was unset) unless the user changed it meanwhile, and awsenv's
/// own state variables are removed. Empty when nothing is active.
pub fn deactivate(view: &EnvView) -> Vec<Change> {
    if view.get(SOURCE).is_none() && view.get(RESTORE).is_none() {
        return Vec::new();
    }
    let rec = load(view);
    let mut changes: Vec<Change> = rec
        .vars
        .iter()
        .filter(|(name, e)| untouched(view, name, e))
        .map(|(name, e)| restore_one(name, e))
        .collect();
    changes.extend(OWN.iter().map(|n| Change::unset(n)));
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

    #[test]
    fn restore_is_exact_and_no_clobber() {
        let mut v = view_with(&[
            ("T_A", Some("orig")),
            ("T_B", None),
            ("T_C", Some("")),
            ("T_D", Some("keep")),
            (RESTORE, None),
            (SOURCE, None),
        ]);
        let act = activate(
            &v,
            vec![
                Change::set("T_A", "new"),
                Change::set("T_B", "b"),
                Change::set("T_C", "c"),
                Change::unset("T_D"),
            ],
            "p",
            MANUAL,
        );
        v.apply(&act);
        assert_eq!(v.get("T_A"), Some("new".into()));
        // The user edits T_C by hand while active.
        v.apply(&[Change::set("T_C", "mine")]);
        let back = deactivate(&v);
        v.apply(&back);
        assert_eq!(v.get("T_A"), Some("orig".into()));
        assert_eq!(v.get("T_B"), None);
        assert_eq!(v.get("T_C"), Some("mine".into()));
        assert_eq!(v.get("T_D"), Some("keep".into()));
        assert_eq!(v.get(SOURCE), None);
    }

    #[test]
    fn second_activation_keeps_original_previous_values() {
        let mut v = view_with(&[("T_E", Some("orig")), (RESTORE, None), (SOURCE, None)]);
        let a1 = activate(
            &v,
            vec![Change::set("T_E", "one"), Change::set("T_F", "x")],
            "a",
            MANUAL,
        );
        v.apply(&a1);
        let a2 = activate(&v, vec![Change::set("T_E", "two")], "b", MANUAL);
        v.apply(&a2);
        assert_eq!(
            v.get("T_F"),
            None,
            "a variable only the first profile set is restored"
        );
        v.apply(&deactivate(&v));
        assert_eq!(v.get("T_E"), Some("orig".into()));
    }
}
