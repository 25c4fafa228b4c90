//! `awsenv man`: one manual page, generated from the command-line definition (clap_mangen for
//! the title, synopsis, description and options), with every command in a COMMANDS section and
//! hand-written ENVIRONMENT, FILES and EXAMPLES sections. It names no other page of its own.

use anyhow::{Result, anyhow};
use clap::CommandFactory;

/// Text for roff: backslashes escaped, a line never starting with a control character.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One command (and its subcommands) as a subsection: usage, what it does, its arguments.
fn command_section(cmd: &clap::Command, path: &str, out: &mut String) {
    let mut c = cmd.clone().bin_name(path.to_string());
    let usage = c.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ").trim();
    out.push_str(&format!(".SS \"{}\"\n", roff(usage).replace('"', "\\(dq")));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&roff(&about.to_string()));
        out.push('\n');
    }
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let name = match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("\\-\\-{}", roff(l)),
            (None, Some(s)) => format!("\\-{s}"),
            (None, None) => arg
                .get_value_names()
                .and_then(|v| v.first())
                .map_or(id.to_uppercase(), |v| v.to_string()),
        };
        let value = if arg.get_long().is_some() && arg.get_action().takes_values() {
            arg.get_value_names()
                .and_then(|v| v.first())
                .map(|v| format!(" \\fI{v}\\fR"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push_str(&format!(".TP\n\\fB{name}\\fR{value}\n"));
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            out.push_str(&roff(&help.to_string()));
            out.push('\n');
        }
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_section(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBAWS_CONFIG_FILE\fR, \fBAWS_SHARED_CREDENTIALS_FILE\fR
The AWS configuration and credentials files (default \fI~/.aws/config\fR, \fI~/.aws/credentials\fR).
.TP
\fBAWS_ENDPOINT_URL_STS\fR, \fBAWS_ENDPOINT_URL\fR
The STS endpoint (for a local emulator).
.TP
\fBAWSENV_BACKEND\fR, \fBAWSENV_FILE_DIR\fR, \fBAWSENV_FILE_PASSPHRASE\fR
The secret store: \fBkeyring\fR or \fBfile\fR, the file store's directory, and its passphrase for non-interactive use.
.TP
\fBAWSENV_SESSION_TTL\fR, \fBAWSENV_ROLE_TTL\fR, \fBAWSENV_REFRESH_WINDOW\fR, \fBAWSENV_STS_TIMEOUT\fR
Lifetimes of MFA sessions and roles, how early a session is refreshed, and how long one STS call may take.
.TP
\fBAWSENV_ANNOUNCE\fR
\fBauto\fR (default), \fBalways\fR or \fBnever\fR: the one stderr line when a profile activates, switches, refreshes with a new code or deactivates.
.TP
\fBAWSENV_UNLOCK_TTL\fR, \fBAWSENV_UNLOCK_MAX\fR, \fBAWSENV_KEY_MAX_AGE\fR, \fBAWSENV_FEDERATION_URL\fR
The file-store agent's idle and total limits, the key age \fBlist\fR warns about, the console federation endpoint.
.TP
\fBAWSENV_SSO_WRITE_AWS_CACHE\fR, \fBAWSENV_SSO_SESSION_DURATION\fR, \fBAWSENV_SSO_SIGN_IN_TIMEOUT\fR
IAM Identity Center settings.
.TP
\fBAWSENV_PROFILE\fR, \fBAWS_VAULT\fR, \fBAWS_CREDENTIAL_EXPIRATION\fR
Set by \fBuse\fR and the hook: the active profile and when its credentials end (read by \fBawsenv prompt\fR and starship).
.TP
\fBXDG_CONFIG_HOME\fR, \fBXDG_DATA_HOME\fR, \fBXDG_STATE_HOME\fR, \fBXDG_RUNTIME_DIR\fR
Where awsenv keeps its settings, trusted-file records and store, locks, and the agent's socket.
"#;

const FILES: &str = r#".SH FILES
.TP
\fI~/.config/awsenv/config.toml\fR
awsenv's settings (each key also has an \fBAWSENV_*\fR variable).
.TP
\fI.awsprofile\fR
In a directory: the profile (and optionally \fBregion = "eu-west-1"\fR) the shell hook activates there once \fBawsenv allow\fR trusted it.
.TP
\fI~/.local/share/awsenv/allow/\fR
Which \fI.awsprofile\fR files are trusted (a hash of path and content).
.TP
\fI~/.local/share/awsenv/store/\fR
The encrypted file store (with \fBbackend = "file"\fR).
.TP
\fI~/.local/state/awsenv/\fR
Locks and the \fBawsenv reload\fR marker.
"#;

const EXAMPLES: &str = r#".SH EXAMPLES
.TP
\fBeval "$(awsenv hook bash)"\fR
In \fI~/.bashrc\fR (zsh: \fBeval "$(awsenv hook zsh)"\fR in \fI~/.zshrc\fR; fish: \fBawsenv hook fish | source\fR in \fIconfig.fish\fR).
.TP
\fBawsenv add jan-work\fR
Store the long-term keys of profile jan-work in the OS keyring.
.TP
\fBawsenv use calvin\fR
With the hook: this shell gets calvin's role, the MFA code asked once. Without it: \fBeval "$(awsenv use calvin)"\fR.
.TP
\fBecho calvin > .awsprofile && awsenv allow\fR
Activate calvin whenever the shell enters this directory; leaving restores the environment.
.TP
\fBawsenv exec calvin \-\- terraform plan\fR
Run one command with the session.
.TP
\fBawsenv exec \-\-server calvin \-\- terraform apply\fR
Serve refreshing credentials to a long-running command.
.TP
\fBPS1='$(awsenv_prompt \-\-suffix " ")\\w \\$ '\fR
Show the profile and the time left in the prompt without starting a process.
"#;

/// The whole page as roff.
pub fn render() -> Result<Vec<u8>> {
    // The release alone in the title: the commit (in `--version`) would make the shipped page
    // differ at every commit.
    let cmd = crate::cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    let fail = |e: std::io::Error| anyhow!("cannot render the manual page: {e}");
    man.render_title(&mut out).map_err(fail)?;
    man.render_name_section(&mut out).map_err(fail)?;
    man.render_synopsis_section(&mut out).map_err(fail)?;
    man.render_description_section(&mut out).map_err(fail)?;
    let mut text = String::from(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        command_section(sub, &format!("awsenv {}", sub.get_name()), &mut text);
    }
    text.push_str(ENVIRONMENT);
    text.push_str(FILES);
    text.push_str(EXAMPLES);
    out.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut out).map_err(fail)?;
    Ok(out)
}
