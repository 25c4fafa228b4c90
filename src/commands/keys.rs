//! `add`, `remove`, `list`, `clear`: long-term keys and the session cache.

use std::io::Write;

use anyhow::{Result, anyhow, bail};

use crate::resolve::{Engine, StoredKeys};
use crate::runtime::block_on;
use crate::store;
use crate::timefmt::{now_epoch, remaining};

fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `awsenv add PROFILE [--env] [--force]`.
pub fn add(profile: &str, from_env: bool, force: bool) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        if !engine.config.has(profile) {
            eprintln!(
                "awsenv: note: profile {profile} is not in {} yet; add a [profile {profile}] section to use it",
                crate::awsconfig::config_path_text()
            );
        }
        let key = store::keys_key(profile);
        if engine.store.get(&key)?.is_some() && !force {
            if !crate::tty::available() {
                bail!("profile {profile} already has stored keys; use --force to replace them");
            }
            if !super::confirm(&format!(
                "Profile {profile} already has stored keys. Replace them?"
            )) {
                bail!("kept the stored keys of profile {profile}");
            }
        }
        let keys = if from_env {
            let id = std::env::var("AWS_ACCESS_KEY_ID")
                .map_err(|_| anyhow!("--env: AWS_ACCESS_KEY_ID is not set"))?;
            let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
                .map_err(|_| anyhow!("--env: AWS_SECRET_ACCESS_KEY is not set"))?;
            StoredKeys {
                access_key_id: id,
                secret_access_key: secret,
            }
        } else {
            let no_tty = || {
                anyhow!(
                    "no terminal to ask for the keys on: use --env with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )
            };
            let id = crate::tty::read_line("Enter Access Key ID: ", false)
                .map_err(|e| e.or_else_no_tty(no_tty))?;
            let secret = crate::tty::read_line("Enter Secret Access Key: ", true)
                .map_err(|e| e.or_else_no_tty(no_tty))?;
            StoredKeys {
                access_key_id: id.to_string(),
                secret_access_key: secret.to_string(),
            }
        };
        let id = keys.access_key_id.trim().to_string();
        if !valid_key_id(&id) {
            bail!("{id:?} does not look like an AWS access key id (e.g. AKIAIOSFODNN7EXAMPLE)");
        }
        if keys.secret_access_key.trim().is_empty() {
            bail!("the secret access key is empty");
        }
        let json = serde_json::json!({"access_key_id": id, "secret_access_key": keys.secret_access_key.trim()}).to_string();
        let json = zeroize::Zeroizing::new(json);
        engine.store.set(&key, &json)?;
        let cleared = engine.clear(Some(profile))?;
        eprintln!(
            "Added keys for profile {profile} to {}{}",
            engine.store.describe(),
            if cleared > 0 {
                format!(" (dropped {cleared} cached sessions)")
            } else {
                String::new()
            }
        );
        Ok(0)
    })?
}

/// `awsenv remove PROFILE [--force]`.
pub fn remove(profile: &str, force: bool) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        let key = store::keys_key(profile);
        if engine.store.get(&key)?.is_none() {
            bail!("no keys stored for profile {profile}");
        }
        if !force {
            if !crate::tty::available() {
                bail!("removing the keys of profile {profile} needs confirmation: use --force");
            }
            if !super::confirm(&format!("Delete the stored keys of profile {profile}?")) {
                bail!("kept the keys of profile {profile}");
            }
        }
        let n = engine.clear(Some(profile))?;
        engine.store.delete(&key)?;
        eprintln!("Removed the keys of profile {profile} and {n} cached sessions");
        Ok(0)
    })?
}

/// `awsenv list`.
pub fn list() -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        let keys = engine.store.keys()?;
        let sessions = engine.sessions()?;
        let now = now_epoch();
        let mut names = engine.config.names();
        for k in &keys {
            if let Some(p) = k.strip_prefix("keys/")
                && !names.iter().any(|n| n == p)
            {
                names.push(p.to_string());
            }
        }
        names.sort();
        let mut out = String::new();
        let width = names.iter().map(String::len).max().unwrap_or(7).max(7);
        out.push_str(&format!("{:<width$}  {:<6}  SESSIONS\n", "PROFILE", "KEYS"));
        for n in &names {
            let stored = if keys.iter().any(|k| k.strip_prefix("keys/") == Some(n)) {
                "stored"
            } else {
                "-"
            };
            let mut s: Vec<String> = sessions
                .iter()
                .filter(|e| &e.profile == n)
                .map(|e| {
                    let left = match e.creds.remaining(now) {
                        Some(l) if l > 0 => remaining(l),
                        Some(_) => "expired".into(),
                        None => "no expiry".into(),
                    };
                    match &e.role_arn {
                        Some(r) if e.kind == "sso" => format!("sso role {r} ({left})"),
                        Some(r) => format!("role {r} ({left})"),
                        None => format!("mfa session ({left})"),
                    }
                })
                .collect();
            if s.is_empty() {
                s.push("-".into());
            }
            out.push_str(&format!("{n:<width$}  {stored:<6}  {}\n", s.join(", ")));
        }
        out.push_str(&crate::sso::commands::list_text(
            &engine.config,
            &*engine.store,
            &engine.settings,
        ));
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(|e| anyhow!("cannot write: {e}"))?;
        Ok(0)
    })?
}

/// `awsenv clear [PROFILE]`.
pub fn clear(profile: Option<&str>) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        if let Some(p) = profile
            && !engine.config.has(p)
        {
            return Err(engine.config.unknown(p));
        }
        let n = engine.clear(profile)?;
        eprintln!(
            "Cleared {n} cached session{}",
            if n == 1 { "" } else { "s" }
        );
        Ok(0)
    })?
}
