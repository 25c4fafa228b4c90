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

/// `exec --server calvin -- sh -c 'echo ran'` with extra awsenv arguments.
fn exec_echo(env: &TestEnv, extra: &[&str]) -> Output {
    let mut cmd = env.awsenv();
    cmd.args(["exec", "--server", "calvin", "--mfa-token", "123456"]);
    cmd.args(extra);
    cmd.args(["--", "sh", "-c", "echo ran"]);
    run(&mut cmd)
}

#[test]
fn server_refuses_default_profile_credentials_unless_allowed() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let config = std::fs::read_to_string(env.aws_config_path()).expect("config");
    let cases: [(&str, &str, &str); 5] = [
        (
            "credentials",
            "[default]\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = x\n",
            "aws_access_key_id",
        ),
        (
            "config",
            "[default]\nregion = us-east-1\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = x\n",
            "aws_access_key_id",
        ),
        (
            "config",
            "[default]\ncredential_process = /bin/false\n",
            "credential_process",
        ),
        (
            "config",
            "[default]\nrole_arn = arn:aws:iam::123456789012:role/other\nsource_profile = plain\n",
            "role_arn",
        ),
        (
            "config",
            "[default]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111111111111\nsso_role_name = Admin\n",
            "sso_role_name",
        ),
    ];
    for (file, default, key) in cases {
        // No cached session: a refusal after resolving would have called STS.
        assert!(run(env.awsenv().arg("clear")).status.success());
        env.write_aws_credentials("");
        env.write_aws_config(&config);
        if file == "credentials" {
            env.write_aws_credentials(default);
        } else {
            env.write_aws_config(&format!("{default}{config}"));
        }
        moto.reset_recorder();
        let out = exec_echo(&env, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file} {key}: {err}");
        assert!(
            out.stdout.is_empty(),
            "the command ran: {}",
            text(&out.stdout)
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with("awsenv: ")
                && err.contains(key)
                && err.contains("--allow-default-keys"),
            "{file} {key}: {err}"
        );
        assert_eq!(
            moto.recorded_requests().len(),
            0,
            "STS called (an MFA code spent) before the refusal"
        );

        // The explicit override runs the command, with the warning.
        let out = exec_echo(&env, &["--allow-default-keys"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "ran");
        assert!(
            text(&out.stderr).contains("warning:") && text(&out.stderr).contains(key),
            "{}",
            text(&out.stderr)
        );
    }

    // A [default] with only a region is fine.
    env.write_aws_credentials("");
    env.write_aws_config(&format!("[default]\nregion = us-east-1\n{config}"));
    let out = exec_echo(&env, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));

    // The override belongs to --server only.
    let out = run(env
        .awsenv()
        .args(["exec", "calvin", "--allow-default-keys", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
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
    assert!(text(&out.stderr).contains("has changed since you allowed it"));
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
    // A fake browser: records its argv (a private page), reads the page, and follows its
    // one-shot redirect without following it further, writing the Location it got.
    let log = env.root().join("browser.log");
    let browser = env.root().join("browser.py");
    std::fs::write(
        &browser,
        format!(
            "#!/usr/bin/env python3\nimport sys, os, re, html, http.client, urllib.parse\n\
             page = urllib.parse.unquote(sys.argv[1][len('file://'):])\nmode = oct(os.stat(page).st_mode & 0o777)\n\
             text = open(page).read()\nto = html.unescape(re.search(r'url=([^\"]*)\"', text).group(1))\n\
             u = urllib.parse.urlparse(to)\n\
             c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)\nc.request('GET', u.path)\nr = c.getresponse()\n\
             open({log:?}, 'w').write(sys.argv[1] + '\\n' + str(r.status) + '\\n' + r.getheader('Location', '') + '\\n' + mode + '\\n' + page + '\\n' + text)\n"
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
    // awsenv ends once the redirect is served; the browser writes its log just after.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !log.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let got = std::fs::read_to_string(&log).expect("browser ran");
    let lines: Vec<&str> = got.lines().collect();
    assert!(
        lines[0].starts_with("file://") && !lines[0].contains("SigninToken"),
        "argv: {}",
        lines[0]
    );
    assert_eq!(lines[1], "302");
    assert_eq!(lines[2], expected_login_url(&fed));
    assert_eq!(lines[3], "0o600", "the page is the user's alone");
    let page_text = lines[5..].join("\n");
    assert!(
        page_text.contains("http://127.0.0.1:") && !page_text.contains("SigninToken"),
        "the page leads to the one-shot address, never holds the sign-in URL: {page_text}"
    );
    assert!(
        !std::path::Path::new(lines[4]).exists(),
        "the page is removed after use"
    );
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

// ---- the endpoint under load and attack (issue 7, item 5) ------------------------------------

/// `scripts/bench-server --client` (the load test's client) as the command of an
/// `exec --server` whose soft limit on open files is 1,024; returns its JSON report.
fn load(env: &TestEnv, client_args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-server");
    let mut cmd = env.command("sh");
    cmd.args([
        "-c",
        "ulimit -Sn 1024 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_awsenv"),
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "python3",
        script,
        "--client",
    ]);
    cmd.args(client_args);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "exec --server failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn token_holder_is_served_past_more_idle_connections_than_descriptors() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    // 1,100 connections that never send a byte, opened first, at a soft limit of 1,024 open
    // files in awsenv; then 200 authorised requests over 4 keep-alive connections.
    let r = load(
        &env,
        &[
            "--requests",
            "200",
            "--conns",
            "4",
            "--idle",
            "1100",
            "--deadline",
            "30",
        ],
    );
    eprintln!("load: {r}");
    assert_eq!(r["idle_opened"], 1100, "the attacker's connections: {r}");
    assert_eq!(r["served"], 200, "the token holder was not served: {r}");
    assert_eq!(r["failed"], 0, "{r}");
    // A bound that only catches a hang (each request has a 10 s client timeout).
    assert!(
        r["max_ms"].as_f64().is_some_and(|ms| ms < 5000.0),
        "a request took {} ms",
        r["max_ms"]
    );
    // Room was made by closing idle connections.
    assert!(
        r["idle_closed_by_server"].as_u64().is_some_and(|n| n > 0),
        "{r}"
    );
}

#[test]
fn token_holder_is_served_while_idle_connections_are_reopened_as_fast_as_closed() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    // An attacker process holds 1,000 idle connections and reopens each one the moment
    // awsenv closes it; the token holder makes every request on a new connection.
    let r = load(
        &env,
        &[
            "--requests",
            "200",
            "--conns",
            "4",
            "--idle",
            "1000",
            "--churn",
            "--new-conns",
            "--deadline",
            "30",
        ],
    );
    eprintln!("load: {r}");
    assert_eq!(r["served"], 200, "the token holder was not served: {r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert!(
        r["idle_opened"].as_u64().is_some_and(|n| n > 1000),
        "the attacker never had to reopen: {r}"
    );
}

#[test]
fn command_sees_no_outer_awsenv_state_and_knows_the_server() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    // The state of an outer shell with a profile active through the hook, inside an outer
    // `exec --server`; plus settings that an awsenv inside must keep seeing.
    let outer = [
        ("AWSENV_PROFILE", "other"),
        ("AWSENV_SOURCE", "/home/x/repo/.awsprofile"),
        (
            "AWSENV_RESTORE",
            r#"{"vars":{"AWS_ACCESS_KEY_ID":{"prev":null,"set":null}}}"#,
        ),
        ("AWSENV_REFRESH_AT", "1"),
        ("AWSENV_EXPIRES", "1"),
        ("AWSENV_WATCH", "abc"),
        ("AWSENV_SERVER", "outer"),
        ("AWSENV_SOMETHING_LATER", "x"),
        ("AWSENV_REFRESH_WINDOW", "600"),
        ("AWSENV_STS_TIMEOUT", "20"),
        ("AWSENV_SESSION_TTL", "8h"),
    ];
    let script = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWSENV_')}))";
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
        script,
    ]);
    for (k, v) in outer {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut expected = serde_json::json!({
        "AWSENV_PROFILE": "calvin",
        "AWSENV_SERVER": "calvin",
        "AWSENV_REFRESH_WINDOW": "600",
        "AWSENV_STS_TIMEOUT": "20",
        "AWSENV_SESSION_TTL": "8h",
        // The overlay serves the command's SDKs; awsenv inside reads the user's own file.
        "AWSENV_USER_CONFIG": env.aws_config_path().to_string_lossy(),
    });
    // The harness's own settings (the backend; the passphrase is a secret and never passed on).
    if let Some(b) = env.envs().into_iter().find(|(k, _)| k == "AWSENV_BACKEND") {
        expected["AWSENV_BACKEND"] = b.1.into();
    }
    assert_eq!(seen, expected);
}

#[test]
fn command_gets_sigterm_when_awsenv_is_killed() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let mut cmd = env.awsenv();
    cmd.args([
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 0' TERM; echo ready $$; while :; do sleep 0.1; done",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut awsenv = common::detach(&mut cmd).spawn().expect("spawn awsenv");
    let mut lines = BufReader::new(awsenv.stdout.take().expect("stdout")).lines();
    let ready = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    let pid: i32 = ready
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the command did not start: {ready:?}"));
    // SAFETY: killing the awsenv we started; no handler can run.
    unsafe { libc::kill(awsenv.id() as i32, libc::SIGKILL) };
    let _ = awsenv.wait();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let _ = tx.send(rest);
    });
    // A bound that only catches "never": the command's stdout ends when it has exited.
    let rest = rx.recv_timeout(Duration::from_secs(15));
    if rest.is_err() {
        // SAFETY: ending the orphaned command this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let rest = rest.expect("the command kept running after awsenv was killed");
    assert_eq!(rest, vec!["got TERM".to_string()]);
}

/// Runs `script` (Python) as the command of `exec --server calvin`; returns its JSON output.
fn served_python(env: &TestEnv, script: &str) -> serde_json::Value {
    let out = run(env.awsenv().args([
        "exec",
        "--server",
        "calvin",
        "--mfa-token",
        "123456",
        "--",
        "python3",
        "-c",
        script,
    ]));
    assert!(
        out.status.success(),
        "exec --server failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("output is not JSON ({e}): {}", text(&out.stdout)))
}

/// Helpers for the Python commands below: the endpoint, an authorised GET on a new
/// connection, and awsenv's CPU time.
const PY_ENDPOINT: &str = r#"
import json, os, socket, time, urllib.request, urllib.error
uri = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
tok = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
host, port = uri.split("://")[1].rstrip("/").rsplit(":", 1)
port = int(port)
def get(timeout=5):
    try:
        with urllib.request.urlopen(urllib.request.Request(uri, headers={"Authorization": tok}), timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return type(e).__name__
def closed_after(s, limit, trickle=None):
    """Seconds until the server closes s (None: still open after limit); trickle: bytes to send one at a time."""
    t0 = time.monotonic()
    s.setblocking(False)
    while time.monotonic() - t0 < limit:
        try:
            if s.recv(4096) == b"":
                return time.monotonic() - t0
        except BlockingIOError:
            pass
        except OSError:
            return time.monotonic() - t0
        if trickle:
            try:
                s.send(trickle[:1])
                trickle = trickle[1:]
            except OSError:
                return time.monotonic() - t0
        time.sleep(0.25)
    return None
"#;

#[test]
fn silent_slow_and_unauthorised_connections_are_closed() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let script = format!(
        "{PY_ENDPOINT}{}",
        r#"
import threading
out = {}
silent = socket.create_connection((host, port))
slow = socket.create_connection((host, port))
res = {}
def watch(name, s, trickle=None):
    res[name] = closed_after(s, 20, trickle)
threads = [threading.Thread(target=watch, args=("silent", silent)),
           threading.Thread(target=watch, args=("slow", slow, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + b"0" * 200))]
for t in threads: t.start()
out["served_meanwhile"] = get()
for t in threads: t.join()
out.update(res)
# A request without the token is answered, then its connection closed.
bare = socket.create_connection((host, port))
bare.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
bare.settimeout(10)
data = b""
try:
    while True:
        chunk = bare.recv(4096)
        if not chunk:
            out["bare_closed"] = True
            break
        data += chunk
except OSError as e:
    out["bare_closed"] = type(e).__name__
out["bare_status"] = data.split(b"\r\n", 1)[0].decode()
print(json.dumps(out))
"#
    );
    let v = served_python(&env, &script);
    eprintln!("{v}");
    assert_eq!(v["served_meanwhile"], 200, "{v}");
    // Five seconds for a request head; the bounds only catch "never" and "at once".
    for name in ["silent", "slow"] {
        let t = v[name].as_f64();
        assert!(
            t.is_some_and(|t| (4.0..15.0).contains(&t)),
            "{name} connection closed after {:?} s: {v}",
            t
        );
    }
    assert!(
        v["bare_status"]
            .as_str()
            .unwrap_or_default()
            .contains(" 401"),
        "{v}"
    );
    assert_eq!(v["bare_closed"], true, "{v}");
}

#[test]
fn endpoint_survives_running_out_of_descriptors_without_spinning() {
    if !require_tools(&["moto_server", "python3"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    let script = format!(
        "{PY_ENDPOINT}{}",
        r#"
import resource
ppid = os.getppid()
def fds():
    return len(os.listdir(f"/proc/{ppid}/fd"))
def cpu():
    f = open(f"/proc/{ppid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def limit(n):
    hard = resource.prlimit(ppid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(ppid, resource.RLIMIT_NOFILE, (n, hard))
out = {"before": get()}
# awsenv's limit drops under it at run time (it sized its connection table for a larger one):
# 20 descriptors to spare, then 200 connections that never send a byte.
limit(fds() + 20)
idle = [socket.create_connection((host, port), timeout=5) for _ in range(200)]
out["out_of_fds"] = [get() for _ in range(10)]
for s in idle:
    s.close()
time.sleep(0.5)
# Not one descriptor to spare and nothing to close: requests wait in the backlog, and awsenv
# waits too instead of spinning on accept.
limit(fds())
pending = [socket.create_connection((host, port), timeout=5) for _ in range(5)]
c0 = cpu()
time.sleep(2)
out["cpu_stuck"] = cpu() - c0
limit(1024)
out["after"] = get()
print(json.dumps(out))
"#
    );
    let v = served_python(&env, &script);
    eprintln!("{v}");
    assert_eq!(v["before"], 200, "{v}");
    assert_eq!(
        v["out_of_fds"],
        serde_json::json!([200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        "the token holder was not served once awsenv ran out of descriptors: {v}"
    );
    assert_eq!(v["after"], 200, "{v}");
    // Spinning on EMFILE would burn the whole 2 s; the bound only catches that.
    assert!(
        v["cpu_stuck"].as_f64().is_some_and(|s| s < 1.0),
        "awsenv used {} s of CPU in 2 s while out of descriptors",
        v["cpu_stuck"]
    );
}

#[test]
fn signals_ignored_for_awsenv_stay_ignored_for_the_command() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let env = setup(&moto, "");
    // As under nohup: SIGHUP ignored when awsenv starts. awsenv's own forwarding handler must
    // not turn that into the default action (death) for the command.
    let out = run(env.command("sh").args([
        "-c",
        "trap '' HUP; exec \"$0\" exec --server calvin --mfa-token 123456 -- sh -c 'kill -HUP $$; echo survived'",
        env!("CARGO_BIN_EXE_awsenv"),
    ]));
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "survived");
}
