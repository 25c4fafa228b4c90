//! A repository that names the role, not a local profile (issue 19, part 2): the same
//! `.awsprofile` works for two users whose configs name the profile differently; `allow` says
//! which local profile it chose; the `accounts` guard refuses another account; a role no profile
//! yields is one line saying what to add.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Moto, TestEnv, detach, random_hex, require_tools};

fn run(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    detach(env.awsenv().current_dir(dir).args(args))
        .output()
        .expect("run awsenv")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A user whose config names the team's role `local`, with keys stored and an MFA device.
fn user(moto: &Moto, local: &str, tag: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(&format!(
        "[profile base]\nregion = us-east-1\n\n[profile decoy]\nsource_profile = base\n\
         role_arn = arn:aws:iam::333333333333:role/productionEC2Full\n\
         mfa_serial = arn:aws:iam::111111111111:mfa/{tag}\n\n\
         [profile {local}]\nsource_profile = base\n\
         role_arn = arn:aws:iam::222222222222:role/productionEC2Full\n\
         mfa_serial = arn:aws:iam::111111111111:mfa/{tag}\n"
    ));
    env.add_keys("base", "AKIAAWSENVROLEFILE01", "secret");
    env
}

#[test]
fn a_role_named_awsprofile_works_for_two_users_and_the_guard_refuses() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let tag = random_hex(6);
    for (local, text) in [
        (
            "calvin",
            "role_arn = \"arn:aws:iam::222222222222:role/productionEC2Full\"\n",
        ),
        (
            "prod-admin",
            "account = \"222222222222\"\nrole = \"productionEC2Full\"\naccounts = [\"222222222222\"]\n",
        ),
    ] {
        let env = user(&moto, local, &format!("{tag}-{local}"));
        let repo = env.home.join("repo");
        std::fs::create_dir_all(&repo).expect("mkdir");
        std::fs::write(repo.join(".awsprofile"), text).expect("write");
        let o = run(&env, &repo, &["allow"]);
        assert!(
            err(&o).contains(&format!(
                "role productionEC2Full in account 222222222222: your profile {local}"
            )),
            "{}",
            err(&o)
        );
        let o = run(
            &env,
            &repo,
            &[
                "exec",
                "--mfa-token",
                "123456",
                "--",
                "printenv",
                "AWSENV_PROFILE",
            ],
        );
        assert!(o.status.success(), "{local}: {}", err(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), local);
        // The hook (from the cached session): activates the local profile for the role.
        let o = run(&env, &repo, &["export", "bash"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&format!("export AWSENV_PROFILE='{local}';")),
            "{local}: {out}{}",
            err(&o)
        );
    }

    // The guard: the only profile yielding the role is in another account than allowed.
    let env = user(&moto, "calvin", &format!("{tag}-guard"));
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(
        repo.join(".awsprofile"),
        "calvin\naccounts = [\"999999999999\"]\n",
    )
    .expect("write");
    run(&env, &repo, &["allow"]);
    let o = run(
        &env,
        &repo,
        &[
            "exec",
            "--mfa-token",
            "123456",
            "--",
            "printenv",
            "AWSENV_PROFILE",
        ],
    );
    assert!(!o.status.success() && o.stdout.is_empty(), "{}", err(&o));
    let refused = "gives credentials for account 222222222222, and the .awsprofile allows only 999999999999: refused";
    assert!(err(&o).contains(refused), "{}", err(&o));
    // The hook refuses too: no credentials exported.
    let o = run(&env, &repo, &["export", "bash"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("AWS_ACCESS_KEY_ID="), "{out}");
    assert!(err(&o).contains(refused), "{}", err(&o));

    // A role no profile yields: one line naming what to add.
    std::fs::write(
        repo.join(".awsprofile"),
        "account = \"444444444444\"\nrole = \"Deployer\"\n",
    )
    .expect("write");
    run(&env, &repo, &["allow"]);
    let o = run(&env, &repo, &["exec", "--", "true"]);
    let e = err(&o);
    assert!(!o.status.success(), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("yields role Deployer in account 444444444444: add [profile NAME] with role_arn = arn:aws:iam::444444444444:role/Deployer"),
        "{e}"
    );
}
