//! `awsenv exec --server`, `.awsprofile`-aware `exec`, and `awsenv login` (issue 4), against
//! moto and real clients (AWS CLI, boto3).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Moto, TestEnv, require_tools};

const KEY_ID: &str = "AKIAAWSENVTESTKEY001";
const SECRET: &str = "awsenv/test/secret+key/0123456789abcdefghij";
const ROLE: &str = "arn:aws:iam::123456789012:role/terraform";

/// A profile with stored keys, MFA and its own role (the seed's `calvin`), plus `plain` (keys,
/// no role).
fn setup(moto: &Moto, role_extra: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&format!(
        "[profile calvin]\nrole_arn = {ROLE}\nmfa_serial = arn:aws:iam::123456789012:mfa/calvin\nregion = eu-west-1\n{role_extra}\n\
         [profile plain]\nregion = us-east-1\n"
    ));
    for p in ["calvin", "plain"] {
        env.add_keys(p, KEY_ID, SECRET);
    }
    moto.reset_recorder();
    env
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command detached from any terminal (so an MFA prompt fails instead of blocking).
fn run(cmd: &mut Command) -> Output {
    common::detach(cmd).output().expect("run awsenv")
}

/// The endpoint's URL and token as the child saw them.
struct Endpoint {
    port: u16,
    token: String,
}

/// A child script that prints what it got and probes the endpoint with Python's urllib.
const PROBE: &str = r#"
import json, os, sys, time, urllib.request, urllib.error
uri = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
tok = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
def get(headers):
    req = urllib.request.Request(uri, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
out = {"uri": uri, "token": tok,
       "static": {k: os.environ.get(k) for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]},
       "vault": os.environ.get("AWS_VAULT"), "region": os.environ.get("AWS_REGION")}
out["none"] = get({})
out["wrong"] = get({"Authorization": "0" * len(tok)})
out["first"] = get({"Authorization": tok})
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
out["second"] = get({"Authorization": tok})
print(json.dumps(out))
"#;

fn probe(env: &TestEnv, extra: &[(&str, &str)], pause: &str) -> (serde_json::Value, Output) {
    let mut cmd = env.awsenv();
    cmd.args([
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "python3",
        "-c",
        PROBE,
        pause,
    ]);
    // Static keys in awsenv's own environment must not reach the command.
    cmd.env("AWS_ACCESS_KEY_ID", "AKIALEAKEDLEAKEDLEAK")
        .env("AWS_SECRET_ACCESS_KEY", "leaked")
        .env("AWS_PROFILE", "other");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "exec --server failed: {}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe output is not JSON ({e}): {}", text(&out.stdout)));
    (v, out)
}

#[test]
fn server_warns_when_default_profile_keys_would_win() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    env.write_aws_credentials(
        "[default]\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = x\n",
    );
    let (_, out) = probe(&env, &[], "0");
    assert!(
        text(&out.stderr)
            .contains("[default] profile in your AWS config or credentials file has static keys"),
        "{}",
        text(&out.stderr)
    );
}

fn endpoint_of(v: &serde_json::Value) -> Endpoint {
    let uri = v["uri"].as_str().expect("uri");
    let rest = uri
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("endpoint is not on 127.0.0.1: {uri}"));
    let port = rest.trim_end_matches('/').parse().expect("port");
    Endpoint {
        port,
        token: v["token"].as_str().expect("token").to_string(),
    }
}

fn creds_of(pair: &serde_json::Value) -> serde_json::Value {
    assert_eq!(pair[0], 200, "credential fetch failed: {pair}");
    serde_json::from_str(pair[1].as_str().expect("body")).expect("credentials JSON")
}

#[test]
fn server_refuses_bad_tokens_serves_good_one_and_hides_static_keys() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let (v, out) = probe(&env, &[], "0");
    assert!(
        !text(&out.stderr).contains("[default] profile"),
        "no warning without [default] keys"
    );
    let ep = endpoint_of(&v);
    assert_eq!(ep.token.len(), 64, "token is 32 random bytes in hex");
    assert!(ep.token.bytes().all(|b| b.is_ascii_hexdigit()));
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        assert!(
            v["static"][k].is_null(),
            "{k} reached the command: {}",
            v["static"][k]
        );
    }
    assert_eq!(v["vault"], "calvin");
    assert_eq!(v["region"], "eu-west-1");
    assert_eq!(v["none"][0], 401, "no token: {}", v["none"]);
    assert_eq!(v["wrong"][0], 403, "wrong token: {}", v["wrong"]);
    for bad in [&v["none"][1], &v["wrong"][1]] {
        let body = bad.as_str().unwrap_or_default();
        assert!(
            !body.contains("AccessKeyId") && !body.contains("ASIA") && !body.contains("Token\":"),
            "refusal leaked credentials: {body}"
        );
    }
    let c = creds_of(&v["first"]);
    for k in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(
            c[k].as_str().is_some_and(|s| !s.is_empty()),
            "missing {k} in {c}"
        );
    }
    assert!(c["Expiration"].as_str().unwrap_or_default().ends_with('Z'));
    // The endpoint is gone with the command.
    assert!(
        TcpStream::connect(("127.0.0.1", ep.port)).is_err(),
        "port {} still open after the command ended",
        ep.port
    );
}

#[test]
fn server_refreshes_from_cached_mfa_session() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    // A 900 s role with a 899 s refresh window: one second after each AssumeRole the
    // credentials are due, so the second fetch must re-assume from the cached MFA session.
    let env = setup(&moto, "duration_seconds = 900");
    let (v, _) = probe(&env, &[("AWSENV_REFRESH_WINDOW", "899")], "2.2");
    let first = creds_of(&v["first"]);
    let second = creds_of(&v["second"]);
    assert_ne!(
        first["AccessKeyId"], second["AccessKeyId"],
        "the second fetch was not refreshed"
    );
    let sessions = moto.requests("GetSessionToken");
    let roles = moto.requests("AssumeRole");
    eprintln!(
        "recorder: GetSessionToken {} AssumeRole {}",
        sessions.len(),
        roles.len()
    );
    assert_eq!(sessions.len(), 1, "one MFA session for the whole run");
    assert_eq!(sessions[0].param("TokenCode"), Some("123456"));
    assert!(
        roles.len() >= 2,
        "expected a second AssumeRole, saw {}",
        roles.len()
    );
    for r in &roles {
        assert_eq!(r.param("DurationSeconds"), Some("900"));
        assert!(
            r.param("TokenCode").is_none(),
            "AssumeRole carried an MFA code"
        );
        assert!(
            r.access_key_id().is_some_and(|k| k != KEY_ID),
            "AssumeRole was signed by the long-term key, not the MFA session: {:?}",
            r.headers
        );
    }
}

#[test]
fn aws_cli_and_boto3_see_the_assumed_role() {
    if !require_tools(&["moto_server", "python3", "aws"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let script = "aws sts get-caller-identity --query Arn --output text && \
                  python3 -c 'import boto3; print(boto3.client(\"sts\").get_caller_identity()[\"Arn\"])'";
    let out = run(env.awsenv().args([
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert!(
        out.status.success(),
        "clients failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert!(l.contains("assumed-role/terraform/"), "not the role: {l}");
    }
    assert_eq!(moto.count("GetSessionToken"), 1);
}

#[test]
fn exit_status_and_signals_propagate() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let out = run(env.awsenv().args([
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "sh",
        "-c",
        "exit 7",
    ]));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));

    // Killed by a signal: awsenv ends by the same signal.
    use std::os::unix::process::ExitStatusExt;
    let out = run(env.awsenv().args([
        "exec",
        "--server",
        "calvin",
        "--",
        "sh",
        "-c",
        "kill -TERM $$",
    ]));
    assert_eq!(
        out.status.signal(),
        Some(15),
        "status {:?}: {}",
        out.status,
        text(&out.stderr)
    );

    // SIGTERM sent to awsenv reaches the command (which handles it), and awsenv survives to
    // report the command's status.
    let mut child = env
        .awsenv()
        .args([
            "exec",
            "--server",
            "calvin",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn awsenv");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read ready");
    assert_eq!(line.trim(), "ready");
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(42), "{status:?}");
}

#[test]
fn server_reports_ended_mfa_session_as_error_without_terminal() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    // MFA session and role both 900 s with an 896 s window: 4 s later both are due, and a
    // new MFA session needs a code. Without a terminal (setsid: no controlling tty) the
    // endpoint answers with an error the SDK reports, and no credentials.
    let env = setup(&moto, "duration_seconds = 900");
    // 4 s of freshness for the first fetch, however slow the machine is to start python.
    let (v, _) = probe(
        &env,
        &[
            ("AWSENV_REFRESH_WINDOW", "896"),
            ("AWSENV_SESSION_TTL", "900"),
        ],
        "5.5",
    );
    creds_of(&v["first"]);
    assert_eq!(v["second"][0], 500, "{}", v["second"]);
    let body: serde_json::Value =
        serde_json::from_str(v["second"][1].as_str().unwrap_or_default()).expect("error JSON");
    assert!(body.get("AccessKeyId").is_none());
    let msg = body["Message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("MFA code") && msg.contains("no terminal"),
        "{msg}"
    );
    assert_eq!(
        moto.count("GetSessionToken"),
        1,
        "no second MFA session without a code"
    );
}

/// A directory with an `.awsprofile` naming `calvin`.
fn project(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.home.join("infra");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(".awsprofile"), "calvin\n").expect("write .awsprofile");
    dir
}

#[test]
fn exec_uses_trusted_awsprofile_and_refuses_untrusted() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let dir = project(&env);
    let out = run(env.awsenv().current_dir(&dir).args([
        "exec",
        "--mfa-token",
        "123456",
        "--",
        "sh",
        "-c",
        "echo $AWS_VAULT",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("is not allowed; run 'awsenv allow'"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        moto.recorded_requests().len(),
        0,
        "STS called for an untrusted file"
    );

    let out = run(env.awsenv().current_dir(&dir).arg("allow"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(env.awsenv().current_dir(&dir).args([
        "exec",
        "--mfa-token",
        "123456",
        "--",
        "sh",
        "-c",
        "echo $AWS_VAULT $AWS_ACCESS_KEY_ID",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.starts_with("calvin ASIA"), "{o}");

    // --server from the same directory (served from the cache, no new code).
    let script = "import os, urllib.request; r = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'], headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']}); print(os.environ['AWS_VAULT'], urllib.request.urlopen(r).status)";
    let out = run(env
        .awsenv()
        .current_dir(&dir)
        .args(["exec", "--server", "--", "python3", "-c", script]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "calvin 200");

    // An edit revokes trust.
    std::fs::write(dir.join(".awsprofile"), "plain\n").expect("edit");
    let out = run(env
        .awsenv()
        .current_dir(&dir)
        .args(["exec", "--server", "--", "true"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not allowed"));
}

// ---- login ---------------------------------------------------------------------------------

/// A fake federation endpoint: answers every GET with a SigninToken and records the targets.
struct FakeFederation {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeFederation {
    fn start() -> Self {
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
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                rec.lock().expect("lock").push(target);
                let body = r#"{"SigninToken":"FAKE+SIGNIN/TOKEN"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeFederation {
            url: format!("http://127.0.0.1:{port}/federation"),
            seen,
        }
    }

    /// The decoded `Session` JSON of the getSigninToken requests.
    fn sessions(&self) -> Vec<serde_json::Value> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|t| {
                let q = common::parse_form(t.split_once('?')?.1);
                assert_eq!(
                    q.get("Action").map(String::as_str),
                    Some("getSigninToken"),
                    "{t}"
                );
                Some(serde_json::from_str(q.get("Session")?).expect("Session JSON"))
            })
            .collect()
    }
}

fn expected_login_url(fed: &FakeFederation) -> String {
    format!(
        "{}?Action=login&Issuer=awsenv&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=FAKE%2BSIGNIN%2FTOKEN",
        fed.url
    )
}

#[test]
fn login_prints_sign_in_url_for_role_session() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = setup(&moto, "");
    let fed = FakeFederation::start();
    env.set_var("AWSENV_FEDERATION_URL", &fed.url);
    let out = run(env
        .awsenv()
        .args(["login", "calvin", "--stdout", "--mfa-token", "123456"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), expected_login_url(&fed));
    let sessions = fed.sessions();
    assert_eq!(sessions.len(), 1);
    let targets = fed.seen.lock().expect("lock").clone();
    assert!(
        !targets[0].contains("SessionDuration"),
        "SessionDuration sent for a chained role: {}",
        targets[0]
    );
    // The token was obtained with the role session: the same credentials credential-process
    // serves from the cache.
    let cp = run(env.awsenv().args(["credential-process", "calvin"]));
    let c: serde_json::Value = serde_json::from_slice(&cp.stdout).expect("credential-process JSON");
    assert_eq!(sessions[0]["sessionId"], c["AccessKeyId"]);
    assert_eq!(sessions[0]["sessionKey"], c["SecretAccessKey"]);
    assert_eq!(sessions[0]["sessionToken"], c["SessionToken"]);
    assert_eq!(moto.count("AssumeRole"), 1);
}

#[test]
fn login_without_role_uses_federation_token_and_trusted_awsprofile() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = setup(&moto, "");
    let fed = FakeFederation::start();
    env.set_var("AWSENV_FEDERATION_URL", &fed.url);
    let dir = env.home.join("plainproj");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(".awsprofile"), "plain\n").expect("write");
    assert!(
        run(env.awsenv().current_dir(&dir).arg("allow"))
            .status
            .success()
    );
    let out = run(env.awsenv().current_dir(&dir).args(["login", "--stdout"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), expected_login_url(&fed));
    let fts = moto.requests("GetFederationToken");
    assert_eq!(fts.len(), 1, "GetFederationToken calls");
    assert_eq!(
        fts[0].access_key_id(),
        Some(KEY_ID),
        "GetFederationToken must be signed by the long-term key"
    );
    assert_eq!(moto.count("GetSessionToken"), 0);
    let s = &fed.sessions()[0];
    assert!(
        s["sessionId"]
            .as_str()
            .is_some_and(|k| k != KEY_ID && !k.is_empty()),
        "{s:?}"
    );
    assert!(s["sessionToken"].as_str().is_some_and(|t| !t.is_empty()));
}

#[test]
fn login_without_browser_asks_for_stdout_and_calls_nothing() {
    let env = TestEnv::new();
    env.write_aws_config("[profile plain]\nregion = us-east-1\n");
    let out = run(env
        .awsenv()
        .args(["login", "plain"])
        .env_remove("DISPLAY")
        .env_remove("BROWSER"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("--stdout") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn login_opens_browser_without_url_in_argv() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = setup(&moto, "");
    let fed = FakeFederation::start();
    env.set_var("AWSENV_FEDERATION_URL", &fed.url);
    // A fake browser: records its argv and follows the one-shot redirect without following it
    // further, writing the Location it got.
    let log = env.root().join("browser.log");
    let browser = env.root().join("browser.py");
    std::fs::write(
        &browser,
        format!(
            "#!/usr/bin/env python3\nimport sys, http.client, urllib.parse\nu = urllib.parse.urlparse(sys.argv[1])\n\
             c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)\nc.request('GET', u.path)\nr = c.getresponse()\n\
             open({log:?}, 'w').write(sys.argv[1] + '\\n' + str(r.status) + '\\n' + r.getheader('Location', '') + '\\n')\n"
        ),
    )
    .expect("write browser");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(env
        .awsenv()
        .args(["login", "calvin", "--mfa-token", "123456"])
        .env("BROWSER", &browser));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "URL printed without --stdout");
    let got = std::fs::read_to_string(&log).expect("browser ran");
    let lines: Vec<&str> = got.lines().collect();
    assert!(
        lines[0].starts_with("http://127.0.0.1:") && !lines[0].contains("SigninToken"),
        "argv: {}",
        lines[0]
    );
    assert_eq!(lines[1], "302");
    assert_eq!(lines[2], expected_login_url(&fed));
}

/// Drives `awsenv exec --server` in a pseudo-terminal and presses Ctrl-C once.
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
awsenv = sys.argv[1]
child = "import signal, sys, time\nn = [0]\ndef h(s, f):\n    n[0] += 1\nsignal.signal(signal.SIGINT, h)\nprint('ready', flush=True)\ntime.sleep(3)\nprint('ints', n[0], flush=True)\nsys.exit(5)\n"
pid, fd = pty.fork()
if pid == 0:
    os.execv(awsenv, ["awsenv", "exec", "--server", "calvin", "--mfa-token", "123456", "--", "python3", "-c", child])
buf = b""
def read_until(pred, t):
    global buf
    end = time.time() + t
    while time.time() < end and not pred():
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 1024)
            except OSError:
                return
            if not d:
                return
            buf += d
read_until(lambda: b"ready" in buf, 20)
os.write(fd, b"\x03")
read_until(lambda: b"ints" in buf and buf.endswith(b"\n"), 20)
_, st = os.waitpid(pid, 0)
print(buf.decode(errors="replace").replace("\r", ""))
print("status", os.waitstatus_to_exitcode(st))
"#;

#[test]
fn terminal_ctrl_c_reaches_the_command_once() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let out = run(env
        .command("python3")
        .args(["-c", PTY_DRIVER, env!("CARGO_BIN_EXE_awsenv")]));
    let o = text(&out.stdout);
    assert!(
        o.contains("ints 1"),
        "the command should see exactly one SIGINT: {o}{}",
        text(&out.stderr)
    );
    assert!(
        o.contains("status 5"),
        "awsenv must survive Ctrl-C and return the command's status: {o}"
    );
}
