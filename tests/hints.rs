//! Hints that fit (issue 8, item 7) and paths that are not UTF-8 (issue 7, item 10): every
//! message says what actually helps, and a directory whose name is not UTF-8 activates and
//! refreshes like any other.

mod common;
mod pty;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::TestEnv;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(env: &TestEnv, name: &OsStr, content: &str) -> PathBuf {
    let dir = env.home.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(".awsprofile"), content).expect("write .awsprofile");
    dir
}

fn awsenv_in(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let mut c = env.awsenv();
    c.args(args).current_dir(dir);
    common::detach(&mut c).output().expect("run awsenv")
}

#[test]
fn a_file_that_cannot_work_says_what_to_edit_trusted_or_not() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    let bad = repo(&env, OsStr::new("bad"), "profile = [1, 2]\n");
    let o = awsenv_in(&env, &bad, &["export", "bash"]);
    let e = err(&o);
    assert!(
        e.contains("is not a profile name") && e.contains("edit it"),
        "{e}"
    );
    assert!(
        !e.contains("awsenv allow"),
        "an invalid file is not a trust problem: {e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    // A valid file naming a profile the config lacks: allow warns at once …
    let typo = repo(&env, OsStr::new("typo"), "calvn\n");
    let o = awsenv_in(&env, &typo, &["allow"]);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("allowed") && e.contains("warning") && e.contains("did you mean calvin?"),
        "{e}"
    );
    // … and the hook says what to edit, without a retry hint that cannot help.
    let o = awsenv_in(&env, &typo, &["export", "bash"]);
    let e = err(&o);
    assert!(
        e.contains("names profile \"calvn\"") && e.contains("edit the file or add [profile calvn]"),
        "{e}"
    );
    assert!(!e.contains("reload") && !e.contains("?;"), "{e}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("AWSENV_WATCH"),
        "the failure is recorded"
    );
}

#[test]
fn did_you_mean_only_suggests_close_names() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\n[profile hobbes]\n[profile prod]\n[profile dev]\n");
    for far in ["staging", "devops-admin", "production-eu"] {
        let o = awsenv_in(&env, &env.home, &["use", far, "--shell", "bash"]);
        let e = err(&o);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            !e.contains("did you mean"),
            "nothing is close to {far}: {e}"
        );
    }
    let o = awsenv_in(&env, &env.home, &["use", "hobbs", "--shell", "bash"]);
    assert!(err(&o).contains("did you mean hobbes?"), "{}", err(&o));
}

#[test]
fn on_a_terminal_use_unset_and_export_print_hints_and_use_checks_the_profile() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\n");
    let on_tty = |args: &[&str]| {
        let mut c = env.awsenv();
        c.args(args);
        let p = pty::Pty::spawn_interactive(c);
        let (out, screen) = p.finish(Duration::from_secs(20));
        (out.status.code(), screen)
    };
    let (code, screen) = on_tty(&["use", "calvn"]);
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("did you mean calvin?"), "{screen}");
    let (code, screen) = on_tty(&["use", "calvin"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("eval \"$(awsenv use calvin)\""), "{screen}");
    for args in [&["unset"][..], &["export", "bash"][..]] {
        let (code, screen) = on_tty(args);
        assert_eq!(code, Some(0), "{args:?}: {screen}");
        assert!(
            !screen.contains("export AWS") && !screen.contains("unset AWS"),
            "{args:?} printed statements: {screen}"
        );
        assert!(screen.contains("hook"), "{args:?}: {screen}");
    }
}

#[test]
fn a_directory_whose_name_is_not_utf8_activates_and_refreshes() {
    if !common::require_tools(&["bash", "moto_server"]) {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.set_var("AWSENV_REFRESH_WINDOW", "899");
    env.write_aws_config(
        "[profile q]\nregion = us-east-1\nrole_arn = arn:aws:iam::222222222222:role/r\nduration_seconds = 900\n",
    );
    env.add_keys("q", "AKIAAWSENVTESTKEY007", "s");
    let name = OsStr::from_bytes(b"caf\xe9 \xff repo");
    let dir = repo(&env, name, "q\n");
    let o = awsenv_in(&env, &dir, &["allow"]);
    assert!(o.status.success(), "{}", err(&o));
    let script = r#"
        cd -- "$1"
        eval "$(awsenv export bash)"
        [ "$AWSENV_SOURCE" = "$PWD/.awsprofile" ] && echo source-exact
        first=$AWS_ACCESS_KEY_ID
        sleep 1.2
        eval "$(awsenv export bash)"
        [ -n "$first" ] && [ "$AWS_ACCESS_KEY_ID" != "$first" ] && echo refreshed
    "#;
    let mut c = env.command("bash");
    c.args(["--noprofile", "--norc", "-c", script, "bash"])
        .arg(&dir)
        .stdin(Stdio::null());
    let o = common::detach(&mut c).output().expect("bash");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "source-exact\nrefreshed\n",
        "{}",
        err(&o)
    );
}

#[test]
fn the_mfa_prompt_takes_codes_as_apps_show_them_and_asks_again_on_a_wrong_length() {
    if !common::require_tool("moto_server") {
        return;
    }
    let moto = common::Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    let serial = "arn:aws:iam::111111111111:mfa/spaced";
    env.write_aws_config(&format!(
        "[profile q]\nregion = us-east-1\nmfa_serial = {serial}\n"
    ));
    env.add_keys("q", "AKIAAWSENVTESTKEY008", "s");
    let mut c = env.awsenv();
    c.args(["use", "q", "--shell", "bash"]);
    let mut p = pty::Pty::spawn(c);
    assert!(
        p.wait_for("Enter MFA code", Duration::from_secs(20)),
        "{}",
        p.screen()
    );
    p.send("12 34\r");
    assert!(
        p.wait_for("That is not a 6-digit code", Duration::from_secs(10)),
        "{}",
        p.screen()
    );
    p.send("123 456\r");
    let (out, screen) = p.finish(Duration::from_secs(20));
    assert!(out.status.success(), "{screen}\n{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("AWS_SESSION_TOKEN"));
    let calls = moto.requests("GetSessionToken");
    assert_eq!(calls.len(), 1, "one call, after the good code");
    assert_eq!(calls[0].param("TokenCode"), Some("123456"));
}
