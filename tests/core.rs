//! The core flow against a real STS emulator (moto): keys in the store, MFA sessions, assumed
//! roles, the session cache, `use` / `unset` / `exec` / `credential-process`, and the errors a
//! user sees. Every command runs in its own session (`setsid`), so no test can ever block on a
//! terminal prompt.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::{Moto, TestEnv, require_tools};

const KEY_ID: &str = "AKIAAWSENVTESTKEY001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

const CALVIN: &str = "[profile calvin]
output = json
region = us-east-2
role_arn = arn:aws:iam::222222222222:role/productionEC2Full
role_session_name = calvin
mfa_serial = arn:aws:iam::111111111111:mfa/calvin
";

const AUDITOR: &str = "[profile jan-work]
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

/// Runs a command detached from any terminal (new session), stdin closed.
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

/// A test env pointed at moto with `config` and keys stored for `key_profile`.
fn setup(config: &str, key_profile: &str) -> Option<(TestEnv, &'static Moto)> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    env.write_aws_config(config);
    env.add_keys(key_profile, KEY_ID, SECRET);
    Some((env, moto))
}

/// Requests of `action` with any parameter containing `marker` (tests share one moto, so each
/// test uses its own role names and MFA serials).
fn calls_for(moto: &Moto, marker: &str, action: &str) -> Vec<common::RecordedRequest> {
    moto.requests(action)
        .into_iter()
        .filter(|r| r.params.values().any(|v| v.contains(marker)))
        .collect()
}

/// Parses `export NAME='value';` lines (our own bash output, values without quotes inside).
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

/// The AWS CLI's identity for a set of exported variables.
fn caller_arn(env: &TestEnv, moto: &Moto, vars: &[(String, String)]) -> String {
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
    .env("AWS_DEFAULT_REGION", "us-east-1")
    .envs(vars.iter().map(|(a, b)| (a.clone(), b.clone())));
    let o = run(c);
    assert!(o.status.success(), "aws failed: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn calvin_assumes_the_role_with_an_mfa_session_and_the_cli_sees_it() {
    let Some((env, moto)) = setup(
        &CALVIN
            .replace("productionEC2Full", "calvin-role-1")
            .replace("mfa/calvin", "mfa/calvin-main"),
        "calvin",
    ) else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_VAULT",
    ] {
        assert!(get(&vars, name).is_some(), "{name} not exported");
    }
    assert_eq!(get(&vars, "AWS_REGION"), Some("us-east-2"));
    assert_eq!(get(&vars, "AWS_DEFAULT_REGION"), Some("us-east-2"));
    assert_eq!(get(&vars, "AWS_VAULT"), Some("calvin"));
    assert!(
        get(&vars, "AWS_CREDENTIAL_EXPIRATION").is_some_and(|e| e.ends_with('Z') && e.len() == 20)
    );
    assert!(
        stdout(&o).contains("unset AWS_PROFILE;")
            && stdout(&o).contains("unset AWS_DEFAULT_PROFILE;")
    );
    assert_ne!(
        get(&vars, "AWS_ACCESS_KEY_ID"),
        Some(KEY_ID),
        "long-term keys must not be exported"
    );

    let gst = calls_for(
        moto,
        "arn:aws:iam::111111111111:mfa/calvin-main",
        "GetSessionToken",
    );
    let ar = calls_for(moto, "calvin-role-1", "AssumeRole");
    assert_eq!(gst.len(), 1);
    assert_eq!(gst[0].param("TokenCode"), Some("123456"));
    assert_eq!(gst[0].param("DurationSeconds"), Some("28800"));
    assert_eq!(gst[0].access_key_id(), Some(KEY_ID));
    assert_eq!(ar.len(), 1);
    assert_eq!(
        ar[0].param("RoleArn"),
        Some("arn:aws:iam::222222222222:role/calvin-role-1")
    );
    assert_eq!(ar[0].param("RoleSessionName"), Some("calvin"));
    assert_eq!(ar[0].param("DurationSeconds"), Some("3600"));
    assert_eq!(
        ar[0].param("TokenCode"),
        None,
        "the role is assumed with the session, not the code"
    );
    assert_ne!(
        ar[0].access_key_id(),
        Some(KEY_ID),
        "AssumeRole is signed with the MFA session"
    );

    assert_eq!(
        caller_arn(&env, moto, &vars),
        "arn:aws:sts::222222222222:assumed-role/calvin-role-1/calvin"
    );

    // Served from the cache: no code needed, no STS call, same credentials.
    let again = awsenv(&env, &["use", "calvin", "--shell", "bash"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        get(&exports(&stdout(&again)), "AWS_ACCESS_KEY_ID"),
        get(&vars, "AWS_ACCESS_KEY_ID")
    );
    assert_eq!(calls_for(moto, "calvin-role-1", "AssumeRole").len(), 1);
    assert_eq!(
        calls_for(
            moto,
            "arn:aws:iam::111111111111:mfa/calvin-main",
            "GetSessionToken"
        )
        .len(),
        1
    );

    let secrets: Vec<&str> = vec![
        SECRET,
        get(&vars, "AWS_SECRET_ACCESS_KEY").unwrap_or("x"),
        get(&vars, "AWS_SESSION_TOKEN").unwrap_or("x"),
    ];
    assert_eq!(
        env.scan_for_plaintext(&secrets),
        Vec::<std::path::PathBuf>::new(),
        "secrets in plaintext on disk"
    );
}

#[test]
fn source_profile_chain_uses_mfa_from_the_role_profile_and_local_user_as_session_name() {
    let cfg = AUDITOR
        .replace("security-auditor\n", "security-auditor-2\n")
        .replace("[profile security-auditor]", "[profile auditor2]");
    let Some((env, moto)) = setup(&cfg, "jan-work") else {
        return;
    };
    let o = awsenv(
        &env,
        &[
            "use",
            "auditor2",
            "--shell",
            "bash",
            "--mfa-token",
            "654321",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ar = calls_for(moto, "role/security-auditor-2", "AssumeRole");
    assert_eq!(ar.len(), 1);
    assert_eq!(
        ar[0].param("RoleSessionName"),
        Some("tester"),
        "defaults to the local user"
    );
    let gst: Vec<_> = moto
        .requests("GetSessionToken")
        .into_iter()
        .filter(|r| r.param("TokenCode") == Some("654321"))
        .collect();
    assert_eq!(gst.len(), 1);
    assert_eq!(
        gst[0].param("SerialNumber"),
        Some("arn:aws:iam::123456789012:mfa/jan-work")
    );
    let vars = exports(&stdout(&o));
    assert_eq!(get(&vars, "AWS_VAULT"), Some("auditor2"));
    assert_eq!(
        get(&vars, "AWS_REGION"),
        Some("eu-west-1"),
        "region comes from the source profile when the role's profile has none"
    );
    assert_eq!(
        caller_arn(&env, moto, &vars),
        "arn:aws:sts::123456789012:assumed-role/security-auditor-2/tester"
    );
}

#[test]
fn role_parameters_reach_sts_and_shape_the_cache_key() {
    let cfg = "[profile base]\nregion = eu-central-1\n\n[profile ext]\nsource_profile = base\nrole_arn = arn:aws:iam::333333333333:role/ext-role\nexternal_id = ext-123\nsource_identity = alice\nduration_seconds = 1800\n";
    let Some((env, moto)) = setup(cfg, "base") else {
        return;
    };
    let o = awsenv(&env, &["use", "ext", "--shell", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert!(
        json["AWS_ACCESS_KEY_ID"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    assert!(json["AWS_PROFILE"].is_null());
    let ar = calls_for(moto, "role/ext-role", "AssumeRole");
    assert_eq!(ar.len(), 1);
    assert_eq!(ar[0].param("ExternalId"), Some("ext-123"));
    assert_eq!(ar[0].param("SourceIdentity"), Some("alice"));
    assert_eq!(ar[0].param("DurationSeconds"), Some("1800"));

    // Editing the role in the config must not serve the cached role.
    env.write_aws_config(&cfg.replace("ext-123", "ext-456"));
    let o = awsenv(&env, &["use", "ext", "--shell", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ar = calls_for(moto, "role/ext-role", "AssumeRole");
    assert_eq!(ar.len(), 2, "a changed external_id makes a new AssumeRole");
    assert_eq!(ar[1].param("ExternalId"), Some("ext-456"));

    // --duration applies to the final role.
    let o = awsenv(&env, &["use", "ext", "--shell", "json", "--duration", "2h"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        calls_for(moto, "role/ext-role", "AssumeRole")
            .last()
            .and_then(|r| r.param("DurationSeconds").map(str::to_string)),
        Some("7200".into())
    );
}

#[test]
fn no_session_passes_the_code_to_assume_role() {
    let Some((env, moto)) = setup(
        &CALVIN.replace("productionEC2Full", "nosession-role"),
        "calvin",
    ) else {
        return;
    };
    let o = awsenv(
        &env,
        &[
            "use",
            "calvin",
            "--shell",
            "bash",
            "--no-session",
            "--mfa-token",
            "111222",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ar = calls_for(moto, "nosession-role", "AssumeRole");
    assert_eq!(ar.len(), 1);
    assert_eq!(
        ar[0].param("SerialNumber"),
        Some("arn:aws:iam::111111111111:mfa/calvin")
    );
    assert_eq!(ar[0].param("TokenCode"), Some("111222"));
    assert_eq!(ar[0].access_key_id(), Some(KEY_ID));
    assert!(
        moto.requests("GetSessionToken")
            .iter()
            .all(|r| r.param("TokenCode") != Some("111222"))
    );
}

#[test]
fn a_profile_without_a_role_gets_a_session_and_only_no_session_exports_long_term_keys() {
    let Some((env, moto)) = setup("[profile plain]\nregion = us-west-2\n", "plain") else {
        return;
    };
    let before = moto.count("GetSessionToken");
    let o = awsenv(&env, &["use", "plain", "--shell", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    assert_ne!(get(&vars, "AWS_ACCESS_KEY_ID"), Some(KEY_ID));
    assert!(get(&vars, "AWS_SESSION_TOKEN").is_some());
    assert!(moto.count("GetSessionToken") > before);

    let o = awsenv(&env, &["use", "plain", "--shell", "bash", "--no-session"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let vars = exports(&text);
    assert_eq!(get(&vars, "AWS_ACCESS_KEY_ID"), Some(KEY_ID));
    assert!(
        text.contains("unset AWS_SESSION_TOKEN;"),
        "a stale token must not survive: {text}"
    );
}

#[test]
fn credential_process_json_works_for_the_aws_cli() {
    let cfg = format!(
        "{}\n[profile via-awsenv]\nregion = us-east-2\ncredential_process = {} credential-process calvin\n",
        CALVIN.replace("productionEC2Full", "cp-role"),
        env!("CARGO_BIN_EXE_awsenv")
    );
    let Some((env, moto)) = setup(&cfg, "calvin") else {
        return;
    };
    // Warm the MFA session (credential_process has no way to pass a code).
    let o = awsenv(
        &env,
        &["credential-process", "calvin", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["Version"], 1);
    assert!(
        json["AccessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    assert!(json["SecretAccessKey"].is_string() && json["SessionToken"].is_string());
    assert!(
        json["Expiration"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z'))
    );

    let mut c = env.command("aws");
    c.args([
        "sts",
        "get-caller-identity",
        "--profile",
        "via-awsenv",
        "--query",
        "Arn",
        "--output",
        "text",
    ])
    .env("AWS_ENDPOINT_URL", &moto.url);
    let o = run(c);
    assert!(o.status.success(), "aws: {}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "arn:aws:sts::222222222222:assumed-role/cp-role/calvin"
    );
}

#[test]
fn six_parallel_cold_uses_make_one_get_session_token() {
    let Some((env, moto)) = setup(
        &CALVIN
            .replace("productionEC2Full", "parallel-role")
            .replace("mfa/calvin", "mfa/parallel"),
        "calvin",
    ) else {
        return;
    };
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut c = env.awsenv();
            c.args(["use", "calvin", "--shell", "bash", "--mfa-token", "123456"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .stdin(Stdio::null());
            c.spawn().expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", stderr(o));
    }
    let keys: std::collections::BTreeSet<String> = outs
        .iter()
        .filter_map(|o| get(&exports(&stdout(o)), "AWS_ACCESS_KEY_ID").map(str::to_string))
        .collect();
    assert_eq!(calls_for(moto, "mfa/parallel", "GetSessionToken").len(), 1);
    assert_eq!(calls_for(moto, "parallel-role", "AssumeRole").len(), 1);
    assert_eq!(keys.len(), 1, "every shell got the same role credentials");
}

#[test]
fn unset_restores_what_use_replaced() {
    if !require_tools(&["bash"]) {
        return;
    }
    let Some((env, _moto)) = setup(&CALVIN.replace("productionEC2Full", "unset-role"), "calvin")
    else {
        return;
    };
    let exe = env!("CARGO_BIN_EXE_awsenv");
    let script = format!(
        r#"set -eu
export AWS_PROFILE=dev AWS_REGION=''
unset AWS_SESSION_TOKEN
eval "$('{exe}' use calvin --shell bash --mfa-token 123456)"
[ "$AWS_VAULT" = calvin ] && [ -z "${{AWS_PROFILE+x}}" ] && [ "$AWS_REGION" = us-east-2 ]
eval "$('{exe}' unset --shell bash)"
printf '%s|%s|%s|%s\n' "${{AWS_PROFILE-UNSET}}" "${{AWS_REGION-UNSET}}" "${{AWS_SESSION_TOKEN-UNSET}}" "${{AWS_VAULT-UNSET}}"
"#
    );
    let mut c = env.command("bash");
    c.args(["--noprofile", "--norc", "-c", &script]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "dev||UNSET|UNSET",
        "unset stays unset, empty stays empty"
    );
}

#[test]
fn exec_runs_the_command_with_the_session_and_returns_its_status() {
    let Some((env, _moto)) = setup(&CALVIN.replace("productionEC2Full", "exec-role"), "calvin")
    else {
        return;
    };
    let o = awsenv(
        &env,
        &[
            "exec",
            "calvin",
            "--mfa-token",
            "123456",
            "--",
            "bash",
            "-c",
            "echo \"$AWS_VAULT ${AWS_ACCESS_KEY_ID%%[0-9A-Z]*}${AWS_ACCESS_KEY_ID:0:4} ${AWS_PROFILE-none}\"; exit 7",
        ],
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "calvin ASIA none");
}

/// aws-vault's habits: the command straight after the profile (no `--`), no command at all
/// (your `$SHELL` with the session), and a missing command ending with the shell's 127.
#[test]
fn exec_takes_aws_vault_forms() {
    let Some((env, _moto)) = setup(
        &CALVIN
            .replace("productionEC2Full", "exec-habits")
            .replace("mfa/calvin", "mfa/habits"),
        "calvin",
    ) else {
        return;
    };
    let o = awsenv(
        &env,
        &[
            "exec",
            "calvin",
            "--mfa-token",
            "123456",
            "sh",
            "-c",
            "echo \"no-dashes $AWS_VAULT\"; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "no-dashes calvin");
    let mut c = env.awsenv();
    common::detach(&mut c)
        .args(["exec", "calvin"])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"echo \"shell $AWS_VAULT\"\n")
            .expect("write to the shell");
    }
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "shell calvin", "{}", stderr(&o));
    let o = awsenv(&env, &["exec", "calvin", "--", "no-such-command-awsenv"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "awsenv: no-such-command-awsenv: command not found"
    );
}

/// `awsenv use` with no profile takes the trusted `.awsprofile` of the directory, as `exec` and
/// `login` do; an edited one says so.
#[test]
fn use_without_a_profile_takes_the_directory_s() {
    let Some((env, _moto)) = setup(
        &CALVIN
            .replace("productionEC2Full", "use-dir")
            .replace("mfa/calvin", "mfa/usedir"),
        "calvin",
    ) else {
        return;
    };
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join(".awsprofile"), "calvin\n").expect("write");
    let mut c = env.awsenv();
    c.args(["allow", &repo.to_string_lossy()]);
    assert!(run(c).status.success());
    let mut c = env.awsenv();
    c.args(["use", "--shell", "bash", "--mfa-token", "123456"])
        .current_dir(&repo);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("export AWS_VAULT='calvin'"),
        "{}",
        stdout(&o)
    );
    std::fs::write(repo.join(".awsprofile"), "hobbes\n").expect("edit");
    let mut c = env.awsenv();
    c.args(["use", "--shell", "bash"]).current_dir(&repo);
    let o = run(c);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("has changed since you allowed it; review it, then run 'awsenv allow'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn mfa_process_supplies_the_code() {
    let cfg = CALVIN
        .replace("productionEC2Full", "mfaproc-role")
        .replace("mfa/calvin", "mfa/proc")
        + "mfa_process = echo 424242\n";
    let Some((env, moto)) = setup(&cfg, "calvin") else {
        return;
    };
    let o = awsenv(&env, &["use", "calvin", "--shell", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let gst = calls_for(moto, "mfa/proc", "GetSessionToken");
    assert_eq!(gst.len(), 1);
    assert_eq!(gst[0].param("TokenCode"), Some("424242"));
}

#[test]
fn include_profile_merges_keys() {
    let cfg = "[profile common]\nregion = ap-south-1\nmfa_serial = arn:aws:iam::111111111111:mfa/inc\n\n[profile inc]\ninclude_profile = common\nrole_arn = arn:aws:iam::444444444444:role/inc-role\n";
    let Some((env, moto)) = setup(cfg, "inc") else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "inc", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(get(&exports(&stdout(&o)), "AWS_REGION"), Some("ap-south-1"));
    assert_eq!(calls_for(moto, "mfa/inc", "GetSessionToken").len(), 1);
}

// ---- errors: exit 1, empty stdout, one line on stderr naming the problem and the fix ----

fn assert_one_line_failure(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert!(
        o.stdout.is_empty(),
        "stdout must be empty on failure: {}",
        stdout(o)
    );
    let err = stderr(o);
    // A slow STS (retries of a refused connection, throttling) is said first, once.
    let lines: Vec<&str> = err
        .trim_end()
        .lines()
        .filter(|l| !l.starts_with("awsenv: waiting for STS at "))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(err.lines().count() <= 2, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

#[test]
fn unknown_profile_names_the_closest() {
    let Some((env, _)) = setup(CALVIN, "calvin") else {
        return;
    };
    assert_one_line_failure(
        &awsenv(&env, &["use", "calvn", "--shell", "bash"]),
        &["unknown profile", "calvin"],
    );
}

#[test]
fn missing_keys_say_awsenv_add() {
    let Some((env, _)) = setup(&format!("{CALVIN}\n{AUDITOR}"), "calvin") else {
        return;
    };
    assert_one_line_failure(
        &awsenv(
            &env,
            &[
                "use",
                "security-auditor",
                "--shell",
                "bash",
                "--mfa-token",
                "123456",
            ],
        ),
        &["no keys stored for profile jan-work", "awsenv add jan-work"],
    );
}

#[test]
fn no_terminal_and_no_code_fails_fast() {
    let Some((env, _)) = setup(&CALVIN.replace("mfa/calvin", "mfa/notty"), "calvin") else {
        return;
    };
    let t = std::time::Instant::now();
    let o = awsenv(&env, &["use", "calvin", "--shell", "bash"]);
    assert_one_line_failure(&o, &["no terminal", "--mfa-token"]);
    assert!(t.elapsed().as_secs() < 20, "must not hang");
}

#[test]
fn source_profile_cycle_is_named() {
    let Some((env, _)) = setup(
        "[profile a]\nsource_profile = b\nrole_arn = arn:aws:iam::1:role/a\n[profile b]\nsource_profile = a\nrole_arn = arn:aws:iam::1:role/b\n",
        "a",
    ) else {
        return;
    };
    assert_one_line_failure(
        &awsenv(&env, &["use", "a", "--shell", "bash"]),
        &["cycle", "a -> b -> a"],
    );
}

#[test]
fn bad_settings_file_names_file_line_and_key() {
    let Some((env, _)) = setup(CALVIN, "calvin") else {
        return;
    };
    env.write_awsenv_settings("# settings\nbackend = \"file\"\nsession_ttl = \"soon\"\n");
    assert_one_line_failure(
        &awsenv(&env, &["use", "calvin", "--shell", "bash"]),
        &["config.toml", "line 3", "session_ttl"],
    );
    env.write_awsenv_settings("backend = \"file\"\nbogus = 1\n");
    assert_one_line_failure(
        &awsenv(&env, &["use", "calvin", "--shell", "bash"]),
        &["config.toml", "line 2", "bogus"],
    );
}

#[test]
fn sts_unreachable_is_a_clear_error_not_a_hang() {
    let Some((mut env, _)) = setup(CALVIN, "calvin") else {
        return;
    };
    let port = common::free_port();
    env.set_var("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"));
    env.set_var("AWSENV_STS_TIMEOUT", "4");
    let t = std::time::Instant::now();
    assert_one_line_failure(
        &awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        ),
        &["cannot reach STS", &port.to_string()],
    );
    // A server that accepts and never answers: the timeout ends it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    env.set_var("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"));
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    drop(listener);
    assert_one_line_failure(&o, &["STS", &port.to_string()]);
    assert!(t.elapsed().as_secs() < 30, "timeouts must bound the wait");
}

/// A fake STS answering every request with one error.
fn fake_sts(status: u16, code: &str, message: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    );
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let resp = format!(
                "HTTP/1.1 {status} Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    url
}

#[test]
fn sts_errors_become_actionable_lines() {
    let Some((mut env, _)) = setup(CALVIN, "calvin") else {
        return;
    };
    let cases: [(u16, &str, &str, &[&str]); 4] = [
        (
            403,
            "AccessDenied",
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
            &["wrong MFA code", "arn:aws:iam::111111111111:mfa/calvin"],
        ),
        (
            403,
            "AccessDenied",
            "User is not authorized to perform: sts:AssumeRole",
            &["access denied", "trust policy"],
        ),
        (
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
            &["expired", "awsenv clear calvin"],
        ),
        (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            &["rejected the keys", "awsenv add calvin --force"],
        ),
    ];
    for (status, code, msg, needles) in cases {
        env.set_var("AWS_ENDPOINT_URL_STS", &fake_sts(status, code, msg));
        assert_one_line_failure(
            &awsenv(
                &env,
                &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
            ),
            needles,
        );
    }
    env.set_var(
        "AWS_ENDPOINT_URL_STS",
        &fake_sts(400, "Throttling", "Rate exceeded"),
    );
    assert_one_line_failure(
        &awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        ),
        &["throttling", "retry"],
    );
}

#[test]
fn file_store_refuses_wrong_passphrase_and_damaged_files() {
    let Some((mut env, _)) = setup(&CALVIN.replace("productionEC2Full", "store-role"), "calvin")
    else {
        return;
    };
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let store = env.data_home.join("awsenv/store");
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("stat").permissions())
            & 0o777
    };
    assert_eq!(mode(&store), 0o700);
    let files: Vec<_> = std::fs::read_dir(&store)
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "age"))
        .collect();
    assert!(files.len() >= 4, "identity, keys, session, role");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            !name.contains("calvin") && !name.contains("role") && !name.contains("2026"),
            "{name}"
        );
    }
    let good = env.passphrase().to_string();
    env.set_var("AWSENV_FILE_PASSPHRASE", "not-the-passphrase");
    assert_one_line_failure(
        &awsenv(&env, &["use", "calvin", "--shell", "bash"]),
        &["wrong passphrase"],
    );
    env.set_var("AWSENV_FILE_PASSPHRASE", &good);

    // The stored keys (`k-…` files; damaged keys are reported, never dropped).
    let entry = files
        .iter()
        .find(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("k-"))
        })
        .expect("a keys entry");
    let bytes = std::fs::read(entry).expect("read");
    let use_calvin = &[
        "use",
        "calvin",
        "--shell",
        "bash",
        "--no-session",
        "--mfa-token",
        "123456",
    ];
    std::fs::write(entry, &bytes[..bytes.len() - 20]).expect("truncate");
    assert_one_line_failure(&awsenv(&env, use_calvin), &["damaged or was tampered with"]);
    let list = awsenv(&env, &["list"]);
    assert!(list.status.success() && stdout(&list).contains("UNREADABLE"));
    let mut flipped = bytes.clone();
    let n = flipped.len() - 30;
    flipped[n] ^= 1;
    std::fs::write(entry, &flipped).expect("tamper");
    assert_one_line_failure(&awsenv(&env, use_calvin), &["damaged or was tampered with"]);
}

#[test]
fn add_refuses_to_overwrite_without_force_and_list_shows_no_secrets() {
    let Some((env, _)) = setup(&CALVIN.replace("productionEC2Full", "list-role"), "calvin") else {
        return;
    };
    let mut c = env.awsenv();
    c.args(["add", "calvin", "--env"])
        .env("AWS_ACCESS_KEY_ID", "AKIAOTHEREXAMPLE0000")
        .env("AWS_SECRET_ACCESS_KEY", "other");
    assert_one_line_failure(&run(c), &["already has stored keys", "--force"]);
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success());
    let list = awsenv(&env, &["list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    assert!(
        text.contains("calvin")
            && text.contains("stored")
            && text.contains("role 222222222222/list-role (")
            && text.contains("mfa session"),
        "{text}"
    );
    assert!(!text.contains(SECRET) && !text.contains(KEY_ID));
    let clear = awsenv(&env, &["clear", "calvin"]);
    assert!(clear.status.success(), "{}", stderr(&clear));
    assert!(!stdout(&awsenv(&env, &["list"])).contains("mfa session"));
    let rm = awsenv(&env, &["remove", "calvin", "--force"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert_one_line_failure(
        &awsenv(
            &env,
            &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
        ),
        &["no keys stored", "awsenv add calvin"],
    );
}

#[test]
fn keyring_backend_against_a_real_secret_service() {
    if !require_tools(&common::KeyringSession::TOOLS) {
        return;
    }
    let Some(moto) = moto() else { return };
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&CALVIN.replace("productionEC2Full", "keyring-role"));
    let keyring = common::KeyringSession::start(&env);
    env.with_keyring(&keyring);
    env.remove_var("AWSENV_FILE_PASSPHRASE");
    env.add_keys("calvin", KEY_ID, SECRET);
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = exports(&stdout(&o));
    let again = awsenv(&env, &["use", "calvin", "--shell", "bash"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        get(&exports(&stdout(&again)), "AWS_ACCESS_KEY_ID"),
        get(&vars, "AWS_ACCESS_KEY_ID"),
        "served from the keyring cache"
    );
    assert_eq!(calls_for(moto, "keyring-role", "AssumeRole").len(), 1);
    let list = stdout(&awsenv(&env, &["list"]));
    assert!(
        list.contains("stored") && list.contains("keyring-role"),
        "{list}"
    );
    assert!(
        !env.data_home.join("awsenv/store").exists(),
        "nothing in the file store"
    );
    let secrets = [
        SECRET,
        get(&vars, "AWS_SECRET_ACCESS_KEY").unwrap_or("x"),
        get(&vars, "AWS_SESSION_TOKEN").unwrap_or("x"),
    ];
    assert!(
        env.scan_for_plaintext(&secrets).is_empty(),
        "gnome-keyring files hold no plaintext secret"
    );
}

#[test]
fn no_keyring_names_the_file_backend() {
    let mut env = TestEnv::new();
    env.write_aws_config(CALVIN);
    env.remove_var("AWSENV_BACKEND");
    env.set_var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    assert_one_line_failure(&awsenv(&env, &["list"]), &["AWSENV_BACKEND=file"]);
}

#[test]
fn use_on_a_terminal_prints_the_eval_hint_not_keys() {
    if !require_tools(&["script"]) {
        return;
    }
    let Some((env, _)) = setup(
        &CALVIN
            .replace("productionEC2Full", "tty-role")
            .replace("mfa/calvin", "mfa/tty"),
        "calvin",
    ) else {
        return;
    };
    // `script` gives the command a pseudo-terminal as stdout.
    let mut c = env.command("script");
    c.args([
        "-qec",
        &format!(
            "{} use calvin --shell bash --mfa-token 123456",
            env!("CARGO_BIN_EXE_awsenv")
        ),
        "/dev/null",
    ]);
    let o = c.stdin(Stdio::null()).output().expect("script");
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("eval \"$(awsenv use calvin)\""), "{text}");
    assert!(
        !text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("ASIA"),
        "{text}"
    );
}

#[test]
fn status_shows_profile_source_expiry_and_identity() {
    let Some((env, _moto)) = setup(
        &CALVIN
            .replace("productionEC2Full", "status-role")
            .replace("mfa/calvin", "mfa/status"),
        "calvin",
    ) else {
        return;
    };
    let idle = awsenv(&env, &["status"]);
    assert!(
        stdout(&idle).contains("No AWS credentials or profile are set"),
        "{}",
        stdout(&idle)
    );
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut c = env.awsenv();
    c.arg("status").envs(exports(&stdout(&o)));
    let st = run(c);
    assert!(st.status.success(), "{}", stderr(&st));
    let text = stdout(&st);
    for needle in [
        "profile:  calvin",
        "awsenv use (manual)",
        "region:   us-east-2",
        "left)",
        "identity: arn:aws:sts::222222222222:assumed-role/status-role/calvin",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    assert!(!text.contains(SECRET));
}

/// `list` shows what serves each profile now: a role edited out of the config is stale and
/// hidden (`-v` shows every entry), a session without MFA is not called an "mfa session", the
/// store is named, and every line fits 80 columns.
#[test]
fn list_shows_current_sessions_only_unless_verbose() {
    let cfg = CALVIN
        .replace("productionEC2Full", "list-old")
        .replace("mfa/calvin", "mfa/listcur")
        + "\n[profile nomfa]\nregion = eu-west-1\n";
    let Some((env, _moto)) = setup(&cfg, "calvin") else {
        return;
    };
    env.add_keys("nomfa", KEY_ID, SECRET);
    let o = awsenv(
        &env,
        &["use", "calvin", "--shell", "bash", "--mfa-token", "123456"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = awsenv(&env, &["use", "nomfa", "--shell", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    env.write_aws_config(&cfg.replace("list-old", "list-new"));
    let text = stdout(&awsenv(&env, &["list"]));
    assert!(text.starts_with("Keys and sessions in "), "{text}");
    assert!(!text.contains("list-old"), "stale role hidden: {text}");
    assert!(text.contains("mfa session ("), "{text}");
    let nomfa = text.lines().find(|l| l.starts_with("nomfa")).unwrap_or("");
    assert!(
        nomfa.contains(" session (") && !nomfa.contains("mfa session"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    let all = stdout(&awsenv(&env, &["list", "-v"]));
    assert!(
        all.contains("arn:aws:iam::222222222222:role/list-old"),
        "-v shows every entry: {all}"
    );
}
