//! Planning a resolution before any call: the region, the default session name, and how each
//! role of the `source_profile` chain is assumed (its duration, whether it is role chaining).

use std::time::Duration;

use anyhow::{Result, bail};

use super::Request;
use crate::awsconfig::Profile;

/// The longest AssumeRole that AWS allows with temporary credentials (role chaining, which
/// includes a GetSessionToken MFA session): one hour.
pub const CHAIN_LIMIT: Duration = Duration::from_secs(3600);

pub(crate) fn shown(d: Duration) -> String {
    crate::timefmt::remaining(d.as_secs() as i64)
}

/// Whether `r` looks like a region name (`eu-west-1`): lowercase letters, digits and dashes.
pub fn is_region_name(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 64
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The region and where it came from: the request's (`--region`, or what the caller named, such
/// as `.awsprofile`), else the profile's, else the nearest one up the `source_profile` chain,
/// else `[default]`'s. `chain` runs from the root (first) to the requested profile (last).
pub fn pick_region(
    req: &Request,
    chain: &[Profile],
    default: Option<&Profile>,
) -> Result<Option<(String, String)>> {
    if let Some(r) = &req.region {
        let from = req
            .region_source
            .clone()
            .unwrap_or_else(|| "--region".to_string());
        return Ok(Some((r.clone(), from)));
    }
    let found = chain
        .iter()
        .rev()
        .find_map(|p| p.get("region").map(|r| (r, format!("profile {}", p.name))))
        .or_else(|| {
            default
                .and_then(|d| d.get("region"))
                .map(|r| (r, "[default]".to_string()))
        });
    match found {
        None => Ok(None),
        Some((r, from)) if is_region_name(r.trim()) => Ok(Some((r.trim().to_string(), from))),
        Some((r, from)) => bail!(
            "{from}: region = {} is not a region name (e.g. eu-west-1); fix it in {}",
            crate::sanitize::quoted(r.as_bytes(), 40),
            crate::awsconfig::config_path_text()
        ),
    }
}

/// How one role of the chain is assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// `DurationSeconds`.
    pub duration: Duration,
    /// Whether it is assumed with temporary credentials (role chaining, at most one hour).
    pub chained: bool,
    /// Said on stderr when the role is assumed: its duration was capped at one hour.
    pub warning: Option<String>,
}

/// The duration and kind of each AssumeRole of `roles` (root side first). The first role is
/// assumed directly from long-term keys (`long_term`) with `--no-session`, or when it is asked
/// for longer than one hour; every other AssumeRole is role chaining, which AWS caps at one
/// hour: a longer `duration_seconds` or `role_ttl` is capped with a warning, a longer
/// `--duration` is an error. Durations outside AssumeRole's limits, or not longer than
/// `window` (`refresh_window`), are errors.
pub fn plan_hops(
    roles: &[&Profile],
    req: &Request,
    long_term: bool,
    role_ttl: Duration,
    window: Duration,
) -> Result<Vec<Hop>> {
    let (lo, hi) = crate::settings::ROLE_LIMITS;
    let mut hops = Vec::new();
    for (i, p) in roles.iter().enumerate() {
        let is_last = i + 1 == roles.len();
        let explicit = is_last && req.duration.is_some();
        let (asked, from) = match (is_last, req.duration) {
            (true, Some(d)) => (d, "--duration".to_string()),
            _ => match p.duration_seconds()? {
                Some(s) => (
                    Duration::from_secs(s),
                    format!("profile {}: duration_seconds = {s}", p.name),
                ),
                None => (role_ttl, format!("role_ttl ({})", shown(role_ttl))),
            },
        };
        if !(lo..=hi).contains(&asked.as_secs()) {
            bail!(
                "{from} is outside AWS's limits for AssumeRole ({} to {}); {}",
                shown(Duration::from_secs(lo)),
                shown(Duration::from_secs(hi)),
                if explicit { "ask for less" } else { "fix it" }
            );
        }
        let direct = i == 0 && long_term && (req.no_session || asked > CHAIN_LIMIT);
        let chained = !direct;
        let mut hop = Hop {
            duration: asked,
            chained,
            warning: None,
        };
        if chained && asked > CHAIN_LIMIT {
            let through = if i == 0 {
                "temporary credentials (credential_process, IAM Identity Center or a workload identity)".to_string()
            } else {
                format!("role {}", roles[i - 1].name)
            };
            if explicit {
                bail!(
                    "--duration {}: profile {} is assumed with {through} (role chaining), which AWS caps at 1h; ask for 1h or less",
                    shown(asked),
                    p.name
                );
            }
            hop.duration = CHAIN_LIMIT;
            hop.warning = Some(format!(
                "{from} capped at 1h: profile {} is assumed with {through} (role chaining), which AWS limits to 1h",
                p.name
            ));
        }
        if hop.duration <= window {
            bail!(
                "profile {}: the role's {} would not outlast refresh_window ({}), so it would be assumed again at every use; ask for a longer duration or set a shorter refresh_window",
                p.name,
                shown(hop.duration),
                shown(window)
            );
        }
        hops.push(hop);
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::awsconfig::AwsConfig;

    fn config(text: &str) -> AwsConfig {
        AwsConfig::parse(
            Some(crate::awsconfig::ConfigText { path: "/c", text }),
            None,
        )
        .expect("config")
    }

    const H: Duration = Duration::from_secs(3600);
    const W: Duration = Duration::from_secs(600);

    fn hops(cfg: &AwsConfig, name: &str, req: &Request, long_term: bool) -> Result<Vec<Hop>> {
        let chain = cfg.chain(name)?;
        let roles: Vec<&Profile> = chain
            .iter()
            .filter(|p| p.get("role_arn").is_some())
            .collect();
        plan_hops(&roles, req, long_term, H, W)
    }

    const CHAIN: &str = "[profile base]\nregion = eu-west-1\n[profile r1]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/r1\nduration_seconds = 7200\n[profile r2]\nsource_profile = r1\nrole_arn = arn:aws:iam::1:role/r2\nduration_seconds = 7200\n[profile short]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/s\n";

    #[test]
    fn a_long_first_role_goes_direct_and_a_deeper_one_is_capped() {
        let cfg = config(CHAIN);
        let req = Request::default();
        let h = hops(&cfg, "r2", &req, true).expect("plan");
        assert_eq!(h[0].duration, 2 * H);
        assert!(!h[0].chained);
        assert_eq!(h[1].duration, H);
        assert!(h[1].chained);
        assert!(
            h[1].warning
                .as_deref()
                .is_some_and(|w| w.contains("capped at 1h"))
        );
        let h = hops(&cfg, "short", &req, true).expect("plan");
        assert!(h[0].chained && h[0].duration == H && h[0].warning.is_none());
        // Temporary base credentials: even the first role is chained.
        let h = hops(&cfg, "r1", &req, false).expect("plan");
        assert!(h[0].chained && h[0].duration == H && h[0].warning.is_some());
    }

    #[test]
    fn an_explicit_duration_that_cannot_be_had_is_an_error() {
        let cfg = config(CHAIN);
        let req = Request {
            duration: Some(2 * H),
            ..Request::default()
        };
        let e = format!("{:#}", hops(&cfg, "r2", &req, true).expect_err("chained"));
        assert!(
            e.contains("--duration 2h") && e.contains("caps at 1h"),
            "{e}"
        );
        assert!(!hops(&cfg, "short", &req, true).expect("direct")[0].chained);
        let req = Request {
            duration: Some(13 * H),
            ..Request::default()
        };
        let e = format!("{:#}", hops(&cfg, "short", &req, true).expect_err("limit"));
        assert!(e.contains("outside AWS's limits"), "{e}");
        let cfg = config("[profile x]\nrole_arn = arn:aws:iam::1:role/x\nduration_seconds = 600\n");
        let e = format!(
            "{:#}",
            hops(&cfg, "x", &Request::default(), true).expect_err("short")
        );
        assert!(e.contains("duration_seconds = 600"), "{e}");
    }

    #[test]
    fn region_comes_from_the_nearest_profile_then_default() {
        let cfg = config(&format!(
            "[default]\nregion = ap-south-1\n{CHAIN}[profile lone]\nrole_arn = arn:aws:iam::1:role/l\n"
        ));
        let default = cfg.profile("default").ok();
        let pick = |name: &str, req: &Request| {
            pick_region(req, &cfg.chain(name).expect("chain"), default.as_ref()).expect("region")
        };
        let req = Request::default();
        assert_eq!(
            pick("r2", &req),
            Some(("eu-west-1".into(), "profile base".into()))
        );
        assert_eq!(
            pick("lone", &req),
            Some(("ap-south-1".into(), "[default]".into()))
        );
        let req = Request {
            region: Some("us-west-2".into()),
            region_source: Some(".awsprofile".into()),
            ..Request::default()
        };
        assert_eq!(
            pick("r2", &req),
            Some(("us-west-2".into(), ".awsprofile".into()))
        );
        let cfg = config("[profile bad]\nregion = eu-west-1;x\n");
        let e = pick_region(&Request::default(), &cfg.chain("bad").expect("chain"), None)
            .expect_err("bad region");
        assert!(format!("{e:#}").contains("not a region name"));
    }
}
