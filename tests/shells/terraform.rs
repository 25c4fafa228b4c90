//! Terraform in a hooked shell (issue 19): `awsenv init` in a repo, then `terraform apply`, with the
//! state backend in another account (`profile = "hobbes"` in the code) served by awsenv through
//! the `AWS_CONFIG_FILE` overlay; `status` says so; a write into the overlay is saved;
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
    // A write into the config while the overlay is active reaches the user's file.
    p.line("aws configure set output text --profile hobbes");
    p.sync();
    let screen = p.screen();
    assert!(
        screen.contains("awsenv: saved 'output = text' of profile hobbes to ~/.aws/config"),
        "{kind:?}: {screen}"
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

/// While the overlay is `AWS_CONFIG_FILE`, the real `aws configure set` writes into it: the next
/// prompt saves each change into the user's `~/.aws/config` (one line each), the regenerated
/// overlay holds it and still serves calvin; the same key changed in both files is not guessed
/// at: the overlay's copy is kept in `config.awsenv-unsaved` and the line says where.
pub fn overlay_write_saved(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "ow", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    p.cd(&repo);
    p.wait_for("Enter MFA code", 0);
    p.line(CODE);
    p.sync();
    let config = w.env.aws_config_path();
    p.line("aws configure set region eu-west-3 --profile x");
    p.sync();
    p.line("aws configure set foo bar");
    p.sync();
    let screen = p.screen();
    for said in [
        "awsenv: saved 'region = eu-west-3' of profile x to ~/.aws/config",
        "awsenv: saved 'foo = bar' of profile default to ~/.aws/config",
    ] {
        assert_eq!(
            screen.matches(said).count(),
            1,
            "{kind:?}: {said}: {screen}"
        );
    }
    let text = fs::read_to_string(&config).expect("read config");
    assert!(
        text.contains("[profile x]\nregion = eu-west-3\n")
            && text.contains("[default]\nfoo = bar\n")
            && text.contains("role_arn = arn:aws:iam::222222222222:role/terraform"),
        "{kind:?}: {text}"
    );
    assert!(!text.contains("credential_process"), "{kind:?}: {text}");
    let got = p.capture("aws configure get region --profile x");
    assert_eq!(got.trim(), "eu-west-3", "{kind:?}");
    let cp = p.capture("aws configure get credential_process --profile calvin");
    assert!(cp.contains("credential-process calvin"), "{kind:?}: {cp}");
    // The same key changed in the overlay and in the user's file before the next prompt.
    p.line(&format!(
        "aws configure set region ap-south-1 --profile hobbes; sed -i 's/us-east-2/sa-east-1/' {}",
        kind.quote(&config.to_string_lossy())
    ));
    p.sync();
    let screen = p.screen();
    assert!(
        screen.contains("awsenv: what was written into AWS_CONFIG_FILE is not saved to ~/.aws/config ('region = ap-south-1' of profile hobbes was also changed in ~/.aws/config); it is kept in ~/.aws/config.awsenv-unsaved"),
        "{kind:?}: {screen}"
    );
    let text = fs::read_to_string(&config).expect("read config");
    assert!(
        text.contains("region = sa-east-1") && !text.contains("ap-south-1"),
        "{kind:?}: {text}"
    );
    let kept = fs::read_to_string(w.home().join(".aws/config.awsenv-unsaved")).expect("kept copy");
    assert!(kept.contains("region = ap-south-1"), "{kind:?}: {kept}");
    // Nothing more is said at the prompts after.
    let before = p.count("awsenv:");
    p.sync();
    assert_eq!(p.count("awsenv:"), before, "{kind:?}: {}", p.screen());
}
