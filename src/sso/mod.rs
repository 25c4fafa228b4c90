//! IAM Identity Center (SSO): sign in once, and every account and role of the portal is
//! available to `use`, `exec`, `exec --server`, `credential-process`, `login` and the hook.
//!
//! - [`config`]: `[sso-session]` sections and SSO profiles, validated.
//! - [`oidc`] / [`portal`]: the two services, through the official SDK crates (built by hand:
//!   aws-config's SSO token provider writes tokens to `~/.aws/sso/cache` in plaintext).
//! - [`tokens`]: access, refresh and client-registration tokens in the secret store; refresh
//!   without a browser; one sign-in and one refresh for any number of parallel callers; the AWS
//!   CLI's token cache read (written only with `[sso] write_aws_cache = true`).
//! - [`browser`]: opening a browser and the loopback redirect of the PKCE flow.
//! - [`commands`]: `awsenv sso login|logout|profiles`, and the lines `list`/`status` show.
//! - [`offered`]: what the portal offered at the last `sso profiles`, for the profile picker.
//!
//! The resolver calls [`role_credentials`] for a profile at the root of a `source_profile`
//! chain that has `sso_account_id`/`sso_role_name`; it caches the result like assumed roles.

pub mod browser;
pub mod commands;
pub mod config;
pub mod offered;
pub mod oidc;
pub mod portal;
pub mod tokens;

use anyhow::{Result, anyhow};
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};

pub use config::{SsoRole, SsoSession, is_sso, role_of};

use crate::settings::Settings;
use crate::store::SecretStore;
use crate::sts::Creds;

/// An endpoint override from the environment: `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
/// `AWS_ENDPOINT_URL_SSO_OIDC`), then `AWS_ENDPOINT_URL`, unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`. The SDK applies these only to clients built from
/// an `SdkConfig` (aws-config's loader), not to clients built by hand as here, so awsenv reads
/// them itself — like the AWS CLI and botocore do.
///
/// The override must be an `https://` URL, or `http://` on the loopback interface (tests, local
/// proxies): tokens and role credentials travel to it ([`crate::browser::WebUrl`]'s check).
pub fn endpoint_override(service_var: &str) -> Result<Option<String>> {
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    if env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let Some((name, url)) = env(service_var)
        .map(|u| (service_var, u))
        .or_else(|| env("AWS_ENDPOINT_URL").map(|u| ("AWS_ENDPOINT_URL", u)))
    else {
        return Ok(None);
    };
    crate::browser::WebUrl::parse(name, url.trim())?;
    Ok(Some(url))
}

/// The public endpoint of `prefix` (`oidc`, `portal.sso`) in `region`.
pub fn default_endpoint(prefix: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{prefix}.{region}.{suffix}")
}

/// One line for a failed SDK call: what failed, why, and what to do.
pub(crate) fn sdk_failure<E, R>(
    service: &str,
    base: &str,
    env_var: &str,
    what: &str,
    err: &SdkError<E, R>,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    // The endpoint may come from an environment variable: outside text like the answer.
    let base = crate::sanitize::printable(base.as_bytes(), 200);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let text = |s: &str, max| crate::sanitize::line(s.as_bytes(), max);
            anyhow!(
                "{what} at {service} ({base}): {}: {}",
                text(e.code().unwrap_or("Unknown"), 64),
                text(e.message().unwrap_or("no message"), 300)
            )
        }
        SdkError::TimeoutError(_) => anyhow!(
            "{what}: {service} at {base} did not answer in time; check your network or {env_var}"
        ),
        SdkError::DispatchFailure(d) => {
            let net = crate::netconf::NetConf::new(None).ok();
            match d.as_connector_error().and_then(|c| net?.explain(c, &base)) {
                Some(why) => anyhow!("{what}: {service}: {why}"),
                None => anyhow!(
                    "{what}: cannot reach {service} at {base}; check your network or {env_var}"
                ),
            }
        }
        _ => anyhow!(
            "{what}: unexpected answer from {service} at {base}: {}",
            crate::sanitize::one_line(&format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(err)
            ))
        ),
    }
}

/// Role credentials for an SSO profile: GetRoleCredentials with the sign-in's access token
/// (signing in or refreshing first when needed; once more if the portal refuses the token).
pub async fn role_credentials(
    store: &dyn SecretStore,
    settings: &Settings,
    role: &SsoRole,
) -> Result<Creds> {
    let ctx = tokens::Ctx { store, settings };
    let portal = portal::Portal::new(&role.session.region)?;
    let mut token = tokens::access_token(&ctx, &role.session, None, Some(&role.profile)).await?;
    for attempt in 0..2 {
        match portal
            .role_credentials(&token, &role.account_id, &role.role_name)
            .await
        {
            Ok(c) => return Ok(c),
            Err(portal::PortalError::Unauthorized) if attempt == 0 => {
                // Expired or revoked early: refresh (or sign in) once, never reuse this token.
                token =
                    tokens::access_token(&ctx, &role.session, Some(&token), Some(&role.profile))
                        .await?;
            }
            Err(portal::PortalError::Unauthorized) => break,
            Err(portal::PortalError::Forbidden) => {
                return Err(anyhow!(
                    "profile {}: IAM Identity Center denies access to role {} in account {} for {}; check sso_account_id and sso_role_name ('awsenv sso profiles' lists what you can use)",
                    role.profile,
                    role.role_name,
                    role.account_id,
                    role.session.start_url
                ));
            }
            Err(portal::PortalError::Failed(e)) => {
                return Err(e.context(format!("profile {}", role.profile)));
            }
        }
    }
    Err(anyhow!(
        "profile {}: the AWS access portal refuses the IAM Identity Center token for {}; sign in again with '{}'",
        role.profile,
        role.session.describe(),
        role.session.login_command(Some(&role.profile))
    ))
}
