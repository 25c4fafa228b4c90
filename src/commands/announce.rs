//! The one line on stderr that says what just happened to this shell's credentials — a profile
//! activated, switched, refreshed with a new MFA code, or deactivated — the way direnv says
//! `direnv: loading …`. Never on stdout; by default only when stderr is a terminal
//! (`announce = "always"` or `"never"` in the settings change that).

use std::io::IsTerminal;

use crate::resolve::Resolved;
use crate::settings::{Announce, Settings};
use crate::timefmt;

/// What happened.
pub enum Event<'a> {
    /// A profile became active (by `use` or by entering a directory).
    Activated(&'a Resolved),
    /// Another profile replaced `from`.
    Switched {
        /// The profile that was active before.
        from: &'a str,
        /// The new one.
        to: &'a Resolved,
    },
    /// The active profile was refreshed and a new MFA code was needed for it.
    RefreshedWithCode(&'a Resolved),
    /// The profile is no longer active; the environment from before is back.
    Deactivated(&'a str),
}

/// The role name and account of a role ARN (`arn:aws:iam::ACCOUNT:role/path/NAME`).
fn role_and_account(arn: &str) -> Option<(&str, &str)> {
    let (account, resource) = crate::sts::iam_arn(arn)?;
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    Some((name, account))
}

/// `calvin → productionEC2Full (222222222222), us-east-2, 59m`; with a `label` (an
/// `.awsprofile` naming a role) `productionEC2Full (222222222222) via profile calvin, …`.
fn what(r: &Resolved, now: i64, label: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(l) = label {
        s.push_str(l);
    } else {
        s.push_str(&crate::sts::printable(r.profile.as_bytes(), 100));
        s.push_str(" → ");
    }
    match r.role_arn.as_deref().and_then(role_and_account) {
        _ if label.is_some() => {}
        Some((role, account)) => s.push_str(&format!(
            "{} ({})",
            crate::sts::printable(role.as_bytes(), 100),
            crate::sts::printable(account.as_bytes(), 20)
        )),
        None => s.push_str(if r.creds.session_token.is_some() {
            "a session of its own keys"
        } else {
            "its long-term keys"
        }),
    }
    if let Some(region) = &r.region {
        s.push_str(", ");
        s.push_str(&crate::sts::printable(region.as_bytes(), 40));
    }
    if let Some(at) = r.creds.expiration {
        s.push_str(", ");
        s.push_str(&timefmt::remaining(at - now));
    }
    s
}

/// The line for `event` at `now` (epoch seconds), without the `awsenv: ` prefix.
pub fn text(event: &Event<'_>, now: i64) -> String {
    text_labelled(event, now, None)
}

/// [`text`] saying `label` (which local profile was chosen for the role an `.awsprofile` names)
/// instead of the profile and its role.
pub fn text_labelled(event: &Event<'_>, now: i64, label: Option<&str>) -> String {
    match event {
        Event::Activated(r) => what(r, now, label),
        Event::Switched { from, to } => format!(
            "{} (was {})",
            what(to, now, label),
            crate::sts::printable(from.as_bytes(), 100)
        ),
        Event::RefreshedWithCode(r) => format!("{} (refreshed)", what(r, now, label)),
        Event::Deactivated(p) => format!(
            "{} deactivated; the environment from before is back",
            crate::sts::printable(p.as_bytes(), 100)
        ),
    }
}

/// Says `event` on stderr when the settings and the terminal allow it.
pub fn say(settings: Option<&Settings>, event: Event<'_>) {
    say_labelled(settings, event, None)
}

/// [`say`] with the label of [`text_labelled`].
pub fn say_labelled(settings: Option<&Settings>, event: Event<'_>, label: Option<&str>) {
    let mode = settings.map_or(Announce::Auto, |s| s.announce);
    let on = match mode {
        Announce::Never => false,
        Announce::Always => true,
        Announce::Auto => std::io::stderr().is_terminal(),
    };
    if on {
        eprintln!(
            "awsenv: {}",
            text_labelled(&event, timefmt::now_epoch(), label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sts::Creds;

    fn resolved(role: Option<&str>) -> Resolved {
        Resolved {
            profile: "calvin".into(),
            creds: Creds {
                access_key_id: "ASIAX".into(),
                secret_access_key: "s".into(),
                session_token: Some("t".into()),
                expiration: Some(1000 + 59 * 60),
            },
            region: Some("us-east-2".into()),
            region_source: None,
            role_arn: role.map(String::from),
        }
    }

    #[test]
    fn a_role_named_file_says_which_profile_was_chosen() {
        let r = resolved(Some("arn:aws:iam::222222222222:role/productionEC2Full"));
        assert_eq!(
            text_labelled(
                &Event::Activated(&r),
                1000,
                Some("productionEC2Full (222222222222) via profile calvin")
            ),
            "productionEC2Full (222222222222) via profile calvin, us-east-2, 59m"
        );
    }

    #[test]
    fn lines_say_profile_role_account_region_and_time_left() {
        let r = resolved(Some("arn:aws:iam::222222222222:role/ops/productionEC2Full"));
        assert_eq!(
            text(&Event::Activated(&r), 1000),
            "calvin → productionEC2Full (222222222222), us-east-2, 59m"
        );
        assert_eq!(
            text(
                &Event::Switched {
                    from: "dev",
                    to: &r
                },
                1000
            ),
            "calvin → productionEC2Full (222222222222), us-east-2, 59m (was dev)"
        );
        let k = resolved(None);
        assert_eq!(
            text(&Event::RefreshedWithCode(&k), 1000),
            "calvin → a session of its own keys, us-east-2, 59m (refreshed)"
        );
        assert_eq!(
            text(&Event::Deactivated("calvin"), 1000),
            "calvin deactivated; the environment from before is back"
        );
    }

    #[test]
    fn outside_text_is_shown_printable() {
        let mut r = resolved(Some("arn:aws:iam::111111111111:role/a\x1b[2Jb"));
        r.profile = "p\x07".into();
        let t = text(&Event::Activated(&r), 1000);
        assert!(!t.contains('\x1b') && !t.contains('\x07'), "{t:?}");
        assert!(
            t.contains("(111111111111)"),
            "the role part is shown: {t:?}"
        );
    }
}
