//! STS answers, configuration, role chaining, region and `status` (issue 7 items 6, 7, 8 and
//! the `status` part of 9; issue 8 item 6). Bad STS answers come from a fake server; role
//! chaining is enforced by [`common::StsProxy`] in front of moto, as AWS does.

mod common;
mod pty;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Moto, StsProxy, TestEnv, require_tools};

const KEY_ID: &str = "AKIAAWSENVTESTKEY002";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

const CALVIN: &str = "[profile calvin]
region = us-east-2
role_arn = arn:aws:iam::222222222222:role/productionEC2Full
role_session_name = calvin
mfa_serial = arn:aws:iam::111111111111:mfa/calvin
";

/// The second seed's configuration: the region lives only on the source profile.
const SEED2: &str = "[profile jan-work]
region = eu-west-1

[profile security-auditor]
source_profile = jan-work
role_arn = arn:aws:iam::123456789012:role/security-auditor
mfa_serial = arn:aws:iam::123456789012:mfa/jan-work
";

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws"]).then(Moto::start))
        .as_ref()
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

/// Runs `awsenv ARGS`, killing it and failing the test if it has not ended after 10 s (a hang
/// is the defect some tests look for; the bound only catches that).
fn awsenv_bounded(env: &TestEnv, args: &[&str]) -> Output {
    let mut c = env.awsenv();
    c.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = common::detach(&mut c).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("awsenv {args:?} still running after 10s: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
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

fn exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| {
            let (n, v) = l.split_once('=')?;
            Some((
                n.to_string(),
                v.trim_end_matches(';').trim_matches('\'').to_string(),
            ))
        })
        .collect()
}

fn get<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn assert_one_line_failure(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert!(o.stdout.is_empty(), "stdout must be empty: {}", stdout(o));
    let err = stderr(o);
    // A slow STS (a reply that takes a while, retries) is said first, once.
    let lines = err
        .trim_end()
        .lines()
        .filter(|l| !l.starts_with("awsenv: waiting for STS at "))
        .count();
    assert_eq!(lines, 1, "one line: {err}");
    assert!(err.lines().count() <= 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

/// A test env with `config` and keys for `key_profile` (no STS yet).
fn offline(config: &str, key_profile: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.set_var("USER", "tester");
    env.write_aws_config(config);
    env.add_keys(key_profile, KEY_ID, SECRET);
    env
}

/// A test env pointed at moto through the role-chaining proxy.
fn with_proxy(config: &str, key_profile: &str) -> Option<(TestEnv, &'static Moto, StsProxy)> {
    let moto = moto()?;
    let proxy = StsProxy::start(moto);
    let mut env = offline(config, key_profile);
    env.set_var("AWS_ENDPOINT_URL_STS", &proxy.url);
    Some((env, moto, proxy))
}

fn calls_for(moto: &Moto, marker: &str, action: &str) -> Vec<common::RecordedRequest> {
    moto.requests(action)
        .into_iter()
        .filter(|r| r.params.values().any(|v| v.contains(marker)))
        .collect()
}

// ---- 1. STS answers are validated ----

fn gst_answer(key: &str, secret: &str, token: &str, expiration: Option<&str>) -> String {
    let exp = expiration
        .map(|e| format!("<Expiration>{e}</Expiration>"))
        .unwrap_or_default();
    format!(
        "<GetSessionTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetSessionTokenResult><Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>{exp}</Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetSessionTokenResponse>"
    )
}

#[test]
fn incomplete_or_expired_sts_answers_are_errors_naming_the_endpoint() {
    let mut env = offline(CALVIN, "calvin");
    let future = "2099-01-01T00:00:00Z";
    let good = gst_answer(
        "ASIAFAKEFAKEFAKE0001",
        "secretsecretsecret",
        "tokentoken",
        Some(future),
    );
    let cut = good.find("</SecretAccessKey>").expect("marker") + "</SecretAccessKey>".len();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good.as_bytes()[..cut].to_vec(),
            "token is empty",
        ),
        (
            "no expiration",
            gst_answer("ASIAFAKEFAKEFAKE0001", "secret", "token", None).into_bytes(),
            "no expiration",
        ),
        (
            "empty key id",
            gst_answer("", "secret", "token", Some(future)).into_bytes(),
            "access key id is empty",
        ),
        (
            "empty token",
            gst_answer("ASIAFAKEFAKEFAKE0001", "secret", "", Some(future)).into_bytes(),
            "token is empty",
        ),
        (
            "expired",
            gst_answer(
                "ASIAFAKEFAKEFAKE0001",
                "secret",
                "token",
                Some("2001-01-01T00:00:00Z"),
            )
            .into_bytes(),
            "expired at 2001-01-01T00:00:00Z",
        ),
        (
            "NUL in the token",
            gst_answer("ASIAFAKEFAKEFAKE0001", "secret", "tok&#0;en", Some(future)).into_bytes(),
            "control bytes",
        ),
        (
            "escaped newline in the key id",
            gst_answer("ASIAFAKE&#10;FAKEFAKE01", "secret", "token", Some(future)).into_bytes(),
            "access key id is not 16 to 128 letters and digits",
        ),
        (
            "escape in the secret",
            gst_answer("ASIAFAKEFAKEFAKE0001", "se&#27;]0;x", "token", Some(future)).into_bytes(),
            "control bytes",
        ),
    ];
    for (name, body, reason) in cases {
        let url = common::fake_sts_reply(200, Some("text/xml"), &body);
        env.set_var("AWS_ENDPOINT_URL_STS", &url);
        let o = awsenv(
            &env,
            &["use", "calvin", "--shell", "fish", "--mfa-token", "123456"],
        );
        eprintln!("{name}: {}", stderr(&o));
        assert_one_line_failure(
            &o,
            &[
                "GetSessionToken for profile calvin",
                &format!("STS at {url} answered without a usable credential"),
                reason,
            ],
        );
        assert!(
            !stderr(&o).contains("secretsecret"),
            "{name}: secret in error"
        );
    }
}

#[test]
fn a_reply_that_is_not_sts_says_what_came_back() {
    let mut env = offline(CALVIN, "calvin");
    /// Status, content type, body, what the error must say.
    type Case<'a> = (u16, Option<&'a str>, Vec<u8>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (404, None, Vec::new(), vec!["HTTP 404", "empty body"]),
        (
            200,
            Some("text/html; charset=utf-8"),
            b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>".to_vec(),
            vec!["HTTP 200", "text/html", "starting \"<!DOCTYPE html><html>"],
        ),
        (
            200,
            Some("application/octet-stream"),
            b"\x00\x01garbage\x1b[31m".to_vec(),
            vec!["HTTP 200", "\\x00\\x01garbage\\x1b[31m"],
        ),
        (
            503,
            Some("text/plain"),
            b"upstream connect error".to_vec(),
            vec!["HTTP 503", "upstream connect error"],
        ),
    ];
    for (status, ct, body, needles) in cases {
        let url = common::fake_sts_reply(status, ct, &body);
        env.set_var("AWS_ENDPOINT_URL_STS", &url);
        env.set_var("AWSENV_STS_TIMEOUT", "5");
        let o = awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        );
        let mut all = vec!["not an STS answer", url.as_str()];
        all.extend(needles);
        assert_one_line_failure(&o, &all);
        let err = stderr(&o);
        assert!(!err.contains("Unknown"), "{err}");
        assert!(!err.contains('\u{1b}') && !err.contains('\0'), "{err:?}");
    }
}

#[test]
fn credential_process_output_is_validated() {
    let env = TestEnv::new();
    let script = env.root().join("cp.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s\\n' '{\"Version\":1,\"AccessKeyId\":\"AKIA EXAMPLE EXAMPLE\",\"SecretAccessKey\":\"s\"}'\n",
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    env.write_aws_config(&format!(
        "[profile cp]\ncredential_process = {}\n",
        script.display()
    ));
    let o = awsenv(&env, &["use", "cp", "--shell", "bash", "--no-session"]);
    assert_one_line_failure(
        &o,
        &[
            "profile cp: credential_process gave unusable credentials",
            "access key id",
        ],
    );
}

// ---- 2. Configuration errors say where ----

#[test]
fn an_aws_config_parse_error_names_file_and_line() {
    let env = offline(CALVIN, "calvin");
    env.write_aws_config("# mine\n[profile calvin]\nregion = us-east-2\nthis line is broken\n");
    let path = env.aws_config_path().display().to_string();
    assert_one_line_failure(
        &awsenv(&env, &["use", "calvin", "--shell", "bash"]),
        &[&format!("{path}, line 4"), "Expected an '=' sign"],
    );
    env.write_aws_credentials("aws_access_key_id = AKIA\n");
    env.write_aws_config(CALVIN);
    let creds = env.aws_credentials_path().display().to_string();
    assert_one_line_failure(
        &awsenv(&env, &["list"]),
        &[&format!("{creds}, line 1"), "profile definition"],
    );
}

fn mkfifo(path: &std::path::Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success());
}

#[test]
fn config_files_that_are_not_regular_files_are_refused_at_once() {
    let mut env = offline(CALVIN, "calvin");
    let fifo = env.root().join("fifo");
    mkfifo(&fifo);
    let big = env.root().join("big");
    std::fs::write(&big, vec![b'#'; 5 * 1024 * 1024]).expect("write big");
    let dir = env.root().to_path_buf();
    for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
        for (path, needle) in [
            (fifo.as_path(), "is a FIFO, not a regular file"),
            (std::path::Path::new("/dev/zero"), "is a device"),
            (dir.as_path(), "is a directory"),
            (big.as_path(), "larger than 4096 KiB"),
        ] {
            env.set_var(var, &path.display().to_string());
            let t = Instant::now();
            let o = awsenv(&env, &["list"]);
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{var}: must not hang"
            );
            let fix = format!("point {var} at a file");
            let mut needles = vec![needle];
            if !needle.starts_with("larger") {
                needles.push(&fix);
            }
            assert_one_line_failure(&o, &needles);
        }
        env.set_var(var, &env.root().join("absent").display().to_string());
    }
    // The settings file too.
    let mut env = offline(CALVIN, "calvin");
    let settings = env.config_home.join("awsenv/config.toml");
    std::fs::create_dir_all(env.config_home.join("awsenv")).expect("mkdir");
    mkfifo(&settings);
    let o = awsenv_bounded(&env, &["list"]);
    assert_one_line_failure(&o, &["config.toml is a FIFO"]);
    std::fs::remove_file(&settings).expect("rm");
    std::fs::write(&settings, vec![b'#'; 70 * 1024]).expect("write");
    assert_one_line_failure(&awsenv(&env, &["list"]), &["larger than 64 KiB"]);
    std::fs::remove_file(&settings).expect("rm");
    env.set_var("XDG_CONFIG_HOME", "/dev/null/x");
    assert!(awsenv(&env, &["list"]).status.success());
}

#[test]
fn durations_are_bounds_checked() {
    let mut env = offline(CALVIN, "calvin");
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "AWSENV_REFRESH_WINDOW",
            "18446744073709551615",
            &["AWSENV_REFRESH_WINDOW"],
        ),
        (
            "AWSENV_SESSION_TTL",
            "99999999999h",
            &["AWSENV_SESSION_TTL", "between 15m and 36h"],
        ),
        (
            "AWSENV_SESSION_TTL",
            "37h",
            &["AWSENV_SESSION_TTL", "between 15m and 36h"],
        ),
        (
            "AWSENV_ROLE_TTL",
            "13h",
            &["AWSENV_ROLE_TTL", "between 15m and 12h"],
        ),
        (
            "AWSENV_REFRESH_WINDOW",
            "1h",
            &["shorter than role_ttl (1h)", "every use"],
        ),
        ("AWSENV_STS_TIMEOUT", "abc", &["AWSENV_STS_TIMEOUT", "abc"]),
        ("AWSENV_STS_TIMEOUT", "0", &["between 1s and 300s"]),
    ];
    for (var, value, needles) in cases {
        env.set_var(var, value);
        assert_one_line_failure(
            &awsenv(
                &env,
                &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
            ),
            needles,
        );
        env.remove_var(var);
    }
    env.write_aws_config(&format!("{CALVIN}duration_seconds = 50000\n"));
    assert_one_line_failure(
        &awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        ),
        &["duration_seconds = 50000", "outside AWS's limits"],
    );
    env.write_aws_config(CALVIN);
    assert_one_line_failure(
        &awsenv(
            &env,
            &[
                "use",
                "calvin",
                "--shell",
                "bash",
                "--mfa-token",
                "123456",
                "--duration",
                "13h",
            ],
        ),
        &["--duration", "outside AWS's limits"],
    );
    // Too short for anything: said without quoting GetSessionToken's limits to a role profile.
    let o = awsenv(
        &env,
        &[
            "use",
            "calvin",
            "--shell",
            "bash",
            "--mfa-token",
            "123456",
            "--duration",
            "10m",
        ],
    );
    assert_one_line_failure(&o, &["--duration must be at least 15m"]);
    assert!(!stderr(&o).contains("36h"), "{}", stderr(&o));
}

// ---- 3. Role chaining ----

#[test]
fn the_test_sts_refuses_role_chaining_over_an_hour_as_aws_does() {
    let Some((env, moto, proxy)) = with_proxy("[profile plain]\nregion = us-west-2\n", "plain")
    else {
        return;
    };
    // A GetSessionToken session: temporary credentials.
    let o = awsenv(&env, &["use", "plain", "--shell", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    let assume = |vars: &[(String, String)], secs: &str| {
        let mut c = env.command("aws");
        c.args([
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::111111111111:role/proxy-check",
            "--role-session-name",
            "xy",
            "--duration-seconds",
            secs,
        ])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .envs(vars.iter().map(|(a, b)| (a.clone(), b.clone())));
        run(c)
    };
    let o = assume(&vars, "7200");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "(ValidationError) when calling the AssumeRole operation: {}",
            common::ROLE_CHAINING_MESSAGE
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(proxy.refused(), 1);
    assert!(assume(&vars, "3600").status.success());
    let keys = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), SECRET.to_string()),
    ];
    assert!(assume(&keys, "7200").status.success(), "long-term keys may");
    assert_eq!(proxy.refused(), 1);
    assert_eq!(calls_for(moto, "role/proxy-check", "AssumeRole").len(), 2);
}

#[test]
fn a_role_over_an_hour_is_assumed_directly_with_the_code_and_cached() {
    let cfg = CALVIN
        .replace("productionEC2Full", "long-role")
        .replace("mfa/calvin", "mfa/long")
        + "duration_seconds = 7200\n";
    let Some((env, moto, proxy)) = with_proxy(&cfg, "calvin") else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(proxy.refused(), 0);
    let ar = calls_for(moto, "role/long-role", "AssumeRole");
    assert_eq!(ar.len(), 1);
    assert_eq!(ar[0].param("DurationSeconds"), Some("7200"));
    assert_eq!(ar[0].param("TokenCode"), Some("123456"));
    assert_eq!(
        ar[0].param("SerialNumber"),
        Some("arn:aws:iam::111111111111:mfa/long")
    );
    assert_eq!(
        ar[0].access_key_id(),
        Some(KEY_ID),
        "from the long-term keys"
    );
    assert!(calls_for(moto, "mfa/long", "GetSessionToken").is_empty());
    let vars = exports(&stdout(&o));
    // Cached under its own key: no code, no call.
    let again = awsenv(&env, &["use", "calvin", "--shell", "bash"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        get(&exports(&stdout(&again)), "AWS_ACCESS_KEY_ID"),
        get(&vars, "AWS_ACCESS_KEY_ID")
    );
    assert_eq!(calls_for(moto, "role/long-role", "AssumeRole").len(), 1);
}

#[test]
fn roles_up_to_an_hour_still_share_one_code() {
    let cfg = "[profile base]\nmfa_serial = arn:aws:iam::111111111111:mfa/share\n[profile a]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/share-a\n[profile b]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/share-b\nduration_seconds = 3600\n";
    let Some((env, moto, proxy)) = with_proxy(cfg, "base") else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "a", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = awsenv(&env, &["use", "b", "--shell", "bash"]);
    assert!(o.status.success(), "no second code: {}", stderr(&o));
    assert_eq!(calls_for(moto, "mfa/share", "GetSessionToken").len(), 1);
    assert_eq!(proxy.refused(), 0);
}

#[test]
fn a_deeper_chain_is_capped_at_an_hour_with_a_warning() {
    let cfg = "[profile base]\nmfa_serial = arn:aws:iam::111111111111:mfa/deep\n[profile hop1]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/deep-1\nduration_seconds = 7200\n[profile hop2]\nsource_profile = hop1\nrole_arn = arn:aws:iam::2:role/deep-2\nduration_seconds = 7200\n";
    let Some((env, moto, proxy)) = with_proxy(cfg, "base") else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "hop2", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(proxy.refused(), 0);
    let first = calls_for(moto, "role/deep-1", "AssumeRole");
    let second = calls_for(moto, "role/deep-2", "AssumeRole");
    assert_eq!(first[0].param("DurationSeconds"), Some("7200"));
    assert_eq!(first[0].access_key_id(), Some(KEY_ID));
    assert_eq!(second[0].param("DurationSeconds"), Some("3600"));
    let err = stderr(&o);
    assert!(
        err.contains("duration_seconds = 7200 capped at 1h")
            && err.contains("role chaining")
            && err.contains("hop1"),
        "{err}"
    );
    // An explicit --duration that AWS cannot give is an error, not a silent cap.
    assert_one_line_failure(
        &awsenv(
            &env,
            &["use", "hop2", "--shell", "bash", "--duration", "2h"],
        ),
        &["--duration 2h", "role chaining", "caps at 1h"],
    );
}

// ---- 4. Region ----

#[test]
fn security_auditor_gets_the_source_profile_region_and_the_cli_works_without_one() {
    let Some(moto) = moto() else { return };
    let mut env = offline(
        &SEED2.replace("role/security-auditor", "role/region-auditor"),
        "jan-work",
    );
    env.with_moto(moto);
    let o = awsenv(
        &env,
        &[
            "use",
            "security-auditor",
            "--shell",
            "bash",
            "--mfa-token",
            "123456",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    assert_eq!(get(&vars, "AWS_REGION"), Some("eu-west-1"));
    assert_eq!(get(&vars, "AWS_DEFAULT_REGION"), Some("eu-west-1"));
    assert_eq!(get(&vars, "AWSENV_REGION_SOURCE"), Some("profile jan-work"));

    // The AWS CLI with nothing but what awsenv exported (and the emulator's address).
    let mut c = env.command("aws");
    c.args([
        "sts",
        "get-caller-identity",
        "--query",
        "Arn",
        "--output",
        "text",
    ])
    .env("AWS_ENDPOINT_URL", &moto.url)
    .envs(vars.iter().map(|(a, b)| (a.clone(), b.clone())));
    let cli = run(c);
    assert!(cli.status.success(), "aws: {}", stderr(&cli));
    assert_eq!(
        stdout(&cli).trim(),
        "arn:aws:sts::123456789012:assumed-role/region-auditor/tester"
    );

    let mut c = env.awsenv();
    c.arg("status").envs(vars.iter().cloned());
    let st = run(c);
    assert!(
        stdout(&st).contains("region:   eu-west-1 (from profile jan-work)"),
        "{}",
        stdout(&st)
    );

    let o = awsenv(
        &env,
        &[
            "use",
            "security-auditor",
            "--shell",
            "bash",
            "--region",
            "ca-central-1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    assert_eq!(get(&vars, "AWS_REGION"), Some("ca-central-1"));
    assert_eq!(get(&vars, "AWSENV_REGION_SOURCE"), Some("--region"));
}

#[test]
fn default_region_is_the_last_resort_and_an_awsprofile_region_wins() {
    let Some(moto) = moto() else { return };
    let cfg = "[default]\nregion = ap-northeast-1\n\n[profile rbase]\nmfa_process = echo 123456\n\n[profile rrole]\nsource_profile = rbase\nrole_arn = arn:aws:iam::1:role/region-default\n";
    let mut env = offline(cfg, "rbase");
    env.with_moto(moto);
    let o = awsenv(&env, &["use", "rrole", "--shell", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    assert_eq!(get(&vars, "AWS_REGION"), Some("ap-northeast-1"));
    assert_eq!(get(&vars, "AWSENV_REGION_SOURCE"), Some("[default]"));

    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(
        repo.join(".awsprofile"),
        "profile = \"rrole\"\nregion = \"sa-east-1\"\n",
    )
    .expect("write .awsprofile");
    let mut c = env.awsenv();
    c.args(["allow"]).current_dir(&repo);
    assert!(run(c).status.success());
    let mut c = env.awsenv();
    c.args(["export", "bash"]).current_dir(&repo);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    assert_eq!(
        get(&vars, "AWS_REGION"),
        Some("sa-east-1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(get(&vars, "AWSENV_REGION_SOURCE"), Some(".awsprofile"));
}

// ---- 5. status answers at once ----

#[test]
fn status_says_when_sts_does_not_answer_within_3s() {
    let mut env = TestEnv::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    env.set_var("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"));
    let mut c = env.awsenv();
    c.arg("status").envs([
        ("AWSENV_PROFILE", "calvin"),
        ("AWSENV_SOURCE", "manual"),
        ("AWS_ACCESS_KEY_ID", "ASIAFAKEFAKEFAKE0001"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("AWS_REGION", "us-east-2"),
    ]);
    let t = Instant::now();
    let o = run(c);
    let took = t.elapsed();
    drop(listener);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("identity: unknown (STS did not answer within 3s)"),
        "{text}"
    );
    assert!(
        text.contains("region:   us-east-2 (from the environment, not awsenv)"),
        "{text}"
    );
    // Only catches a hang or the old 20 s wait; the real bound is the 3 s timeout above.
    assert!(took < Duration::from_secs(10), "status took {took:?}");
}

/// Profile `hang` (MFA device `mfa/SERIAL`) pointed at a listener that accepts and never
/// answers, with `AWSENV_STS_TIMEOUT` = `timeout`; the listener lives as long as the caller
/// keeps it.
fn hanging_sts(serial: &str, timeout: &str) -> (TestEnv, TcpListener, u16) {
    let mut env = offline(
        &format!(
            "[profile hang]\nregion = eu-west-1\nmfa_serial = arn:aws:iam::111111111111:mfa/{serial}\n"
        ),
        "hang",
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    env.set_var("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"));
    env.set_var("AWSENV_STS_TIMEOUT", timeout);
    (env, listener, port)
}

/// An STS that never answers is no silent wait: after about a second awsenv says what it waits
/// for and for how long at most, then fails with one line naming the endpoint.
#[test]
fn a_hanging_sts_is_said_after_a_second() {
    let (env, listener, port) = hanging_sts("hang", "3");
    let o = awsenv(
        &env,
        &["use", "hang", "--shell", "bash", "--mfa-token", "123456"],
    );
    drop(listener);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "awsenv: waiting for STS at http://127.0.0.1:{port} (GetSessionToken; at most 3s, Ctrl-C cancels)"
        )
    );
    assert!(lines[1].contains("did not answer within 3s"), "{err}");
}

/// Ctrl-C ends that wait at once, and the shell's statements are never printed.
#[test]
fn ctrl_c_ends_a_wait_for_sts() {
    let (env, listener, _) = hanging_sts("hangc", "60");
    let mut c = env.awsenv();
    c.args(["use", "hang", "--shell", "bash", "--mfa-token", "123456"])
        .stdin(std::process::Stdio::null());
    let mut p = pty::Pty::spawn_stderr_on_tty(c);
    assert!(
        p.wait_for("waiting for STS at", Duration::from_secs(20)),
        "{}",
        p.screen()
    );
    let t = Instant::now();
    p.ctrl_c();
    let (o, screen) = p.finish(Duration::from_secs(10));
    drop(listener);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "ended at once: {screen}"
    );
    // Ended by the interrupt (as any command), or with its own one line: never a success.
    assert!(!o.status.success(), "{screen}");
    assert!(o.stdout.is_empty(), "no statements for eval");
}
