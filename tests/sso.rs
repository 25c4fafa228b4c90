//! IAM Identity Center (SSO) against a faithful fake (`tests/sso/fake_sso.py`) whose role
//! credentials come from moto.
//!
//! First the fake is held to the real clients that CI can run: boto3's `sso-oidc` and `sso`
//! clients and botocore's token provider (generated from the same service models as the Rust
//! SDK), and AWS CLI v1 resolving an sso-session profile. (AWS CLI v2's `aws sso login` flows
//! are validated locally by `scripts/validate-sso-fake-v2`.) Then awsenv: one sign-in for many
//! profiles and processes, refresh without a browser, the AWS CLI's token reused, nothing in
//! plaintext on disk, the commands, and every error as one line.
//!
//! Every awsenv command runs detached from any terminal (`setsid`) unless a test gives it a
//! pseudo-terminal on purpose (`script`). The test browser ($BROWSER = tests/sso/browser.py)
//! follows the authorize URL like a user who approves.

mod common;
#[path = "sso/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Moto, TestEnv, require_tools};
use harness::{FakeSso, REGION, START_URL, browser_opened, config, profile};
use serde_json::{Value, json};

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws", "python3"]).then(Moto::start))
        .as_ref()
}

/// One test's world: an isolated home pointed at moto and a fresh fake.
struct World {
    env: TestEnv,
    fake: FakeSso,
    moto: &'static Moto,
}

fn world(profiles: &str) -> Option<World> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    let fake = FakeSso::start(moto);
    fake.point(&mut env);
    env.write_aws_config(&config(profiles));
    Some(World { env, fake, moto })
}

fn three_profiles() -> String {
    [
        profile("dev-admin", "111111111111", "Admin"),
        profile("dev-readonly", "111111111111", "ReadOnly"),
        profile("sandbox-power", "333333333333", "PowerUser"),
    ]
    .concat()
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

/// `awsenv credential-process PROFILE`, which must succeed; the parsed JSON.
fn creds(env: &TestEnv, profile: &str) -> Value {
    let o = awsenv(env, &["credential-process", profile]);
    assert!(
        o.status.success(),
        "credential-process {profile}: {}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "credential-process {profile}: not JSON ({e}): {}",
            stdout(&o)
        )
    })
}

/// The ARN `aws sts get-caller-identity` (moto) answers for credential-process JSON.
fn identity(env: &TestEnv, c: &Value) -> String {
    let mut cmd = env.command("aws");
    cmd.args([
        "sts",
        "get-caller-identity",
        "--query",
        "Arn",
        "--output",
        "text",
    ])
    .env(
        "AWS_ACCESS_KEY_ID",
        c["AccessKeyId"].as_str().unwrap_or_default(),
    )
    .env(
        "AWS_SECRET_ACCESS_KEY",
        c["SecretAccessKey"].as_str().unwrap_or_default(),
    )
    .env(
        "AWS_SESSION_TOKEN",
        c["SessionToken"].as_str().unwrap_or_default(),
    )
    .env("AWS_DEFAULT_REGION", REGION);
    let o = run(cmd);
    assert!(
        o.status.success(),
        "aws sts get-caller-identity: {}",
        stderr(&o)
    );
    stdout(&o).trim().to_string()
}

fn assert_role(arn: &str, account: &str, role: &str) {
    let want = format!("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{role}_");
    assert!(arn.starts_with(&want), "identity {arn:?}, expected {want}…");
}

/// Asserts a failure as the user sees it: exit 1, nothing on stdout, one line on stderr
/// containing `needle`.
fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout on failure: {}", stdout(o));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("awsenv: ") && last.contains(needle),
        "last stderr line {last:?} lacks {needle:?}; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "a panic: {err}");
}

// ---------------------------------------------------------------------------------------------
// The fake against the real clients
// ---------------------------------------------------------------------------------------------

const BOTO3_CHECKS: &[&str] = &[
    "register_client",
    "register_client_errors",
    "start_device_authorization",
    "device_authorization_pending",
    "device_slow_down",
    "device_token",
    "device_code_single_use",
    "device_denied_and_expired",
    "auth_client_cannot_device_grant",
    "authorize_redirects_with_code_and_state",
    "authorize_checks",
    "authorization_code_token",
    "authorize_denied",
    "refresh_token_rotates",
    "create_token_errors",
    "legacy_client_no_refresh_token",
    "list_accounts_paginated",
    "list_account_roles_paginated",
    "get_role_credentials_answers_the_role",
    "unassigned_role_forbidden",
    "dead_token_unauthorized",
    "logout_ends_the_session",
    "requests_unsigned_with_bearer_header",
    "botocore_token_provider_refreshes",
];

/// boto3's sso-oidc and sso clients (every operation, both sign-in grants, refresh, the error
/// codes and shapes) and botocore's SSO token provider accept the fake.
#[test]
fn the_fake_speaks_the_service_models_boto3_and_botocore_use() {
    let Some(w) = world("") else { return };
    let mut cmd = w.env.command("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sso/validate_boto3.py"))
        .env("FAKE_SSO_URL", &w.fake.url)
        .env("MOTO_URL", &w.moto.url);
    let o = run(cmd);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "validate_boto3.py failed:\n{out}\n{}",
        stderr(&o)
    );
    let ok: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("ok: ")).collect();
    assert_eq!(ok, BOTO3_CHECKS, "checks that held");
}

/// AWS CLI v1 resolves an sso-session profile from a token cache written in its format:
/// GetRoleCredentials with the cached token as bearer, and moto answers the SSO role.
#[test]
fn aws_cli_v1_resolves_an_sso_session_profile_from_a_token_cache() {
    let Some(w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    let tok = w.fake.device_token();
    harness::write_cli_cache(&w.env, &tok, harness::now() + 3600);
    w.fake.reset();
    let o = run({
        let mut c = w.env.command("aws");
        c.args([
            "sts",
            "get-caller-identity",
            "--profile",
            "dev-admin",
            "--query",
            "Arn",
            "--output",
            "text",
        ]);
        c
    });
    assert!(o.status.success(), "aws: {}", stderr(&o));
    assert_role(stdout(&o).trim(), "111111111111", "Admin");
    let reqs = w.fake.requests();
    assert_eq!(w.fake.ops(), ["GetRoleCredentials 200"]);
    assert_eq!(
        reqs[0]["headers"]["x-amz-sso_bearer_token"], tok["accessToken"],
        "the cached token was the bearer"
    );
    assert_eq!(
        reqs[0]["query"],
        json!({"account_id": "111111111111", "role_name": "Admin"})
    );
}

// ---------------------------------------------------------------------------------------------
// awsenv: sign in once, serve many
// ---------------------------------------------------------------------------------------------

/// One browser sign-in (PKCE, loopback redirect) serves three profiles of one sso-session:
/// one registration, one authorization code, three GetRoleCredentials, and the AWS CLI sees
/// each role. A second `use` is served from the cache.
#[test]
fn one_sign_in_serves_three_profiles_of_a_session() {
    let Some(w) = world(&three_profiles()) else {
        return;
    };
    let first = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains(&format!(
            "signing in to IAM Identity Center at {START_URL} (sso-session corp) in your browser"
        )),
        "{}",
        stderr(&first)
    );
    let dev: Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_role(&identity(&w.env, &dev), "111111111111", "Admin");
    assert_role(
        &identity(&w.env, &creds(&w.env, "dev-readonly")),
        "111111111111",
        "ReadOnly",
    );
    assert_role(
        &identity(&w.env, &creds(&w.env, "sandbox-power")),
        "333333333333",
        "PowerUser",
    );

    let ops = w.fake.ops();
    assert_eq!(
        ops,
        [
            "RegisterClient 200",
            "Authorize 302",
            "CreateToken/authorization_code 200",
            "GetRoleCredentials 200",
            "GetRoleCredentials 200",
            "GetRoleCredentials 200",
        ],
        "one sign-in for three profiles"
    );
    assert_eq!(browser_opened(&w.env).len(), 1, "one browser page");
    let reqs = w.fake.requests();
    let reg = &reqs[0]["body"];
    assert_eq!(
        reg["grantTypes"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        reg["redirectUris"],
        json!(["http://127.0.0.1/oauth/callback"])
    );
    assert_eq!(reg["issuerUrl"], START_URL);
    assert_eq!(reg["scopes"], json!(["sso:account:access"]));
    let auth = &reqs[1]["query"];
    let redirect = auth["redirect_uri"].as_str().unwrap_or_default();
    let port = redirect
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/oauth/callback"))
        .and_then(|p| p.parse::<u16>().ok());
    assert!(
        port.is_some(),
        "loopback redirect URI with a port: {redirect}"
    );
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(auth["scopes"], "sso:account:access");
    assert_eq!(auth["response_type"], "code");
    let token = &reqs[2]["body"];
    assert_eq!(
        token["redirectUri"], redirect,
        "CreateToken repeats the redirect URI"
    );
    assert_eq!(token["codeVerifier"].as_str().map(str::len), Some(64));

    w.fake.reset();
    let again = awsenv(&w.env, &["use", "dev-readonly", "--shell", "bash"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("export AWS_SESSION_TOKEN="));
    assert_eq!(w.fake.ops(), Vec::<String>::new(), "served from the cache");
}

/// A valid token the AWS CLI wrote (here: botocore refreshed it and rewrote the cache in its
/// own format) is used as is: no registration, no sign-in, no refresh, no browser, and the
/// CLI's file is left exactly as it was.
#[test]
fn a_token_the_aws_cli_wrote_is_reused_read_only() {
    let Some(w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    let tok = w.fake.device_token();
    let cache = harness::write_cli_cache(&w.env, &tok, harness::now() - 60);
    // AWS CLI v1 refreshes the expired token and writes the cache itself.
    let o = run({
        let mut c = w.env.command("aws");
        c.args(["sts", "get-caller-identity", "--profile", "dev-admin"]);
        c
    });
    assert!(o.status.success(), "aws: {}", stderr(&o));
    let written = std::fs::read(&cache).expect("the CLI's cache");
    let cli: Value = serde_json::from_slice(&written).expect("cache JSON");
    assert_ne!(cli["accessToken"], tok["accessToken"], "the CLI refreshed");

    w.fake.reset();
    let c = creds(&w.env, "dev-admin");
    assert_role(&identity(&w.env, &c), "111111111111", "Admin");
    let reqs = w.fake.requests();
    assert_eq!(
        w.fake.ops(),
        ["GetRoleCredentials 200"],
        "no sign-in, no refresh"
    );
    assert_eq!(
        reqs[0]["headers"]["x-amz-sso_bearer_token"],
        cli["accessToken"]
    );
    assert!(browser_opened(&w.env).is_empty(), "no browser");
    assert_eq!(
        std::fs::read(&cache).expect("cache"),
        written,
        "the CLI's file is untouched"
    );
}

/// A token refused by the portal (expired early) is refreshed with the refresh token: one
/// refresh-token grant, no browser (there is none any more), and the call succeeds.
#[test]
fn an_expired_access_token_is_refreshed_without_a_browser() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    creds(&w.env, "dev-admin");
    assert_eq!(browser_opened(&w.env).len(), 1);
    w.env.remove_var("BROWSER");
    awsenv(&w.env, &["clear"]);
    w.fake.expire_access_tokens();
    w.fake.reset();
    let c = creds(&w.env, "dev-admin");
    assert_role(&identity(&w.env, &c), "111111111111", "Admin");
    assert_eq!(
        w.fake.ops(),
        [
            "GetRoleCredentials 401",
            "CreateToken/refresh_token 200",
            "GetRoleCredentials 200",
        ]
    );
    assert_eq!(browser_opened(&w.env).len(), 1, "no second browser page");
    // The new token serves the next profile without another refresh.
    w.fake.reset();
    creds(&w.env, "sandbox-power");
    assert_eq!(w.fake.ops(), ["GetRoleCredentials 200"]);
}

/// An access token about to expire (less than 5 minutes left) is refreshed before use.
#[test]
fn an_access_token_near_expiry_is_refreshed_before_use() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    w.fake.config(json!({"access_token_ttl": 120}));
    creds(&w.env, "dev-admin");
    w.env.remove_var("BROWSER");
    w.fake.reset();
    creds(&w.env, "dev-readonly");
    assert_eq!(
        w.fake.ops(),
        ["CreateToken/refresh_token 200", "GetRoleCredentials 200"],
        "refreshed first, no 401"
    );
}

fn spawn_credential_process(env: &TestEnv, profile: &str) -> std::process::Child {
    let mut c = env.awsenv();
    c.args(["credential-process", profile])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::detach(&mut c).spawn().expect("spawn awsenv")
}

/// Twenty parallel cold `credential-process` calls (twenty profiles, as Terraform providers
/// and an IDE would make them) cause one browser sign-in; the others say what they wait for.
/// Later, with the access token dead, twenty parallel calls make one refresh (refresh tokens
/// rotate: a second refresh with the same token would log everyone out).
#[test]
fn twenty_parallel_cold_calls_make_one_sign_in_and_one_refresh() {
    let roles = [
        ("111111111111", "Admin"),
        ("111111111111", "ReadOnly"),
        ("222222222222", "ReadOnly"),
        ("333333333333", "Admin"),
        ("333333333333", "PowerUser"),
        ("333333333333", "ReadOnly"),
    ];
    let names: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
    let profiles: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| profile(n, roles[i % roles.len()].0, roles[i % roles.len()].1))
        .collect();
    let Some(mut w) = world(&profiles) else {
        return;
    };
    w.env.set_var("BROWSER_DELAY", "1.5");

    let run_all = |env: &TestEnv| -> Vec<Output> {
        let children: Vec<_> = names
            .iter()
            .map(|n| spawn_credential_process(env, n))
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait"))
            .collect()
    };
    let outs = run_all(&w.env);
    for (n, o) in names.iter().zip(&outs) {
        assert!(o.status.success(), "{n}: {}", stderr(o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert!(
            v["AccessKeyId"]
                .as_str()
                .is_some_and(|k| k.starts_with("ASIA"))
        );
    }
    assert_eq!(w.fake.count("Authorize 302"), 1, "{:?}", w.fake.ops());
    assert_eq!(w.fake.count("CreateToken/authorization_code 200"), 1);
    assert_eq!(w.fake.count("RegisterClient 200"), 1);
    assert_eq!(
        w.fake.count("CreateToken/refresh_token 200"),
        0,
        "waiters refreshed"
    );
    assert_eq!(w.fake.count("GetRoleCredentials 200"), 20);
    assert_eq!(browser_opened(&w.env).len(), 1, "one browser page");
    let signing_in = outs
        .iter()
        .filter(|o| stderr(o).contains("signing in to IAM Identity Center"))
        .count();
    assert_eq!(signing_in, 1, "one process signs in");
    let waiting = format!(
        "awsenv: waiting for the IAM Identity Center sign-in for {START_URL} in a browser (Ctrl-C to stop waiting)"
    );
    let waited = outs.iter().filter(|o| stderr(o).contains(&waiting)).count();
    assert!(waited >= 1, "nobody said what they wait for");

    awsenv(&w.env, &["clear"]);
    w.fake.expire_access_tokens();
    w.fake.reset();
    w.env.remove_var("BROWSER");
    let outs = run_all(&w.env);
    for (n, o) in names.iter().zip(&outs) {
        assert!(o.status.success(), "{n} after expiry: {}", stderr(o));
    }
    assert_eq!(
        w.fake.count("CreateToken/refresh_token 200"),
        1,
        "one refresh: {:?}",
        w.fake.ops()
    );
    assert_eq!(w.fake.count("Authorize 302"), 0);
    assert_eq!(w.fake.count("GetRoleCredentials 200"), 20);
    assert_eq!(w.fake.state()["sessions"], 1, "the portal session survived");
}

/// Tokens, client secrets and role credentials never reach the disk in plaintext: not in the
/// store's files, not in ~/.aws/sso/cache, not anywhere under the test's home.
#[test]
fn no_token_or_credential_is_on_disk_in_plaintext() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    creds(&w.env, "dev-admin");
    creds(&w.env, "sandbox-power");
    w.env.remove_var("BROWSER");
    awsenv(&w.env, &["clear"]);
    w.fake.expire_access_tokens();
    creds(&w.env, "dev-readonly");
    let p = awsenv(&w.env, &["sso", "profiles", "corp"]);
    assert!(p.status.success(), "{}", stderr(&p));
    let l = awsenv(&w.env, &["list"]);
    assert!(l.status.success(), "{}", stderr(&l));

    let secrets = w.fake.secrets();
    assert!(
        secrets.len() >= 8,
        "the fake handed out tokens, secrets and credentials: {}",
        secrets.len()
    );
    let found = w
        .env
        .scan_for_plaintext(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(found.is_empty(), "plaintext secrets in {found:?}");
    assert!(
        !w.env.home.join(".aws/sso").exists(),
        "awsenv wrote ~/.aws/sso"
    );
    for o in [&p, &l] {
        for s in &secrets {
            assert!(!stdout(o).contains(s.as_str()) && !stderr(o).contains(s.as_str()));
        }
    }
}

/// `credential_process = awsenv credential-process dev-admin` in the AWS config, and
/// `awsenv exec --server` (the ECS credential endpoint), both serve the SSO role.
#[test]
fn credential_process_and_exec_server_serve_an_sso_profile() {
    let bin = env!("CARGO_BIN_EXE_awsenv");
    let extra = format!(
        "{}[profile via-awsenv]\ncredential_process = {bin} credential-process dev-admin\nregion = {REGION}\n",
        profile("dev-admin", "111111111111", "Admin")
    );
    let Some(w) = world(&extra) else { return };
    let o = run({
        let mut c = w.env.command("aws");
        c.args([
            "sts",
            "get-caller-identity",
            "--profile",
            "via-awsenv",
            "--query",
            "Arn",
            "--output",
            "text",
        ]);
        c
    });
    assert!(
        o.status.success(),
        "aws --profile via-awsenv: {}",
        stderr(&o)
    );
    assert_role(stdout(&o).trim(), "111111111111", "Admin");

    let o = awsenv(
        &w.env,
        &[
            "exec",
            "--server",
            "dev-admin",
            "--",
            "sh",
            "-c",
            "test -n \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\" && test -z \"$AWS_ACCESS_KEY_ID\" && aws sts get-caller-identity --query Arn --output text",
        ],
    );
    assert!(o.status.success(), "exec --server: {}", stderr(&o));
    assert_role(stdout(&o).trim(), "111111111111", "Admin");
    assert_eq!(w.fake.count("Authorize 302"), 1, "{:?}", w.fake.ops());
}

/// A profile chained on an SSO profile (`source_profile`) is assumed with the SSO role's
/// credentials; role chaining's 1-hour limit applies (capped, or refused for --duration).
#[test]
fn an_sso_profile_is_the_root_of_a_source_profile_chain() {
    let extra = format!(
        "{}[profile deploy]\nsource_profile = dev-admin\nrole_arn = arn:aws:iam::444444444444:role/sso-deploy\n\n[profile deploy-long]\nsource_profile = dev-admin\nrole_arn = arn:aws:iam::444444444444:role/sso-deploy-long\nduration_seconds = 7200\n",
        profile("dev-admin", "111111111111", "Admin")
    );
    let Some(w) = world(&extra) else { return };
    let c = creds(&w.env, "deploy");
    let arn = identity(&w.env, &c);
    assert!(
        arn.starts_with("arn:aws:sts::444444444444:assumed-role/sso-deploy/"),
        "{arn}"
    );
    let sso_key = w
        .fake
        .requests()
        .iter()
        .find(|r| r["operation"] == "GetRoleCredentials")
        .and_then(|r| {
            r["response"]["roleCredentials"]["accessKeyId"]
                .as_str()
                .map(str::to_string)
        })
        .expect("GetRoleCredentials answered");
    let assumed: Vec<_> = w
        .moto
        .requests("AssumeRole")
        .into_iter()
        .filter(|r| r.param("RoleArn") == Some("arn:aws:iam::444444444444:role/sso-deploy"))
        .collect();
    assert_eq!(assumed.len(), 1);
    assert_eq!(
        assumed[0].access_key_id(),
        Some(sso_key.as_str()),
        "signed with the SSO role's key"
    );
    // Role chaining: AWS caps a role assumed with temporary credentials at 1h.
    let o = awsenv(&w.env, &["credential-process", "deploy-long"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("capped at 1h"), "{}", stderr(&o));
    let long: Vec<_> = w
        .moto
        .requests("AssumeRole")
        .into_iter()
        .filter(|r| r.param("RoleArn") == Some("arn:aws:iam::444444444444:role/sso-deploy-long"))
        .collect();
    assert_eq!(long.len(), 1);
    assert_eq!(long[0].param("DurationSeconds"), Some("3600"));
    let o = awsenv(
        &w.env,
        &["credential-process", "deploy", "--duration", "2h"],
    );
    assert_one_line_error(&o, "which AWS caps at 1h");
}

/// A legacy SSO profile (start URL and region on the profile) with the same start URL and
/// region as the [sso-session] shares its sign-in (the AWS CLI would ask twice).
#[test]
fn a_legacy_profile_shares_the_sessions_sign_in() {
    let extra = format!(
        "{}[profile legacy]\nsso_start_url = {START_URL}\nsso_region = {REGION}\nsso_account_id = 333333333333\nsso_role_name = ReadOnly\n",
        profile("dev-admin", "111111111111", "Admin")
    );
    let Some(w) = world(&extra) else { return };
    creds(&w.env, "dev-admin");
    w.fake.reset();
    let c = creds(&w.env, "legacy");
    assert_role(&identity(&w.env, &c), "333333333333", "ReadOnly");
    assert_eq!(
        w.fake.ops(),
        ["GetRoleCredentials 200"],
        "no second sign-in"
    );
}

// ---------------------------------------------------------------------------------------------
// Device code on a terminal
// ---------------------------------------------------------------------------------------------

/// Runs `sh -c script` under a pseudo-terminal (`script`), calling `on_line` for each line of
/// terminal output; returns the whole output and the exit status.
fn on_terminal(env: &TestEnv, script: &str, mut on_line: impl FnMut(&str)) -> (String, bool) {
    let mut c = env.command("script");
    c.args(["-qfec", script, "/dev/null"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = common::detach(&mut c).spawn().expect("spawn script");
    let out = child.stdout.take().expect("piped");
    let mut all = String::new();
    let start = Instant::now();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap_or_default();
        on_line(&line);
        all.push_str(&line);
        all.push('\n');
        assert!(start.elapsed() < Duration::from_secs(60), "hung:\n{all}");
    }
    let ok = child.wait().expect("wait script").success();
    (all, ok)
}

fn user_code(line: &str) -> Option<String> {
    let i = line.find("enter the code ")?;
    Some(
        line[i + "enter the code ".len()..]
            .trim()
            .chars()
            .take(9)
            .collect(),
    )
}

/// Over SSH with no display and no $BROWSER, `awsenv sso login` uses the device code: URL and
/// code on the terminal (stdout stays empty), approved elsewhere, signed in.
#[test]
fn over_ssh_without_a_browser_the_device_code_is_shown_on_the_terminal() {
    if !require_tools(&["script"]) {
        return;
    }
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    w.env.remove_var("BROWSER");
    w.env
        .set_var("SSH_CONNECTION", "10.0.0.1 50000 10.0.0.2 22");
    let out_file = w.env.root().join("stdout");
    let script = format!(
        "{} sso login corp > '{}'",
        env!("CARGO_BIN_EXE_awsenv"),
        out_file.display()
    );
    let mut code = None;
    let (all, ok) = on_terminal(&w.env, &script, |line| {
        if code.is_none()
            && let Some(c) = user_code(line)
        {
            w.fake.control("approve", json!({"user_code": c}));
            code = Some(c);
        }
    });
    assert!(ok, "sso login failed:\n{all}");
    let code = code.unwrap_or_else(|| panic!("no code on the terminal:\n{all}"));
    assert!(
        all.contains(&format!(
            "open {}/device and enter the code {code}",
            w.fake.url
        )),
        "{all}"
    );
    assert!(
        all.contains("awsenv: signed in to IAM Identity Center"),
        "{all}"
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap_or_default(),
        "",
        "stdout is empty"
    );
    assert_eq!(
        w.fake.count("StartDeviceAuthorization 200"),
        1,
        "{:?}",
        w.fake.ops()
    );
    assert_eq!(w.fake.count("CreateToken/device_code 200"), 1);
    assert_eq!(w.fake.count("Authorize 302"), 0, "no browser flow");
    let reg = &w.fake.requests()[0];
    assert_eq!(reg["operation"], "RegisterClient");
    assert!(
        reg["body"]["grantTypes"].is_null(),
        "device registration names no grant types"
    );
    // The device sign-in has a refresh token: a dead access token is refreshed.
    awsenv(&w.env, &["clear"]);
    w.fake.expire_access_tokens();
    w.fake.reset();
    creds(&w.env, "dev-admin");
    assert_eq!(
        w.fake.count("CreateToken/refresh_token 200"),
        1,
        "{:?}",
        w.fake.ops()
    );
}

/// `--use-device-code` with a browser: the browser opens the verification page (which
/// approves), and `slow_down` adds to the polling interval instead of failing.
#[test]
fn use_device_code_opens_the_verification_page_and_obeys_slow_down() {
    if !require_tools(&["script"]) {
        return;
    }
    let Some(w) = world(&three_profiles()) else {
        return;
    };
    w.fake.config(json!({"slow_down": 1}));
    let script = format!(
        "{} sso login corp --use-device-code",
        env!("CARGO_BIN_EXE_awsenv")
    );
    let (all, ok) = on_terminal(&w.env, &script, |_| {});
    assert!(ok, "{all}");
    let opened = browser_opened(&w.env);
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("/device?user_code="), "{opened:?}");
    let polls: Vec<(String, f64)> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
        .map(|r| {
            (
                r["error"].as_str().unwrap_or("ok").to_string(),
                r["time"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(
        polls.first().map(|p| p.0.as_str()),
        Some("SlowDownException"),
        "{polls:?}"
    );
    assert_eq!(polls.last().map(|p| p.0.as_str()), Some("ok"), "{polls:?}");
    assert!(
        polls[1].1 - polls[0].1 >= 5.5,
        "the interval grew by 5 s after slow_down: {polls:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors, one line each
// ---------------------------------------------------------------------------------------------

/// No browser and no terminal (an IDE's task runner): a clear error, no hang.
#[test]
fn no_browser_and_no_terminal_is_a_clear_error() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    w.env.remove_var("BROWSER");
    let o = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert_one_line_error(
        &o,
        &format!(
            "not signed in to IAM Identity Center at {START_URL} (sso-session corp), and there is no browser or terminal to sign in with here; run 'awsenv sso login corp' in a terminal"
        ),
    );
    assert_eq!(w.fake.ops(), Vec::<String>::new(), "nothing was started");
}

/// A role the user is not assigned to: access denied, naming account and role.
#[test]
fn access_denied_for_a_role_names_account_and_role() {
    let Some(w) = world(&profile("nope", "222222222222", "Admin")) else {
        return;
    };
    let o = awsenv(&w.env, &["credential-process", "nope"]);
    assert_one_line_error(
        &o,
        "profile nope: IAM Identity Center denies access to role Admin in account 222222222222",
    );
    assert_eq!(w.fake.count("GetRoleCredentials 403"), 1);
}

/// The portal session ended (the refresh token is refused): sign in again, said in one line;
/// the dead tokens are gone from the store.
#[test]
fn an_ended_portal_session_says_sign_in_again() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    creds(&w.env, "dev-admin");
    w.env.remove_var("BROWSER");
    awsenv(&w.env, &["clear"]);
    w.fake.end_sessions();
    w.fake.reset();
    let o = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert_one_line_error(
        &o,
        &format!(
            "the IAM Identity Center portal session for {START_URL} (sso-session corp) has ended; sign in again with 'awsenv sso login corp' in a terminal"
        ),
    );
    assert_eq!(
        w.fake.count("CreateToken/refresh_token 400"),
        1,
        "{:?}",
        w.fake.ops()
    );
    let l = awsenv(&w.env, &["list"]);
    assert!(stdout(&l).contains("not signed in"), "{}", stdout(&l));
}

/// The user refuses in the browser, or never finishes (timeout), or presses Ctrl-C.
#[test]
fn a_refused_timed_out_or_cancelled_browser_sign_in_is_one_line() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    w.fake.config(json!({"approve": "deny"}));
    let o = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert_one_line_error(
        &o,
        "was refused in the browser (access_denied); run 'awsenv sso login corp' to try again",
    );

    w.fake.config(json!({"approve": "ignore"}));
    w.env.set_var("AWSENV_SSO_SIGN_IN_TIMEOUT", "2s");
    let started = Instant::now();
    let o = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert_one_line_error(&o, "timed out after 2s");
    assert!(started.elapsed() < Duration::from_secs(30));

    w.env.set_var("AWSENV_SSO_SIGN_IN_TIMEOUT", "1m");
    let child = spawn_credential_process(&w.env, "dev-admin");
    w.fake.wait_for("Authorize 200", 2);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().expect("wait");
    assert_one_line_error(&o, "IAM Identity Center sign-in cancelled");
}

/// A device code nobody approves expires: one line saying how to get a new one.
#[test]
fn an_expired_device_code_is_one_line() {
    if !require_tools(&["script"]) {
        return;
    }
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    w.env.remove_var("BROWSER");
    w.fake.config(json!({"device_expires_in": 2}));
    let script = format!(
        "{} sso login corp 2>&1; echo exit=$?",
        env!("CARGO_BIN_EXE_awsenv")
    );
    let (all, _) = on_terminal(&w.env, &script, |_| {});
    assert!(
        all.contains("expired before the sign-in was approved; run 'awsenv sso login corp --use-device-code' for a new one"),
        "{all}"
    );
    assert!(all.contains("exit=1"), "{all}");
}

/// Configuration mistakes are named with the fix.
#[test]
fn configuration_mistakes_are_one_line() {
    let bad = format!(
        "{}[profile missing]\nsso_session = nosuch\nsso_account_id = 111111111111\nsso_role_name = Admin\n\n[profile shortid]\nsso_session = corp\nsso_account_id = 1234\nsso_role_name = Admin\n\n[profile norole]\nsso_session = corp\n",
        profile("dev-admin", "111111111111", "Admin")
    );
    let Some(w) = world(&bad) else { return };
    assert_one_line_error(
        &awsenv(&w.env, &["credential-process", "missing"]),
        "profile missing: there is no [sso-session nosuch] section",
    );
    assert_one_line_error(
        &awsenv(&w.env, &["credential-process", "shortid"]),
        "sso_account_id = \"1234\" is not a 12-digit AWS account id",
    );
    assert_one_line_error(
        &awsenv(&w.env, &["credential-process", "norole"]),
        "has no sso_account_id and sso_role_name; 'awsenv sso profiles corp' lists",
    );
    assert_eq!(w.fake.ops(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// awsenv sso logout | profiles, list, status
// ---------------------------------------------------------------------------------------------

/// `awsenv sso logout` ends the portal session (Logout) and removes the tokens and the SSO role
/// credentials: the next call needs a new sign-in.
#[test]
fn sso_logout_ends_the_session_and_forgets_the_tokens() {
    let Some(mut w) = world(&three_profiles()) else {
        return;
    };
    creds(&w.env, "dev-admin");
    w.fake.reset();
    let o = awsenv(&w.env, &["sso", "logout"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains(
            "signed out of 1 IAM Identity Center session and removed 1 cached role credential"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(w.fake.ops(), ["Logout 200"]);
    assert_eq!(w.fake.state()["sessions"], 0, "the portal session ended");
    let browser = w.env.envs().into_iter().find(|(k, _)| k == "BROWSER");
    w.env.remove_var("BROWSER");
    let again = awsenv(&w.env, &["credential-process", "dev-admin"]);
    assert_one_line_error(&again, "not signed in to IAM Identity Center");
    // Signing in again reuses the client registration (cached until it expires).
    let (k, v) = browser.expect("BROWSER was set");
    w.env.set_var(&k, &v);
    w.fake.reset();
    creds(&w.env, "dev-admin");
    assert_eq!(
        w.fake.ops(),
        [
            "Authorize 302",
            "CreateToken/authorization_code 200",
            "GetRoleCredentials 200"
        ],
        "a new sign-in with the stored registration"
    );
}

/// `awsenv sso profiles` lists every account and role (through the portal's pagination);
/// `--write` adds profiles for the roles no profile uses yet in a marked block, keeps the
/// user's text byte for byte, is idempotent, and the written profiles work.
#[test]
fn sso_profiles_lists_every_role_and_writes_a_marked_block() {
    let mine = format!(
        "{}# my own comment\n[profile calvin]\nregion = us-east-2\n",
        profile("my-dev", "111111111111", "Admin")
    );
    let Some(w) = world(&mine) else { return };
    // Pages of at most two items, whatever the client asks for.
    w.fake.config(json!({"max_page": 2}));
    let before = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    let o = awsenv(&w.env, &["sso", "profiles", "corp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 6, "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("111111111111")
            && l.contains("Admin")
            && l.trim_end().ends_with("my-dev")),
        "{table}"
    );
    assert!(
        table.contains("sandbox-poweruser (not in config)"),
        "{table}"
    );
    // page_size 2 in the fake: three accounts take two ListAccounts pages.
    assert_eq!(w.fake.count("ListAccounts 200"), 2, "{:?}", w.fake.ops());
    assert_eq!(
        w.fake.count("ListAccountRoles 200"),
        4,
        "{:?}",
        w.fake.ops()
    );

    let o = awsenv(&w.env, &["sso", "profiles", "corp", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 5 profiles"), "{}", stderr(&o));
    let after = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    assert!(
        after.starts_with(&before),
        "the user's text changed:\n{after}"
    );
    let block = &after[before.len()..];
    assert!(
        block.contains("# BEGIN awsenv sso profiles corp"),
        "{block}"
    );
    assert!(block.contains("[profile sandbox-poweruser]\nsso_session = corp\nsso_account_id = 333333333333\nsso_role_name = PowerUser\n"), "{block}");
    assert!(
        !block.contains("[profile dev-admin]"),
        "a role the user configured was written again"
    );
    assert!(
        block.trim_end().ends_with("# END awsenv sso profiles corp"),
        "{block}"
    );
    let o = awsenv(&w.env, &["sso", "profiles", "corp", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(w.env.aws_config_path()).expect("config"),
        after,
        "not idempotent"
    );
    assert_role(
        &identity(&w.env, &creds(&w.env, "sandbox-poweruser")),
        "333333333333",
        "PowerUser",
    );
    // The AWS CLI reads the written file too.
    let o = run({
        let mut c = w.env.command("aws");
        c.args([
            "configure",
            "get",
            "sso_role_name",
            "--profile",
            "prod-readonly",
        ]);
        c
    });
    assert_eq!(stdout(&o).trim(), "ReadOnly", "{}", stderr(&o));
}

/// `awsenv list` shows the sign-in with its time left; `awsenv status` in a shell where an SSO
/// profile is active shows the portal session too.
#[test]
fn list_and_status_show_the_portal_session() {
    let Some(w) = world(&three_profiles()) else {
        return;
    };
    let l = awsenv(&w.env, &["list"]);
    assert!(
        stdout(&l).contains("corp         https://d-9067c2a8f1.awsapps.com/start  not signed in"),
        "{}",
        stdout(&l)
    );
    creds(&w.env, "dev-admin");
    let l = stdout(&awsenv(&w.env, &["list"]));
    assert!(
        l.lines()
            .any(|x| x.starts_with("dev-admin") && x.contains("sso role 111111111111/Admin (")),
        "{l}"
    );
    // One hour from the sign-in, give or take the second it took.
    let fresh = |x: &str| {
        ["access token 1h (", "access token 59m ("]
            .iter()
            .any(|t| x.contains(t))
            && [
                "portal session about 8h left",
                "portal session about 7h59m left",
            ]
            .iter()
            .any(|t| x.ends_with(t))
    };
    assert!(
        l.lines().any(|x| x.starts_with("corp")
            && x.contains("signed in: access token")
            && x.contains("(refreshed automatically)")
            && fresh(x)),
        "{l}"
    );
    let used = stdout(&awsenv(&w.env, &["use", "dev-admin", "--shell", "env"]));
    let mut status = w.env.awsenv();
    status.arg("status");
    for line in used.lines() {
        if let Some((k, v)) = line.split_once('=') {
            status.env(k, v.trim_matches('"'));
        }
    }
    let s = stdout(&run(status));
    assert!(s.contains("profile:  dev-admin"), "{s}");
    assert!(
        s.contains(&format!(
            "sso:      {START_URL} (sso-session corp) — signed in: access token"
        )),
        "{s}"
    );
    assert!(s.contains("assumed-role/AWSReservedSSO_Admin_"), "{s}");
}

/// With `[sso] write_aws_cache = true` awsenv also writes the AWS CLI's token cache (0600) so
/// other tools share the sign-in; the AWS CLI then uses it. Off by default (see the plaintext
/// test), and `awsenv sso logout` removes what it wrote.
#[test]
fn writing_the_aws_cli_cache_is_opt_in() {
    use std::os::unix::fs::PermissionsExt;
    let Some(w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    w.env
        .write_awsenv_settings("[sso]\nwrite_aws_cache = true\n");
    creds(&w.env, "dev-admin");
    let cache = harness::cli_cache_file(&w.env, "corp");
    let meta = std::fs::metadata(&cache).expect("the CLI cache was written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let v: Value = serde_json::from_slice(&std::fs::read(&cache).expect("read")).expect("JSON");
    for k in [
        "startUrl",
        "region",
        "accessToken",
        "expiresAt",
        "refreshToken",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
    ] {
        assert!(v[k].is_string(), "{k} missing: {v}");
    }
    w.fake.reset();
    let o = run({
        let mut c = w.env.command("aws");
        c.args([
            "sts",
            "get-caller-identity",
            "--profile",
            "dev-admin",
            "--query",
            "Arn",
            "--output",
            "text",
        ]);
        c
    });
    assert!(o.status.success(), "{}", stderr(&o));
    assert_role(stdout(&o).trim(), "111111111111", "Admin");
    assert_eq!(
        w.fake.ops(),
        ["GetRoleCredentials 200"],
        "the CLI used awsenv's token"
    );
    let o = awsenv(&w.env, &["sso", "logout", "corp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!cache.exists(), "logout left the cache file");
}

/// `awsenv login` (the AWS console) signs in with the SSO role's credentials: the federation
/// endpoint gets exactly the role credentials `credential-process` serves.
#[test]
fn console_login_uses_the_sso_role_credentials() {
    use std::io::{Read, Write};
    let Some(mut w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
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
            let _ = tx.send(
                head.split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string(),
            );
            let body = r#"{"SigninToken":"SSO-SIGNIN-TOKEN"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let fed = format!("http://127.0.0.1:{port}/federation");
    w.env.set_var("AWSENV_FEDERATION_URL", &fed);
    let o = awsenv(&w.env, &["login", "dev-admin", "--stdout"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .trim()
            .starts_with(&format!("{fed}?Action=login&Issuer=awsenv&")),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("SigninToken=SSO-SIGNIN-TOKEN"));
    let target = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("getSigninToken");
    let query = target.split_once('?').map(|x| x.1).unwrap_or_default();
    let q = common::parse_form(query);
    let session: Value = serde_json::from_str(&q["Session"]).expect("Session JSON");
    let c = creds(&w.env, "dev-admin");
    assert_eq!(session["sessionId"], c["AccessKeyId"]);
    assert_eq!(session["sessionToken"], c["SessionToken"]);
    assert_eq!(
        w.fake.count("GetRoleCredentials 200"),
        1,
        "{:?}",
        w.fake.ops()
    );
}

/// Issue 17: the AWS CLI's token cache entry is swapped between awsenv's check and its read
/// (here: flipped as fast as possible between the user's own file and a file of another local
/// user, each put in place with one rename). awsenv opens the entry once and checks and reads
/// that open file, so another user's token never reaches the portal. Needs root (a throwaway
/// second user); skipped outside CI otherwise.
#[test]
fn a_swapped_cli_cache_entry_never_gets_another_users_token_used() {
    let Some(mallory) = common::SecondUser::create() else {
        return;
    };
    let Some(mut w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    // No sign-in of awsenv's own when the entry is refused: every run reads the CLI's cache.
    w.env.remove_var("BROWSER");
    let ours_tok = w.fake.device_token();
    let theirs_tok = w.fake.device_token();
    let cache = harness::write_cli_cache(&w.env, &theirs_tok, harness::now() + 3600);
    let dir = cache.parent().expect("cache dir").to_path_buf();
    let theirs = dir.join("theirs");
    std::fs::rename(&cache, &theirs).expect("keep theirs");
    std::os::unix::fs::chown(&theirs, Some(mallory.uid), None).expect("chown to mallory");
    harness::write_cli_cache(&w.env, &ours_tok, harness::now() + 3600);
    let ours = dir.join("ours");
    std::fs::rename(&cache, &ours).expect("keep ours");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, cache, dir) = (stop.clone(), cache.clone(), dir.clone());
        std::thread::spawn(move || {
            let (a, b) = (dir.join("a.tmp"), dir.join("b.tmp"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (src, tmp) in [(&ours, &a), (&theirs, &b)] {
                    let _ = std::fs::remove_file(tmp);
                    if std::fs::hard_link(src, tmp).is_ok() {
                        let _ = std::fs::rename(tmp, &cache);
                    }
                }
            }
        })
    };
    let theirs_token = theirs_tok["accessToken"].clone();
    let ours_token = ours_tok["accessToken"].clone();
    let (mut used_theirs, mut used_ours) = (0, 0);
    // A check-then-open race is narrow: 30 rounds of 4 parallel reads (before the fix, 40
    // single reads used another user's token once).
    for _ in 0..30 {
        w.fake.reset();
        let _ = awsenv(&w.env, &["clear"]);
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let mut c = w.env.awsenv();
                c.args(["credential-process", "dev-admin"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                common::detach(&mut c)
                    .spawn()
                    .expect("spawn credential-process")
            })
            .collect();
        for mut r in runs {
            let _ = r.wait();
        }
        for r in w.fake.requests() {
            let t = &r["headers"]["x-amz-sso_bearer_token"];
            used_theirs += usize::from(*t == theirs_token);
            used_ours += usize::from(*t == ours_token);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = flipper.join();
    assert_eq!(
        used_theirs, 0,
        "another user's token was sent to the portal {used_theirs} times in 120 runs"
    );
    assert!(used_ours > 0, "the user's own entry is still read");
}

/// The profile picker knows what the last `sso profiles` saw, without a network call: a role
/// the portal offers that no profile names yet is a row of its own, and picking it (here by a
/// one-match `-q`, no terminal to ask on) uses it for this command without writing the config,
/// saying how to write it; the account names are cached in the state directory.
#[test]
fn the_picker_offers_portal_roles_not_in_the_config() {
    let Some(w) = world(&profile("my-dev", "111111111111", "Admin")) else {
        return;
    };
    let o = awsenv(&w.env, &["use", "-q", "poweruser"]);
    assert!(
        stderr(&o).contains("no profile matches"),
        "nothing cached yet: {}",
        stderr(&o)
    );
    let o = awsenv(&w.env, &["sso", "profiles", "corp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cache = w.env.state_home.join("awsenv/sso-offered.json");
    let text = std::fs::read_to_string(&cache).expect("the offer is cached");
    assert!(
        text.contains("333333333333") && !text.contains("Token"),
        "{text}"
    );
    let calls = w.fake.ops().len();
    let before = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    let o = awsenv(&w.env, &["use", "-q", "poweruser", "--shell", "bash"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("using sandbox-poweruser for this command without writing it")
            && err.contains("(to keep it: awsenv sso profiles corp --write)"),
        "{err}"
    );
    assert!(stdout(&o).contains("AWS_SESSION_TOKEN"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read_to_string(w.env.aws_config_path()).expect("config"),
        before,
        "the config was written without asking"
    );
    let ops = w.fake.ops();
    assert_eq!(
        ops[calls..],
        ["GetRoleCredentials 200"],
        "only the role's credentials were fetched: {ops:?}"
    );
}

/// A role-named `.awsprofile` (account + permission set) is matched by the IAM Identity Center
/// profile for that account and role: `allow` says which, and `exec` signs in once and runs the
/// command with that permission set's credentials.
#[test]
fn a_role_named_awsprofile_is_matched_by_an_sso_profile() {
    let Some(w) = world(&three_profiles()) else {
        return;
    };
    let repo = w.env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(
        repo.join(".awsprofile"),
        "account = \"333333333333\"\nrole = \"PowerUser\"\naccounts = [\"333333333333\"]\n",
    )
    .expect("write .awsprofile");
    let mut c = w.env.awsenv();
    c.current_dir(&repo).arg("allow");
    let o = run(c);
    assert!(
        stderr(&o).contains("(PowerUser (333333333333) via profile sandbox-power)"),
        "{}",
        stderr(&o)
    );
    let mut c = w.env.awsenv();
    c.current_dir(&repo).args([
        "exec",
        "--",
        "sh",
        "-c",
        "printenv AWSENV_PROFILE; aws sts get-caller-identity --query Arn --output text",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sandbox-power"), "{out}");
    assert_role(
        lines.next().unwrap_or_default(),
        "333333333333",
        "PowerUser",
    );
    assert_eq!(w.fake.count("Authorize 302"), 1, "{:?}", w.fake.ops());
}
