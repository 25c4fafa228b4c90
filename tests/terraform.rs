//! Terraform for teams (issue 19): the real `terraform` binary, its built-in S3 backend pointed
//! at moto, every profile the code names served by awsenv through the `AWS_CONFIG_FILE` overlay.
//! Which credentials each request carried is read from moto's recorder (the `Authorization`
//! header's key id). No provider is downloaded: `terraform_data` and `terraform_remote_state`
//! are built in.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Moto, TestEnv, detach, random_hex, require_tools};

const KEY_ID: &str = "AKIAAWSENVTFTESTKEY1";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn tools() -> bool {
    require_tools(&["terraform", "moto_server", "aws"])
}

fn config(serial: &str) -> String {
    format!(
        "[profile base]\nregion = us-east-1\n\n\
         [profile app]\nsource_profile = base\nrole_arn = arn:aws:iam::222222222222:role/app\n\
         mfa_serial = {serial}\nregion = us-east-1\n\n\
         [profile tooling]\nsource_profile = base\nrole_arn = arn:aws:iam::333333333333:role/state\n\
         mfa_serial = {serial}\nregion = us-east-1\n\n\
         [profile shared]\nsource_profile = base\nrole_arn = arn:aws:iam::444444444444:role/dns\n\
         mfa_serial = {serial}\nregion = us-east-1\n"
    )
}

fn backend(moto: &Moto, bucket: &str, key: &str, profile: &str) -> String {
    format!(
        "bucket = \"{bucket}\"\n    key = \"{key}\"\n    region = \"us-east-1\"\n    \
         profile = \"{profile}\"\n    use_path_style = true\n    skip_s3_checksum = true\n    \
         endpoints = {{\n      s3 = \"{u}\"\n      sts = \"{u}\"\n      iam = \"{u}\"\n    }}\n",
        u = moto.url
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    let o = detach(cmd).output().expect("run command");
    assert!(o.status.success(), "{cmd:?} failed:\n{}", text(&o));
    o
}

/// `awsenv exec PROFILE -- ARGS…` in `dir` (the MFA code given once, for the first call).
fn exec(env: &TestEnv, dir: &Path, profile: &str, code: bool, args: &[&str]) -> Output {
    let mut cmd = env.awsenv();
    cmd.current_dir(dir).arg("exec").arg(profile);
    if code {
        cmd.args(["--mfa-token", "123456"]);
    }
    // The engine takes AWSENV_FILE_PASSPHRASE out of its own environment; the credential-process
    // calls Terraform starts open the test's file store with it again (a user's keyring or
    // unlocked file-store agent does this in real use).
    cmd.args([
        "--",
        "env",
        &format!("AWSENV_FILE_PASSPHRASE={}", env.passphrase()),
    ])
    .args(args)
    .env("CHECKPOINT_DISABLE", "1");
    run(&mut cmd)
}

/// The access key id `profile`'s cached role session carries (no new code: the session is
/// cached by then).
fn key_of(env: &TestEnv, profile: &str) -> String {
    let o = exec(
        env,
        &env.home,
        profile,
        false,
        &["printenv", "AWS_ACCESS_KEY_ID"],
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// S3 requests to `bucket` and the key ids that signed them.
fn s3_keys(moto: &Moto, bucket: &str) -> Vec<String> {
    moto.recorded_requests()
        .into_iter()
        .filter(|r| r.url.contains(&format!("/{bucket}")))
        .map(|r| r.access_key_id().unwrap_or("unsigned").to_string())
        .collect()
}

/// A backend in one account (`tooling`), a remote state read in another (`shared`), the command
/// run as a third (`app`): one MFA code for all, each request signed by its own profile's role;
/// then the same plan under `exec --server`.
#[test]
fn multi_account_plan_with_one_code() {
    if !tools() {
        return;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    let tag = random_hex(6);
    let serial = format!("arn:aws:iam::111111111111:mfa/tf-{tag}");
    env.write_aws_config(&config(&serial));
    env.add_keys("base", KEY_ID, SECRET);
    let (state_bucket, dns_bucket) = (format!("state-{tag}"), format!("dns-{tag}"));

    // The buckets, each in its own account, made with awsenv (the first call takes the code).
    exec(
        &env,
        &env.home,
        "tooling",
        true,
        &[
            "aws",
            "--endpoint-url",
            &moto.url,
            "s3",
            "mb",
            &format!("s3://{state_bucket}"),
        ],
    );
    exec(
        &env,
        &env.home,
        "shared",
        false,
        &[
            "aws",
            "--endpoint-url",
            &moto.url,
            "s3",
            "mb",
            &format!("s3://{dns_bucket}"),
        ],
    );
    let user_config = std::fs::read_to_string(env.aws_config_path()).expect("read config");

    // The DNS stack: state in the shared account.
    let dns = env.home.join("dns");
    std::fs::create_dir_all(&dns).expect("mkdir");
    std::fs::write(
        dns.join("main.tf"),
        format!(
            "terraform {{\n  backend \"s3\" {{\n    {}  }}\n}}\n\
             resource \"terraform_data\" \"zone\" {{\n  input = \"example.com\"\n}}\n\
             output \"zone\" {{\n  value = terraform_data.zone.output\n}}\n",
            backend(&moto, &dns_bucket, "dns.tfstate", "shared")
        ),
    )
    .expect("write dns main.tf");
    exec(
        &env,
        &dns,
        "app",
        false,
        &["terraform", "init", "-input=false", "-no-color"],
    );
    exec(
        &env,
        &dns,
        "app",
        false,
        &[
            "terraform",
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
        ],
    );

    // The application stack: its backend in the tooling account, the DNS state read from the
    // shared account, run as app.
    let app = env.home.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(
        app.join("main.tf"),
        format!(
            "terraform {{\n  backend \"s3\" {{\n    {}  }}\n}}\n\
             data \"terraform_remote_state\" \"dns\" {{\n  backend = \"s3\"\n  config = {{\n    {}  }}\n}}\n\
             resource \"terraform_data\" \"app\" {{\n  input = \"app.${{data.terraform_remote_state.dns.outputs.zone}}\"\n}}\n\
             output \"name\" {{\n  value = terraform_data.app.output\n}}\n",
            backend(&moto, &state_bucket, "app.tfstate", "tooling"),
            backend(&moto, &dns_bucket, "dns.tfstate", "shared")
        ),
    )
    .expect("write app main.tf");
    let gst = |moto: &Moto| {
        moto.requests("GetSessionToken")
            .iter()
            .filter(|r| r.param("SerialNumber") == Some(serial.as_str()))
            .count()
    };
    assert_eq!(
        gst(&moto),
        1,
        "one MFA code for three accounts and the DNS stack"
    );
    moto.reset_recorder();
    exec(
        &env,
        &app,
        "app",
        false,
        &["terraform", "init", "-input=false", "-no-color"],
    );
    let o = exec(
        &env,
        &app,
        "app",
        false,
        &[
            "terraform",
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
        ],
    );
    let out = text(&o);
    eprintln!("--- terraform apply (multi-account) ---\n{out}");
    assert!(out.contains("name = \"app.example.com\""), "{out}");

    // Each bucket was reached with its own profile's role, and only with it.
    let (tooling_key, shared_key) = (key_of(&env, "tooling"), key_of(&env, "shared"));
    assert_ne!(tooling_key, shared_key);
    let state = s3_keys(&moto, &state_bucket);
    let dns_reads = s3_keys(&moto, &dns_bucket);
    eprintln!("state bucket requests signed by {state:?}; dns bucket by {dns_reads:?}");
    assert!(
        !state.is_empty() && state.iter().all(|k| *k == tooling_key),
        "{state:?}"
    );
    assert!(
        !dns_reads.is_empty() && dns_reads.iter().all(|k| *k == shared_key),
        "{dns_reads:?}"
    );
    // One MFA code for the whole plan: one GetSessionToken with this device.
    assert_eq!(gst(&moto), 0, "no new MFA session after the first command");
    // Under `exec --server` too: the backend and the remote state still reach their accounts.
    let o = run(detach(
        env.awsenv()
            .current_dir(&app)
            .args(["exec", "app", "--server", "--", "env"])
            .arg(format!("AWSENV_FILE_PASSPHRASE={}", env.passphrase()))
            .args([
                "terraform",
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
            ])
            .env("CHECKPOINT_DISABLE", "1"),
    ));
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    assert_eq!(gst(&moto), 0, "still no new MFA session");
    // The user's config was never touched.
    assert_eq!(
        std::fs::read_to_string(env.aws_config_path()).expect("read config"),
        user_config
    );
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for `secs` since the epoch.
fn utc_text(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `exec --server` running a `terraform apply` that outlives the role session: a proxy in front
/// of moto's STS shortens every AssumeRole's `Expiration` to 60 s from now (STS's floor is
/// 15 min), and the apply sleeps 75 s in a `local-exec` provisioner. The state written after the
/// sleep is signed with a new session's key id, served by the endpoint from the cached MFA
/// session (one code).
#[test]
fn exec_server_apply_outlives_a_short_role_session() {
    if !tools() {
        return;
    }
    let moto = Moto::start();
    let proxy = common::FaultProxy::start(&moto);
    let mut env = TestEnv::new();
    env.set_var("AWS_ENDPOINT_URL_STS", &proxy.url);
    // Refresh 20 s before the end: the 60 s session is served for its first 40 s.
    env.set_var("AWSENV_REFRESH_WINDOW", "20");
    let tag = random_hex(6);
    let serial = format!("arn:aws:iam::111111111111:mfa/ttl-{tag}");
    env.write_aws_config(&config(&serial));
    env.add_keys("base", KEY_ID, SECRET);
    proxy.inject(
        |r| r.action == "AssumeRole",
        common::Fault::Then(Box::new(|answer: &mut Vec<u8>| {
            let text = String::from_utf8_lossy(answer).into_owned();
            let Some(i) = text.find("<Expiration>") else {
                return;
            };
            let at = i + "<Expiration>".len();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            // Same length: only the date and time change, moto's suffix stays.
            let soon = utc_text(now + 60);
            answer.splice(at..at + soon.len(), soon.into_bytes());
        })),
        None,
    );
    let bucket = format!("ttl-{tag}");
    exec(
        &env,
        &env.home,
        "app",
        true,
        &[
            "aws",
            "--endpoint-url",
            &moto.url,
            "s3",
            "mb",
            &format!("s3://{bucket}"),
        ],
    );
    let dir = env.home.join("long");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut b = backend(&moto, &bucket, "long.tfstate", "app");
    b = b.replace("    profile = \"app\"\n", "\n");
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "terraform {{\n  backend \"s3\" {{\n    {b}  }}\n}}\n\
             resource \"terraform_data\" \"slow\" {{\n  input = \"x\"\n  \
             provisioner \"local-exec\" {{\n    command = \"sleep 75\"\n  }}\n}}\n"
        ),
    )
    .expect("write main.tf");
    let server = |args: &[&str]| {
        run(detach(
            env.awsenv()
                .current_dir(&dir)
                .args(["exec", "app", "--server", "--", "env"])
                .arg(format!("AWSENV_FILE_PASSPHRASE={}", env.passphrase()))
                .args(args)
                .env("CHECKPOINT_DISABLE", "1"),
        ))
    };
    server(&["terraform", "init", "-input=false", "-no-color"]);
    moto.reset_recorder();
    let o = server(&[
        "terraform",
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ]);
    assert!(text(&o).contains("Apply complete!"), "{}", text(&o));
    let state: Vec<_> = moto
        .recorded_requests()
        .into_iter()
        .filter(|r| r.url.contains(&format!("/{bucket}/long.tfstate")))
        .collect();
    let first = state
        .first()
        .and_then(|r| r.access_key_id())
        .unwrap_or("none")
        .to_string();
    let written = state
        .iter()
        .rev()
        .find(|r| r.method == "PUT")
        .and_then(|r| r.access_key_id())
        .unwrap_or("none")
        .to_string();
    eprintln!(
        "state requests: {:?}",
        state
            .iter()
            .map(|r| (
                r.method.clone(),
                r.access_key_id().unwrap_or("-").to_string()
            ))
            .collect::<Vec<_>>()
    );
    assert!(
        first.starts_with("ASIA") && written.starts_with("ASIA") && written != first,
        "the state written after the sleep was signed by {written}, the first read by {first}"
    );
    let assumed = proxy.calls("AssumeRole").len();
    assert!(assumed >= 2, "{assumed} AssumeRole calls");
    let codes = moto
        .requests("GetSessionToken")
        .iter()
        .filter(|r| r.param("SerialNumber") == Some(serial.as_str()))
        .count();
    assert_eq!(codes, 0, "the new session came from the cached MFA session");
}

/// A write into the overlay by the command `exec --server` runs reaches the user's config when
/// the command ends (one line says so); one by a plain `exec` (which becomes the command) at
/// the next activation.
#[test]
fn a_write_into_the_overlay_under_exec_reaches_the_users_config() {
    if !require_tools(&["moto_server", "aws"]) {
        return;
    }
    let moto = Moto::start();
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    let serial = format!("arn:aws:iam::111111111111:mfa/ow-{}", random_hex(6));
    env.write_aws_config(&config(&serial));
    env.add_keys("base", KEY_ID, SECRET);
    let o = run(detach(env.awsenv().args([
        "exec",
        "app",
        "--server",
        "--mfa-token",
        "123456",
        "--",
        "aws",
        "configure",
        "set",
        "region",
        "eu-west-3",
        "--profile",
        "x",
    ])));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("awsenv: saved 'region = eu-west-3' of profile x to ~/.aws/config\n"),
        "{}",
        text(&o)
    );
    let user = std::fs::read_to_string(env.aws_config_path()).expect("read config");
    assert!(
        user.ends_with("\n[profile x]\nregion = eu-west-3\n") && user.contains("[profile app]"),
        "{user}"
    );
    run(detach(env.awsenv().args([
        "exec",
        "app",
        "--",
        "aws",
        "configure",
        "set",
        "output",
        "text",
        "--profile",
        "app",
    ])));
    let o = run(detach(env.awsenv().args(["exec", "app", "--", "true"])));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("awsenv: saved 'output = text' of profile app to ~/.aws/config\n"),
        "{}",
        text(&o)
    );
    let user = std::fs::read_to_string(env.aws_config_path()).expect("read config");
    assert!(
        user.contains("role_arn = arn:aws:iam::222222222222:role/app")
            && user.contains("region = us-east-1\noutput = text\n"),
        "{user}"
    );
}
