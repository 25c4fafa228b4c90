//! Key rotation support (`awsenv rotate`): the MFA session of a root profile's keys for the IAM
//! calls, and carrying cached sessions over to a new key. It mirrors the session step of
//! [`Engine::resolve`] (same cache key, see `resolve/cache.rs`), and tests/rotate.rs proves
//! that `use` finds what it carries. The engine knows nothing of it.

use anyhow::{Context as _, Result, anyhow};

use crate::resolve::{CacheKey, Engine, Request, pick_region};
use crate::sts::{self, Creds, Endpoint};

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
            .with_limits(self.settings.sts_timeout, 3)
            .with_ca_bundle(target.get("ca_bundle"));
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
