//! `awsenv`: the front binary. It answers the per-prompt hot path itself — `awsenv export SHELL`
//! when nothing changed, and `awsenv prompt` — reading only the environment and stat-ing the
//! `.awsprofile` candidates, and hands every other command to `awsenv-engine` (installed beside
//! it) by `execve`. It never links the credential engine's code paths.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::process::CommandExt;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or("\u{0}"))
        .collect();
    match words.as_slice() {
        // A terminal on stdout means a person typed it: the engine prints a hint instead.
        ["export", shell @ ("bash" | "zsh" | "fish")] if !std::io::stdout().is_terminal() => {
            if let Some(noop) = awsenv::activation::hook_noop() {
                // Nothing to do; the shell also gets the key that lets it skip this process at
                // the next prompts (see awsenv::fastpath).
                if let Some(shell) = awsenv::shell::Shell::parse(shell)
                    && let Some(key) =
                        awsenv::fastpath::key(shell, awsenv::timefmt::now_epoch(), &noop)
                {
                    let _ = std::io::stdout().write_all(&awsenv::fastpath::render(shell, &key));
                }
                return;
            }
        }
        ["prompt", rest @ ..] => {
            if let Some(opts) = awsenv::prompt::Options::parse(rest.iter().copied()) {
                if let Some(p) = opts
                    .format
                    .as_deref()
                    .and_then(awsenv::prompt::unknown_placeholder)
                {
                    eprintln!("awsenv: {}", awsenv::prompt::unknown_placeholder_message(p));
                    std::process::exit(2);
                }
                return prompt(&opts);
            }
        }
        _ => {}
    }
    let engine = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("awsenv-engine"),
        Err(e) => fail(&format!("cannot locate this executable ({e})")),
    };
    let err = std::process::Command::new(&engine)
        .arg0("awsenv")
        .args(&args[1..])
        .exec();
    fail(&format!(
        "cannot run {} ({err}); awsenv and awsenv-engine must be installed side by side",
        engine.display()
    ));
}

fn prompt(opts: &awsenv::prompt::Options) {
    let text = awsenv::prompt::render(opts, awsenv::timefmt::now_epoch());
    if !text.is_empty() {
        let _ = writeln!(std::io::stdout(), "{text}");
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("awsenv: {msg}");
    std::process::exit(1)
}
