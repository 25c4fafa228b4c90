//! The engine's command implementations, one module per group.

pub mod announce;
pub mod awsvault;
pub mod direnv;
pub mod doctor;
pub mod import;
pub mod init;
pub mod keys;
pub mod login;
pub mod manpage;
pub mod session;
pub mod shellhook;
pub mod status;

use anyhow::{Result, bail};
use clap::CommandFactory;

/// `awsenv completions SHELL`: the registration script of clap_complete's dynamic completion,
/// so profile names complete from the AWS config at the time you press Tab.
pub fn completions(shell: &str) -> Result<i32> {
    use clap_complete::env::EnvCompleter;
    let mut out = Vec::new();
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
    write_stdout(&out)?;
    Ok(0)
}

/// `awsenv man`: the manual page (see [`manpage`]).
pub fn man_page() -> Result<i32> {
    write_stdout(&manpage::render()?)?;
    Ok(0)
}

/// Writes `bytes` to stdout and flushes. A closed pipe (`awsenv list | head -1`) ends the
/// process quietly with status 0, as a Unix filter does; any other failure is an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}

/// `println!` through [`write_stdout`]: `outln!("…", …)?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
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
