//! The session cache: every STS (and IAM Identity Center) result kept in the secret store under
//! a key made of everything that shapes it, used while more than `refresh_window` remains, with
//! a cross-process lock around "check cache, call, store"; and what `list` and `clear` see of it.

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Engine;
use crate::store::{self, Kind, Unreadable, lock};
use crate::sts::Creds;
use crate::timefmt::now_epoch;

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

/// Everything that shapes one cached result (its digest is the store key: changing a field
/// or its order orphans every cached session).
#[derive(Serialize)]
pub(crate) struct CacheKey<'a> {
    pub(crate) kind: &'a str,
    pub(crate) profile: &'a str,
    pub(crate) upstream: &'a str,
    pub(crate) role_arn: Option<&'a str>,
    pub(crate) session_name: Option<&'a str>,
    pub(crate) external_id: Option<&'a str>,
    pub(crate) source_identity: Option<&'a str>,
    pub(crate) mfa_serial: Option<&'a str>,
    pub(crate) duration: u64,
    pub(crate) no_session: bool,
    pub(crate) endpoint: Option<&'a str>,
}

impl CacheKey<'_> {
    /// The store key: `session/<digest>`.
    pub(crate) fn store_key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let d: String = Sha256::digest(&json)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("session/{d}")
    }
}

impl Engine {
    /// The cached session under `key`. A damaged entry (it cannot be decrypted or read) is
    /// dropped with a note and reads as absent, so that it is fetched again.
    pub(crate) fn cached(&self, key: &str) -> Result<Option<CacheEntry>> {
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

    /// Whether `c` outlasts `refresh_window`.
    pub(crate) fn fresh_enough(&self, c: &Creds) -> bool {
        c.fresh(self.settings.refresh_window.as_secs() as i64, now_epoch())
    }

    /// The fresh cached result under `key`, else `call`'s, stored there (`role_arn` is what
    /// `list` shows of it); under a cross-process lock, so parallel callers make one call.
    pub(crate) async fn cached_or<F, Fut>(
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
