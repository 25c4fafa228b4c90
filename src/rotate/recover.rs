//! Finishing or rolling back a rotation that a killed process left half done: what its journal
//! holds decides, and only a key whose id the journal holds is ever deleted.

use anyhow::{Result, anyhow, bail};

use zeroize::Zeroize;

use crate::awsconfig::one_line;
use crate::keyid::masked;
use crate::resolve::{Engine, StoredKeys};
use crate::store::{self, lock};
use crate::timefmt::{now_epoch, rfc3339};

use super::{
    Iam, IamError, Journal, KeyInfo, Mode, Outcome, Phase, Rotation, delete_hint, lock_name, pause,
};

impl Rotation<'_> {
    /// Undoes a rotation that got no further than [`Phase::Begun`]: removes the journal and
    /// deletes nothing. The journal holds no new key id, so a key IAM lists besides the stored
    /// one may be the one a lost CreateAccessKey answer made or one someone else made since
    /// (an administrator): awsenv cannot tell them apart, names it and leaves it alone.
    pub(super) async fn roll_back_begun(
        &self,
        iam: &Iam,
        j: &Journal,
        stored_id: &str,
    ) -> Result<String> {
        let keys = iam
            .list_keys(&j.user_name)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let others: Vec<&KeyInfo> = keys
            .iter()
            .filter(|k| k.id != j.old_key_id && k.id != stored_id)
            .collect();
        self.drop_journal()?;
        let Some(first) = others.first() else {
            return Ok("IAM holds no new key from it".to_string());
        };
        let named: Vec<String> = others
            .iter()
            .map(|k| match k.created {
                Some(c) => format!("{} (created {})", masked(&k.id), rfc3339(c)),
                None => masked(&k.id),
            })
            .collect();
        Ok(format!(
            "IAM lists {} for user {} besides the stored key, left alone: its id was never recorded, so awsenv cannot tell whether the rotation made it or someone else did; if you do not use it, delete it with {}",
            named.join(" and "),
            j.user_name,
            delete_hint(self.profile, &first.id)
        ))
    }

    /// From a recorded new key (verified, or verified now by the caller) to the end: carry the
    /// MFA sessions, store the new key, mark the journal, delete the old key.
    pub(super) async fn finish_created(
        &self,
        j: &mut Journal,
        iam: Option<&Iam>,
    ) -> Result<Outcome> {
        let p = self.profile;
        if let Err(e) = self.engine.carry_sessions(p, &j.old_key_id, j.new_id()) {
            eprintln!(
                "awsenv: note: the cached MFA session could not be kept for the new key ({}); the next use asks for a code",
                one_line(&format!("{e:#}"))
            );
        }
        pause("carry");
        let now = now_epoch();
        let keys = StoredKeys {
            access_key_id: j.new_id().to_string(),
            secret_access_key: j.new_secret.clone().unwrap_or_default(),
            created: j.new_created.or(Some(now)),
            added: Some(now),
        };
        if let Err(e) = self.write_keys(&keys) {
            let own: Option<Iam>;
            let iam = match iam {
                Some(i) => Some(i),
                None => {
                    own = match self.stored().ok().flatten() {
                        Some(o) => self.iam(&o).await.ok().flatten(),
                        None => None,
                    };
                    own.as_ref()
                }
            };
            return Err(match iam {
                Some(i) => self.undo_new_key(i, j, &e).await,
                None => anyhow!(
                    "storing the new key of profile {p} failed ({}); the old key {} stays in the store and in use; run 'awsenv rotate {p}' to finish or undo the rotation",
                    one_line(&format!("{e:#}")),
                    masked(&j.old_key_id)
                ),
            });
        }
        pause("store");
        j.phase = Phase::Stored;
        if let Some(s) = &mut j.new_secret {
            s.zeroize();
        }
        j.new_secret = None;
        // When this fails the journal still says Created; the next rotate or list sees the new
        // key stored and finishes from there.
        let _ = self.save_journal(j);
        pause("mark");
        self.finish_stored(j).await
    }

    /// From a stored new key to the end: delete the old key, remove the journal.
    pub(super) async fn finish_stored(&self, j: &Journal) -> Result<Outcome> {
        let p = self.profile;
        let new_id = masked(j.new_id());
        let old_id = masked(&j.old_key_id);
        let stored = self
            .stored()?
            .ok_or_else(|| anyhow!("{}", self.no_keys()))?;
        let Some(iam) = self.iam(&stored).await? else {
            return Ok(Outcome::Pending(format!(
                "an interrupted key rotation of profile {p} stored the new key {new_id}, which is in use; deleting the old key {old_id} needs the MFA session: run 'awsenv rotate {p}' to finish"
            )));
        };
        match iam.delete_key(&j.user_name, &j.old_key_id).await {
            Ok(_) => {}
            Err(e @ IamError::NoAnswer(_)) if self.mode == Mode::List => {
                return Ok(Outcome::Pending(format!(
                    "the new key {new_id} of profile {p} is stored and in use, but the old key {old_id} is not deleted yet ({e}); the next 'awsenv list' or 'awsenv rotate {p}' tries again"
                )));
            }
            Err(e) => {
                let _ = self.drop_journal();
                bail!(
                    "profile {p} now uses the new key {new_id} (stored and in use), but deleting the old key failed ({e}); the old key {old_id} is left in IAM: delete it with {}",
                    delete_hint(p, &j.old_key_id)
                );
            }
        }
        pause("delete");
        if let Err(e) = self.drop_journal() {
            eprintln!(
                "awsenv: note: cannot remove the journal of the rotation ({}); the next 'awsenv list' removes it",
                one_line(&format!("{e:#}"))
            );
        }
        Ok(Outcome::Finished(format!(
            "the new key {new_id} is stored and in use, the old key {old_id} is deleted"
        )))
    }

    /// Finds the journal of an interrupted rotation of this profile and finishes it or rolls
    /// it back. `None`: there is none.
    pub(super) async fn recover(&self) -> Result<Option<Outcome>> {
        let p = self.profile;
        let mut j = match self.load_journal() {
            Ok(None) => return Ok(None),
            Ok(Some(j)) => j,
            Err(e) => match store::damaged(&e) {
                Some(d) => {
                    let why = d.why.clone();
                    return self.recover_damaged(&why).await.map(Some);
                }
                None => return Err(e),
            },
        };
        let Some(stored) = self.stored()? else {
            self.drop_journal()?;
            return Ok(Some(Outcome::RolledBack(format!(
                "dropped the journal of an interrupted key rotation of profile {p}: its keys are no longer stored{}",
                self.leftover(&j)
            ))));
        };
        let sid = stored.access_key_id.as_str();
        let new_id = j.new_key_id.clone();
        match j.phase {
            Phase::Begun if sid == j.old_key_id => {
                let Some(iam) = self.iam(&stored).await? else {
                    return Ok(Some(self.needs_session(&j)));
                };
                let text = self.roll_back_begun(&iam, &j, sid).await?;
                Ok(Some(Outcome::RolledBack(format!(
                    "rolled back an interrupted key rotation of profile {p}: {text}; the key {} stays in use",
                    masked(sid)
                ))))
            }
            Phase::Created | Phase::Stored if new_id.as_deref() == Some(sid) => {
                self.finish_stored(&j).await.map(Some)
            }
            Phase::Created if sid == j.old_key_id => {
                let iam = self.iam(&stored).await?;
                if let Some(iam) = &iam {
                    let keys = iam
                        .list_keys(&j.user_name)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    if !keys.iter().any(|k| k.id == j.new_id()) {
                        self.drop_journal()?;
                        return Ok(Some(Outcome::RolledBack(format!(
                            "the new key {} of an interrupted key rotation of profile {p} no longer exists in IAM; dropped its journal, the key {} stays in use",
                            masked(j.new_id()),
                            masked(sid)
                        ))));
                    }
                }
                if let Err(why) = self.verify(&j.new_creds(), &j.user_arn, self.wait).await {
                    let text = self.not_working(&j, &why);
                    return match self.mode {
                        Mode::Rotate => Err(anyhow!("{text}")),
                        Mode::List => Ok(Some(Outcome::Pending(text))),
                    };
                }
                self.finish_created(&mut j, iam.as_ref()).await.map(Some)
            }
            _ => {
                self.drop_journal()?;
                Ok(Some(Outcome::RolledBack(format!(
                    "dropped the journal of an interrupted key rotation of profile {p}: the keys of the profile were replaced since (now {}){}",
                    masked(sid),
                    self.leftover(&j)
                ))))
            }
        }
    }

    pub(super) fn needs_session(&self, j: &Journal) -> Outcome {
        Outcome::Pending(format!(
            "a key rotation of profile {} was interrupted (IAM user {}); finishing it needs the MFA session: run 'awsenv rotate {}'",
            self.profile, j.user_name, self.profile
        ))
    }

    /// What a dropped journal leaves behind in IAM, as a clause.
    pub(super) fn leftover(&self, j: &Journal) -> String {
        match (&j.new_key_id, j.phase) {
            (Some(n), Phase::Created) => format!(
                "; its new key {} is not stored: delete it with {} if you do not use it",
                masked(n),
                delete_hint(self.profile, n)
            ),
            (Some(_), Phase::Stored) => format!(
                "; its old key {} may still be in IAM: delete it with {} if you do not use it",
                masked(&j.old_key_id),
                delete_hint(self.profile, &j.old_key_id)
            ),
            _ => String::new(),
        }
    }

    /// A journal that cannot be read: the stored key is intact (it is what `use` uses). Remove
    /// the journal when IAM lists no other key for the user; else name that key.
    pub(super) async fn recover_damaged(&self, why: &str) -> Result<Outcome> {
        let p = self.profile;
        if self.mode == Mode::List {
            return Ok(Outcome::Pending(format!(
                "the journal of an interrupted key rotation of profile {p} cannot be read ({}); run 'awsenv rotate {p}' to check IAM and remove it",
                one_line(why)
            )));
        }
        let stored = self
            .stored()?
            .ok_or_else(|| anyhow!("{}", self.no_keys()))?;
        let (_, user) = self.iam_user_of(&stored).await?;
        let user = user.as_str();
        let iam = self
            .iam(&stored)
            .await?
            .ok_or_else(|| anyhow!("profile {p}: no MFA session for IAM"))?;
        let keys = iam.list_keys(user).await.map_err(|e| anyhow!("{e}"))?;
        let others: Vec<&str> = keys
            .iter()
            .map(|k| k.id.as_str())
            .filter(|id| *id != stored.access_key_id)
            .collect();
        let shown: Vec<String> = others.iter().map(|id| masked(id)).collect();
        if let Some(other) = others.first() {
            bail!(
                "the journal of an interrupted key rotation of profile {p} cannot be read ({}), and IAM user {user} holds the key {} besides the stored {}: if you do not use it, delete it with {} and run 'awsenv rotate {p}' again",
                one_line(why),
                shown.join(" and "),
                masked(&stored.access_key_id),
                delete_hint(p, other)
            );
        }
        self.drop_journal()?;
        Ok(Outcome::RolledBack(format!(
            "removed the unreadable journal of an interrupted key rotation of profile {p}: IAM lists only the stored key {}",
            masked(&stored.access_key_id)
        )))
    }
}

/// For `awsenv list`: finishes or rolls back the interrupted rotations of `profiles` (those
/// with a journal) as far as possible without asking for anything; says on stderr what it did
/// or what is left. Never fails: a problem is one line on stderr.
pub async fn recover_for_list(engine: &Engine, profiles: &[String]) {
    for p in profiles {
        let said = async {
            let r = Rotation::new(engine, p, Mode::List, false, None)?;
            let Some(_lock) = lock::try_acquire(&lock_name(p))? else {
                return Ok(Some(format!(
                    "note: a key rotation of profile {p} is running in another process"
                )));
            };
            Ok::<_, anyhow::Error>(match r.recover().await? {
                None => None,
                Some(Outcome::Finished(tail)) => Some(format!(
                    "finished an interrupted key rotation of profile {p}: {tail}"
                )),
                Some(Outcome::RolledBack(m)) | Some(Outcome::Pending(m)) => Some(m),
            })
        }
        .await;
        match said {
            Ok(Some(m)) => eprintln!("awsenv: {m}"),
            Ok(None) => {}
            Err(e) => eprintln!("awsenv: {}", one_line(&format!("{e:#}"))),
        }
    }
}
