//! Another local user against the browser sign-ins (issue 17): the `awsenv login` one-shot
//! redirect and the IAM Identity Center sign-in (PKCE callback, device code).
//!
//! The attacker is a throwaway second user made with `useradd` (removed after): it reads the
//! browser's argv from `/proc/<pid>/cmdline` (world-readable) and replays what it finds, or
//! holds idle and trickling connections to every new loopback listener. These tests need root
//! for that; as another user they are skipped, except under `CI=true`, where they fail.
//!
//! The browser is `tests/sso/browser.py` (copied under a unique name, so that the attacker
//! finds this test's browser and no other), which starts after `$BROWSER_DELAY` seconds.

mod common;
#[path = "sso/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Moto, TestEnv, require_tools};
use harness::{FakeSso, browser_opened, config, profile};
use serde_json::json;

/// A throwaway local user, removed when dropped.
struct OtherUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl OtherUser {
    /// Creates the user; `None` (a skip) when not root, except under CI.
    fn create() -> Option<OtherUser> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                !common::in_ci(),
                "this test needs root to create a second user (CI=true: not skipped)"
            );
            eprintln!("note: skipping: this test needs root to create a second user");
            return None;
        }
        if !require_tools(&["useradd", "userdel", "python3"]) {
            return None;
        }
        let name = format!("awsatk{}", &common::random_hex(4)[..6]);
        let made = Command::new("useradd")
            .args(["-M", "-r", "-s", "/usr/sbin/nologin", &name])
            .status()
            .expect("run useradd");
        assert!(made.success(), "useradd {name} failed");
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().expect("id");
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        Some(OtherUser { name, uid, gid })
    }

    /// Starts the attacker script as this user.
    fn attack(&self, args: &[&str]) -> Child {
        let mut c = Command::new("python3");
        c.arg("-c")
            .arg(ATTACKER)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir("/")
            .uid(self.uid)
            .gid(self.gid)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("start the attacker")
    }
}

impl Drop for OtherUser {
    /// Removes the user (its processes, the attackers, were waited for or killed by id).
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// The attacker. `argv MARKER SECONDS`: finds the process whose argv has MARKER, takes its last
/// argument and uses it: fetches a URL (following redirects, as the attacker's own browser
/// would) or reads a file. `hold SECONDS`: opens twelve connections to each loopback port that
/// starts listening, six silent and six trickling a byte a second, plus a callback request
/// with a wrong state. Reports on stdout.
const ATTACKER: &str = r#"
import os, socket, sys, time, urllib.parse, urllib.request
mode, end = sys.argv[1], time.time() + float(sys.argv[-1])
def say(*a):
    print(*a, flush=True)
def listening():
    ports = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and f[1].startswith("0100007F:"):
            ports.add(int(f[1].split(":")[1], 16))
    return ports
if mode == "argv":
    marker = sys.argv[2]
    while time.time() < end:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in args if a]
            if not any(marker in a for a in args):
                continue
            target = args[-1]
            say("argv", target)
            if target.startswith("file://"):
                try:
                    say("read", open(urllib.parse.unquote(target[7:])).read())
                except OSError as e:
                    say("unreadable", e)
            else:
                try:
                    with urllib.request.urlopen(target, timeout=10) as r:
                        say("fetched", r.geturl())
                except Exception as e:
                    say("failed", e)
            sys.exit(0)
        time.sleep(0.01)
    say("no browser seen")
else:
    before, held = listening(), []
    while time.time() < end:
        for port in listening() - before:
            before.add(port)
            for i in range(12):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=1)
                    held.append((s, i % 2 == 1))
                except OSError:
                    pass
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.sendall(b"GET /oauth/callback?code=evil&state=wrong HTTP/1.1\r\nHost: x\r\n\r\n")
                held.append((s, False))
            except OSError:
                pass
            say("held", port)
        for s, trickle in held:
            if trickle and int(time.time() * 10) % 10 == 0:
                try:
                    s.send(b"G")
                except OSError:
                    pass
        time.sleep(0.1)
"#;

/// Waits for a child at most `limit`; kills it when it takes longer. The output, and whether it
/// ended by itself.
fn wait_at_most(mut child: Child, limit: Duration) -> (Output, bool) {
    let start = Instant::now();
    let mut ended = true;
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            ended = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().expect("wait"), ended)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A copy of the test browser with a name of its own (the attacker's marker).
fn own_browser(env: &mut TestEnv, delay: &str) -> String {
    let marker = format!("browser-{}", common::random_hex(6));
    let path = env.root().join(format!("{marker}.py"));
    std::fs::copy(harness::src("tests/sso/browser.py"), &path).expect("copy the browser");
    env.set_var("BROWSER", &path.to_string_lossy());
    env.set_var(
        "BROWSER_LOG",
        &env.root().join("browser.log").to_string_lossy(),
    );
    env.set_var("BROWSER_DELAY", delay);
    marker
}

// ---- awsenv login ----------------------------------------------------------------------------

const ROLE: &str = "arn:aws:iam::123456789012:role/terraform";

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "python3"]).then(Moto::start))
        .as_ref()
}

/// The request targets a fake endpoint saw.
type Seen = Arc<Mutex<Vec<String>>>;

/// A fake federation endpoint: every GET gets a SigninToken; the targets are recorded.
fn fake_federation() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            let target = head.split_whitespace().nth(1).unwrap_or_default();
            rec.lock().expect("lock").push(target.to_string());
            let body = r#"{"SigninToken":"FAKE+SIGNIN/TOKEN"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}/federation"), seen)
}

/// A home with a role profile and moto, a fake federation endpoint, and the test browser.
fn login_world(delay: &str) -> Option<(TestEnv, String, Seen)> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&format!(
        "[profile calvin]\nrole_arn = {ROLE}\nmfa_serial = arn:aws:iam::123456789012:mfa/calvin\nregion = eu-west-1\n"
    ));
    env.add_keys(
        "calvin",
        "AKIAAWSENVTESTKEY001",
        "awsenv/test/secret+key/0123456789abcdefg",
    );
    let (url, seen) = fake_federation();
    env.set_var("AWSENV_FEDERATION_URL", &url);
    let marker = own_browser(&mut env, delay);
    Some((env, marker, seen))
}

fn login(env: &TestEnv) -> Child {
    let mut c = env.awsenv();
    c.args(["login", "calvin", "--mfa-token", "123456"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::detach(&mut c).spawn().expect("start awsenv login")
}

/// Whether the user's browser reached the console sign-in (the federation endpoint saw it),
/// waiting a little: awsenv is done once the browser got its redirect, which the browser
/// follows in the background.
fn console_reached(seen: &Mutex<Vec<String>>) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let reached = seen
            .lock()
            .expect("lock")
            .iter()
            .any(|t| t.contains("Action=login") && t.contains("SigninToken="));
        if reached {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Another user reads the browser's argv and fetches the address first: it must get nothing,
/// and the user's browser must get the console. (Before: the argv held the one-time
/// `http://127.0.0.1:PORT/<nonce>` address, and the attacker got the sign-in URL.)
#[test]
fn login_address_in_argv_is_useless_to_another_user() {
    let Some(attacker) = OtherUser::create() else {
        return;
    };
    let Some((env, marker, seen)) = login_world("1.5") else {
        return;
    };
    let spy = attacker.attack(&["argv", &marker, "20"]);
    let (out, ended) = wait_at_most(login(&env), Duration::from_secs(30));
    let (spied, _) = wait_at_most(spy, Duration::from_secs(25));
    let spied = text(&spied.stdout);
    assert!(ended, "awsenv login hung: {}", text(&out.stderr));
    assert!(
        spied.contains("argv "),
        "the attacker saw no browser: {spied}"
    );
    assert!(
        !spied.contains("SigninToken"),
        "another user got the console sign-in URL: {spied}"
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("opened the AWS console"));
    assert!(
        console_reached(&seen),
        "the user's browser did not reach the console: {:?}",
        browser_opened(&env)
    );
}

/// Twelve idle and trickling connections from another user to the redirect's port must not
/// delay the user's browser noticeably. (Before: one connection at a time, 5 s each.)
#[test]
fn login_redirect_is_not_delayed_by_idle_connections() {
    let Some(attacker) = OtherUser::create() else {
        return;
    };
    let Some((env, _marker, seen)) = login_world("1") else {
        return;
    };
    let holder = attacker.attack(&["hold", "40"]);
    // The attacker takes its list of listening ports before awsenv starts.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let (out, ended) = wait_at_most(login(&env), Duration::from_secs(40));
    let took = start.elapsed();
    let (held, _) = wait_at_most(holder, Duration::from_millis(100));
    let held = text(&held.stdout);
    assert!(held.contains("held"), "the attacker held nothing: {held}");
    assert!(ended && out.status.success(), "{}", text(&out.stderr));
    assert!(
        console_reached(&seen),
        "the user's browser did not reach the console"
    );
    assert!(
        took < Duration::from_secs(8),
        "awsenv login took {took:?} with another user's idle connections"
    );
}

// ---- IAM Identity Center -------------------------------------------------------------------

fn sso_world(delay: &str) -> Option<(TestEnv, FakeSso, String)> {
    let moto = moto()?;
    if !require_tools(&["aws"]) {
        return None;
    }
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    let fake = FakeSso::start(moto);
    fake.point(&mut env);
    env.write_aws_config(&config(&profile("dev-admin", "111111111111", "Admin")));
    let marker = own_browser(&mut env, delay);
    Some((env, fake, marker))
}

fn sso_login(env: &TestEnv, extra: &[&str]) -> Child {
    let mut c = env.awsenv();
    c.args(["sso", "login", "corp"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::detach(&mut c)
        .spawn()
        .expect("start awsenv sso login")
}

/// Another user reads the PKCE authorize URL (state, client id, code challenge) from the
/// browser's argv, signs in with it and delivers its code to the callback first: it must find
/// nothing to use, and the user's own sign-in must be the one awsenv keeps. (Before: the
/// attacker's sign-in was used and the user's browser got "connection refused".)
#[test]
fn sso_authorize_url_in_argv_is_useless_to_another_user() {
    let Some(attacker) = OtherUser::create() else {
        return;
    };
    let Some((env, fake, marker)) = sso_world("1.5") else {
        return;
    };
    let spy = attacker.attack(&["argv", &marker, "20"]);
    let (out, ended) = wait_at_most(sso_login(&env, &[]), Duration::from_secs(40));
    let (spied, _) = wait_at_most(spy, Duration::from_secs(25));
    let spied = text(&spied.stdout);
    assert!(ended, "awsenv sso login hung: {}", text(&out.stderr));
    assert!(
        spied.contains("argv "),
        "the attacker saw no browser: {spied}"
    );
    assert!(
        !spied.contains("state=") && !spied.contains("code_challenge"),
        "another user read the sign-in's values: {spied}"
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fake.count("Authorize 302"),
        1,
        "only the user's browser signs in: {:?}",
        fake.ops()
    );
    // The browser logs once it has read the callback's answer, in the background.
    let start = Instant::now();
    while browser_opened(&env).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let opened = browser_opened(&env);
    assert!(
        opened.len() == 1 && opened[0].ends_with("-> ok"),
        "the user's browser: {opened:?}"
    );
}

/// Twelve idle and trickling connections and a callback with a wrong state, from another user,
/// neither fail nor delay the browser sign-in. (Before: 5 s per connection, one at a time.)
#[test]
fn sso_callback_is_not_delayed_by_idle_connections() {
    let Some(attacker) = OtherUser::create() else {
        return;
    };
    let Some((env, fake, _marker)) = sso_world("1") else {
        return;
    };
    let holder = attacker.attack(&["hold", "60"]);
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let (out, ended) = wait_at_most(sso_login(&env, &[]), Duration::from_secs(60));
    let took = start.elapsed();
    let (held, _) = wait_at_most(holder, Duration::from_millis(100));
    let held = text(&held.stdout);
    assert!(held.contains("held"), "the attacker held nothing: {held}");
    assert!(ended && out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fake.count("CreateToken/authorization_code 200"), 1);
    assert!(
        took < Duration::from_secs(10),
        "awsenv sso login took {took:?} with another user's idle connections"
    );
}

/// A hostile service's `verificationUriComplete` never reaches the browser: an option
/// (`--renderer-cmd-prefix=…`), a local file or `javascript:` is refused in one line.
#[test]
fn device_code_verification_address_must_be_a_web_address() {
    for hostile in [
        "--renderer-cmd-prefix=/tmp/evil",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ] {
        let Some((env, fake, _marker)) = sso_world("0") else {
            return;
        };
        fake.config(json!({ "verification_uri_complete": hostile }));
        let (out, ended) = wait_at_most(
            sso_login(&env, &["--use-device-code"]),
            Duration::from_secs(15),
        );
        std::thread::sleep(Duration::from_millis(300));
        let opened = browser_opened(&env);
        assert!(opened.is_empty(), "{hostile}: the browser got {opened:?}");
        let err = text(&out.stderr);
        assert!(ended && !out.status.success(), "{hostile}: {err}");
        assert!(
            err.contains("verification address") && err.contains("https://"),
            "{hostile}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{hostile}: {err}");
    }
}

/// An IAM Identity Center endpoint override must be https (or http on 127.0.0.1): tokens and
/// role credentials travel to it. Refused before anything is sent.
#[test]
fn sso_endpoint_overrides_must_be_https_or_loopback() {
    for (var, url) in [
        ("AWS_ENDPOINT_URL_SSO_OIDC", "http://sso.example.com"),
        ("AWS_ENDPOINT_URL_SSO_OIDC", "ftp://127.0.0.1:1/"),
        ("AWS_ENDPOINT_URL", "http://10.0.0.1:8080"),
    ] {
        let Some((mut env, fake, _marker)) = sso_world("0") else {
            return;
        };
        if var == "AWS_ENDPOINT_URL" {
            env.remove_var("AWS_ENDPOINT_URL_SSO_OIDC");
            env.remove_var("AWS_ENDPOINT_URL_SSO");
        }
        env.set_var(var, url);
        let (out, ended) = wait_at_most(sso_login(&env, &[]), Duration::from_secs(30));
        let err = text(&out.stderr);
        assert!(ended && !out.status.success(), "{var}={url}: {err}");
        assert!(
            err.contains(var) && err.contains("must be an https:// URL"),
            "{var}={url}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{var}={url}: {err}");
        assert!(browser_opened(&env).is_empty());
        assert_eq!(fake.count("RegisterClient 200"), 0);
    }
}
