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
use crate::store::{self, SecretStore, lock};
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
            crate::timefmt::parse_duration(d)
                .ok_or_else(|| anyhow!("--duration {d:?} is not a duration (e.g. 1h, 45m, 3600)"))
        })
        .transpose()?;
    if let Some(d) = duration
        && !(900..=129_600).contains(&d.as_secs())
    {
        bail!("--duration must be between 15m and 36h (AWS limits)");
    }
    if let Some(r) = &opts.region
        && (r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    {
        bail!("--region {r:?} is not a region name (e.g. eu-west-1)");
    }
    Ok(Request {
        profile: profile.to_string(),
        mfa_token: opts.mfa_token.clone(),
        duration,
        no_session: opts.no_session,
        region: opts.region.clone(),
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
        match self.store.get(&store::keys_key(profile))? {
            None => Ok(None),
            Some(v) => serde_json::from_str(&v)
                .map(Some)
                .map_err(|_| anyhow!("the stored keys of profile {profile} are unreadable; store them again with 'awsenv add {profile} --force'")),
        }
    }

    fn cached(&self, key: &str) -> Result<Option<CacheEntry>> {
        Ok(self
            .store
            .get(key)?
            .and_then(|v| serde_json::from_str(&v).ok()))
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

    async fn base_credentials(&self, root: &Profile) -> Result<Creds> {
        if let Some(role) = crate::sso::role_of(&self.config, root)? {
            return self.sso_credentials(&role).await;
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
            return Ok(Creds {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: c.secret_access_key().to_string(),
                session_token: c.session_token().map(str::to_string),
                expiration: c
                    .expiry()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64),
            });
        }
        match self.stored_keys(&root.name)? {
            Some(k) => Ok(Creds {
                access_key_id: k.access_key_id.clone(),
                secret_access_key: k.secret_access_key.clone(),
                session_token: None,
                expiration: None,
            }),
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
        let portal = crate::sso::endpoint_override("AWS_ENDPOINT_URL_SSO");
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
        let region = req
            .region
            .clone()
            .or_else(|| target.get("region").map(str::to_string));
        let ep = Endpoint::new(region.as_deref(), target.get("endpoint_url"));
        let roles: Vec<&Profile> = chain
            .iter()
            .filter(|p| p.get("role_arn").is_some())
            .collect();
        let sso_root = crate::sso::is_sso(root);
        let base = self.base_credentials(root).await?;
        let long_term = base.session_token.is_none();
        let mk_ctx = |what: String, mfa: bool| sts::Context {
            profile: &req.profile,
            root: &root.name,
            mfa_serial: if mfa { mfa_serial } else { None },
            what,
        };

        let mut current = base.clone();
        let mut upstream = format!("{}:{}", root.name, base.access_key_id);
        if long_term && !req.no_session {
            let duration = if roles.is_empty() {
                req.duration.unwrap_or(self.settings.session_ttl)
            } else {
                self.settings.session_ttl
            };
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
        for (i, p) in roles.iter().enumerate() {
            let role_arn = p.get("role_arn").unwrap_or_default();
            let is_last = i + 1 == roles.len();
            let duration = match (is_last, req.duration) {
                (true, Some(d)) => d,
                _ => p
                    .duration_seconds()?
                    .map(Duration::from_secs)
                    .unwrap_or(self.settings.role_ttl),
            };
            if sso_root && duration.as_secs() > 3600 {
                bail!(
                    "profile {}: a role assumed with IAM Identity Center credentials (role chaining) lasts at most 1h; {} asks for {}",
                    p.name,
                    if is_last && req.duration.is_some() {
                        "--duration"
                    } else {
                        "the profile"
                    },
                    humantime::format_duration(duration)
                );
            }
            let session_name = p
                .get("role_session_name")
                .map(str::to_string)
                .unwrap_or_else(local_user);
            let mfa_here = req.no_session && i == 0 && long_term && mfa_serial.is_some();
            let key = CacheKey {
                kind: "role",
                profile: &p.name,
                upstream: &upstream,
                role_arn: Some(role_arn),
                session_name: Some(&session_name),
                external_id: p.get("external_id"),
                source_identity: p.get("source_identity"),
                mfa_serial: if mfa_here || (long_term && !req.no_session) {
                    mfa_serial
                } else {
                    None
                },
                duration: duration.as_secs(),
                no_session: req.no_session,
                endpoint: ep.url.as_deref(),
            };
            let skey = key.store_key();
            let upstream_creds = current.clone();
            current = self
                .cached_or(&key, Some(role_arn), || async {
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
        Ok(Resolved {
            profile: req.profile.clone(),
            creds: current,
            region,
            role_arn: last_role,
        })
    }

    /// Removes cached sessions: all, or those made for `profile` (and profiles built on it).
    pub fn clear(&self, profile: Option<&str>) -> Result<usize> {
        let mut n = 0;
        for key in self.store.keys()? {
            if !key.starts_with("session/") {
                continue;
            }
            let matches = match profile {
                None => true,
                Some(p) => match self.cached(&key)? {
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
            if matches && self.store.delete(&key)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every cached session entry with its store key.
    pub fn sessions(&self) -> Result<Vec<CacheEntry>> {
        let mut v = Vec::new();
        for key in self.store.keys()? {
            if key.starts_with("session/")
                && let Some(e) = self.cached(&key)?
            {
                v.push(e);
            }
        }
        Ok(v)
    }
}
