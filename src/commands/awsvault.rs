//! Reading the long-term keys aws-vault keeps, for `awsenv import --from aws-vault`: its
//! encrypted file store (99designs/keyring's file backend: one JWE file per item in
//! `~/.awsvault/keys/` or `AWS_VAULT_FILE_DIR`). aws-vault's copies are only read, never changed.
//!
//! Formats, from 99designs/keyring (file.go) and aws-vault (vault/credentialkeyring.go): a file
//! is named by the item key with `%` and `/` percent-encoded; it holds a JWE in compact
//! serialisation, alg PBES2-HS256+A128KW, enc A256GCM, whose plaintext is the JSON of a
//! keyring.Item `{Key, Data (base64), Label, …}`; Data is the JSON of aws.Credentials
//! `{AccessKeyID, SecretAccessKey, SessionToken, …}`. Long-term keys are filed under the profile
//! name; sessions (`session,…`, `sts.…,…`) and SSO tokens (`oidc:…`) under other keys, skipped.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The largest store file read (aws-vault's are well under 4 KiB).
const MAX_FILE: u64 = 256 * 1024;
/// The largest PBES2 iteration count accepted (jose2go writes 8192; more only makes a hostile
/// file slow to try).
const MAX_P2C: u32 = 10_000_000;

/// One long-term key pair read from aws-vault.
pub struct VaultKeys {
    /// The profile name (the item key).
    pub profile: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Whether aws-vault kept a session token with it (temporary credentials).
    pub temporary: bool,
}

/// The directory of aws-vault's file store: `AWS_VAULT_FILE_DIR`, else `~/.awsvault/keys`.
pub fn file_dir() -> Result<PathBuf> {
    let home = || {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("HOME is not set: cannot find aws-vault's file store"))
    };
    match std::env::var_os("AWS_VAULT_FILE_DIR").filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            match d.strip_prefix("~") {
                Ok(rest) => Ok(home()?.join(rest)),
                Err(_) => Ok(d),
            }
        }
        None => Ok(home()?.join(".awsvault").join("keys")),
    }
}

/// Whether an item key is one of aws-vault's session or SSO token entries (not long-term keys).
fn is_session_key(key: &str) -> bool {
    if key.starts_with("oidc:") || key.starts_with("session:") || key.ends_with(')') {
        return true;
    }
    // `TYPE,PROFILE,MFA_SERIAL,EXPIRATION` (and the old `session,…`).
    let parts: Vec<&str> = key.split(',').collect();
    parts.len() == 4
        && !parts[3].is_empty()
        && parts[3].bytes().all(|b| b.is_ascii_digit())
        && !parts[0].is_empty()
        && !parts[1].is_empty()
}

/// Percent-decoding of a file name into the item key (mtibben/percent).
fn unescape(name: &str) -> String {
    percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned()
}

/// The file name of an item key: `%` and `/` percent-encoded, as 99designs/keyring writes it.
fn escape(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// Lists the profiles with long-term keys in the file store in `dir`.
pub fn file_profiles(dir: &Path) -> Result<Vec<String>> {
    let shown = crate::sanitize::printable(dir.as_os_str().as_encoded_bytes(), 200);
    let rd = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!(
            "aws-vault's file store {shown} does not exist (AWS_VAULT_FILE_DIR names another); awsenv does not read aws-vault's Secret Service items yet: 'aws-vault exec --no-session PROFILE -- awsenv add PROFILE --env' moves one profile"
        ),
        _ => anyhow!("cannot read aws-vault's file store {shown}: {e}"),
    })?;
    let mut names: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(unescape))
        .filter(|k| !k.starts_with('.') && !is_session_key(k))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads the keys of `profile` from the file store in `dir` with `passphrase`; `Ok(None)` when
/// it has no file there.
pub fn file_get(dir: &Path, profile: &str, passphrase: &str) -> Result<Option<VaultKeys>> {
    let path = dir.join(escape(profile));
    let shown = crate::sanitize::printable(path.as_os_str().as_encoded_bytes(), 200);
    let md = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read {shown}: {e}"),
    };
    if !md.is_file() || md.len() > MAX_FILE {
        bail!("{shown} is not an aws-vault key file (not a regular file, or too large)");
    }
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    let plain = decrypt_jwe(text.trim(), passphrase).map_err(|e| anyhow!("{shown}: {e}"))?;
    parse_item(&plain, profile)
        .map_err(|e| anyhow!("{shown}: {e}"))
        .map(Some)
}

#[derive(Deserialize)]
struct JweHeader {
    alg: String,
    enc: String,
    p2s: String,
    p2c: u32,
    #[serde(default)]
    zip: Option<String>,
}

/// Decrypts a JWE compact serialisation made with PBES2-HS256+A128KW and A256GCM.
fn decrypt_jwe(token: &str, passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, wrapped, iv, ciphertext, tag] = parts[..] else {
        bail!("not a JWE (compact serialisation with five parts)");
    };
    let b64 = |what: &str, s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| anyhow!("not a JWE: its {what} is not base64url"))
    };
    let header: JweHeader = serde_json::from_slice(&b64("header", header_b64)?)
        .map_err(|_| anyhow!("not a JWE made by aws-vault (header without alg, enc, p2s, p2c)"))?;
    if header.alg != "PBES2-HS256+A128KW" || header.enc != "A256GCM" || header.zip.is_some() {
        bail!(
            "encrypted with {} / {}, not aws-vault's PBES2-HS256+A128KW / A256GCM",
            crate::sanitize::printable(header.alg.as_bytes(), 40),
            crate::sanitize::printable(header.enc.as_bytes(), 40)
        );
    }
    if header.p2c == 0 || header.p2c > MAX_P2C {
        bail!("its PBES2 iteration count ({}) is out of range", header.p2c);
    }
    // PBES2 (RFC 7518 §4.8): salt = alg || 0x00 || p2s; key = PBKDF2-HMAC-SHA256(passphrase).
    let mut salt = header.alg.as_bytes().to_vec();
    salt.push(0);
    salt.extend(b64("p2s", &header.p2s)?);
    let mut kek = Zeroizing::new([0u8; 16]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), &salt, header.p2c, &mut *kek);
    let cek = Zeroizing::new(
        aes_kw::KekAes128::from(*kek)
            .unwrap_vec(&b64("encrypted key", wrapped)?)
            .map_err(|_| {
                anyhow!("the passphrase does not open it (wrong AWS_VAULT_FILE_PASSPHRASE or typed passphrase?)")
            })?,
    );
    if cek.len() != 32 {
        bail!("its content key is not 256 bits");
    }
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&cek)
        .map_err(|_| anyhow!("its content key is not 256 bits"))?;
    let iv = b64("iv", iv)?;
    if iv.len() != 12 {
        bail!("its A256GCM nonce is not 96 bits");
    }
    let mut msg = b64("ciphertext", ciphertext)?;
    msg.extend(b64("tag", tag)?);
    let plain = cipher
        .decrypt(
            aes_gcm::Nonce::from_slice(&iv),
            Payload {
                msg: &msg,
                aad: header_b64.as_bytes(),
            },
        )
        .map_err(|_| anyhow!("its content does not decrypt (damaged or altered)"))?;
    Ok(Zeroizing::new(plain))
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "Key", default)]
    key: String,
    #[serde(rename = "Data", default)]
    data: String,
}

#[derive(Deserialize)]
struct AwsCredentials {
    #[serde(rename = "AccessKeyID", default)]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey", default)]
    secret_access_key: String,
    #[serde(rename = "SessionToken", default)]
    session_token: String,
}

impl Drop for AwsCredentials {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_access_key.zeroize();
        self.session_token.zeroize();
    }
}

/// Parses a keyring.Item JSON (as both aws-vault backends keep it) holding aws.Credentials.
pub fn parse_item(json: &[u8], profile: &str) -> Result<VaultKeys> {
    let item: Item = serde_json::from_slice(json)
        .map_err(|_| anyhow!("not an aws-vault item (JSON with Key and Data)"))?;
    if item.key != profile {
        bail!(
            "the item inside is for {}, not {profile}",
            crate::sanitize::quoted(item.key.as_bytes(), 80)
        );
    }
    let data = Zeroizing::new(
        STANDARD
            .decode(item.data.as_bytes())
            .map_err(|_| anyhow!("the item's Data is not base64"))?,
    );
    let mut creds: AwsCredentials = serde_json::from_slice(&data)
        .map_err(|_| anyhow!("the item's Data is not aws-vault credentials JSON"))?;
    Ok(VaultKeys {
        profile: profile.to_string(),
        access_key_id: std::mem::take(&mut creds.access_key_id),
        secret_access_key: Zeroizing::new(std::mem::take(&mut creds.secret_access_key)),
        temporary: !creds.session_token.is_empty(),
    })
}

/// The passphrase of the file store: `AWS_VAULT_FILE_PASSPHRASE`, else asked on the terminal.
pub fn passphrase(dir: &Path) -> Result<Zeroizing<String>> {
    if let Some(p) = std::env::var_os("AWS_VAULT_FILE_PASSPHRASE").filter(|p| !p.is_empty()) {
        return p
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| anyhow!("AWS_VAULT_FILE_PASSPHRASE is not UTF-8"));
    }
    let shown = crate::sanitize::printable(dir.as_os_str().as_encoded_bytes(), 200);
    match crate::tty::read_line(&format!("Passphrase of aws-vault's file store {shown}: "), true) {
        Ok(line) => Ok(line),
        Err(crate::tty::TtyError::Interrupted | crate::tty::TtyError::Eof) => Err(
            anyhow::Error::new(crate::tty::Cancelled::new("passphrase prompt")),
        ),
        Err(e) => Err(e.or_else_no_tty(|| {
            anyhow!(
                "aws-vault's file store {shown} needs its passphrase: no terminal to ask on; set AWS_VAULT_FILE_PASSPHRASE"
            )
        })),
    }
}

/// The Secret Service collection aws-vault keeps its items in:
/// `AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME` (its `--secret-service-collection`), else `awsvault`.
pub fn collection_name() -> String {
    std::env::var("AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "awsvault".into())
}

/// A collection's object path as 99designs/keyring compares it: `_XX` hex escapes decoded.
fn decoded_path(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_'
            && let Some(h) = path.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The long-term keys in aws-vault's Secret Service collection ([`collection_name`]), every
/// profile or the named ones, read as 99designs/keyring's secret-service backend keeps them: one
/// item per key, labelled with the key (attribute `profile` = the key), whose secret is the
/// keyring.Item JSON. `Ok(None)` when no Secret Service answers or it has no such collection.
pub fn secret_service_keys(profiles: &[String]) -> Result<Option<Vec<VaultKeys>>> {
    use dbus_secret_service::{EncryptionType, SecretService};
    let Ok(ss) = SecretService::connect(EncryptionType::Dh) else {
        return Ok(None);
    };
    let name = collection_name();
    let want = format!("/org/freedesktop/secrets/collection/{name}");
    let collections = ss
        .get_all_collections()
        .map_err(|e| anyhow!("the Secret Service did not list its collections: {e}"))?;
    let Some(c) = collections
        .iter()
        .find(|c| decoded_path(&c.path.to_string()) == want)
    else {
        return Ok(None);
    };
    let shown = crate::sanitize::quoted(name.as_bytes(), 80);
    c.ensure_unlocked()
        .map_err(|e| anyhow!("aws-vault's Secret Service collection {shown} stays locked: {e}; unlock it (e.g. sign in to the desktop) and try again"))?;
    let items = c
        .get_all_items()
        .map_err(|e| anyhow!("cannot list aws-vault's Secret Service collection {shown}: {e}"))?;
    let mut found = Vec::new();
    for item in &items {
        let Ok(label) = item.get_label() else {
            continue;
        };
        if is_session_key(&label) || (!profiles.is_empty() && !profiles.contains(&label)) {
            continue;
        }
        let secret = Zeroizing::new(item.get_secret().map_err(|e| {
            anyhow!(
                "cannot read aws-vault's item {} in the Secret Service: {e}",
                crate::sanitize::quoted(label.as_bytes(), 80)
            )
        })?);
        let keys = parse_item(&secret, &label).map_err(|e| {
            anyhow!(
                "aws-vault's Secret Service item {}: {e:#}",
                crate::sanitize::quoted(label.as_bytes(), 80)
            )
        })?;
        found.push(keys);
    }
    found.sort_by(|a, b| a.profile.cmp(&b.profile));
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_and_token_keys_are_not_profiles() {
        for k in [
            "session,cHJvZA,,1700000000",
            "sts.GetSessionToken,cHJvZA,arn:aws:iam::1:mfa/u,1700000000",
            "oidc:https://example.awsapps.com/start",
            "session:prod:arn:x:1700000000",
            "prod session (1700000000)",
        ] {
            assert!(is_session_key(k), "{k}");
        }
        for k in ["prod", "my-profile", "a,b"] {
            assert!(!is_session_key(k), "{k}");
        }
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(escape("a/b%c"), "a%2Fb%25c");
        assert_eq!(unescape(&escape("a/b%c d")), "a/b%c d");
    }
}
