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

/// The state directory is a link into another user's directory: that user could re-date the
/// bash fast path's reference file and so hide an `awsenv deny` from the hook. awsenv refuses
/// such a directory (one line naming it); whatever it did before, after the deny the profile is
/// not active.
#[test]
fn a_state_directory_linked_into_another_users_directory_cannot_hide_a_deny_from_bash() {
    if !common::require_tools(&["bash", "moto_server"]) {
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
    // Mallory's directory (reachable: the test's root is 0700, so open it up to mallory).
    fs::set_permissions(env.root(), fs::Permissions::from_mode(0o711)).expect("chmod root");
    let theirs = env.root().join("mallory");
    fs::create_dir(&theirs).expect("mkdir");
    std::os::unix::fs::chown(&theirs, Some(mallory.uid), None).expect("chown");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).expect("chmod");
    symlink(&theirs, env.state_home.join("awsenv")).expect("link the state directory");
    let repo = env.home.join("repo");
    fs::create_dir_all(&repo).expect("mkdir repo");
    fs::write(repo.join(".awsprofile"), "plain\n").expect("write .awsprofile");
    let o = run(env.awsenv().arg("allow").arg(&repo));
    assert!(o.status.success(), "allow: {}", stderr(&o));
    std::thread::sleep(Duration::from_millis(3100));
    // Mallory, once the key is out: every reference file in their directory re-dated a day
    // ahead (replaced by one of their own: the directory is theirs).
    let redate = format!(
        "cd {} && for f in ref-*; do [ -e \"$f\" ] || continue; rm -f \"$f\"; touch -d @$(( $(date +%s) + 86400 )) \"$f\"; done",
        theirs.display()
    );
    fs::write(env.root().join("redate.sh"), &redate).expect("write the script");
    fs::set_permissions(
        env.root().join("redate.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let script = format!(
        "eval \"$(awsenv hook bash)\"\ncd repo\n_awsenv_hook\n_awsenv_hook\n\
         echo \"before=${{AWS_VAULT-}}\"\n\
         runuser -u {user} -- sh {root}/redate.sh\n\
         sleep 1\nawsenv deny {repo}\n_awsenv_hook\n\
         echo \"after=${{AWS_VAULT-}}\"\n",
        user = mallory.name,
        root = env.root().display(),
        repo = repo.display()
    );
    let mut cmd = env.command(common::find_tool("bash").expect("bash"));
    cmd.args(["--norc", "--noprofile", "-c", &script])
        .current_dir(&env.home);
    let o = run(&mut cmd);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    // awsenv now refuses the linked state directory outright (nothing activates, and it says
    // why); what must never happen is the profile staying active after the deny.
    assert!(
        out.contains("after=\n") || out.ends_with("after="),
        "the deny reached the hook: {out}{err}"
    );
    assert!(
        out.contains("before=plain") || err.contains("symbolic link"),
        "either activated, or refused naming the link: {out}{err}"
    );
}
