//! The one credential validator: every credential awsenv gets from outside — STS answers
//! (GetSessionToken, AssumeRole, GetFederationToken; `sts.rs` words their refusal itself), IAM
//! Identity Center's GetRoleCredentials, a `credential_process`'s output, keys given to
//! `awsenv add` or read from the secret store, a session read back from the cache
//! ([`well_formed`]), and every source to come — passes [`validate`] (through [`check`]) before
//! it is cached, stored, exported or printed.
//!
//! A refusal names the source and the field, never the field's value: a credential is a
//! secret, and a hostile one may hold terminal escape sequences.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// A set of AWS credentials.
#[derive(Clone, Serialize, Deserialize)]
pub struct Creds {
    /// `AKIA…` (long-term) or `ASIA…` (temporary).
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Expiry, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
}

impl Drop for Creds {
    fn drop(&mut self) {
        self.secret_access_key.zeroize();
        if let Some(t) = &mut self.session_token {
            t.zeroize();
        }
    }
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl Creds {
    /// Seconds left, if the credentials expire.
    pub fn remaining(&self, now: i64) -> Option<i64> {
        self.expiration.map(|e| e - now)
    }

    /// Whether these credentials may still be handed out: more than `window` seconds remain
    /// (`refresh_window`), or they do not expire.
    pub fn fresh(&self, window: i64, now: i64) -> bool {
        self.remaining(now).is_none_or(|left| left > window)
    }
}

/// The latest expiration accepted (9999-12-31T23:59:59Z): beyond it the time cannot be shown.
const MAX_EXPIRATION: i64 = 253_402_300_799;

/// Why a credential is refused by [`validate`]. The text names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn graphic(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks that `c` is a complete, usable credential at time `now` (epoch seconds): an access
/// key id of 16–128 ASCII letters and digits, a non-empty secret (at most 1 KiB) and, when
/// present, a non-empty session token (at most 64 KiB) of printable ASCII without spaces or
/// control bytes, and an expiration after `now`. STS answers always carry a token and an
/// expiration, so for them an empty token or a missing expiration (which the SDK fills in as
/// "" and the epoch) is refused too. A plain function over the parsed values, for fuzzing.
pub fn validate(c: &Creds, now: i64) -> Result<(), Invalid> {
    let bad = |m: &str| Err(Invalid(m.to_string()));
    let id = &c.access_key_id;
    if id.is_empty() {
        return bad("the access key id is empty");
    }
    if !(16..=128).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad("the access key id is not 16 to 128 letters and digits");
    }
    if c.secret_access_key.is_empty() {
        return bad("the secret access key is empty");
    }
    if c.secret_access_key.len() > 1024 || !graphic(&c.secret_access_key) {
        return bad(
            "the secret access key holds spaces, control bytes or non-ASCII text, or is too long",
        );
    }
    if let Some(t) = &c.session_token {
        if t.is_empty() {
            return bad("the session token is empty");
        }
        if t.len() > 65_536 || !graphic(t) {
            return bad(
                "the session token holds spaces, control bytes or non-ASCII text, or is too long",
            );
        }
    }
    match c.expiration {
        None => Ok(()),
        Some(e) if e <= 0 => bad("it has no expiration"),
        Some(e) if e <= now => Err(Invalid(format!(
            "it expired at {} (is this machine's clock right?)",
            crate::timefmt::rfc3339(e)
        ))),
        Some(e) if e > MAX_EXPIRATION => bad("its expiration is after the year 9999"),
        Some(_) => Ok(()),
    }
}

/// [`validate`] at the current time, as one error line that names `source` (what gave the
/// credential and where: `GetRoleCredentials at https://portal.sso.eu-west-1.amazonaws.com`)
/// and ends with `fix` (what to check). Quote outside text in `source` with
/// [`crate::sanitize::printable`].
pub fn check(c: &Creds, source: &str, fix: &str) -> anyhow::Result<()> {
    validate(c, crate::timefmt::now_epoch())
        .map_err(|why| anyhow::anyhow!("{source} gave unusable credentials ({why}); {fix}"))
}

/// Whether a credential is well formed whatever the time: for a cached session, which may
/// have expired since (a stale entry is fetched again, a malformed one is dropped).
pub fn well_formed(c: &Creds) -> Result<(), Invalid> {
    validate(c, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn good() -> Creds {
        Creds {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("FwoGZXIvYXdzEJr//////////wEaDM+token=".into()),
            expiration: Some(NOW + 3600),
        }
    }

    fn reason(f: impl FnOnce(&mut Creds)) -> String {
        let mut c = good();
        f(&mut c);
        match validate(&c, NOW) {
            Ok(()) => "accepted".into(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn a_complete_credential_passes() {
        assert_eq!(validate(&good(), NOW), Ok(()));
        let mut long_term = good();
        long_term.session_token = None;
        long_term.expiration = None;
        assert_eq!(validate(&long_term, NOW), Ok(()));
    }

    #[test]
    fn anything_incomplete_or_hostile_is_refused() {
        assert!(reason(|c| c.access_key_id.clear()).contains("access key id is empty"));
        assert!(reason(|c| c.access_key_id = "ASIA123".into()).contains("16 to 128"));
        assert!(reason(|c| c.access_key_id = "ASIAEXAMPLE EXAMPLE1".into()).contains("16 to 128"));
        assert!(reason(|c| c.secret_access_key.clear()).contains("secret access key is empty"));
        assert!(reason(|c| c.secret_access_key.push('\0')).contains("control bytes"));
        assert!(reason(|c| c.session_token = Some(String::new())).contains("token is empty"));
        assert!(reason(|c| c.session_token = Some("ab\ncd".into())).contains("control bytes"));
        assert!(reason(|c| c.session_token = Some("a\u{1b}[2J".into())).contains("control"));
        assert!(reason(|c| c.expiration = Some(0)).contains("no expiration"));
        assert!(reason(|c| c.expiration = Some(NOW)).contains("expired at"));
        assert!(reason(|c| c.expiration = Some(NOW - 60)).contains("expired at"));
        assert!(reason(|c| c.expiration = Some(i64::MAX)).contains("9999"));
    }

    #[test]
    fn the_reason_never_holds_the_secret() {
        let r = reason(|c| c.secret_access_key = "secret with space".into());
        assert!(!r.contains("secret with space"), "{r}");
    }
}
