//! The profile picker as a user meets it in a real interactive shell (tmux): `awsenv use` with
//! no profile opens a list on the terminal, typed text filters it, Enter picks, Esc cancels;
//! also inside `eval "$(awsenv use)"`, where stdout is captured.

use super::*;

const TITLE: &str = "awsenv use>";

/// The picker's rows on the visible screen, top to bottom (profile names only).
fn listed(p: &Pane) -> Vec<String> {
    p.visible()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w == "calvin" || *w == "hobbes")
        .map(str::to_string)
        .collect()
}

/// Waits until the picker shows exactly `want` as its rows.
fn wait_rows(p: &Pane, want: &[&str]) {
    let start = Instant::now();
    while listed(p) != want {
        if start.elapsed() > Duration::from_secs(20) {
            panic!(
                "{}: the picker never listed {want:?}; screen:\n{}",
                p.kind.name(),
                p.visible()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_visible(p: &Pane, needle: &str) {
    let start = Instant::now();
    while !p.visible().contains(needle) {
        if start.elapsed() > Duration::from_secs(20) {
            panic!(
                "{}: timed out waiting for {needle:?} on the visible screen:\n{}",
                p.kind.name(),
                p.visible()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_gone(p: &Pane, needle: &str) {
    let start = Instant::now();
    while p.visible().contains(needle) {
        if start.elapsed() > Duration::from_secs(20) {
            panic!(
                "{}: {needle:?} stays on the screen:\n{}",
                p.kind.name(),
                p.visible()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `awsenv use` with no argument (the hook's function): type a fragment of hobbes's account id,
/// Enter, the MFA code; the shell has hobbes. Then `eval "$(awsenv use)"` (fish: `| source`),
/// where stdout is captured: the picker still draws on the terminal and calvin, picked by a
/// fragment of its account id, is applied.
pub fn pick_by_account(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "pick", "");
    let mut p = w.shell(&[]);
    p.line("awsenv use");
    wait_visible(&p, TITLE);
    wait_rows(&p, &["calvin", "hobbes"]);
    p.keys("3333");
    wait_rows(&p, &["hobbes"]);
    let asked = p.count("Enter MFA code");
    p.press("Enter");
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    let env = p.env();
    assert_eq!(
        env.get("AWS_VAULT").map(String::as_str),
        Some("hobbes"),
        "{kind:?}: picked by account id"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(arn.contains("assumed-role/admin/"), "{kind:?}: {arn}");

    let eval = match kind {
        Kind::Fish => "awsenv use | source",
        _ => "eval \"$(awsenv use)\"",
    };
    p.line(eval);
    wait_visible(&p, TITLE);
    p.keys("2222");
    wait_rows(&p, &["calvin"]);
    p.press("Enter");
    wait_gone(&p, TITLE);
    p.sync();
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("calvin"),
        "{kind:?}: picked inside eval"
    );
    assert_eq!(w.session_tokens(), 1, "one MFA session served both");
}

/// Esc cancels: status 1, the shell's environment and the terminal's settings exactly as they
/// were. The picker fits an 80×24 terminal and redraws when the terminal is resized.
pub fn cancel_and_resize(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "pickesc", "");
    let mut p = w.shell(&[("AWS_PROFILE", "dev")]);
    let before = p.env();
    let stty_before = p.capture("stty -g");
    let rc = status_var(kind);
    let seen = p.count("rc=1");
    p.line(&format!("awsenv use; echo rc={rc}"));
    wait_visible(&p, TITLE);
    p.resize(80, 24);
    let start = Instant::now();
    loop {
        let screen = p.visible();
        let lines: Vec<&str> = screen.lines().collect();
        let fits = lines.len() <= 24
            && lines.iter().all(|l| l.chars().count() <= 80)
            && lines.get(23).is_some_and(|l| l.contains("Esc cancel"));
        if fits && screen.contains(TITLE) && listed(&p) == ["calvin", "hobbes"] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{kind:?}: not redrawn for 80x24:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p.press("Escape");
    p.wait_for("rc=1", seen);
    p.sync();
    assert!(p.screen().contains("profile picker cancelled"), "{kind:?}");
    let after = p.env();
    for k in CRED_VARS.iter().chain(&["AWS_PROFILE", "AWS_VAULT"]) {
        assert_eq!(before.get(*k), after.get(*k), "{kind:?}: {k} changed");
    }
    assert_eq!(
        p.capture("stty -g"),
        stty_before,
        "{kind:?}: terminal modes"
    );
    assert_eq!(w.session_tokens(), 0, "{kind:?}: nothing resolved");
}

/// Alphabetical before any pick; hobbes first after two picks by a one-match query (`-q`,
/// taken without the list: nothing is typed at a list); `AWSENV_PICKER_ORDER=alphabetical`
/// restores the order by name.
pub fn frecency_and_alphabetical(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "pickfrec", "");
    let mut p = w.shell(&[]);
    let rc = status_var(kind);
    let open_and_close = |p: &mut Pane, want: &[&str]| {
        let seen = p.count("rc=1");
        p.line(&format!("awsenv use; echo rc={rc}"));
        wait_visible(p, TITLE);
        wait_rows(p, want);
        p.press("Escape");
        p.wait_for("rc=1", seen);
        p.sync();
    };
    open_and_close(&mut p, &["calvin", "hobbes"]);
    let asked = p.count("Enter MFA code");
    p.line("awsenv use -q hobbes");
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    p.line("awsenv use -q calvin");
    p.sync();
    p.line("awsenv use -q hobbes");
    p.sync();
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("hobbes"),
        "{kind:?}: -q with one match"
    );
    open_and_close(&mut p, &["hobbes", "calvin"]);
    let set = match kind {
        Kind::Fish => "set -gx AWSENV_PICKER_ORDER alphabetical",
        _ => "export AWSENV_PICKER_ORDER=alphabetical",
    };
    p.line(set);
    p.sync();
    open_and_close(&mut p, &["calvin", "hobbes"]);
}

/// SIGTERM while the picker is open: the terminal's modes are restored before awsenv ends
/// (status 143), and the shell's environment is unchanged.
pub fn sigterm(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "pickterm", "");
    let mut p = w.shell(&[]);
    let stty_before = p.capture("stty -g");
    let seen = p.count("rc=143");
    p.line(&format!("awsenv use; echo rc={}", status_var(kind)));
    wait_visible(&p, TITLE);
    // The picker is the shell's child (the front binary execs the engine in place).
    let out = Command::new("pgrep")
        .args(["-P", &p.shell_pid().to_string(), "awsenv-engine"])
        .output()
        .expect("run pgrep");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !pid.is_empty() && !pid.contains('\n'),
        "{kind:?}: one picker: {pid:?}"
    );
    let st = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(st.success());
    p.wait_for("rc=143", seen);
    p.sync();
    assert_eq!(
        p.capture("stty -g"),
        stty_before,
        "{kind:?}: terminal modes"
    );
    assert_inactive(kind, &p.env(), "after SIGTERM");
}

/// The rows the picker shows, by profile name, among `names`.
fn listed_of(p: &Pane, names: &[&str]) -> Vec<String> {
    p.visible()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| names.contains(w))
        .map(str::to_string)
        .collect()
}

/// Roles the AWS access portal offers that no profile names (listed once by `awsenv sso
/// profiles corp`) can be picked: the first, found by a fragment of its account id, is
/// written to the AWS config after a yes (Enter, the default) and the shell has its
/// credentials; the second is declined ("n") and used for this command without writing: the
/// shell has it, the config file is unchanged.
pub fn portal_role(kind: Kind, moto: &Moto) {
    let fake = sso_fake::FakeSso::start(moto);
    let mut env = TestEnv::new();
    env.with_moto(moto);
    fake.point(&mut env);
    env.write_aws_config(&sso_fake::config(&sso_fake::profile(
        "dev-admin",
        "111111111111",
        "Admin",
    )));
    let o = crate::common::detach(env.awsenv().args(["sso", "profiles", "corp"]))
        .output()
        .expect("run awsenv sso profiles");
    assert!(
        o.status.success(),
        "sso profiles: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let w = World {
        env,
        kind,
        serial: String::new(),
        moto,
    };
    let config = w.env.aws_config_path();
    let mut p = w.shell(&[]);
    let all = [
        "dev-admin",
        "dev-readonly",
        "prod-readonly",
        "sandbox-admin",
        "sandbox-poweruser",
        "sandbox-readonly",
    ];

    p.line("awsenv use");
    wait_visible(&p, TITLE);
    let start = Instant::now();
    while listed_of(&p, &all).len() < all.len() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{kind:?}: portal roles not listed:\n{}",
            p.visible()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p.keys("2222 read");
    wait_visible(&p, "1/6");
    assert_eq!(listed_of(&p, &all), ["prod-readonly"], "{kind:?}");
    let asked = p.count("write it there? [Y/n]");
    p.press("Enter");
    p.wait_for("write it there? [Y/n]", asked);
    p.press("Enter");
    p.sync();
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("prod-readonly"),
        "{kind:?}: the written portal role is active:\n{}",
        p.screen()
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains("222222222222:assumed-role/AWSReservedSSO_ReadOnly_"),
        "{kind:?}: {arn}"
    );
    let text = fs::read_to_string(&config).expect("read config");
    let block = text
        .split("# BEGIN awsenv sso profiles corp")
        .nth(1)
        .unwrap_or_else(|| panic!("{kind:?}: no block written:\n{text}"));
    assert!(
        block.contains("[profile prod-readonly]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n"),
        "{kind:?}: {text}"
    );
    assert!(text.starts_with("[sso-session corp]"), "{kind:?}: {text}");

    // Declined: used in memory, the file stays as it is.
    p.line("awsenv use");
    wait_visible(&p, TITLE);
    p.keys("sandbox power");
    wait_visible(&p, "1/6");
    assert_eq!(listed_of(&p, &all), ["sandbox-poweruser"], "{kind:?}");
    let asked = p.count("write it there? [Y/n]");
    p.press("Enter");
    p.wait_for("write it there? [Y/n]", asked);
    p.line("n");
    p.sync();
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("sandbox-poweruser"),
        "{kind:?}: the declined portal role is active:\n{}",
        p.screen()
    );
    assert!(
        p.screen()
            .contains("using sandbox-poweruser for this command without writing it"),
        "{kind:?}"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains("333333333333:assumed-role/AWSReservedSSO_PowerUser_"),
        "{kind:?}: {arn}"
    );
    assert_eq!(
        fs::read_to_string(&config).expect("read config"),
        text,
        "{kind:?}: declined, yet the config changed"
    );
}

/// `awsenv init` with no argument in a repository opens the picker on the terminal; hobbes,
/// picked by a fragment of its account id, is written, allowed, and activated at the next
/// prompt (after the MFA code).
pub fn init_by_picker(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "pickinit", "");
    let repo = w.home().join("repo");
    fs::create_dir_all(&repo).expect("mkdir repo");
    let mut p = w.shell(&[]);
    p.cd(&repo);
    p.sync();
    let said = p.count("activates hobbes");
    p.line("awsenv init");
    wait_visible(&p, "awsenv init>");
    wait_rows(&p, &["calvin", "hobbes"]);
    p.keys("3333");
    wait_rows(&p, &["hobbes"]);
    let asked = p.count("Enter MFA code");
    p.press("Enter");
    p.wait_for("activates hobbes", said);
    assert_eq!(
        fs::read_to_string(repo.join(".awsprofile")).expect("read .awsprofile"),
        "profile = \"hobbes\"\n"
    );
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    assert_active(kind, &p.env(), "hobbes", &repo, "after init");
}
