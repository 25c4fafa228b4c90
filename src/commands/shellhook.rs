//! `hook`, `export`, `allow`, `deny`, `reload`, `status`: per-directory activation.
//!
//! `export` is the state machine of SPEC §5. The front binary answers "nothing changed" itself
//! (see `activation::hook_noop`); this runs only when the `.awsprofile` fingerprint changed
//! or a hook-activated session is due for refresh.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::activation::{self, AwsProfileFile};
use crate::cli::{HookShell, ResolveOpts};
use crate::envstate::{self, EnvView};
use crate::runtime::block_on;
use crate::shell::{self, Change};
use crate::timefmt;

/// `awsenv hook SHELL`.
pub fn hook(hs: HookShell) -> Result<i32> {
    let exe = std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name("awsenv"))
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "awsenv".to_string());
    super::write_stdout(crate::hook::render(hs.shell(), &exe).as_bytes())?;
    Ok(0)
}

fn say(msg: &str) {
    eprintln!("awsenv: {}", crate::awsconfig::one_line(msg));
}

enum Plan {
    Nothing,
    Leave,
    /// Activate (or refresh) a directory's profile.
    Activate {
        path: PathBuf,
        file: AwsProfileFile,
    },
    /// Refresh a manually chosen profile in place.
    RefreshManual {
        profile: String,
    },
}

/// Why an activation did not happen, for the one line the hook prints.
enum Failure {
    /// The user pressed Ctrl-C (at a prompt or while waiting).
    Cancelled,
    /// The profile is not in the AWS config: only an edit helps.
    UnknownProfile(anyhow::Error),
    /// Anything else (network, STS, store): `awsenv reload` retries.
    Other(anyhow::Error),
}

const RETRY: &str = "run 'awsenv reload' to try again";

/// `awsenv export SHELL`: what the hook runs at each prompt (the front binary answers the
/// "nothing changed" case itself).
pub fn export(hs: HookShell) -> Result<i32> {
    if super::stdout_is_terminal() {
        crate::outln!(
            "awsenv export prints the statements the shell hook applies at each prompt; it is not for typing."
        )?;
        crate::outln!(
            "Install the hook instead: eval \"$(awsenv hook {0})\" in your rc file (fish: awsenv hook fish | source)",
            hs.shell()
        )?;
        return Ok(0);
    }
    if hs == HookShell::Bash {
        // The bash hook does not ignore SIGINT around us (that would cost a fork per prompt);
        // Ctrl-C must reach only awsenv, which records the failure. See tty::own_foreground_group.
        crate::tty::own_foreground_group();
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = activation::find(&cwd);
    let fp_file = activation::fingerprint_of_file(found.as_ref());
    let mut fp = activation::fingerprint_of(found.as_ref());
    let mut view = EnvView::new();
    // direnv's values of variables awsenv also sets: awsenv works on the layer beneath.
    let direnv_layer = super::direnv::beneath(&mut view);
    let fp_changed = view.get(envstate::WATCH).unwrap_or_default() != fp;
    let source = view.get(envstate::SOURCE).unwrap_or_default();
    let manual = source == envstate::MANUAL;
    let hook_path = (!manual && !source.is_empty()).then(|| PathBuf::from(&source));
    let active_profile = view
        .get(envstate::PROFILE)
        .map(|p| p.to_string_lossy().into_owned());

    let reload_asked = view.get(envstate::RELOAD).is_some();
    let plan = if let Some(served) = view.get(envstate::SERVER) {
        // Inside `awsenv exec --server`: exported keys would shadow the refreshing endpoint.
        if fp_changed && let Some((path, _)) = &found {
            say(&format!(
                "{} is not activated inside 'awsenv exec --server {}': credentials come from its endpoint",
                path.display(),
                served.to_string_lossy()
            ));
        }
        Plan::Nothing
    } else if manual {
        // After a failed refresh no refresh time is left: `awsenv reload` retries it.
        let retry = reload_asked && view.get(envstate::REFRESH_AT).is_none();
        if (activation::refresh_due() || retry)
            && let Some(p) = &active_profile
        {
            Plan::RefreshManual { profile: p.clone() }
        } else {
            if fp_changed && let Some((path, _)) = &found {
                say(&format!(
                    "{} is ignored while '{}' chosen with 'awsenv use' is active; run 'awsenv unset' to let the directory decide",
                    path.display(),
                    active_profile.as_deref().unwrap_or("a profile")
                ));
            }
            Plan::Nothing
        }
    } else {
        match found {
            None if hook_path.is_some() => Plan::Leave,
            None => Plan::Nothing,
            Some((path, _)) => {
                let leave_or_nothing = || {
                    if hook_path.is_some() {
                        Plan::Leave
                    } else {
                        Plan::Nothing
                    }
                };
                // Read with a bound, non-blocking: a huge file or a FIFO cannot stall the prompt.
                let content = activation::read_file(&path);
                let parsed = content.as_ref().map_err(|e| e.clone()).and_then(|c| {
                    activation::parse(&String::from_utf8_lossy(c))
                        .map_err(|e| format!("{} {e}; edit it", path.display()))
                });
                let content = content.unwrap_or_default();
                let same_file = hook_path.as_deref() == Some(path.as_path());
                match parsed {
                    // A file that cannot work says what to edit, trusted or not.
                    Err(e) => {
                        if fp_changed {
                            say(&e);
                        }
                        leave_or_nothing()
                    }
                    Ok(_) if !activation::is_trusted(&path, &content) => {
                        if fp_changed {
                            say(&activation::untrusted_message(&path));
                        }
                        leave_or_nothing()
                    }
                    Ok(file) => {
                        let same =
                            same_file && active_profile.is_some() && active_profile == file.profile;
                        if same && !activation::refresh_due() {
                            Plan::Nothing
                        } else if same || fp_changed {
                            Plan::Activate { path, file }
                        } else {
                            // A failure recorded for this fingerprint: no retry until the file
                            // changes, the directory changes, or `awsenv reload`.
                            Plan::Nothing
                        }
                    }
                }
            }
        }
    };

    let mut changes = Vec::new();
    match plan {
        // The user's config was edited, or something wrote into the overlay: regenerate it.
        // What a tool wrote into the overlay is saved into the user's file first.
        Plan::Nothing if fp_changed && activation::overlay_files().is_some() => {
            let _ = crate::overlay::write_now();
            // Both files may have been rewritten: record the world after it.
            fp = fp_file.clone();
            fp.push(activation::overlay_stamps(activation::overlay_files()));
        }
        Plan::Nothing => {}
        Plan::Leave => {
            changes = envstate::deactivate(&view);
            if let Some(p) = &active_profile {
                let settings = crate::settings::Settings::load().ok();
                super::announce::say(settings.as_ref(), super::announce::Event::Deactivated(p));
            }
        }
        Plan::Activate { path, file } => {
            let refreshing = hook_path.as_deref() == Some(path.as_path());
            let opts = ResolveOpts {
                region: file.region.clone(),
                ..ResolveOpts::default()
            };
            // A file naming a role: the user's profile that yields it; then the accounts guard.
            let mut label = None;
            let result = super::session::choose(&file)
                .map_err(Failure::Other)
                .and_then(|c| {
                    label = c.label;
                    activate(&c.profile, &opts)
                })
                .and_then(|(r, at)| {
                    super::session::check_accounts(&file, &r)
                        .map(|()| (r, at))
                        .map_err(Failure::Other)
                });
            match result {
                Ok((r, refresh_at)) => {
                    // On a switch, `activate` restores what the previous profile set and this
                    // one does not, and keeps the values from before the first activation.
                    changes = envstate::activate(
                        &view,
                        super::session::credential_changes(&r),
                        &envstate::Meta {
                            profile: &r.profile,
                            source: path.as_os_str(),
                            refresh_at,
                            opts: None,
                        },
                    );
                    super::session::announce_switch_labelled(&view, &r, label.as_deref());
                }
                Err(f) => {
                    report_failure(&f, &file.wanted(), Some(&path));
                    if refreshing {
                        // Keep the still-valid credentials, but stop trying at every prompt.
                        changes.push(Change::unset(envstate::REFRESH_AT));
                    } else {
                        // Leave the previous directory's profile behind, record the failure.
                        changes = envstate::deactivate(&view);
                        view.apply(&changes);
                    }
                }
            }
        }
        Plan::RefreshManual { profile } => {
            let refreshed = super::session::UseOpts::parse(view.get(envstate::OPTS).as_deref())
                .map_err(Failure::Other)
                .and_then(|opts| activate(&profile, &opts).map(|r| (r, opts)));
            match refreshed {
                Ok(((r, refresh_at), opts)) => {
                    changes = envstate::activate(
                        &view,
                        super::session::credential_changes(&r),
                        &envstate::Meta {
                            profile: &r.profile,
                            source: std::ffi::OsStr::new(envstate::MANUAL),
                            refresh_at,
                            opts: super::session::UseOpts::record(&opts),
                        },
                    );
                    super::session::announce_switch(&view, &r);
                }
                Err(f) => {
                    report_failure(&f, &profile, None);
                    changes.push(Change::unset(envstate::REFRESH_AT));
                }
            }
        }
    }
    if let Some(layer) = direnv_layer {
        layer.route(&mut view, &mut changes);
    }
    if reload_asked {
        changes.push(Change::unset(envstate::RELOAD));
    }
    // An activation that set (or a leave that restored) AWS_CONFIG_FILE: record the
    // fingerprint of the world after it, so the next prompt sees nothing changed.
    let fp = if changes.iter().any(|c| c.name() == "AWS_CONFIG_FILE") {
        let mut after = view.clone();
        after.apply(&changes);
        let mut f = fp_file;
        f.push(activation::overlay_stamps(activation::overlay_files_in(
            after.get("AWS_CONFIG_FILE"),
            after.get(envstate::USER_CONFIG),
        )));
        f
    } else {
        fp
    };
    let fp_changed = fp_changed || view.get(envstate::WATCH).unwrap_or_default() != fp;
    if fp_changed || changes.iter().any(|c| c.name() == envstate::WATCH) {
        changes.push(if fp.is_empty() {
            Change::unset(envstate::WATCH)
        } else {
            Change::Set(envstate::WATCH.into(), fp)
        });
    }
    if !changes.is_empty() {
        super::write_stdout(&shell::render(hs.shell(), &changes))?;
    }
    Ok(0)
}

/// The one line for a failed activation or refresh.
fn report_failure(f: &Failure, profile: &str, path: Option<&Path>) {
    match (f, path) {
        (Failure::Cancelled, _) => say(&format!("activation of {profile} cancelled; {RETRY}")),
        (Failure::UnknownProfile(e), Some(p)) => say(&format!(
            "{} names profile {profile:?}, which is not in {}: edit the file or add [profile {profile}] ({})",
            p.display(),
            crate::awsconfig::config_path_text(),
            crate::awsconfig::one_line(&format!("{e:#}"))
        )),
        (Failure::UnknownProfile(e), None) => say(&format!("cannot refresh {profile}: {e:#}")),
        (Failure::Other(e), Some(p)) => say(&format!(
            "cannot activate {profile} for {}: {e:#}; {RETRY}",
            p.display()
        )),
        (Failure::Other(e), None) => say(&format!(
            "cannot refresh {profile}: {e:#}; the current credentials stay until they expire; run 'awsenv use {profile}' to try again"
        )),
    }
}

/// Resolves for the hook, with Ctrl-C observable the whole time (the zsh and fish hooks ignore
/// SIGINT for themselves; the bash hook leaves it to us, see `tty::own_foreground_group`).
fn activate(
    profile: &str,
    opts: &ResolveOpts,
) -> std::result::Result<(crate::resolve::Resolved, Option<i64>), Failure> {
    let _sigint = crate::tty::SigintGuard::install();
    // The hook has no --region: a region given here is the .awsprofile's.
    let opts = &ResolveOpts {
        region_source: Some(".awsprofile".to_string()),
        ..opts.clone()
    };
    let config = crate::runtime::block_on(crate::awsconfig::AwsConfig::load())
        .and_then(|c| c)
        .map_err(classify)?;
    if !config.has(profile) {
        return Err(Failure::UnknownProfile(config.unknown(profile)));
    }
    super::session::resolve_for_shell(profile, opts).map_err(classify)
}

fn classify(e: anyhow::Error) -> Failure {
    if e.downcast_ref::<crate::tty::Cancelled>().is_some() {
        Failure::Cancelled
    } else {
        Failure::Other(e)
    }
}

fn target_file(path: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let p = match path {
        None => {
            return activation::find(&cwd)
                .map(|(p, _)| p)
                .ok_or_else(|| anyhow!("no .awsprofile in {} or above", cwd.display()));
        }
        Some(p) if p.is_dir() => p.join(activation::FILE_NAME),
        Some(p) => p.to_path_buf(),
    };
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let name = p
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file", p.display()))?;
    let p = dir.join(name);
    if !p.is_file() {
        bail!("{} does not exist", p.display());
    }
    Ok(p)
}

/// `awsenv allow [PATH]` (`yes`) and `awsenv deny [PATH]`.
pub fn allow(path: Option<&Path>, yes: bool) -> Result<i32> {
    let file = target_file(path)?;
    let content = activation::read_file(&file).map_err(|e| anyhow!(e))?;
    let dir =
        activation::trust_dir().ok_or_else(|| anyhow!("neither XDG_DATA_HOME nor HOME is set"))?;
    let entry = dir.join(activation::trust_hash(&file, &content));
    if yes {
        let parsed = activation::parse(&String::from_utf8_lossy(&content))
            .map_err(|e| anyhow!("{} {e}", file.display()))?;
        let name = activation::trust_hash(&file, &content);
        crate::safefile::Dir::open(&dir)
            .and_then(|d| d.write_file(&name, format!("{}\n", file.display()).as_bytes()))
            .with_context(|| format!("cannot write {}", entry.display()))?;
        match &parsed.profile {
            Some(p) => eprintln!("awsenv: allowed {} (profile {p})", file.display()),
            None => match super::session::choose(&parsed) {
                Ok(c) => eprintln!(
                    "awsenv: allowed {} ({})",
                    file.display(),
                    c.label.unwrap_or(c.profile)
                ),
                Err(e) => eprintln!(
                    "awsenv: allowed {} ({}); warning: {}",
                    file.display(),
                    parsed.wanted(),
                    crate::awsconfig::one_line(&format!("{e:#}"))
                ),
            },
        }
        // A file naming a profile the config lacks cannot activate: say so now, not at cd.
        if let Some(p) = &parsed.profile
            && let Ok(Ok(config)) = block_on(crate::awsconfig::AwsConfig::load())
            && !config.has(p)
        {
            eprintln!(
                "awsenv: warning: {}",
                crate::awsconfig::one_line(&format!(
                    "{:#}; until then this directory activates nothing",
                    config.unknown(p)
                ))
            );
        }
    } else {
        match std::fs::remove_file(&entry) {
            Ok(()) => eprintln!("awsenv: denied {}", file.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("awsenv: {} was not allowed", file.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", entry.display())),
        }
    }
    Ok(0)
}

/// `awsenv reload`: touches the marker every hook's fingerprint includes.
pub fn reload() -> Result<i32> {
    // Typed in a hooked shell: the shell function applies this to that shell alone — other
    // terminals are not asked for a code again.
    if let Some(shell) = std::env::var(super::session::SHELL_FN)
        .ok()
        .as_deref()
        .and_then(crate::shell::Shell::parse)
    {
        let mut out = format!("{}\n", super::session::EVAL_MARKER).into_bytes();
        out.extend_from_slice(&shell::render(
            shell,
            &[
                Change::unset(envstate::WATCH),
                Change::set(envstate::RELOAD, "1"),
                // Drops the no-fork key: the next prompt runs `awsenv export`.
                Change::unset("__awsenv_fk_pwd"),
            ],
        ));
        super::write_stdout(&out)?;
        eprintln!("awsenv: the next prompt retries activation in this shell");
        return Ok(0);
    }
    let marker = activation::reload_marker()
        .ok_or_else(|| anyhow!("neither XDG_STATE_HOME nor HOME is set"))?;
    let state =
        activation::state_dir().ok_or_else(|| anyhow!("neither XDG_STATE_HOME nor HOME is set"))?;
    crate::safefile::Dir::open(&state)
        .and_then(|d| d.write_file("reload", format!("{}\n", timefmt::now_epoch()).as_bytes()))
        .with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!("awsenv: the next prompt retries activation");
    Ok(0)
}
