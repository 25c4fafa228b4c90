//! What the AWS access portal offered at the last `awsenv sso profiles`: account names and the
//! roles of each account, kept in awsenv's state directory (`sso-offered.json`, written
//! through [`crate::safefile`]; no tokens, no credentials), so the profile picker can name
//! accounts and show roles no profile names yet without a network call.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

const FILE: &str = "sso-offered.json";
const LIMIT: u64 = 8 << 20;

/// One role the portal offers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Offered {
    /// The 12-digit account id.
    pub account_id: String,
    /// The account's name.
    pub account_name: String,
    /// The role (permission set) name.
    pub role: String,
    /// The profile that names it, or the name `sso profiles --write` would give it.
    pub profile: String,
    /// Whether a profile in the config names it.
    pub configured: bool,
}

/// Every sign-in's offer, by the sign-in's name (`[sso-session NAME]`, or its start URL).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Cache {
    /// By sign-in.
    #[serde(default)]
    pub sessions: BTreeMap<String, Vec<Offered>>,
}

impl Cache {
    /// Account names by id, from every sign-in.
    pub fn account_names(&self) -> BTreeMap<String, String> {
        self.sessions
            .values()
            .flatten()
            .filter(|o| !o.account_name.is_empty())
            .map(|o| (o.account_id.clone(), o.account_name.clone()))
            .collect()
    }
}

fn dir(create: bool) -> Option<crate::safefile::Dir> {
    crate::activation::state_dir_opened(create)
}

/// Reads the cache; a missing or unreadable file is an empty one.
pub fn load() -> Cache {
    let Some(d) = dir(false).filter(|d| d.has_own_file(FILE)) else {
        return Cache::default();
    };
    let Ok(f) = d.open_file(FILE) else {
        return Cache::default();
    };
    let mut text = String::new();
    if f.take(LIMIT).read_to_string(&mut text).is_err() {
        return Cache::default();
    }
    serde_json::from_str(&text).unwrap_or_default()
}

/// Replaces what sign-in `session` offers. Failing to write is not an error of the command.
pub fn save(session: &str, offered: Vec<Offered>) {
    let mut c = load();
    c.sessions.insert(session.to_string(), offered);
    if let (Some(d), Ok(text)) = (dir(true), serde_json::to_vec(&c)) {
        let _ = d.write_file(FILE, &text);
    }
}
