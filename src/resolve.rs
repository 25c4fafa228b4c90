//! Resolution: from a profile name to credentials, through the session cache.
//!
//! Follows `source_profile` to the root, whose credentials come from its source (`src/source/`:
//! stored keys, `credential_process`, IAM Identity Center, …), gets an MFA session with
//! GetSessionToken from long-term keys (unless `--no-session`), then assumes each `role_arn` on
//! the way back to the requested profile. Every STS result is cached in the secret store under a
//! key made of everything that shapes it, and used while more than `refresh_window` remains
//! (`resolve/cache.rs`). A cross-process lock around "check cache, call STS, store" makes
//! parallel cold invocations do one call and ask for one code.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::awsconfig::{AwsConfig, Profile};
use crate::settings::Settings;
use crate::source::{self, Cx};
use crate::store::{self, SecretStore};
use crate::sts::{self, Creds, Endpoint};

mod cache;
mod plan;

pub use crate::source::local_user;
/// Long-term keys as kept in the store (see [`crate::source::stored_keys`]).
pub use crate::source::stored_keys::StoredKeys;
pub(crate) use cache::CacheKey;
pub use cache::{CacheEntry, Cleared, Inventory};
use plan::shown;
pub use plan::{CHAIN_LIMIT, Hop, is_region_name, pick_region, plan_hops};

/// What the caller asks for.
#[derive(Default, Clone)]
pub struct Request {
    /// The profile to resolve.
    pub profile: String,
    /// `--mfa-token`.
    pub mfa_token: Option<String>,
    /// `--duration` (for the final role, or the session when there is no role).
    pub duration: Option<Duration>,
    /// `--no-session`.
    pub no_session: bool,
    /// `--region`.
    pub region: Option<String>,
    /// Where `region` came from when it was not `--region` (e.g. `.awsprofile`).
    pub region_source: Option<String>,
}

/// The result of a resolution.
#[derive(Debug)]
pub struct Resolved {
    /// The requested profile.
    pub profile: String,
    /// Credentials to export.
    pub creds: Creds,
    /// The region, when known.
    pub region: Option<String>,
    /// Where the region came from: `--region`, `.awsprofile`, `profile NAME`, `[default]`.
    pub region_source: Option<String>,
    /// The role assumed last, if any.
    pub role_arn: Option<String>,
}

/// The request for a profile with the common options.
pub fn request(profile: &str, opts: &crate::cli::ResolveOpts) -> Result<Request> {
    let duration = opts
        .duration
        .as_deref()
        .map(|d| {
            crate::timefmt::parse_duration(d).ok_or_else(|| {
                anyhow!(
                    "--duration {} is not a duration (e.g. 1h, 45m, 3600)",
                    crate::sanitize::quoted(d.as_bytes(), 40)
                )
            })
        })
        .transpose()?;
    // The bounds every kind of credential shares; a role's tighter 12 h is checked once the
    // profile is known (see plan_hops).
    if let Some(d) = duration {
        if d.as_secs() < 900 {
            bail!("--duration must be at least 15m: AWS issues no shorter credentials");
        }
        if d.as_secs() > 129_600 {
            bail!("--duration must be at most 36h (GetSessionToken's limit; a role's is 12h)");
        }
    }
    if let Some(r) = &opts.region
        && !is_region_name(r)
    {
        let from = opts.region_source.as_deref().unwrap_or("--region");
        bail!(
            "{from}: {} is not a region name (e.g. eu-west-1)",
            crate::sanitize::quoted(r.as_bytes(), 40)
        );
    }
    Ok(Request {
        profile: profile.to_string(),
        mfa_token: opts.mfa_token.clone(),
        duration,
        no_session: opts.no_session,
        region: opts.region.clone(),
        region_source: opts
            .region
            .as_ref()
            .and(opts.region_source.clone())
            .or_else(|| opts.region.as_ref().map(|_| "--region".to_string())),
    })
}

/// The resolution engine: settings, AWS config, and the secret store.
pub struct Engine {
    /// Effective settings.
    pub settings: Settings,
    /// The AWS config.
    pub config: AwsConfig,
    /// The secret store.
    pub store: Box<dyn SecretStore>,
}

impl Engine {
    /// Loads settings and config and opens the store.
    pub async fn open() -> Result<Engine> {
        let settings = Settings::load()?;
        let config = AwsConfig::load().await?;
        let store = store::open(&settings)?;
        Ok(Engine {
            settings,
            config,
            store,
        })
    }

    /// The long-term keys stored for `profile`.
    pub fn stored_keys(&self, profile: &str) -> Result<Option<StoredKeys>> {
        source::stored_keys::read(&*self.store, profile)
    }

    /// What the credential sources may use, with the STS endpoint of this resolution.
    fn cx<'a>(&'a self, sts: &'a Endpoint) -> Cx<'a> {
        Cx {
            config: &self.config,
            settings: &self.settings,
            store: &*self.store,
            sts,
        }
    }

    /// The credentials of root profile `root` from its source, through the session cache when
    /// the source allows it.
    async fn base_credentials(
        &self,
        cx: &Cx<'_>,
        src: &dyn source::Source,
        root: &Profile,
    ) -> Result<Creds> {
        let Some(spec) = src.cache(cx, root)? else {
            return src.fetch(cx, root).await;
        };
        let key = CacheKey {
            kind: spec.kind,
            profile: &root.name,
            upstream: &spec.upstream,
            role_arn: None,
            session_name: None,
            external_id: None,
            source_identity: None,
            mfa_serial: None,
            duration: 0,
            no_session: false,
            endpoint: spec.endpoint.as_deref(),
        };
        self.cached_or(&key, spec.label.as_deref(), || src.fetch(cx, root))
            .await
    }

    /// Resolves a request to credentials.
    pub async fn resolve(&self, req: &Request) -> Result<Resolved> {
        let chain = self.config.chain(&req.profile)?;
        let (root, target) = match (chain.first(), chain.last()) {
            (Some(r), Some(t)) => (r, t),
            _ => return Err(self.config.unknown(&req.profile)),
        };
        for p in chain.iter().skip(1) {
            source::check_link(p)?;
            if p.get("role_arn").is_none() {
                bail!(
                    "profile {} has source_profile = {} but no role_arn",
                    p.name,
                    p.get("source_profile").unwrap_or_default()
                );
            }
        }
        let mfa_serial = chain.iter().rev().find_map(|p| p.get("mfa_serial"));
        let mfa_process = chain.iter().rev().find_map(|p| p.get("mfa_process"));
        let default = self
            .config
            .has("default")
            .then(|| self.config.profile("default"))
            .transpose()?;
        let region = pick_region(req, &chain, default.as_ref())?;
        let ep = Endpoint::new(
            region.as_ref().map(|r| r.0.as_str()),
            target.get("endpoint_url"),
        )
        .with_limits(self.settings.sts_timeout, 3)
        .with_ca_bundle(target.get("ca_bundle"));
        let cx = self.cx(&ep);
        let src = source::root_of(&cx, root)?;
        // A source that already holds the root's role (web identity) leaves it out of the hops.
        let root_role = src.takes_role().then(|| root.get("role_arn")).flatten();
        let roles: Vec<&Profile> = chain
            .iter()
            .enumerate()
            .filter(|(i, p)| p.get("role_arn").is_some() && !(*i == 0 && root_role.is_some()))
            .map(|(_, p)| p)
            .collect();
        let base = self.base_credentials(&cx, src, root).await?;
        let long_term = base.session_token.is_none();
        let window = self.settings.refresh_window;
        let hops = plan_hops(&roles, req, long_term, self.settings.role_ttl, window)?;
        // The first role is assumed straight from the long-term keys (with the MFA code) when
        // asked for with --no-session, or for longer than role chaining allows.
        let direct = hops.first().is_some_and(|h| !h.chained) && long_term;
        let mk_ctx = |what: String, mfa: bool| sts::Context {
            profile: &req.profile,
            root: &root.name,
            mfa_serial: if mfa { mfa_serial } else { None },
            what,
        };

        let mut current = base.clone();
        let mut upstream = src
            .upstream(root)
            .unwrap_or_else(|| format!("{}:{}", root.name, base.access_key_id));
        let use_session = long_term && !req.no_session && (roles.is_empty() || !direct);
        if use_session {
            let duration = if roles.is_empty() {
                req.duration.unwrap_or(self.settings.session_ttl)
            } else {
                self.settings.session_ttl
            };
            if duration <= window {
                bail!(
                    "{}: the session ({}) would not outlast refresh_window ({}), so it would be renewed at every use; ask for a longer --duration or set a shorter refresh_window",
                    req.profile,
                    shown(duration),
                    shown(window)
                );
            }
            let key = CacheKey {
                kind: "session",
                profile: &root.name,
                upstream: &upstream,
                role_arn: None,
                session_name: None,
                external_id: None,
                source_identity: None,
                mfa_serial,
                duration: duration.as_secs(),
                no_session: false,
                endpoint: ep.url.as_deref(),
            };
            let skey = key.store_key();
            current = self
                .cached_or(&key, None, || async {
                    let code = match mfa_serial {
                        Some(s) => Some(crate::mfa::code(
                            s,
                            req.mfa_token.as_deref(),
                            mfa_process,
                            &req.profile,
                        )?),
                        None => None,
                    };
                    let mfa = mfa_serial.zip(code.as_deref().map(|c| c.as_str()));
                    sts::get_session_token(
                        &ep,
                        &base,
                        duration,
                        mfa,
                        &mk_ctx("GetSessionToken".into(), mfa.is_some()),
                    )
                    .await
                })
                .await?;
            upstream = skey;
        }

        let mut last_role = root_role.map(str::to_string);
        for (i, (p, hop)) in roles.iter().zip(&hops).enumerate() {
            let role_arn = p.get("role_arn").unwrap_or_default();
            let duration = hop.duration;
            let session_name = p
                .get("role_session_name")
                .map(str::to_string)
                .unwrap_or_else(local_user);
            let mfa_here = direct && i == 0 && mfa_serial.is_some();
            let key = CacheKey {
                kind: "role",
                profile: &p.name,
                upstream: &upstream,
                role_arn: Some(role_arn),
                session_name: Some(&session_name),
                external_id: p.get("external_id"),
                source_identity: p.get("source_identity"),
                mfa_serial: if mfa_here || use_session {
                    mfa_serial
                } else {
                    None
                },
                duration: duration.as_secs(),
                no_session: direct,
                endpoint: ep.url.as_deref(),
            };
            let skey = key.store_key();
            let upstream_creds = current.clone();
            current = self
                .cached_or(&key, Some(role_arn), || async {
                    if let Some(w) = &hop.warning {
                        eprintln!("awsenv: {w}");
                    }
                    let code = match (mfa_here, mfa_serial) {
                        (true, Some(s)) => Some(crate::mfa::code(
                            s,
                            req.mfa_token.as_deref(),
                            mfa_process,
                            &req.profile,
                        )?),
                        _ => None,
                    };
                    let mfa = if mfa_here {
                        mfa_serial.zip(code.as_deref().map(|c| c.as_str()))
                    } else {
                        None
                    };
                    let params = sts::AssumeRole {
                        role_arn,
                        session_name: &session_name,
                        duration,
                        external_id: p.get("external_id"),
                        source_identity: p.get("source_identity"),
                        mfa,
                    };
                    sts::assume_role(
                        &ep,
                        &upstream_creds,
                        &params,
                        &mk_ctx(format!("AssumeRole {role_arn}"), mfa.is_some()),
                    )
                    .await
                })
                .await?;
            upstream = skey;
            last_role = Some(role_arn.to_string());
        }
        let (region, region_source) = region.unzip();
        Ok(Resolved {
            profile: req.profile.clone(),
            creds: current,
            region,
            region_source,
            role_arn: last_role,
        })
    }
}
