//! Files awsenv creates in its own directories (issue 17): the state directory's locks and
//! reload marker, the unlock agent's lock under the runtime directory, the bash fast path's
//! reference files. Each attack plants a link (or a directory of another user) where awsenv
//! would write, and checks that the file behind it is untouched and the command says what is
//! wrong in one line. The attack that needs another user makes a throwaway one (root only;
//! skipped outside CI when not root).

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Moto, SecondUser, TestEnv};
use sha2::{Digest, Sha256};

fn run(cmd: &mut std::process::Command) -> Output {
    common::detach(cmd).output().expect("run awsenv")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file of root's (the test user's) with content, as a victim behind a planted link.
fn victim(env: &TestEnv) -> PathBuf {
    let v = env.root().join("victim");
    fs::write(&v, "precious\n").expect("write the victim");
    v
}

fn assert_untouched(v: &Path) {
    assert_eq!(
        fs::read_to_string(v).expect("read the victim"),
        "precious\n",
        "the file behind the planted link is untouched"
    );
}

fn assert_one_line(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "fails: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} in: {err}");
    }
}

#[test]
fn reload_never_overwrites_a_file_behind_a_planted_reload_link() {
    let env = TestEnv::new();
    let v = victim(&env);
    let state = env.state_home.join("awsenv");
    fs::create_dir_all(&state).expect("mkdir state");
    symlink(&v, state.join("reload")).expect("plant the link");
    let o = run(env.awsenv().arg("reload"));
    assert_untouched(&v);
    assert_one_line(&o, &["reload", "symbolic link"]);
}

#[test]
fn use_never_truncates_a_file_behind_a_planted_lock_link() {
    if !common::require_tool("moto_server") {
        return;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile plain]\nregion = eu-west-1\n");
    env.add_keys(
        "plain",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let o = run(env.awsenv().args(["use", "plain", "--shell", "bash"]));
    assert!(o.status.success(), "use: {}", stderr(&o));
    let o = run(env.awsenv().arg("clear"));
    assert!(o.status.success(), "clear: {}", stderr(&o));
    // Every lock `use` takes, replaced by a link to the victim.
    let v = victim(&env);
    let locks = env.state_home.join("awsenv/locks");
    let mut planted = 0;
    for e in fs::read_dir(&locks).expect("ls locks").flatten() {
        fs::remove_file(e.path()).expect("rm lock");
        symlink(&v, e.path()).expect("plant the link");
        planted += 1;
    }
    assert!(planted > 0, "use took a lock");
    let o = run(env.awsenv().args(["use", "plain", "--shell", "bash"]));
    assert_untouched(&v);
    assert_one_line(&o, &["lock", "symbolic link"]);
}

#[test]
fn unlock_never_truncates_a_file_behind_a_planted_agent_lock_link() {
    let mut env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    env.add_keys(
        "calvin",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let pass = env.passphrase().to_string();
    env.remove_var("AWSENV_FILE_PASSPHRASE");
    // A runtime directory's awsenv/ that was open to others once, with a link planted then,
    // named as the agent's lock for this store.
    let store = env.data_home.join("awsenv/store");
    let id: String = Sha256::digest(store.as_os_str().as_encoded_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = env.runtime_dir.join("awsenv");
    fs::create_dir(&dir).expect("mkdir run/awsenv");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod 777");
    let v = victim(&env);
    symlink(&v, dir.join(format!("agent-{id}.lock"))).expect("plant the link");
    let mut c = env.awsenv();
    c.args(["unlock", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = common::detach(&mut c)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn unlock");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(format!("{pass}\n").as_bytes());
    }
    let o = child.wait_with_output().expect("wait unlock");
    // An agent that did start is stopped again.
    let _ = run(env.awsenv().arg("lock"));
    assert_untouched(&v);
    assert_one_line(&o, &["awsenv", "writable by others"]);
}

/// A bash shell activates a repository, then `mallory` runs `attack` (a shell script, as
/// that user), then `awsenv deny`: at the next prompt the profile must not be active. The
/// attacks re-date bash's reference file, which would make the hook skip awsenv.
fn deny_reaches_bash_despite(
    place: impl FnOnce(&mut TestEnv, &SecondUser),
    attack: impl FnOnce(&TestEnv) -> String,
) -> Option<(String, String)> {
    if !common::require_tools(&["bash", "moto_server"]) {
        return None;
    }
    let mallory = SecondUser::create()?;
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile plain]\nregion = eu-west-1\n");
    env.add_keys(
        "plain",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    // Mallory must reach their directory below the test's root (0700).
    fs::set_permissions(env.root(), fs::Permissions::from_mode(0o711)).expect("chmod root");
    place(&mut env, &mallory);
    let repo = env.home.join("repo");
    fs::create_dir_all(&repo).expect("mkdir repo");
    fs::write(repo.join(".awsprofile"), "plain\n").expect("write .awsprofile");
    let o = run(env.awsenv().arg("allow").arg(&repo));
    assert!(o.status.success(), "allow: {}", stderr(&o));
    std::thread::sleep(Duration::from_millis(3100));
    let attack_sh = env.root().join("attack.sh");
    fs::write(&attack_sh, attack(&env)).expect("write the script");
    fs::set_permissions(&attack_sh, fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = format!(
        "eval \"$(awsenv hook bash)\"\ncd repo\n_awsenv_hook\n_awsenv_hook\n\
         echo \"before=${{AWS_VAULT-}}\"\n\
         runuser -u {user} -- sh {attack}\n\
         sleep 1\nawsenv deny {repo}\n_awsenv_hook\n\
         echo \"after=${{AWS_VAULT-}}\"\n",
        user = mallory.name,
        attack = attack_sh.display(),
        repo = repo.display()
    );
    let mut cmd = env.command(common::find_tool("bash").expect("bash"));
    cmd.args(["--norc", "--noprofile", "-c", &script])
        .current_dir(&env.home);
    let o = run(&mut cmd);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = stderr(&o);
    assert!(
        out.contains("after=\n") || out.ends_with("after="),
        "the deny reached the hook: {out}{err}"
    );
    Some((out, err))
}

/// Re-dates (as the directory's owner) every `ref-*` in `dir` a day ahead, and makes the ones
/// of the last 100 seconds in case `dir` is new.
fn redate(dir: &Path) -> String {
    format!(
        "cd {} && now=$(date +%s) && for t in $(seq $((now - 100)) $now); do rm -f ref-$t; touch -d @$((now + 86400)) ref-$t; done",
        dir.display()
    )
}

/// The state directory is a link into another user's directory: that user could re-date the
/// bash fast path's reference file and so hide an `awsenv deny` from the hook. awsenv refuses
/// such a directory (one line naming it); whatever it did before, after the deny the profile is
/// not active.
#[test]
fn a_state_directory_linked_into_another_users_directory_cannot_hide_a_deny_from_bash() {
    let mut theirs = PathBuf::new();
    let Some((out, err)) = deny_reaches_bash_despite(
        |env, mallory| {
            theirs = env.root().join("mallory");
            fs::create_dir(&theirs).expect("mkdir");
            std::os::unix::fs::chown(&theirs, Some(mallory.uid), None).expect("chown");
            fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).expect("chmod");
            symlink(&theirs, env.state_home.join("awsenv")).expect("link the state directory");
        },
        |env| redate(&env.root().join("mallory")),
    ) else {
        return;
    };
    // awsenv refuses the linked state directory outright (nothing activates, and it says why).
    assert!(
        out.contains("before=plain") || err.contains("symbolic link"),
        "either activated, or refused naming the link: {out}{err}"
    );
}

/// `XDG_STATE_HOME` is another user's directory: awsenv's own `awsenv/` in it is the user's,
/// but that user can rename it away after the key is out and put a directory of their own with
/// a re-dated reference file in its place. bash gets no key then (its path would not be private).
#[test]
fn a_state_directory_inside_another_users_directory_cannot_hide_a_deny_from_bash() {
    let Some((out, err)) = deny_reaches_bash_despite(
        |env, mallory| {
            let theirs = env.root().join("mallory-state");
            fs::create_dir(&theirs).expect("mkdir");
            std::os::unix::fs::chown(&theirs, Some(mallory.uid), None).expect("chown");
            fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).expect("chmod");
            env.set_var("XDG_STATE_HOME", &theirs.to_string_lossy());
        },
        |env| {
            let state = env.root().join("mallory-state");
            format!(
                "cd {} && mv awsenv awsenv.old && mkdir awsenv && {}",
                state.display(),
                redate(&state.join("awsenv"))
            )
        },
    ) else {
        return;
    };
    assert!(out.contains("before=plain"), "activated: {out}{err}");
}

/// The trust directory (`$XDG_DATA_HOME/awsenv/allow`) is a link into another user's
/// directory, where that user put an entry for their own `.awsprofile`: entering their
/// directory must not activate anything (the entry was never the user's `allow`).
#[test]
fn a_trust_directory_linked_into_another_users_directory_trusts_nothing() {
    if !common::require_tool("moto_server") {
        return;
    }
    let Some(mallory) = SecondUser::create() else {
        return;
    };
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config("[profile plain]\nregion = eu-west-1\n");
    env.add_keys(
        "plain",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let repo = env.root().join("shared/project");
    fs::create_dir_all(&repo).expect("mkdir");
    fs::write(repo.join(".awsprofile"), "plain\n").expect("write .awsprofile");
    // The entry an `allow` would make, then handed to mallory with the directory it is in.
    let o = run(env.awsenv().arg("allow").arg(&repo));
    assert!(o.status.success(), "allow: {}", stderr(&o));
    let allow = env.data_home.join("awsenv/allow");
    let theirs = env.root().join("mallory-allow");
    fs::rename(&allow, &theirs).expect("move the trust directory");
    for p in fs::read_dir(&theirs)
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .chain([theirs.clone()])
    {
        std::os::unix::fs::chown(&p, Some(mallory.uid), None).expect("chown");
    }
    symlink(&theirs, &allow).expect("link the trust directory");
    let mut c = env.awsenv();
    c.args(["export", "bash"]).current_dir(&repo);
    let o = run(&mut c);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("AWSENV_PROFILE") && !out.contains("plain"),
        "nothing activated: {out}{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("is not allowed"), "{}", stderr(&o));
}
