//! `awsenv import [PROFILE…]`: moves long-term keys kept in plaintext in the AWS credentials (or
//! config) file into the secret store, where awsenv uses them — the first step for someone
//! coming from `aws configure`. Each key is written, then read back from the store, before it
//! counts as imported.

use anyhow::{Result, bail};

use crate::resolve::{Engine, StoredKeys};
use crate::runtime::block_on;
use crate::store;

/// What happened to one profile's keys.
enum Outcome {
    Imported,
    AlreadyStored,
    Skipped(String),
}

/// `awsenv import [PROFILE…] [--force]`: every named profile, or every profile with plaintext
/// keys when none is named.
pub fn import(profiles: &[String], force: bool, remove: Option<bool>) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        let file = crate::awsconfig::credentials_path_text();
        let names: Vec<String> = if profiles.is_empty() {
            engine
                .config
                .names()
                .into_iter()
                .filter(|n| engine.config.plaintext_keys(n).is_some())
                .collect()
        } else {
            profiles.to_vec()
        };
        if names.is_empty() {
            bail!("no profile in {file} or the AWS config holds plaintext keys: nothing to import");
        }
        let mut imported = Vec::new();
        let mut failed = false;
        for name in &names {
            let outcome = import_one(&engine, name, force)?;
            match outcome {
                Outcome::Imported => {
                    eprintln!(
                        "awsenv: imported the keys of profile {name} into {}",
                        engine.store.describe()
                    );
                    imported.push(name.clone());
                }
                Outcome::AlreadyStored => {
                    eprintln!("awsenv: profile {name}: the same keys are already stored");
                    imported.push(name.clone());
                }
                Outcome::Skipped(why) => {
                    failed = true;
                    eprintln!("awsenv: profile {name}: {why}");
                }
            }
        }
        if !imported.is_empty() {
            remove_plaintext(&imported, remove, &file)?;
        }
        Ok(if failed { 1 } else { 0 })
    })?
}

/// Offers (or, with `--remove-plaintext`, goes on) to delete the plaintext copies of the keys of
/// `imported` — each already stored and read back — from the credentials file, through the one
/// config editor (no backup: the old text is what is being removed). `--keep-plaintext`, or no
/// terminal to ask on, leaves them and says so.
fn remove_plaintext(imported: &[String], remove: Option<bool>, file: &str) -> Result<()> {
    let cf = crate::configedit::ConfigFile::read_credentials()?;
    let in_file: Vec<String> = imported
        .iter()
        .filter(|n| crate::configedit::section_names(&cf.text, true).contains(*n))
        .cloned()
        .collect();
    if in_file.is_empty() {
        return Ok(());
    }
    let list = format!("[{}]", in_file.join("], ["));
    let go = match remove {
        Some(r) => r,
        None => {
            crate::tty::available()
                && super::confirm(&format!(
                    "The keys of {list} are stored now. Delete their plaintext copies from {file}?"
                ))
        }
    };
    if !go {
        eprintln!(
            "awsenv: the plaintext copies of {list} are still in {file}; awsenv uses the stored ones — 'awsenv import --remove-plaintext' deletes them"
        );
        return Ok(());
    }
    let text = cf.without_keys(&in_file)?;
    cf.replace_without_backup(&text)?;
    eprintln!("awsenv: deleted the plaintext keys of {list} from {file}");
    Ok(())
}

fn import_one(engine: &Engine, name: &str, force: bool) -> Result<Outcome> {
    let Some(keys) = engine.config.plaintext_keys(name) else {
        return Ok(Outcome::Skipped(if engine.config.has(name) {
            "has no aws_access_key_id and aws_secret_access_key in plaintext".to_string()
        } else {
            engine.config.unknown(name).to_string()
        }));
    };
    if keys.temporary {
        return Ok(Outcome::Skipped(
            "its keys have an aws_session_token: temporary credentials are not stored".into(),
        ));
    }
    if let Err(e) = super::keys::check_key_id(&keys.access_key_id) {
        return Ok(Outcome::Skipped(format!("{e:#}")));
    }
    let key = store::keys_key(name);
    let existing = match engine.store.get(&key) {
        Ok(v) => v.and_then(|v| serde_json::from_str::<StoredKeys>(&v).ok()),
        Err(e) if store::damaged(&e).is_some() => None,
        Err(e) => return Err(e),
    };
    if let Some(k) = &existing {
        if k.access_key_id == keys.access_key_id
            && k.secret_access_key == keys.secret_access_key.as_str()
        {
            return Ok(Outcome::AlreadyStored);
        }
        if !force {
            return Ok(Outcome::Skipped(format!(
                "other keys are stored for it (…{}); --force replaces them",
                k.access_key_id
                    .get(k.access_key_id.len().saturating_sub(4)..)
                    .unwrap_or("")
            )));
        }
    }
    super::keys::store_keys(engine, name, &keys.access_key_id, &keys.secret_access_key)?;
    engine.clear(Some(name))?;
    Ok(Outcome::Imported)
}
