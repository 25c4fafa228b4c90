//! An `aws login` session (issue 21 §2) in a hooked shell: a repository whose `.awsprofile` names a
//! role on top of a `login_session` profile activates on `cd` (the CLI's session refreshed
//! through the fake Sign-In service, the role assumed in moto), the AWS CLI runs as the role,
//! the prompt shows it, and leaving restores the shell.

use super::{Kind, World, assert_active, assert_inactive};
use crate::common::{Moto, TestEnv};

#[path = "../login/harness.rs"]
mod login_fake;

/// `cd` into a repo naming `admin` (a role whose `source_profile` is an `aws login` session):
/// active with the role, the session refreshed once, `cd` out restores, re-entering uses the
/// cached role session.
pub fn repo(kind: Kind, moto: &Moto) {
    let mut env = TestEnv::new();
    env.with_moto(moto);
    let fake = login_fake::Fake::start(&env);
    env.set_var("AWS_ENDPOINT_URL_SIGNIN", &fake.url);
    env.write_aws_config(&login_fake::config());
    fake.login(&env, login_fake::SESSION, -60);
    let w = World {
        env,
        kind,
        serial: String::new(),
        moto,
    };
    let repo = w.fixture("console-repo", "admin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    p.cd(&repo);
    p.sync();
    assert_active(kind, &p.env(), "admin", &repo, "aws login repo");
    let arn = p.capture(&format!(
        "aws sts get-caller-identity --endpoint-url {} --query Arn --output text",
        moto.url
    ));
    assert!(arn.contains(":assumed-role/Admin/"), "{kind:?}: {arn}");
    let prompt = p.capture("awsenv prompt");
    assert!(prompt.starts_with("admin "), "{kind:?}: prompt {prompt}");
    let refreshed = fake
        .requests()
        .iter()
        .filter(|r| r["operation"] == "CreateOAuth2Token" && r["status"] == 200)
        .count();
    assert_eq!(refreshed, 1, "{kind:?}: {:?}", fake.requests());
    p.cd(w.home());
    p.sync();
    assert_inactive(kind, &p.env(), "left the aws login repo");
    p.cd(&repo);
    p.sync();
    assert_active(kind, &p.env(), "admin", &repo, "aws login re-enter");
    assert_eq!(
        fake.requests().len(),
        1,
        "{kind:?}: re-enter refreshed again"
    );
}
