//! The file store's unlock agent (issue 9), against the real binary: the passphrase is asked
//! once on a terminal (also inside the shell hook) and then never again; parallel commands
//! wait for the one that asks and say so; the agent forgets after its idle time, its lifetime
//! and `awsenv lock`; it serves only its own uid; a killed agent is a clear error and the next
//! command starts a new one; nothing unlocked ever reaches the disk.
//!
//! Every agent here dies with its test: its socket lives in the test's `XDG_RUNTIME_DIR`, and
//! an agent whose socket is removed (the test's directory is deleted on drop) exits within a
//! second; `AWSENV_UNLOCK_MAX` bounds it to two minutes besides.

mod common;
mod pty;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Moto, TestEnv, require_tools};
use pty::Pty;

const KEY_ID: &str = "AKIAAWSENVAGENTTEST1";
const SECRET: &str = "agentSecretKeyExample/0123456789abcdefXY";
const ASKS: &str = "Enter passphrase to unlock the file store";
const WAITS: &str = "waiting for the file-store passphrase being entered in another terminal";
const T: Duration = Duration::from_secs(30);

const CALVIN: &str = "[profile calvin]
region = us-east-2
role_arn = arn:aws:iam::222222222222:role/MARKER
mfa_serial = arn:aws:iam::111111111111:mfa/MARKER
";

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

fn assert_one_line_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout must be empty on failure");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

/// A test env whose file store exists (created with the passphrase, keys for calvin) and is
/// locked: the passphrase is no longer in the environment.
struct Locked {
    env: TestEnv,
    pass: String,
}

fn locked(config: &str) -> Locked {
    let mut env = TestEnv::new();
    env.write_aws_config(config);
    env.add_keys("calvin", KEY_ID, SECRET);
    let pass = env.passphrase().to_string();
    env.remove_var("AWSENV_FILE_PASSPHRASE");
    env.set_var("AWSENV_UNLOCK_MAX", "120");
    Locked { env, pass }
}

/// `awsenv unlock --stdin` with `pass`.
fn unlock_with(env: &TestEnv, pass: &str) -> Output {
    let mut c = env.awsenv();
    c.args(["unlock", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid only affects the child.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = c.spawn().expect("spawn unlock");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{pass}\n").as_bytes())
            .expect("write the passphrase");
    }
    child.wait_with_output().expect("wait unlock")
}

/// The running agent's pid, from `awsenv unlock` ("already unlocked (agent pid N; …)").
fn agent_pid(env: &TestEnv) -> Option<u32> {
    let o = awsenv(env, &["unlock", "--stdin"]);
    let err = stderr(&o);
    let rest = err.split("agent pid ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as i32, 0) == 0 };
    exists
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn wait_gone(pid: u32) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn socket_dir(env: &TestEnv) -> PathBuf {
    env.runtime_dir.join("awsenv")
}

fn sockets(env: &TestEnv) -> Vec<PathBuf> {
    fs::read_dir(socket_dir(env))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// Runs `args` on a terminal of its own, typing `pass` at the passphrase prompt when it comes
/// (if `pass` is given); returns the output and how often the prompt appeared.
fn on_terminal(env: &TestEnv, args: &[&str], pass: Option<&str>) -> (Output, usize) {
    let mut c = env.awsenv();
    c.args(args).stdin(Stdio::null());
    let mut p = Pty::spawn(c);
    if let Some(pass) = pass {
        assert!(p.wait_for(ASKS, T), "no prompt: {}", p.screen());
        p.send(&format!("{pass}\r"));
    }
    let (o, screen) = p.finish(T);
    (o, screen.matches(ASKS).count())
}

/// Asserts that nothing unlocked is anywhere under the test's directory: no passphrase, no
/// identity (`AGE-SECRET-KEY-…`), no long-term secret.
fn assert_nothing_unlocked_on_disk(env: &TestEnv, pass: &str) {
    let hits = env.scan_for_plaintext(&[pass, SECRET, "AGE-SECRET-KEY-"]);
    assert!(hits.is_empty(), "plaintext on disk: {hits:?}");
}

/// Kills (SIGKILL) a process on drop: a stopped agent cannot notice its socket is gone.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signalling a pid this test made.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

#[test]
fn the_first_command_asks_once_and_then_no_command_asks() {
    let Some(moto) = moto() else { return };
    let Locked { mut env, pass } = locked(&CALVIN.replace("MARKER", "agent-once"));
    env.with_moto(moto);
    let (first, asked) = on_terminal(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        Some(&pass),
    );
    assert_ok(&first);
    assert_eq!(asked, 1);
    let key_line = stdout(&first)
        .lines()
        .find(|l| l.starts_with("export AWS_ACCESS_KEY_ID="))
        .map(str::to_string)
        .expect("exports");
    for _ in 0..5 {
        let (o, asked) = on_terminal(&env, &["use", "calvin", "--shell", "bash"], None);
        assert_ok(&o);
        assert_eq!(asked, 0, "asked again");
        assert!(stdout(&o).contains(&key_line), "served from the cache");
    }
    // Without a terminal too.
    assert_ok(&awsenv(&env, &["list"]));
    // Directory 0700, socket 0600.
    assert_eq!(mode(&socket_dir(&env)), 0o700);
    let socks = sockets(&env);
    assert_eq!(socks.len(), 1, "{socks:?}");
    assert_eq!(mode(&socks[0]), 0o600);
    // The agent: locked memory left out of dumps, no passphrase in its environment.
    let pid = agent_pid(&env).expect("agent pid");
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    assert!(
        smaps
            .lines()
            .any(|l| l.starts_with("VmFlags:") && l.contains(" lo") && l.contains(" dd")),
        "a locked, no-dump mapping"
    );
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&environ).contains(&pass));
    // Nothing unlocked on disk.
    let secret = key_line.trim_start_matches("export AWS_ACCESS_KEY_ID=");
    assert!(
        env.scan_for_plaintext(&[&pass, SECRET, "AGE-SECRET-KEY-", secret])
            .is_empty()
    );
}

#[test]
fn explicit_unlock_and_lock() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-lock"));
    assert_one_line_failure(
        &awsenv(&env, &["list"]),
        &["is locked", "no terminal", "awsenv unlock"],
    );
    assert_one_line_failure(&awsenv(&env, &["unlock"]), &["no terminal", "--stdin"]);
    assert_one_line_failure(
        &unlock_with(&env, "not-the-passphrase"),
        &["wrong passphrase"],
    );
    assert!(
        sockets(&env).is_empty(),
        "no agent after a wrong passphrase"
    );
    let o = unlock_with(&env, &pass);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("Unlocked the file store"),
        "{}",
        stderr(&o)
    );
    assert_ok(&awsenv(&env, &["list"]));
    let pid = agent_pid(&env).expect("agent pid");
    let lock = awsenv(&env, &["lock"]);
    assert_ok(&lock);
    assert!(
        stderr(&lock).contains("Locked the file store"),
        "{}",
        stderr(&lock)
    );
    assert!(wait_gone(pid), "the agent exits when locked");
    assert_one_line_failure(&awsenv(&env, &["list"]), &["is locked", "awsenv unlock"]);
    let again = awsenv(&env, &["lock"]);
    assert_ok(&again);
    assert!(stderr(&again).contains("was not unlocked"));
    // On a terminal: a wrong passphrase asks again.
    let mut c = env.awsenv();
    c.args(["unlock"]).stdin(Stdio::null());
    let mut p = Pty::spawn(c);
    assert!(p.wait_for(ASKS, T));
    p.send("wrong\r");
    assert!(p.wait_for_n(ASKS, 2, T), "{}", p.screen());
    p.send(&format!("{pass}\r"));
    let (o, _) = p.finish(T);
    assert_ok(&o);
    assert!(stderr(&o).contains("wrong passphrase, try again"));
    assert_ok(&awsenv(&env, &["list"]));
    assert_nothing_unlocked_on_disk(&env, &pass);
}

#[test]
fn the_foreground_agent_serves_and_says_why_it_stops() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-fg"));
    let mut c = env.awsenv();
    c.arg("agent").stdin(Stdio::null());
    let mut agent = Pty::spawn_stderr_on_tty(c);
    assert!(agent.wait_for(ASKS, T));
    agent.send(&format!("{pass}\r"));
    assert!(
        agent.wait_for("is unlocked, served on", T),
        "{}",
        agent.screen()
    );
    assert_ok(&awsenv(&env, &["list"]));
    assert_ok(&awsenv(&env, &["lock"]));
    let (o, screen) = agent.finish(T);
    assert!(o.status.success(), "a clean exit: {screen}");
    assert!(
        screen.contains("forgot the file store (locked by 'awsenv lock')"),
        "{screen}"
    );
}

#[test]
fn the_agent_forgets_after_its_idle_time_and_its_lifetime() {
    let Locked { mut env, pass } = locked(&CALVIN.replace("MARKER", "agent-ttl"));
    // From the settings file (the lifetime below from its variable).
    env.write_awsenv_settings("unlock_ttl = \"3s\"\n");
    assert_ok(&unlock_with(&env, &pass));
    let pid = agent_pid(&env).expect("agent pid");
    // Use keeps it.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_secs(1));
        assert_ok(&awsenv(&env, &["list"]));
    }
    // Three idle seconds end it.
    assert!(wait_gone(pid), "forgotten after the idle time");
    assert!(sockets(&env).is_empty());
    assert_one_line_failure(&awsenv(&env, &["list"]), &["is locked", "awsenv unlock"]);

    env.set_var("AWSENV_UNLOCK_TTL", "60");
    env.set_var("AWSENV_UNLOCK_MAX", "4");
    assert_ok(&unlock_with(&env, &pass));
    let started = Instant::now();
    let pid = agent_pid(&env).expect("agent pid");
    while started.elapsed() < Duration::from_secs(2) {
        assert_ok(&awsenv(&env, &["list"]));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(wait_gone(pid), "forgotten after its lifetime, used or not");
    assert_one_line_failure(&awsenv(&env, &["list"]), &["is locked"]);
}

#[test]
fn an_agent_whose_socket_is_removed_exits() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-rm"));
    assert_ok(&unlock_with(&env, &pass));
    let pid = agent_pid(&env).expect("agent pid");
    for s in sockets(&env) {
        fs::remove_file(s).expect("rm socket");
    }
    assert!(
        wait_gone(pid),
        "so no test agent outlives its test directory"
    );
}

#[test]
fn another_uid_is_refused() {
    if !require_tools(&["python3"]) {
        return;
    }
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-uid"));
    assert_ok(&unlock_with(&env, &pass));
    let sock = sockets(&env).pop().expect("socket");
    // Open the way for uid 65534 (the directory and socket modes stop it first otherwise), so
    // that only the agent's own check is left.
    for d in [env.root(), env.runtime_dir.as_path(), &socket_dir(&env)] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).expect("chmod");
    let ask = "import socket, sys\n\
               s = socket.socket(socket.AF_UNIX)\n\
               s.connect(sys.argv[1])\n\
               s.settimeout(10)\n\
               try:\n    s.sendall(b'S\\0\\0\\0\\0')\n    print(s.recv(200)[:1].hex() or 'closed')\n\
               except (BrokenPipeError, ConnectionResetError):\n    print('closed')\n";
    let status_as = |uid: Option<u32>| {
        let mut c = env.command("python3");
        c.args(["-c", ask]).arg(&sock);
        if let Some(u) = uid {
            c.uid(u).gid(u);
        }
        let o = run(c);
        assert_ok(&o);
        stdout(&o).trim().to_string()
    };
    assert_eq!(status_as(None), "00", "the agent answers its own uid");
    assert_eq!(status_as(Some(65534)), "closed", "and nobody else");
    fs::set_permissions(env.root(), fs::Permissions::from_mode(0o700)).expect("chmod");
    // The next command makes its directory private again.
    assert_ok(&awsenv(&env, &["list"]));
    assert_eq!(mode(&socket_dir(&env)), 0o700);
}

#[test]
fn a_killed_agent_is_a_clear_error_and_the_next_command_starts_a_new_one() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-kill"));
    assert_ok(&unlock_with(&env, &pass));
    let pid = agent_pid(&env).expect("agent pid");
    let _kill = KillOnDrop(pid);
    // Mid-use: the agent stops answering, then dies.
    // SAFETY: signalling the agent this test started.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let mut c = env.awsenv();
    c.args(["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = common::detach(&mut c).spawn().expect("spawn list");
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let o = child.wait_with_output().expect("wait list");
    assert_one_line_failure(
        &o,
        &[
            "file-store agent stopped while answering",
            "run the command again",
        ],
    );
    assert!(wait_gone(pid));
    // Without a terminal the next command says how to unlock; on one it starts a new agent.
    assert_one_line_failure(&awsenv(&env, &["list"]), &["is locked", "awsenv unlock"]);
    let (o, asked) = on_terminal(&env, &["list"], Some(&pass));
    assert_ok(&o);
    assert_eq!(asked, 1);
    let new = agent_pid(&env).expect("a new agent");
    assert_ne!(new, pid);
    assert_ok(&awsenv(&env, &["list"]));
    assert_nothing_unlocked_on_disk(&env, &pass);
}

#[test]
fn ten_commands_at_once_ask_once_and_the_others_say_what_they_wait_for() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-ten"));
    let mut ptys: Vec<Pty> = (0..10)
        .map(|_| {
            let mut c = env.awsenv();
            c.args(["list"]).stdin(Stdio::null());
            Pty::spawn_stderr_on_tty(c)
        })
        .collect();
    let end = Instant::now() + T;
    let asker = loop {
        if let Some(i) = ptys.iter().position(|p| p.count(ASKS) > 0) {
            break i;
        }
        assert!(Instant::now() < end, "nobody asked for the passphrase");
        std::thread::sleep(Duration::from_millis(50));
    };
    for (i, p) in ptys.iter_mut().enumerate() {
        if i != asker {
            assert!(
                p.wait_for(WAITS, T),
                "shell {i} says nothing: {}",
                p.screen()
            );
        }
    }
    let asked: usize = ptys.iter().map(|p| p.count(ASKS)).sum();
    assert_eq!(asked, 1, "asked once");
    ptys[asker].send(&format!("{pass}\r"));
    for (i, p) in ptys.into_iter().enumerate() {
        let (o, screen) = p.finish(T);
        assert!(o.status.success(), "shell {i}: {screen}");
        assert!(stdout(&o).contains("calvin"), "shell {i} listed");
        assert_eq!(screen.matches(ASKS).count(), usize::from(i == asker));
    }
    assert_nothing_unlocked_on_disk(&env, &pass);
}

#[test]
fn ctrl_c_ends_a_wait_for_the_passphrase() {
    let Locked { env, pass } = locked(&CALVIN.replace("MARKER", "agent-ctrlc"));
    let spawn = || {
        let mut c = env.awsenv();
        c.args(["list"]).stdin(Stdio::null());
        Pty::spawn_stderr_on_tty(c)
    };
    let mut asking = spawn();
    assert!(asking.wait_for(ASKS, T));
    let mut waiting = spawn();
    assert!(waiting.wait_for(WAITS, T), "{}", waiting.screen());
    waiting.ctrl_c();
    let (o, screen) = waiting.finish(T);
    assert_eq!(o.status.code(), Some(1), "{screen}");
    assert!(screen.contains("cancelled"), "{screen}");
    asking.send(&format!("{pass}\r"));
    let (o, _) = asking.finish(T);
    assert_ok(&o);
    assert_nothing_unlocked_on_disk(&env, &pass);
}

#[test]
fn the_hook_asks_for_the_passphrase_once_on_the_terminal() {
    if !require_tools(&["bash"]) {
        return;
    }
    let Some(moto) = moto() else { return };
    let Locked { mut env, pass } = locked(&CALVIN.replace("MARKER", "agent-hook"));
    env.with_moto(moto);
    // A cached MFA session and role, then locked: entering the repo needs only the store.
    assert_ok(&unlock_with(&env, &pass));
    assert_ok(&awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    ));
    assert_ok(&awsenv(&env, &["lock"]));
    let repo = env.home.join("repo");
    fs::create_dir(&repo).expect("mkdir repo");
    fs::write(repo.join(".awsprofile"), "calvin\n").expect("write .awsprofile");
    let mut allow = env.awsenv();
    allow.arg("allow").current_dir(&repo);
    assert_ok(&run(allow));
    let rc = env.root().join("bashrc");
    fs::write(&rc, "eval \"$(awsenv hook bash)\"\nPS1='READY> '\n").expect("write rc");
    let mut c = env.command("bash");
    c.args(["--noprofile", "--rcfile"]).arg(&rc).arg("-i");
    let mut sh = Pty::spawn_interactive(c);
    assert!(sh.wait_for("READY> ", T), "{}", sh.screen());
    sh.send("cd repo\r");
    assert!(sh.wait_for(ASKS, T), "the hook asks: {}", sh.screen());
    sh.send(&format!("{pass}\r"));
    assert!(sh.wait_for_n("READY> ", 2, T), "{}", sh.screen());
    sh.send("echo \"KEY=[$AWS_ACCESS_KEY_ID]\"\r");
    assert!(sh.wait_for("KEY=[ASIA", T), "activated: {}", sh.screen());
    // Leave (restored) and enter again: the agent is unlocked, nothing is asked.
    sh.send("cd ..\r");
    assert!(sh.wait_for_n("READY> ", 4, T), "{}", sh.screen());
    sh.send("cd repo\r");
    assert!(sh.wait_for_n("READY> ", 5, T), "{}", sh.screen());
    sh.send("echo \"AGAIN=[$AWS_ACCESS_KEY_ID]\"\r");
    assert!(sh.wait_for("AGAIN=[ASIA", T), "{}", sh.screen());
    sh.send("exit\r");
    let (_, screen) = sh.finish(T);
    assert_eq!(screen.matches(ASKS).count(), 1, "{screen}");
    assert_nothing_unlocked_on_disk(&env, &pass);
}

#[test]
fn no_runtime_dir_is_a_clear_error() {
    let Locked { mut env, .. } = locked(&CALVIN.replace("MARKER", "agent-norun"));
    let open = env.root().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    env.set_var("XDG_RUNTIME_DIR", &open.to_string_lossy());
    // SAFETY: geteuid cannot fail.
    let fallback = PathBuf::from(format!("/run/user/{}", unsafe { libc::geteuid() }));
    if fallback.exists() {
        eprintln!(
            "note: {} exists, so awsenv would use it",
            fallback.display()
        );
        return;
    }
    assert_one_line_failure(
        &awsenv(&env, &["list"]),
        &[
            "no runtime directory",
            "open to other users",
            "XDG_RUNTIME_DIR",
        ],
    );
    env.remove_var("XDG_RUNTIME_DIR");
    assert_one_line_failure(
        &awsenv(&env, &["list"]),
        &["XDG_RUNTIME_DIR is not set", "set XDG_RUNTIME_DIR"],
    );
    assert!(
        fs::read_dir(&open).expect("ls").next().is_none(),
        "no socket in an open dir"
    );
}
