//! `awsenv rotate PROFILE`: replaces the long-term access key stored for a profile with a new
//! key of the same IAM user, without ever losing access.
//!
//! The steps, in this order (the names are also the test pause points, see [`STEPS`]):
//!
//! 1. `begin`: a journal entry (`rotation/<profile>`, [`crate::store::Kind::Journal`], encrypted
//!    like every entry) records that a rotation started: the user, the old key id, the time. No
//!    secret. Before it: GetCallerIdentity names the user (never the profile name), the MFA
//!    session is found or made, ListAccessKeys checks that the user has room for a second key.
//! 2. `create`: IAM CreateAccessKey.
//! 3. `record`: the journal gets the new key, secret included (only ever inside the encrypted
//!    entry).
//! 4. `verify`: STS GetCallerIdentity with the new key answers as the same user — retried while
//!    IAM spreads the new key, at most `AWSENV_ROTATE_WAIT` (default 60 s), with a progress
//!    line.
//! 5. `carry`: the cached MFA sessions of the old key are copied to where `use` looks for them
//!    with the new key ([`Engine::carry_sessions`]), so no new code is needed.
//! 6. `store`: the profile's keys entry is replaced by the new key, in one atomic write under
//!    the store's lock: a parallel `use` reads the old key or the new one, both working.
//! 7. `mark`: the journal drops the secret and records that the new key is stored.
//! 8. `delete`: IAM DeleteAccessKey of the old key; then the journal is removed.
//!
//! Every failure leaves one working key in the store and says what happened in one line:
//! two keys in IAM already (refused before anything is created); storing the new key fails
//! (the new key is deleted again); the new key never works within the bound (both keys stay in
//! IAM, the old one in the store, the journal keeps the new one for the next `rotate`); deleting
//! the old key fails (the new key is stored and in use, the old key id is named).
//!
//! A process killed between any two steps leaves the journal; the next `rotate` or `list` finds
//! it and finishes the rotation (once the new key is recorded) or rolls it back. awsenv deletes
//! only a key whose id its journal holds: a key IAM lists after a rotation that got no further
//! than `begin` (a lost CreateAccessKey answer, a kill before `record`, or a key an
//! administrator made meanwhile — indistinguishable) is named with the command that deletes
//! it, and left alone. `list` never asks for an MFA code: without a cached session it
//! finishes what needs no IAM call and says to run `rotate` for the rest.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use zeroize::Zeroizing;

use crate::awsconfig::{one_line, printable};
use crate::keyid::masked;
use crate::resolve::{Engine, Request, StoredKeys, pick_region};
use crate::store::{self, lock};
use crate::sts::{self, Creds, Endpoint};
use crate::timefmt::{now_epoch, remaining, rfc3339};

mod delete;
mod iam;
mod journal;
mod recover;
mod sessions;

pub use recover::recover_for_list;

use iam::{Iam, IamError, KeyInfo, iam_endpoint};
use journal::{Journal, Phase};

/// The steps of a rotation, in order; `AWSENV_TEST_PAUSE_AFTER` names the ones to stop after.
pub const STEPS: &[&str] = &[
    "begin", "create", "record", "verify", "carry", "store", "mark", "delete",
];

/// How long the new key may take to start working (`AWSENV_ROTATE_WAIT`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Test hook, harmless otherwise: with `AWSENV_TEST_PAUSE_AFTER=<step>[,<step>…]` the rotation
/// says `awsenv: test pause after <step>` on stderr after that step and waits — until the file
/// `AWSENV_TEST_RESUME` names appears (it is removed, and the rotation goes on), or for ever
/// (the test kills it).
fn pause(step: &str) {
    let Ok(steps) = std::env::var("AWSENV_TEST_PAUSE_AFTER") else {
        return;
    };
    if !steps.split(',').any(|s| s.trim() == step) {
        return;
    }
    eprintln!("awsenv: test pause after {step}");
    let resume = std::env::var_os("AWSENV_TEST_RESUME").map(std::path::PathBuf::from);
    loop {
        if let Some(r) = &resume
            && std::fs::remove_file(r).is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The rotation lock's name: one rotation (or recovery) of a profile at a time.
fn lock_name(profile: &str) -> String {
    format!("rotation/{profile}")
}

/// The user name in an IAM user's ARN (`arn:aws:iam::111111111111:user/PATH/NAME` → `NAME`);
/// `None` for anything else (the account root, an assumed role, a federated user).
pub fn user_name_of(arn: &str) -> Option<&str> {
    let (_, resource) = sts::iam_arn(arn)?;
    let name = resource.strip_prefix("user/")?.rsplit('/').next()?;
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    ok.then_some(name)
}

fn wait_setting() -> Result<Duration> {
    match std::env::var("AWSENV_ROTATE_WAIT") {
        Err(_) => Ok(DEFAULT_WAIT),
        Ok(v) => match crate::timefmt::parse_duration(&v) {
            Some(d) if d <= Duration::from_secs(3600) => Ok(d),
            _ => bail!(
                "AWSENV_ROTATE_WAIT={:?} is not a duration of at most 1h (e.g. 60s, 2m)",
                printable(v.as_bytes(), 40)
            ),
        },
    }
}

/// Who runs the rotation code: `awsenv rotate` (may ask for an MFA code, waits for a new key)
/// or `awsenv list` (never asks, does not wait).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rotate,
    List,
}

/// What finding a journal led to.
enum Outcome {
    /// The interrupted rotation is done; the text says what is stored and what was deleted.
    Finished(String),
    /// Rolled back or cleaned up: the stored key is the one before (the text says what was
    /// undone); a new rotation may start.
    RolledBack(String),
    /// Not finished now (the text says why and what to do); the journal is kept.
    Pending(String),
}

struct Rotation<'a> {
    engine: &'a Engine,
    profile: &'a str,
    mode: Mode,
    no_session: bool,
    mfa_token: Option<&'a str>,
    region: String,
    sts: Endpoint,
    iam_url: Option<String>,
    wait: Duration,
    /// The MFA session the IAM calls use, once known.
    session: RefCell<Option<Creds>>,
    /// For a rotation whose MFA device is named only by role profiles: whether IAM is tried
    /// with the keys themselves (no session cached) — until it refuses, when `rotate` sets
    /// [`KeysFirst::Refused`] and the code is asked for (see [`Rotation::iam`]).
    keys_first: std::cell::Cell<KeysFirst>,
}

/// See [`Rotation::keys_first`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeysFirst {
    /// Not decided yet.
    Undecided,
    /// Signing with the keys.
    Trying,
    /// IAM refused the keys alone: use the MFA session, asking for a code.
    Refused,
}

fn creds_of(k: &StoredKeys) -> Creds {
    Creds {
        access_key_id: k.access_key_id.clone(),
        secret_access_key: k.secret_access_key.clone(),
        session_token: None,
        expiration: None,
    }
}

/// The command that deletes key `id` of the IAM user of `profile`'s stored keys, naming the key
/// by its last four characters only (`awsenv rotate --delete-key`, which finds the full id in
/// IAM itself).
fn delete_hint(profile: &str, id: &str) -> String {
    format!("'awsenv rotate {profile} --delete-key {}'", last_four(id))
}

/// The last four characters of a key id: what `--delete-key` takes (masked ids show them).
fn last_four(id: &str) -> String {
    masked(id).trim_start_matches('*').to_string()
}

impl<'a> Rotation<'a> {
    fn new(
        engine: &'a Engine,
        profile: &'a str,
        mode: Mode,
        no_session: bool,
        mfa_token: Option<&'a str>,
    ) -> Result<Rotation<'a>> {
        let (region, endpoint_url, ca_bundle) = if engine.config.has(profile) {
            let chain = engine.config.chain(profile)?;
            let default = engine
                .config
                .has("default")
                .then(|| engine.config.profile("default"))
                .transpose()?;
            let region = pick_region(&Request::default(), &chain, default.as_ref())?.map(|r| r.0);
            let url = chain
                .last()
                .and_then(|t| t.get("endpoint_url"))
                .map(str::to_string);
            let ca = chain
                .last()
                .and_then(|t| t.get("ca_bundle"))
                .map(str::to_string);
            (region, url, ca)
        } else {
            (None, None, None)
        };
        let sts = Endpoint::new(region.as_deref(), endpoint_url.as_deref())
            .with_limits(engine.settings.sts_timeout, 3)
            .with_ca_bundle(ca_bundle.as_deref());
        Ok(Rotation {
            engine,
            profile,
            mode,
            no_session,
            mfa_token,
            region: region.unwrap_or_else(|| "us-east-1".to_string()),
            sts,
            iam_url: iam_endpoint(endpoint_url.as_deref()),
            wait: if mode == Mode::Rotate {
                wait_setting()?
            } else {
                Duration::ZERO
            },
            session: RefCell::new(None),
            keys_first: std::cell::Cell::new(KeysFirst::Undecided),
        })
    }

    fn stored(&self) -> Result<Option<StoredKeys>> {
        self.engine.stored_keys(self.profile)
    }

    fn write_keys(&self, k: &StoredKeys) -> Result<()> {
        let json = Zeroizing::new(
            serde_json::to_string(k).map_err(|e| anyhow!("cannot encode the keys: {e}"))?,
        );
        self.engine.store.set(&store::keys_key(self.profile), &json)
    }

    fn load_journal(&self) -> Result<Option<Journal>> {
        let Some(v) = self.engine.store.get(&store::rotation_key(self.profile))? else {
            return Ok(None);
        };
        match serde_json::from_str::<Journal>(&v) {
            Ok(j) if j.well_formed() => Ok(Some(j)),
            _ => Err(anyhow!(store::Damaged {
                location: format!(
                    "the journal of the key rotation of profile {} in {}",
                    self.profile,
                    self.engine.store.describe()
                ),
                why: "it is not a journal awsenv wrote".into(),
            })),
        }
    }

    fn save_journal(&self, j: &Journal) -> Result<()> {
        let json = Zeroizing::new(
            serde_json::to_string(j).map_err(|e| anyhow!("cannot encode the journal: {e}"))?,
        );
        self.engine
            .store
            .set(&store::rotation_key(self.profile), &json)
    }

    fn drop_journal(&self) -> Result<()> {
        self.engine
            .store
            .delete(&store::rotation_key(self.profile))
            .map(|_| ())
    }

    /// An IAM client for the keys `keys`: signed with the MFA session when an MFA device
    /// guards them (unless `--no-session`), else with the keys. `None` in `list` when the MFA
    /// session is not cached (it never asks for a code).
    async fn iam(&self, keys: &StoredKeys) -> Result<Option<Iam>> {
        let timeout = self.engine.settings.sts_timeout;
        let url = self.iam_url.as_deref();
        let net = self.sts.net()?;
        let direct = || Iam::new(url, &net, &self.region, &creds_of(keys), timeout);
        if self.no_session || self.engine.keys_mfa_serial(self.profile).is_none() {
            return Ok(Some(direct()));
        }
        if let Some(s) = self.session.borrow().as_ref() {
            return Ok(Some(Iam::new(url, &net, &self.region, s, timeout)));
        }
        // The device is named only by role profiles (the second seed's jan-work): IAM may well
        // not need it for the user's own keys. Use a cached MFA session when there is one, else
        // try the keys themselves and ask for a code only when IAM refuses (see `rotate`).
        let own_device = self
            .engine
            .config
            .profile(self.profile)
            .ok()
            .is_some_and(|p| p.get("mfa_serial").is_some());
        if !own_device && self.mfa_token.is_none() && self.mode == Mode::Rotate {
            match self.keys_first.get() {
                KeysFirst::Trying => return Ok(Some(direct())),
                KeysFirst::Refused => {}
                KeysFirst::Undecided => {
                    let cached = self
                        .engine
                        .keys_session(self.profile, &creds_of(keys), None, false)
                        .await?;
                    return Ok(Some(match cached {
                        Some(s) => {
                            let iam = Iam::new(url, &net, &self.region, &s, timeout);
                            *self.session.borrow_mut() = Some(s);
                            iam
                        }
                        None => {
                            self.keys_first.set(KeysFirst::Trying);
                            direct()
                        }
                    }));
                }
            }
        }
        let found = self
            .engine
            .keys_session(
                self.profile,
                &creds_of(keys),
                self.mfa_token,
                self.mode == Mode::Rotate,
            )
            .await?;
        Ok(found.map(|s| {
            let iam = Iam::new(url, &net, &self.region, &s, timeout);
            *self.session.borrow_mut() = Some(s);
            iam
        }))
    }

    /// The ARN STS names for `creds`, asked once (no retries); the error says why not.
    async fn caller_arn(
        &self,
        creds: &Creds,
        timeout: Duration,
    ) -> std::result::Result<String, String> {
        use aws_sdk_sts::config::retry::RetryConfig;
        use aws_sdk_sts::config::timeout::TimeoutConfig;
        use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
        let mut b = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.sts.region.clone()))
            .credentials_provider(Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                None,
                None,
                "awsenv",
            ))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout.min(Duration::from_secs(5)))
                    .operation_timeout(timeout)
                    .build(),
            )
            .retry_config(RetryConfig::disabled());
        if let Some(u) = &self.sts.url {
            b = b.endpoint_url(u.clone());
        }
        match self.sts.net().and_then(|n| n.sdk_client()) {
            Ok(Some(http)) => b = b.http_client(http),
            Ok(None) => {}
            Err(e) => return Err(format!("{e:#}")),
        }
        let client = aws_sdk_sts::Client::from_conf(b.build());
        match client.get_caller_identity().send().await {
            Ok(out) => Ok(printable(out.arn().unwrap_or_default().as_bytes(), 300)),
            Err(SdkError::ServiceError(se)) => Err(format!(
                "STS refuses it: {}",
                printable(se.err().code().unwrap_or("Unknown").as_bytes(), 60)
            )),
            Err(SdkError::TimeoutError(_)) => Err(format!(
                "STS at {} did not answer in time",
                self.sts.describe()
            )),
            Err(SdkError::DispatchFailure(_)) => {
                Err(format!("cannot reach STS at {}", self.sts.describe()))
            }
            Err(_) => Err(format!(
                "unexpected answer from STS at {}",
                self.sts.describe()
            )),
        }
    }

    /// Waits (at most `wait`; one try when it is zero) until the new key answers as `arn`.
    async fn verify(
        &self,
        new: &Creds,
        arn: &str,
        wait: Duration,
    ) -> std::result::Result<(), String> {
        let start = Instant::now();
        let pause = Duration::from_secs(2);
        let mut said = false;
        loop {
            let left = wait.saturating_sub(start.elapsed());
            let per_try = left
                .min(self.engine.settings.sts_timeout)
                .max(Duration::from_secs(3));
            let why = match self.caller_arn(new, per_try).await {
                Ok(a) if a == arn => return Ok(()),
                Ok(a) => format!("STS answers for it as {a}, not as {arn}"),
                Err(why) => why,
            };
            if start.elapsed() + pause >= wait {
                return Err(why);
            }
            if !said {
                eprintln!(
                    "awsenv: waiting for the new key {} to start working (IAM takes a few seconds to spread a new key; at most {})",
                    masked(&new.access_key_id),
                    remaining(wait.as_secs() as i64)
                );
                said = true;
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// `awsenv rotate`: recover what an interrupted rotation left, then rotate (unless the
    /// recovery finished a rotation). Returns the success line.
    async fn run(&self) -> Result<String> {
        if self.stored()?.is_none() {
            bail!("{}", self.no_keys());
        }
        let _lock = lock::acquire(&lock_name(self.profile))?;
        lock::announce_held(&format!(
            "a key rotation of profile {} in another terminal",
            self.profile
        ));
        match self.recover().await? {
            Some(Outcome::Finished(tail)) => {
                return Ok(format!(
                    "Finished an interrupted key rotation of profile {}: {tail}",
                    self.profile
                ));
            }
            Some(Outcome::RolledBack(m)) => eprintln!("awsenv: {m}"),
            Some(Outcome::Pending(m)) => bail!("{m}"),
            None => {}
        }
        let tail = self.rotate().await?;
        Ok(format!(
            "Rotated the keys of profile {}: {tail}",
            self.profile
        ))
    }

    fn no_keys(&self) -> String {
        let p = self.profile;
        if let Ok(chain) = self.engine.config.chain(p)
            && let Some(root) = chain.first()
            && root.name != p
        {
            return format!(
                "profile {p} signs with the keys of profile {} (its source_profile): rotate those with 'awsenv rotate {}'",
                root.name, root.name
            );
        }
        format!(
            "no keys stored for profile {p}: awsenv rotates the keys it stores ('awsenv add {p}' stores them)"
        )
    }

    /// The IAM user the keys `keys` belong to (GetCallerIdentity): its ARN and name; an error
    /// when they are not an IAM user's (the account root, a role).
    async fn iam_user_of(&self, keys: &StoredKeys) -> Result<(String, String)> {
        let p = self.profile;
        let (_, arn) = sts::caller_identity(
            &self.sts,
            &creds_of(keys),
            &sts::Context {
                profile: p,
                root: p,
                mfa_serial: None,
                what: "GetCallerIdentity".into(),
            },
        )
        .await?;
        let user = user_name_of(&arn).map(str::to_string).ok_or_else(|| {
            anyhow!(
                "profile {p}: its keys belong to {arn}, which is not an IAM user; awsenv rotates the access keys of IAM users"
            )
        })?;
        Ok((arn, user))
    }

    async fn rotate(&self) -> Result<String> {
        let p = self.profile;
        let old = self
            .stored()?
            .ok_or_else(|| anyhow!("{}", self.no_keys()))?;
        let (arn, user) = self.iam_user_of(&old).await?;
        let user = user.as_str();
        let mut iam = self
            .iam(&old)
            .await?
            .ok_or_else(|| anyhow!("profile {p}: no MFA session for IAM"))?;
        let keys = match iam.list_keys(user).await {
            // Signed with the keys first and refused: the policy wants MFA; ask for the code.
            Err(e)
                if self.keys_first.get() == KeysFirst::Trying
                    && matches!(e.code(), Some("AccessDenied" | "AccessDeniedException")) =>
            {
                self.keys_first.set(KeysFirst::Refused);
                iam = self
                    .iam(&old)
                    .await?
                    .ok_or_else(|| anyhow!("profile {p}: no MFA session for IAM"))?;
                iam.list_keys(user).await.map_err(|e| anyhow!("{e}"))?
            }
            r => r.map_err(|e| anyhow!("{e}"))?,
        };
        let old_id = old.access_key_id.as_str();
        let old_shown = masked(old_id);
        if !keys.iter().any(|k| k.id == old_id) {
            bail!(
                "IAM does not list the stored key {old_shown} of profile {p} among the keys of user {user}; nothing was changed"
            );
        }
        if keys.len() >= 2 {
            let others: Vec<String> = keys
                .iter()
                .filter(|k| k.id != old_id)
                .map(|k| {
                    format!(
                        "{} ({}{})",
                        masked(&k.id),
                        if k.active { "active" } else { "inactive" },
                        k.created
                            .map(|c| format!(", created {}", rfc3339(c)))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let first = keys
                .iter()
                .find(|k| k.id != old_id)
                .map(|k| k.id.clone())
                .unwrap_or_default();
            bail!(
                "IAM user {user} already has two access keys, its limit: {old_shown} (stored for profile {p}) and {}; delete the one you do not use, e.g. {}, then run 'awsenv rotate {p}' again; nothing was changed",
                others.join(", "),
                delete_hint(p, &first)
            );
        }
        let mut j = Journal {
            phase: Phase::Begun,
            user_name: user.to_string(),
            user_arn: arn.clone(),
            old_key_id: old_id.to_string(),
            started: now_epoch(),
            new_key_id: None,
            new_secret: None,
            new_created: None,
        };
        self.save_journal(&j).map_err(|e| {
            anyhow!(
                "cannot start the rotation of profile {p}: cannot write its journal to {}: {}; nothing was changed",
                self.engine.store.describe(),
                one_line(&format!("{e:#}"))
            )
        })?;
        pause("begin");
        let new = match iam.create_key(user).await {
            Ok(k) => k,
            Err(e) => {
                let after = match self.roll_back_begun(&iam, &j, old_id).await {
                    Ok(text) => text,
                    Err(e2) => format!(
                        "could not check whether IAM made a key anyway ({e2}); the next 'awsenv rotate {p}' or 'awsenv list' checks again"
                    ),
                };
                bail!("{e}; {after}; the key {old_shown} stays in the store and in use");
            }
        };
        pause("create");
        j.phase = Phase::Created;
        j.new_key_id = Some(new.id.clone());
        j.new_secret = Some(new.secret.to_string());
        j.new_created = new.created;
        if let Err(e) = self.save_journal(&j) {
            return Err(self.undo_new_key(&iam, &j, &e).await);
        }
        pause("record");
        if let Err(why) = self.verify(&j.new_creds(), &arn, self.wait).await {
            bail!("{}", self.not_working(&j, &why));
        }
        pause("verify");
        match self.finish_created(&mut j, Some(&iam)).await? {
            Outcome::Finished(tail) => Ok(tail),
            Outcome::RolledBack(m) | Outcome::Pending(m) => bail!("{m}"),
        }
    }

    fn not_working(&self, j: &Journal, why: &str) -> String {
        format!(
            "the new key {} of IAM user {} did not start working within {} ({why}): both keys stay in IAM and the old key {} stays in the store and in use; run 'awsenv rotate {}' again later to finish, or delete the new key with {} to give it up",
            masked(j.new_id()),
            j.user_name,
            remaining(self.wait.as_secs() as i64),
            masked(&j.old_key_id),
            self.profile,
            delete_hint(self.profile, j.new_id())
        )
    }

    /// Storing the new key failed (`why`): delete it again, and say so.
    async fn undo_new_key(&self, iam: &Iam, j: &Journal, why: &anyhow::Error) -> anyhow::Error {
        let undo = match iam.delete_key(&j.user_name, j.new_id()).await {
            Ok(_) => format!("deleted the new key {} again", masked(j.new_id())),
            Err(e) => format!(
                "could not delete the new key {} again ({e}): delete it with {}",
                masked(j.new_id()),
                delete_hint(self.profile, j.new_id())
            ),
        };
        // The store is failing; when this fails too, the next rotate or list cleans up.
        let _ = self.drop_journal();
        anyhow!(
            "storing the new key of profile {} failed ({}); {undo}; the old key {} stays in the store and in use",
            self.profile,
            one_line(&format!("{why:#}")),
            masked(&j.old_key_id)
        )
    }
}

/// `awsenv rotate PROFILE [--no-session] [--mfa-token CODE] [--delete-key LAST4]`.
pub fn command(
    profile: &str,
    no_session: bool,
    mfa_token: Option<&str>,
    delete_key: Option<&str>,
) -> Result<i32> {
    crate::runtime::block_on(async {
        let engine = Engine::open().await?;
        let r = Rotation::new(&engine, profile, Mode::Rotate, no_session, mfa_token)?;
        let line = match delete_key {
            Some(k) => {
                let _lock = lock::acquire(&lock_name(profile))?;
                r.delete_key(k).await?
            }
            None => r.run().await?,
        };
        eprintln!("{line}");
        Ok(0)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_name_comes_from_an_iam_user_arn_only() {
        assert_eq!(
            user_name_of("arn:aws:iam::111111111111:user/calvin"),
            Some("calvin")
        );
        assert_eq!(
            user_name_of("arn:aws:iam::111111111111:user/division/team/jan.work@x"),
            Some("jan.work@x")
        );
        assert_eq!(
            user_name_of("arn:aws-cn:iam::111111111111:user/a"),
            Some("a")
        );
        for not_a_user in [
            "arn:aws:iam::111111111111:root",
            "arn:aws:sts::111111111111:assumed-role/r/s",
            "arn:aws:sts::123456789012:user/moto",
            "arn:aws:iam::1111:user/short-account",
            "arn:aws:iam:eu-west-1:111111111111:user/regional",
            "arn:aws:iam::111111111111:user/",
            "arn:aws:iam::111111111111:user/semi;colon",
            "arn:aws:iam::111111111111:group/g",
            "",
        ] {
            assert_eq!(user_name_of(not_a_user), None, "{not_a_user}");
        }
    }

    fn journal(phase: Phase) -> Journal {
        Journal {
            phase,
            user_name: "calvin".into(),
            user_arn: "arn:aws:iam::111111111111:user/calvin".into(),
            old_key_id: "AKIAOLDOLDOLDOLD0001".into(),
            started: 1_800_000_000,
            new_key_id: Some("AKIANEWNEWNEWNEW0002".into()),
            new_secret: Some("secret/new+KEY".into()),
            new_created: Some(1_800_000_001),
        }
    }

    #[test]
    fn journals_are_checked_before_they_are_trusted() {
        assert!(journal(Phase::Created).well_formed());
        let mut j = journal(Phase::Created);
        j.new_secret = None;
        assert!(!j.well_formed(), "a created key without its secret");
        let mut j = journal(Phase::Stored);
        j.new_key_id = Some("AKIA NEW".into());
        assert!(!j.well_formed(), "a key id that is not one");
        let mut j = journal(Phase::Begun);
        j.user_name = "hobbes".into();
        assert!(!j.well_formed(), "a user name that is not the ARN's");
        let mut j = journal(Phase::Begun);
        j.new_key_id = None;
        j.new_secret = None;
        assert!(j.well_formed());
    }

    #[test]
    fn every_step_is_a_pause_point_once() {
        let mut s = STEPS.to_vec();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 8);
    }
}
