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
            e.downcast_ref::<crate::exitcode::CannotRun>()
                .map_or(1, |c| c.code)
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
        Command::Import {
            profiles,
            force,
            from: Some(_),
            ..
        } => commands::import::import_aws_vault(&profiles, force),
        Command::Import {
            profiles,
            force,
            remove_plaintext,
            keep_plaintext,
            ..
        } => commands::import::import(
            &profiles,
            force,
            match (remove_plaintext, keep_plaintext) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        ),
        Command::Remove { profile, force, .. } => commands::keys::remove(&profile, force),
        Command::List { verbose, .. } => commands::keys::list(verbose),
        Command::Rotate {
            profile,
            query,
            no_session,
            mfa_token,
            delete_key,
            ..
        } => {
            let (profile, _) = commands::session::profile_or_directory(
                profile.as_deref(),
                query.as_deref(),
                "rotate",
                false,
                &crate::cli::ResolveOpts::default(),
            )?;
            crate::rotate::command(
                &profile,
                no_session,
                mfa_token.as_deref(),
                delete_key.as_deref(),
            )
        }
        Command::Clear { profile, .. } => commands::keys::clear(profile.as_deref()),
        Command::Use {
            profile,
            query,
            shell,
            opts,
        } => commands::session::use_profile(
            profile.as_deref(),
            query.as_deref(),
            shell.as_deref(),
            &opts,
        ),
        Command::Unset { shell } => commands::session::unset(shell.as_deref()),
        Command::CredentialProcess { profile, opts } => {
            commands::session::credential_process(&profile, &opts)
        }
        Command::Exec {
            profile,
            query,
            server,
            allow_default_keys,
            opts,
            args,
            command,
        } => commands::session::exec(
            profile.as_deref(),
            query.as_deref(),
            server,
            allow_default_keys,
            &opts,
            if command.is_empty() { args } else { command },
        ),
        Command::Hook { shell } => match shell.or_else(crate::cli::HookShell::detect) {
            Some(s) => commands::shellhook::hook(s),
            None => anyhow::bail!(
                "cannot tell which shell this is: name it, as in eval \"$(awsenv hook bash)\" (bash, zsh or fish)"
            ),
        },
        Command::Export { shell } => commands::shellhook::export(shell),
        Command::Allow { path } => commands::shellhook::allow(path.as_deref(), true),
        Command::Deny { path } => commands::shellhook::allow(path.as_deref(), false),
        Command::Init {
            profile,
            role_arn,
            account,
            role,
            accounts,
            region,
            dir,
            force,
        } => commands::init::init(
            &commands::init::Wanted {
                profile,
                role_arn,
                account,
                role,
                accounts,
                region,
            },
            dir.as_deref(),
            force,
        ),
        Command::Reload => commands::shellhook::reload(),
        Command::Status => commands::status::status(),
        Command::Prompt {
            format,
            prefix,
            suffix,
        } => {
            if let Some(p) = format
                .as_deref()
                .and_then(crate::prompt::unknown_placeholder)
            {
                eprintln!("awsenv: {}", crate::prompt::unknown_placeholder_message(p));
                return Ok(2);
            }
            let opts = crate::prompt::Options {
                format,
                prefix: prefix.unwrap_or_default(),
                suffix: suffix.unwrap_or_default(),
            };
            let text = crate::prompt::render(&opts, crate::timefmt::now_epoch());
            if !text.is_empty() {
                crate::outln!("{text}")?;
            }
            Ok(0)
        }
        Command::Login {
            profile,
            query,
            stdout,
            opts,
        } => commands::login::login(profile.as_deref(), query.as_deref(), stdout, &opts),
        Command::Sso { command } => crate::sso::commands::run(command),
        Command::Unlock { stdin } => commands::keys::unlock(stdin),
        Command::Lock => commands::keys::lock(),
        Command::Agent { detached } => commands::keys::agent(detached),
        Command::Completions { shell } => commands::completions(&shell),
        Command::Man => commands::man_page(),
        Command::Doctor => commands::doctor::doctor(),
    }
}
