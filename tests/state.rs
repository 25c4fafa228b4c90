//! The shell state is data, never code, and never exposes a replaced secret (issue 7, items
//! 1, 2 and 10; issue 12's fish status): a hostile restore record or prompt variable runs
//! nothing and restores only awsenv's own variables; a previous secret is in no child's
//! environment while a profile is active and comes back exactly afterwards; fish sees status 0
//! after sourcing awsenv's output. Every check runs in the real bash, zsh, fish and sh.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::TestEnv;

/// `(shell, program, args before the script)` for each shell under test.
const SHELLS: &[(&str, &str, &[&str])] = &[
    (
        "bash",
        "bash",
        &["--noprofile", "--norc", "-e", "-u", "-o", "pipefail", "-c"],
    ),
    ("zsh", "zsh", &["-f", "-e", "-u", "-o", "pipefail", "-c"]),
    ("fish", "fish", &["--no-config", "-c"]),
    ("sh", "sh", &["-e", "-u", "-c"]),
];

fn tools() -> bool {
    common::require_tools(&["bash", "zsh", "fish", "sh", "moto_server"])
}

/// Runs `script` in `prog` from `dir` with the test environment plus `vars`.
fn run(
    env: &TestEnv,
    prog: &str,
    args: &[&str],
    script: &str,
    dir: &Path,
    vars: &[(&str, &str)],
) -> Output {
    let mut c = env.command(prog);
    c.args(args)
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().expect("run shell")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `eval` of awsenv's output for `shell`, as a user types it.
fn apply(shell: &str, args: &str) -> String {
    match shell {
        "fish" => format!("awsenv {args} --shell fish | source"),
        s => format!("eval \"$(awsenv {args} --shell {s})\""),
    }
}

/// Prints `$NAME` or `<unset>` for each name, one per line.
fn show(shell: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| match shell {
            "fish" => format!(
                "if set -q {n}; printf '%s=%s\\n' {n} \"${n}\"; else; printf '%s=<unset>\\n' {n}; end"
            ),
            _ => format!(
                "if [ -n \"${{{n}+x}}\" ]; then printf '%s=%s\\n' {n} \"${n}\"; else printf '%s=<unset>\\n' {n}; fi"
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Files that appeared in `dir` (a value that ran `touch` leaves one).
fn side_effects(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// A record as an attacker (or a confused tool) would plant it: names that are shell code,
/// and names of variables awsenv never manages. Only `AWS_VAULT` is one of ours.
const HOSTILE_RECORD: &str = r#"{"vars":{"X;touch pwned-name;Y":{"prev":null,"set":null},"PATH":{"prev":"2f6e6f6e65","set":null},"HOME":{"prev":null,"set":null},"LD_PRELOAD":{"prev":"2f746d702f782e736f","set":null},"BASH_ENV":{"prev":"2f746d702f72","set":null},"AWS_VAULT":{"prev":"6f6c64","set":null}}}"#;

#[test]
fn a_hostile_restore_record_runs_nothing_and_restores_only_awsenvs_variables() {
    if !tools() {
        return;
    }
    let env = TestEnv::new();
    for (shell, prog, args) in SHELLS {
        let dir = tempfile::tempdir().expect("tmp");
        let script = format!(
            "{}; {}",
            apply(shell, "unset"),
            show(
                shell,
                &[
                    "PATH",
                    "HOME",
                    "LD_PRELOAD",
                    "BASH_ENV",
                    "AWS_VAULT",
                    "AWSENV_RESTORE"
                ]
            )
        );
        let o = run(
            &env,
            prog,
            args,
            &script,
            dir.path(),
            &[
                ("AWSENV_SOURCE", "manual"),
                ("AWSENV_RESTORE", HOSTILE_RECORD),
            ],
        );
        let out = text(&o.stdout);
        assert!(o.status.success(), "{shell}: {}\n{out}", text(&o.stderr));
        assert!(
            side_effects(dir.path()).is_empty(),
            "{shell} ran code from the record: {:?}",
            side_effects(dir.path())
        );
        assert!(
            out.contains(&format!("PATH={}\n", env.path_var())),
            "{shell}: PATH changed:\n{out}"
        );
        assert!(
            out.contains(&format!("HOME={}\n", env.home.display())),
            "{shell}: HOME changed:\n{out}"
        );
        assert!(
            out.contains("LD_PRELOAD=<unset>\n") && out.contains("BASH_ENV=<unset>\n"),
            "{shell}:\n{out}"
        );
        assert!(
            out.contains("AWS_VAULT=old\n"),
            "{shell}: awsenv's own variable is restored:\n{out}"
        );
        assert!(out.contains("AWSENV_RESTORE=<unset>\n"), "{shell}:\n{out}");
        let err = text(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{shell}: one line on stderr: {err}");
        assert!(err.contains("ignoring AWSENV_RESTORE"), "{shell}: {err}");
    }
}

#[test]
fn a_hostile_record_is_refused_by_use_exec_and_the_hook_too() {
    if !tools() {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile q]\nregion = us-east-1\n");
    env.add_keys("q", "AKIAAWSENVTESTKEY003", "s");
    let hostile = [
        ("AWSENV_SOURCE", "manual"),
        ("AWSENV_RESTORE", HOSTILE_RECORD),
    ];
    // use: the old record's variables are restored before the new activation — only ours.
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(
        &env,
        "bash",
        &["--noprofile", "--norc", "-e", "-u", "-c"],
        &format!(
            "{}; {}",
            apply("bash", "use q"),
            show("bash", &["PATH", "LD_PRELOAD", "AWS_VAULT"])
        ),
        dir.path(),
        &hostile,
    );
    let out = text(&o.stdout);
    assert!(o.status.success(), "use: {}", text(&o.stderr));
    assert!(side_effects(dir.path()).is_empty(), "use ran code");
    assert!(
        out.contains(&format!("PATH={}\n", env.path_var())) && out.contains("LD_PRELOAD=<unset>"),
        "{out}"
    );
    assert!(out.contains("AWS_VAULT=q\n"), "{out}");
    // exec: the child's environment is built from the same record.
    let mut c = env.awsenv();
    c.args(["exec", "q", "--", "env"]).current_dir(dir.path());
    for (k, v) in hostile {
        c.env(k, v);
    }
    let o = common::detach(&mut c).output().expect("exec");
    let child = text(&o.stdout);
    assert!(o.status.success(), "exec: {}", text(&o.stderr));
    assert!(
        !child.contains("LD_PRELOAD") && !child.contains("BASH_ENV"),
        "{child}"
    );
    assert!(
        child.contains(&format!("PATH={}\n", env.path_var())),
        "{child}"
    );
    // The hook leaving a directory restores from the record.
    let gone = env.home.join("gone/.awsprofile");
    let o = run(
        &env,
        "bash",
        &["--noprofile", "--norc", "-e", "-u", "-c"],
        &format!(
            "eval \"$(awsenv export bash)\"; {}",
            show("bash", &["PATH", "LD_PRELOAD", "AWS_VAULT"])
        ),
        dir.path(),
        &[
            ("AWSENV_SOURCE", gone.to_str().expect("utf8")),
            ("AWSENV_RESTORE", HOSTILE_RECORD),
            ("AWSENV_WATCH", "stale"),
        ],
    );
    let out = text(&o.stdout);
    assert!(o.status.success(), "export: {}", text(&o.stderr));
    assert!(side_effects(dir.path()).is_empty(), "the hook ran code");
    assert!(
        out.contains("LD_PRELOAD=<unset>") && out.contains("AWS_VAULT=old\n"),
        "{out}"
    );
}

#[test]
fn awsenv_prompt_reads_the_expiry_as_data_in_every_shell() {
    if !tools() {
        return;
    }
    let env = TestEnv::new();
    for (shell, prog, _) in SHELLS.iter().filter(|s| s.0 != "sh") {
        let dir = tempfile::tempdir().expect("tmp");
        let (args, script): (&[&str], String) = match *shell {
            "fish" => (
                &["--no-config", "-c"],
                "awsenv hook fish | source; awsenv_prompt".into(),
            ),
            "zsh" => (
                &["-f", "-u", "-c"],
                "eval \"$(awsenv hook zsh)\"; awsenv_prompt".into(),
            ),
            _ => (
                &["--noprofile", "--norc", "-u", "-c"],
                "eval \"$(awsenv hook bash)\"; awsenv_prompt".into(),
            ),
        };
        for expiry in [
            "a[$(touch pwned-exp)]",
            "2026-01-01T00:00:00Z$(touch pwned-z)",
            "x[`touch pwned-b`]",
        ] {
            let o = run(
                &env,
                prog,
                args,
                &script,
                dir.path(),
                &[
                    ("AWSENV_PROFILE", "calvin"),
                    ("AWSENV_EXPIRES", "a[$(touch pwned-old)]"),
                    ("AWS_CREDENTIAL_EXPIRATION", expiry),
                ],
            );
            assert!(
                side_effects(dir.path()).is_empty(),
                "{shell} ran code from {expiry:?}"
            );
            assert_eq!(text(&o.stdout), "calvin", "{shell}: {expiry:?}");
            assert_eq!(text(&o.stderr), "", "{shell}: {expiry:?} printed errors");
        }
    }
}

/// A previous long-term key, exported before `use`: the thing that must not leak.
const OLD_ID: &str = "AKIAOLDOLDOLDOLD0001";
const OLD_SECRET: &str = "old/Secret+Value'with$(quotes)\"and\\more";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn assert_no_old_secret(what: &str, env_dump: &str) {
    for needle in [
        OLD_SECRET.to_string(),
        hex(OLD_SECRET),
        OLD_ID.to_string(),
        hex(OLD_ID),
    ] {
        assert!(
            !env_dump.contains(&needle),
            "{what}: a replaced credential is visible to a child ({needle}):\n{env_dump}"
        );
    }
}

#[test]
fn a_replaced_secret_never_reaches_a_child_and_comes_back_exactly() {
    if !tools() {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile q]\nregion = us-east-1\n");
    env.add_keys("q", "AKIAAWSENVTESTKEY004", "s");
    let creds = [
        ("AWS_ACCESS_KEY_ID", OLD_ID),
        ("AWS_SECRET_ACCESS_KEY", OLD_SECRET),
    ];
    // Each shell twice: as usual, and with a variable of the held copy's name already
    // exported from outside, under `set -a` (allexport exports every assignment) where the
    // shell has it (fish has not).
    let passes = SHELLS.iter().flat_map(|s| [(s, false), (s, true)]);
    for ((shell, prog, args), exporting) in passes {
        let allexport = exporting && *shell != "fish";
        let label = match (exporting, allexport) {
            (false, _) => shell.to_string(),
            (true, false) => format!("{shell} (held name exported)"),
            (true, true) => format!("{shell} (set -a, held name exported)"),
        };
        let dir = tempfile::tempdir().expect("tmp");
        let dump = dir.path().join("child-env");
        let sub = dir.path().join("subshell");
        let q = |p: &Path| format!("'{}'", p.display());
        let subshell = match *shell {
            "fish" => format!(
                "fish --no-config -c 'awsenv unset --shell fish | source; env' > {}",
                q(&sub)
            ),
            s => format!(
                "{s} -c 'eval \"$(awsenv unset --shell {s})\"; env' > {}",
                q(&sub)
            ),
        };
        let script = format!(
            "{}{}; env > {}; {subshell}; {}; {}",
            if allexport { "set -a; " } else { "" },
            apply(shell, "use q"),
            q(&dump),
            apply(shell, "unset"),
            show(
                shell,
                &[
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN"
                ]
            )
        );
        let mut vars = creds.to_vec();
        if exporting {
            vars.push(("__awsenv_prev_AWS_SECRET_ACCESS_KEY", "stale"));
        }
        let o = run(&env, prog, args, &script, dir.path(), &vars);
        let out = text(&o.stdout);
        assert!(o.status.success(), "{label}: {}\n{out}", text(&o.stderr));
        let child = std::fs::read_to_string(&dump).expect("child env");
        assert!(
            child.contains("AWS_SESSION_TOKEN="),
            "{label}: the profile is active in the child"
        );
        assert_no_old_secret(&label, &child);
        // A subshell cannot get the held copy: leaving there drops the credentials.
        let inner = std::fs::read_to_string(&sub).expect("subshell env");
        assert_no_old_secret(&format!("{label} subshell"), &inner);
        assert!(
            !inner.contains("AWS_SECRET_ACCESS_KEY="),
            "{label} subshell:\n{inner}"
        );
        assert_eq!(
            out,
            format!(
                "AWS_ACCESS_KEY_ID={OLD_ID}\nAWS_SECRET_ACCESS_KEY={OLD_SECRET}\nAWS_SESSION_TOKEN=<unset>\n"
            ),
            "{label}: exact restore"
        );
    }
    // exec's command gets the new session only.
    let mut c = env.awsenv();
    c.args(["exec", "q", "--", "env"]).envs(creds);
    let o = common::detach(&mut c).output().expect("exec");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_no_old_secret("exec", &text(&o.stdout));
}

#[test]
fn fish_sees_status_zero_after_sourcing_awsenv() {
    if !tools() {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile q]\nregion = us-east-1\n");
    env.add_keys("q", "AKIAAWSENVTESTKEY005", "s");
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(
        &env,
        "fish",
        &["--no-config", "-c"],
        "awsenv use q --shell fish | source; and echo used; awsenv unset --shell fish | source; and echo unset; awsenv unset --shell fish | source; and echo again",
        dir.path(),
        &[],
    );
    assert_eq!(
        text(&o.stdout),
        "used\nunset\nagain\n",
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn with_the_hook_awsenv_use_applies_itself_and_returns_its_status() {
    if !tools() {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile q]\nregion = us-east-1\n");
    env.add_keys("q", "AKIAAWSENVTESTKEY006", "s");
    for (shell, prog, _) in SHELLS.iter().filter(|s| s.0 != "sh") {
        let dir = tempfile::tempdir().expect("tmp");
        let (args, script): (&[&str], String) = match *shell {
            "fish" => (
                &["--no-config", "-c"],
                "awsenv hook fish | source; awsenv use qq; echo rc=$status; awsenv use nope; and echo RAN; awsenv use q; and echo vault=$AWS_VAULT; awsenv use --help | string match -q '*Usage*'; and echo help; awsenv unset; and echo gone=(set -q AWS_VAULT; and echo no; or echo yes); awsenv unset; echo rc=$status".into(),
            ),
            s => (
                &["--noprofile", "--norc", "-u", "-c"][..],
                format!(
                    "eval \"$(awsenv hook {s})\"; awsenv use qq; echo rc=$?; awsenv use nope && echo RAN; awsenv use q && echo vault=$AWS_VAULT; awsenv use --help | grep -q Usage && echo help; awsenv unset && echo gone=${{AWS_VAULT:-yes}}; awsenv unset; echo rc=$?"
                ),
            ),
        };
        let args: &[&str] = if *shell == "zsh" {
            &["-f", "-u", "-c"]
        } else {
            args
        };
        let o = run(&env, prog, args, &script, dir.path(), &[]);
        let out = text(&o.stdout);
        assert_eq!(
            out,
            "rc=1\nvault=q\nhelp\ngone=yes\nrc=0\n",
            "{shell}: stdout; stderr: {}",
            text(&o.stderr)
        );
        let err = text(&o.stderr);
        assert!(
            err.contains("did you mean q?"),
            "{shell}: a close name is suggested: {err}"
        );
    }
}
