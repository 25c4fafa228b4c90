//! The no-fork hook (issue 8, item 9): in bash, zsh and fish a prompt where nothing changed
//! starts no process at all — the hook compares the key `awsenv export` handed over with builtins — and
//! every change the binary would notice still reaches it: the refresh time, `awsenv reload`, an
//! edit of the `.awsprofile` within the same second, `cd`.
//!
//! Each shell runs the real hook function (the one its prompt runs) under `strace -f -e
//! trace=execve`; `/bin/true MARKn` lines cut the trace into segments, and the test counts the
//! executions of awsenv in each.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Moto, TestEnv};

/// What ran: awsenv executions per segment (segment n lies between MARKn and MARKn+1).
fn awsenv_execs(trace: &str, segments: usize) -> Vec<usize> {
    let mut counts = vec![0; segments + 1];
    let mut seg = 0;
    for line in trace.lines() {
        if !line.contains("execve(") {
            continue;
        }
        if let Some(i) = line.find("\"MARK") {
            let n: String = line[i + 5..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            seg = n.parse().expect("marker number");
            continue;
        }
        if (line.contains("/awsenv\"") || line.contains("/awsenv-engine\""))
            && !line.contains("ENOENT")
        {
            counts[seg.min(segments)] += 1;
        }
    }
    counts
}

fn world() -> Option<(TestEnv, Moto, std::path::PathBuf)> {
    if !common::require_tools(&["strace", "bash", "zsh", "fish", "moto_server"]) {
        return None;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    // Sessions whose refresh time is a few seconds away: 15 min, refreshed 897 s early.
    env.set_var("AWSENV_SESSION_TTL", "15m");
    env.set_var("AWSENV_ROLE_TTL", "15m");
    env.set_var("AWSENV_REFRESH_WINDOW", "897s");
    env.write_aws_config("[profile plain]\nregion = eu-west-1\n");
    env.add_keys(
        "plain",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir repo");
    std::fs::write(repo.join(".awsprofile"), "plain\n").expect("write .awsprofile");
    let o = common::detach(env.awsenv().arg("allow").arg(&repo))
        .output()
        .expect("awsenv allow");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The key is handed out only for stamps at least three whole seconds old (`SETTLED` in
    // src/fastpath.rs), and `allow` was the last change: a stamp of second S is settled from
    // second S + 3 on, which 3 s after the change always is. (2.3 s, as before, let the first
    // prompts of the loop fall short by a second about one run in six.)
    std::thread::sleep(Duration::from_millis(3100));
    Some((env, moto, repo))
}

fn run_traced(env: &TestEnv, dir: &Path, shell: &str, script: &str) -> (String, String) {
    let trace = env.root().join(format!("trace-{shell}"));
    let strace = common::find_tool("strace").expect("strace");
    let mut cmd = env.command(strace);
    cmd.args(["-f", "-qq", "-s", "256", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg(common::find_tool(shell).expect("shell"));
    match shell {
        "zsh" => {
            cmd.arg("-f");
        }
        "bash" => {
            cmd.args(["--norc", "--noprofile"]);
        }
        _ => {}
    }
    cmd.arg("-c").arg(script).current_dir(dir);
    let out = common::detach(&mut cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the shell under strace");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{shell}: {stderr}");
    let trace = std::fs::read_to_string(&trace).expect("read the trace");
    (
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr,
        trace,
    )
}

/// The shared script: `H` is the hook function, `loop10` ten prompts.
fn script(hook_install: &str, h: &str, loop10: &str) -> String {
    format!(
        "{hook_install}\n\
         cd repo\n{h}\n{h}\n\
         /bin/true MARK1\n{loop10}\n/bin/true MARK2\n\
         echo \"active=$AWS_VAULT\"\n\
         sleep 4\n/bin/true MARK3\n{h}\n/bin/true MARK4\n\
         {h}\n{h}\nawsenv reload\n/bin/true MARK5\n{h}\n/bin/true MARK6\n\
         printf 'other\\n' > .awsprofile\n/bin/true MARK7\n{h}\n/bin/true MARK8\n"
    )
}

fn check(shell: &str, out: &str, trace: &str) {
    let c = awsenv_execs(trace, 8);
    assert!(out.contains("active=plain"), "{shell}: activated: {out}");
    assert_eq!(
        c[1], 0,
        "{shell}: ten prompts with nothing changed start no awsenv (counts per segment {c:?})"
    );
    assert!(
        c[3] >= 1,
        "{shell}: the refresh time reached runs awsenv ({c:?})"
    );
    assert!(c[5] >= 1, "{shell}: after awsenv reload it runs ({c:?})");
    assert!(
        c[7] >= 1,
        "{shell}: an edit of the same size in the same second runs it ({c:?})"
    );
    assert!(
        out.contains("has changed since you allowed it"),
        "{shell}: the edited file is not trusted any more: {out}"
    );
}

/// One shell: its hook line, the hook function its prompt runs, and ten prompts.
fn case(shell: &str, install: &str, h: &str, loop10: &str) {
    let Some((env, _moto, _repo)) = world() else {
        return;
    };
    let (out, trace) = run_traced(&env, &env.home, shell, &script(install, h, loop10));
    check(shell, &out, &trace);
}

#[test]
fn bash_prompts_with_nothing_changed_start_no_process_and_changes_still_reach_awsenv() {
    case(
        "bash",
        "eval \"$(awsenv hook bash)\"",
        "_awsenv_hook",
        "for i in 1 2 3 4 5 6 7 8 9 10; do _awsenv_hook; done",
    );
}

#[test]
fn zsh_prompts_with_nothing_changed_start_no_process_and_changes_still_reach_awsenv() {
    case(
        "zsh",
        "eval \"$(awsenv hook zsh)\"",
        "_awsenv_hook",
        "repeat 10 _awsenv_hook",
    );
}

#[test]
fn fish_prompts_with_nothing_changed_start_no_process_and_changes_still_reach_awsenv() {
    case(
        "fish",
        "awsenv hook fish | source",
        "__awsenv_export_eval",
        "for i in 1 2 3 4 5 6 7 8 9 10; __awsenv_export_eval; end",
    );
}

#[test]
fn a_key_in_the_environment_is_not_trusted() {
    // A key can only come from awsenv's own output in this shell: one inherited from the
    // environment (here: all of it, claiming nothing changed) is dropped when the hook loads.
    let Some((env, _moto, repo)) = world() else {
        return;
    };
    let mut cmd = env.command(common::find_tool("zsh").expect("zsh"));
    cmd.args([
        "-fc",
        "eval \"$(awsenv hook zsh)\"; cd repo; print -r -- \"key=${__awsenv_fk_pwd-none}\"",
    ])
    .env("__awsenv_fk_pwd", &repo)
    .env("__awsenv_fk_until", "a[$(touch pwned)]")
    .current_dir(&env.home);
    let out = common::detach(&mut cmd).output().expect("zsh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains(&format!("key={}", repo.display())),
        "inherited key dropped: {text}"
    );
    assert!(!env.home.join("pwned").exists() && !repo.join("pwned").exists());
}

/// The working directory, two levels below the repository's `.awsprofile`, is moved out of the
/// repository while the shell sits in it (`repo/a/b`, so the stamped `repo` does not change): the next prompt deactivates, as `awsenv export` does
/// without the fast path (issue 17), although `$PWD` is still the same string.
fn moved_out(shell: &str, install: &str, h: &str, show: &str) {
    let Some((env, _moto, repo)) = world() else {
        return;
    };
    std::fs::create_dir_all(repo.join("a/b")).expect("mkdir repo/a/b");
    // Creating a/ changed the repository directory's stamp: let it settle again.
    std::thread::sleep(Duration::from_millis(3100));
    let away = env.home.join("elsewhere");
    let script = format!(
        "{install}\ncd repo/a/b\n{h}\n{h}\n{show}\n\
         mv {a} {away}\n{h}\n{show}\n",
        a = repo.join("a/b").display(),
        away = away.display()
    );
    let mut cmd = env.command(common::find_tool(shell).expect("shell"));
    match shell {
        "zsh" => {
            cmd.arg("-f");
        }
        "bash" => {
            cmd.args(["--norc", "--noprofile"]);
        }
        _ => {}
    }
    cmd.arg("-c").arg(&script).current_dir(&env.home);
    let out = common::detach(&mut cmd).output().expect("run the shell");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("vault=")).collect();
    assert_eq!(
        lines.len(),
        2,
        "{shell}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines[0].starts_with("vault=plain key=/"),
        "{shell}: active with a key before the move: {text}"
    );
    assert!(
        lines[1].starts_with("vault= "),
        "{shell}: deactivated after the move: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bash_deactivates_when_the_working_directory_is_moved_out_of_the_repository() {
    moved_out(
        "bash",
        "eval \"$(awsenv hook bash)\"",
        "_awsenv_hook",
        "echo \"vault=${AWS_VAULT-} key=${__awsenv_fk_pwd-}\"",
    );
}

#[test]
fn zsh_deactivates_when_the_working_directory_is_moved_out_of_the_repository() {
    moved_out(
        "zsh",
        "eval \"$(awsenv hook zsh)\"",
        "_awsenv_hook",
        "echo \"vault=${AWS_VAULT-} key=${__awsenv_fk_pwd-}\"",
    );
}

#[test]
fn fish_deactivates_when_the_working_directory_is_moved_out_of_the_repository() {
    moved_out(
        "fish",
        "awsenv hook fish | source",
        "__awsenv_export_eval",
        "echo \"vault=$AWS_VAULT key=$__awsenv_fk_pwd\"",
    );
}
