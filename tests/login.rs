//! `login_session` profiles (`aws login`, AWS CLI 2.32+) against a fake of the AWS Sign-In
//! service (`tests/login/fake_signin.py`) whose behaviour is first held to botocore's own login
//! provider (`tests/login/validate_botocore.py`). Then awsenv: the CLI's cache read, a refresh
//! through the fake with a verified DPoP proof and written back so the CLI stays signed in, a role
//! assumed on top in moto, parallel callers refreshing once, and each failure as one line.

mod common;
#[path = "login/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::{Moto, TestEnv, require_tools};
use harness::{Fake, SESSION};
use serde_json::{Value, json};

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws", "python3"]).then(Moto::start))
        .as_ref()
}

fn src(rel: &str) -> PathBuf {
    harness::src(rel)
}

struct World {
    env: TestEnv,
    fake: Fake,
}

fn world() -> Option<World> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    let fake = Fake::start(&env);
    env.set_var("AWS_ENDPOINT_URL_SIGNIN", &fake.url);
    env.write_aws_config(&harness::config());
    Some(World { env, fake })
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

fn awsenv(env: &TestEnv, args: &[&str]) -> Output {
    let mut c = env.awsenv();
    c.args(args);
    run(c)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `awsenv credential-process PROFILE`, which must succeed; the parsed JSON.
fn process_json(env: &TestEnv, profile: &str) -> Value {
    let o = awsenv(env, &["credential-process", profile]);
    assert!(
        o.status.success(),
        "credential-process {profile}: {}",
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("credential_process JSON")
}

fn cache(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read cache")).expect("cache JSON")
}

fn refreshes(fake: &Fake) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r["operation"] == "CreateOAuth2Token")
        .collect()
}

const BOTOCORE_CHECKS: &[&str] = &[
    "botocore refreshes an expired login session through the fake, DPoP proof verified",
    "the refreshed token is written back to the CLI's cache, refresh token rotated",
    "a fresh cached access token is used without a refresh",
    "reusing a spent refresh token is refused and ends the session",
    "after reuse, the session's current refresh token is dead too",
    "a DPoP proof from a key the session is not bound to is refused",
];

/// The fake is only trusted because botocore's own `login_session` provider (what the AWS CLI
/// runs after `aws login`) refreshes through it, and its refusals are the ones botocore expects.
#[test]
fn the_fake_is_the_one_botocore_refreshes_through() {
    let Some(w) = world() else { return };
    let mut c = w.env.command("python3");
    c.arg(src("tests/login/validate_botocore.py"))
        .env("FAKE_SIGNIN_URL", &w.fake.url)
        .env(
            "AWS_LOGIN_CACHE_DIRECTORY",
            w.env.root().join("botocore-cache"),
        );
    let o = run(c);
    let out = text(&o.stdout);
    assert!(
        o.status.success(),
        "validate_botocore.py failed:\n{out}\n{}",
        text(&o.stderr)
    );
    let ok: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("ok: ")).collect();
    assert_eq!(ok, BOTOCORE_CHECKS, "checks that held");
}

/// An expired access token is refreshed once through Sign-In (DPoP proof verified by the fake),
/// the rotated refresh token is written back to the CLI's file, and the CLI (botocore) can go on
/// refreshing with it afterwards: awsenv did not sign the CLI out. A fresh one is used as is.
#[test]
fn use_refreshes_and_keeps_the_cli_signed_in() {
    let Some(w) = world() else { return };
    let path = w.fake.login(&w.env, SESSION, -60);
    let before = cache(&path);
    let o = awsenv(&w.env, &["use", "console"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "use console: {}", text(&o.stderr));
    let r = refreshes(&w.fake);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["dpop"], "ok", "{r:?}");
    let key = r[0]["access_key_id"].as_str().expect("key id");
    assert!(
        out.contains(&format!("export AWS_ACCESS_KEY_ID='{key}'")),
        "{out}"
    );
    let after = cache(&path);
    assert_ne!(after["refreshToken"], before["refreshToken"]);
    assert_eq!(after["accessToken"]["accessKeyId"], key);
    assert_eq!(after["dpopKey"], before["dpopKey"]);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600,
        "the CLI's cache file keeps its mode"
    );
    // Fresh now: neither awsenv nor the CLI refreshes again.
    assert_eq!(process_json(&w.env, "console")["AccessKeyId"], key);
    assert_eq!(refreshes(&w.fake).len(), 1);
    // The CLI refreshes with the token awsenv wrote back (expire it to make it refresh).
    let mut stale = after.clone();
    stale["accessToken"]["expiresAt"] = json!("2000-01-01T00:00:00Z");
    std::fs::write(&path, stale.to_string()).unwrap();
    let mut c = w.env.command("python3");
    c.args([
        "-c",
        "import botocore.session as s; print(s.Session(profile='console').get_credentials().get_frozen_credentials().access_key)",
    ]);
    let o = run(c);
    assert!(
        o.status.success(),
        "botocore after awsenv: {}",
        text(&o.stderr)
    );
    let r = refreshes(&w.fake);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[1]["status"], 200, "the CLI is still signed in: {r:?}");
    assert_eq!(text(&o.stdout).trim(), r[1]["access_key_id"]);
    // Nothing of the session was copied anywhere else in plaintext.
    let secret = cache(&path)["accessToken"]["secretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = cache(&path)["refreshToken"].as_str().unwrap().to_string();
    let found: Vec<_> = w
        .env
        .scan_for_plaintext(&[&secret, &refresh])
        .into_iter()
        .filter(|p| p != &path && !p.starts_with(w.env.root().join("botocore-cache")))
        .collect();
    assert!(found.is_empty(), "secrets in {found:?}");
}

/// A role on top of the `aws login` session: AssumeRole in moto signed by the session's
/// credentials; the role session is cached and still used after the login session refreshed.
#[test]
fn a_role_on_top_of_a_login_session() {
    let Some(w) = world() else { return };
    let moto = moto().expect("moto");
    w.fake.login(&w.env, SESSION, -60);
    moto.reset_recorder();
    let role = process_json(&w.env, "admin");
    let login_key = refreshes(&w.fake)[0]["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let assumed = moto.requests("AssumeRole");
    assert_eq!(assumed.len(), 1);
    assert_eq!(assumed[0].access_key_id(), Some(login_key.as_str()));
    assert!(role["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_ne!(role["AccessKeyId"], login_key);
    // The login session's access token ends and is refreshed; the cached role session stays.
    w.fake.login(&w.env, SESSION, -60);
    let again = process_json(&w.env, "admin");
    assert_eq!(again["AccessKeyId"], role["AccessKeyId"]);
    assert_eq!(moto.count("AssumeRole"), 1);
    // exec and exec --server serve it too: the AWS CLI under --server reaches moto as the role.
    let o = awsenv(
        &w.env,
        &["exec", "admin", "--", "printenv", "AWS_ACCESS_KEY_ID"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), role["AccessKeyId"]);
    let o = awsenv(
        &w.env,
        &[
            "exec",
            "--server",
            "admin",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
            "--endpoint-url",
            &moto.url,
            "--query",
            "Arn",
            "--output",
            "text",
        ],
    );
    assert!(o.status.success(), "exec --server: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("assumed-role/Admin/"),
        "{}",
        text(&o.stdout)
    );
}

/// `use` in a shell, then `status` and `prompt` show the login profile and its time left.
#[test]
fn status_and_prompt_show_a_login_profile() {
    let Some(w) = world() else { return };
    w.fake.login(&w.env, SESSION, 600);
    let mut c = w.env.command("bash");
    c.args([
        "-c",
        "eval \"$(awsenv use console)\" && awsenv status && echo \"prompt: $(awsenv prompt)\" && awsenv list",
    ]);
    let o = run(c);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out} {}", text(&o.stderr));
    assert!(out.contains("console"), "{out}");
    assert!(out.contains("prompt: console"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("console ")
            && l.contains("login")
            && l.contains("login session (")),
        "list: {out}"
    );
    assert!(
        refreshes(&w.fake).is_empty(),
        "a fresh session needs no refresh"
    );
}

/// Four processes find the session expired at once: one refresh, the same credentials for all,
/// no refresh token spent twice (the fake would end the session and say so).
#[test]
fn parallel_callers_refresh_once() {
    let Some(w) = world() else { return };
    let path = w.fake.login(&w.env, SESSION, -60);
    w.fake.post("/_fake/config", json!({"delay": 1.0}));
    let kids: Vec<_> = (0..4)
        .map(|_| {
            let mut c = w.env.awsenv();
            c.args(["credential-process", "console"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            common::detach(&mut c).spawn().expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = kids
        .into_iter()
        .map(|k| k.wait_with_output().expect("wait"))
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let keys: Vec<String> = outs
        .iter()
        .map(|o| {
            serde_json::from_slice::<Value>(&o.stdout).unwrap()["AccessKeyId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let r = refreshes(&w.fake);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(keys.iter().all(|k| k == &r[0]["access_key_id"]), "{keys:?}");
    assert_eq!(
        cache(&path)["accessToken"]["accessKeyId"],
        r[0]["access_key_id"]
    );
}

/// Each way it can fail is one line saying what to do; a session awsenv could not write back is
/// never refreshed (that would sign the CLI out), and no refresh token appears in an error.
#[test]
fn failures_are_one_line_and_never_sign_the_cli_out() {
    let Some(w) = world() else { return };
    // No `aws login` yet.
    let o = awsenv(&w.env, &["use", "console"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no 'aws login' session") && err.contains("aws login --profile console"),
        "{err}"
    );

    // A cache file awsenv could not write back: no refresh is attempted.
    let path = w.fake.login(&w.env, SESSION, -60);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let writable_as_root = std::fs::OpenOptions::new().append(true).open(&path).is_ok();
    if !writable_as_root {
        let o = awsenv(&w.env, &["use", "console"]);
        let err = text(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains("could not write") && err.contains("aws login --profile console"),
            "{err}"
        );
        assert!(refreshes(&w.fake).is_empty());
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = path.with_extension("real");
    std::fs::rename(&path, &link).unwrap();
    std::os::unix::fs::symlink(&link, &path).unwrap();
    let o = awsenv(&w.env, &["use", "console"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("not a regular file"), "{err}");
    assert!(refreshes(&w.fake).is_empty());
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(&link, &path).unwrap();

    // The session ended at Sign-In (signed out elsewhere, 12 hours passed).
    let refresh = cache(&path)["refreshToken"].as_str().unwrap().to_string();
    w.fake.post("/_fake/end-sessions", json!({}));
    let o = awsenv(&w.env, &["use", "console"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("aws login --profile console"), "{err}");
    assert!(!err.contains(&refresh), "{err}");

    // An endpoint override that is not https (or loopback) never receives the refresh token.
    let mut c = w.env.awsenv();
    c.args(["use", "console"])
        .env("AWS_ENDPOINT_URL_SIGNIN", "http://signin.example.com");
    let o = run(c);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("AWS_ENDPOINT_URL_SIGNIN"), "{err}");
}
