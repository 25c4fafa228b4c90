//! The engine's entry point: parse the command line, run the command, turn any error into one
//! line on stderr with exit status 1 (usage errors: 2).

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::commands;

/// Runs the engine with the process's arguments; returns the exit status.
pub fn run() -> i32 {
    // SAFETY: the first thing the engine does, before any thread exists.
    unsafe { crate::store::take_env_passphrase() };
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if let Some(b) = cli.command.backend() {
        // SAFETY: single-threaded at this point; the setting is read later by Settings::load.
        unsafe { std::env::set_var("AWSENV_BACKEND", b) };
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            1
        }
    }
}

/// Prints an error as one line: `awsenv: what failed: why; what to do`.
pub fn report(e: &anyhow::Error) {
    eprintln!("awsenv: {}", crate::sanitize::one_line(&format!("{e:#}")));
}

fn dispatch(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Add {
            profile,
            env,
            force,
            ..
        } => commands::keys::add(&profile, env, force),
        Command::Remove { profile, force, .. } => commands::keys::remove(&profile, force),
        Command::List { .. } => commands::keys::list(),
        Command::Rotate {
            profile,
            no_session,
            mfa_token,
            ..
        } => crate::rotate::command(&profile, no_session, mfa_token.as_deref()),
        Command::Clear { profile, .. } => commands::keys::clear(profile.as_deref()),
        Command::Use {
            profile,
            shell,
            opts,
        } => commands::session::use_profile(&profile, shell.as_deref(), &opts),
        Command::Unset { shell } => commands::session::unset(shell.as_deref()),
        Command::CredentialProcess { profile, opts } => {
            commands::session::credential_process(&profile, &opts)
        }
        Command::Exec {
            profile,
            server,
            allow_default_keys,
            opts,
            command,
        } => commands::session::exec(
            profile.as_deref(),
            server,
            allow_default_keys,
            &opts,
            command,
        ),
        Command::Hook { shell } => commands::shellhook::hook(shell),
        Command::Export { shell } => commands::shellhook::export(shell),
        Command::Allow { path } => commands::shellhook::allow(path.as_deref(), true),
        Command::Deny { path } => commands::shellhook::allow(path.as_deref(), false),
        Command::Reload => commands::shellhook::reload(),
        Command::Status => commands::shellhook::status(),
        Command::Prompt {
            format,
            prefix,
            suffix,
        } => {
            let opts = crate::prompt::Options {
                format,
                prefix: prefix.unwrap_or_default(),
                suffix: suffix.unwrap_or_default(),
            };
            let text = crate::prompt::render(&opts, crate::timefmt::now_epoch());
            if !text.is_empty() {
                println!("{text}");
            }
            Ok(0)
        }
        Command::Login {
            profile,
            stdout,
            opts,
        } => commands::login::login(profile.as_deref(), stdout, &opts),
        Command::Sso { command } => crate::sso::commands::run(command),
        Command::Unlock { stdin } => commands::keys::unlock(stdin),
        Command::Lock => commands::keys::lock(),
        Command::Agent { detached } => commands::keys::agent(detached),
        Command::Completions { shell } => commands::completions(&shell),
        Command::Man => commands::man_page(),
    }
}
