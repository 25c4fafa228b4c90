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
