//! `awsenv init` (issue 19, part 3): writes the repository's `.awsprofile`, allows it, says what
//! the next prompt does; refuses an unknown profile and another file's content without --force.

mod common;

use common::{TestEnv, detach};

fn run(env: &TestEnv, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let o = detach(env.awsenv().current_dir(dir).args(args))
        .output()
        .expect("run awsenv");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn init_writes_allows_and_refuses_what_it_should() {
    let env = TestEnv::new();
    env.write_aws_config("[profile calvin]\nregion = us-east-2\n");
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let file = repo.join(".awsprofile");

    let (ok, err) = run(&env, &repo, &["init", "calvn"]);
    assert!(!ok && err.contains("calvin"), "{err}");
    assert!(!file.exists(), "nothing written for an unknown profile");

    let (ok, err) = run(&env, &repo, &["init", "calvin", "--region", "eu-west-1"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("allowed") && err.contains("activates calvin"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "profile = \"calvin\"\nregion = \"eu-west-1\"\n"
    );
    let o = detach(env.awsenv().current_dir(&repo).arg("status"))
        .output()
        .expect("status");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(".awsprofile applies here (allowed)"), "{out}");

    std::fs::write(&file, "other\n").expect("write");
    let (ok, err) = run(&env, &repo, &["init", "calvin"]);
    assert!(!ok && err.contains("exists with other content"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "other\n");
    let (ok, err) = run(&env, &repo, &["init", "calvin", "--force"]);
    assert!(ok, "{err}");

    let (ok, err) = run(&env, &repo, &["init"]);
    assert!(!ok && err.contains("awsenv init PROFILE"), "{err}");
}

/// `awsenv init --role-arn ARN` and `--account ID --role NAME` write a role-named `.awsprofile`
/// (with `--region` and `--accounts`), allow it, and say which local profile yields the role;
/// a role no profile yields is refused with what to add, and nothing is written.
#[test]
fn init_by_role_names_the_role_and_the_profile_that_yields_it() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile base]\nregion = us-east-2\n\
         [profile ops]\nsource_profile = base\nrole_arn = arn:aws:iam::222222222222:role/productionEC2Full\n\
         [profile sso-ro]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 333333333333\nsso_role_name = ReadOnly\n",
    );
    let repo = env.home.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let file = repo.join(".awsprofile");

    let (ok, err) = run(
        &env,
        &repo,
        &[
            "init",
            "--role-arn",
            "arn:aws:iam::222222222222:role/productionEC2Full",
            "--accounts",
            "222222222222,444444444444",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "activates role productionEC2Full in account 222222222222 through your profile ops"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "role_arn = \"arn:aws:iam::222222222222:role/productionEC2Full\"\naccounts = [\"222222222222\", \"444444444444\"]\n"
    );
    let o = detach(env.awsenv().current_dir(&repo).arg("status"))
        .output()
        .expect("status");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(".awsprofile applies here (allowed)"), "{out}");

    let (ok, err) = run(
        &env,
        &repo,
        &[
            "init",
            "--account",
            "333333333333",
            "--role",
            "ReadOnly",
            "--region",
            "eu-west-1",
            "--force",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("activates role ReadOnly in account 333333333333 through your profile sso-ro"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "account = \"333333333333\"\nrole = \"ReadOnly\"\nregion = \"eu-west-1\"\n"
    );

    let other = env.home.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (ok, err) = run(
        &env,
        &other,
        &["init", "--account", "999999999999", "--role", "Admin"],
    );
    assert!(
        !ok && err.contains("none of your profiles") && err.contains("999999999999"),
        "{err}"
    );
    assert!(!other.join(".awsprofile").exists(), "nothing written");
    let (ok, err) = run(
        &env,
        &other,
        &["init", "--role-arn", "arn:aws:iam::12:role/x"],
    );
    assert!(!ok && err.contains("is not an IAM role ARN"), "{err}");
    assert!(!other.join(".awsprofile").exists(), "nothing written");
}
