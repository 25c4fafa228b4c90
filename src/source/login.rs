//! `login_session` profiles: the console credentials of `aws login` (AWS CLI 2.32+).
//!
//! `aws login` keeps each sign-in session in the CLI's login cache,
//! `~/.aws/login/cache/<sha256 of the session ARN>.json` (`AWS_LOGIN_CACHE_DIRECTORY` moves
//! it): temporary AWS credentials good for 15 minutes, a refresh token good for up to 12 hours,
//! and the private key the refresh token is bound to (DPoP, RFC 9449). awsenv reads that cache
//! and refreshes through the AWS Sign-In service with aws-config's own provider
//! ([`aws_config::login::LoginCredentialsProvider`]) — the same protocol, the same file, the
//! same refresh rule (within 5 minutes of expiry) as the CLI — so the CLI and awsenv share one
//! session.
//!
//! Refresh tokens rotate and each is good for one refresh: a client that refreshes and does not
//! write the new token back logs the CLI out. So awsenv
//! - refreshes only while holding its own lock for that session (parallel awsenv processes
//!   refresh once: the others find the refreshed file when the lock is theirs),
//! - refuses to refresh a cache file it could not write back (not a regular file of the user's,
//!   or not writable), asking for `aws login` instead,
//! - and checks afterwards that the file holds the new token, saying so at once if it does not.
//!
//! Nothing of the session is copied into awsenv's own store: the CLI's file stays the one copy.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use aws_credential_types::provider::ProvideCredentials as _;
use sha2::{Digest as _, Sha256};

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;
use crate::sts::Creds;

/// The `login_session` source.
pub struct Login;

impl Source for Login {
    fn name(&self) -> &'static str {
        "aws login"
    }

    fn claims(&self, _cx: &Cx<'_>, root: &Profile) -> Result<bool> {
        Ok(root.get(KEY).is_some())
    }

    /// A role assumed from the session is keyed by the session, not by its access key (which
    /// changes at every refresh, every 15 minutes at most).
    fn upstream(&self, root: &Profile) -> Option<String> {
        Some(format!("{}:login:{}", root.name, root.get(KEY)?.trim()))
    }

    fn fetch<'a>(&'a self, cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(credentials(cx, root))
    }
}

/// The profile key `aws login` writes: the ARN of the signed-in identity.
pub const KEY: &str = "login_session";

/// The CLI's login cache directory: `AWS_LOGIN_CACHE_DIRECTORY`, else `~/.aws/login/cache`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("AWS_LOGIN_CACHE_DIRECTORY").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("HOME is not set, so the AWS CLI's login cache cannot be found"))?;
    Ok(PathBuf::from(home).join(".aws/login/cache"))
}

/// The cache file of the session `arn` (the name the CLI and the SDKs give it).
pub fn cache_file(arn: &str) -> Result<PathBuf> {
    let digest = Sha256::digest(arn.trim().as_bytes());
    let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(cache_dir()?.join(format!("{name}.json")))
}

/// What the cache file says, read without refreshing: the access token's expiry (epoch s).
fn cached_expiry(path: &std::path::Path) -> Option<i64> {
    let text = zeroize::Zeroizing::new(std::fs::read(path).ok()?);
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let at = v.get("accessToken")?.get("expiresAt")?.as_str()?;
    let t = humantime::parse_rfc3339_weak(at.trim_end_matches('Z')).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// What `list` says of the session `arn`, from the CLI's cache file alone (no refresh, no
/// secret read into the text): `login session (14m)`, `login session (refreshed at next use)`,
/// or `no 'aws login' session`.
pub fn describe(arn: &str, now: i64) -> String {
    let Ok(path) = cache_file(arn) else {
        return "no 'aws login' session".into();
    };
    match cached_expiry(&path) {
        None if std::fs::symlink_metadata(&path).is_err() => "no 'aws login' session".into(),
        Some(e) if e > now => format!("login session ({})", crate::timefmt::remaining(e - now)),
        _ => "login session (refreshed at next use)".into(),
    }
}

/// The access key id the cache file holds now (to see that a refresh was written back).
fn cached_key_id(path: &std::path::Path) -> Option<String> {
    let text = zeroize::Zeroizing::new(std::fs::read(path).ok()?);
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some(
        v.get("accessToken")?
            .get("accessKeyId")?
            .as_str()?
            .to_string(),
    )
}

/// Why awsenv may not write `path` back after a refresh, if it may not.
fn unwritable(path: &std::path::Path) -> Option<String> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) => return Some(e.to_string()),
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !md.file_type().is_file() {
        return Some("it is not a regular file".into());
    }
    if md.uid() != me {
        return Some(format!("it belongs to uid {}, not to you", md.uid()));
    }
    if md.mode() & 0o022 != 0 {
        return Some("others can write it".into());
    }
    match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// The credentials of the `login_session` root profile `root`: the cached ones while they last,
/// else refreshed through AWS Sign-In (see the module documentation for how the CLI's session
/// is kept alive).
async fn credentials(cx: &Cx<'_>, root: &Profile) -> Result<Creds> {
    let arn = root.get(KEY).unwrap_or_default().trim().to_string();
    if arn.is_empty() {
        bail!("profile {}: {KEY} is empty", root.name);
    }
    // The refresh token travels to the Sign-In endpoint: an override must be https (or loopback).
    crate::sso::endpoint_override("AWS_ENDPOINT_URL_SIGNIN")?;
    let path = cache_file(&arn)?;
    let shown = crate::sanitize::printable(path.to_string_lossy().as_bytes(), 200);
    let relogin = format!("run 'aws login --profile {}'", root.name);
    if std::fs::symlink_metadata(&path).is_err() {
        bail!(
            "profile {}: no 'aws login' session for {} in {} ({shown} is missing); {relogin}",
            root.name,
            crate::sanitize::printable(arn.as_bytes(), 120),
            crate::sanitize::printable(cache_dir()?.to_string_lossy().as_bytes(), 200),
        );
    }
    // One refresh at a time among awsenv processes; the file is read after the lock is ours.
    let _guard = crate::store::lock::acquire(&format!("login-session:{}", path.display()))?;
    let now = crate::timefmt::now_epoch();
    let will_refresh = cached_expiry(&path).is_none_or(|e| e - 300 <= now);
    if will_refresh && let Some(why) = unwritable(&path) {
        bail!(
            "profile {}: the 'aws login' session needs a refresh, but awsenv could not write the refreshed session back to {shown} ({why}), which would sign the AWS CLI out; {relogin}",
            root.name
        );
    }
    let before = cached_key_id(&path);
    let mut pc = aws_config::provider_config::ProviderConfig::default()
        .with_region(Some(aws_types::region::Region::new(cx.sts.region.clone())));
    // Proxies and CA bundles as for every other client (src/netconf.rs).
    if let Some(http) = cx.sts.net()?.sdk_client()? {
        pc = pc.with_http_client(http);
    }
    let provider = aws_config::login::LoginCredentialsProvider::builder(arn.clone())
        .configure(&pc)
        .build();
    let c = provider.provide_credentials().await.map_err(|e| {
        anyhow!(
            "profile {}: the 'aws login' session could not be used: {}; {relogin}",
            root.name,
            crate::sanitize::one_line(&format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ))
        )
    })?;
    if before.as_deref() != Some(c.access_key_id())
        && cached_key_id(&path).as_deref() != Some(c.access_key_id())
    {
        eprintln!(
            "awsenv: warning: the 'aws login' session of profile {} was refreshed, but the refreshed session could not be written back to {shown}: the AWS CLI must sign in again ('aws login --profile {}')",
            root.name, root.name
        );
    }
    let creds = super::from_sdk(&c);
    crate::credcheck::check(
        &creds,
        &format!("profile {}: the 'aws login' session", root.name),
        &relogin,
    )?;
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_file_is_named_as_the_cli_names_it() {
        // The AWS SDKs' own test vector (aws-config's login cache tests).
        let name = |arn: &str| {
            cache_file(arn)
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(
            name("arn:aws:iam::0123456789012:user/Admin"),
            "36db1d138ff460920374e4c3d8e01f53f9f73537e89c88d639f68393df0e2726.json"
        );
        assert_eq!(
            name("  arn:aws:iam::0123456789012:user/Admin  "),
            "36db1d138ff460920374e4c3d8e01f53f9f73537e89c88d639f68393df0e2726.json"
        );
    }
}
