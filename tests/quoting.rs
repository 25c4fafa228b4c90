//! Exact quoting: values full of quotes, `$`, backticks, backslashes, newlines and UTF-8 go
//! through awsenv's rendering for bash, zsh, fish and sh and come back exact from the real
//! shells, running nothing on the way.

mod common;

use std::process::Command;

use awsenv::shell::{Change, Shell, render};
use proptest::prelude::*;

fn shell_cmd(shell: Shell) -> Option<Command> {
    let (prog, args): (&str, &[&str]) = match shell {
        Shell::Bash => ("bash", &["--noprofile", "--norc", "-e", "-u", "-c"]),
        Shell::Zsh => ("zsh", &["-f", "-e", "-u", "-c"]),
        Shell::Fish => ("fish", &["--no-config", "-c"]),
        Shell::Sh => ("sh", &["-e", "-u", "-c"]),
        _ => return None,
    };
    if !common::require_tool(prog) {
        return None;
    }
    let mut c = Command::new(prog);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8");
    Some(c)
}

/// Evaluates the rendered statements in `shell` and prints each variable back, NUL-separated.
fn round_trip(shell: Shell, values: &[String]) -> Option<Vec<String>> {
    let changes: Vec<Change> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Change::set(&format!("AWSENV_Q{i}"), v))
        .collect();
    let mut script = String::from_utf8(render(shell, &changes)).expect("utf8 script");
    script.push_str("touch ran-nothing-check 2>/dev/null || true\n");
    for i in 0..values.len() {
        script.push_str(&format!("printf '%s\\0' \"$AWSENV_Q{i}\"\n"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut c = shell_cmd(shell)?;
    c.arg(&script).current_dir(dir.path());
    let out = c.output().expect("run shell");
    assert!(
        out.status.success(),
        "{shell} failed: {}\nscript:\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    let side_effects: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "ran-nothing-check")
        .collect();
    assert!(
        side_effects.is_empty(),
        "a value ran something in {shell}: {side_effects:?}"
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    Some(
        text.split('\0')
            .take(values.len())
            .map(str::to_string)
            .collect(),
    )
}

const NASTY: &[&str] = &[
    "plain",
    "",
    "it's",
    "\\'",
    "'\\''",
    "\\",
    "a\\nb",
    "line1\nline2\n",
    "$(touch pwned)",
    "`touch pwned2`",
    "${HOME}",
    "$HOME $0 $$",
    "\"double\" \\\"",
    "semi;colon && || |",
    "* ? [a] ~",
    "tab\tsep",
    "ünïcødé ✓ 日本語 🦀",
    "end with backslash\\",
    "'; touch pwned3; echo '",
    "\\'; touch pwned4; echo \\'",
    "%s %d %%",
    "-n",
    "--",
];

#[test]
fn known_nasty_values_survive_every_shell() {
    let values: Vec<String> = NASTY.iter().map(|s| s.to_string()).collect();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Sh] {
        if let Some(back) = round_trip(shell, &values) {
            assert_eq!(back, values, "{shell}");
        }
    }
}

fn value() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "'", "\"", "$", "`", "\\", "\n", "(", ")", "{", "}", ";", " ", "é", "🦀", "\u{2019}", "a",
        "Z", "0", "*", "#", "!", "~", "%",
    ]);
    prop::collection::vec(
        prop_oneof![3 => pieces.prop_map(str::to_string), 1 => "[^\u{0}]{0,3}"],
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn generated_values_survive_every_shell(values in prop::collection::vec(value(), 1..8)) {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            if let Some(back) = round_trip(shell, &values) {
                prop_assert_eq!(&back, &values, "{}", shell);
            }
        }
    }
}

#[test]
fn use_output_round_trips_through_a_real_shell() {
    // Arbitrary previous values travel through the restore record and come back from `unset`.
    if !common::require_tools(&["moto_server", "bash", "fish", "zsh"]) {
        return;
    }
    let moto = common::Moto::start();
    let mut env = common::TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile q]\nregion = us-east-1\n");
    env.add_keys("q", "AKIAAWSENVTESTKEY002", "s");
    let weird = "x'y\"$(touch pwned)`id`\\\n🦀";
    for (shell, prog, args, eval) in [
        (
            "bash",
            "bash",
            vec!["--noprofile", "--norc", "-e", "-u", "-c"],
            "export AWS_REGION=\"$W\"; eval \"$(awsenv use q --shell bash)\"; [ \"$AWS_REGION\" = us-east-1 ]; eval \"$(awsenv unset --shell bash)\"; printf '%s' \"$AWS_REGION\"",
        ),
        (
            "zsh",
            "zsh",
            vec!["-f", "-e", "-u", "-c"],
            "export AWS_REGION=\"$W\"; eval \"$(awsenv use q --shell zsh)\"; [ \"$AWS_REGION\" = us-east-1 ]; eval \"$(awsenv unset --shell zsh)\"; printf '%s' \"$AWS_REGION\"",
        ),
        (
            "fish",
            "fish",
            vec!["--no-config", "-c"],
            "set -gx AWS_REGION \"$W\"; awsenv use q --shell fish | source; test \"$AWS_REGION\" = us-east-1; or exit 3; awsenv unset --shell fish | source; printf '%s' \"$AWS_REGION\"",
        ),
    ] {
        let mut c = env.command(prog);
        c.args(&args)
            .arg(eval)
            .env("W", weird)
            .stdin(std::process::Stdio::null());
        let o = c.output().expect("shell");
        assert!(
            o.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), weird, "{shell}");
        assert!(!env.home.join("pwned").exists(), "{shell} ran a value");
    }
}
