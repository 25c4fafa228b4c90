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
