//! `use`, `unset`, `exec`, `credential-process`: credentials out of the engine and into a shell
//! or a process.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use anyhow::{Result, anyhow, bail};

use crate::cli::ResolveOpts;
use crate::envstate::{self, EnvView};
use crate::resolve::{Engine, Resolved};
use crate::runtime::block_on;
use crate::shell::{self, Change, Shell};
use crate::timefmt;

/// The variables `use` sets or unsets for a resolved session (§4), without awsenv's state.
pub fn credential_changes(r: &Resolved) -> Vec<Change> {
    let c = &r.creds;
    let mut v = vec![
        Change::set("AWS_ACCESS_KEY_ID", &c.access_key_id),
        Change::set("AWS_SECRET_ACCESS_KEY", &c.secret_access_key),
    ];
    match &c.session_token {
        Some(t) => {
            v.push(Change::set("AWS_SESSION_TOKEN", t));
            v.push(Change::set("AWS_SECURITY_TOKEN", t));
        }
        None => {
            v.push(Change::unset("AWS_SESSION_TOKEN"));
            v.push(Change::unset("AWS_SECURITY_TOKEN"));
        }
    }
    match c.expiration {
        Some(e) => {
            let t = timefmt::rfc3339(e);
            v.push(Change::set("AWS_CREDENTIAL_EXPIRATION", &t));
            v.push(Change::set("AWS_SESSION_EXPIRATION", &t));
        }
        None => {
            v.push(Change::unset("AWS_CREDENTIAL_EXPIRATION"));
            v.push(Change::unset("AWS_SESSION_EXPIRATION"));
        }
    }
    if let Some(region) = &r.region {
        v.push(Change::set("AWS_REGION", region));
        v.push(Change::set("AWS_DEFAULT_REGION", region));
        let from = r.region_source.as_deref().unwrap_or("--region");
        v.push(Change::set(envstate::REGION_SOURCE, from));
    }
    v.push(Change::set("AWS_VAULT", &r.profile));
    v.push(Change::unset("AWS_PROFILE"));
    v.push(Change::unset("AWS_DEFAULT_PROFILE"));
    v.extend(
        crate::overlay::changes_now()
            .into_iter()
            .map(|(n, val)| Change::Set(n, val)),
    );
    v
}

/// Resolves `profile` with the engine.
pub fn resolve(profile: &str, opts: &ResolveOpts) -> Result<Resolved> {
    Ok(resolve_for_shell(profile, opts)?.0)
}

/// Resolves `profile` for a shell: the credentials and the time (epoch seconds) at which the
/// hook should refresh them (`refresh_window` before they expire).
pub fn resolve_for_shell(profile: &str, opts: &ResolveOpts) -> Result<(Resolved, Option<i64>)> {
    let req = crate::resolve::request(profile, opts)?;
    block_on(async {
        let engine = Engine::open().await?;
        let r = engine.resolve(&req).await?;
        let at = r
            .creds
            .expiration
            .map(|e| e.saturating_sub(engine.settings.refresh_window.as_secs() as i64));
        Ok((r, at))
    })?
}

/// The options of a manual `use` that a refresh must repeat ([`envstate::OPTS`]); a one-time
/// `--mfa-token` is not one of them.
#[derive(serde::Serialize, serde::Deserialize, Default, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct UseOpts {
    /// `--region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `--duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `--no-session`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_session: bool,
}

impl UseOpts {
    /// The options to record for `opts`, if any differ from the defaults.
    pub fn record(opts: &ResolveOpts) -> Option<String> {
        let u = UseOpts {
            region: opts.region.clone(),
            duration: opts.duration.clone(),
            no_session: opts.no_session,
        };
        (u != UseOpts::default())
            .then(|| serde_json::to_string(&u).ok())
            .flatten()
    }

    /// Reads a recorded [`envstate::OPTS`] value back into resolution options; anything that is
    /// not such a record is an error (the values are checked again by `resolve::request`).
    pub fn parse(text: Option<&std::ffi::OsStr>) -> Result<ResolveOpts> {
        let Some(text) = text else {
            return Ok(ResolveOpts::default());
        };
        let u: UseOpts = text
            .to_str()
            .filter(|t| t.len() <= 1024)
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| anyhow!("{} is not a value awsenv wrote", envstate::OPTS))?;
        Ok(ResolveOpts {
            region: u.region,
            duration: u.duration,
            no_session: u.no_session,
            ..ResolveOpts::default()
        })
    }
}

/// The environment variable the hook's `awsenv` shell function sets (to its shell's name) when
/// it runs `use` or `unset`: the statements are then printed for that shell after
/// [`EVAL_MARKER`], and the function evaluates them.
pub const SHELL_FN: &str = "AWSENV_SHELL_FN";
/// The first line of output meant for the shell function's `eval`.
pub const EVAL_MARKER: &str = "# awsenv: eval";

/// The shell to print for: `--shell`, else the calling shell function's, else detected; and
/// whether the output goes to the shell function.
fn pick_shell(name: Option<&str>) -> Result<(Shell, bool)> {
    match name {
        Some(n) => Shell::parse(n).map(|s| (s, false)).ok_or_else(|| {
            anyhow!(
                "unknown shell {}: use one of {}",
                crate::sanitize::quoted(n.as_bytes(), 40),
                Shell::NAMES.join(", ")
            )
        }),
        None => match std::env::var(SHELL_FN).ok().as_deref() {
            Some(f @ ("bash" | "zsh" | "fish")) => Ok((Shell::parse(f).unwrap_or(Shell::Sh), true)),
            _ => Ok((Shell::detect(), false)),
        },
    }
}

fn write_out(bytes: &[u8]) -> Result<()> {
    super::write_stdout(bytes)
}

/// Prints `changes` for `shell`, after the marker when the shell function asked.
fn print_changes(shell: Shell, for_function: bool, changes: &[Change]) -> Result<()> {
    let mut out = Vec::new();
    if for_function {
        out.extend_from_slice(EVAL_MARKER.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(&shell::render(shell, changes));
    if out.is_empty() {
        return Ok(());
    }
    write_out(&out)
}

/// The eval hint for a shell.
pub fn eval_hint(shell: Shell, args: &str) -> String {
    match shell {
        Shell::Fish => format!("awsenv {args} | source"),
        Shell::PowerShell => format!("awsenv {args} | Invoke-Expression"),
        _ => format!("eval \"$(awsenv {args})\""),
    }
}

/// What `use`/`unset`/`export` print instead of statements when stdout is a terminal.
fn terminal_hint(shell: Shell, what: &str, args: &str) -> Result<()> {
    crate::outln!("awsenv prints shell statements{what}; to apply them to this shell run:")?;
    crate::outln!("  {}", eval_hint(shell, args))?;
    crate::outln!(
        "or install the shell hook (eval \"$(awsenv hook {})\" in your rc file): then 'awsenv {args}' works as typed",
        match shell {
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            _ => "bash",
        }
    )
}

/// Says that `r` is now active in a shell whose environment was `before`: activated, or
/// switched from the profile that was active.
pub fn announce_switch(before: &EnvView, r: &Resolved) {
    announce_switch_labelled(before, r, None)
}

/// [`announce_switch`] saying `label` (see [`Choice`]) instead of the profile and its role.
pub fn announce_switch_labelled(before: &EnvView, r: &Resolved, label: Option<&str>) {
    use super::announce::Event;
    let say = |s: Option<&crate::settings::Settings>, e: Event<'_>| {
        super::announce::say_labelled(s, e, label)
    };
    let settings = crate::settings::Settings::load().ok();
    let was = before
        .get(envstate::PROFILE)
        .map(|p| p.to_string_lossy().into_owned());
    match was.as_deref() {
        Some(from) if from != r.profile => say(settings.as_ref(), Event::Switched { from, to: r }),
        Some(_) if crate::mfa::code_obtained() => {
            say(settings.as_ref(), Event::RefreshedWithCode(r))
        }
        Some(_) => {}
        None => say(settings.as_ref(), Event::Activated(r)),
    }
}

/// `awsenv use PROFILE`.
pub fn use_profile(
    profile: Option<&str>,
    query: Option<&str>,
    shell_name: Option<&str>,
    opts: &ResolveOpts,
) -> Result<i32> {
    let (shell, for_function) = pick_shell(shell_name)?;
    let (profile, opts) = profile_or_directory(profile, query, "use", true, opts)?;
    let (profile, opts) = (profile.as_str(), &opts);
    if !for_function && super::stdout_is_terminal() {
        // Say at once when the profile does not exist, instead of a hint that cannot work.
        let config = block_on(crate::awsconfig::AwsConfig::load())??;
        if !config.has(profile) {
            return Err(config.unknown(profile));
        }
        terminal_hint(shell, " with credentials", &format!("use {profile}"))?;
        return Ok(0);
    }
    let (r, refresh_at) = resolve_for_shell(profile, opts)?;
    crate::picker::state::record_expiry(&r.profile, r.creds.expiration);
    let view = EnvView::new();
    let changes = envstate::activate(
        &view,
        credential_changes(&r),
        &envstate::Meta {
            profile: &r.profile,
            source: std::ffi::OsStr::new(envstate::MANUAL),
            refresh_at,
            opts: UseOpts::record(opts),
        },
    );
    print_changes(shell, for_function, &changes)?;
    announce_switch(&view, &r);
    Ok(0)
}

/// `awsenv unset`.
pub fn unset(shell_name: Option<&str>) -> Result<i32> {
    let (shell, for_function) = pick_shell(shell_name)?;
    if !for_function && super::stdout_is_terminal() {
        terminal_hint(shell, "", "unset")?;
        return Ok(0);
    }
    let view = EnvView::new();
    let changes = envstate::deactivate(&view);
    print_changes(shell, for_function, &changes)?;
    if let Some(p) = view.get(envstate::PROFILE) {
        let settings = crate::settings::Settings::load().ok();
        super::announce::say(
            settings.as_ref(),
            super::announce::Event::Deactivated(&p.to_string_lossy()),
        );
    }
    Ok(0)
}

/// `awsenv credential-process PROFILE`: the AWS `credential_process` JSON.
pub fn credential_process(profile: &str, opts: &ResolveOpts) -> Result<i32> {
    if super::stdout_is_terminal() {
        bail!(
            "credential-process prints secrets and stdout is a terminal; use it as credential_process = awsenv credential-process {profile} in ~/.aws/config"
        );
    }
    let r = resolve(profile, opts)?;
    let mut m = serde_json::Map::new();
    m.insert("Version".into(), 1.into());
    m.insert("AccessKeyId".into(), r.creds.access_key_id.clone().into());
    m.insert(
        "SecretAccessKey".into(),
        r.creds.secret_access_key.clone().into(),
    );
    if let Some(t) = &r.creds.session_token {
        m.insert("SessionToken".into(), t.clone().into());
    }
    if let Some(e) = r.creds.expiration {
        m.insert("Expiration".into(), timefmt::rfc3339(e).into());
    }
    let text = zeroize::Zeroizing::new(serde_json::Value::Object(m).to_string());
    write_out(format!("{}\n", *text).as_bytes())?;
    Ok(0)
}

/// The local profile an `.awsprofile` asks for ([`choose`]).
pub fn local_profile(file: &crate::activation::AwsProfileFile) -> Result<String> {
    Ok(choose(file)?.profile)
}

/// Which local profile an `.awsprofile` activates, and for a file naming a role, how it was
/// chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The profile to resolve.
    pub profile: String,
    /// For a file naming a role: `productionEC2Full (222222222222) via profile calvin` (or
    /// `via role_base_profile jan-work`).
    pub label: Option<String>,
}

/// The local profile an `.awsprofile` asks for: the one it names, or, for a file naming a role,
/// the user's profile that yields exactly that role — its own `role_arn` (the last hop of a
/// `source_profile` chain is the profile's own `role_arn`), or an IAM Identity Center profile's
/// `sso_account_id` and `sso_role_name`. When several do, the first in name order (byte order).
/// When none does and the `role_base_profile` setting names a profile, a profile made up in
/// this process (`ROLE@ACCOUNT`: `role_arn` + `source_profile = BASE`) that assumes the role
/// from it, with BASE's cached MFA session.
pub fn choose(file: &crate::activation::AwsProfileFile) -> Result<Choice> {
    if let Some(p) = &file.profile {
        return Ok(Choice {
            profile: p.clone(),
            label: None,
        });
    }
    let Some(want) = &file.role else {
        bail!("the .awsprofile names neither a profile nor a role");
    };
    let shown = format!(
        "{} ({})",
        crate::sanitize::printable(want.role.as_bytes(), 64),
        want.account
    );
    let config = block_on(crate::awsconfig::AwsConfig::load())??;
    let mut names = config.names();
    names.sort();
    for name in names {
        let Ok(p) = config.profile(&name) else {
            continue;
        };
        let yields = match p.get("role_arn") {
            Some(arn) => crate::activation::parse_role_arn(arn).as_ref() == Some(want),
            None => {
                p.get("sso_account_id") == Some(want.account.as_str())
                    && p.get("sso_role_name") == Some(want.role.as_str())
            }
        };
        if yields {
            let label = format!(
                "{shown} via profile {}",
                crate::sanitize::printable(name.as_bytes(), 100)
            );
            return Ok(Choice {
                profile: name,
                label: Some(label),
            });
        }
    }
    let base = crate::settings::Settings::load()
        .ok()
        .and_then(|s| s.role_base_profile);
    if let Some(base) = base {
        if !config.has(&base) {
            bail!(
                "role_base_profile = {} (in {}) names no profile of {}; fix the setting",
                crate::sanitize::quoted(base.as_bytes(), 100),
                crate::settings::path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the settings".into()),
                crate::awsconfig::config_path_text()
            );
        }
        let name = format!("{}@{}", want.role, want.account);
        if config.has(&name) {
            bail!(
                "profile {name} of {} does not yield role {} in account {}, and awsenv would name the role it assumes from role_base_profile so: rename that profile",
                crate::awsconfig::config_path_text(),
                want.role,
                want.account
            );
        }
        crate::awsconfig::add_synthetic_profile(
            &name,
            &format!(
                "role_arn = arn:aws:iam::{}:role/{}\nsource_profile = {base}\n",
                want.account, want.role
            ),
        );
        let label = format!(
            "{shown} via role_base_profile {}",
            crate::sanitize::printable(base.as_bytes(), 100)
        );
        return Ok(Choice {
            profile: name,
            label: Some(label),
        });
    }
    bail!(
        "none of your profiles in {} yields role {} in account {}: add [profile NAME] with role_arn = arn:aws:iam::{}:role/{} and source_profile = YOUR_BASE_PROFILE (or sso_account_id/sso_role_name), or set role_base_profile = \"YOUR_BASE_PROFILE\" in {} to assume it from that profile",
        crate::awsconfig::config_path_text(),
        want.role,
        want.account,
        want.account,
        want.role,
        crate::settings::path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/awsenv/config.toml".into())
    )
}

/// The `accounts = [...]` guard of an `.awsprofile`: refuses credentials of any other account
/// (the account of the role `r` assumed; without a role its account cannot be told, refused).
pub fn check_accounts(file: &crate::activation::AwsProfileFile, r: &Resolved) -> Result<()> {
    if file.accounts.is_empty() {
        return Ok(());
    }
    // A role's account from its ARN; an IAM Identity Center profile's from its config.
    let account = r
        .role_arn
        .as_deref()
        .and_then(crate::activation::parse_role_arn)
        .map(|x| x.account)
        .or_else(|| {
            let config = crate::awsconfig::AwsConfig::load_now().ok()?;
            let p = config.profile(&r.profile).ok()?;
            p.get("sso_account_id")
                .filter(|a| crate::activation::valid_account(a))
                .map(String::from)
        });
    match account {
        Some(a) if file.accounts.contains(&a) => Ok(()),
        Some(a) => bail!(
            "profile {} gives credentials for account {a}, and the .awsprofile allows only {}: refused; fix the profile or the file",
            r.profile,
            file.accounts.join(", ")
        ),
        None => bail!(
            "profile {} assumes no role, so its account cannot be checked against the .awsprofile's accounts ({}): refused",
            r.profile,
            file.accounts.join(", ")
        ),
    }
}

/// The profile for `exec` (and `login`) without one: the trusted `.awsprofile` here.
/// Also the file's region and its `accounts` guard.
pub fn profile_from_directory() -> Result<(String, Option<String>, Vec<String>)> {
    let cwd =
        std::env::current_dir().map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
    let Some((path, _)) = crate::activation::find(&cwd) else {
        bail!(
            "no profile given and no .awsprofile in {} or above",
            cwd.display()
        );
    };
    let content = crate::activation::read_file(&path).map_err(|e| anyhow!(e))?;
    if !crate::activation::is_trusted(&path, &content) {
        bail!("{}", crate::activation::untrusted_message(&path));
    }
    let f = crate::activation::parse(&String::from_utf8_lossy(&content))
        .map_err(|e| anyhow!("{} {e}", path.display()))?;
    Ok((local_profile(&f)?, f.region, f.accounts))
}

/// The profile named on the command line, or else the trusted `.awsprofile`'s (whose region
/// applies unless `--region` was given), or else the one the user picks on the terminal
/// ([`crate::picker`], also when `query` is given), with the options to resolve it. `command`
/// names the command in the picker's title. `with_directory` is false for commands that do not
/// read `.awsprofile`.
pub fn profile_or_directory(
    profile: Option<&str>,
    query: Option<&str>,
    command: &str,
    with_directory: bool,
    opts: &ResolveOpts,
) -> Result<(String, ResolveOpts)> {
    let (profile, dir_region, accounts) = match (profile, query) {
        (Some(p), _) => (p.to_string(), None, Vec::new()),
        (None, Some(q)) => (pick(command, Some(q), with_directory)?, None, Vec::new()),
        (None, None) => {
            let cwd = std::env::current_dir()
                .map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
            if with_directory && crate::activation::find(&cwd).is_some() {
                profile_from_directory()?
            } else {
                (pick(command, None, with_directory)?, None, Vec::new())
            }
        }
    };
    let mut opts = opts.clone();
    if opts.region.is_none() && dir_region.is_some() {
        opts.region = dir_region;
        opts.region_source = Some(".awsprofile".to_string());
    }
    if !accounts.is_empty() {
        // The guard needs the credentials' account: resolved here (then cached), refused
        // before any command sees them.
        let r = resolve(&profile, &opts)?;
        let file = crate::activation::AwsProfileFile {
            profile: Some(profile.clone()),
            role: None,
            region: None,
            accounts,
        };
        check_accounts(&file, &r)?;
    }
    Ok((profile, opts))
}

/// The picker for `command`; without a terminal, the error a missing profile always gave.
fn pick(command: &str, query: Option<&str>, with_directory: bool) -> Result<String> {
    crate::picker::pick(command, query, || {
        if !with_directory {
            return anyhow!("no profile given (and no terminal to pick one on)");
        }
        match std::env::current_dir() {
            Ok(cwd) => anyhow!(
                "no profile given and no .awsprofile in {} or above",
                cwd.display()
            ),
            Err(e) => anyhow!("cannot read the current directory: {e}"),
        }
    })
}

/// `awsenv exec [PROFILE] [--server [--allow-default-keys]] -- CMD…`.
pub fn exec(
    profile: Option<&str>,
    query: Option<&str>,
    server: bool,
    allow_default_keys: bool,
    opts: &ResolveOpts,
    command: Vec<OsString>,
) -> Result<i32> {
    let title = if server { "exec --server" } else { "exec" };
    let (profile, opts) = profile_or_directory(profile, query, title, true, opts)?;
    // No command: an interactive shell with the session, as aws-vault does.
    let command = if command.is_empty() {
        vec![
            std::env::var_os("SHELL")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/bin/sh".into()),
        ]
    } else {
        command
    };
    let Some((program, args)) = command.split_first() else {
        bail!("no command to run");
    };
    if server {
        return crate::server::exec_with_server(&profile, &opts, allow_default_keys, program, args);
    }
    let (r, refresh_at) = resolve_for_shell(&profile, &opts)?;
    crate::picker::state::record_expiry(&r.profile, r.creds.expiration);
    let changes = envstate::activate(
        &EnvView::new(),
        credential_changes(&r),
        &envstate::Meta {
            profile: &r.profile,
            source: std::ffi::OsStr::new(envstate::MANUAL),
            refresh_at,
            opts: UseOpts::record(&opts),
        },
    );
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    // The hook's fingerprint belongs to the calling shell; copies of held secrets are shell
    // variables and never exported, but drop any that arrive exported.
    cmd.env_remove(envstate::WATCH);
    for p in envstate::PRIVATE {
        cmd.env_remove(envstate::private_var(p));
    }
    apply(&mut cmd, &changes);
    drop(r);
    // execve: the credentials exist only in the new program's environment, and its exit status
    // and signals are its own.
    let err = cmd.exec();
    Err(crate::exitcode::cannot_run(program, err))
}

/// Applies environment changes to a command. Held copies of replaced secrets are shell state
/// and never reach a command: a variable restored from one is removed.
pub fn apply(cmd: &mut std::process::Command, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Set(n, v) => {
                cmd.env(n, v);
            }
            Change::Unset(n) | Change::RestorePrivate(n, _) => {
                cmd.env_remove(n);
            }
            Change::SetPrivate(..) | Change::DropPrivate(_) => {}
        }
    }
}
