//! The picker's memory in awsenv's state directory (`picks.json`, written through
//! [`crate::safefile`]): for each profile how often and when it was last picked, and when its
//! last session expires, so the list shows time left without opening the secret store. No
//! secrets.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

const FILE: &str = "picks.json";
/// More than this many bytes is not a file awsenv wrote.
const LIMIT: u64 = 4 << 20;
/// Profiles remembered at most (the least recent are forgotten).
const KEEP: usize = 5000;

/// One profile's history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Pick {
    /// Times picked.
    #[serde(default)]
    pub count: u32,
    /// Last picked (epoch seconds).
    #[serde(default)]
    pub last: i64,
    /// When the last session handed out for it expires (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

/// Every profile's history.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Picks {
    /// By profile name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Pick>,
}

/// The current time in epoch seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn dir(create: bool) -> Option<crate::safefile::Dir> {
    crate::activation::state_dir_opened(create)
}

/// Reads the history; a missing, unreadable or foreign file is an empty one.
pub fn load() -> Picks {
    let Some(d) = dir(false) else {
        return Picks::default();
    };
    if !d.has_own_file(FILE) {
        return Picks::default();
    }
    let Ok(f) = d.open_file(FILE) else {
        return Picks::default();
    };
    let mut text = String::new();
    if f.take(LIMIT).read_to_string(&mut text).is_err() {
        return Picks::default();
    }
    serde_json::from_str(&text).unwrap_or_default()
}

fn save(p: &mut Picks) {
    if p.profiles.len() > KEEP {
        let mut by_age: Vec<(i64, String)> = p
            .profiles
            .iter()
            .map(|(k, v)| (v.last, k.clone()))
            .collect();
        by_age.sort();
        for (_, k) in by_age.iter().take(p.profiles.len() - KEEP) {
            p.profiles.remove(k);
        }
    }
    let (Some(d), Ok(text)) = (dir(true), serde_json::to_vec(p)) else {
        return;
    };
    // The history is a convenience: failing to write it never fails a command.
    let _ = d.write_file(FILE, &text);
}

/// Records that `profile` was picked now.
pub fn record_pick(profile: &str) {
    let mut p = load();
    let e = p.profiles.entry(profile.to_string()).or_default();
    e.count = e.count.saturating_add(1);
    e.last = now();
    save(&mut p);
}

/// Records when the session just handed out for `profile` expires (only for profiles the
/// picker has seen, or when one is known).
pub fn record_expiry(profile: &str, expires: Option<i64>) {
    let mut p = load();
    match p.profiles.get_mut(profile) {
        Some(e) if e.expires != expires => e.expires = expires,
        Some(_) => return,
        None if expires.is_some() => {
            p.profiles.insert(
                profile.to_string(),
                Pick {
                    expires,
                    ..Pick::default()
                },
            );
        }
        None => return,
    }
    save(&mut p);
}
