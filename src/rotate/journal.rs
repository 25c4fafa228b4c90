//! A rotation's journal (`rotation/<profile>` in the store): how far it got, and what it knows
//! about the keys — read back as hostile until [`Journal::well_formed`] says otherwise.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::sts::Creds;

use super::user_name_of;

pub(super) fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How far a rotation got, as its journal says.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(super) enum Phase {
    /// Started; a new key may or may not exist in IAM (its secret is not known).
    Begun,
    /// The new key exists and is in the journal (secret included); the old key is stored.
    Created,
    /// The new key is stored; the old key may still exist in IAM.
    Stored,
}

/// The journal of one rotation (`rotation/<profile>` in the store).
#[derive(Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) phase: Phase,
    pub(super) user_name: String,
    pub(super) user_arn: String,
    pub(super) old_key_id: String,
    /// When the rotation started (epoch seconds, this machine's clock).
    pub(super) started: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) new_key_id: Option<String>,
    /// Only while [`Phase::Created`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) new_secret: Option<String>,
    /// IAM's creation time of the new key (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) new_created: Option<i64>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(s) = &mut self.new_secret {
            s.zeroize();
        }
    }
}

impl Journal {
    /// Whether what was read is a journal awsenv wrote (the entry is hostile until checked).
    pub(super) fn well_formed(&self) -> bool {
        let new_ok = match self.phase {
            Phase::Begun => true,
            Phase::Created => {
                self.new_key_id.as_deref().is_some_and(valid_key_id)
                    && self.new_secret.as_deref().is_some_and(|s| !s.is_empty())
            }
            Phase::Stored => self.new_key_id.as_deref().is_some_and(valid_key_id),
        };
        new_ok
            && valid_key_id(&self.old_key_id)
            && user_name_of(&self.user_arn) == Some(self.user_name.as_str())
    }

    pub(super) fn new_id(&self) -> &str {
        self.new_key_id.as_deref().unwrap_or_default()
    }

    pub(super) fn new_creds(&self) -> Creds {
        Creds {
            access_key_id: self.new_id().to_string(),
            secret_access_key: self.new_secret.clone().unwrap_or_default(),
            session_token: None,
            expiration: None,
        }
    }
}
