//! `awsenv rotate PROFILE --delete-key LAST4`: deletes a key of the IAM user of the profile's
//! stored keys, named by its last four characters (the masked form every awsenv message and
//! `list` show), so no full key id is ever printed for a user to copy.

use anyhow::{Result, anyhow, bail};

use crate::keyid::masked;

use super::{Journal, Phase, Rotation};

/// What `--delete-key` accepts: the last four characters of a key id, with or without the
/// `****` of the masked form. `None` when `given` is not that.
pub(super) fn suffix_of(given: &str) -> Option<String> {
    let s = given.trim().trim_start_matches('*');
    (s.len() == 4 && s.chars().all(|c| c.is_ascii_alphanumeric())).then(|| s.to_ascii_uppercase())
}

impl Rotation<'_> {
    /// Deletes the one key of the user (not the stored one) whose id ends in `given`; a
    /// rotation journal that names that key as its unstored new key or its replaced old key is
    /// done with and removed. Returns the success line.
    pub(super) async fn delete_key(&self, given: &str) -> Result<String> {
        let p = self.profile;
        let Some(suffix) = suffix_of(given) else {
            bail!(
                "--delete-key takes the last four characters of a key id, as 'awsenv list' and 'awsenv rotate' show them (****WXYZ or WXYZ), not {}",
                crate::awsconfig::printable(given.as_bytes(), 40)
            );
        };
        let stored = self
            .stored()?
            .ok_or_else(|| anyhow!("{}", self.no_keys()))?;
        let (_, user) = self.iam_user_of(&stored).await?;
        let user = user.as_str();
        let mut iam = self
            .iam(&stored)
            .await?
            .ok_or_else(|| anyhow!("profile {p}: no MFA session for IAM"))?;
        let keys = match iam.list_keys(user).await {
            Err(e)
                if self.keys_first.get() == super::KeysFirst::Trying
                    && matches!(e.code(), Some("AccessDenied" | "AccessDeniedException")) =>
            {
                self.keys_first.set(super::KeysFirst::Refused);
                iam = self
                    .iam(&stored)
                    .await?
                    .ok_or_else(|| anyhow!("profile {p}: no MFA session for IAM"))?;
                iam.list_keys(user).await.map_err(|e| anyhow!("{e}"))?
            }
            r => r.map_err(|e| anyhow!("{e}"))?,
        };
        let matching: Vec<&str> = keys
            .iter()
            .map(|k| k.id.as_str())
            .filter(|id| id.ends_with(&suffix))
            .collect();
        let listed: Vec<String> = keys.iter().map(|k| masked(&k.id)).collect();
        let id = match matching.as_slice() {
            [] => bail!(
                "IAM user {user} has no key ending in {suffix} (it has {}); nothing was deleted",
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(" and ")
                }
            ),
            [one] => *one,
            _ => bail!(
                "more than one key of IAM user {user} ends in {suffix}; delete the one you mean in the AWS console; nothing was deleted"
            ),
        };
        if id == stored.access_key_id {
            bail!(
                "the key {} is the one stored for profile {p} and in use; awsenv does not delete it (to replace it: 'awsenv rotate {p}'); nothing was deleted",
                masked(id)
            );
        }
        match iam.delete_key(user, id).await {
            Ok(_) => {}
            Err(e) => bail!("{e}; nothing was deleted"),
        }
        let journal: Option<Journal> = self.load_journal().ok().flatten();
        if let Some(j) = journal {
            let done = match j.phase {
                Phase::Created => j.new_id() == id,
                Phase::Stored => j.old_key_id == id,
                Phase::Begun => false,
            };
            if done {
                let _ = self.drop_journal();
            }
        }
        Ok(format!(
            "Deleted the key {} of IAM user {user} (profile {p}); the key {} stays stored and in use",
            masked(id),
            masked(&stored.access_key_id)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_key_takes_the_masked_form_or_the_last_four() {
        assert_eq!(suffix_of("****WXYZ").as_deref(), Some("WXYZ"));
        assert_eq!(suffix_of("wxyz").as_deref(), Some("WXYZ"));
        assert_eq!(suffix_of("AKIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(suffix_of("****"), None);
        assert_eq!(suffix_of("W Z!"), None);
    }
}
