//! The secret store under parallel use and damage (issue 7 items 3, 9, 11): the file store
//! never loses keys, says what is wrong when it cannot be read, drops damaged cached sessions
//! and keeps damaged keys; the keyring backend drops damaged cached sessions too; the file
//! store's passphrase reaches no child process; `add` refuses temporary credentials.

mod common;
mod pty;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Moto, TestEnv, require_tools};

const KEY_ID: &str = "AKIAAWSENVSTORETEST1";
const SECRET: &str = "storeSecretKeyExample/0123456789abcdefXY";

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws"]).then(Moto::start))
        .as_ref()
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

fn awsenv(env: &TestEnv, args: &[&str]) -> Output {
    let mut c = env.awsenv();
    c.args(args);
    run(c)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "failed: {}", stderr(o));
}

/// Exit 1, empty stdout, one line on stderr that contains every needle.
fn assert_one_line_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout must be empty on failure");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn store_dir(env: &TestEnv) -> PathBuf {
    env.data_home.join("awsenv/store")
}

/// The store's entry files whose name starts with `prefix` (`k-`, `s-`).
fn entries(env: &TestEnv, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(store_dir(env))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.starts_with(prefix) && n.ends_with(".age")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every entry file of the store, whatever its layout (all but `identity.age`).
fn all_entries(env: &TestEnv) -> Vec<PathBuf> {
    entries(env, "")
        .into_iter()
        .filter(|p| !p.ends_with("identity.age"))
        .collect()
}

fn truncate_half(path: &Path) {
    let bytes = fs::read(path).expect("read entry");
    fs::write(path, &bytes[..bytes.len() / 2]).expect("truncate entry");
}

/// `use PROFILE --no-session` for a profile without a role: the stored keys themselves.
fn stored_keys_of(env: &TestEnv, profile: &str) -> String {
    let o = awsenv(env, &["use", profile, "--no-session", "--shell", "bash"]);
    assert_ok(&o);
    stdout(&o)
}

#[test]
fn ten_parallel_adds_on_a_fresh_store_lose_no_key() {
    let env = TestEnv::new();
    let config: String = (1..=10)
        .map(|i| format!("[profile k{i}]\nregion = us-east-1\n\n"))
        .collect();
    env.write_aws_config(&config);
    let id = |round: usize, i: usize| format!("AKIAPARALLEL{round}K{i:03}");
    let secret = |round: usize, i: usize| format!("parallel-secret-{round}-{i}");
    for round in 0..3 {
        let children: Vec<_> = (1..=10)
            .map(|i| {
                let mut c = env.awsenv();
                c.args(["add", &format!("k{i}"), "--env", "--force"])
                    .env("AWS_ACCESS_KEY_ID", id(round, i))
                    .env("AWS_SECRET_ACCESS_KEY", secret(round, i))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                common::detach(&mut c).spawn().expect("spawn add")
            })
            .collect();
        for c in children {
            assert_ok(&c.wait_with_output().expect("wait add"));
        }
    }
    for i in 1..=10 {
        let keys = stored_keys_of(&env, &format!("k{i}"));
        assert!(
            keys.contains(&id(2, i)) && keys.contains(&secret(2, i)),
            "k{i} holds the last keys written: {keys}"
        );
    }
    let list = awsenv(&env, &["list"]);
    assert_ok(&list);
    assert_eq!(
        stdout(&list).matches("stored").count(),
        10,
        "{}",
        stdout(&list)
    );
    assert!(!stdout(&list).contains("UNREADABLE"));
    assert_eq!(all_entries(&env).len(), 10);
    // With AWSENV_FILE_PASSPHRASE no agent is started.
    assert!(!env.runtime_dir.join("awsenv").exists());
}

#[test]
fn a_missing_identity_next_to_entries_is_an_error_and_never_replaced() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n\n[profile other]\n");
    env.add_keys("plain", KEY_ID, SECRET);
    let identity = store_dir(&env).join("identity.age");
    fs::remove_file(&identity).expect("remove identity.age");
    let before = all_entries(&env);
    assert_eq!(before.len(), 1);
    let mut add = env.awsenv();
    add.args(["add", "other", "--env"])
        .env("AWS_ACCESS_KEY_ID", "AKIAOTHERKEYEXAMPLE1")
        .env("AWS_SECRET_ACCESS_KEY", "other-secret");
    for o in [
        awsenv(&env, &["list"]),
        awsenv(&env, &["use", "plain", "--no-session", "--shell", "bash"]),
        awsenv(&env, &["clear"]),
        run(add),
    ] {
        assert_one_line_failure(
            &o,
            &[
                "identity.age is missing",
                "restore identity.age from a backup",
            ],
        );
        assert!(!stderr(&o).contains("no keys stored"), "{}", stderr(&o));
    }
    assert!(!identity.exists(), "no new identity next to old entries");
    assert_eq!(all_entries(&env), before, "the entries are untouched");
}

#[test]
fn an_unreadable_store_is_an_error_not_an_empty_store() {
    let mut env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    // The store directory is not a directory.
    let not_a_dir = env.root().join("store-file");
    fs::write(&not_a_dir, "x").expect("write");
    env.set_var("AWSENV_FILE_DIR", &not_a_dir.to_string_lossy());
    for args in [
        &["list"][..],
        &["use", "plain", "--no-session", "--shell", "bash"][..],
    ] {
        let o = awsenv(&env, args);
        assert_one_line_failure(&o, &["cannot read the file store directory"]);
        assert!(!stderr(&o).contains("no keys stored"), "{}", stderr(&o));
    }
    // An identity.age that cannot be read (a directory in its place).
    env.remove_var("AWSENV_FILE_DIR");
    env.add_keys("plain", KEY_ID, SECRET);
    let identity = store_dir(&env).join("identity.age");
    fs::remove_file(&identity).expect("remove");
    fs::create_dir(&identity).expect("mkdir");
    let o = awsenv(&env, &["use", "plain", "--no-session", "--shell", "bash"]);
    assert_one_line_failure(&o, &["cannot read", "identity.age"]);
    assert!(!stderr(&o).contains("no keys stored"), "{}", stderr(&o));
}

const ROLE_CONFIG: &str = "[profile calvin]
region = us-east-2
role_arn = arn:aws:iam::222222222222:role/MARKER
mfa_serial = arn:aws:iam::111111111111:mfa/MARKER
";

fn role_env(marker: &str) -> Option<(TestEnv, &'static Moto)> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&ROLE_CONFIG.replace("MARKER", marker));
    env.add_keys("calvin", KEY_ID, SECRET);
    Some((env, moto))
}

fn calls(moto: &Moto, marker: &str, action: &str) -> usize {
    moto.requests(action)
        .into_iter()
        .filter(|r| r.params.values().any(|v| v.contains(marker)))
        .count()
}

#[test]
fn a_damaged_cached_session_is_dropped_and_fetched_again() {
    let Some((env, moto)) = role_env("damaged-cache") else {
        return;
    };
    let use_calvin = || {
        awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        )
    };
    let keys = all_entries(&env);
    assert_ok(&use_calvin());
    let sessions: Vec<PathBuf> = all_entries(&env)
        .into_iter()
        .filter(|p| !keys.contains(p))
        .collect();
    assert_eq!(sessions.len(), 2, "an MFA session and a role session");
    for s in &sessions {
        truncate_half(s);
    }
    // list shows what is unreadable instead of failing.
    let list = awsenv(&env, &["list"]);
    assert_ok(&list);
    let text = stdout(&list);
    assert_eq!(text.matches("UNREADABLE").count(), 2, "{text}");
    assert!(text.contains("a cached session") && text.contains("'awsenv clear' drops it"));
    // use drops both and fetches them again.
    let again = use_calvin();
    assert_ok(&again);
    assert!(
        stderr(&again).contains("dropped a damaged cached session"),
        "{}",
        stderr(&again)
    );
    assert_eq!(calls(moto, "damaged-cache", "GetSessionToken"), 2);
    assert_eq!(calls(moto, "damaged-cache", "AssumeRole"), 2);
    assert!(!stdout(&awsenv(&env, &["list"])).contains("UNREADABLE"));
    // clear always works, with damaged files present too.
    for s in all_entries(&env).iter().filter(|p| !keys.contains(p)) {
        truncate_half(s);
    }
    let clear = awsenv(&env, &["clear", "calvin"]);
    assert_ok(&clear);
    assert!(
        stderr(&clear).contains("Cleared 2 cached sessions (2 of them damaged)"),
        "{}",
        stderr(&clear)
    );
    assert_eq!(all_entries(&env), keys, "only the keys stay");
}

#[test]
fn a_damaged_keys_entry_is_reported_and_kept() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    env.add_keys("plain", KEY_ID, SECRET);
    let keys = all_entries(&env);
    assert_eq!(keys.len(), 1);
    let mut bytes = fs::read(&keys[0]).expect("read");
    let n = bytes.len() - 20;
    bytes[n] ^= 1;
    fs::write(&keys[0], &bytes).expect("tamper");
    assert_one_line_failure(
        &awsenv(&env, &["use", "plain", "--no-session", "--shell", "bash"]),
        &[
            "stored keys of profile plain cannot be read",
            "damaged or was tampered with",
            "awsenv add plain --force",
        ],
    );
    let list = awsenv(&env, &["list"]);
    assert_ok(&list);
    assert!(
        stdout(&list).contains("UNREADABLE") && stdout(&list).contains("stored keys, "),
        "{}",
        stdout(&list)
    );
    assert_ok(&awsenv(&env, &["clear"]));
    assert_eq!(
        fs::read(&keys[0]).expect("still there"),
        bytes,
        "kept as is"
    );
    let mut add = env.awsenv();
    add.args(["add", "plain", "--env"])
        .env("AWS_ACCESS_KEY_ID", "AKIAREPLACEMENTKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "replacement");
    assert_one_line_failure(&run(add), &["cannot be read", "--force"]);
    let mut add = env.awsenv();
    add.args(["add", "plain", "--env", "--force"])
        .env("AWS_ACCESS_KEY_ID", "AKIAREPLACEMENTKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "replacement");
    assert_ok(&run(add));
    assert!(stored_keys_of(&env, "plain").contains("AKIAREPLACEMENTKEY01"));
}

#[test]
fn stores_of_the_first_layout_stay_readable_and_move_on_write() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    env.add_keys("plain", KEY_ID, SECRET);
    let k = entries(&env, "k-").pop().expect("a keys entry");
    let name = k
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let legacy = store_dir(&env).join(name.trim_start_matches("k-"));
    fs::rename(&k, &legacy).expect("rename to the first layout");
    assert!(stored_keys_of(&env, "plain").contains(KEY_ID));
    assert!(stdout(&awsenv(&env, &["list"])).contains("stored"));
    let mut add = env.awsenv();
    add.args(["add", "plain", "--env", "--force"])
        .env("AWS_ACCESS_KEY_ID", "AKIANEWLAYOUTKEY0001")
        .env("AWS_SECRET_ACCESS_KEY", "new-layout");
    assert_ok(&run(add));
    assert!(!legacy.exists(), "rewritten under its new name");
    assert_eq!(entries(&env, "k-"), vec![k.clone()]);
    assert!(stored_keys_of(&env, "plain").contains("AKIANEWLAYOUTKEY0001"));
    // A damaged file of the first layout: listed with an unknown kind, and kept.
    fs::write(&legacy, b"age-encryption.org/v1\ngarbage").expect("write");
    let list = awsenv(&env, &["list"]);
    assert_ok(&list);
    assert!(
        stdout(&list).contains("first store layout"),
        "{}",
        stdout(&list)
    );
    assert_ok(&awsenv(&env, &["clear"]));
    assert!(legacy.exists());
}

/// Every `NAME=` line of an `env` dump that mentions the passphrase or its variable.
fn leaks(dump: &str, passphrase: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| l.contains("AWSENV_FILE_PASSPHRASE") || l.contains(passphrase))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_file_store_passphrase_reaches_no_child() {
    let Some(moto) = moto() else { return };
    let mut env = TestEnv::new();
    env.with_moto(moto);
    let dumps = env.root().join("dumps");
    fs::create_dir(&dumps).expect("mkdir");
    let d = dumps.display();
    let creds =
        r#"{"Version":1,"AccessKeyId":"AKIACREDPROCESS00001","SecretAccessKey":"cp-secret"}"#;
    env.write_aws_config(&format!(
        "[profile plain]\nregion = us-east-1\n\n\
         [profile viaprocess]\nregion = us-east-1\ncredential_process = sh -c 'env > {d}/credential_process; echo {creds:?}'\n\n\
         [profile mfa]\nregion = us-east-1\nmfa_serial = arn:aws:iam::111111111111:mfa/no-leak\nmfa_process = sh -c 'env > {d}/mfa_process; echo 123456'\n"
    ));
    // credential_process's JSON goes through sh's echo with the quotes of {creds:?}.
    env.add_keys("plain", KEY_ID, SECRET);
    env.add_keys("mfa", KEY_ID, SECRET);
    let dump = |name: &str| format!("env > {d}/{name}");
    for (name, args) in [
        (
            "exec",
            vec!["exec", "plain", "--no-session", "--", "sh", "-c"],
        ),
        (
            "exec_server",
            vec!["exec", "--server", "mfa", "--", "sh", "-c"],
        ),
        ("exec_mfa", vec!["exec", "mfa", "--", "sh", "-c"]),
        (
            "exec_process",
            vec!["exec", "viaprocess", "--no-session", "--", "sh", "-c"],
        ),
    ] {
        let mut c = env.awsenv();
        c.args(&args).arg(dump(name));
        assert_ok(&run(c));
    }
    let pass = env.passphrase().to_string();
    for name in [
        "exec",
        "exec_server",
        "exec_mfa",
        "exec_process",
        "mfa_process",
        "credential_process",
    ] {
        let text = fs::read_to_string(dumps.join(name))
            .unwrap_or_else(|e| panic!("{name} did not run: {e}"));
        assert!(
            text.contains("AWS_"),
            "{name} dumped its environment: {text}"
        );
        assert!(
            leaks(&text, &pass).is_empty(),
            "{name}: {:?}",
            leaks(&text, &pass)
        );
    }
}

#[test]
fn the_leak_check_sees_a_leak() {
    // The check above would see the variable if it reached a child.
    let env = TestEnv::new();
    let mut c = env.command("sh");
    c.args(["-c", "env"]);
    let o = run(c);
    assert!(!leaks(&stdout(&o), env.passphrase()).is_empty());
}

#[test]
fn add_env_refuses_temporary_credentials() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    let mut asia = env.awsenv();
    asia.args(["add", "plain", "--env"])
        .env("AWS_ACCESS_KEY_ID", "ASIATEMPORARYKEY0001")
        .env("AWS_SECRET_ACCESS_KEY", "temp-secret");
    assert_one_line_failure(&run(asia), &["temporary credentials", "ASIA"]);
    let mut token = env.awsenv();
    token
        .args(["add", "plain", "--env"])
        .env("AWS_ACCESS_KEY_ID", "AKIALOOKSLONGTERM001")
        .env("AWS_SECRET_ACCESS_KEY", "temp-secret")
        .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE");
    assert_one_line_failure(&run(token), &["AWS_SESSION_TOKEN", "temporary credentials"]);
    assert!(!store_dir(&env).exists(), "nothing was stored");
}

#[test]
fn add_warns_when_the_profile_never_uses_its_own_keys() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile jan-work]\nregion = eu-west-1\n\n[profile security-auditor]\nsource_profile = jan-work\nrole_arn = arn:aws:iam::123456789012:role/security-auditor\n",
    );
    let mut c = env.awsenv();
    c.args(["add", "security-auditor", "--env"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let o = run(c);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("source_profile = jan-work") && err.contains("never used"),
        "{err}"
    );
    let mut c = env.awsenv();
    c.args(["add", "jan-work", "--env"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let o = run(c);
    assert_ok(&o);
    assert!(!stderr(&o).contains("never used"), "{}", stderr(&o));
}

/// A mistyped key id or secret is said and asked again — never a silent exit that would hand
/// the secret typed ahead to the shell; three bad answers end with one line and nothing stored.
#[test]
fn interactive_add_asks_again_for_a_bad_key_id_or_secret() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    let mut c = env.awsenv();
    c.args(["add", "plain"]).stdin(Stdio::null());
    let mut p = pty::Pty::spawn_stderr_on_tty(c);
    assert!(p.wait_for("Enter Access Key ID: ", Duration::from_secs(20)));
    p.send("ASIATEMPORARYKEY0001\r");
    assert!(p.wait_for("temporary credentials", Duration::from_secs(20)));
    p.send("not-a-key\r");
    assert!(p.wait_for(
        "does not look like an AWS access key id",
        Duration::from_secs(20)
    ));
    p.send(&format!("{KEY_ID}\r"));
    assert!(p.wait_for("Enter Secret Access Key: ", Duration::from_secs(20)));
    p.send("abc\r");
    assert!(p.wait_for(
        "does not look like a secret access key (3 characters",
        Duration::from_secs(20)
    ));
    p.send(&format!("{SECRET}\r"));
    let (o, screen) = p.finish(Duration::from_secs(20));
    assert_ok(&o);
    assert!(!screen.contains(SECRET), "the secret is not echoed");
    assert!(!screen.contains("abc"), "the bad secret is not echoed");
    assert!(stored_keys_of(&env, "plain").contains(SECRET));
    // Three bad ids: one closing line, the secret prompt never shown, nothing stored.
    let mut c = env.awsenv();
    c.args(["add", "other", "--force"]).stdin(Stdio::null());
    let mut p = pty::Pty::spawn_stderr_on_tty(c);
    for i in 1..=3 {
        assert!(p.wait_for_n("Enter Access Key ID: ", i, Duration::from_secs(20)));
        p.send("nope\r");
    }
    let (o, screen) = p.finish(Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{screen}");
    assert!(screen.contains("no keys stored after 3 tries"), "{screen}");
    assert!(!screen.contains("Secret Access Key"), "{screen}");
}

/// On a new file store, an empty or mistyped passphrase is asked again: the keys typed just
/// before are kept and stored once the passphrase is chosen.
#[test]
fn a_new_store_passphrase_slip_is_asked_again_keeping_the_keys() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    let mut c = env.awsenv();
    c.args(["add", "plain"])
        .env("AWSENV_BACKEND", "file")
        .env_remove("AWSENV_FILE_PASSPHRASE")
        .stdin(Stdio::null());
    let mut p = pty::Pty::spawn_stderr_on_tty(c);
    let t = Duration::from_secs(20);
    let mut answered = (0, 0);
    // The store is created when it is first needed: answer the prompts in whatever order.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(std::time::Instant::now() < deadline, "{}", p.screen());
        if p.count("Enter Access Key ID: ") > answered.0 {
            answered.0 += 1;
            p.send(&format!("{KEY_ID}\r"));
            assert!(p.wait_for("Enter Secret Access Key: ", t));
            p.send(&format!("{SECRET}\r"));
        }
        let chosen = p.count("Choose a passphrase");
        if chosen > answered.1 {
            answered.1 += 1;
            match answered.1 {
                1 => p.send("\r"),
                2 => {
                    p.send("first-try\r");
                    assert!(p.wait_for_n("Repeat the passphrase: ", 1, t));
                    p.send("frist-try\r");
                }
                _ => {
                    p.send("third-try\r");
                    assert!(p.wait_for_n("Repeat the passphrase: ", 2, t));
                    p.send("third-try\r");
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (o, screen) = p.finish(t);
    assert_ok(&o);
    assert_eq!(answered.0, 1, "the keys were asked once: {screen}");
    assert!(
        screen.contains("the passphrase is empty; try again"),
        "{screen}"
    );
    assert!(
        screen.contains("the passphrases do not match; try again"),
        "{screen}"
    );
    assert!(screen.contains("Added keys for profile plain"), "{screen}");
}

/// The keyring entries awsenv keeps cached sessions under (`secret-tool search`).
fn keyring_sessions(env: &TestEnv, keyring: &common::KeyringSession) -> Vec<String> {
    let mut c = env.command("secret-tool");
    c.args(["search", "--all", "service", "awsenv"])
        .envs(keyring.envs());
    let o = run(c);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
        .filter(|u| u.starts_with("session/"))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Replaces the keyring entry `user` with `value` (raw bytes).
fn keyring_overwrite(env: &TestEnv, keyring: &common::KeyringSession, user: &str, value: &[u8]) {
    let mut clear = env.command("secret-tool");
    clear
        .args(["clear", "service", "awsenv", "username", user])
        .envs(keyring.envs());
    assert_ok(&run(clear));
    let mut store = env.command("secret-tool");
    store
        .args([
            "store",
            "--label=damaged",
            "service",
            "awsenv",
            "username",
            user,
        ])
        .envs(keyring.envs())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = store.spawn().expect("secret-tool store");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(value).expect("write the value");
    }
    assert_ok(&child.wait_with_output().expect("wait"));
}

#[test]
fn the_keyring_drops_damaged_cached_sessions_and_lists_the_rest() {
    let mut tools = common::KeyringSession::TOOLS.to_vec();
    tools.push("secret-tool");
    if !require_tools(&tools) {
        return;
    }
    let Some(moto) = moto() else { return };
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&ROLE_CONFIG.replace("MARKER", "keyring-damage"));
    let keyring = common::KeyringSession::start(&env);
    env.with_keyring(&keyring);
    env.remove_var("AWSENV_FILE_PASSPHRASE");
    env.add_keys("calvin", KEY_ID, SECRET);
    let use_calvin = || {
        awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        )
    };
    assert_ok(&use_calvin());
    let sessions = keyring_sessions(&env, &keyring);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    // One entry that is not a session, one that is not even UTF-8.
    keyring_overwrite(&env, &keyring, &sessions[0], b"not a session");
    keyring_overwrite(&env, &keyring, &sessions[1], b"\xff\xfe\xfd");
    let list = awsenv(&env, &["list"]);
    assert_ok(&list);
    assert_eq!(
        stdout(&list).matches("UNREADABLE").count(),
        2,
        "{}",
        stdout(&list)
    );
    assert!(stdout(&list).contains("stored"), "the keys are listed");
    let again = use_calvin();
    assert_ok(&again);
    assert_eq!(
        stderr(&again)
            .matches("dropped a damaged cached session")
            .count(),
        2,
        "{}",
        stderr(&again)
    );
    assert_eq!(calls(moto, "keyring-damage", "AssumeRole"), 2);
    assert!(!stdout(&awsenv(&env, &["list"])).contains("UNREADABLE"));
}

/// Keys in plaintext `~/.aws/credentials` are pointed to (not "run awsenv add"), and
/// `awsenv import` moves them into the store — every profile with keys when none is named —
/// reading them back; temporary keys are refused, other stored keys kept without --force.
#[test]
fn import_moves_plaintext_keys_into_the_store() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile plain]\nregion = us-east-1\n[profile temp]\nregion = us-east-1\n[profile other]\n",
    );
    std::fs::write(
        env.aws_credentials_path(),
        format!(
            "[plain]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n\n\
             [temp]\naws_access_key_id = ASIATEMPORARYKEY0001\naws_secret_access_key = tempsecret\naws_session_token = tok\n"
        ),
    )
    .expect("write credentials");
    let o = awsenv(&env, &["use", "plain", "--no-session", "--shell", "bash"]);
    assert_one_line_failure(&o, &["plaintext", "'awsenv import plain'"]);
    let o = awsenv(&env, &["import"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "temp was refused: {err}");
    assert!(err.contains("imported the keys of profile plain"), "{err}");
    assert!(
        err.contains("profile temp: its keys have an aws_session_token"),
        "{err}"
    );
    assert!(!err.contains(SECRET), "no secret in messages: {err}");
    assert!(
        err.contains("the plaintext copies of [plain] are still in"),
        "no terminal to ask on: kept, and said: {err}"
    );
    assert!(stored_keys_of(&env, "plain").contains(SECRET));
    // Again: already there.
    let o = awsenv(&env, &["import", "plain"]);
    assert_ok(&o);
    assert!(stderr(&o).contains("the same keys are already stored"));
    // Other keys stored: kept unless --force.
    let mut c = env.awsenv();
    c.args(["add", "plain", "--env", "--force"])
        .env("AWS_ACCESS_KEY_ID", "AKIAOTHERKEYEXAMPLE1")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    assert_ok(&run(c));
    let o = awsenv(&env, &["import", "plain"]);
    assert_one_line_failure(&o, &["other keys are stored", "--force"]);
    assert!(stored_keys_of(&env, "plain").contains("AKIAOTHERKEYEXAMPLE1"));
    let o = awsenv(&env, &["import", "plain", "--force", "--remove-plaintext"]);
    assert_ok(&o);
    assert!(stored_keys_of(&env, "plain").contains(KEY_ID));
    assert!(
        stderr(&o).contains("deleted the plaintext keys of [plain]"),
        "{}",
        stderr(&o)
    );
    let left = std::fs::read_to_string(env.aws_credentials_path()).expect("read credentials");
    assert!(
        !left.contains(SECRET) && !left.contains("[plain]"),
        "{left}"
    );
    assert!(
        left.contains("[temp]") && left.contains("tempsecret"),
        "others kept: {left}"
    );
    let backups: Vec<_> = std::fs::read_dir(env.aws_credentials_path().parent().expect("dir"))
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("backup"))
        .collect();
    assert!(backups.is_empty(), "no plaintext backup is left behind");
    // The stored keys serve the profile now.
    assert!(stored_keys_of(&env, "plain").contains(SECRET));
}

/// A locked keyring (the Secret Service collection locked) is said to be locked, with how to
/// unlock it — not "no OS keyring answers … use the file store", which would lead to an empty
/// store.
#[test]
fn a_locked_keyring_is_named_as_locked() {
    if !require_tools(&common::KeyringSession::TOOLS) {
        return;
    }
    let mut env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = us-east-1\n");
    let keyring = common::KeyringSession::start(&env);
    env.with_keyring(&keyring);
    env.remove_var("AWSENV_FILE_PASSPHRASE");
    env.remove_var("AWSENV_BACKEND");
    env.add_keys("calvin", KEY_ID, SECRET);
    let mut lock = env.command("dbus-send");
    lock.args([
        "--session",
        "--print-reply",
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock",
        "array:objpath:/org/freedesktop/secrets/collection/login",
    ])
    .envs(keyring.envs());
    assert_ok(&run(lock));
    let mut c = env.awsenv();
    c.args(["use", "calvin", "--no-session", "--shell", "bash"]);
    let o = common::detach(&mut c)
        .stdin(Stdio::null())
        .output()
        .expect("run awsenv");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the OS keyring is locked"), "{err}");
    assert!(!err.contains("AWSENV_BACKEND=file"), "{err}");
}
