//! The command-line interface as a newcomer meets it: each command's help shows only the
//! options it takes, and the manual page shipped in `man/awsenv.1` is the one the CLI
//! definition generates.

mod common;

use common::TestEnv;

fn help(env: &TestEnv, args: &[&str]) -> String {
    let o = env
        .awsenv()
        .args(args)
        .arg("--help")
        .output()
        .expect("run awsenv --help");
    assert!(
        o.status.success(),
        "{args:?} --help: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn each_help_shows_only_the_options_its_command_takes() {
    let env = TestEnv::new();
    for cmd in [
        &["prompt"][..],
        &["hook"],
        &["completions"],
        &["status"],
        &["reload"],
        &["allow"],
    ] {
        let h = help(&env, cmd);
        assert!(
            !h.contains("--backend"),
            "{cmd:?} --help offers --backend:\n{h}"
        );
    }
    for cmd in [
        &["use"][..],
        &["add"],
        &["list"],
        &["exec"],
        &["clear"],
        &["credential-process"],
    ] {
        let h = help(&env, cmd);
        assert!(h.contains("--backend"), "{cmd:?} opens the store:\n{h}");
    }
    let login = help(&env, &["login"]);
    assert!(
        login.contains(".awsprofile"),
        "login says where the profile comes from:\n{login}"
    );
}

#[test]
fn the_shipped_manual_page_is_the_generated_one() {
    let env = TestEnv::new();
    let o = env.awsenv().arg("man").output().expect("run awsenv man");
    assert!(o.status.success());
    let shipped = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/awsenv.1"))
        .expect("read man/awsenv.1");
    assert!(
        o.stdout == shipped,
        "man/awsenv.1 is stale: regenerate it with 'awsenv man > man/awsenv.1'"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    // One page: every command in it, the sections a man page has, and no reference to
    // per-command pages that do not exist.
    for section in [
        ".TH awsenv 1",
        ".SH COMMANDS",
        ".SS \"awsenv use",
        ".SS \"awsenv sso login",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
    ] {
        assert!(text.contains(section), "{section} missing");
    }
    assert_eq!(text.matches(".TH ").count(), 1, "one page");
    assert!(!text.contains("awsenv\\-add(1)") && !text.contains("awsenv-add(1)"));
    let help = env
        .awsenv()
        .arg("--help")
        .output()
        .expect("run awsenv --help");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("\n  man "),
        "man is listed in --help"
    );
}

/// A stdout whose reader is already gone: the write end of a pipe whose read end is closed.
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: fds[0] is ours and used nowhere else; fds[1] moves into the Stdio.
    unsafe {
        libc::close(fds[0]);
        std::process::Stdio::from(std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

/// `awsenv status | head -1` and friends: a reader that closes early ends the command quietly
/// (status 0, nothing on stderr), as any Unix filter — no panic, no "Broken pipe" line.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    for args in [
        &["status"][..],
        &["list"],
        &["man"],
        &["completions", "bash"],
        &["hook", "bash"],
        &["--help"],
        &["unset", "--shell", "bash"],
    ] {
        let o = env
            .awsenv()
            .args(args)
            .env("AWS_PROFILE", "calvin")
            .env("AWSENV_PROFILE", "calvin")
            .env("AWS_VAULT", "calvin")
            .stdin(std::process::Stdio::null())
            .stdout(closed_pipe())
            .output()
            .expect("run awsenv");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} said: {err}");
    }
}

/// `--format` with a typo names the placeholder instead of printing it literally; `hook` with no
/// shell takes the one it runs in.
#[test]
fn prompt_typos_are_named_and_hook_detects_the_shell() {
    let env = TestEnv::new();
    let o = env
        .awsenv()
        .args(["prompt", "--format", "{profil} {remaining}"])
        .env("AWSENV_PROFILE", "calvin")
        .output()
        .expect("run awsenv prompt");
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "awsenv: unknown placeholder {profil} in --format; the placeholders are {profile} {region} {remaining} {expiration}"
    );
    if !common::require_tool("bash") {
        return;
    }
    let o = env
        .command("bash")
        .args([
            "-c",
            &format!("{} hook; true", env!("CARGO_BIN_EXE_awsenv")),
        ])
        .output()
        .expect("run bash");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("# awsenv hook for bash"), "{text}");
}

/// With no profile, no `.awsprofile` and no terminal, `use`, `exec`, `login` and `rotate` give
/// the one-line error at once (never a picker waiting for keys nobody can type); nothing goes to
/// stdout.
#[test]
fn no_profile_and_no_terminal_is_the_error_at_once() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile calvin]\nregion = eu-west-1\n[profile hobbes]\nregion = us-east-2\n",
    );
    for args in [
        &["use"][..],
        &["exec", "--", "true"],
        &["login", "--stdout"],
        &["rotate"],
        &["use", "-q", "e"],
    ] {
        let start = std::time::Instant::now();
        let o = common::detach(&mut env.awsenv())
            .args(args)
            .output()
            .expect("run awsenv");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains("no profile given"), "{args:?}: {err}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{args:?} waited"
        );
    }
}

/// `-q QUERY` that exactly one profile matches takes it without showing the list, even
/// without a terminal; one that matches nothing says so.
#[test]
fn a_query_with_one_match_needs_no_list() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile calvin]\nregion = eu-west-1\nrole_arn = arn:aws:iam::222222222222:role/terraform\n\
         [profile hobbes]\nregion = us-east-2\nrole_arn = arn:aws:iam::333333333333:role/admin\n",
    );
    let o = common::detach(&mut env.awsenv())
        .args([
            "exec",
            "-q",
            "3333",
            "--",
            "sh",
            "-c",
            "echo picked=$AWS_VAULT",
        ])
        .output()
        .expect("run awsenv");
    let err = String::from_utf8_lossy(&o.stderr);
    // No keys are stored, so resolving fails, but for the picked profile, not for want of one.
    assert!(err.contains("hobbes") && !err.contains("calvin"), "{err}");
    assert!(!err.contains("no profile given"), "{err}");
    let o = common::detach(&mut env.awsenv())
        .args(["use", "-q", "zzzz"])
        .output()
        .expect("run awsenv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no profile matches \"zzzz\""), "{err}");
}
