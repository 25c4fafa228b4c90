//! The command-line interface as a newcomer meets it: each command's help shows only the
//! options it takes, and the manual page shipped in `man/awsenv.1` is the one the CLI
//! definition generates.

mod common;

use common::TestEnv;

fn help(env: &TestEnv, args: &[&str]) -> String {
    let o = env
        .awsenv()
        .args(args)
        .arg("--help")
        .output()
        .expect("run awsenv --help");
    assert!(
        o.status.success(),
        "{args:?} --help: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn each_help_shows_only_the_options_its_command_takes() {
    let env = TestEnv::new();
    for cmd in [
        &["prompt"][..],
        &["hook"],
        &["completions"],
        &["status"],
        &["reload"],
        &["allow"],
    ] {
        let h = help(&env, cmd);
        assert!(
            !h.contains("--backend"),
            "{cmd:?} --help offers --backend:\n{h}"
        );
    }
    for cmd in [
        &["use"][..],
        &["add"],
        &["list"],
        &["exec"],
        &["clear"],
        &["credential-process"],
    ] {
        let h = help(&env, cmd);
        assert!(h.contains("--backend"), "{cmd:?} opens the store:\n{h}");
    }
    let login = help(&env, &["login"]);
    assert!(
        login.contains(".awsprofile"),
        "login says where the profile comes from:\n{login}"
    );
}

#[test]
fn the_shipped_manual_page_is_the_generated_one() {
    let env = TestEnv::new();
    let o = env.awsenv().arg("man").output().expect("run awsenv man");
    assert!(o.status.success());
    let shipped = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/awsenv.1"))
        .expect("read man/awsenv.1");
    assert!(
        o.stdout == shipped,
        "man/awsenv.1 is stale: regenerate it with 'awsenv man > man/awsenv.1'"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    for section in [".TH awsenv 1", ".TH awsenv-use 1", ".TH awsenv-hook 1"] {
        assert!(text.contains(section), "{section} missing");
    }
}
