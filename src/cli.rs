//! The command-line interface (clap), with profile names completed from the AWS config.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

/// AWS credentials in your shell: assumed roles with cached MFA sessions, per-directory
/// activation from `.awsprofile`, and a prompt segment.
#[derive(Parser, Debug)]
#[command(
    name = "awsenv",
    bin_name = "awsenv",
    version = env!("AWSENV_VERSION"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The values of `--shell` (offered by completion, checked by clap).
const SHELLS: [&str; 7] = ["bash", "zsh", "fish", "sh", "powershell", "env", "json"];

/// A shell the hook supports.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookShell {
    /// GNU bash 4+.
    Bash,
    /// zsh.
    Zsh,
    /// fish 3+.
    Fish,
}

impl HookShell {
    /// The hook shell this process runs in (parent process, then `$SHELL`); `None` for one
    /// without a hook.
    pub fn detect() -> Option<HookShell> {
        match crate::shell::Shell::detect() {
            crate::shell::Shell::Bash => Some(HookShell::Bash),
            crate::shell::Shell::Zsh => Some(HookShell::Zsh),
            crate::shell::Shell::Fish => Some(HookShell::Fish),
            _ => None,
        }
    }

    /// The matching output shell.
    pub fn shell(self) -> crate::shell::Shell {
        match self {
            HookShell::Bash => crate::shell::Shell::Bash,
            HookShell::Zsh => crate::shell::Shell::Zsh,
            HookShell::Fish => crate::shell::Shell::Fish,
        }
    }
}

/// The option of every command that opens the secret store.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreOpts {
    /// Secret store: keyring or file (default: the `backend` setting, else the OS keyring
    /// when it answers).
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
}

/// Options shared by the commands that resolve credentials.
#[derive(Args, Debug, Clone, Default)]
pub struct ResolveOpts {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreOpts,
    /// The MFA code (otherwise mfa_process, otherwise a prompt on the terminal).
    #[arg(long, value_name = "CODE")]
    pub mfa_token: Option<String>,
    /// Lifetime of the credentials, e.g. 1h, 45m, 3600.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Region to export (overrides the profile's).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// No GetSessionToken session: pass the MFA code to AssumeRole directly, or export the
    /// long-term keys of a profile without a role.
    #[arg(long)]
    pub no_session: bool,
    /// Where `region` came from when not from `--region` (`.awsprofile`); set by callers, not
    /// a command-line option.
    #[arg(skip)]
    pub region_source: Option<String>,
}

fn profiles(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return Vec::new();
    };
    let names = rt
        .block_on(crate::awsconfig::AwsConfig::load())
        .map(|c| c.names())
        .unwrap_or_default();
    names
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// awsenv's commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Store long-term keys for PROFILE in the secret store.
    Add {
        /// The profile (the root of a source_profile chain, or one with its own role_arn).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: String,
        /// Read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead of prompting.
        #[arg(long)]
        env: bool,
        /// Replace stored keys without asking.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Move keys kept in plaintext in ~/.aws/credentials into the secret store (the named
    /// profiles, or every profile with plaintext keys); with --from aws-vault, the keys kept by
    /// aws-vault (its Secret Service collection or its encrypted file store).
    Import {
        /// The profiles (default: every one with aws_access_key_id in plaintext, or every one
        /// aws-vault holds long-term keys for).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profiles: Vec<String>,
        /// Read the keys aws-vault keeps: its Secret Service collection (awsvault, or
        /// AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME) when there is one, else its encrypted file
        /// store (~/.awsvault/keys or AWS_VAULT_FILE_DIR; passphrase from
        /// AWS_VAULT_FILE_PASSPHRASE or asked); AWS_VAULT_BACKEND=file|secret-service picks one.
        /// aws-vault's copies are left as they are.
        #[arg(long, value_name = "SOURCE", value_parser = ["aws-vault"], conflicts_with_all = ["remove_plaintext", "keep_plaintext"])]
        from: Option<String>,
        /// Replace other keys already stored for a profile.
        #[arg(long)]
        force: bool,
        /// Then delete the plaintext copies from ~/.aws/credentials without asking.
        #[arg(long, conflicts_with = "keep_plaintext")]
        remove_plaintext: bool,
        /// Leave the plaintext copies without asking.
        #[arg(long)]
        keep_plaintext: bool,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Delete the stored keys and cached sessions of PROFILE.
    Remove {
        /// The profile.
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// List profiles, whether keys are stored (key id's last four characters, age), and cached
    /// sessions with their time left.
    List {
        /// Every cached entry (stale roles, duplicates, expired ones), whole ARNs, no cut at 80
        /// columns.
        #[arg(short, long)]
        verbose: bool,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Replace the stored access key of PROFILE with a new key of the same IAM user, then
    /// delete the old key (never leaving you without a working key).
    Rotate {
        /// The profile whose keys are stored (the root of a source_profile chain; default:
        /// picked on the terminal).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: Option<String>,
        /// Open the profile picker with this query typed; a query only one profile matches is
        /// taken without showing the list.
        #[arg(
            short = 'q',
            long = "query",
            value_name = "QUERY",
            conflicts_with = "profile"
        )]
        query: Option<String>,
        /// Sign the IAM calls with the keys themselves, not with the MFA session.
        #[arg(long)]
        no_session: bool,
        /// The MFA code, when no MFA session is cached (otherwise mfa_process, otherwise a
        /// prompt on the terminal).
        #[arg(long, value_name = "CODE")]
        mfa_token: Option<String>,
        /// Instead of rotating, delete the key of the same IAM user whose id ends in these four
        /// characters (as awsenv shows it: ****WXYZ or WXYZ); never the stored key.
        #[arg(long, value_name = "LAST4")]
        delete_key: Option<String>,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Print the statements that activate PROFILE: eval "$(awsenv use PROFILE)".
    Use {
        /// The profile (default: the trusted .awsprofile of the current directory, else picked
        /// on the terminal).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: Option<String>,
        /// Open the profile picker with this query typed; a query only one profile matches is
        /// taken without showing the list.
        #[arg(
            short = 'q',
            long = "query",
            value_name = "QUERY",
            conflicts_with = "profile"
        )]
        query: Option<String>,
        /// Output for this shell: bash, zsh, fish, sh, powershell, env, json (default: detected).
        #[arg(long, value_name = "SHELL", value_parser = SHELLS)]
        shell: Option<String>,
        #[command(flatten)]
        opts: ResolveOpts,
    },
    /// Print the statements that deactivate and restore what `use` replaced.
    Unset {
        /// Output for this shell (default: detected).
        #[arg(long, value_name = "SHELL", value_parser = SHELLS)]
        shell: Option<String>,
    },
    /// Run a command with the session in its environment; exits with the command's status.
    Exec {
        /// The profile (default: the trusted .awsprofile of the current directory, else picked
        /// on the terminal).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: Option<String>,
        /// Open the profile picker with this query typed; a query only one profile matches is
        /// taken without showing the list.
        #[arg(
            short = 'q',
            long = "query",
            value_name = "QUERY",
            conflicts_with = "profile"
        )]
        query: Option<String>,
        /// Serve refreshing credentials on a loopback endpoint (ECS protocol) instead of
        /// exporting static keys.
        #[arg(long)]
        server: bool,
        // The help as an attribute, not a doc comment: rustdoc would read `[default]` as a link.
        #[arg(
            long,
            requires = "server",
            help = "With --server: run even when the [default] profile has credentials of its \
                    own (static keys, role_arn, credential_process, an SSO role), which SDKs use \
                    before the endpoint"
        )]
        allow_default_keys: bool,
        #[command(flatten)]
        opts: ResolveOpts,
        /// The command and its arguments, after the profile or after `--` (with no command:
        /// your $SHELL with the session).
        #[arg(
            value_name = "CMD",
            allow_hyphen_values = true,
            conflicts_with = "command"
        )]
        args: Vec<OsString>,
        /// The command after `--` (described with the one above).
        #[arg(last = true, value_name = "CMD", hide = true)]
        command: Vec<OsString>,
    },
    /// Print the shell init code for bash, zsh or fish.
    Hook {
        /// The shell (default: the one this runs in).
        shell: Option<HookShell>,
    },
    /// What the hook runs at each prompt (not for typing).
    Export {
        /// The shell.
        shell: HookShell,
    },
    /// Trust the .awsprofile at PATH (a file or its directory; default: the nearest one).
    Allow {
        /// The file or directory.
        path: Option<PathBuf>,
    },
    /// Revoke trust in the .awsprofile at PATH.
    Deny {
        /// The file or directory.
        path: Option<PathBuf>,
    },
    /// Set up this repository: write its .awsprofile for PROFILE or a role, allow it, say what happens next.
    Init {
        /// The profile the repository uses (from your AWS config); none: pick one on the terminal.
        #[arg(add = ArgValueCompleter::new(profiles), conflicts_with_all = ["role_arn", "account"])]
        profile: Option<String>,
        /// Name the role instead of a local profile (works for teammates whose profiles are named differently).
        #[arg(long, value_name = "ARN", conflicts_with = "account")]
        role_arn: Option<String>,
        /// The role's account id (with --role).
        #[arg(long, value_name = "ID", requires = "role")]
        account: Option<String>,
        /// The role's name or IAM Identity Center permission set (with --account).
        #[arg(long, value_name = "NAME", requires = "account")]
        role: Option<String>,
        /// The only accounts whose credentials may be activated here, comma-separated.
        #[arg(long, value_name = "ID,ID", value_delimiter = ',')]
        accounts: Vec<String>,
        /// A region for the repository, overriding the profile's.
        #[arg(long)]
        region: Option<String>,
        /// The repository's directory (default: the current one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Replace an existing .awsprofile with other content.
        #[arg(long)]
        force: bool,
    },
    /// Make the next prompt retry activation.
    Reload,
    /// Print the prompt segment, e.g. `calvin 42m`.
    Prompt {
        /// Format with {profile}, {region}, {remaining}, {expiration}.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Text before the segment, printed only when there is a segment.
        #[arg(long, value_name = "TEXT")]
        prefix: Option<String>,
        /// Text after the segment (e.g. a space before the rest of PS1), only when there is one.
        #[arg(long, value_name = "TEXT")]
        suffix: Option<String>,
    },
    /// Show what is active in this shell, from where, and for how long.
    Status,
    /// Drop cached sessions (all, or PROFILE's). Stored keys stay.
    Clear {
        /// The profile.
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: Option<String>,
        #[command(flatten)]
        store: StoreOpts,
    },
    /// Print credentials as credential_process JSON (Version 1).
    CredentialProcess {
        /// The profile.
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: String,
        #[command(flatten)]
        opts: ResolveOpts,
    },
    /// Open (or print) an AWS console sign-in URL for the session.
    Login {
        /// The profile (default: the one the trusted .awsprofile of the current directory
        /// names, else picked on the terminal).
        #[arg(add = ArgValueCompleter::new(profiles))]
        profile: Option<String>,
        /// Open the profile picker with this query typed; a query only one profile matches is
        /// taken without showing the list.
        #[arg(
            short = 'q',
            long = "query",
            value_name = "QUERY",
            conflicts_with = "profile"
        )]
        query: Option<String>,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        stdout: bool,
        #[command(flatten)]
        opts: ResolveOpts,
    },
    /// IAM Identity Center (SSO): sign in, sign out, list the accounts and roles you can use.
    Sso {
        /// The sso command.
        #[command(subcommand)]
        command: SsoCommand,
    },
    /// Unlock the file store once: an agent keeps it unlocked for you (until `unlock_ttl`
    /// without use, at most `unlock_max`; `awsenv lock` ends it sooner).
    Unlock {
        /// Read the passphrase from standard input (one line) instead of the terminal.
        #[arg(long)]
        stdin: bool,
    },
    /// Make the file-store agent forget the unlocked store now.
    Lock,
    /// Run the file-store unlock agent in the foreground (it starts by itself when needed).
    Agent {
        /// Internal: how commands start the agent in the background.
        #[arg(long, hide = true)]
        detached: bool,
    },
    /// Check the hook, completions, the AWS config, the secret store and plaintext keys, and
    /// say what to do about each problem (exit status 1 when there is one).
    Doctor,
    /// Print the manual page (roff): awsenv man | man -l -
    Man,
    /// Print a completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: String,
    },
}

impl Command {
    /// The `--backend` given to a command that opens the secret store.
    pub fn backend(&self) -> Option<&str> {
        let store = match self {
            Command::Add { store, .. }
            | Command::Import { store, .. }
            | Command::Remove { store, .. }
            | Command::Rotate { store, .. }
            | Command::List { store, .. }
            | Command::Clear { store, .. } => store,
            Command::Use { opts, .. }
            | Command::Exec { opts, .. }
            | Command::CredentialProcess { opts, .. }
            | Command::Login { opts, .. } => &opts.store,
            _ => return None,
        };
        store.backend.as_deref()
    }
}

/// `awsenv sso …`.
#[derive(Subcommand, Debug)]
pub enum SsoCommand {
    /// Sign in to IAM Identity Center: in the browser (PKCE), or with a device code where no
    /// browser can open here (SSH) or with --use-device-code.
    Login {
        /// An [sso-session] name or an SSO profile (default: the only one configured).
        #[arg(value_name = "SESSION|PROFILE", add = ArgValueCompleter::new(profiles))]
        name: Option<String>,
        /// Show a code to enter in a browser anywhere, instead of the browser on this machine.
        #[arg(long)]
        use_device_code: bool,
    },
    /// End the portal session(s) and remove their tokens and role credentials from the store.
    Logout {
        /// An [sso-session] name or an SSO profile (default: every signed-in session).
        #[arg(value_name = "SESSION|PROFILE", add = ArgValueCompleter::new(profiles))]
        name: Option<String>,
    },
    /// List every account and role you can use; --write adds profiles for them to the AWS
    /// config, in a marked block (the rest of the file is kept as it is).
    Profiles {
        /// An [sso-session] name or an SSO profile (default: the only one configured).
        #[arg(value_name = "SESSION|PROFILE", add = ArgValueCompleter::new(profiles))]
        name: Option<String>,
        /// Write profiles for the roles no profile uses yet.
        #[arg(long)]
        write: bool,
    },
}
