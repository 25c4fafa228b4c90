//! `awsenv init`: sets up a repository in one command — writes its `.awsprofile` for the
//! profile (or the role) named on the command line, or picked on the terminal, allows it, and
//! says what the next prompt will do.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::activation;
use crate::runtime::block_on;

/// What `awsenv init` is asked to write: a profile, or a role (`--role-arn`, or `--account`
/// with `--role`), with an optional region and account guard.
#[derive(Debug, Default, Clone)]
pub struct Wanted {
    /// A local profile name.
    pub profile: Option<String>,
    /// A role ARN.
    pub role_arn: Option<String>,
    /// An account id (with `role`).
    pub account: Option<String>,
    /// A role or permission set name (with `account`).
    pub role: Option<String>,
    /// `accounts = [...]`: the only accounts allowed.
    pub accounts: Vec<String>,
    /// A region overriding the profile's.
    pub region: Option<String>,
}

/// `awsenv init [PROFILE | --role-arn ARN | --account ID --role NAME] [--accounts IDS]
/// [--region R] [--dir DIR] [--force]`. With neither a profile nor a role: the picker on the
/// terminal, or (no terminal) the one-line error saying what to name.
pub fn init(wanted: &Wanted, dir: Option<&Path>, force: bool) -> Result<i32> {
    let mut wanted = wanted.clone();
    let by_role = wanted.role_arn.is_some() || wanted.account.is_some();
    if wanted.profile.is_none() && !by_role {
        let p = crate::picker::pick("init", None, || {
            anyhow!(
                "name the profile this repository uses: awsenv init PROFILE [--region REGION] (or --role-arn ARN)"
            )
        })?;
        if crate::awsconfig::is_in_memory(&p) {
            bail!(
                "a repository's .awsprofile needs a profile your AWS config keeps: write {p} there (answer yes when the picker asks), or name the role: awsenv init --account ID --role NAME"
            );
        }
        wanted.profile = Some(p);
    }
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let text = content(&wanted);
    // What init writes must be what the hook accepts.
    let parsed =
        activation::parse(&text).map_err(|e| anyhow!("cannot write that .awsprofile: it {e}"))?;
    let config = block_on(crate::awsconfig::AwsConfig::load())??;
    if let Some(p) = &parsed.profile
        && !config.has(p)
    {
        return Err(config.unknown(p));
    }
    // The local profile the next prompt activates (for a role: the one that yields it).
    let profile = super::session::local_profile(&parsed)?;
    let file: PathBuf = dir.join(activation::FILE_NAME);
    match std::fs::symlink_metadata(&file) {
        Ok(md) if !md.is_file() => bail!(
            "{} exists and is not a regular file; remove it first",
            file.display()
        ),
        Ok(_) => {
            let old = activation::read_file(&file).map_err(|e| anyhow!(e))?;
            if old != text.as_bytes() && !force {
                bail!(
                    "{} exists with other content; review it, or run this 'awsenv init' again with --force to replace it",
                    file.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    super::shellhook::allow(Some(&file), true)?;
    let what = match &parsed.role {
        Some(r) => format!(
            "role {} in account {} through your profile {profile}",
            r.role, r.account
        ),
        None => profile.clone(),
    };
    let next = if std::env::var_os(super::session::SHELL_FN).is_some()
        || std::env::var_os(crate::envstate::WATCH).is_some()
    {
        format!("the next prompt in {} activates {what}", dir.display())
    } else {
        format!(
            "with the shell hook installed, the next prompt in {} activates {what} (eval \"$(awsenv hook bash)\" in ~/.bashrc); without it: awsenv exec -- terraform plan",
            dir.display()
        )
    };
    eprintln!("awsenv: {next}; every profile your Terraform code names is then served by awsenv");
    Ok(0)
}

/// The `.awsprofile` text for what is wanted (the formats [`activation::parse`] reads).
fn content(w: &Wanted) -> String {
    let q = |v: &str| format!("\"{}\"", v.replace(['"', '\\', '\n'], ""));
    let mut t = String::new();
    if let Some(p) = &w.profile {
        t.push_str(&format!("profile = {}\n", q(p)));
    }
    if let Some(a) = &w.role_arn {
        t.push_str(&format!("role_arn = {}\n", q(a)));
    }
    if let Some(a) = &w.account {
        t.push_str(&format!("account = {}\n", q(a)));
    }
    if let Some(r) = &w.role {
        t.push_str(&format!("role = {}\n", q(r)));
    }
    if let Some(r) = &w.region {
        t.push_str(&format!("region = {}\n", q(r)));
    }
    if !w.accounts.is_empty() {
        let ids: Vec<String> = w.accounts.iter().map(|a| q(a.trim())).collect();
        t.push_str(&format!("accounts = [{}]\n", ids.join(", ")));
    }
    t
}
