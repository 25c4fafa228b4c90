//! Proxies and private CAs (issue 21 §1): a real TLS-intercepting proxy (mitmproxy's
//! `mitmdump`) in front of moto served over HTTPS (by a second `mitmdump` in reverse-proxy
//! mode), with the proxy's CA only in `AWS_CA_BUNDLE` or a profile's
//! `ca_bundle`.
//!
//! awsenv never sends a loopback destination through a proxy, so the endpoints here are names
//! under `.test` (`sts.test`, `iam.test`, `signin.test`) that only the proxy resolves: its addon
//! (written below) sends them to moto on 127.0.0.1 (`sso.test` to the IAM Identity Center
//! fake of tests/sso), answers the console federation endpoint (`signin.test`) itself, and
//! logs every CONNECT and request it sees to a file the tests read.

mod common;
#[path = "sso/harness.rs"]
mod harness;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Moto, TestEnv, moto_call, random_hex, require_tools, xml_values};

const KEY_ID: &str = "AKIAAWSENVPROXYKEY01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEPRX";

/// The addon: `.test` names to moto, `signin.test` answered here, `denied.*` refused with 403,
/// every CONNECT and request logged as one JSON line.
const ADDON: &str = r#"
import json, os
from urllib.parse import parse_qs
from mitmproxy import http

UPSTREAM = int(os.environ["AWSENV_TEST_UPSTREAM_PORT"])
SSO = int(os.environ.get("AWSENV_TEST_SSO_PORT") or 0)
LOG = os.environ["AWSENV_TEST_FLOW_LOG"]

def _log(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")

def http_connect(flow):
    _log(kind="connect", host=flow.request.pretty_host)
    if flow.request.pretty_host.startswith("denied."):
        flow.response = http.Response.make(403, b"blocked by policy")

def request(flow):
    host = flow.request.pretty_host
    action = parse_qs(flow.request.get_text() or "").get("Action", [""])[0] \
        or flow.request.query.get("Action", "")
    _log(kind="request", host=host, action=action, path=flow.request.path.split("?")[0])
    if host == "signin.test":
        flow.response = http.Response.make(
            200, json.dumps({"SigninToken": "PROXIED-TOKEN"}),
            {"Content-Type": "application/json"})
    elif host.endswith(".test"):
        flow.request.scheme = "http" if host == "sso.test" else "https"
        flow.request.host = "127.0.0.1"
        flow.request.port = SSO if host == "sso.test" else UPSTREAM
"#;

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server"]).then(Moto::start))
        .as_ref()
}

/// `mitmdump`: on `PATH`, else where `scripts/test` installs it (its own venv, so that
/// mitmproxy's pinned dependencies leave moto's alone).
fn mitmdump() -> Option<PathBuf> {
    if let Some(p) = common::find_tool("mitmdump") {
        return Some(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let p = cache.join("awsenv-test/mitm-venv/bin/mitmdump");
    if p.is_file() {
        return Some(p);
    }
    // Not found: fails under CI=true, else notes the skip.
    common::require_tool("mitmdump");
    None
}

/// moto over HTTPS: a second `mitmdump`, in reverse-proxy mode, in front of the test binary's
/// moto, with its own CA (which awsenv never sees; the intercepting proxy does not check it).
/// Its port; one per test binary, killed when the binary ends.
fn https_front(moto: &Moto) -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let bin = mitmdump().expect("mitmdump checked by the caller");
        let dir = tempfile::Builder::new()
            .prefix("awsenv-moto-tls-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let port = common::free_port();
        let log = dir.join("mitmdump.log");
        let mut cmd = Command::new(bin);
        cmd.arg("--mode")
            .arg(format!("reverse:http://127.0.0.1:{}@{port}", moto.port))
            .args(["--listen-host", "127.0.0.1"])
            .arg("--set")
            .arg(format!("confdir={}", dir.display()))
            .stdout(fs::File::create(&log).expect("log"))
            .stderr(Stdio::null());
        let mut child = common::detach(&mut cmd).spawn().expect("spawn mitmdump");
        common::watch_and_kill(child.id(), &dir);
        // Reaped when the watchdog kills it at the end of the test binary.
        std::thread::spawn(move || child.wait());
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the HTTPS front of moto did not start on port {port}: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        port
    })
}

/// A running `mitmdump` on a free loopback port; killed on drop.
struct Mitm {
    port: u16,
    /// The proxy's CA certificate (PEM), generated at its start.
    ca: PathBuf,
    flows: PathBuf,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Mitm {
    fn start(upstream: &Moto, proxyauth: Option<&str>) -> Mitm {
        Mitm::with_sso(upstream, proxyauth, 0)
    }

    fn with_sso(upstream: &Moto, proxyauth: Option<&str>, sso_port: u16) -> Mitm {
        let bin = mitmdump().expect("mitmdump checked by the caller");
        let dir = tempfile::Builder::new()
            .prefix("awsenv-mitm-")
            .tempdir()
            .expect("temp dir");
        let addon = dir.path().join("addon.py");
        fs::write(&addon, ADDON).expect("write addon");
        let flows = dir.path().join("flows.jsonl");
        let log = dir.path().join("mitmdump.log");
        let port = common::free_port();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
        ])
        .arg("--set")
        .arg(format!("confdir={}", dir.path().display()))
        .args(["--set", "connection_strategy=lazy"])
        .args(["--set", "ssl_insecure=true"])
        .arg("-s")
        .arg(&addon)
        .env(
            "AWSENV_TEST_UPSTREAM_PORT",
            https_front(upstream).to_string(),
        )
        .env("AWSENV_TEST_FLOW_LOG", &flows)
        .env("AWSENV_TEST_SSO_PORT", sso_port.to_string())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("log"))
        .stderr(fs::File::create(dir.path().join("stderr.log")).expect("log"));
        if let Some(a) = proxyauth {
            cmd.args(["--proxyauth", a]);
        }
        let child = common::detach(&mut cmd).spawn().expect("spawn mitmdump");
        common::watch_and_kill(child.id(), dir.path());
        let ca = dir.path().join("mitmproxy-ca-cert.pem");
        let m = Mitm {
            port,
            ca,
            flows,
            log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(m.ca.is_file() && TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(
                Instant::now() < deadline,
                "mitmdump did not start on port {port}: {}",
                m.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The paths of the requests to `host` the proxy saw.
    fn paths(&self, host: &str) -> Vec<String> {
        fs::read_to_string(&self.flows)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "request" && v["host"] == host)
            .map(|v| v["path"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// What the proxy saw: (kind, host, action) per CONNECT and request.
    fn flows(&self) -> Vec<(String, String, String)> {
        fs::read_to_string(&self.flows)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("flow JSON");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (s("kind"), s("host"), s("action"))
            })
            .collect()
    }

    fn requested(&self, host: &str, action: &str) -> bool {
        self.flows()
            .iter()
            .any(|(k, h, a)| k == "request" && h == host && a == action)
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A role profile on stored keys, STS at `https://sts.test` through `mitm`.
fn rig(extra_config: &str) -> Option<(&'static Moto, TestEnv)> {
    let moto = moto()?;
    mitmdump()?;
    let mut env = TestEnv::new();
    env.set_var("AWS_ENDPOINT_URL_STS", "https://sts.test");
    env.write_aws_config(&format!(
        "[profile base]\nregion = us-east-1\n\n\
         [profile dev]\nsource_profile = base\nregion = us-east-1\n\
         role_arn = arn:aws:iam::123456789012:role/dev\n{extra_config}"
    ));
    env.add_keys("base", KEY_ID, SECRET);
    Some((moto, env))
}

fn use_dev(env: &TestEnv) -> Output {
    run({
        let mut c = env.awsenv();
        c.args(["use", "dev", "--shell", "bash", "--no-session"]);
        c
    })
}

/// One line on stderr naming what it says, and no secret.
fn assert_one_line(o: &Output, wants: &[&str], secrets: &[&str]) {
    assert!(!o.status.success(), "succeeded; stderr: {}", stderr(o));
    // The note awsenv prints while STS retries is not part of the error.
    let err: String = stderr(o)
        .lines()
        .filter(|l| !l.starts_with("awsenv: waiting for"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for w in wants {
        assert!(err.contains(w), "stderr lacks {w:?}: {err}");
    }
    for s in secrets {
        assert!(!err.contains(s), "stderr shows the secret {s:?}: {err}");
    }
}

#[test]
fn use_goes_through_the_intercepting_proxy_with_aws_ca_bundle() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, None);
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    let before = moto.count("AssumeRole");
    let o = use_dev(&env);
    assert!(o.status.success(), "use: {}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("AWS_SESSION_TOKEN"),
        "no credentials exported"
    );
    assert!(
        mitm.requested("sts.test", "AssumeRole"),
        "the proxy saw no AssumeRole: {:?}",
        mitm.flows()
    );
    assert_eq!(
        moto.count("AssumeRole"),
        before + 1,
        "moto got no AssumeRole"
    );
}

#[test]
fn a_profiles_ca_bundle_is_trusted_and_lower_case_and_all_proxy_work() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, None);
    env.write_aws_config(&format!(
        "[profile base]\nregion = us-east-1\n\n\
         [profile dev]\nsource_profile = base\nregion = us-east-1\n\
         role_arn = arn:aws:iam::123456789012:role/dev\nca_bundle = {}\n",
        mitm.ca.display()
    ));
    env.set_var("https_proxy", &mitm.url());
    let o = use_dev(&env);
    assert!(o.status.success(), "use: {}", stderr(&o));
    assert!(
        mitm.requested("sts.test", "AssumeRole"),
        "{:?}",
        mitm.flows()
    );
    // ALL_PROXY when no scheme's own variable is set (a fresh home: the session is cached).
    let Some((_, mut env)) = rig(&format!("ca_bundle = {}\n", mitm.ca.display())) else {
        return;
    };
    env.set_var("ALL_PROXY", &mitm.url());
    let before = mitm.flows().len();
    let o = use_dev(&env);
    assert!(o.status.success(), "use: {}", stderr(&o));
    assert!(
        mitm.flows().len() > before,
        "ALL_PROXY not used: {:?}",
        mitm.flows()
    );
}

#[test]
fn without_the_proxys_ca_tls_fails_in_one_line_saying_what_to_set() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, None);
    env.set_var("HTTPS_PROXY", &mitm.url());
    let o = use_dev(&env);
    assert_one_line(
        &o,
        &[
            "TLS to sts.test failed",
            "the system roots",
            "AWS_CA_BUNDLE",
            "ca_bundle",
        ],
        &[],
    );
    assert!(
        !mitm.requested("sts.test", "AssumeRole"),
        "a request got through"
    );
}

#[test]
fn no_proxy_and_loopback_bypass_the_proxy() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, None);
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("HTTP_PROXY", &mitm.url());
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    // NO_PROXY: awsenv goes to sts.test itself, which only the proxy could resolve.
    env.set_var("NO_PROXY", "example.com,.test");
    let o = use_dev(&env);
    assert!(!o.status.success(), "sts.test reached without the proxy?");
    assert!(
        stderr(&o).contains("cannot reach STS at https://sts.test"),
        "{}",
        stderr(&o)
    );
    assert!(mitm.flows().is_empty(), "proxied: {:?}", mitm.flows());
    // The loopback interface: never through the proxy, NO_PROXY or not.
    env.remove_var("NO_PROXY");
    env.with_moto(moto);
    let before = moto.count("AssumeRole");
    let o = use_dev(&env);
    assert!(o.status.success(), "use on loopback: {}", stderr(&o));
    assert_eq!(moto.count("AssumeRole"), before + 1);
    assert!(mitm.flows().is_empty(), "proxied: {:?}", mitm.flows());
}

#[test]
fn a_proxy_with_credentials_works_and_a_wrong_password_stays_secret() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, Some("alice:s3cr@t"));
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    // Percent-encoded in the URL, decoded for Proxy-Authorization.
    env.set_var(
        "HTTPS_PROXY",
        &format!("http://alice:s3cr%40t@127.0.0.1:{}", mitm.port),
    );
    let o = use_dev(&env);
    assert!(o.status.success(), "use: {}", stderr(&o));
    assert!(
        mitm.requested("sts.test", "AssumeRole"),
        "{:?}",
        mitm.flows()
    );
    // A fresh home (the role session above is cached).
    let Some((_, mut env)) = rig("") else {
        return;
    };
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    env.set_var(
        "HTTPS_PROXY",
        &format!("http://alice:WrongHunter2@127.0.0.1:{}", mitm.port),
    );
    let o = use_dev(&env);
    assert_one_line(
        &o,
        &["proxy", "HTTP 407", &format!("127.0.0.1:{}", mitm.port)],
        &["WrongHunter2"],
    );
}

#[test]
fn a_refusing_proxy_is_one_line() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    // Nothing listens there: connection refused.
    let port = common::free_port();
    env.set_var(
        "HTTPS_PROXY",
        &format!("http://alice:Hunter2Secret@127.0.0.1:{port}"),
    );
    let o = use_dev(&env);
    assert_one_line(
        &o,
        &[
            &format!("the proxy http://127.0.0.1:{port}"),
            "cannot connect to the proxy",
        ],
        &["Hunter2Secret"],
    );
    // A proxy that answers CONNECT with 403.
    let mitm = Mitm::start(moto, None);
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("AWS_ENDPOINT_URL_STS", "https://denied.test");
    let o = use_dev(&env);
    assert_one_line(&o, &["the proxy refused the tunnel", "denied.test"], &[]);
    assert!(
        mitm.flows()
            .iter()
            .any(|(k, h, _)| k == "connect" && h == "denied.test"),
        "{:?}",
        mitm.flows()
    );
}

#[test]
fn rotate_reaches_iam_through_the_proxy() {
    let Some(moto) = moto() else {
        return;
    };
    if mitmdump().is_none() {
        return;
    }
    let user = format!("pat-{}", random_hex(5));
    let admin = "AKIAADMINADMINADMIN0";
    moto_call(
        moto,
        "iam",
        admin,
        &[("Action", "CreateUser"), ("UserName", &user)],
    )
    .expect("create the IAM user");
    let answer = moto_call(
        moto,
        "iam",
        admin,
        &[("Action", "CreateAccessKey"), ("UserName", &user)],
    )
    .expect("create a key");
    let first = xml_values(&answer, "AccessKeyId")[0].clone();
    let secret = xml_values(&answer, "SecretAccessKey")[0].clone();
    let mitm = Mitm::start(moto, None);
    let mut env = TestEnv::new();
    env.write_aws_config("[profile work]\nregion = us-east-1\n");
    env.add_keys("work", &first, &secret);
    env.set_var("AWS_ENDPOINT_URL_STS", "https://sts.test");
    env.set_var("AWS_ENDPOINT_URL_IAM", "https://iam.test");
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    env.set_var("AWSENV_ROTATE_WAIT", "0s");
    let o = run({
        let mut c = env.awsenv();
        c.args(["rotate", "work"]);
        c
    });
    assert!(o.status.success(), "rotate: {}", stderr(&o));
    assert!(
        mitm.requested("iam.test", "CreateAccessKey"),
        "{:?}",
        mitm.flows()
    );
    assert!(
        mitm.requested("iam.test", "DeleteAccessKey"),
        "{:?}",
        mitm.flows()
    );
    let keys = moto_call(
        moto,
        "iam",
        admin,
        &[("Action", "ListAccessKeys"), ("UserName", &user)],
    )
    .expect("list keys");
    let ids = xml_values(&keys, "AccessKeyId");
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(ids[0], first, "the key was not rotated");
}

#[test]
fn login_reaches_sts_and_the_federation_endpoint_through_the_proxy() {
    let Some((moto, mut env)) = rig("") else {
        return;
    };
    let mitm = Mitm::start(moto, None);
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    env.set_var("AWSENV_FEDERATION_URL", "https://signin.test/federation");
    let o = run({
        let mut c = env.awsenv();
        c.args(["login", "base", "--stdout"]);
        c
    });
    assert!(o.status.success(), "login: {}", stderr(&o));
    let url = String::from_utf8_lossy(&o.stdout);
    assert!(url.contains("SigninToken=PROXIED-TOKEN"), "{url}");
    assert!(
        mitm.requested("sts.test", "GetFederationToken"),
        "{:?}",
        mitm.flows()
    );
    assert!(
        mitm.requested("signin.test", "getSigninToken"),
        "{:?}",
        mitm.flows()
    );
    // Without the bundle the federation call is refused in one line too (STS reached directly
    // on loopback, the federation endpoint through the proxy).
    env.remove_var("AWS_CA_BUNDLE");
    env.with_moto(moto);
    let o = run({
        let mut c = env.awsenv();
        c.args(["login", "base", "--stdout"]);
        c
    });
    assert_one_line(&o, &["TLS to signin.test failed", "AWS_CA_BUNDLE"], &[]);
}

/// `awsenv sso login --use-device-code` and then `use` of an SSO profile: IAM Identity Center's
/// OIDC service and portal (the fake of tests/sso, as `sso.test`) through the proxy.
#[test]
fn sso_sign_in_and_role_credentials_go_through_the_proxy() {
    if !require_tools(&["script", "python3"]) {
        return;
    }
    let Some(moto) = moto() else {
        return;
    };
    if mitmdump().is_none() {
        return;
    }
    let fake = harness::FakeSso::start(moto);
    let mitm = Mitm::with_sso(moto, None, fake.port);
    let mut env = TestEnv::new();
    env.set_var("USER", "tester");
    fake.point(&mut env);
    env.set_var("AWS_ENDPOINT_URL_SSO_OIDC", "https://sso.test");
    env.set_var("AWS_ENDPOINT_URL_SSO", "https://sso.test");
    env.set_var("HTTPS_PROXY", &mitm.url());
    env.set_var("AWS_CA_BUNDLE", &mitm.ca.to_string_lossy());
    env.write_aws_config(&harness::config(&harness::profile(
        "dev-admin",
        "111111111111",
        "Admin",
    )));
    // On a terminal (`script`), as a user runs it; the test browser approves the device code.
    let mut c = env.command("script");
    c.args([
        "-qfec",
        &format!(
            "{} sso login corp --use-device-code",
            env!("CARGO_BIN_EXE_awsenv")
        ),
        "/dev/null",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = common::detach(&mut c).spawn().expect("spawn script");
    let mut all = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        all.push_str(&line.unwrap_or_default());
        all.push('\n');
    }
    assert!(
        child.wait().expect("wait").success(),
        "sso login:\n{all}\n{}",
        fake.log()
    );
    let o = use_dev_admin(&env);
    assert!(o.status.success(), "use: {}", stderr(&o));
    let paths = mitm.paths("sso.test");
    for p in [
        "/client/register",
        "/device_authorization",
        "/token",
        "/federation/credentials",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} not proxied: {paths:?}");
    }
}

fn use_dev_admin(env: &TestEnv) -> Output {
    run({
        let mut c = env.awsenv();
        c.args(["use", "dev-admin", "--shell", "bash"]);
        c
    })
}
