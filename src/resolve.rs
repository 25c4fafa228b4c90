//! Resolution: from a profile name to credentials, through the session cache.
//!
//! Follows `source_profile` to the root (stored keys or `credential_process`), gets an MFA
//! session with GetSessionToken (unless `--no-session`), then assumes each `role_arn` on the way
//! back to the requested profile. Every STS result is cached in the secret store under a key
//! made of everything that shapes it, and used while more than `refresh_window` remains. A
//! cross-process lock around "check cache, call STS, store" makes parallel cold invocations do
//! one call and ask for one code.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::awsconfig::{AwsConfig, Profile};
use crate::settings::Settings;
use crate::store::{self, Kind, SecretStore, Unreadable, lock};
use crate::sts::{self, Creds, Endpoint};
use crate::timefmt::now_epoch;

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

/// Long-term keys as kept in the store (`keys/<profile>`).
#[derive(Serialize, Deserialize)]
pub struct StoredKeys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// When IAM created the key (epoch seconds), when known (`awsenv rotate` records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// When the key was stored in awsenv (epoch seconds; entries older than this field lack
    /// it): the key is at least this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<i64>,
}

impl Drop for StoredKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

/// A cached session as kept in the store (`session/<digest>`).
#[derive(Serialize, Deserialize)]
pub struct CacheEntry {
    /// `session` (GetSessionToken) or `role` (AssumeRole).
    pub kind: String,
    /// The profile it was made for.
    pub profile: String,
    /// The role, for `role` entries.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The credentials.
    pub creds: Creds,
}

/// Everything that shapes one cached result.
#[derive(Serialize)]
struct CacheKey<'a> {
    kind: &'a str,
    profile: &'a str,
    upstream: &'a str,
    role_arn: Option<&'a str>,
    session_name: Option<&'a str>,
    external_id: Option<&'a str>,
    source_identity: Option<&'a str>,
    mfa_serial: Option<&'a str>,
    duration: u64,
    no_session: bool,
    endpoint: Option<&'a str>,
}

impl CacheKey<'_> {
    fn store_key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let d: String = Sha256::digest(&json)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("session/{d}")
    }
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

/// The local user name, as the default `role_session_name` (cleaned to STS's alphabet).
pub fn local_user() -> String {
    let raw = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(passwd_name)
        .unwrap_or_else(|| "awsenv".into());
    let mut s: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('_');
    }
    s
}

fn passwd_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into our buffers; we check its result before reading.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(
            libc::getuid(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        ) != 0
            || out.is_null()
        {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The longest AssumeRole that AWS allows with temporary credentials (role chaining, which
/// includes a GetSessionToken MFA session): one hour.
pub const CHAIN_LIMIT: Duration = Duration::from_secs(3600);

fn shown(d: Duration) -> String {
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
                "temporary credentials (credential_process or IAM Identity Center)".to_string()
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
        let value = self.store.get(&store::keys_key(profile)).map_err(|e| {
            if store::damaged(&e).is_some() {
                anyhow!(
                    "the stored keys of profile {profile} cannot be read: {}; the file is kept: restore it from a backup, or store the keys again with 'awsenv add {profile} --force'",
                    crate::awsconfig::one_line(&format!("{e:#}"))
                )
            } else {
                e
            }
        })?;
        match value {
            None => Ok(None),
            Some(v) => serde_json::from_str(&v)
                .map(Some)
                .map_err(|_| anyhow!("the stored keys of profile {profile} are unreadable; store them again with 'awsenv add {profile} --force'")),
        }
    }

    /// The cached session under `key`. A damaged entry (it cannot be decrypted or read) is
    /// dropped with a note and reads as absent, so that it is fetched again.
    fn cached(&self, key: &str) -> Result<Option<CacheEntry>> {
        let value = match self.store.get(key) {
            Ok(v) => v,
            Err(e) => match store::damaged(&e) {
                Some(d) => {
                    let what = d.to_string();
                    self.drop_damaged(key, &what)?;
                    return Ok(None);
                }
                None => return Err(e),
            },
        };
        let Some(v) = value else { return Ok(None) };
        match serde_json::from_str::<CacheEntry>(&v) {
            Ok(e) => match crate::credcheck::well_formed(&e.creds) {
                Ok(()) => Ok(Some(e)),
                Err(why) => {
                    self.drop_damaged(key, &format!("{key} holds a malformed session: {why}"))?;
                    Ok(None)
                }
            },
            Err(_) => {
                self.drop_damaged(key, &format!("{key} holds no session awsenv can read"))?;
                Ok(None)
            }
        }
    }

    fn drop_damaged(&self, key: &str, what: &str) -> Result<()> {
        eprintln!(
            "awsenv: note: dropped a damaged cached session ({}); it is fetched again",
            crate::awsconfig::one_line(what)
        );
        self.store
            .delete(key)
            .with_context(|| format!("cannot drop the damaged cached session {key}"))?;
        Ok(())
    }

    fn fresh_enough(&self, c: &Creds) -> bool {
        c.fresh(self.settings.refresh_window.as_secs() as i64, now_epoch())
    }

    async fn cached_or<F, Fut>(
        &self,
        key: &CacheKey<'_>,
        role_arn: Option<&str>,
        call: F,
    ) -> Result<Creds>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Creds>>,
    {
        let skey = key.store_key();
        if let Some(e) = self.cached(&skey)?
            && self.fresh_enough(&e.creds)
        {
            return Ok(e.creds);
        }
        let _guard = lock::acquire(&skey)?;
        // Another process may have done the work while we waited for the lock.
        if let Some(e) = self.cached(&skey)?
            && self.fresh_enough(&e.creds)
        {
            return Ok(e.creds);
        }
        let creds = call().await?;
        let entry = CacheEntry {
            kind: key.kind.to_string(),
            profile: key.profile.to_string(),
            role_arn: role_arn.map(str::to_string),
            creds,
        };
        let json =
            serde_json::to_string(&entry).map_err(|e| anyhow!("cannot encode cache entry: {e}"))?;
        self.store
            .set(&skey, &json)
            .context("cannot cache the session")?;
        Ok(entry.creds.clone())
    }

    async fn base_credentials(&self, root: &Profile, region: Option<&str>) -> Result<Creds> {
        if let Some(role) = crate::sso::role_of(&self.config, root)? {
            return self.sso_credentials(&role).await;
        }
        if root.get(crate::login_session::KEY).is_some() {
            return crate::login_session::credentials(root, region).await;
        }
        if let Some(cmd) = root.get("credential_process") {
            use aws_credential_types::provider::ProvideCredentials;
            let provider =
                aws_config::credential_process::CredentialProcessProvider::new(cmd.to_string());
            let c = provider.provide_credentials().await.map_err(|e| {
                anyhow!(
                    "profile {}: credential_process failed: {}",
                    root.name,
                    crate::awsconfig::one_line(&format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    ))
                )
            })?;
            let creds = Creds {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: c.secret_access_key().to_string(),
                session_token: c.session_token().map(str::to_string),
                expiration: c
                    .expiry()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            };
            crate::credcheck::check(
                &creds,
                &format!("profile {}: credential_process", root.name),
                &format!("check the command {}", sts::printable(cmd.as_bytes(), 80)),
            )?;
            return Ok(creds);
        }
        match self.stored_keys(&root.name)? {
            Some(k) => {
                let creds = Creds {
                    access_key_id: k.access_key_id.clone(),
                    secret_access_key: k.secret_access_key.clone(),
                    session_token: None,
                    expiration: None,
                };
                crate::credcheck::check(
                    &creds,
                    &format!("profile {}: the secret store", root.name),
                    &format!("store them again with 'awsenv add {} --force'", root.name),
                )?;
                Ok(creds)
            }
            None if self.config.has_static_keys(&root.name) => bail!(
                "no keys stored for profile {0}; its keys are in plaintext in {1}: 'awsenv import {0}' moves them into {2}",
                root.name,
                crate::awsconfig::credentials_path_text(),
                self.store.describe()
            ),
            None => bail!(
                "no keys stored for profile {}: run 'awsenv add {}' (keys are kept in {})",
                root.name,
                root.name,
                self.store.describe()
            ),
        }
    }

    /// IAM Identity Center role credentials (GetRoleCredentials) for an SSO root profile,
    /// cached like assumed roles under a key of the start URL, region, account and role.
    async fn sso_credentials(&self, role: &crate::sso::SsoRole) -> Result<Creds> {
        let identity = role.cache_identity();
        let portal = crate::sso::endpoint_override("AWS_ENDPOINT_URL_SSO")?;
        let key = CacheKey {
            kind: "sso",
            profile: &role.profile,
            upstream: &identity,
            role_arn: None,
            session_name: None,
            external_id: None,
            source_identity: None,
            mfa_serial: None,
            duration: 0,
            no_session: false,
            endpoint: portal.as_deref(),
        };
        let label = role.label();
        self.cached_or(&key, Some(&label), || {
            crate::sso::role_credentials(&*self.store, &self.settings, role)
        })
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
        .with_limits(self.settings.sts_timeout, 3);
        let roles: Vec<&Profile> = chain
            .iter()
            .filter(|p| p.get("role_arn").is_some())
            .collect();
        let base = self
            .base_credentials(root, region.as_ref().map(|r| r.0.as_str()))
            .await?;
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
        // A role's cached session is keyed by what it was assumed from: the long-term key, or
        // for an `aws login` root the sign-in session (its access key changes every refresh).
        let mut upstream = match root.get(crate::login_session::KEY) {
            Some(arn) => format!("{}:login:{}", root.name, arn.trim()),
            None => format!("{}:{}", root.name, base.access_key_id),
        };
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

        let mut last_role = None;
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

    /// Removes cached sessions: all, or those made for `profile` (and profiles built on it);
    /// returns how many. Damaged cached sessions are removed too (see [`Engine::clear_report`]).
    pub fn clear(&self, profile: Option<&str>) -> Result<usize> {
        let r = self.clear_report(profile)?;
        Ok(r.sessions + r.damaged_dropped)
    }

    /// [`Engine::clear`], saying what it did: removed sessions, damaged cached sessions
    /// dropped (whatever their profile: they cannot be read, so nobody can use them), and
    /// unreadable entries that are not caches (kept, never dropped).
    pub fn clear_report(&self, profile: Option<&str>) -> Result<Cleared> {
        let listing = self.store.list()?;
        let mut report = Cleared::default();
        for key in listing
            .keys
            .iter()
            .filter(|k| store::kind_of(k) == Kind::Cache)
        {
            let matches = match profile {
                None => true,
                Some(p) => match self.cached(key)? {
                    Some(e) => {
                        e.profile == p
                            || self
                                .config
                                .chain(&e.profile)
                                .map(|c| c.iter().any(|x| x.name == p))
                                .unwrap_or(false)
                    }
                    None => false,
                },
            };
            if matches && self.store.delete(key)? {
                report.sessions += 1;
            }
        }
        for u in listing.unreadable {
            if u.kind == Some(Kind::Cache) {
                if self.store.drop_unreadable(&u)? {
                    report.damaged_dropped += 1;
                }
            } else {
                report.kept.push(u);
            }
        }
        Ok(report)
    }

    /// Every cached session entry that can be read.
    pub fn sessions(&self) -> Result<Vec<CacheEntry>> {
        Ok(self.inventory()?.sessions)
    }

    /// What the store holds, for `awsenv list`: keys, readable sessions and unreadable
    /// entries (listed, not dropped). Fails only when the store as a whole cannot be read.
    pub fn inventory(&self) -> Result<Inventory> {
        let listing = self.store.list()?;
        let mut inv = Inventory {
            unreadable: listing.unreadable,
            ..Inventory::default()
        };
        for key in listing.keys {
            if store::kind_of(&key) != Kind::Cache {
                inv.keys.push(key);
                continue;
            }
            let unreadable = |why: String| Unreadable {
                kind: Some(Kind::Cache),
                location: format!("{key} in {}", self.store.describe()),
                why,
                key: Some(key.clone()),
            };
            match self.store.get(&key) {
                Ok(Some(v)) => match serde_json::from_str::<CacheEntry>(&v) {
                    Ok(e) => inv.sessions.push(e),
                    Err(_) => inv
                        .unreadable
                        .push(unreadable("no session awsenv can read".into())),
                },
                Ok(None) => {}
                Err(e) => match store::damaged(&e) {
                    Some(d) => inv.unreadable.push(unreadable(d.why.clone())),
                    None => return Err(e),
                },
            }
        }
        Ok(inv)
    }
}

// ---------------------------------------------------------------------------------------------
// Key rotation support (`awsenv rotate`, src/rotate.rs): the MFA session of a root
// profile's keys for the IAM calls, and carrying cached sessions over to a new key. Kept apart
// from `resolve` on purpose; it mirrors the session step of [`Engine::resolve`] (same cache
// key), and tests/rotate.rs proves that `use` finds what it carries.
// ---------------------------------------------------------------------------------------------

/// Where `use` caches the GetSessionToken session of the profiles built on a root's keys: one
/// spot per distinct MFA device and STS endpoint override.
struct SessionSpot {
    /// The MFA device of the chain (the nearest `mfa_serial` from the requested profile).
    serial: Option<String>,
    /// The chain's `mfa_process`.
    mfa_process: Option<String>,
    /// The STS endpoint the session is made at.
    ep: Endpoint,
}

impl Engine {
    /// The spots of every profile whose `source_profile` chain starts at `root`, `root`'s own
    /// first.
    fn session_spots(&self, root: &str) -> Vec<SessionSpot> {
        let default = self
            .config
            .has("default")
            .then(|| self.config.profile("default").ok())
            .flatten();
        let mut names = self.config.names();
        names.retain(|n| n != root);
        names.insert(0, root.to_string());
        let mut spots: Vec<SessionSpot> = Vec::new();
        for name in names {
            let Ok(chain) = self.config.chain(&name) else {
                continue;
            };
            let (Some(first), Some(target)) = (chain.first(), chain.last()) else {
                continue;
            };
            if first.name != root {
                continue;
            }
            let serial = chain
                .iter()
                .rev()
                .find_map(|p| p.get("mfa_serial"))
                .map(str::to_string);
            let mfa_process = chain
                .iter()
                .rev()
                .find_map(|p| p.get("mfa_process"))
                .map(str::to_string);
            let region = pick_region(&Request::default(), &chain, default.as_ref())
                .ok()
                .flatten();
            let ep = Endpoint::new(
                region.as_ref().map(|r| r.0.as_str()),
                target.get("endpoint_url"),
            )
            .with_limits(self.settings.sts_timeout, 3);
            if !spots
                .iter()
                .any(|s| s.serial == serial && s.ep.url == ep.url)
            {
                spots.push(SessionSpot {
                    serial,
                    mfa_process,
                    ep,
                });
            }
        }
        spots
    }

    /// The store key of the session `use` caches at `spot` for key `key_id` of `root`.
    fn spot_key(&self, root: &str, key_id: &str, spot: &SessionSpot) -> String {
        let upstream = format!("{root}:{key_id}");
        CacheKey {
            kind: "session",
            profile: root,
            upstream: &upstream,
            role_arn: None,
            session_name: None,
            external_id: None,
            source_identity: None,
            mfa_serial: spot.serial.as_deref(),
            duration: self.settings.session_ttl.as_secs(),
            no_session: false,
            endpoint: spot.ep.url.as_deref(),
        }
        .store_key()
    }

    /// The MFA device that guards the keys of root profile `root`: its own `mfa_serial`, else
    /// the one device that the profiles built on it name (none when they name none, or
    /// several).
    pub fn keys_mfa_serial(&self, root: &str) -> Option<String> {
        let spots = self.session_spots(root);
        if let Some(own) = spots.first().and_then(|s| s.serial.clone()) {
            return Some(own);
        }
        let mut serials = spots.iter().filter_map(|s| s.serial.clone());
        let first = serials.next()?;
        serials.all(|s| s == first).then_some(first)
    }

    /// The MFA session of the keys `keys` of root profile `root` ([`Engine::keys_mfa_serial`]):
    /// the GetSessionToken session `use` caches, else (when `may_ask`) a new one, made with a
    /// code from `mfa_token`, `mfa_process` or the terminal and cached where `use` finds it.
    /// `None` when no MFA device applies, or when none is cached and `may_ask` is false.
    pub async fn keys_session(
        &self,
        root: &str,
        keys: &Creds,
        mfa_token: Option<&str>,
        may_ask: bool,
    ) -> Result<Option<Creds>> {
        let Some(serial) = self.keys_mfa_serial(root) else {
            return Ok(None);
        };
        let spots: Vec<SessionSpot> = self
            .session_spots(root)
            .into_iter()
            .filter(|s| s.serial.as_deref() == Some(serial.as_str()))
            .collect();
        for spot in &spots {
            if let Some(e) = self.cached(&self.spot_key(root, &keys.access_key_id, spot))?
                && self.fresh_enough(&e.creds)
            {
                return Ok(Some(e.creds));
            }
        }
        let Some(spot) = spots.first().filter(|_| may_ask) else {
            return Ok(None);
        };
        let upstream = format!("{root}:{}", keys.access_key_id);
        let duration = self.settings.session_ttl;
        let key = CacheKey {
            kind: "session",
            profile: root,
            upstream: &upstream,
            role_arn: None,
            session_name: None,
            external_id: None,
            source_identity: None,
            mfa_serial: Some(&serial),
            duration: duration.as_secs(),
            no_session: false,
            endpoint: spot.ep.url.as_deref(),
        };
        let creds = self
            .cached_or(&key, None, || async {
                let code = crate::mfa::code(&serial, mfa_token, spot.mfa_process.as_deref(), root)?;
                sts::get_session_token(
                    &spot.ep,
                    keys,
                    duration,
                    Some((&serial, &code)),
                    &sts::Context {
                        profile: root,
                        root,
                        mfa_serial: Some(&serial),
                        what: "GetSessionToken".into(),
                    },
                )
                .await
            })
            .await?;
        Ok(Some(creds))
    }

    /// Copies the GetSessionToken sessions cached for key `old_id` of root profile `root` to
    /// where `use` looks for them once the stored key is `new_id`, so that a rotation needs no
    /// new MFA code (temporary credentials outlive the key that made them). Sessions already
    /// there are kept. Returns how many were copied.
    pub fn carry_sessions(&self, root: &str, old_id: &str, new_id: &str) -> Result<usize> {
        let mut n = 0;
        for spot in self.session_spots(root) {
            let Some(entry) = self.cached(&self.spot_key(root, old_id, &spot))? else {
                continue;
            };
            if !self.fresh_enough(&entry.creds) {
                continue;
            }
            let to = self.spot_key(root, new_id, &spot);
            if self.cached(&to)?.is_some() {
                continue;
            }
            let json = zeroize::Zeroizing::new(
                serde_json::to_string(&entry)
                    .map_err(|e| anyhow!("cannot encode cache entry: {e}"))?,
            );
            self.store
                .set(&to, &json)
                .context("cannot cache the session for the new key")?;
            n += 1;
        }
        Ok(n)
    }
}

/// What [`Engine::clear_report`] did.
#[derive(Default, Debug)]
pub struct Cleared {
    /// Cached sessions removed.
    pub sessions: usize,
    /// Damaged cached sessions removed.
    pub damaged_dropped: usize,
    /// Unreadable entries that are not caches: kept.
    pub kept: Vec<Unreadable>,
}

/// What the store holds (see [`Engine::inventory`]).
#[derive(Default)]
pub struct Inventory {
    /// Keys of readable entries that are not caches (`keys/<profile>`, …).
    pub keys: Vec<String>,
    /// Readable cached sessions.
    pub sessions: Vec<CacheEntry>,
    /// Entries that cannot be read.
    pub unreadable: Vec<Unreadable>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
