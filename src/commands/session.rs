//! `use`, `unset`, `exec`, `credential-process`: credentials out of the engine and into a shell
//! or a process.

use std::ffi::OsString;
use std::io::Write;
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
    v
}

/// Resolves `profile` with the engine.
pub fn resolve(profile: &str, opts: &ResolveOpts) -> Result<Resolved> {
    let req = crate::resolve::request(profile, opts)?;
    block_on(async {
        let engine = Engine::open().await?;
        engine.resolve(&req).await
    })?
}

fn pick_shell(name: Option<&str>) -> Result<Shell> {
    match name {
        Some(n) => Shell::parse(n).ok_or_else(|| {
            anyhow!(
                "unknown shell {n:?}: use one of {}",
                Shell::NAMES.join(", ")
            )
        }),
        None => Ok(Shell::detect()),
    }
}

fn write_out(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| anyhow!("cannot write to stdout: {e}"))
}

/// The eval hint for a shell.
pub fn eval_hint(shell: Shell, args: &str) -> String {
    match shell {
        Shell::Fish => format!("awsenv {args} | source"),
        Shell::PowerShell => format!("awsenv {args} | Invoke-Expression"),
        _ => format!("eval \"$(awsenv {args})\""),
    }
}

/// `awsenv use PROFILE`.
pub fn use_profile(profile: &str, shell_name: Option<&str>, opts: &ResolveOpts) -> Result<i32> {
    let shell = pick_shell(shell_name)?;
    if super::stdout_is_terminal() {
        println!(
            "awsenv prints shell statements with credentials; to activate {profile} in this shell run:"
        );
        println!("  {}", eval_hint(shell, &format!("use {profile}")));
        return Ok(0);
    }
    let r = resolve(profile, opts)?;
    let view = EnvView::new();
    let changes = envstate::activate(&view, credential_changes(&r), &r.profile, envstate::MANUAL);
    write_out(&shell::render(shell, &changes))?;
    Ok(0)
}

/// `awsenv unset`.
pub fn unset(shell_name: Option<&str>) -> Result<i32> {
    let shell = pick_shell(shell_name)?;
    let changes = envstate::deactivate(&EnvView::new());
    if !changes.is_empty() {
        write_out(&shell::render(shell, &changes))?;
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

/// The profile for `exec` (and `login`) without one: the trusted `.awsprofile` here.
pub fn profile_from_directory() -> Result<(String, Option<String>)> {
    let cwd =
        std::env::current_dir().map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
    let Some((path, _)) = crate::activation::find(&cwd) else {
        bail!(
            "no profile given and no .awsprofile in {} or above",
            cwd.display()
        );
    };
    let content =
        std::fs::read(&path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    if !crate::activation::is_trusted(&path, &content) {
        bail!("{} is not allowed; run 'awsenv allow'", path.display());
    }
    let f = crate::activation::parse(&String::from_utf8_lossy(&content))
        .map_err(|e| anyhow!("{} {e}", path.display()))?;
    Ok((f.profile, f.region))
}

/// The profile named on the command line, or else the trusted `.awsprofile`'s (whose region
/// applies unless `--region` was given), with the options to resolve it.
pub fn profile_or_directory(
    profile: Option<&str>,
    opts: &ResolveOpts,
) -> Result<(String, ResolveOpts)> {
    let (profile, dir_region) = match profile {
        Some(p) => (p.to_string(), None),
        None => profile_from_directory()?,
    };
    let mut opts = opts.clone();
    if opts.region.is_none() && dir_region.is_some() {
        opts.region = dir_region;
        opts.region_source = Some(".awsprofile".to_string());
    }
    Ok((profile, opts))
}

/// `awsenv exec [PROFILE] [--server] -- CMD…`.
pub fn exec(
    profile: Option<&str>,
    server: bool,
    opts: &ResolveOpts,
    command: Vec<OsString>,
) -> Result<i32> {
    let (profile, opts) = profile_or_directory(profile, opts)?;
    let Some((program, args)) = command.split_first() else {
        bail!("no command given after --");
    };
    if server {
        return crate::server::exec_with_server(&profile, &opts, program, args);
    }
    let r = resolve(&profile, &opts)?;
    let changes = envstate::activate(
        &EnvView::new(),
        credential_changes(&r),
        &r.profile,
        envstate::MANUAL,
    );
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    apply(&mut cmd, &changes);
    drop(r);
    // execve: the credentials exist only in the new program's environment, and its exit status
    // and signals are its own.
    let err = cmd.exec();
    bail!("cannot run {}: {err}", program.to_string_lossy())
}

/// Applies environment changes to a command.
pub fn apply(cmd: &mut std::process::Command, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Set(n, v) => cmd.env(n, v),
            Change::Unset(n) => cmd.env_remove(n),
        };
    }
}
