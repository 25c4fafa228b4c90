//! `awsenv prompt` with hostile values in the variables it reads.

use std::process::Command;

fn prompt(vars: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_awsenv"))
        .arg("prompt")
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run awsenv prompt");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The fuzz target `prompt` asserts a bound on the segment's length: placeholders inside the
/// variables' values were replaced again, so that a profile of `{region}`s and a region of
/// `{expiration}`s multiplied each other (here 100 × 100 × 4000 bytes: 40 MB per prompt).
#[test]
fn placeholders_inside_values_are_not_expanded() {
    let profile = "{region}".repeat(100);
    let region = "{expiration}".repeat(100);
    let expiration = "x".repeat(4000);
    let out = prompt(
        &[
            ("AWS_VAULT", &profile),
            ("AWS_REGION", &region),
            ("AWS_SESSION_EXPIRATION", &expiration),
        ],
        &["--format", "{profile}"],
    );
    assert_eq!(out.trim_end(), profile);
}
