//! zoxide-style checks of the init templates: each rendered by `awsenv hook SHELL` and run in
//! the real shell under strict flags, evaluated twice; shellcheck and fish_indent on the output;
//! and the prompt segment (`awsenv prompt` and the process-free `awsenv_prompt` functions).

mod common;

use std::process::Output;

use common::{TestEnv, require_tool, require_tools};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

fn hook(env: &TestEnv, shell: &str) -> String {
    ok(
        env.awsenv()
            .args(["hook", shell])
            .output()
            .expect("run awsenv hook"),
        "awsenv hook",
    )
}

fn bash(env: &TestEnv, script: &str) -> Output {
    env.command("bash")
        .args([
            "--noprofile",
            "--norc",
            "-e",
            "-u",
            "-o",
            "pipefail",
            "-c",
            script,
        ])
        .output()
        .expect("run bash")
}

fn zsh(env: &TestEnv, script: &str) -> Output {
    env.command("zsh")
        .args(["-f", "-e", "-u", "-o", "pipefail", "-c", script])
        .output()
        .expect("run zsh")
}

fn fish(env: &TestEnv, script: &str) -> Output {
    env.command("fish")
        .args(["--no-config", "-c", script])
        .output()
        .expect("run fish")
}

#[test]
fn bash_hook_installs_once_with_array_prompt_command() {
    if !require_tool("bash") {
        return;
    }
    let env = TestEnv::new();
    let out = ok(
        bash(
            &env,
            r#"user_pc() { :; }
PROMPT_COMMAND=(user_pc)
eval "$(awsenv hook bash)"
eval "$(awsenv hook bash)"
declare -p PROMPT_COMMAND
_awsenv_hook
set +e; (exit 3); _awsenv_hook; echo "status=$?"; set -e
type awsenv_prompt >/dev/null && echo has-prompt-fn"#,
        ),
        "bash strict array",
    );
    assert!(
        out.contains(r#"declare -a PROMPT_COMMAND=([0]="_awsenv_hook" [1]="user_pc")"#),
        "{out}"
    );
    assert!(out.contains("status=3"), "$? kept: {out}");
    assert!(out.contains("has-prompt-fn"), "{out}");
}

#[test]
fn bash_hook_installs_once_with_string_or_unset_prompt_command() {
    if !require_tool("bash") {
        return;
    }
    let env = TestEnv::new();
    let out = ok(
        bash(
            &env,
            "PROMPT_COMMAND='history -a'\neval \"$(awsenv hook bash)\"\neval \"$(awsenv hook bash)\"\necho \"[$PROMPT_COMMAND]\"",
        ),
        "bash strict string",
    );
    assert_eq!(out.trim(), "[_awsenv_hook;history -a]");
    let out = ok(
        bash(
            &env,
            "eval \"$(awsenv hook bash)\"\neval \"$(awsenv hook bash)\"\necho \"[$PROMPT_COMMAND]\"\n_awsenv_hook",
        ),
        "bash strict unset",
    );
    assert_eq!(out.trim(), "[_awsenv_hook]");
}

#[test]
fn zsh_hook_installs_once() {
    if !require_tool("zsh") {
        return;
    }
    let env = TestEnv::new();
    let out = ok(
        zsh(
            &env,
            r#"eval "$(awsenv hook zsh)"
eval "$(awsenv hook zsh)"
print -r -- "precmd=${precmd_functions[*]} chpwd=${chpwd_functions[*]}"
_awsenv_hook
setopt no_err_exit; (exit 3); _awsenv_hook; print -r -- "status=$?""#,
        ),
        "zsh strict",
    );
    assert!(
        out.contains("precmd=_awsenv_hook chpwd=_awsenv_hook\n"),
        "{out}"
    );
    assert!(out.contains("status=3"), "{out}");
}

#[test]
fn fish_hook_installs_once() {
    if !require_tool("fish") {
        return;
    }
    let env = TestEnv::new();
    let out = ok(
        fish(
            &env,
            "awsenv hook fish | source\nawsenv hook fish | source\nfunctions --handlers | string match -e __awsenv_export_eval\n__awsenv_export_eval\nfalse; __awsenv_export_eval; echo status=$status",
        ),
        "fish",
    );
    assert_eq!(
        out.matches("__awsenv_export_eval").count(),
        2,
        "one fish_prompt and one PWD handler:\n{out}"
    );
    assert!(out.contains("fish_prompt") || out.contains("PWD"), "{out}");
}

#[test]
fn templates_pass_shellcheck_and_fish_indent() {
    if !require_tools(&["shellcheck", "fish_indent"]) {
        return;
    }
    let env = TestEnv::new();
    for shell in ["bash", "zsh"] {
        let path = env.root().join(format!("hook.{shell}"));
        std::fs::write(&path, hook(&env, shell)).expect("write hook");
        ok(
            env.command("shellcheck")
                .args(["-s", "bash"])
                .arg(&path)
                .output()
                .expect("run shellcheck"),
            &format!("shellcheck {shell}"),
        );
    }
    // fish_indent unquotes a command word that needs no quotes, so the formatting check runs
    // on the template itself; the rendered script (with the quoted path) must parse.
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shell/awsenv.fish");
    ok(
        env.command("fish_indent")
            .arg("--check")
            .arg(&template)
            .output()
            .expect("run fish_indent"),
        "fish_indent --check",
    );
    let path = env.root().join("hook.fish");
    std::fs::write(&path, hook(&env, "fish")).expect("write hook");
    ok(
        env.command("fish")
            .args(["--no-config", "--no-execute"])
            .arg(&path)
            .output()
            .expect("run fish -n"),
        "fish --no-execute",
    );
}

// ---------------------------------------------------------------------------------------------
// Prompt segment
// ---------------------------------------------------------------------------------------------

/// The environment of an active session expiring `left` seconds from now.
fn session_vars(left: i64) -> Vec<(&'static str, String)> {
    let at = awsenv::timefmt::now_epoch() + left;
    let rfc = awsenv::timefmt::rfc3339(at);
    vec![
        ("AWSENV_PROFILE", "calvin".to_string()),
        ("AWS_VAULT", "calvin".to_string()),
        ("AWS_REGION", "eu-west-1".to_string()),
        ("AWS_CREDENTIAL_EXPIRATION", rfc),
        ("AWSENV_EXPIRES", at.to_string()),
    ]
}

/// What `awsenv prompt ARGS` prints, and what `awsenv_prompt ARGS` prints in bash, zsh and fish
/// (run with PATH emptied inside the function call: it must not need any external program).
fn prompts(vars: &[(&str, String)], format: Option<&str>) -> Vec<(String, String)> {
    match format {
        Some(f) => prompts_with(vars, &[f]),
        None => prompts_with(vars, &[]),
    }
}

/// [`prompts`] with any arguments: `--prefix P`, `--suffix S`, and a format (as `--format F` for
/// the binary, positional for the functions).
fn prompts_with(vars: &[(&str, String)], args: &[&str]) -> Vec<(String, String)> {
    let env = TestEnv::new();
    let mut out = Vec::new();
    let mut cmd = env.awsenv();
    cmd.arg("prompt");
    let mut i = 0;
    while i < args.len() {
        if args[i].starts_with("--") {
            cmd.args(&args[i..i + 2]);
            i += 2;
        } else {
            cmd.args(["--format", args[i]]);
            i += 1;
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    let text = ok(cmd.output().expect("run awsenv prompt"), "awsenv prompt");
    out.push((
        "awsenv prompt".to_string(),
        text.trim_end_matches('\n').to_string(),
    ));
    for shell in ["bash", "zsh", "fish"] {
        if !require_tool(shell) {
            continue;
        }
        let arg: String = args
            .iter()
            .map(|a| match shell {
                "fish" => format!(" '{}'", a.replace('\\', "\\\\").replace('\'', "\\'")),
                _ => format!(" '{}'", a.replace('\'', "'\\''")),
            })
            .collect();
        let script = match shell {
            "fish" => format!(
                "awsenv hook fish | source; set -l p $PATH; set PATH /nonexistent; awsenv_prompt{arg}; set PATH $p"
            ),
            "zsh" => format!(
                "eval \"$(awsenv hook zsh)\"; p=$PATH; PATH=/nonexistent; awsenv_prompt{arg}; PATH=$p"
            ),
            _ => format!(
                "eval \"$(awsenv hook bash)\"; p=$PATH; PATH=/nonexistent; awsenv_prompt{arg}; PATH=$p"
            ),
        };
        let mut cmd = match shell {
            "bash" => {
                let mut c = env.command("bash");
                c.args([
                    "--noprofile",
                    "--norc",
                    "-e",
                    "-u",
                    "-o",
                    "pipefail",
                    "-c",
                    &script,
                ]);
                c
            }
            "zsh" => {
                let mut c = env.command("zsh");
                c.args(["-f", "-e", "-u", "-o", "pipefail", "-c", &script]);
                c
            }
            _ => {
                let mut c = env.command("fish");
                c.args(["--no-config", "-c", &script]);
                c
            }
        };
        cmd.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        let text = ok(
            cmd.output().expect("run shell"),
            &format!("{shell} awsenv_prompt"),
        );
        out.push((format!("{shell} awsenv_prompt"), text));
    }
    out
}

fn assert_all(results: &[(String, String)], want: &str) {
    for (who, got) in results {
        assert_eq!(got, want, "{who}");
    }
}

#[test]
fn prompt_with_time_left() {
    // 42m30s left; the seconds keep it at 42m even if the test is slow.
    assert_all(&prompts(&session_vars(42 * 60 + 30), None), "calvin 42m");
    assert_all(
        &prompts(&session_vars(2 * 3600 + 5 * 60 + 30), None),
        "calvin 2h5m",
    );
    assert_all(
        &prompts(
            &session_vars(3600 + 40),
            Some("{profile} ({region}) {remaining}"),
        ),
        "calvin (eu-west-1) 1h",
    );
}

#[test]
fn prompt_of_a_session_another_tool_made() {
    let at = awsenv::timefmt::now_epoch() + 42 * 60 + 30;
    let rfc = awsenv::timefmt::rfc3339(at);
    // aws-vault 7: AWS_VAULT and AWS_CREDENTIAL_EXPIRATION (RFC 3339, Z).
    assert_all(
        &prompts(
            &[
                ("AWS_VAULT", "legacy".into()),
                ("AWS_CREDENTIAL_EXPIRATION", rfc.clone()),
            ],
            None,
        ),
        "legacy 42m",
    );
    // aws-vault before 7: AWS_SESSION_EXPIRATION.
    assert_all(
        &prompts(
            &[("AWS_VAULT", "old".into()), ("AWS_SESSION_EXPIRATION", rfc)],
            None,
        ),
        "old 42m",
    );
    // granted writes the local offset: 14:00+02:00 is 12:00Z.
    let local = awsenv::timefmt::rfc3339(at + 2 * 3600).replace('Z', "+02:00");
    assert_all(
        &prompts(
            &[
                ("AWS_VAULT", "g".into()),
                ("AWS_CREDENTIAL_EXPIRATION", local),
            ],
            None,
        ),
        "g 42m",
    );
}

#[test]
fn prompt_separators_only_when_there_is_text() {
    let active = session_vars(42 * 60 + 30);
    assert_all(
        &prompts_with(&active, &["--prefix", "[", "--suffix", "] "]),
        "[calvin 42m] ",
    );
    assert_all(
        &prompts_with(&active, &["--suffix", " ", "{profile}"]),
        "calvin ",
    );
    assert_all(&prompts_with(&[], &["--prefix", "[", "--suffix", "] "]), "");
}

/// Values are data in the binary and in every shell function alike: a placeholder inside a
/// value is shown, not replaced again (a few such values used to multiply the segment's
/// length), and control characters of the region never reach the terminal.
#[test]
fn prompt_values_are_data() {
    assert_all(
        &prompts(
            &[
                ("AWS_VAULT", "{region}x".into()),
                ("AWS_REGION", "eu\x1b]0;t\x07-1{expiration}".into()),
                ("AWS_SESSION_EXPIRATION", "{profile}".into()),
            ],
            Some("{profile}|{region}|{expiration}|{ x}{{remaining}}"),
        ),
        "{region}x|eu]0;t-1{expiration}|{profile}|{ x}{}",
    );
}

#[test]
fn prompt_expired() {
    assert_all(&prompts(&session_vars(-5), None), "calvin expired");
}

#[test]
fn prompt_nothing_active() {
    assert_all(&prompts(&[], None), "");
    assert_all(
        &prompts(
            &[("AWS_REGION", "eu-west-1".to_string())],
            Some("{profile} {region}"),
        ),
        "",
    );
}

// ---------------------------------------------------------------------------------------------
// Completions
// ---------------------------------------------------------------------------------------------

/// Profile names complete from the AWS config through clap_complete's dynamic protocol, which
/// the registration scripts of `awsenv completions bash|zsh|fish` call.
#[test]
fn completions_offer_profile_names() {
    let env = TestEnv::new();
    env.write_aws_config(
        "[profile calvin]\nregion = eu-west-1\n[profile hobbes]\nsource_profile = calvin\n",
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(
            env.awsenv()
                .args(["completions", shell])
                .output()
                .expect("run completions"),
            "completions",
        );
        assert!(script.contains("awsenv"), "{shell} registration: {script}");
        let out = env
            .awsenv()
            .args(["--", "awsenv", "use", "h"])
            .env("COMPLETE", shell)
            .env("_CLAP_COMPLETE_INDEX", "2")
            .env("_CLAP_IFS", "\n")
            .output()
            .expect("run completion");
        let text = ok(out, &format!("{shell} completion"));
        assert!(
            text.lines().any(|l| l.starts_with("hobbes")),
            "{shell}: {text}"
        );
        assert!(
            !text.contains("calvin"),
            "{shell}: only names starting with h: {text}"
        );
        let out = env
            .awsenv()
            .args(["--", "awsenv", "use", "--shell", "f"])
            .env("COMPLETE", shell)
            .env("_CLAP_COMPLETE_INDEX", "3")
            .env("_CLAP_IFS", "\n")
            .output()
            .expect("run completion");
        let text = ok(out, &format!("{shell} --shell completion"));
        assert!(
            text.lines().any(|l| l.starts_with("fish")),
            "{shell}: --shell values complete: {text}"
        );
    }
}
