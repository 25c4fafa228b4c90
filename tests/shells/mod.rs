//! Driving real interactive shells through a pseudo-terminal (tmux), as a user types, with the
//! awsenv hook installed from the shell's own rc file — plus the direnv-style scenarios that
//! `tests/shell_{bash,zsh,fish}.rs` run, one fixture folder per case.
//!
//! Every scenario gets its own [`TestEnv`] (HOME, AWS_CONFIG_FILE, XDG_*, passphrase) and its own
//! tmux server socket; the shell is started from an empty environment (`env -i`). One moto per
//! test file is shared; scenarios keep their recorder queries apart by using their own MFA
//! serial number.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Moto, TestEnv, require_tools};

pub mod login;
pub mod terraform;

#[path = "../sso/harness.rs"]
mod sso_fake;

/// Long-term test keys (moto accepts any; these only look like AWS keys).
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// What a user types at the MFA prompt.
pub const CODE: &str = "123456";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The shells under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bash,
    Zsh,
    Fish,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bash => "bash",
            Kind::Zsh => "zsh",
            Kind::Fish => "fish",
        }
    }

    /// Quotes a word for this shell's command line.
    pub fn quote(self, s: &str) -> String {
        match self {
            Kind::Fish => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            _ => format!("'{}'", s.replace('\'', "'\\''")),
        }
    }

    /// `export NAME=VALUE` in this shell.
    pub fn export(self, name: &str, value: &str) -> String {
        match self {
            Kind::Fish => format!("set -gx {name} {}", self.quote(value)),
            _ => format!("export {name}={}", self.quote(value)),
        }
    }
}

/// One scenario's world: an isolated environment with the AWS config, stored keys for `calvin`
/// and a unique MFA serial.
pub struct World<'m> {
    pub env: TestEnv,
    pub kind: Kind,
    pub serial: String,
    pub moto: &'m Moto,
}

/// An interactive shell in a tmux pane.
pub struct Pane {
    pub kind: Kind,
    sock: PathBuf,
    dir: PathBuf,
    n: usize,
}

impl<'m> World<'m> {
    /// A fresh world for scenario `tag`. `extra_config` is appended to `[profile calvin]`.
    pub fn new(kind: Kind, moto: &'m Moto, tag: &str, calvin_extra: &str) -> Self {
        let mut env = TestEnv::new();
        env.with_moto(moto);
        let serial = format!("arn:aws:iam::111111111111:mfa/{}-{tag}", kind.name());
        env.write_aws_config(&format!(
            "[profile calvin]\nregion = eu-west-1\nmfa_serial = {serial}\n\
             role_arn = arn:aws:iam::222222222222:role/terraform\n{calvin_extra}\n\
             [profile hobbes]\nsource_profile = calvin\nmfa_serial = {serial}\n\
             role_arn = arn:aws:iam::333333333333:role/admin\nregion = us-east-2\n"
        ));
        env.add_keys("calvin", ACCESS_KEY, SECRET_KEY);
        Self {
            env,
            kind,
            serial,
            moto,
        }
    }

    pub fn home(&self) -> &Path {
        &self.env.home
    }

    /// Creates `rel` under HOME with an `.awsprofile` holding `content`; returns the dir.
    pub fn fixture(&self, rel: &str, content: &str) -> PathBuf {
        let dir = self.env.home.join(rel);
        fs::create_dir_all(&dir).expect("create fixture dir");
        fs::write(dir.join(".awsprofile"), content).expect("write .awsprofile");
        dir
    }

    /// `awsenv allow DIR`, run by the test (not typed), for scenarios where trust is a given.
    pub fn allow(&self, dir: &Path) {
        let out = self
            .env
            .awsenv()
            .arg("allow")
            .arg(dir)
            .output()
            .expect("run awsenv allow");
        assert!(
            out.status.success(),
            "awsenv allow: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn moto(&self) -> &Moto {
        self.moto
    }

    /// GetSessionToken calls made with this world's MFA serial.
    pub fn session_tokens(&self) -> usize {
        self.moto()
            .requests("GetSessionToken")
            .iter()
            .filter(|r| r.param("SerialNumber") == Some(self.serial.as_str()))
            .count()
    }

    /// Starts the shell interactively with the hook installed from its rc file. `pre` are
    /// variables in the shell's starting environment (to check exact restore).
    pub fn shell(&self, pre: &[(&str, &str)]) -> Pane {
        self.shell_named("pane", pre)
    }

    /// [`World::shell`] for a second (third, …) terminal of the same user: `name` keeps its
    /// tmux server and files apart.
    pub fn shell_named(&self, name: &str, pre: &[(&str, &str)]) -> Pane {
        self.shell_full(name, pre, "", false)
    }

    /// [`World::shell`] with `extra` in the rc file, after the awsenv hook or (`before`) ahead
    /// of it — another tool's hook beside ours.
    pub fn shell_with_rc(&self, pre: &[(&str, &str)], extra: &str, before: bool) -> Pane {
        self.shell_full("pane", pre, extra, before)
    }

    fn shell_full(&self, name: &str, pre: &[(&str, &str)], extra: &str, before: bool) -> Pane {
        let dir = self.env.root().join(name);
        fs::create_dir_all(&dir).expect("create pane dir");
        let kind = self.kind;
        let (cmd, rc_path, rc) = match kind {
            Kind::Bash => (
                "bash -i",
                self.env.home.join(".bashrc"),
                "eval \"$(awsenv hook bash)\"\nPS1='$ '\n".to_string(),
            ),
            Kind::Zsh => (
                "zsh -i",
                self.env.home.join(".zshrc"),
                "eval \"$(awsenv hook zsh)\"\nPS1='%# '\n".to_string(),
            ),
            Kind::Fish => (
                "fish -i",
                self.env.config_home.join("fish/config.fish"),
                "set -g fish_greeting ''\nawsenv hook fish | source\nfunction fish_prompt; echo '> '; end\n".to_string(),
            ),
        };
        let rc = match (extra.is_empty(), before) {
            (true, _) => rc,
            (false, true) => format!("{extra}\n{rc}"),
            (false, false) => format!("{rc}{extra}\n"),
        };
        fs::create_dir_all(rc_path.parent().expect("rc dir")).expect("create rc dir");
        fs::write(&rc_path, rc).expect("write rc file");
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut script = String::from("#!/bin/sh\ncd \"$HOME\" 2>/dev/null\nexec env -i");
        let mut vars = self.env.envs();
        vars.push(("PATH".into(), self.env.path_var()));
        vars.push(("TERM".into(), "xterm".into()));
        vars.push(("LANG".into(), "C.UTF-8".into()));
        vars.extend(pre.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (k, v) in &vars {
            script.push_str(&format!(" {k}={}", q(v)));
        }
        script.push_str(&format!(" {cmd}\n"));
        let launcher = dir.join("start.sh");
        fs::write(&launcher, script).expect("write launcher");
        fs::set_permissions(&launcher, fs::Permissions::from_mode(0o755)).expect("chmod launcher");
        let sock = dir.join("tmux.sock");
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(&self.env.home)
            .arg(format!(
                "HOME={} {}",
                q(&self.env.home.to_string_lossy()),
                launcher.display()
            ))
            .env("HOME", &self.env.home)
            .status()
            .expect("run tmux");
        assert!(st.success(), "tmux new-session failed");
        let mut pane = Pane {
            kind,
            sock,
            dir,
            n: 0,
        };
        pane.sync();
        pane
    }
}

impl Pane {
    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.sock);
        c
    }

    /// Types `text` literally, without Enter.
    pub fn keys(&self, text: &str) {
        let st = self
            .tmux()
            .args(["send-keys", "-l", "--", text])
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    /// Presses a named key (`Enter`, `C-c`).
    pub fn press(&self, key: &str) {
        let st = self
            .tmux()
            .args(["send-keys", key])
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    /// Types a command line and presses Enter.
    pub fn line(&self, text: &str) {
        self.keys(text);
        self.press("Enter");
    }

    /// The whole pane history.
    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-S", "-5000"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How often `needle` appears on the screen so far.
    pub fn count(&self, needle: &str) -> usize {
        self.screen().matches(needle).count()
    }

    /// Waits until `needle` appears more than `before` times.
    pub fn wait_for(&self, needle: &str, before: usize) {
        let start = Instant::now();
        while self.count(needle) <= before {
            if start.elapsed() > TIMEOUT {
                panic!(
                    "{}: timed out waiting for {needle:?}; screen:\n{}",
                    self.kind.name(),
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_file(&self, path: &Path) {
        let start = Instant::now();
        while !path.exists() {
            if start.elapsed() > TIMEOUT {
                panic!(
                    "{}: timed out waiting for {}; screen:\n{}",
                    self.kind.name(),
                    path.display(),
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Types a command that touches a file and waits for it: everything typed before has run,
    /// including the hook at the prompts in between.
    pub fn sync(&mut self) {
        self.n += 1;
        let f = self.dir.join(format!("sync-{}", self.n));
        self.line(&format!("touch {}", self.kind.quote(&f.to_string_lossy())));
        self.wait_file(&f);
        // The hook runs at the prompt after the command; wait for that prompt too.
        self.n += 1;
        let g = self.dir.join(format!("sync-{}", self.n));
        self.line(&format!("touch {}", self.kind.quote(&g.to_string_lossy())));
        self.wait_file(&g);
    }

    /// The shell's environment, as `env` run from it sees it.
    pub fn env(&mut self) -> BTreeMap<String, String> {
        self.n += 1;
        let tmp = self.dir.join(format!("env-{}.tmp", self.n));
        let f = self.dir.join(format!("env-{}", self.n));
        let (t, fq) = (
            self.kind.quote(&tmp.to_string_lossy()),
            self.kind.quote(&f.to_string_lossy()),
        );
        self.line(&format!("env -0 > {t}; mv {t} {fq}"));
        self.wait_file(&f);
        let raw = fs::read(&f).expect("read env dump");
        raw.split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Runs `cmd` in the shell with its stdout and stderr going to a file; returns them.
    pub fn capture(&mut self, cmd: &str) -> String {
        self.n += 1;
        let tmp = self.dir.join(format!("out-{}.tmp", self.n));
        let f = self.dir.join(format!("out-{}", self.n));
        let (t, fq) = (
            self.kind.quote(&tmp.to_string_lossy()),
            self.kind.quote(&f.to_string_lossy()),
        );
        self.line(&format!("{cmd} > {t} 2>&1; mv {t} {fq}"));
        self.wait_file(&f);
        fs::read_to_string(&f).unwrap_or_default()
    }

    /// The visible screen only (the alternate screen while a full-screen program runs).
    pub fn visible(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The process id of the shell in the pane.
    pub fn shell_pid(&self) -> u32 {
        let out = self
            .tmux()
            .args(["display-message", "-p", "#{pane_pid}"])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a pane pid")
    }

    /// Resizes the terminal to `w`×`h`.
    pub fn resize(&self, w: u16, h: u16) {
        let st = self
            .tmux()
            .args(["resize-window", "-x", &w.to_string(), "-y", &h.to_string()])
            .status()
            .expect("tmux resize-window");
        assert!(st.success());
    }

    /// `cd` typed by the user.
    pub fn cd(&self, dir: &Path) {
        self.line(&format!("cd {}", self.kind.quote(&dir.to_string_lossy())));
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// The credential variables an activation sets.
pub const CRED_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_VAULT",
    "AWSENV_PROFILE",
    "AWSENV_SOURCE",
];

/// Asserts nothing of awsenv's activation is left in `env`.
pub fn assert_inactive(kind: Kind, env: &BTreeMap<String, String>, what: &str) {
    for v in CRED_VARS {
        assert!(
            !env.contains_key(*v),
            "{}: {what}: {v} is still set ({:?})",
            kind.name(),
            env.get(*v)
        );
    }
}

/// Asserts `profile` from `source` (an `.awsprofile` path) is active in `env`.
pub fn assert_active(
    kind: Kind,
    env: &BTreeMap<String, String>,
    profile: &str,
    source: &Path,
    what: &str,
) {
    let k = kind.name();
    assert_eq!(
        env.get("AWS_VAULT").map(String::as_str),
        Some(profile),
        "{k}: {what}: AWS_VAULT"
    );
    assert_eq!(
        env.get("AWSENV_PROFILE").map(String::as_str),
        Some(profile),
        "{k}: {what}: AWSENV_PROFILE"
    );
    let src = source.join(".awsprofile");
    assert_eq!(
        env.get("AWSENV_SOURCE").map(PathBuf::from),
        Some(src),
        "{k}: {what}: AWSENV_SOURCE"
    );
    assert!(
        env.get("AWS_ACCESS_KEY_ID")
            .is_some_and(|v| v.starts_with("ASIA")),
        "{k}: {what}: AWS_ACCESS_KEY_ID {:?}",
        env.get("AWS_ACCESS_KEY_ID")
    );
    assert!(
        env.get("AWS_SESSION_TOKEN").is_some_and(|v| !v.is_empty()),
        "{k}: {what}: AWS_SESSION_TOKEN"
    );
    assert!(
        !env.contains_key("AWS_PROFILE"),
        "{k}: {what}: AWS_PROFILE must be unset while active"
    );
}

/// Whether the tools for the scenarios are installed (fails under CI when not).
pub fn tools(kind: Kind) -> bool {
    require_tools(&[kind.name(), "tmux", "moto_server", "aws"])
}

/// Runs each named scenario, reporting all failures at the end.
/// A named scenario.
pub type Scenario = (&'static str, fn(Kind, &Moto));

pub fn run_all(kind: Kind, scenarios: &[Scenario]) {
    if !tools(kind) {
        return;
    }
    let moto = Moto::start();
    let mut failed = Vec::new();
    // For development: AWSENV_SCENARIOS=name,name runs only those (the test command sets none).
    let only = std::env::var("AWSENV_SCENARIOS").ok();
    for (name, f) in scenarios {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == *name))
        {
            continue;
        }
        let start = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(kind, &moto)));
        eprintln!(
            "{} scenario {name}: {} ({:.1}s)",
            kind.name(),
            if r.is_ok() { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        if r.is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "{}: failed scenarios: {failed:?}",
        kind.name()
    );
}

/// Enters `dir` (already allowed) typing the MFA code at the prompt; asserts it was asked.
pub fn enter_with_code(w: &World, p: &mut Pane, dir: &Path) {
    let asked = p.count("Enter MFA code");
    p.cd(dir);
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    let _ = w;
}

/// Types `awsenv use PROFILE` (the hook's function) and the MFA code it asks for; asserts the
/// prompt named this world's MFA device.
pub fn use_with_code(w: &World, p: &mut Pane, profile: &str) {
    let asked = p.count("Enter MFA code");
    p.line(&format!("awsenv use {profile}"));
    p.wait_for(&format!("Enter MFA code for {}:", w.serial), asked);
    p.line(CODE);
    p.sync();
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// untrusted → notice once → `awsenv allow` typed → MFA code typed → active, the AWS CLI sees
/// the role → leave → exact restore (unset stays unset, empty stays empty, AWS_PROFILE back) →
/// re-enter from the cache without a code (no second GetSessionToken).
pub fn allow_enter_leave_reenter(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "basic", "");
    let repo = w.fixture("repo", "calvin\n");
    let mut p = w.shell(&[("AWS_PROFILE", "dev"), ("AWS_REGION", "")]);
    let before = p.env();
    assert_eq!(before.get("AWS_REGION").map(String::as_str), Some(""));

    p.cd(&repo);
    p.sync();
    let notice = format!(
        "{}/.awsprofile is not allowed; run 'awsenv allow'",
        repo.display()
    );
    assert_eq!(
        p.count(&notice),
        1,
        "{kind:?}: untrusted notice once:\n{}",
        p.screen()
    );
    p.sync();
    assert_eq!(
        p.count(&notice),
        1,
        "{kind:?}: the notice is not repeated at every prompt"
    );
    assert_inactive(kind, &p.env(), "untrusted");

    let asked = p.count("Enter MFA code");
    p.line("awsenv allow");
    p.wait_for(&format!("Enter MFA code for {}:", w.serial), asked);
    p.line(CODE);
    p.sync();
    let env = p.env();
    assert_active(kind, &env, "calvin", &repo, "after allow");
    assert_eq!(env.get("AWS_REGION").map(String::as_str), Some("eu-west-1"));
    assert_eq!(w.session_tokens(), 1);
    let tc: Vec<_> = w
        .moto()
        .requests("GetSessionToken")
        .into_iter()
        .filter(|r| r.param("SerialNumber") == Some(w.serial.as_str()))
        .collect();
    assert_eq!(
        tc[0].param("TokenCode"),
        Some(CODE),
        "the typed code reached STS"
    );
    assert!(
        !p.screen().contains(&env["AWS_SECRET_ACCESS_KEY"]),
        "a secret was printed on the terminal"
    );

    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains("assumed-role/terraform/"),
        "{kind:?}: AWS CLI identity: {arn}"
    );

    p.cd(w.home());
    p.sync();
    let after = p.env();
    assert_inactive(kind, &after, "after leave");
    assert_eq!(
        after.get("AWS_PROFILE").map(String::as_str),
        Some("dev"),
        "AWS_PROFILE restored"
    );
    assert_eq!(
        after.get("AWS_REGION").map(String::as_str),
        Some(""),
        "empty stays empty"
    );
    assert!(
        !after.contains_key("AWS_DEFAULT_REGION"),
        "unset stays unset"
    );
    for v in [
        "AWSENV_RESTORE",
        "AWSENV_REFRESH_AT",
        "AWSENV_EXPIRES",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_EXPIRATION",
    ] {
        assert!(!after.contains_key(v), "{v} left behind");
    }

    let asked = p.count("Enter MFA code");
    p.cd(&repo);
    p.sync();
    assert_eq!(
        p.count("Enter MFA code"),
        asked,
        "{kind:?}: re-enter asked for a code again"
    );
    assert_active(kind, &p.env(), "calvin", &repo, "re-enter");
    assert_eq!(
        w.session_tokens(),
        1,
        "re-enter made a GetSessionToken call"
    );
}

/// Two repos with different profiles: switching restores then activates; one MFA session
/// serves both roles.
pub fn switch_repos(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "switch", "");
    let a = w.fixture("a", "calvin\n");
    let b = w.fixture("b", "profile = \"hobbes\"\nregion = \"ap-south-1\"\n");
    w.allow(&a);
    w.allow(&b);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &a);
    let ea = p.env();
    assert_active(kind, &ea, "calvin", &a, "repo a");
    let asked = p.count("Enter MFA code");
    p.cd(&b);
    p.sync();
    assert_eq!(
        p.count("Enter MFA code"),
        asked,
        "the MFA session serves the second role"
    );
    let eb = p.env();
    assert_active(kind, &eb, "hobbes", &b, "repo b");
    assert_eq!(
        eb.get("AWS_REGION").map(String::as_str),
        Some("ap-south-1"),
        "region from the TOML file"
    );
    assert_ne!(ea["AWS_ACCESS_KEY_ID"], eb["AWS_ACCESS_KEY_ID"]);
    p.cd(w.home());
    p.sync();
    let e = p.env();
    assert_inactive(kind, &e, "after leaving b");
    assert!(!e.contains_key("AWS_REGION"));
    assert_eq!(w.session_tokens(), 1);
}

/// A nested `.awsprofile` wins below it; going back up returns to the outer one.
pub fn nested(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "nested", "");
    let outer = w.fixture("outer", "calvin\n");
    let inner = w.fixture("outer/modules/inner", "hobbes\n");
    w.allow(&outer);
    w.allow(&inner);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &outer.join("modules"));
    assert_active(kind, &p.env(), "calvin", &outer, "outer/modules");
    p.cd(&inner);
    p.sync();
    assert_active(kind, &p.env(), "hobbes", &inner, "inner");
    p.cd(&outer);
    p.sync();
    assert_active(kind, &p.env(), "calvin", &outer, "back to outer");
}

/// Editing the file revokes trust: the next prompt says so and deactivates.
pub fn edit_revokes_trust(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "edit", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    assert_active(kind, &p.env(), "calvin", &repo, "before edit");
    p.line("echo hobbes > .awsprofile");
    p.sync();
    let notice = format!(
        "{}/.awsprofile has changed since you allowed it; review it, then run 'awsenv allow'",
        repo.display()
    );
    assert_eq!(
        p.count(&notice),
        1,
        "{kind:?}: notice after edit:\n{}",
        p.screen()
    );
    assert_inactive(kind, &p.env(), "after edit");
    p.line("awsenv allow");
    p.sync();
    assert_active(kind, &p.env(), "hobbes", &repo, "after re-allow");
}

/// Directory names with spaces, quotes and `$`.
pub fn odd_names(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "odd", "");
    let repo = w.fixture("we ird 'q' \"d\" $HOME `x` \\b", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    assert_active(kind, &p.env(), "calvin", &repo, "odd name");
    p.cd(w.home());
    p.sync();
    assert_inactive(kind, &p.env(), "left odd name");
}

/// A symlinked directory resolves physically (`cd -P`): the source is the real path.
pub fn symlinked(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "symlink", "");
    let real = w.fixture("real/repo", "calvin\n");
    w.allow(&real);
    let link = w.home().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &link);
    assert_active(kind, &p.env(), "calvin", &real, "via symlink");
}

/// A variable the user changes by hand while inside is kept on leave; the rest is restored.
pub fn hand_edit_kept(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "hand", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[("AWS_REGION", "us-west-2")]);
    enter_with_code(&w, &mut p, &repo);
    assert_eq!(
        p.env().get("AWS_REGION").map(String::as_str),
        Some("eu-west-1")
    );
    p.line(&kind.export("AWS_DEFAULT_REGION", "mine"));
    p.cd(w.home());
    p.sync();
    let e = p.env();
    assert_inactive(kind, &e, "after leave");
    assert_eq!(
        e.get("AWS_DEFAULT_REGION").map(String::as_str),
        Some("mine"),
        "hand-set value kept"
    );
    assert_eq!(
        e.get("AWS_REGION").map(String::as_str),
        Some("us-west-2"),
        "untouched value restored"
    );
}

/// A nested interactive shell inherits the activation: no prompt, no new session, same
/// credentials; leaving inside it restores there too.
pub fn subshell(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "sub", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    let outer = p.env();
    let asked = p.count("Enter MFA code");
    p.line(&format!("{} -i", kind.name()));
    p.sync();
    let inner = p.env();
    assert_eq!(
        p.count("Enter MFA code"),
        asked,
        "the subshell asked for a code"
    );
    assert_eq!(
        inner.get("AWS_ACCESS_KEY_ID"),
        outer.get("AWS_ACCESS_KEY_ID"),
        "the subshell re-activated"
    );
    p.cd(w.home());
    p.sync();
    assert_inactive(kind, &p.env(), "left inside the subshell");
    p.line("exit");
    p.sync();
    assert_eq!(
        p.env().get("AWS_ACCESS_KEY_ID"),
        outer.get("AWS_ACCESS_KEY_ID"),
        "the outer shell is unchanged"
    );
    assert_eq!(w.session_tokens(), 1);
}

/// Ctrl-C at the MFA prompt inside the hook: the shell stays usable, nothing is exported, it
/// does not ask again at every Enter; `awsenv reload` asks again.
pub fn ctrl_c(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "ctrlc", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    let asked = p.count("Enter MFA code");
    p.cd(&repo);
    p.wait_for("Enter MFA code", asked);
    p.press("C-c");
    p.wait_for("activation of calvin cancelled", 0);
    p.sync();
    p.press("Enter");
    p.sync();
    assert_eq!(
        p.count("Enter MFA code"),
        asked + 1,
        "{kind:?}: asked again after Ctrl-C:\n{}",
        p.screen()
    );
    let out = p.capture("echo still-alive");
    assert_eq!(out.trim(), "still-alive");
    assert_inactive(kind, &p.env(), "after Ctrl-C");
    assert_eq!(w.session_tokens(), 0);
    p.line("awsenv reload");
    p.wait_for("Enter MFA code", asked + 1);
    p.line(CODE);
    p.sync();
    assert_active(kind, &p.env(), "calvin", &repo, "after reload");
}

/// Near expiry the hook refreshes in place from the cached MFA session, without a prompt.
/// The role lasts 900 s and the refresh window is 899 s, so a refresh is due a second later.
pub fn refresh(kind: Kind, moto: &Moto) {
    let mut w = World::new(kind, moto, "refresh", "duration_seconds = 900");
    w.env.set_var("AWSENV_REFRESH_WINDOW", "899");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    let first = p.env();
    assert_active(kind, &first, "calvin", &repo, "first");
    std::thread::sleep(Duration::from_millis(2100));
    let asked = p.count("Enter MFA code");
    p.sync();
    let second = p.env();
    assert_active(kind, &second, "calvin", &repo, "refreshed");
    assert_ne!(
        first["AWS_ACCESS_KEY_ID"], second["AWS_ACCESS_KEY_ID"],
        "{kind:?}: not refreshed"
    );
    assert_eq!(p.count("Enter MFA code"), asked, "refresh asked for a code");
    assert_eq!(
        w.session_tokens(),
        1,
        "refresh made a new GetSessionToken call"
    );
    assert!(second["AWSENV_RESTORE"].contains("AWS_ACCESS_KEY_ID"));
    p.cd(w.home());
    p.sync();
    assert_inactive(kind, &p.env(), "leave after refresh");
}

/// `$?` in this shell's syntax.
pub fn status_var(kind: Kind) -> &'static str {
    match kind {
        Kind::Fish => "$status",
        _ => "$?",
    }
}

/// With the hook, `awsenv use` and `awsenv unset` apply to the shell itself (no eval) and
/// return awsenv's exit status; `eval` of the binary's output still works without the function.
pub fn function_use_and_unset(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "fn", "");
    let mut p = w.shell(&[("AWS_PROFILE", "dev")]);
    use_with_code(&w, &mut p, "calvin");
    let env = p.env();
    assert_eq!(
        env.get("AWSENV_SOURCE").map(String::as_str),
        Some("manual"),
        "{kind:?}"
    );
    assert_eq!(
        env.get("AWS_VAULT").map(String::as_str),
        Some("calvin"),
        "{kind:?}"
    );
    assert!(
        !env.contains_key("AWS_PROFILE"),
        "{kind:?}: AWS_PROFILE unset while active"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(arn.contains("assumed-role/terraform/"), "{kind:?}: {arn}");
    let and = if kind == Kind::Fish { "; and" } else { " &&" };
    let (open, close) = match kind {
        Kind::Fish => ("begin;", "; end"),
        _ => ("{", "; }"),
    };
    let out = p.capture(&format!(
        "{open} awsenv use calvn{and} echo RAN; echo rc={}{close}",
        status_var(kind)
    ));
    // fish does not apply a block's redirection to a command substitution's stderr: there the
    // message reaches the terminal instead.
    assert!(
        out.contains("did you mean calvin?")
            || (kind == Kind::Fish && p.screen().contains("did you mean calvin?")),
        "{kind:?}: {out}"
    );
    assert!(
        !out.contains("RAN") && out.contains("rc=1"),
        "{kind:?}: {out}"
    );
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("calvin"),
        "a failed use changes nothing"
    );
    let seen = p.count("unset-ok");
    p.line(&format!("awsenv unset{and} echo unset-ok"));
    p.wait_for("unset-ok", seen + 1);
    p.sync();
    let env = p.env();
    assert_inactive(kind, &env, "after awsenv unset");
    assert_eq!(
        env.get("AWS_PROFILE").map(String::as_str),
        Some("dev"),
        "{kind:?}: restored"
    );
    // Without the function: eval of the binary's output, as before.
    let eval = match kind {
        Kind::Fish => "command awsenv use calvin | source",
        _ => "eval \"$(command awsenv use calvin)\"",
    };
    p.line(eval);
    p.sync();
    assert_eq!(
        p.env().get("AWS_VAULT").map(String::as_str),
        Some("calvin"),
        "{kind:?}: eval"
    );
    assert_eq!(w.session_tokens(), 1, "one MFA session served both");
}

/// The mission's own line with the hook installed: `eval "$(awsenv use calvin)"` (fish:
/// `awsenv use calvin | source`) goes through the `awsenv` shell function, which must print the
/// statements when its output is captured or piped instead of applying them to the command
/// substitution's subshell; the MFA code is asked on the terminal all the same. `unset` too, and
/// a piped `use` prints statements, never applying them somewhere invisible.
pub fn eval_line_with_hook(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "evalline", "");
    let mut p = w.shell(&[("AWS_PROFILE", "dev")]);
    let (use_line, unset_line) = match kind {
        Kind::Fish => (
            "awsenv use hobbes | source; echo \"[$AWS_VAULT]\"",
            "awsenv unset | source; echo \"[unset:$AWS_PROFILE]\"",
        ),
        _ => (
            "eval \"$(awsenv use hobbes)\"; echo \"[$AWS_VAULT]\"",
            "eval \"$(awsenv unset)\"; echo \"[unset:$AWS_PROFILE]\"",
        ),
    };
    let asked = p.count("Enter MFA code");
    p.line(use_line);
    p.wait_for(&format!("Enter MFA code for {}:", w.serial), asked);
    p.line(CODE);
    p.wait_for("[hobbes]", 0);
    p.sync();
    let env = p.env();
    assert_eq!(
        env.get("AWS_VAULT").map(String::as_str),
        Some("hobbes"),
        "{kind:?}: the eval line applied the profile"
    );
    assert!(
        !env.contains_key("AWS_PROFILE"),
        "{kind:?}: AWS_PROFILE unset"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(arn.contains("assumed-role/admin/"), "{kind:?}: {arn}");
    // Success is said, once, on the terminal (stderr), with role, account, region, time left.
    let said = "awsenv: hobbes → admin (333333333333), us-east-2, ";
    assert_eq!(p.count(said), 1, "{kind:?}: {}", p.screen());
    p.line(unset_line);
    p.wait_for("[unset:dev]", 0);
    p.sync();
    assert_eq!(
        p.count("awsenv: hobbes deactivated"),
        1,
        "{kind:?}: {}",
        p.screen()
    );
    assert_inactive(kind, &p.env(), "after the eval'd unset");
    // A use inside a command substitution prints the statements: the shell itself is unchanged.
    let captured = match kind {
        Kind::Fish => "set -l out (awsenv use calvin); string join \\n -- $out",
        _ => "out=$(awsenv use calvin); printf '%s\\n' \"$out\"",
    };
    let out = p.capture(captured);
    assert!(
        out.contains("AWS_SECRET_ACCESS_KEY"),
        "{kind:?}: captured output holds the statements: {out}"
    );
    assert_inactive(kind, &p.env(), "a captured use changes nothing here");
    assert_eq!(w.session_tokens(), 1, "one MFA session served both");
}

/// After `awsenv use` overrode a repo's `.awsprofile`, `awsenv unset` hands control back: the
/// next prompt activates the directory's profile.
pub fn unset_hands_back_to_the_directory(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "handback", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    assert_active(kind, &p.env(), "calvin", &repo, "entered");
    p.line("awsenv use hobbes");
    p.sync();
    let env = p.env();
    assert_eq!(
        env.get("AWSENV_PROFILE").map(String::as_str),
        Some("hobbes"),
        "{kind:?}"
    );
    assert_eq!(env.get("AWSENV_SOURCE").map(String::as_str), Some("manual"));
    p.line("awsenv unset");
    p.sync();
    assert_active(
        kind,
        &p.env(),
        "calvin",
        &repo,
        "after unset the directory decides",
    );
    assert_eq!(w.session_tokens(), 1);
}

/// Near expiry a manually chosen session is refreshed in place too, from the cached MFA
/// session, without a prompt.
pub fn manual_refresh(kind: Kind, moto: &Moto) {
    let mut w = World::new(kind, moto, "mrefresh", "duration_seconds = 900");
    w.env.set_var("AWSENV_REFRESH_WINDOW", "899");
    let mut p = w.shell(&[]);
    use_with_code(&w, &mut p, "calvin");
    let first = p.env();
    assert_eq!(
        first.get("AWSENV_SOURCE").map(String::as_str),
        Some("manual")
    );
    std::thread::sleep(Duration::from_millis(2100));
    let asked = p.count("Enter MFA code");
    p.sync();
    let second = p.env();
    assert_eq!(
        second.get("AWSENV_SOURCE").map(String::as_str),
        Some("manual")
    );
    assert_eq!(second.get("AWS_VAULT").map(String::as_str), Some("calvin"));
    assert_ne!(
        first["AWS_ACCESS_KEY_ID"], second["AWS_ACCESS_KEY_ID"],
        "{kind:?}: the manual session was not refreshed"
    );
    assert_eq!(p.count("Enter MFA code"), asked, "refresh asked for a code");
    assert_eq!(
        w.session_tokens(),
        1,
        "refresh made a new GetSessionToken call"
    );
}

/// A refresh of a manually chosen profile that needs a new MFA code, cancelled with Ctrl-C, is
/// not asked again at every prompt — and `awsenv reload` typed in this shell retries it (in this
/// shell only: no global marker that would re-ask in every other terminal).
pub fn manual_refresh_cancelled_then_reload(kind: Kind, moto: &Moto) {
    let mut w = World::new(kind, moto, "mreload", "duration_seconds = 900");
    w.env.set_var("AWSENV_REFRESH_WINDOW", "899");
    let mut p = w.shell(&[]);
    use_with_code(&w, &mut p, "calvin");
    let first = p.env();
    // The MFA session is gone: the refresh (due a second after `use`) needs a new code, asked
    // at the first prompt after the refresh time.
    let asked = p.count("Enter MFA code");
    p.line("awsenv clear");
    std::thread::sleep(Duration::from_millis(2100));
    if p.count("Enter MFA code") == asked {
        p.press("Enter");
    }
    p.wait_for("Enter MFA code", asked);
    p.press("C-c");
    p.wait_for("activation of calvin cancelled", 0);
    p.sync();
    p.press("Enter");
    p.sync();
    assert_eq!(
        p.count("Enter MFA code"),
        asked + 1,
        "{kind:?}: not asked at every prompt:\n{}",
        p.screen()
    );
    p.line("awsenv reload");
    p.wait_for("Enter MFA code", asked + 1);
    p.line(CODE);
    p.sync();
    let second = p.env();
    assert_eq!(second.get("AWS_VAULT").map(String::as_str), Some("calvin"));
    assert_ne!(
        first["AWS_ACCESS_KEY_ID"], second["AWS_ACCESS_KEY_ID"],
        "{kind:?}: reload refreshed the manual session"
    );
    assert!(second.contains_key("AWSENV_REFRESH_AT"), "{kind:?}");
    assert!(
        !second.contains_key("AWSENV_RELOAD"),
        "{kind:?}: the request is spent"
    );
    assert!(
        !w.env.state_home.join("awsenv/reload").exists(),
        "{kind:?}: reload typed in a hooked shell touches no global marker"
    );
}

/// direnv's hook beside awsenv's, in either order, with a repo that has both an `.envrc` and an
/// `.awsprofile` that set the same variable (`AWS_REGION`): inside, direnv's value wins in both
/// orders; leaving puts back exactly what was there before (unset, or the shell's own value) —
/// awsenv treats direnv's value as direnv's layer, not as a hand edit; a real hand edit of a
/// variable only awsenv set is still kept.
pub fn direnv_side_by_side(kind: Kind, moto: &Moto) {
    if !crate::common::require_tool("direnv") {
        return;
    }
    let watched = |e: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        e.iter()
            .filter(|(k, _)| {
                (k.starts_with("AWS") || k.starts_with("DIRENV_") || *k == "FROM_DIRENV")
                    && *k != "AWSENV_WATCH"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    for direnv_first in [false, true] {
        for before in [None, Some("sa-east-1")] {
            let what = format!("{kind:?} direnv first={direnv_first} AWS_REGION before={before:?}");
            let w = World::new(
                kind,
                moto,
                &format!(
                    "direnv{}{}",
                    u8::from(direnv_first),
                    u8::from(before.is_some())
                ),
                "",
            );
            let repo = w.fixture("repo", "calvin\n");
            fs::write(
                repo.join(".envrc"),
                "export FROM_DIRENV=yes\nexport AWS_REGION=eu-central-1\n",
            )
            .expect("write .envrc");
            w.allow(&repo);
            let direnv_line = match kind {
                Kind::Fish => "direnv hook fish | source",
                Kind::Bash => "eval \"$(direnv hook bash)\"",
                Kind::Zsh => "eval \"$(direnv hook zsh)\"",
            };
            let pre: Vec<(&str, &str)> = before.map(|b| ("AWS_REGION", b)).into_iter().collect();
            let mut p = w.shell_with_rc(&pre, direnv_line, direnv_first);
            p.line(&format!(
                "direnv allow {}",
                kind.quote(&repo.to_string_lossy())
            ));
            p.sync();
            let start = watched(&p.env());
            assert_eq!(
                start.get("AWS_REGION").map(String::as_str),
                before,
                "{what}"
            );
            enter_with_code(&w, &mut p, &repo);
            let inside = p.env();
            assert_eq!(
                inside.get("FROM_DIRENV").map(String::as_str),
                Some("yes"),
                "{what}"
            );
            assert_active(kind, &inside, "calvin", &repo, "inside");
            assert_eq!(
                inside.get("AWS_REGION").map(String::as_str),
                Some("eu-central-1"),
                "{what}: the .envrc's value wins inside"
            );
            // A prompt inside changes nothing (neither hook undoes the other).
            p.line("true");
            p.sync();
            assert_eq!(
                p.env().get("AWS_REGION").map(String::as_str),
                Some("eu-central-1"),
                "{what}: still the .envrc's value at the next prompt"
            );
            p.cd(w.home());
            p.sync();
            let out = p.env();
            assert_inactive(kind, &out, "after leaving");
            assert_eq!(
                watched(&out),
                start,
                "{what}: after leaving, the shell is as before"
            );
            // A hand edit of a variable only awsenv set is kept, as without direnv (the MFA
            // session is cached: no second code).
            p.cd(&repo);
            p.sync();
            assert_active(kind, &p.env(), "calvin", &repo, "inside again");
            p.line(&kind.export("AWS_DEFAULT_REGION", "mine"));
            p.cd(w.home());
            p.sync();
            let out = p.env();
            assert_eq!(
                out.get("AWS_DEFAULT_REGION").map(String::as_str),
                Some("mine"),
                "{what}: hand-set value kept"
            );
            assert_eq!(
                out.get("AWS_REGION").map(String::as_str),
                before,
                "{what}: AWS_REGION as before, the second time too"
            );
        }
    }
}

/// SIGKILLs the awsenv process running `awsenv export` for `home` (not its helper child).
fn kill_export_of(home: &Path) {
    let want = format!("HOME={}\0", home.display()).into_bytes();
    let mut found: Vec<(i32, i32)> = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let environ = fs::read(e.path().join("environ")).unwrap_or_default();
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let is_export = cmdline.split(|b| *b == 0).any(|a| a == b"export");
        if !is_export || !environ.windows(want.len()).any(|w| w == want.as_slice()) {
            continue;
        }
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        found.push((pid, ppid));
    }
    let pids: Vec<i32> = found.iter().map(|f| f.0).collect();
    let mains: Vec<i32> = found
        .iter()
        .filter(|(_, ppid)| !pids.contains(ppid))
        .map(|f| f.0)
        .collect();
    assert!(
        !mains.is_empty(),
        "no awsenv export running for {}",
        home.display()
    );
    for pid in mains {
        // SAFETY: kill on a pid read from /proc.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// awsenv killed (SIGKILL) at the MFA prompt the hook shows: the shell's next prompt works,
/// with echo on — the terminal is put back as it was.
pub fn killed_at_the_mfa_prompt(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "sigkill", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    let asked = p.count("Enter MFA code");
    p.cd(&repo);
    p.wait_for("Enter MFA code", asked);
    kill_export_of(w.home());
    std::thread::sleep(Duration::from_millis(300));
    // The killed awsenv recorded nothing, so the next prompt asks again — and the terminal
    // reads the answer: it is back in the shell's hands.
    p.press("Enter");
    p.wait_for("Enter MFA code", asked + 1);
    p.line(CODE);
    p.sync();
    assert_active(kind, &p.env(), "calvin", &repo, "after the kill");
    let modes = p.capture("stty -a");
    assert!(
        modes.contains(" echo ") && !modes.contains("-echo "),
        "{kind:?}: echo is back: {modes}"
    );
    let out = p.capture("echo still-alive");
    assert_eq!(out.trim(), "still-alive", "{kind:?}");
}

/// A shell that needs the MFA code another terminal is asking for says so at once, and Ctrl-C
/// cancels only its wait; once the code is in, `awsenv reload` activates from the cache.
pub fn waits_are_said_and_cancellable(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "wait", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut a = w.shell_named("pane-a", &[]);
    let mut b = w.shell_named("pane-b", &[]);
    a.cd(&repo);
    a.wait_for(&format!("Enter MFA code for {}:", w.serial), 0);
    b.cd(&repo);
    let waiting = format!(
        "waiting for the MFA code for {} being entered in another terminal",
        w.serial
    );
    b.wait_for(&waiting, 0);
    b.press("C-c");
    b.wait_for("activation of calvin cancelled", 0);
    let out = b.capture("echo still-alive");
    assert_eq!(out.trim(), "still-alive", "{kind:?}");
    assert_inactive(kind, &b.env(), "cancelled wait");
    a.line(CODE);
    a.sync();
    assert_active(kind, &a.env(), "calvin", &repo, "pane a");
    b.line("awsenv reload");
    b.sync();
    assert_active(kind, &b.env(), "calvin", &repo, "pane b after reload");
    assert_eq!(b.count("Enter MFA code"), 0, "{kind:?}: pane b never asked");
    assert_eq!(b.count(&waiting), 1, "{kind:?}: said once");
    assert_eq!(w.session_tokens(), 1);
}

/// `cd repo && cmd` runs cmd with the repo's role, in every shell (bash has no chpwd hook: the
/// hook wraps cd).
pub fn cd_then_command(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "cdand", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    enter_with_code(&w, &mut p, &repo);
    p.cd(w.home());
    p.sync();
    let and = if kind == Kind::Fish { "; and" } else { " &&" };
    let out = p.capture(&format!(
        "cd {}{and} aws sts get-caller-identity --query Arn --output text",
        kind.quote(&repo.to_string_lossy())
    ));
    assert!(out.contains("assumed-role/terraform/"), "{kind:?}: {out}");
}

/// Region (issue 8, item 6): a profile with no region of its own (the second seed's
/// `security-auditor`, region only on its `source_profile`) gets the chain's region, the AWS CLI
/// works without `--region`, `status` says where the region came from, and an `.awsprofile`
/// region wins.
pub fn region_from_the_chain(kind: Kind, moto: &Moto) {
    let w = World::new(
        kind,
        moto,
        "region",
        "\n[profile auditor]\nsource_profile = calvin\n\
         role_arn = arn:aws:iam::444444444444:role/security-auditor\n",
    );
    let mut p = w.shell(&[]);
    use_with_code(&w, &mut p, "auditor");
    let env = p.env();
    assert_eq!(
        env.get("AWS_REGION").map(String::as_str),
        Some("eu-west-1"),
        "{kind:?}: the source_profile's region"
    );
    assert_eq!(
        env.get("AWSENV_REGION_SOURCE").map(String::as_str),
        Some("profile calvin"),
        "{kind:?}"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains("assumed-role/security-auditor/"),
        "{kind:?}: the CLI needs no --region: {arn}"
    );
    let status = p.capture("awsenv status");
    assert!(
        status.contains("eu-west-1") && status.contains("profile calvin"),
        "{kind:?}: status says where the region came from: {status}"
    );
    p.line("awsenv unset");
    p.sync();
    // An .awsprofile region wins over the chain's.
    let repo = w.fixture("repo", "profile = \"auditor\"\nregion = \"ap-south-1\"\n");
    w.allow(&repo);
    p.cd(&repo);
    p.sync();
    let env = p.env();
    assert_eq!(
        env.get("AWS_REGION").map(String::as_str),
        Some("ap-south-1"),
        "{kind:?}: the .awsprofile's region"
    );
    assert_eq!(
        env.get("AWSENV_REGION_SOURCE").map(String::as_str),
        Some(".awsprofile"),
        "{kind:?}"
    );
    assert_eq!(
        w.session_tokens(),
        1,
        "{kind:?}: one MFA session served both"
    );
}

/// An IAM Identity Center profile from `.awsprofile`: the hook signs in in the browser while
/// activating (the test browser approves), the AWS CLI sees the SSO role, leaving restores,
/// and re-entering needs neither a new sign-in nor a new GetRoleCredentials.
pub fn sso_profile(kind: Kind, moto: &Moto) {
    let fake = sso_fake::FakeSso::start(moto);
    let mut env = TestEnv::new();
    env.with_moto(moto);
    fake.point(&mut env);
    env.write_aws_config(&sso_fake::config(&sso_fake::profile(
        "dev-admin",
        "111111111111",
        "Admin",
    )));
    let w = World {
        env,
        kind,
        serial: String::new(),
        moto,
    };
    let repo = w.fixture("repo", "dev-admin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    p.cd(&repo);
    p.sync();
    let e = p.env();
    assert_active(kind, &e, "dev-admin", &repo, "sso profile");
    assert!(
        p.screen().contains("signing in to IAM Identity Center"),
        "{kind:?}: no sign-in notice:\n{}",
        p.screen()
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains(":assumed-role/AWSReservedSSO_Admin_"),
        "{kind:?}: AWS CLI identity: {arn}"
    );
    assert_eq!(fake.count("Authorize 302"), 1, "{:?}", fake.ops());
    p.cd(w.home());
    p.sync();
    assert_inactive(kind, &p.env(), "left the sso repo");
    p.cd(&repo);
    p.sync();
    assert_active(kind, &p.env(), "dev-admin", &repo, "sso re-enter");
    assert_eq!(fake.count("Authorize 302"), 1, "re-enter signed in again");
    assert_eq!(
        fake.count("GetRoleCredentials 200"),
        1,
        "re-enter did not use the cache"
    );
}

/// Inside `awsenv exec --server calvin -- SHELL -i`, `cd` into a repo does not export keys (SDKs
/// would prefer them over the refreshing endpoint): it says so once, and the AWS CLI keeps
/// getting its credentials from the endpoint.
pub fn exec_server_shell(kind: Kind, moto: &Moto) {
    let w = World::new(kind, moto, "server", "");
    let repo = w.fixture("repo", "calvin\n");
    w.allow(&repo);
    let mut p = w.shell(&[]);
    let asked = p.count("Enter MFA code");
    p.line(&format!(
        "awsenv exec --server calvin -- {} -i",
        kind.name()
    ));
    p.wait_for("Enter MFA code", asked);
    p.line(CODE);
    p.sync();
    p.cd(&repo);
    p.sync();
    let notice = "is not activated inside 'awsenv exec --server calvin'";
    assert_eq!(p.count(notice), 1, "{kind:?}: said once:\n{}", p.screen());
    p.sync();
    assert_eq!(p.count(notice), 1, "{kind:?}: not at every prompt");
    let env = p.env();
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWSENV_SOURCE",
    ] {
        assert!(
            !env.contains_key(v),
            "{kind:?}: {v} shadows the endpoint inside exec --server"
        );
    }
    assert_eq!(env.get("AWSENV_SERVER").map(String::as_str), Some("calvin"));
    assert!(
        env.contains_key("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        "{kind:?}"
    );
    let arn = p.capture("aws sts get-caller-identity --query Arn --output text");
    assert!(
        arn.contains("assumed-role/terraform/"),
        "{kind:?}: the endpoint serves: {arn}"
    );
    p.line("exit");
    p.sync();
    assert_eq!(w.session_tokens(), 1);
}

/// Every scenario, in order.
pub mod picker;

pub const ALL: &[Scenario] = &[
    ("allow_enter_leave_reenter", allow_enter_leave_reenter),
    ("switch_repos", switch_repos),
    ("nested", nested),
    ("edit_revokes_trust", edit_revokes_trust),
    ("odd_names", odd_names),
    ("symlinked", symlinked),
    ("hand_edit_kept", hand_edit_kept),
    ("subshell", subshell),
    ("ctrl_c", ctrl_c),
    ("refresh", refresh),
    ("function_use_and_unset", function_use_and_unset),
    ("eval_line_with_hook", eval_line_with_hook),
    (
        "unset_hands_back_to_the_directory",
        unset_hands_back_to_the_directory,
    ),
    ("manual_refresh", manual_refresh),
    ("killed_at_the_mfa_prompt", killed_at_the_mfa_prompt),
    ("direnv_side_by_side", direnv_side_by_side),
    (
        "manual_refresh_cancelled_then_reload",
        manual_refresh_cancelled_then_reload,
    ),
    (
        "waits_are_said_and_cancellable",
        waits_are_said_and_cancellable,
    ),
    ("cd_then_command", cd_then_command),
    ("region_from_the_chain", region_from_the_chain),
    ("sso_profile", sso_profile),
    ("exec_server_shell", exec_server_shell),
    ("picker_pick_by_account", picker::pick_by_account),
    ("picker_cancel_and_resize", picker::cancel_and_resize),
    (
        "picker_frecency_and_alphabetical",
        picker::frecency_and_alphabetical,
    ),
    ("picker_sigterm", picker::sigterm),
    ("picker_portal_role", picker::portal_role),
    ("picker_init", picker::init_by_picker),
    ("terraform_cd_apply", terraform::cd_apply),
    ("login_session_repo", login::repo),
    ("overlay_write_saved", terraform::overlay_write_saved),
];
