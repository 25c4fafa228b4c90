//! Trust files cannot stall the shell (issue 7, item 4): an `.awsprofile` is read with a bound
//! (64 KiB; larger is refused with one line, never read whole), opened non-blocking, and the
//! opened file's type is checked, so neither a huge file in a parent directory nor a FIFO
//! swapped in between the stat and the open can hold up a prompt.

mod common;

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestEnv;

/// The bound the issue asks for (`activation::MAX_FILE_SIZE`).
const BOUND: u64 = 64 * 1024;
/// Far longer than any of these commands takes; reaching it means the command hung.
const HANG: Duration = Duration::from_secs(30);

/// What a finished command left: exit code, stdout, stderr and its peak resident set.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    max_rss_kib: i64,
}

/// Runs `cmd` detached from any terminal, killing it (and failing the test) if it has not
/// exited after [`HANG`]; reaps it with `wait4` (not `Child::wait`) to learn its peak RSS.
#[allow(clippy::zombie_processes)]
fn run(cmd: &mut Command, what: &str) -> Run {
    common::detach(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let (status, rusage) = loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child; status and ru are valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break (status, ru);
        }
        assert!(r == 0, "wait4 {what}: {}", std::io::Error::last_os_error());
        if start.elapsed() > HANG {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut st = 0;
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            panic!("{what} hung: still running after {HANG:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Run {
        code,
        stdout: t_out.join().expect("stdout reader"),
        stderr: t_err.join().expect("stderr reader"),
        max_rss_kib: rusage.ru_maxrss,
    }
}

/// `HOME/repo/.awsprofile` (returned) and the directory `HOME/repo/deep/er` below it.
fn repo(env: &TestEnv) -> (PathBuf, PathBuf) {
    let root = env.home.join("repo");
    let deep = root.join("deep/er");
    std::fs::create_dir_all(&deep).expect("mkdir repo/deep/er");
    (root.join(".awsprofile"), deep)
}

/// A sparse file of `len` bytes starting with `calvin\n#` (a valid bare-name `.awsprofile`
/// whose rest is one long comment line of NULs — the content does not matter, the size does).
fn sparse_awsprofile(path: &Path, len: u64) {
    let f = std::fs::File::create(path).expect("create .awsprofile");
    f.set_len(len).expect("grow .awsprofile");
    f.write_all_at(b"calvin\n#", 0)
        .expect("write .awsprofile head");
}

fn awsenv_in(env: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut c = env.awsenv();
    c.args(args).current_dir(dir);
    c
}

#[test]
fn a_one_gib_untrusted_awsprofile_in_a_parent_is_refused_without_reading_it() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    let (file, deep) = repo(&env);
    sparse_awsprofile(&file, 1 << 30);

    // The hook, two directories below the file: one line, nothing exported, memory small.
    let r = run(
        &mut awsenv_in(&env, &deep, &["export", "bash"]),
        "awsenv export bash",
    );
    assert_eq!(r.code, 0, "the hook never fails the prompt: {}", r.stderr);
    assert!(
        r.stderr.contains("larger than 64 KiB") && r.stderr.contains(&*file.to_string_lossy()),
        "says which file and why: {}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(
        !r.stdout.contains("AWS_ACCESS_KEY_ID") && !r.stdout.contains("AWS_PROFILE"),
        "nothing activated: {}",
        r.stdout
    );
    // Reading the file whole would take 1 GiB of memory; a bounded read takes none of note.
    assert!(
        r.max_rss_kib < 100 * 1024,
        "peak RSS {} KiB: the file was read whole",
        r.max_rss_kib
    );

    // `allow`, `exec` without a profile and `status` refuse it the same way.
    let r = run(&mut awsenv_in(&env, &deep, &["allow"]), "awsenv allow");
    assert_ne!(r.code, 0, "allow refuses a file it will not read");
    assert!(r.stderr.contains("larger than 64 KiB"), "{}", r.stderr);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    assert!(r.max_rss_kib < 100 * 1024, "allow: {} KiB", r.max_rss_kib);

    let r = run(
        &mut awsenv_in(&env, &deep, &["exec", "--", "true"]),
        "awsenv exec",
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("larger than 64 KiB"), "{}", r.stderr);
    assert!(r.max_rss_kib < 100 * 1024, "exec: {} KiB", r.max_rss_kib);

    let r = run(&mut awsenv_in(&env, &deep, &["status"]), "awsenv status");
    assert!(
        r.stdout.contains("larger than 64 KiB") && !r.stdout.contains("awsenv allow"),
        "status says why the file does not apply: {}",
        r.stdout
    );
    assert!(r.max_rss_kib < 100 * 1024, "status: {} KiB", r.max_rss_kib);
}

#[test]
fn the_bound_is_exactly_64_kib() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    let (file, deep) = repo(&env);

    // Exactly the bound: a valid file, allowed.
    sparse_awsprofile(&file, BOUND);
    let r = run(&mut awsenv_in(&env, &deep, &["allow"]), "awsenv allow");
    assert_eq!(r.code, 0, "a 64 KiB file is read: {}", r.stderr);
    assert!(r.stderr.contains("allowed"), "{}", r.stderr);

    // One byte more: refused, and so is the hook's activation.
    sparse_awsprofile(&file, BOUND + 1);
    let r = run(&mut awsenv_in(&env, &deep, &["allow"]), "awsenv allow");
    assert_ne!(r.code, 0, "64 KiB + 1 is refused");
    assert!(r.stderr.contains("larger than 64 KiB"), "{}", r.stderr);
}

#[test]
fn a_fifo_swapped_in_between_stat_and_open_does_not_block_the_hook() {
    if !common::require_tool("strace") {
        return;
    }
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = eu-west-1\n");
    let (file, deep) = repo(&env);
    std::fs::write(&file, "calvin\n").expect("write .awsprofile");

    // strace holds awsenv's open of the file for 3 s (after its stat saw a regular file);
    // meanwhile the file becomes a FIFO with no writer, which a blocking open waits on forever.
    let strace = common::find_tool("strace").expect("strace on PATH");
    let mut cmd = env.command(strace);
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", "-P"])
        .arg(&file)
        .args(["-e", "inject=openat:delay_enter=3000000"])
        .arg(env!("CARGO_BIN_EXE_awsenv"))
        .args(["export", "bash"])
        .current_dir(&deep);
    common::detach(&mut cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn strace awsenv export bash");
    let pid = child.id();

    // Wait until the front binary has handed over to the engine (same pid, execve), which
    // stats the file and then opens it; swap the file once the engine has had time to reach
    // the (held) open.
    let start = Instant::now();
    let engine = loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let found = kids.split_whitespace().find(|k| {
            std::fs::read_link(format!("/proc/{k}/exe"))
                .is_ok_and(|e| e.to_string_lossy().ends_with("awsenv-engine"))
        });
        if let Some(k) = found {
            break k.to_string();
        }
        assert!(
            start.elapsed() < HANG,
            "awsenv never handed over to awsenv-engine"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::remove_file(&file).expect("remove .awsprofile");
    let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).expect("path has no NUL");
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");

    let r = wait_with_timeout(child, &engine, "awsenv export bash under strace");
    assert!(
        r.stderr.contains("is not a regular file"),
        "the engine (pid {engine}) opened the swapped-in FIFO and refused it: {}",
        r.stderr
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("AWS_ACCESS_KEY_ID"), "{}", r.stdout);
}

/// [`run`]'s timeout for an already spawned child (no RSS).
fn wait_with_timeout(mut child: std::process::Child, engine: &str, what: &str) -> Run {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                let out = child.wait_with_output().expect("collect output");
                return Run {
                    code: status.code().unwrap_or(128),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    max_rss_kib: 0,
                };
            }
            None if start.elapsed() > HANG => {
                let _ = child.kill();
                let _ = child.wait();
                // The engine, left blocked in open(2) by the killed strace.
                let _ = Command::new("kill").args(["-9", engine]).status();
                panic!("{what} hung: still running after {HANG:?} (blocked on the FIFO), killed");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
