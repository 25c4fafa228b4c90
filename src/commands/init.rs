//! `awsenv init`: sets up a repository in one command — writes its `.awsprofile` for the
//! profile named on the command line, allows it, and says what the next prompt will do.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::activation;
use crate::runtime::block_on;

/// `awsenv init [PROFILE] [--region R] [--dir DIR] [--force]`.
pub fn init(
    profile: Option<&str>,
    region: Option<&str>,
    dir: Option<&Path>,
    force: bool,
) -> Result<i32> {
    let Some(profile) = profile else {
        // Hook point for the interactive picker: once it exists, choose the profile here when
        // stdin is a terminal.
        bail!("name the profile this repository uses: awsenv init PROFILE [--region REGION]");
    };
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let text = content(profile, region);
    // What init writes must be what the hook accepts.
    activation::parse(&text).map_err(|e| anyhow!("cannot write that .awsprofile: it {e}"))?;
    let config = block_on(crate::awsconfig::AwsConfig::load())??;
    if !config.has(profile) {
        return Err(config.unknown(profile));
    }
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
                    "{} exists with other content; review it, or run 'awsenv init {profile} --force' to replace it",
                    file.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    super::shellhook::allow(Some(&file), true)?;
    let next = if std::env::var_os(super::session::SHELL_FN).is_some()
        || std::env::var_os(crate::envstate::WATCH).is_some()
    {
        format!("the next prompt in {} activates {profile}", dir.display())
    } else {
        format!(
            "with the shell hook installed, the next prompt in {} activates {profile} (eval \"$(awsenv hook bash)\" in ~/.bashrc); without it: awsenv exec -- terraform plan",
            dir.display()
        )
    };
    eprintln!("awsenv: {next}; every profile your Terraform code names is then served by awsenv");
    Ok(0)
}

/// The `.awsprofile` text for `profile` and an optional region.
fn content(profile: &str, region: Option<&str>) -> String {
    let mut t = format!("profile = \"{profile}\"\n");
    if let Some(r) = region {
        t.push_str(&format!("region = \"{r}\"\n"));
    }
    t
}
