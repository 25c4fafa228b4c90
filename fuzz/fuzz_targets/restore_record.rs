//! The state variables from the fuzzer: `AWSENV_RESTORE` (the restore record) any bytes, the
//! managed variables any values, then `envstate::deactivate` and `envstate::activate`.
//!
//! Properties:
//! - every change names only a variable awsenv manages or owns, the hook's fingerprint, or the
//!   held copy of a private variable (never `PATH`, `LD_PRELOAD`, `BASH_ENV`, `HOME`, …);
//! - a value restored from the record holds no NUL byte;
//! - a previous credential is only ever restored from its held shell variable, never as a
//!   value from the (exported) record;
//! - every name is an identifier, so `shell::render` drops none of the changes;
//! - the record that `activate` writes is read back: activating on a clean environment and then
//!   deactivating puts every managed variable back as it was (the private ones from their
//!   held shell variables).
#![no_main]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use arbitrary::Arbitrary;
use awsenv::envstate::{
    self, EnvView, MANAGED, MANUAL, Meta, OWN, PRIVATE, RESTORE, SOURCE, WATCH, private_var,
};
use awsenv::shell::{Change, Shell, render};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    record: Vec<u8>,
    /// The current values of the managed variables (index into MANAGED, value).
    current: Vec<(u8, Option<Vec<u8>>)>,
    /// What an activation wants (index into MANAGED, value or unset).
    wanted: Vec<(u8, Option<Vec<u8>>)>,
    source_manual: bool,
    refresh_at: Option<i64>,
    opts: Option<String>,
}

fn allowed(name: &str) -> bool {
    MANAGED.contains(&name)
        || OWN.contains(&name)
        || name == WATCH
        || PRIVATE.iter().any(|p| private_var(p) == name)
}

fn no_nul(v: &[u8]) -> Vec<u8> {
    v.iter().copied().filter(|b| *b != 0).collect()
}

fn check(changes: &[Change], from_record: bool) {
    for c in changes {
        assert!(allowed(c.name()), "{c:?}");
        match c {
            Change::Set(n, v) => {
                assert!(!n.starts_with("__awsenv_prev_"), "{c:?}");
                if from_record {
                    assert!(!v.as_bytes().contains(&0), "NUL restored: {c:?}");
                    assert!(
                        !PRIVATE.contains(&n.as_str()),
                        "a credential restored from the record: {n}"
                    );
                }
            }
            Change::SetPrivate(n, _) | Change::DropPrivate(n) => {
                assert!(PRIVATE.iter().any(|p| private_var(p) == *n), "{c:?}")
            }
            Change::RestorePrivate(n, h) => {
                assert!(PRIVATE.contains(&n.as_str()), "{c:?}");
                assert_eq!(*h, private_var(n));
            }
            Change::Unset(_) => {}
        }
    }
    for shell in [Shell::Bash, Shell::Fish] {
        let out = render(shell, changes);
        let statements = out.iter().filter(|b| **b == b'\n').count();
        let newlines_in_values: usize = changes
            .iter()
            .map(|c| match c {
                Change::Set(_, v) | Change::SetPrivate(_, v) => {
                    v.as_bytes().iter().filter(|b| **b == b'\n').count()
                }
                _ => 0,
            })
            .sum();
        let extra = usize::from(shell == Shell::Fish && !changes.is_empty());
        assert_eq!(
            statements,
            changes.len() + newlines_in_values + extra,
            "a change was dropped"
        );
    }
}

fn base_view(current: &[(u8, Option<Vec<u8>>)]) -> EnvView {
    let mut v = EnvView::new();
    // Nothing from the fuzzer's own environment.
    let mut clear: Vec<Change> = MANAGED
        .iter()
        .chain(OWN)
        .chain([&WATCH])
        .map(|n| Change::unset(n))
        .collect();
    for (i, val) in current {
        let name = MANAGED[*i as usize % MANAGED.len()];
        clear.push(match val {
            Some(b) => Change::Set(name.to_string(), OsString::from_vec(no_nul(b))),
            None => Change::unset(name),
        });
    }
    v.apply(&clear);
    v
}

fn wanted(w: &[(u8, Option<Vec<u8>>)]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for (i, val) in w {
        let name = MANAGED[*i as usize % MANAGED.len()];
        if out.iter().any(|c| c.name() == name) {
            continue;
        }
        out.push(match val {
            Some(b) => Change::Set(name.to_string(), OsString::from_vec(no_nul(b))),
            None => Change::unset(name),
        });
    }
    out
}

fuzz_target!(|input: Input| {
    let source = if input.source_manual {
        OsStr::new(MANUAL).to_os_string()
    } else {
        OsString::from("/home/u/project/.awsprofile")
    };
    let meta = Meta {
        profile: "x",
        source: &source,
        refresh_at: input.refresh_at,
        opts: input.opts.clone(),
    };

    // A hostile or damaged record in the environment.
    let mut view = base_view(&input.current);
    view.apply(&[
        Change::Set(
            RESTORE.to_string(),
            OsString::from_vec(input.record.clone()),
        ),
        Change::set(SOURCE, &source),
        Change::set(envstate::PROFILE, "x"),
    ]);
    check(&envstate::deactivate(&view), true);
    let act = envstate::activate(&view, wanted(&input.wanted), &meta);
    check(&act, false);

    // A record awsenv wrote itself round-trips.
    let mut clean = base_view(&input.current);
    let before: Vec<Option<OsString>> = MANAGED.iter().map(|n| clean.get(n)).collect();
    let act = envstate::activate(&clean, wanted(&input.wanted), &meta);
    clean.apply(&act);
    let back = envstate::deactivate(&clean);
    check(&back, true);
    clean.apply(&back);
    for (n, was) in MANAGED.iter().zip(&before) {
        let restored_privately = back
            .iter()
            .any(|c| matches!(c, Change::RestorePrivate(r, _) if r == n));
        if restored_privately {
            // The shell copies the held value back; the view cannot see it.
            assert!(was.is_some(), "{n}: held although it was unset");
        } else {
            assert_eq!(&clean.get(n), was, "{n} not restored");
        }
    }
    for n in OWN {
        assert_eq!(clean.get(n), None, "{n} left behind");
    }
});
