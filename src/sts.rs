//! The STS calls (GetSessionToken, AssumeRole, GetFederationToken, GetCallerIdentity) through
//! aws-sdk-sts, and their errors turned into one actionable line.

use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials as SdkCredentials, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
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

/// Where and how STS is reached.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The region the client signs for.
    pub region: String,
    /// An endpoint override (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, profile `endpoint_url`).
    pub url: Option<String>,
}

impl Endpoint {
    /// The endpoint for a profile: the standard environment overrides first, then the
    /// profile's `endpoint_url`; the region defaults to us-east-1.
    pub fn new(region: Option<&str>, profile_endpoint: Option<&str>) -> Endpoint {
        let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let url = if ignore {
            None
        } else {
            env("AWS_ENDPOINT_URL_STS")
                .or_else(|| env("AWS_ENDPOINT_URL"))
                .or_else(|| profile_endpoint.map(str::to_string))
        };
        Endpoint {
            region: region.unwrap_or("us-east-1").to_string(),
            url,
        }
    }

    fn describe(&self) -> String {
        match &self.url {
            Some(u) => u.clone(),
            None => format!("sts.{}.amazonaws.com", self.region),
        }
    }

    fn client(&self, creds: &Creds) -> aws_sdk_sts::Client {
        let total = std::env::var("AWSENV_STS_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(20);
        let mut b = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SdkCredentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                creds.session_token.clone(),
                None,
                "awsenv",
            ))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5.min(total)))
                    .operation_attempt_timeout(Duration::from_secs((total / 2).max(1)))
                    .operation_timeout(Duration::from_secs(total))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(u) = &self.url {
            b = b.endpoint_url(u.clone());
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }
}

/// What a call was for, so its error can say what to do.
pub struct Context<'a> {
    /// The profile being resolved.
    pub profile: &'a str,
    /// The root profile whose keys sign the first call.
    pub root: &'a str,
    /// The MFA device, when a code was sent.
    pub mfa_serial: Option<&'a str>,
    /// A short description: `GetSessionToken`, `AssumeRole arn:…`.
    pub what: String,
}

fn convert(c: Option<&aws_sdk_sts::types::Credentials>, ctx: &Context<'_>) -> Result<Creds> {
    let c = c.ok_or_else(|| anyhow!("{}: STS returned no credentials", ctx.what))?;
    Ok(Creds {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: Some(c.session_token().to_string()),
        expiration: Some(c.expiration().secs()),
    })
}

fn map_err<E, R>(err: SdkError<E, R>, ep: &Endpoint, ctx: &Context<'_>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let what = &ctx.what;
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let msg = crate::awsconfig::one_line(e.message().unwrap_or(""));
            match code {
                "AccessDenied"
                    if ctx.mfa_serial.is_some() && msg.contains("MultiFactorAuthentication") =>
                {
                    anyhow!(
                        "{what} for profile {}: wrong MFA code for {} (or one already used); try again with a new code",
                        ctx.profile,
                        ctx.mfa_serial.unwrap_or_default()
                    )
                }
                "AccessDenied" => anyhow!(
                    "{what} for profile {}: access denied ({msg}); check the role's trust policy and your permissions",
                    ctx.profile
                ),
                "ExpiredToken" | "ExpiredTokenException" => anyhow!(
                    "{what} for profile {}: the credentials used have expired ({msg}); run 'awsenv clear {}' and try again",
                    ctx.profile,
                    ctx.profile
                ),
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException"
                | "InvalidAccessKeyId" => anyhow!(
                    "{what} for profile {}: AWS rejected the keys of profile {} ({code}); store valid keys with 'awsenv add {} --force'",
                    ctx.profile,
                    ctx.root,
                    ctx.root
                ),
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException" => anyhow!(
                    "{what} for profile {}: STS is throttling requests ({code}); wait a minute and retry",
                    ctx.profile
                ),
                _ => anyhow!("{what} for profile {}: {code}: {msg}", ctx.profile),
            }
        }
        SdkError::TimeoutError(_) => anyhow!(
            "{what} for profile {}: STS at {} did not answer in time; check your network or AWS_ENDPOINT_URL_STS",
            ctx.profile,
            ep.describe()
        ),
        SdkError::DispatchFailure(d) => {
            let detail = if d.is_timeout() {
                "timed out".to_string()
            } else if d.is_io() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            };
            anyhow!(
                "{what} for profile {}: cannot reach STS at {} ({detail}); check your network or AWS_ENDPOINT_URL_STS",
                ctx.profile,
                ep.describe()
            )
        }
        _ => anyhow!(
            "{what} for profile {}: unexpected answer from STS at {}: {}",
            ctx.profile,
            ep.describe(),
            crate::awsconfig::one_line(&format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ))
        ),
    }
}

/// GetSessionToken, with an MFA device and code when given.
pub async fn get_session_token(
    ep: &Endpoint,
    base: &Creds,
    duration: Duration,
    mfa: Option<(&str, &str)>,
    ctx: &Context<'_>,
) -> Result<Creds> {
    let mut req = ep
        .client(base)
        .get_session_token()
        .duration_seconds(duration.as_secs() as i32);
    if let Some((serial, code)) = mfa {
        req = req.serial_number(serial).token_code(code);
    }
    let out = req.send().await.map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ctx)
}

/// The parameters of one AssumeRole call.
pub struct AssumeRole<'a> {
    /// `role_arn`.
    pub role_arn: &'a str,
    /// `role_session_name`.
    pub session_name: &'a str,
    /// `DurationSeconds`.
    pub duration: Duration,
    /// `external_id`.
    pub external_id: Option<&'a str>,
    /// `source_identity`.
    pub source_identity: Option<&'a str>,
    /// MFA device and code (only with `--no-session`).
    pub mfa: Option<(&'a str, &'a str)>,
}

/// AssumeRole.
pub async fn assume_role(
    ep: &Endpoint,
    base: &Creds,
    p: &AssumeRole<'_>,
    ctx: &Context<'_>,
) -> Result<Creds> {
    let mut req = ep
        .client(base)
        .assume_role()
        .role_arn(p.role_arn)
        .role_session_name(p.session_name)
        .duration_seconds(p.duration.as_secs() as i32)
        .set_external_id(p.external_id.map(str::to_string))
        .set_source_identity(p.source_identity.map(str::to_string));
    if let Some((serial, code)) = p.mfa {
        req = req.serial_number(serial).token_code(code);
    }
    let out = req.send().await.map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ctx)
}

/// GetFederationToken (console sign-in for a profile without a role).
pub async fn get_federation_token(
    ep: &Endpoint,
    base: &Creds,
    name: &str,
    duration: Duration,
    ctx: &Context<'_>,
) -> Result<Creds> {
    let out = ep
        .client(base)
        .get_federation_token()
        .name(name)
        .duration_seconds(duration.as_secs() as i32)
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn("arn:aws:iam::aws:policy/AdministratorAccess")
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ctx)
}

/// GetCallerIdentity: (account, ARN).
pub async fn caller_identity(
    ep: &Endpoint,
    creds: &Creds,
    ctx: &Context<'_>,
) -> Result<(String, String)> {
    let out = ep
        .client(creds)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    Ok((
        out.account().unwrap_or_default().to_string(),
        out.arn().unwrap_or_default().to_string(),
    ))
}
