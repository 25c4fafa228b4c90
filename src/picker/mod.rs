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

/// The profile of a picked row, recorded for frecency; a portal role no profile names yet is
/// an error saying how to add it.
fn picked(row: &rows::Row) -> Result<String> {
    if let Some(session) = &row.unconfigured {
        return Err(anyhow!(
            "{} ({}/{}) is a role the AWS access portal offers that no profile names yet: write it with 'awsenv sso profiles {} --write', then 'awsenv use {}'",
            row.cols[0],
            row.cols[1],
            row.cols[3],
            crate::sanitize::printable(session.as_bytes(), 100),
            row.cols[0]
        ));
    }
    state::record_pick(&row.profile);
    Ok(row.profile.clone())
}
