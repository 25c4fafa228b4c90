//! Hostile sources (issue 17): credentials from any source are validated the same way, text
//! from outside reaches the terminal only as printable text, and `sso profiles --write` edits
//! the user's config file safely. Each test is an attack as a user would meet it.

mod common;
#[path = "sso/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Moto, TestEnv, require_tools};
use harness::{FakeSso, START_URL, config, profile};
use serde_json::json;

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws", "python3"]).then(Moto::start))
        .as_ref()
}

/// An isolated home pointed at moto and a fresh IAM Identity Center fake.
struct World {
    env: TestEnv,
    fake: FakeSso,
}

fn world(profiles: &str) -> Option<World> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    let fake = FakeSso::start(moto);
    fake.point(&mut env);
    env.write_aws_config(&config(profiles));
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A failure as the user sees it: exit 1, nothing on stdout, one error line last on stderr
/// (after a sign-in notice, if any) holding every needle, and no terminal control byte (ESC,
/// BEL, CSI…) anywhere on stderr.
fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err:?}");
    assert!(o.stdout.is_empty(), "stdout on failure: {:?}", stdout(o));
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("awsenv: "), "{err:?}");
    for n in needles {
        assert!(last.contains(n), "the error line lacks {n:?}: {err:?}");
    }
    assert!(
        !o.stderr
            .iter()
            .any(|&b| b == 0x1b || b == 0x07 || b == 0x9b || (b < 0x20 && b != b'\n')),
        "a control byte reached the terminal: {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

const OSC52: &str = "\u{1b}]52;c;cm0gLXJmIH4K\u{07}";

// ---- 1. Credentials from any source are validated the same way --------------------------

/// A hostile portal hands out a session token holding a clipboard-writing escape sequence:
/// `use` refuses it in one line naming GetRoleCredentials, and exports nothing.
#[test]
fn sso_role_credentials_with_an_escape_sequence_are_refused() {
    let Some(w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    w.fake.config(json!({ "role_token_suffix": OSC52 }));
    let o = awsenv(&w.env, &["use", "dev-admin", "--shell", "bash"]);
    assert_clean_failure(&o, &["GetRoleCredentials", "session token"]);
    assert!(!stderr(&o).contains("52;c;"), "{}", stderr(&o));
}

/// A hostile (or badly clocked) portal hands out credentials that expired ten minutes ago.
#[test]
fn sso_role_credentials_already_expired_are_refused() {
    let Some(w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    w.fake.config(json!({ "role_expiration_offset": -600 }));
    let o = awsenv(&w.env, &["use", "dev-admin", "--shell", "bash"]);
    assert_clean_failure(&o, &["GetRoleCredentials", "expired"]);
}

fn credential_process_env(json: &str) -> TestEnv {
    let env = TestEnv::new();
    let out = env.root().join("creds.json");
    std::fs::write(&out, json).expect("write creds.json");
    env.write_aws_config(&format!(
        "[profile cp]\nregion = us-east-1\ncredential_process = cat {}\n",
        out.display()
    ));
    env
}

/// A `credential_process` printing a session token with an escape sequence, or credentials
/// that expired ten minutes ago, gets the same refusal.
#[test]
fn credential_process_with_an_escape_sequence_or_expired_is_refused() {
    let token = format!("IQoJb3JpZ2luX2VjEXAMPLE{OSC52}");
    let future = "2999-01-01T00:00:00Z";
    let env = credential_process_env(
        &json!({"Version": 1, "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "SessionToken": token, "Expiration": future})
        .to_string(),
    );
    let o = awsenv(&env, &["use", "cp", "--shell", "bash"]);
    assert_clean_failure(&o, &["credential_process", "session token"]);

    let past =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() - Duration::from_secs(600))
            .to_string();
    let env = credential_process_env(
        &json!({"Version": 1, "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "Expiration": past})
        .to_string(),
    );
    let o = awsenv(&env, &["use", "cp", "--shell", "bash"]);
    assert_clean_failure(&o, &["credential_process", "expired"]);
}

/// Keys whose secret holds an escape sequence (from the environment here) are refused by
/// `add`, before anything is stored: `use --no-session` would export them as they are.
#[test]
fn keys_with_an_escape_sequence_are_not_stored() {
    let env = TestEnv::new();
    env.write_aws_config("[profile p]\nregion = us-east-1\n");
    let mut c = env.awsenv();
    c.args(["add", "p", "--env"])
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
        .env("AWS_SECRET_ACCESS_KEY", format!("wJalrXUtnFEMI{OSC52}"));
    let o = run(c);
    assert_clean_failure(&o, &["awsenv add p", "secret access key"]);
    let o = awsenv(&env, &["use", "p", "--shell", "bash", "--no-session"]);
    assert_clean_failure(&o, &["no keys stored for profile p"]);
}

// ---- 2. Text from outside reaches the terminal only as printable text ---------------------

/// A federation endpoint that answers every request with `status` and `body`.
fn hostile_http(status: &str, body: &'static [u8]) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let status = status.to_string();
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
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    format!("http://127.0.0.1:{port}/federation")
}

/// The federation endpoint's error page sets the terminal title and clears the screen: the
/// error line shows it escaped, and still says what failed.
#[test]
fn a_federation_error_page_reaches_the_terminal_only_as_printable_text() {
    let env = credential_process_env(
        &json!({"Version": 1, "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                "Expiration": "2999-01-01T00:00:00Z"})
        .to_string(),
    );
    let mut env = env;
    let fed = hostile_http(
        "400 Bad Request",
        b"<html>\x1b]0;PWNED\x07\x1b[2J\x9b2J\x1b[31mSession invalid\r\nretry</html>",
    );
    env.set_var("AWSENV_FEDERATION_URL", &fed);
    let o = awsenv(&env, &["login", "cp", "--stdout"]);
    assert_clean_failure(&o, &["federation endpoint", "HTTP 400", "PWNED"]);
}

/// An endpoint variable holding escape sequences is quoted escaped in the error.
#[test]
fn an_endpoint_variable_with_escape_sequences_is_quoted_escaped() {
    let Some(mut w) = world(&profile("dev-admin", "111111111111", "Admin")) else {
        return;
    };
    w.env.set_var(
        "AWS_ENDPOINT_URL_SSO",
        "http://127.0.0.1:9/\u{1b}]0;PWNED\u{7}\u{1b}[2J",
    );
    let o = awsenv(&w.env, &["use", "dev-admin", "--shell", "bash"]);
    assert_clean_failure(&o, &["AWS_ENDPOINT_URL_SSO", "PWNED"]);
    let _ = &w.fake;
}

// ---- 3. One config editor ---------------------------------------------------------------

const EU_BLOCK: &str = "# BEGIN awsenv sso profiles corp-eu (generated by 'awsenv sso profiles corp-eu --write'; edits inside are replaced)\n[profile eu-admin]\nsso_session = corp-eu\nsso_account_id = 444444444444\nsso_role_name = Admin\nregion = eu-central-1\n\n# END awsenv sso profiles corp-eu\n";

const MINE: &str =
    "[profile mine]\ncredential_process = /opt/bin/my-creds --user me\nregion = us-east-2\n";

fn aws_get(env: &TestEnv, key: &str, profile: &str) -> Output {
    let mut c = env.command("aws");
    c.args(["configure", "get", key, "--profile", profile]);
    run(c)
}

/// (a) Sessions `corp` and `corp-eu`: writing `corp` replaces only its own block; the
/// `corp-eu` block and the hand-written profile between the two blocks are kept, and the
/// previous file is backed up.
#[test]
fn writing_one_session_keeps_a_session_whose_name_it_prefixes() {
    let Some(w) = world("") else { return };
    let stale = "# BEGIN awsenv sso profiles corp (generated by 'awsenv sso profiles corp --write'; edits inside are replaced)\n[profile old-stale]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Gone\nregion = eu-west-1\n\n# END awsenv sso profiles corp\n";
    let text = format!(
        "{}[sso-session corp-eu]\nsso_start_url = https://d-eu00000000.awsapps.com/start\nsso_region = eu-central-1\n\n{EU_BLOCK}\n{MINE}\n{stale}",
        config("")
    );
    w.env.write_aws_config(&text);
    let o = awsenv(&w.env, &["sso", "profiles", "corp", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    assert!(
        after.contains(EU_BLOCK),
        "the corp-eu block is gone:\n{after}"
    );
    assert!(
        after.contains(MINE),
        "the hand-written profile is gone:\n{after}"
    );
    assert!(
        !after.contains("old-stale"),
        "the old block stayed:\n{after}"
    );
    assert!(after.contains("[profile dev-admin]"), "{after}");
    let o = aws_get(&w.env, "credential_process", "mine");
    assert_eq!(
        stdout(&o).trim(),
        "/opt/bin/my-creds --user me",
        "{}",
        stderr(&o)
    );
    let o = aws_get(&w.env, "sso_account_id", "eu-admin");
    assert_eq!(stdout(&o).trim(), "444444444444", "{}", stderr(&o));
    // The previous file is kept, and the message says where.
    let backup = w.env.home.join(".aws/config.awsenv-backup");
    assert_eq!(
        std::fs::read_to_string(&backup).expect("backup"),
        text,
        "{}",
        stderr(&o)
    );
    let _ = START_URL;
}

/// (b) A profile the credentials file defines with the user's own keys is not shadowed by a
/// generated SSO profile of the same name.
#[test]
fn a_profile_of_the_credentials_file_is_never_generated_again() {
    let Some(w) = world("") else { return };
    w.env.write_aws_credentials(
        "[dev-readonly]\naws_access_key_id = AKIAMYOWNKEY0000000\naws_secret_access_key = mine/secret\n",
    );
    let o = awsenv(&w.env, &["sso", "profiles", "corp", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    assert!(
        !after.contains("[profile dev-readonly]"),
        "the credentials file's profile is shadowed:\n{after}"
    );
    assert!(
        stderr(&o).contains("dev-readonly"),
        "no notice: {}",
        stderr(&o)
    );
    // The AWS CLI still finds the user's keys under that name, and the role under another.
    let o = aws_get(&w.env, "aws_access_key_id", "dev-readonly");
    assert_eq!(stdout(&o).trim(), "AKIAMYOWNKEY0000000", "{}", stderr(&o));
    let o = aws_get(&w.env, "sso_session", "dev-readonly");
    assert_eq!(stdout(&o).trim(), "", "{}", stderr(&o));
    let o = aws_get(&w.env, "sso_role_name", "dev-readonly-111111111111");
    assert_eq!(stdout(&o).trim(), "ReadOnly", "{}", stderr(&o));
}

/// (c) Crafted account and role names whose generated names collide: every generated name is
/// unique and the AWS CLI accepts the file.
#[test]
fn crafted_names_never_make_two_sections_of_one_name() {
    let Some(w) = world("") else { return };
    for (id, name, role) in [
        ("444444444444", "x-y", "555555555555"),
        ("555555555555", "x", "y"),
        ("555555555555", "x", "y+"),
    ] {
        w.fake.control(
            "assign",
            json!({"account_id": id, "account_name": name, "role_name": role}),
        );
    }
    let o = awsenv(&w.env, &["sso", "profiles", "corp", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::read_to_string(w.env.aws_config_path()).expect("config");
    let mut headers: Vec<&str> = after.lines().filter(|l| l.starts_with('[')).collect();
    let n = headers.len();
    headers.sort();
    headers.dedup();
    assert_eq!(headers.len(), n, "a section is written twice:\n{after}");
    // The AWS CLI reads the file (it refuses one with a section written twice).
    for (name, account, role) in [
        ("x-y-555555555555", "444444444444", "555555555555"),
        ("x-y", "555555555555", "y"),
        ("x-y-555555555555-2", "555555555555", "y+"),
    ] {
        let o = aws_get(&w.env, "sso_account_id", name);
        assert_eq!(stdout(&o).trim(), account, "{name}: {}", stderr(&o));
        let o = aws_get(&w.env, "sso_role_name", name);
        assert_eq!(stdout(&o).trim(), role, "{name}: {}", stderr(&o));
    }
}
