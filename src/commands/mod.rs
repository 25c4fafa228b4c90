//! The engine's command implementations, one module per group.

pub mod keys;
pub mod login;
pub mod session;
pub mod shellhook;

use anyhow::{Result, bail};
use clap::CommandFactory;

/// `awsenv completions SHELL`: the registration script of clap_complete's dynamic completion,
/// so profile names complete from the AWS config at the time you press Tab.
pub fn completions(shell: &str) -> Result<i32> {
    use clap_complete::env::EnvCompleter;
    let mut out = std::io::stdout();
    let cmd = crate::cli::Cli::command();
    let name = cmd.get_name().to_string();
    let completer = "awsenv";
    let r = match shell {
        "bash" => clap_complete::env::Bash
            .write_registration("COMPLETE", &name, &name, completer, &mut out),
        "zsh" => clap_complete::env::Zsh
            .write_registration("COMPLETE", &name, &name, completer, &mut out),
        "fish" => clap_complete::env::Fish
            .write_registration("COMPLETE", &name, &name, completer, &mut out),
        "elvish" => clap_complete::env::Elvish
            .write_registration("COMPLETE", &name, &name, completer, &mut out),
        "powershell" => clap_complete::env::Powershell
            .write_registration("COMPLETE", &name, &name, completer, &mut out),
        other => bail!(
            "unknown shell {}: use bash, zsh, fish, elvish or powershell",
            crate::sanitize::quoted(other.as_bytes(), 40)
        ),
    };
    r.map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))?;
    Ok(0)
}

/// `awsenv man`: the manual page, generated from the command-line definition, with a section
/// per command.
pub fn man_page() -> Result<i32> {
    let cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    let render = |c: &clap::Command, out: &mut Vec<u8>| {
        clap_mangen::Man::new(c.clone())
            .render(out)
            .map_err(|e| anyhow::anyhow!("cannot render the manual page: {e}"))
    };
    render(&cmd, &mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // A one-shot command: the names live until the process exits anyway.
        let name: &'static str = Box::leak(format!("awsenv-{}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name).bin_name(name);
        render(&sub, &mut out)?;
    }
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| anyhow::anyhow!("cannot write to stdout: {e}"))?;
    Ok(0)
}

/// Whether stdout is a terminal (then secrets are not printed).
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// Asks a yes/no question on the terminal; false without a terminal.
pub fn confirm(question: &str) -> bool {
    matches!(crate::tty::read_line(&format!("{question} [y/N] "), false), Ok(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes"))
}
