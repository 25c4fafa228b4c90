//! `timefmt::parse_duration` (settings, `--duration`, `AWSENV_*_TTL`) on any text.
//!
//! Properties: never panics (no overflow); whole seconds mean seconds; a parsed duration that
//! `timefmt::remaining` shows (`1h30m`, `45m`, `20s`) parses back to the same value when the
//! text is exact (no seconds dropped by the display).
#![no_main]

use awsenv::timefmt::{parse_duration, remaining};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let Some(d) = parse_duration(s) else {
        return;
    };
    if let Ok(n) = s.trim().parse::<u64>() {
        assert_eq!(d.as_secs(), n, "{s:?}");
    }
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs <= i64::MAX as u64 {
        let shown = remaining(secs as i64);
        // From a minute up, `remaining` shows whole minutes: only those round-trip.
        if secs < 60 || secs % 60 == 0 {
            assert_eq!(
                parse_duration(&shown).map(|b| b.as_secs()),
                Some(secs),
                "{s:?} -> {secs}s -> {shown:?}"
            );
        }
    }
});
