//! Web identity: a root profile with `web_identity_token_file` and `role_arn` (and optionally
//! `role_session_name`) exchanges the token in the file (an OIDC token from a CI system or
//! Kubernetes) for the role's credentials with AssumeRoleWithWebIdentity, at the STS endpoint of
//! the resolution. The token is the credential: the call is not signed. Cached under the role,
//! the session name and a digest of the token, so a new token is used as soon as it is written.

use anyhow::{Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::{CacheSpec, Cx, Fetch, Source};
use crate::awsconfig::Profile;
use crate::sts;

/// The largest token file read (64 KiB; OIDC tokens are a few KiB).
const MAX_TOKEN: u64 = 64 * 1024;

/// The web identity source.
pub struct WebIdentity;

/// The role and the token file of a web identity root.
fn settings_of(root: &Profile) -> Result<(&str, &str)> {
    let file = root
        .get("web_identity_token_file")
        .ok_or_else(|| anyhow!("profile {} has no web_identity_token_file", root.name))?;
    let Some(role) = root.get("role_arn") else {
        bail!(
            "profile {}: web_identity_token_file is set but role_arn is not; add role_arn = the role the token may assume",
            root.name
        );
    };
    Ok((role, file))
}

/// The token in the file, trimmed; an error naming the profile and the file.
fn token(root: &Profile, file: &str) -> Result<zeroize::Zeroizing<String>> {
    let path = std::path::Path::new(file);
    let what = format!("the web identity token of profile {}", root.name);
    let text = crate::awsconfig::read_text_file(path, MAX_TOKEN, &what, "point web_identity_token_file at the token file")?
        .ok_or_else(|| {
            anyhow!(
                "profile {}: web_identity_token_file = {} does not exist; is the token mounted (CI job, Kubernetes service account)?",
                root.name,
                crate::sanitize::quoted(file.as_bytes(), 120)
            )
        })?;
    let text = zeroize::Zeroizing::new(text);
    let t = text.trim();
    if t.is_empty() {
        bail!(
            "profile {}: web_identity_token_file = {} is empty",
            root.name,
            crate::sanitize::quoted(file.as_bytes(), 120)
        );
    }
    Ok(zeroize::Zeroizing::new(t.to_string()))
}

/// `role_session_name`, else the local user name (as for AssumeRole).
fn session_name(root: &Profile) -> String {
    root.get("role_session_name")
        .map(str::to_string)
        .unwrap_or_else(super::local_user)
}

impl Source for WebIdentity {
    fn name(&self) -> &'static str {
        "web identity"
    }

    fn claims(&self, _cx: &Cx<'_>, root: &Profile) -> Result<bool> {
        if root.get("web_identity_token_file").is_none() {
            return Ok(false);
        }
        settings_of(root)?;
        Ok(true)
    }

    fn takes_role(&self) -> bool {
        true
    }

    fn cache(&self, cx: &Cx<'_>, root: &Profile) -> Result<Option<CacheSpec>> {
        let (role, file) = settings_of(root)?;
        let digest: String = Sha256::digest(token(root, file)?.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Some(CacheSpec {
            kind: "web_identity",
            upstream: format!("{role}:{}:{digest}", session_name(root)),
            endpoint: cx.sts.url.clone(),
            label: Some(role.to_string()),
        }))
    }

    fn fetch<'a>(&'a self, cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let (role, file) = settings_of(root)?;
            let token = token(root, file)?;
            let duration = root.duration_seconds()?.map(std::time::Duration::from_secs);
            let name = session_name(root);
            let creds = sts::assume_role_with_web_identity(
                cx.sts,
                &sts::WebIdentity {
                    role_arn: role,
                    session_name: &name,
                    token: &token,
                    duration,
                },
                &sts::Context {
                    profile: &root.name,
                    root: &root.name,
                    mfa_serial: None,
                    what: format!("AssumeRoleWithWebIdentity {role}"),
                },
            )
            .await?;
            crate::credcheck::check(
                &creds,
                &format!("profile {}: AssumeRoleWithWebIdentity", root.name),
                "check that the STS endpoint is AWS STS",
            )?;
            Ok(creds)
        })
    }
}
