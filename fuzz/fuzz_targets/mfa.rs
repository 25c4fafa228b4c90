//! `mfa::normalize`: an MFA code as typed or as apps show it (`123 456`, `123-456`).
//!
//! Properties: `Some` is exactly six ASCII digits, and they are the input's digits in order
//! with only whitespace and dashes removed; any input that is six digits once whitespace and
//! dashes are removed is accepted.
#![no_main]

use awsenv::mfa::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let stripped: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let six = stripped.len() == 6 && stripped.bytes().all(|b| b.is_ascii_digit());
    match normalize(input) {
        Some(code) => {
            assert_eq!(code.len(), 6, "{input:?} -> {code:?}");
            assert!(
                code.bytes().all(|b| b.is_ascii_digit()),
                "{input:?} -> {code:?}"
            );
            assert_eq!(code, stripped, "{input:?}");
        }
        None => assert!(!six, "{input:?} refused"),
    }
});
