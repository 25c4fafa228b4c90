//! `activation::parse` on any bytes, read the way the hook reads a file.
//!
//! Property: an accepted file names either a valid profile (1–128 of `A-Za-z0-9-_.@+/`) or a
//! role (a 12-digit account, a role name of `A-Za-z0-9+=,.@_-`), guard accounts of 12 digits, and, if it
//! has a region, a lowercase host label (`[a-z0-9-]`, 1–32 bytes, no leading or trailing
//! dash); a refusal is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match awsenv::activation::parse(&text) {
        Ok(f) => {
            // Exactly one of a profile and a role.
            assert!(f.profile.is_some() != f.role.is_some(), "{f:?}");
            if let Some(p) = &f.profile {
                assert!(!p.is_empty() && p.len() <= 128, "profile length: {p:?}");
                assert!(
                    p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@+/".contains(c)),
                    "profile: {p:?}"
                );
            }
            if let Some(r) = &f.role {
                assert!(awsenv::activation::valid_account(&r.account), "{r:?}");
                assert!(
                    !r.role.is_empty()
                        && r.role.len() <= 64
                        && r.role.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)),
                    "{r:?}"
                );
            }
            for a in &f.accounts {
                assert!(awsenv::activation::valid_account(a), "{a:?}");
            }
            if let Some(r) = &f.region {
                assert!((1..=32).contains(&r.len()), "region length: {r:?}");
                assert!(
                    r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "region: {r:?}"
                );
                assert!(!r.starts_with('-') && !r.ends_with('-'), "region: {r:?}");
                // What the engine checks again before using it.
                assert!(awsenv::resolve::is_region_name(r), "region: {r:?}");
            }
        }
        Err(e) => assert!(!e.contains('\n'), "multi-line error: {e:?}"),
    }
});
