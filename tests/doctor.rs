//! `awsenv doctor`: what a first day gets wrong, each with what to do, and a non-zero exit
//! status while something needs fixing.

mod common;

use std::process::{Command, Output, Stdio};

use common::{Moto, TestEnv, require_tools};

fn run(mut c: Command) -> Output {
    common::detach(&mut c)
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The doctor's report as bash sees it, with the hook installed and then `after` run.
fn doctor_in_bash(env: &TestEnv, after: &str) -> Output {
    let mut c = env.command("bash");
    c.args([
        "--noprofile",
        "--norc",
        "-c",
        &format!("eval \"$(awsenv hook bash)\"; {after} awsenv doctor"),
    ]);
    run(c)
}

#[test]
fn doctor_names_each_problem_and_what_to_do() {
    if !require_tools(&["bash", "moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile plain]\nregion = eu-west-1\n");
    std::fs::write(
        env.aws_credentials_path(),
        "[plain]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    )
    .expect("write credentials");

    // Run directly (no hook in this shell), with plaintext keys: both said, exit 1.
    let mut c = env.awsenv();
    c.arg("doctor").env("SHELL", "/bin/bash");
    let o = run(c);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", text(&o.stderr));
    assert!(
        out.contains("FIX   hook: not installed in this shell: add the line"),
        "{out}"
    );
    assert!(
        out.contains("FIX   plaintext keys: [plain] in ")
            && out.contains("'awsenv import' moves them"),
        "{out}"
    );
    assert!(out.contains("ok    AWS config: "), "{out}");
    assert!(out.contains("ok    secret store: "), "{out}");
    assert!(out.contains("ok    clock: within"), "{out}");
    assert!(
        !out.contains("wJalrXUtnFEMI"),
        "no secret in the report: {out}"
    );

    // The hook in bash, first at each prompt; then a later line that overwrites
    // PROMPT_COMMAND, which makes the hook half-work silently.
    let o = doctor_in_bash(&env, "");
    let out = text(&o.stdout);
    assert!(
        out.contains("ok    hook: installed in this bash, first at each prompt"),
        "{out}{}",
        text(&o.stderr)
    );
    assert!(out.contains("note  completions: not loaded"), "{out}");
    let o = doctor_in_bash(&env, "PROMPT_COMMAND='history -a';");
    let out = text(&o.stdout);
    assert!(
        out.contains("FIX   hook: installed, but PROMPT_COMMAND no longer runs _awsenv_hook first"),
        "{out}"
    );

    // Everything fixed: exit 0.
    let o = run({
        let mut c = env.awsenv();
        c.args(["import", "--remove-plaintext"]);
        c
    });
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = doctor_in_bash(&env, "source <(awsenv completions bash);");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("ok    completions: awsenv completes"), "{out}");
}
