//! `settings::Settings::parse`: the TOML settings file and `AWSENV_*` overrides, both from
//! the fuzzer. The input is the file's text; after a line `#env` come `NAME=VALUE` lines of the
//! environment (an input starting with `#env` has no settings file).
//!
//! Properties: accepted settings keep every promise of the settings module — each duration
//! within its limits (`session_ttl` 15m–36h, `role_ttl` 15m–12h, `sts_timeout` 1s–5m, unlock
//! times 1s–7d, `key_max_age` 1s–100y, SSO session 15m–90d, sign-in 1s–1h) and the refresh
//! window shorter than both TTLs; a refusal is one line without control characters.
#![no_main]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use awsenv::settings::{ROLE_LIMITS, SESSION_LIMITS, STS_TIMEOUT_LIMITS, Settings};
use libfuzzer_sys::fuzz_target;

fn within(d: std::time::Duration, (lo, hi): (u64, u64), what: &str) {
    assert!((lo..=hi).contains(&d.as_secs()), "{what} = {d:?}");
}

fuzz_target!(|input: &str| {
    let (file, env_text) = match input.strip_prefix("#env\n") {
        Some(rest) => (None, rest),
        None => match input.split_once("\n#env\n") {
            Some((f, e)) => (Some(f), e),
            None => (Some(input), ""),
        },
    };
    let env: HashMap<&str, OsString> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n, OsString::from(v)))
        .collect();
    let lookup = |n: &str| env.get(n).cloned();
    let file = file.map(|t| (Path::new("/home/u/.config/awsenv/config.toml"), t));
    match Settings::parse(file, &lookup) {
        Ok(s) => {
            within(s.session_ttl, SESSION_LIMITS, "session_ttl");
            within(s.role_ttl, ROLE_LIMITS, "role_ttl");
            within(s.sts_timeout, STS_TIMEOUT_LIMITS, "sts_timeout");
            within(s.unlock_ttl, (1, 7 * 86_400), "unlock_ttl");
            within(s.unlock_max, (1, 7 * 86_400), "unlock_max");
            within(s.key_max_age, (1, 100 * 365 * 86_400), "key_max_age");
            within(
                s.sso.session_duration,
                (900, 90 * 86_400),
                "sso.session_duration",
            );
            within(s.sso.sign_in_timeout, (1, 3600), "sso.sign_in_timeout");
            assert!(
                s.refresh_window < s.session_ttl && s.refresh_window < s.role_ttl,
                "refresh_window {:?} not shorter than the TTLs",
                s.refresh_window
            );
        }
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(
                !msg.chars().any(char::is_control),
                "control characters in the error: {msg:?}"
            );
        }
    }
});
