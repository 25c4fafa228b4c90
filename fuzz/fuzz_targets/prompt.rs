//! The prompt segment: `prompt::Options::parse` on arbitrary arguments and `prompt::render`
//! with arbitrary values of the variables it reads (`AWSENV_PROFILE`, `AWS_VAULT`,
//! `AWS_CREDENTIAL_EXPIRATION`, `AWS_SESSION_EXPIRATION`, `AWS_REGION`, `AWS_DEFAULT_REGION`),
//! which any program that started the shell controls.
//!
//! Properties: when the options themselves hold no control characters (they are the user's own
//! prompt configuration, where colour escapes are theirs to use), the segment holds none
//! either — no newline, no escape sequence — whatever the environment; its length is bounded by
//! the options and the variables; without a profile it is empty; `{remaining}` shows the time
//! left as `timefmt::remaining` does, or `expired`.
#![no_main]

use arbitrary::Arbitrary;
use awsenv::prompt::{DEFAULT_FORMAT, Options, render};
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 6] = [
    "AWSENV_PROFILE",
    "AWS_VAULT",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_SESSION_EXPIRATION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

const NOW: i64 = 1_800_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    args: Vec<String>,
    vars: [Option<String>; 6],
    /// Give the expiration a valid time near `NOW` instead of the raw text.
    expires_in: Option<i32>,
}

fuzz_target!(|input: Input| {
    let Some(opts) = Options::parse(input.args.iter().map(String::as_str)) else {
        return;
    };
    // The environment holds no NUL bytes.
    let mut vars = input.vars.clone().map(|v| v.map(|s| s.replace('\0', "")));
    if let Some(d) = input.expires_in {
        vars[2] = Some(awsenv::timefmt::rfc3339(NOW + i64::from(d)));
    }
    for (name, v) in VARS.iter().zip(&vars) {
        match v {
            // SAFETY: the fuzz target is single-threaded.
            Some(s) => unsafe { std::env::set_var(name, s) },
            None => unsafe { std::env::remove_var(name) },
        }
    }
    let out = render(&opts, NOW);

    let format = opts.format.as_deref().unwrap_or(DEFAULT_FORMAT);
    let controls = |s: &str| s.chars().any(char::is_control);
    if !controls(format) && !controls(&opts.prefix) && !controls(&opts.suffix) {
        assert!(!controls(&out), "control characters in {out:?}");
    }
    // Each placeholder is replaced once by one value (or the remaining time): the output is
    // never more than the format with every byte of it replaced by the longest value.
    let value_len: usize = vars
        .iter()
        .flatten()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(32);
    let bound = opts.prefix.len() + opts.suffix.len() + format.len() * value_len;
    assert!(out.len() <= bound, "{} bytes > {bound}", out.len());

    let set = |i: usize| vars[i].as_deref().is_some_and(|v| !v.is_empty());
    let profile_text = |i: usize| {
        vars[i]
            .as_deref()
            .map(|v| v.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let has_profile = if set(0) {
        profile_text(0).is_some()
    } else {
        profile_text(1).is_some()
    };
    if !has_profile {
        assert!(out.is_empty(), "{out:?} without a profile");
    }
    if has_profile && input.expires_in.is_some() && opts.format.as_deref() == Some("{remaining}") {
        let d = i64::from(input.expires_in.unwrap_or(0));
        let want = if d > 0 {
            awsenv::timefmt::remaining(d)
        } else {
            "expired".to_string()
        };
        assert_eq!(out, format!("{}{want}{}", opts.prefix, opts.suffix));
    }
});
