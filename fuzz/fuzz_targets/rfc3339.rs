//! `timefmt::parse_rfc3339` on any text, and `timefmt::rfc3339` on any epoch second.
//!
//! Properties: parsing never panics (no overflow); a parsed time within what RFC 3339 can
//! show (0001-01-01 is before the epoch and clamps, so: the epoch to 9999-12-31T23:59:59Z)
//! formats to text that parses back to the same second; formatting any `i64` never panics and
//! gives text that parses back to the clamped second.
#![no_main]

use arbitrary::Arbitrary;
use awsenv::timefmt::{parse_rfc3339, rfc3339};
use libfuzzer_sys::fuzz_target;

/// The last second RFC 3339 (four-digit years) can show (`timefmt::MAX_RFC3339`).
const MAX: i64 = 253_402_300_799;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Text(&'a str),
    Epoch(i64),
}

fuzz_target!(|input: Input<'_>| {
    match input {
        Input::Text(s) => {
            if let Some(e) = parse_rfc3339(s)
                && (0..=MAX).contains(&e)
            {
                let back = rfc3339(e);
                assert_eq!(parse_rfc3339(&back), Some(e), "{s:?} -> {e} -> {back:?}");
            }
        }
        Input::Epoch(e) => {
            let text = rfc3339(e);
            assert_eq!(text.len(), 20, "{e} -> {text:?}");
            assert_eq!(
                parse_rfc3339(&text),
                Some(e.clamp(0, MAX)),
                "{e} -> {text:?}"
            );
        }
    }
});
