//! Tests of the shared test harness itself (`tests/common`): if these fail, every other
//! integration test is suspect. Under `CI=true` a missing tool fails these tests (no skipping).

mod common;

use common::{KeyringSession, Moto, RecordedRequest, TestEnv};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

const SERIAL: &str = "arn:aws:iam::111111111111:mfa/calvin";

/// The AWS CLI with throwaway long-term keys, inside `env`.
fn aws_cli(env: &TestEnv) -> Command {
    let mut cmd = env.command("aws");
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::null());
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn decoders() {
    assert_eq!(
        common::percent_decode("arn%3Aaws%3Aiam%3A%3A111111111111%3Amfa%2Fcalvin"),
        SERIAL
    );
    assert_eq!(common::percent_decode("a+b%20c%2"), "a b c%2");
    assert_eq!(common::percent_decode("%e2%9c%93"), "✓");
    let form = common::parse_form("Action=GetSessionToken&TokenCode=123456&Empty=&Flag");
    assert_eq!(form["Action"], "GetSessionToken");
    assert_eq!(form["TokenCode"], "123456");
    assert_eq!(form["Empty"], "");
    assert_eq!(form["Flag"], "");
    assert_eq!(
        common::base64_decode("aGVsbG8=").as_deref(),
        Ok(&b"hello"[..])
    );
    assert_eq!(
        common::base64_decode("aGVsbG8h").as_deref(),
        Ok(&b"hello!"[..])
    );
    assert_eq!(common::base64_decode("").as_deref(), Ok(&b""[..]));
    assert!(common::base64_decode("a*b").is_err());
}

#[test]
fn parses_a_moto_recording_line() {
    // A line as moto 5.2.1 writes it (headers trimmed).
    let line = r#"{"headers": {"Host": "127.0.0.1:5077", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261121/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"}, "method": "POST", "url": "http://127.0.0.1:5077/", "body": "QWN0aW9uPUdldFNlc3Npb25Ub2tlbiZWZXJzaW9uPTIwMTEtMDYtMTUmU2VyaWFsTnVtYmVyPWFybiUzQWF3cyUzQWlhbSUzQSUzQTExMTExMTExMTExMSUzQW1mYSUyRmNhbHZpbiZUb2tlbkNvZGU9MTIzNDU2", "body_encoded": true}"#;
    let r = RecordedRequest::from_recording_line(line).expect("parse recording line");
    assert_eq!(r.action, "GetSessionToken");
    assert_eq!(r.method, "POST");
    assert_eq!(r.param("SerialNumber"), Some(SERIAL));
    assert_eq!(r.param("TokenCode"), Some("123456"));
    assert_eq!(r.param("Version"), Some("2011-06-15"));
    assert_eq!(r.access_key_id(), Some("AKIAEXAMPLE"));
}

#[test]
fn install_hints() {
    assert_eq!(common::install_hint("zsh"), "apt-get install zsh");
    assert_eq!(
        common::install_hint("gnome-keyring-daemon"),
        "apt-get install gnome-keyring"
    );
    assert_eq!(
        common::install_hint("dbus-run-session"),
        "apt-get install dbus"
    );
    assert_eq!(
        common::install_hint("moto_server"),
        "pip install 'moto[server]'"
    );
    assert_eq!(common::install_hint("aws"), "pip install awscli");
    assert!(common::require_tool("sh"));
    assert!(common::find_tool("definitely-not-a-tool-awsenv").is_none());
}

#[test]
fn free_port_is_bindable() {
    let port = common::free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the free port can be bound");
}

#[test]
fn test_env_command_is_isolated() {
    let env = TestEnv::new();
    assert!(
        std::path::Path::new(env!("CARGO_BIN_EXE_awsenv")).is_file(),
        "awsenv binary missing"
    );
    let out = run_ok(env.command("env").arg("-0"));
    let vars: BTreeMap<String, String> = out
        .split('\0')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut expected: Vec<String> = env.envs().into_iter().map(|(k, _)| k).collect();
    expected.extend(["PATH", "LANG", "TERM"].map(String::from));
    // `env` itself may add nothing, but some systems export PWD/SHLVL via wrappers: allow none.
    let mut got: Vec<String> = vars.keys().cloned().collect();
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "the command saw variables the harness did not set"
    );

    let aws_vars: Vec<&String> = vars.keys().filter(|k| k.starts_with("AWS_")).collect();
    assert_eq!(
        aws_vars,
        [
            "AWS_CONFIG_FILE",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_SHARED_CREDENTIALS_FILE"
        ],
        "only the harness's own AWS_* variables may be set"
    );
    assert_eq!(vars["HOME"], env.home.to_string_lossy());
    assert!(vars["HOME"].starts_with(&*env.root().to_string_lossy()));
    assert_eq!(vars["AWSENV_BACKEND"], "file");
    assert_eq!(vars["AWSENV_FILE_PASSPHRASE"], env.passphrase());
    assert_eq!(vars["TERM"], "dumb");
    assert!(
        vars["PATH"].starts_with(
            &*std::path::Path::new(env!("CARGO_BIN_EXE_awsenv"))
                .parent()
                .expect("bin dir")
                .to_string_lossy()
        )
    );
    for k in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
    ] {
        assert!(
            std::path::Path::new(&vars[k]).is_dir()
                && vars[k].starts_with(&*env.root().to_string_lossy()),
            "{k} is not an isolated dir: {}",
            vars[k]
        );
    }
    let mode = std::fs::metadata(&env.runtime_dir)
        .expect("runtime dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "XDG_RUNTIME_DIR must be 0700");

    // Passphrases differ per test env.
    assert_ne!(TestEnv::new().passphrase(), env.passphrase());
}

#[test]
fn scan_for_plaintext_finds_planted_secret() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = us-east-1\n");
    assert!(env.scan_for_plaintext(&["wJalrXUtnFEMI"]).is_empty());
    let nested = env.data_home.join("awsenv/deep");
    std::fs::create_dir_all(&nested).expect("mkdir");
    std::fs::write(nested.join("leak"), b"xx\0wJalrXUtnFEMIyy").expect("write");
    assert_eq!(
        env.scan_for_plaintext(&["nope", "wJalrXUtnFEMI"]),
        vec![nested.join("leak")]
    );
    assert_eq!(
        env.scan_for_plaintext(&["calvin"]),
        vec![env.aws_config_path()]
    );
}

#[test]
fn moto_records_sts_calls_made_with_the_aws_cli() {
    if !common::require_tools(&["moto_server", "aws"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    assert!(
        moto.recorded_requests().is_empty(),
        "fresh recorder must be empty"
    );

    // Reached through AWS_ENDPOINT_URL_STS only, as awsenv will be.
    let out = run_ok(aws_cli(&env).args([
        "sts",
        "get-session-token",
        "--serial-number",
        SERIAL,
        "--token-code",
        "123456",
        "--output",
        "json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).expect("aws output is JSON");
    assert!(
        json["Credentials"]["SessionToken"].is_string(),
        "no session: {out}"
    );

    run_ok(aws_cli(&env).args([
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::111111111111:role/admin",
        "--role-session-name",
        "calvin",
    ]));

    let recorded = moto.recorded_requests();
    assert_eq!(recorded.len(), 2, "recorded: {recorded:#?}");
    assert_eq!(moto.count("GetSessionToken"), 1);
    assert_eq!(moto.count("AssumeRole"), 1);
    let gst = &moto.requests("GetSessionToken")[0];
    assert_eq!(gst.param("SerialNumber"), Some(SERIAL));
    assert_eq!(gst.param("TokenCode"), Some("123456"));
    assert_eq!(gst.access_key_id(), Some("AKIAEXAMPLE"));
    let ar = &moto.requests("AssumeRole")[0];
    assert_eq!(
        ar.param("RoleArn"),
        Some("arn:aws:iam::111111111111:role/admin")
    );
    assert_eq!(ar.param("RoleSessionName"), Some("calvin"));
    assert_eq!(ar.param("TokenCode"), None);

    moto.reset_recorder();
    assert!(
        moto.recorded_requests().is_empty(),
        "reset must clear the recording"
    );
    run_ok(aws_cli(&env).args(["sts", "get-caller-identity"]));
    assert_eq!(
        moto.count("GetCallerIdentity"),
        1,
        "recording continues after reset"
    );
    assert_eq!(moto.count("GetSessionToken"), 0);
}

#[test]
fn two_motos_do_not_share_a_recording() {
    if !common::require_tools(&["moto_server", "aws"]) {
        return;
    }
    let a = Moto::start();
    let b = Moto::start();
    assert_ne!(a.port, b.port);
    let mut env = TestEnv::new();
    env.with_moto(&a);
    run_ok(aws_cli(&env).args(["sts", "get-caller-identity"]));
    assert_eq!(a.count("GetCallerIdentity"), 1);
    assert_eq!(b.count("GetCallerIdentity"), 0);
}

#[test]
fn keyring_session_stores_and_reads_back_a_secret() {
    let mut tools = KeyringSession::TOOLS.to_vec();
    tools.push("secret-tool");
    if !common::require_tools(&tools) {
        return;
    }
    let mut env = TestEnv::new();
    let keyring = KeyringSession::start(&env);
    env.with_keyring(&keyring);
    let secret = format!("s3cret-{}", common::random_hex(8));

    let mut store = env
        .command("secret-tool")
        .args([
            "store",
            "--label=awsenv harness",
            "service",
            "awsenv-selftest",
            "user",
            "u1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn secret-tool store");
    store
        .stdin
        .take()
        .expect("stdin")
        .write_all(secret.as_bytes())
        .expect("write secret");
    let out = store.wait_with_output().expect("secret-tool store");
    assert!(
        out.status.success(),
        "secret-tool store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let found = run_ok(
        env.command("secret-tool")
            .args(["lookup", "service", "awsenv-selftest", "user", "u1"])
            .stdin(Stdio::null()),
    );
    assert_eq!(found.trim_end_matches('\n'), secret);

    // The keyring lives inside the test's own XDG_DATA_HOME, encrypted.
    assert!(
        env.data_home.join("keyrings").is_dir(),
        "gnome-keyring did not use the isolated XDG_DATA_HOME"
    );
    assert_eq!(
        env.scan_for_plaintext(&[&secret]),
        Vec::<std::path::PathBuf>::new()
    );

    // A second session is independent: it does not see the first one's secret.
    let env2 = TestEnv::new();
    let keyring2 = KeyringSession::start(&env2);
    assert_ne!(keyring2.bus_address, keyring.bus_address);
    let out = env2
        .command("secret-tool")
        .args(["lookup", "service", "awsenv-selftest", "user", "u1"])
        .envs(keyring2.envs())
        .stdin(Stdio::null())
        .output()
        .expect("secret-tool lookup");
    assert!(
        out.stdout.is_empty(),
        "secret leaked across keyring sessions"
    );
}
