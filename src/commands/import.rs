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
    store_one(
        engine,
        name,
        &keys.access_key_id,
        &keys.secret_access_key,
        force,
    )
}

/// Stores one profile's long-term keys unless the same are stored already, or other keys are
/// and `force` is not given; written and read back ([`super::keys::store_keys`]).
fn store_one(engine: &Engine, name: &str, id: &str, secret: &str, force: bool) -> Result<Outcome> {
    let keys = (id, secret);
    let key = store::keys_key(name);
    let existing = match engine.store.get(&key) {
        Ok(v) => v.and_then(|v| serde_json::from_str::<StoredKeys>(&v).ok()),
        Err(e) if store::damaged(&e).is_some() => None,
        Err(e) => return Err(e),
    };
    if let Some(k) = &existing {
        if k.access_key_id == keys.0 && k.secret_access_key == keys.1.trim() {
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
    super::keys::store_keys(engine, name, id, secret)?;
    engine.clear(Some(name))?;
    Ok(Outcome::Imported)
}

/// Which of aws-vault's stores to read, from `AWS_VAULT_BACKEND` (its `--backend`): `file`,
/// `secret-service`, or unset (the Secret Service collection when it exists, else the file store).
enum VaultBackend {
    File,
    SecretService,
    Either,
}

fn vault_backend() -> Result<VaultBackend> {
    match std::env::var("AWS_VAULT_BACKEND")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => Ok(VaultBackend::Either),
        Some("file") => Ok(VaultBackend::File),
        Some("secret-service") => Ok(VaultBackend::SecretService),
        Some(other) => bail!(
            "AWS_VAULT_BACKEND={}: awsenv imports from aws-vault's Secret Service collection and its file store; for another backend use 'aws-vault exec --no-session PROFILE -- awsenv add PROFILE --env'",
            crate::sanitize::quoted(other.as_bytes(), 40)
        ),
    }
}

/// aws-vault's long-term keys (every profile, or the named ones), with the name of the store
/// they came from; a named profile the store lacks is said on stderr (`failed`).
fn vault_keys(profiles: &[String]) -> Result<(Vec<super::awsvault::VaultKeys>, String, bool)> {
    let backend = vault_backend()?;
    if !matches!(backend, VaultBackend::File) {
        let ss = super::awsvault::secret_service_keys(profiles)?;
        let what = format!(
            "aws-vault's Secret Service collection {}",
            crate::sanitize::quoted(super::awsvault::collection_name().as_bytes(), 80)
        );
        match ss {
            Some(found) if !found.is_empty() || matches!(backend, VaultBackend::SecretService) => {
                let mut failed = false;
                for name in profiles {
                    if !found.iter().any(|k| &k.profile == name) {
                        failed = true;
                        eprintln!("awsenv: profile {name}: {what} has no keys for it");
                    }
                }
                if found.is_empty() && !failed {
                    bail!("{what} holds no long-term keys: nothing to import");
                }
                return Ok((found, what, failed));
            }
            None if matches!(backend, VaultBackend::SecretService) => bail!(
                "{what} is not there (no Secret Service answers, or it has no such collection); AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME names another"
            ),
            _ => {}
        }
    }
    let dir = super::awsvault::file_dir()?;
    let shown = crate::sanitize::printable(dir.as_os_str().as_encoded_bytes(), 200);
    let names = if profiles.is_empty() {
        super::awsvault::file_profiles(&dir)?
    } else {
        profiles.to_vec()
    };
    if names.is_empty() {
        bail!("aws-vault's file store {shown} holds no long-term keys: nothing to import");
    }
    // aws-vault's passphrase is asked (and every file decrypted) before awsenv's store opens.
    let pass = super::awsvault::passphrase(&dir)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &names {
        match super::awsvault::file_get(&dir, name, &pass)? {
            Some(k) => found.push(k),
            None => {
                failed = true;
                eprintln!(
                    "awsenv: profile {name}: aws-vault's file store {shown} has no keys for it"
                );
            }
        }
    }
    Ok((found, "aws-vault's file store".into(), failed))
}

/// `awsenv import --from aws-vault [PROFILE…] [--force]`: the long-term keys aws-vault keeps
/// (its Secret Service collection or its encrypted file store; every profile, or the named
/// ones) into awsenv's store; aws-vault's copies are left as they are.
pub fn import_aws_vault(profiles: &[String], force: bool) -> Result<i32> {
    let (found, store_name, mut failed) = vault_keys(profiles)?;
    block_on(async {
        let engine = Engine::open().await?;
        let mut imported = 0;
        for k in &found {
            let name = &k.profile;
            let outcome = if k.temporary || k.access_key_id.starts_with("ASIA") {
                Outcome::Skipped(
                    "aws-vault keeps temporary credentials (a session token) for it: only long-term keys are stored".into(),
                )
            } else if let Err(e) = crate::credcheck::check(
                &crate::sts::Creds {
                    access_key_id: k.access_key_id.clone(),
                    secret_access_key: k.secret_access_key.trim().to_string(),
                    session_token: None,
                    expiration: None,
                },
                &store_name,
                "check them with 'aws-vault list' and 'aws-vault add'",
            ) {
                Outcome::Skipped(format!("{e:#}"))
            } else {
                store_one(&engine, name, &k.access_key_id, &k.secret_access_key, force)?
            };
            match outcome {
                Outcome::Imported => {
                    imported += 1;
                    eprintln!(
                        "awsenv: imported the keys of profile {name} from aws-vault into {}",
                        engine.store.describe()
                    );
                }
                Outcome::AlreadyStored => {
                    imported += 1;
                    eprintln!("awsenv: profile {name}: the same keys are already stored");
                }
                Outcome::Skipped(why) => {
                    failed = true;
                    eprintln!("awsenv: profile {name}: {why}");
                }
            }
        }
        if imported > 0 {
            eprintln!(
                "awsenv: aws-vault's copies (in {store_name}) are left as they are; 'aws-vault remove PROFILE' deletes them"
            );
        }
        Ok(if failed { 1 } else { 0 })
    })?
}
