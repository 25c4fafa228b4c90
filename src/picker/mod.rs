//! The interactive profile picker: what `use`, `exec`, `login` and `rotate` open when no
//! profile is given and none is implied. It draws on the terminal (`/dev/tty`), so it works
//! inside `eval "$(awsenv use)"` and the shell function, lists every profile with what it
//! resolves to (account id and name, role, region, where the credentials come from, time left
//! on the last session), filters fuzzily over all of that ([`rows::Filter`]), and orders by
//! frecency or by name (`picker_order`).
//!
//! On the way to the first frame it reads only the AWS config, the settings, its own state
//! file ([`state`]) and what the SSO portal offered at the last `sso profiles`
//! ([`crate::sso::offered`]: account names, roles not in the config yet): no secret store, no
//! network.

pub mod rows;
pub mod state;
pub mod ui;

use anyhow::{Result, anyhow};

use crate::settings::PickerOrder;

/// The rows to pick from, in the order of `order` (before anything is typed).
pub fn load_rows(order: PickerOrder) -> Result<Vec<rows::Row>> {
    let config = crate::awsconfig::AwsConfig::load_now()?;
    let picks = state::load();
    let offered = crate::sso::offered::load();
    let expires = |p: &str| picks.profiles.get(p).and_then(|e| e.expires);
    let mut rows = rows::from_config(&config, &offered.account_names(), &expires);
    if order == PickerOrder::Frecency {
        let now = state::now();
        rows::order_by(&mut rows, &|p| {
            picks
                .profiles
                .get(p)
                .map_or(0.0, |e| rows::frecency(e.count, e.last, now))
        });
    }
    rows::add_offered(&mut rows, &config, &offered);
    Ok(rows)
}

/// Lets the user pick a profile for `command` (`use`, shown in the title), starting from
/// `query`. A query that exactly one profile matches is taken without showing the list (and
/// without a terminal). With no terminal, the error `no_terminal` makes. Esc or Ctrl-C: a
/// [`crate::tty::Cancelled`] error (status 1, nothing on stdout); SIGTERM or SIGHUP: the
/// terminal restored, then the process ends with 128 + the signal.
pub fn pick(
    command: &str,
    query: Option<&str>,
    no_terminal: impl FnOnce() -> anyhow::Error,
) -> Result<String> {
    let order = crate::settings::Settings::load()
        .map(|s| s.picker_order)
        .unwrap_or(PickerOrder::Frecency);
    let rows = load_rows(order)?;
    if rows.is_empty() {
        return Err(anyhow!(
            "no profile given and no profiles in {} to pick from",
            crate::awsconfig::config_path_text()
        ));
    }
    if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
        let mut f = rows::Filter::new();
        f.set_query(q);
        let m = f.matches(&rows);
        if let [only] = m[..] {
            return picked(&rows[only]);
        }
        if m.is_empty() && crate::tty::open().is_none() {
            return Err(anyhow!(
                "no profile matches {}",
                crate::sanitize::quoted(q.as_bytes(), 80)
            ));
        }
    }
    let Some(tty) = crate::tty::open() else {
        return Err(no_terminal());
    };
    let title = format!("awsenv {command}");
    let mut view = ui::View::new(
        &rows,
        query.unwrap_or(""),
        &title,
        ui::colors(),
        state::now(),
    );
    match ui::run(tty, &mut view).map_err(|e| anyhow!("the profile picker: terminal: {e}"))? {
        ui::Outcome::Picked(i) => picked(&rows[i]),
        ui::Outcome::Cancelled => Err(anyhow::Error::new(crate::tty::Cancelled::new(
            "profile picker",
        ))),
        ui::Outcome::Signalled(sig) => std::process::exit(128 + sig),
    }
}

/// The profile of a picked row, recorded for frecency. A portal role no profile names yet
/// ([`offer_portal_role`]) is written to the config, or used for this command only.
fn picked(row: &rows::Row) -> Result<String> {
    if let Some(session) = &row.unconfigured {
        offer_portal_role(row, session)?;
    }
    state::record_pick(&row.profile);
    Ok(row.profile.clone())
}

/// Picking a role the AWS access portal offers that no profile names: asks on the terminal
/// whether to write its profile to the AWS config (default yes) through the config editor, as
/// `awsenv sso profiles NAME --write` does; declined (or a sign-in without an
/// `[sso-session]`, which that command cannot write either), the profile exists in memory for
/// this command only. Without a terminal (a one-match query), it is used without writing.
fn offer_portal_role(row: &rows::Row, session: &str) -> Result<()> {
    let config = crate::awsconfig::AwsConfig::load_now()?;
    let offered = crate::sso::offered::Offered {
        account_id: row.cols[1].clone(),
        account_name: row.cols[2].clone(),
        role: row.cols[3].clone(),
        profile: row.profile.clone(),
        configured: false,
    };
    let (section, sname) = crate::sso::commands::offered_section(&config, session, &offered)?;
    let shown = crate::sanitize::printable(row.profile.as_bytes(), 100);
    let write = match &sname {
        Some(_) if crate::tty::available() => {
            let q = format!(
                "awsenv: {shown} ({} {}) is not in {} yet; write it there? [Y/n] ",
                row.cols[1],
                row.cols[3],
                crate::awsconfig::config_path_text()
            );
            let answer = crate::tty::read_line(&q, false).map_err(|e| match e {
                crate::tty::TtyError::Interrupted | crate::tty::TtyError::Eof => {
                    anyhow::Error::new(crate::tty::Cancelled::new("profile picker"))
                }
                e => e.or_else_no_tty(|| anyhow!("no terminal")),
            })?;
            let a = answer.trim().to_ascii_lowercase();
            a.is_empty() || a == "y" || a == "yes"
        }
        _ => false,
    };
    if let (true, Some(sname)) = (write, &sname) {
        let (path, backup) = crate::sso::commands::write_offered(sname, &row.profile, &section)?;
        eprintln!(
            "awsenv: wrote profile {shown} to {} (in the '# BEGIN awsenv sso profiles {sname}' block){}",
            path.display(),
            backup
                .map(|b| format!("; the previous file is in {}", b.display()))
                .unwrap_or_default()
        );
    } else {
        crate::awsconfig::add_in_memory(&section);
        eprintln!(
            "awsenv: using {shown} for this command without writing it to {}{}",
            crate::awsconfig::config_path_text(),
            match &sname {
                Some(n) => format!(" (to keep it: awsenv sso profiles {n} --write)"),
                None => String::new(),
            }
        );
    }
    Ok(())
}
