//! The hook's state machine driven directly (`awsenv export bash` with a given environment), for
//! the cases that need no terminal: each notice is said once, failures are recorded so they are
//! not retried at every prompt, and `awsenv reload` forces a retry. The PTY scenario tests in
//! `shell_*.rs` cover the same machine through real interactive shells.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::TestEnv;

/// Runs `awsenv export bash` in `dir` with `vars` added, detached from any terminal.
fn export(env: &TestEnv, dir: &Path, vars: &BTreeMap<String, String>) -> Output {
    let mut c = env.awsenv();
    c.args(["export", "bash"]).current_dir(dir).envs(vars);
    common::detach(&mut c).output().expect("run awsenv export")
}

/// Applies the `export NAME='v';` / `unset NAME;` lines of our bash output to `vars`.
fn apply(vars: &mut BTreeMap<String, String>, out: &Output) {
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut c = std::process::Command::new("bash");
    c.args(["--noprofile", "--norc", "-c", &format!("{script}\nenv -0")])
        .env_clear()
        .envs(vars.iter())
        .env("PATH", "/usr/bin:/bin");
    let o = c.output().expect("bash");
    assert!(o.status.success(), "{script}");
    vars.clear();
    for kv in o.stdout.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let kv = String::from_utf8_lossy(kv);
        if let Some((k, v)) = kv.split_once('=')
            && !matches!(k, "PWD" | "SHLVL" | "_" | "OLDPWD" | "PATH")
        {
            vars.insert(k.to_string(), v.to_string());
        }
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(env: &TestEnv, name: &str, content: &str) -> std::path::PathBuf {
    let dir = env.home.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(".awsprofile"), content).expect("write .awsprofile");
    dir.canonicalize().expect("canonical")
}

fn allow(env: &TestEnv, dir: &Path) {
    let o = env
        .awsenv()
        .args(["allow"])
        .current_dir(dir)
        .output()
        .expect("allow");
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn untrusted_notice_is_said_once_then_allow_takes_effect() {
    if !common::require_tool("bash") {
        return;
    }
    let env = TestEnv::new();
    env.write_aws_config("[profile p]\nregion = eu-west-1\n");
    let dir = repo(&env, "untrusted", "p\n");
    let mut vars = BTreeMap::new();
    let o = export(&env, &dir, &vars);
    assert!(
        err(&o).contains("is not allowed; run 'awsenv allow'"),
        "{}",
        err(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("AWS_ACCESS_KEY_ID"));
    apply(&mut vars, &o);
    let again = export(&env, &dir, &vars);
    assert_eq!(err(&again), "", "said once, not at every prompt");
    assert!(again.stdout.is_empty());
    // allow changes the fingerprint: the next prompt tries (and, without keys, fails once).
    allow(&env, &dir);
    let o = export(&env, &dir, &vars);
    assert!(
        err(&o).contains("no keys stored for profile p") && err(&o).contains("awsenv reload"),
        "{}",
        err(&o)
    );
    apply(&mut vars, &o);
    assert_eq!(
        err(&export(&env, &dir, &vars)),
        "",
        "a failure is not retried at every prompt"
    );
    // reload forces one retry.
    assert!(
        env.awsenv()
            .arg("reload")
            .output()
            .expect("reload")
            .status
            .success()
    );
    assert!(
        err(&export(&env, &dir, &vars)).contains("no keys stored"),
        "reload retries"
    );
}

#[test]
fn malformed_file_and_unknown_profile_are_one_line_each() {
    let env = TestEnv::new();
    env.write_aws_config("[profile real]\n");
    let bad = repo(&env, "bad", "profile = [1, 2]\n");
    // `allow` refuses a file it cannot parse; trust it by hand to see the hook's message.
    let o = env
        .awsenv()
        .args(["allow"])
        .current_dir(&bad)
        .output()
        .expect("allow");
    assert!(
        !o.status.success() && err(&o).contains("is not a profile name"),
        "{}",
        err(&o)
    );
    let unknown = repo(&env, "unknown", "reall\n");
    allow(&env, &unknown);
    let o = export(&env, &unknown, &BTreeMap::new());
    let e = err(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("unknown profile") && e.contains("real"), "{e}");
    assert!(o.status.success(), "the hook never fails the prompt");
}

#[test]
fn manual_use_wins_and_says_so_once() {
    let env = TestEnv::new();
    env.write_aws_config("[profile p]\n");
    let dir = repo(&env, "manual", "p\n");
    allow(&env, &dir);
    let mut vars: BTreeMap<String, String> = [
        ("AWSENV_SOURCE", "manual"),
        ("AWSENV_PROFILE", "other"),
        ("AWS_VAULT", "other"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let o = export(&env, &dir, &vars);
    assert!(
        err(&o).contains("is ignored while 'other' chosen with 'awsenv use' is active"),
        "{}",
        err(&o)
    );
    apply(&mut vars, &o);
    assert_eq!(
        vars.get("AWSENV_PROFILE").map(String::as_str),
        Some("other")
    );
    let again = export(&env, &dir, &vars);
    assert_eq!(err(&again), "");
    assert!(again.stdout.is_empty());
}
