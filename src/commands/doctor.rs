//! `awsenv doctor`: checks what people get wrong on their first day and says, for each, what to
//! do — the hook in this shell (and first in `PROMPT_COMMAND`), completions, the AWS config, the
//! secret store, keys left in plaintext, the settings. Exit status 1 when something is wrong.
//!
//! What only the calling shell knows (its `PROMPT_COMMAND`, hook functions, completions) comes
//! from the hook's `awsenv` shell function, which passes it in `AWSENV_HOOK_STATE` when it runs
//! `awsenv doctor`; without the function the hook is not installed in this shell.

use anyhow::Result;

use crate::settings::Settings;

/// One check's result.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// Fine: what was found.
    Ok(String),
    /// Works, but worth knowing: what and what to do.
    Note(String),
    /// Wrong: what and what to do.
    Problem(String),
}

/// The variable the shell function passes its state in.
pub const HOOK_STATE: &str = "AWSENV_HOOK_STATE";

/// The hook as the calling shell reports it (`AWSENV_HOOK_STATE`): `SHELL;first=0|1;complete=0|1`.
pub fn hook_finding(state: Option<&str>, rc_mentions_hook: Option<(&str, bool)>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(state) = state else {
        out.push(match rc_mentions_hook {
            Some((rc, true)) => Finding::Problem(format!(
                "hook: {rc} installs it, but this shell does not have it (started before, or a later line of {rc} undoes it): open a new shell, or check what follows the hook line"
            )),
            Some((rc, false)) => Finding::Problem(format!(
                "hook: not installed in this shell: add the line from 'awsenv hook' to {rc} (bash: eval \"$(awsenv hook bash)\"; zsh: eval \"$(awsenv hook zsh)\"; fish: awsenv hook fish | source)"
            )),
            None => Finding::Problem(
                "hook: not installed in this shell: see 'awsenv hook --help'".to_string(),
            ),
        });
        return out;
    };
    let field = |k: &str| {
        state
            .split(';')
            .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    let shell = state.split(';').next().unwrap_or("shell");
    match field("first") {
        Some("1") => out.push(Finding::Ok(format!("hook: installed in this {shell}, first at each prompt"))),
        Some("0") if shell == "bash" => out.push(Finding::Problem(
            "hook: installed, but PROMPT_COMMAND no longer runs _awsenv_hook first (a later line of ~/.bashrc set PROMPT_COMMAND): put eval \"$(awsenv hook bash)\" after it, at the end of ~/.bashrc".to_string(),
        )),
        _ => out.push(Finding::Problem(format!(
            "hook: the awsenv function is here but the {shell} hook does not run at each prompt: put the hook line at the end of your rc file"
        ))),
    }
    match field("complete") {
        Some("1") => out.push(Finding::Ok("completions: awsenv completes in this shell".into())),
        _ => out.push(Finding::Note(format!(
            "completions: not loaded in this shell: add 'source <(awsenv completions {shell})' (fish: awsenv completions fish | source) to your rc file"
        ))),
    }
    out
}

/// The user's rc file for `shell` and whether it mentions `awsenv hook`.
fn rc_file(shell: &str) -> Option<(String, bool)> {
    let home = std::env::var_os("HOME")?;
    let home = std::path::Path::new(&home);
    let rel = match shell {
        "bash" => ".bashrc",
        "zsh" => ".zshrc",
        "fish" => ".config/fish/config.fish",
        _ => return None,
    };
    let path = home.join(rel);
    let text = crate::awsconfig::read_text_file(&path, 1 << 20, "the rc file", "")
        .ok()
        .flatten()
        .unwrap_or_default();
    Some((format!("~/{rel}"), text.contains("awsenv hook")))
}

fn store_finding(settings: &Settings) -> Finding {
    match crate::store::open(settings) {
        Ok(store) => match store.list() {
            Ok(l) => {
                let keys = l.keys.iter().filter(|k| k.starts_with("keys/")).count();
                Finding::Ok(format!(
                    "secret store: {} answers ({keys} profile{} with stored keys)",
                    store.describe(),
                    if keys == 1 { "" } else { "s" }
                ))
            }
            Err(e) => Finding::Problem(format!(
                "secret store: {} does not list its entries: {}",
                store.describe(),
                crate::sanitize::one_line(&format!("{e:#}"))
            )),
        },
        Err(e) => Finding::Problem(format!(
            "secret store: {}",
            crate::sanitize::one_line(&format!("{e:#}"))
        )),
    }
}

fn config_findings() -> Vec<Finding> {
    let config = match crate::awsconfig::AwsConfig::load_now() {
        Ok(c) => c,
        Err(e) => {
            return vec![Finding::Problem(format!(
                "AWS config: {}",
                crate::sanitize::one_line(&format!("{e:#}"))
            ))];
        }
    };
    let names = config.names();
    let mut out = vec![Finding::Ok(format!(
        "AWS config: {} parses ({} profile{})",
        crate::awsconfig::config_path_text(),
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    ))];
    let plain: Vec<&String> = names
        .iter()
        .filter(|n| config.plaintext_keys(n).is_some_and(|k| !k.temporary))
        .collect();
    if !plain.is_empty() {
        out.push(Finding::Problem(format!(
            "plaintext keys: {} in {}: 'awsenv import' moves them into the secret store",
            plain
                .iter()
                .map(|n| format!("[{n}]"))
                .collect::<Vec<_>>()
                .join(", "),
            crate::awsconfig::credentials_path_text()
        )));
    }
    out
}

/// How far this machine's clock may be from STS's before AWS refuses signatures.
const MAX_SKEW: i64 = 300;

/// The clock against STS's `Date` header (one unsigned GET, 5 s at most).
fn clock_finding() -> Finding {
    let ep = crate::sts::Endpoint::new(None, None);
    let url = ep
        .url
        .clone()
        .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com/", ep.region));
    let shown = ep.describe();
    let answer = crate::runtime::block_on(async {
        let client = crate::http::client(None)?;
        let resp = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(&url))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within 5s"))??;
        let date = resp
            .date
            .as_deref()
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .ok_or_else(|| anyhow::anyhow!("its answer has no Date"))?;
        anyhow::Ok(date)
    });
    let date = match answer {
        Ok(Ok(d)) => d,
        Ok(Err(e)) | Err(e) => {
            return Finding::Note(format!(
                "clock: not checked, STS at {shown} did not tell the time ({})",
                crate::sanitize::line(format!("{e:#}").as_bytes(), 200)
            ));
        }
    };
    let theirs = date
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let skew = crate::timefmt::now_epoch() - theirs;
    if skew.abs() > MAX_SKEW {
        Finding::Problem(format!(
            "clock: this machine's clock is {} {} STS's: AWS refuses requests signed more than 5 minutes off; turn on time sync (timedatectl set-ntp true)",
            crate::timefmt::remaining(skew.abs()),
            if skew > 0 { "ahead of" } else { "behind" }
        ))
    } else {
        Finding::Ok(format!(
            "clock: within {}s of STS at {shown}",
            skew.abs().max(1)
        ))
    }
}

/// `awsenv doctor`.
pub fn doctor() -> Result<i32> {
    let mut findings = Vec::new();
    let shell = crate::cli::HookShell::detect().map(|s| s.shell().name().to_string());
    let state = std::env::var(HOOK_STATE).ok();
    let rc = shell.as_deref().and_then(rc_file);
    findings.extend(hook_finding(
        state.as_deref(),
        rc.as_ref().map(|(p, m)| (p.as_str(), *m)),
    ));
    findings.extend(config_findings());
    match Settings::load() {
        Ok(settings) => {
            findings.push(Finding::Ok(match crate::settings::path() {
                Some(p) if p.exists() => format!("settings: {} parses", p.display()),
                _ => "settings: none (the defaults)".to_string(),
            }));
            findings.push(store_finding(&settings));
        }
        Err(e) => findings.push(Finding::Problem(format!(
            "settings: {}",
            crate::sanitize::one_line(&format!("{e:#}"))
        ))),
    }
    findings.push(clock_finding());
    let mut text = String::new();
    let mut bad = false;
    for f in &findings {
        let (tag, msg) = match f {
            Finding::Ok(m) => ("ok  ", m),
            Finding::Note(m) => ("note", m),
            Finding::Problem(m) => {
                bad = true;
                ("FIX ", m)
            }
        };
        text.push_str(&format!("{tag}  {msg}\n"));
    }
    super::write_stdout(text.as_bytes())?;
    Ok(if bad { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_state_says_what_is_wrong() {
        let f = hook_finding(Some("bash;first=1;complete=0"), None);
        assert!(matches!(&f[0], Finding::Ok(m) if m.contains("first at each prompt")));
        assert!(matches!(&f[1], Finding::Note(m) if m.contains("awsenv completions bash")));
        let f = hook_finding(Some("bash;first=0;complete=1"), None);
        assert!(matches!(&f[0], Finding::Problem(m) if m.contains("PROMPT_COMMAND")));
        let f = hook_finding(None, Some(("~/.bashrc", false)));
        assert!(matches!(&f[0], Finding::Problem(m) if m.contains("add the line")));
        let f = hook_finding(None, Some(("~/.bashrc", true)));
        assert!(matches!(&f[0], Finding::Problem(m) if m.contains("does not have it")));
    }
}
