//! Terraform in a hooked shell (issue 19): `awsenv init` in a repo, then `terraform apply`, with the
//! state backend in another account (`profile = "hobbes"` in the code) served by awsenv through
//! the `AWS_CONFIG_FILE` overlay; `status` says so; a write into the overlay is reported;
//! leaving restores `AWS_CONFIG_FILE` exactly.

use std::fs;

use super::{CODE, Kind, World};
use crate::common::{Moto, random_hex, require_tool};

/// `cd` + `aws s3 mb --profile hobbes` + `terraform init` + `terraform apply` in the shell; the
/// state lands in hobbes's bucket signed by hobbes's role; one MFA code; `cd` out restores
/// `AWS_CONFIG_FILE` to what it was (set here, as TestEnv sets it).
pub fn cd_apply(kind: Kind, moto: &Moto) {
    if !require_tool("terraform") {
        return;
    }
    let w = World::new(kind, moto, "tf", "");
    let bucket = format!("tf-{}-{}", kind.name(), random_hex(6));
    let repo = w.home().join("infra");
    fs::create_dir_all(&repo).expect("mkdir infra");
    fs::write(
        repo.join("main.tf"),
        format!(
            "terraform {{\n  backend \"s3\" {{\n    bucket = \"{bucket}\"\n    key = \"infra.tfstate\"\n    \
             region = \"us-east-1\"\n    profile = \"hobbes\"\n    use_path_style = true\n    \
             skip_s3_checksum = true\n    endpoints = {{\n      s3 = \"{u}\"\n      sts = \"{u}\"\n      \
             iam = \"{u}\"\n    }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{\n  input = \"{bucket}\"\n}}\n",
            u = moto.url
        ),
    )
    .expect("write main.tf");
    let mut p = w.shell(&[("CHECKPOINT_DISABLE", "1")]);
    let before = p.env();
    // `awsenv init` sets the repository up; the next prompt activates calvin (one MFA code).
    p.cd(&repo);
    p.sync();
    let asked = p.count("Enter MFA code");
    p.line("awsenv init calvin");
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    let screen = p.screen();
    assert!(
        screen.contains("the next prompt in") && screen.contains("activates calvin"),
        "{kind:?}: {screen}"
    );
    assert!(
        fs::read_to_string(repo.join(".awsprofile")).is_ok_and(|t| t == "profile = \"calvin\"\n"),
        "{kind:?}: .awsprofile"
    );
    let mb = p.capture(&format!(
        "aws --endpoint-url {} --profile hobbes s3 mb s3://{bucket}",
        moto.url
    ));
    assert!(mb.contains("make_bucket"), "{kind:?}: {mb}");
    let init = p.capture("terraform init -input=false -no-color");
    assert!(
        init.contains("Successfully configured the backend"),
        "{kind:?}: {init}"
    );
    let apply = p.capture("terraform apply -auto-approve -input=false -no-color");
    assert!(apply.contains("Apply complete!"), "{kind:?}: {apply}");
    let hobbes = p.capture("awsenv exec hobbes -- printenv AWS_ACCESS_KEY_ID");
    let hobbes = hobbes.trim();
    let inside = p.env();
    let calvin = inside.get("AWS_ACCESS_KEY_ID").cloned().unwrap_or_default();
    assert!(
        hobbes.starts_with("ASIA") && hobbes != calvin,
        "{hobbes} {calvin}"
    );
    let signed: Vec<String> = moto
        .recorded_requests()
        .into_iter()
        .filter(|r| r.url.contains(&format!("/{bucket}")))
        .map(|r| r.access_key_id().unwrap_or("unsigned").to_string())
        .collect();
    assert!(
        !signed.is_empty() && signed.iter().all(|k| k == hobbes),
        "{kind:?}: state bucket requests signed by {signed:?}, hobbes is {hobbes}"
    );
    assert_eq!(w.session_tokens(), 1, "{kind:?}: one MFA code");
    let st = p.capture("awsenv status");
    assert!(
        st.contains(
            "served:   2 profiles (calvin, hobbes) reach SDKs and Terraform through awsenv"
        ),
        "{kind:?}: {st}"
    );
    // A write into the config while the overlay is active is not silently lost.
    let said = p.count("that change is not in");
    p.line("aws configure set output text --profile hobbes");
    p.sync();
    assert!(
        p.count("that change is not in") > said,
        "{kind:?}: {}",
        p.screen()
    );
    // Leaving restores AWS_CONFIG_FILE exactly, and the overlay variable goes.
    p.cd(w.home());
    p.sync();
    let after = p.env();
    for v in ["AWS_CONFIG_FILE", "AWSENV_USER_CONFIG"] {
        assert_eq!(after.get(v), before.get(v), "{kind:?}: {v} restored");
    }
    assert_ne!(
        inside.get("AWS_CONFIG_FILE"),
        before.get("AWS_CONFIG_FILE"),
        "{kind:?}: the overlay was in effect inside"
    );
}
