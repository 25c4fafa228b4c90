//! Workload identities as chain roots (issue 21 §3): `web_identity_token_file` + `role_arn`
//! (AssumeRoleWithWebIdentity in moto) and `credential_source = Environment | EcsContainer |
//! Ec2InstanceMetadata`, each the root of a role assumed in moto. The IMDSv2 and container
//! fakes (tests/common/metadata.rs) are first checked with botocore's own fetchers.

mod common;

use std::process::{Command, Output};
use std::sync::OnceLock;

use common::metadata::{FakeEcs, FakeImds, IMDS_ROLE};
use common::{Moto, TestEnv, require_tools};

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws"]).then(Moto::start))
        .as_ref()
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setup(config: &str) -> Option<(TestEnv, &'static Moto)> {
    let moto = moto()?;
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.set_var("USER", "tester");
    env.write_aws_config(config);
    Some((env, moto))
}

/// `awsenv credential-process PROFILE`'s AccessKeyId; panics with stderr on failure.
fn credential_process(env: &TestEnv, extra: &[(&str, &str)], profile: &str) -> String {
    let mut c = env.awsenv();
    c.args(["credential-process", profile]);
    for (k, v) in extra {
        c.env(k, v);
    }
    let o = run(c);
    assert!(
        o.status.success(),
        "credential-process {profile}: {}",
        text(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("credential_process JSON");
    v["AccessKeyId"].as_str().expect("AccessKeyId").to_string()
}

/// The moto calls of `action` for role ARNs containing `marker`.
fn calls(moto: &Moto, action: &str, marker: &str) -> Vec<common::RecordedRequest> {
    moto.requests(action)
        .into_iter()
        .filter(|r| r.param("RoleArn").is_some_and(|a| a.contains(marker)))
        .collect()
}

/// The Python of the venv that holds the AWS CLI (and so botocore).
fn python() -> std::path::PathBuf {
    let aws = common::find_tool("aws").expect("aws on PATH");
    let sibling = aws.with_file_name("python3");
    if sibling.exists() {
        sibling
    } else {
        "python3".into()
    }
}

#[test]
fn the_fakes_are_what_botocore_expects() {
    if !require_tools(&["aws"]) {
        return;
    }
    let imds = FakeImds::start();
    let ecs = FakeEcs::start();
    // botocore's own fetchers (the AWS CLI's), pointed at the fakes.
    let script = r#"
import sys
from botocore.utils import InstanceMetadataFetcher, ContainerMetadataFetcher
imds = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=sys.argv[1]).retrieve_iam_role_credentials()
print(imds["role_name"], imds["access_key"], imds["token"])
ecs = ContainerMetadataFetcher().retrieve_full_uri(sys.argv[2], headers={"Authorization": sys.argv[3]})
print(ecs["AccessKeyId"], ecs["Token"])
"#;
    let mut c = Command::new(python());
    c.args(["-c", script, &imds.url, &ecs.full_uri, &ecs.auth]);
    let o = run(c);
    assert!(o.status.success(), "botocore: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{IMDS_ROLE} {} {}",
                imds.creds.access_key_id, imds.creds.token
            )
            .as_str()
        ),
        "botocore read the instance role from the fake IMDS"
    );
    assert_eq!(
        lines.next(),
        Some(format!("{} {}", ecs.creds.access_key_id, ecs.creds.token).as_str()),
        "botocore read the container credentials from the fake"
    );
    // botocore spoke IMDSv2 to it: a token from PUT with a TTL, then GETs carrying it.
    let seen = imds.seen();
    assert!(
        seen.iter().any(|s| s.method == "PUT"
            && s.path == "/latest/api/token"
            && s.headers
                .contains_key("x-aws-ec2-metadata-token-ttl-seconds")
            && s.status == 200),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|s| s.method == "GET")
            .all(|s| s.headers.contains_key("x-aws-ec2-metadata-token")),
        "{seen:?}"
    );
    // And it is strict where IMDS is: no token, no TTL, or a wrong token are refused.
    let port: u16 = imds
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let base = "/latest/meta-data/iam/security-credentials/";
    let r = common::http_request(port, "GET", base, b"").expect("GET");
    assert_eq!(r.status, 401, "a GET without a session token is refused");
    let r = common::http_request(port, "PUT", "/latest/api/token", b"").expect("PUT");
    assert_eq!(r.status, 400, "a token without a TTL is refused");
}

const WEB: &str = "[profile ci]
web_identity_token_file = TOKEN
role_arn = arn:aws:iam::123456789012:role/wl-web-deploy
role_session_name = ci-run-7
region = us-east-1

[profile ci-admin]
source_profile = ci
role_arn = arn:aws:iam::123456789012:role/wl-web-admin
";

#[test]
fn a_web_identity_root_exchanges_its_token_and_roots_a_role_chain() {
    let Some((env, moto)) = setup("") else { return };
    let token_path = env.root().join("token.jwt");
    std::fs::write(&token_path, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln\n").expect("token");
    env.write_aws_config(&WEB.replace("TOKEN", &token_path.to_string_lossy()));

    let o = run({
        let mut c = env.awsenv();
        c.args(["use", "ci"]);
        c
    });
    assert!(o.status.success(), "use ci: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("AWS_SESSION_TOKEN"),
        "{}",
        text(&o.stdout)
    );
    let web = calls(moto, "AssumeRoleWithWebIdentity", "wl-web-deploy");
    assert_eq!(web.len(), 1, "one AssumeRoleWithWebIdentity");
    assert_eq!(web[0].param("RoleSessionName"), Some("ci-run-7"));
    assert_eq!(
        web[0].param("WebIdentityToken"),
        Some("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln")
    );
    assert_eq!(web[0].access_key_id(), None, "the call is not signed");
    assert!(
        calls(moto, "AssumeRole", "wl-web-deploy").is_empty(),
        "the root's role_arn is the web identity's, not a second AssumeRole"
    );

    // A role on top of it, assumed with the web identity's credentials.
    let key = credential_process(&env, &[], "ci-admin");
    let admin = calls(moto, "AssumeRole", "wl-web-admin");
    assert_eq!(admin.len(), 1);
    let web_key = admin[0].access_key_id().expect("signed").to_string();
    assert!(web_key.starts_with("ASIA"), "{web_key}");
    assert_ne!(key, web_key);
    // Cached: the same token is not exchanged again.
    credential_process(&env, &[], "ci");
    assert_eq!(
        calls(moto, "AssumeRoleWithWebIdentity", "wl-web-deploy").len(),
        1
    );
    // A new token is.
    std::fs::write(&token_path, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaTIifQ.c2ln").expect("token");
    credential_process(&env, &[], "ci");
    assert_eq!(
        calls(moto, "AssumeRoleWithWebIdentity", "wl-web-deploy").len(),
        2
    );
}

#[test]
fn exec_and_list_work_on_a_web_identity_chain() {
    let Some((env, moto)) = setup("") else {
        return;
    };
    let token_path = env.root().join("token.jwt");
    std::fs::write(&token_path, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJleGVjIn0.c2ln").expect("token");
    let config = WEB
        .replace("TOKEN", &token_path.to_string_lossy())
        .replace("wl-web-", "wl-exec-");
    env.write_aws_config(&config);
    let o = run({
        let mut c = env.awsenv();
        c.args([
            "exec",
            "ci-admin",
            "--",
            "aws",
            "sts",
            "get-caller-identity",
        ])
        .args(["--query", "Arn", "--output", "text"])
        .env("AWS_ENDPOINT_URL", &moto.url);
        c
    });
    assert!(o.status.success(), "exec: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("assumed-role/wl-exec-admin/"),
        "{}",
        text(&o.stdout)
    );
    let o = run({
        let mut c = env.awsenv();
        c.arg("list");
        c
    });
    assert!(o.status.success(), "list: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("ci ") && l.contains("wl-exec-deploy")),
        "list shows the web identity's cached role: {out}"
    );
}

#[test]
fn an_instance_role_from_imdsv2_roots_a_role_chain() {
    let config = "[profile bastion]
credential_source = Ec2InstanceMetadata
role_arn = arn:aws:iam::123456789012:role/wl-imds-bastion
region = us-east-1

[profile bastion-admin]
source_profile = bastion
role_arn = arn:aws:iam::123456789012:role/wl-imds-admin
";
    let Some((mut env, moto)) = setup(config) else {
        return;
    };
    let imds = FakeImds::start();
    env.remove_var("AWS_EC2_METADATA_DISABLED");
    env.set_var("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url);
    let key = credential_process(&env, &[], "bastion-admin");
    let first = calls(moto, "AssumeRole", "wl-imds-bastion");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].access_key_id(),
        Some(imds.creds.access_key_id.as_str()),
        "the role on the root is assumed with the instance role's credentials"
    );
    let second = calls(moto, "AssumeRole", "wl-imds-admin");
    assert_eq!(second.len(), 1);
    assert_ne!(
        second[0].access_key_id(),
        Some(imds.creds.access_key_id.as_str())
    );
    assert_ne!(key, imds.creds.access_key_id);
    let seen = imds.seen();
    assert!(
        seen.iter().any(|s| s.method == "PUT" && s.status == 200),
        "awsenv got an IMDSv2 session token: {seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|s| s.method == "GET")
            .all(|s| s.status == 200),
        "every GET carried a valid token: {seen:?}"
    );
}

#[test]
fn container_credentials_root_a_role_chain() {
    let config = "[profile task]
credential_source = EcsContainer
region = us-east-1

[profile task-deploy]
source_profile = task
role_arn = arn:aws:iam::123456789012:role/wl-ecs-deploy
";
    let Some((mut env, moto)) = setup(config) else {
        return;
    };
    let ecs = FakeEcs::start();
    let token_file = env.root().join("ecs-token");
    std::fs::write(&token_file, &ecs.auth).expect("token file");
    env.set_var("AWS_CONTAINER_CREDENTIALS_FULL_URI", &ecs.full_uri);
    env.set_var(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        &token_file.to_string_lossy(),
    );
    credential_process(&env, &[], "task-deploy");
    let deploy = calls(moto, "AssumeRole", "wl-ecs-deploy");
    assert_eq!(deploy.len(), 1);
    assert_eq!(
        deploy[0].access_key_id(),
        Some(ecs.creds.access_key_id.as_str())
    );
    // Without the authorization token the endpoint refuses, and awsenv says so in one line.
    env.remove_var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    let o = run({
        let mut c = env.awsenv();
        c.args(["credential-process", "task"]);
        c
    });
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("profile task")
            && err.contains("EcsContainer")
            && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn environment_keys_root_a_role_chain() {
    let config = "[profile runner]
credential_source = Environment
region = us-east-1

[profile runner-deploy]
source_profile = runner
role_arn = arn:aws:iam::123456789012:role/wl-env-deploy
";
    let Some((env, moto)) = setup(config) else {
        return;
    };
    let id = "AKIAWLENVROOT0000001";
    credential_process(
        &env,
        &[
            ("AWS_ACCESS_KEY_ID", id),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wl-env-secret/0000000000000000000000000",
            ),
        ],
        "runner-deploy",
    );
    let deploy = calls(moto, "AssumeRole", "wl-env-deploy");
    assert_eq!(deploy.len(), 1);
    // Long-term keys from the environment get a session first, as stored keys do.
    let signer = deploy[0].access_key_id().expect("signed");
    assert_ne!(
        signer, id,
        "the role is assumed with the session, not the keys"
    );
    assert!(
        moto.requests("GetSessionToken")
            .iter()
            .any(|r| r.access_key_id() == Some(id)),
        "the session is made with the environment's keys"
    );
    // Without keys in the environment: one line naming the profile and what to set.
    let o = run({
        let mut c = env.awsenv();
        c.args(["credential-process", "runner"]);
        c
    });
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("profile runner")
            && err.contains("credential_source = Environment")
            && err.contains("AWS_ACCESS_KEY_ID")
            && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn unknown_or_half_set_workload_settings_are_one_line_errors() {
    let config = "[profile odd]
credential_source = Ec2Metadata
role_arn = arn:aws:iam::123456789012:role/wl-odd

[profile tokenless]
web_identity_token_file = /nonexistent/token

[profile both]
source_profile = odd
credential_source = Environment
role_arn = arn:aws:iam::123456789012:role/wl-both

[profile halfsso]
sso_start_url = https://example.awsapps.com/start
";
    let Some((env, _moto)) = setup(config) else {
        return;
    };
    for (profile, needles) in [
        (
            "odd",
            &[
                "profile odd",
                "credential_source",
                "Ec2Metadata",
                "Ec2InstanceMetadata",
            ][..],
        ),
        (
            "tokenless",
            &["profile tokenless", "web_identity_token_file", "role_arn"][..],
        ),
        (
            "both",
            &["profile both", "source_profile", "credential_source"][..],
        ),
        ("halfsso", &["profile halfsso", "sso_"][..]),
    ] {
        let o = run({
            let mut c = env.awsenv();
            c.args(["use", profile]);
            c
        });
        assert!(!o.status.success(), "{profile} succeeded");
        let err = text(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{profile}: {err}");
        for n in needles {
            assert!(err.contains(n), "{profile}: {n:?} missing from {err}");
        }
    }
}
