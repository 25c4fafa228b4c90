//! A repository that names the role, not a local profile (issue 19, part 2): the same
//! `.awsprofile` works for two users whose configs name the profile differently; `allow` says
//! which local profile it chose; the `accounts` guard refuses another account; a role no profile
//! yields is one line saying what to add, or, with the opt-in `role_base_profile` setting, is
//! assumed from that profile.

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
                "(productionEC2Full (222222222222) via profile {local})"
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
        // The activation line and `status` say which local profile was chosen for the role.
        let via = format!("productionEC2Full (222222222222) via profile {local}");
        let o = detach(
            env.awsenv()
                .current_dir(&repo)
                .env("AWSENV_ANNOUNCE", "always")
                .args(["export", "bash"]),
        )
        .output()
        .expect("run awsenv");
        assert!(
            err(&o).contains(&format!("awsenv: {via}, us-east-1, ")),
            "{}",
            err(&o)
        );
        let o = detach(
            env.awsenv()
                .current_dir(&repo)
                .env("AWSENV_PROFILE", local)
                .env("AWSENV_SOURCE", repo.join(".awsprofile"))
                .arg("status"),
        )
        .output()
        .expect("run awsenv status");
        let st = String::from_utf8_lossy(&o.stdout);
        assert!(
            st.contains(&format!("role:     {via}\n")),
            "{st}{}",
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
    assert!(
        e.contains("or set role_base_profile = \"YOUR_BASE_PROFILE\" in "),
        "{e}"
    );
}

/// The opt-in `role_base_profile`: a role no profile yields is assumed directly from that
/// profile, with its cached MFA session — one code for the first activation, none after;
/// `allow`, the activation line and `status` say `via role_base_profile base`.
#[test]
fn role_base_profile_assumes_a_role_no_profile_yields() {
    if !require_tools(&["moto_server"]) {
        return;
    }
    let moto = Moto::start();
    let serial = format!("arn:aws:iam::111111111111:mfa/base-{}", random_hex(6));
    let mut env = TestEnv::new();
    env.with_moto(&moto);
    env.write_aws_config(&format!(
        "[profile base]\nregion = us-east-1\nmfa_serial = {serial}\n"
    ));
    env.add_keys("base", "AKIAAWSENVROLEBASE01", "secret");
    env.write_awsenv_settings("role_base_profile = \"base\"\n");
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(
        repo.join(".awsprofile"),
        "account = \"444444444444\"\nrole = \"Deployer\"\naccounts = [\"444444444444\"]\n",
    )
    .expect("write");
    let o = run(&env, &repo, &["allow"]);
    let via = "Deployer (444444444444) via role_base_profile base";
    assert!(err(&o).contains(&format!("({via})")), "{}", err(&o));
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
    assert!(o.status.success(), "{}", err(&o));
    let name = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(name, "Deployer@444444444444");
    let assumed: Vec<_> = moto
        .requests("AssumeRole")
        .into_iter()
        .filter(|r| r.param("RoleArn") == Some("arn:aws:iam::444444444444:role/Deployer"))
        .collect();
    assert_eq!(assumed.len(), 1, "one AssumeRole of the role");
    // The hook, with no code to give: the cached session and role serve it.
    let o = detach(
        env.awsenv()
            .current_dir(&repo)
            .env("AWSENV_ANNOUNCE", "always")
            .args(["export", "bash"]),
    )
    .output()
    .expect("run awsenv");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("export AWSENV_PROFILE='Deployer@444444444444';"),
        "{out}{}",
        err(&o)
    );
    assert!(
        err(&o).contains(&format!("awsenv: {via}, us-east-1, ")),
        "{}",
        err(&o)
    );
    let o = detach(
        env.awsenv()
            .current_dir(&repo)
            .env("AWSENV_PROFILE", "Deployer@444444444444")
            .env("AWSENV_SOURCE", repo.join(".awsprofile"))
            .arg("status"),
    )
    .output()
    .expect("run awsenv status");
    let st = String::from_utf8_lossy(&o.stdout);
    assert!(st.contains(&format!("role:     {via}\n")), "{st}");
    let codes = moto
        .requests("GetSessionToken")
        .iter()
        .filter(|r| r.param("SerialNumber") == Some(serial.as_str()))
        .count();
    assert_eq!(codes, 1, "one MFA code");
    // Without the setting: the one line names it.
    env.write_awsenv_settings("");
    let o = run(&env, &repo, &["exec", "--", "true"]);
    assert!(err(&o).contains("role_base_profile"), "{}", err(&o));
}
