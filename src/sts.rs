//! The STS calls (GetSessionToken, AssumeRole, GetFederationToken, GetCallerIdentity) through
//! aws-sdk-sts, and their errors turned into one actionable line.

use std::time::Duration;

use anyhow::{Result, anyhow};

pub use crate::credcheck::{Creds, Invalid, validate};
pub use crate::sanitize::printable;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials as SdkCredentials, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

/// The default total time for one STS operation (`AWSENV_STS_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = crate::settings::DEFAULT_STS_TIMEOUT;

/// Where and how STS is reached.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The region the client signs for.
    pub region: String,
    /// An endpoint override (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, profile `endpoint_url`).
    pub url: Option<String>,
    /// The total time one operation may take, retries included.
    pub timeout: Duration,
    /// How many attempts one operation may make (1: no retry).
    pub attempts: u32,
    /// The profile's `ca_bundle` (`AWS_CA_BUNDLE` wins; see [`crate::netconf`]).
    pub ca_bundle: Option<String>,
}

impl Endpoint {
    /// The endpoint for a profile: the standard environment overrides first, then the
    /// profile's `endpoint_url`; the region defaults to us-east-1. The timeout is
    /// `AWSENV_STS_TIMEOUT` when it is valid (the settings refuse an invalid one), else 20 s.
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
        let timeout = env("AWSENV_STS_TIMEOUT")
            .and_then(|v| crate::settings::sts_timeout(&v).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        Endpoint {
            region: region.unwrap_or("us-east-1").to_string(),
            url,
            timeout,
            attempts: 3,
            ca_bundle: None,
        }
    }

    /// The same endpoint trusting the profile's `ca_bundle` too (`AWS_CA_BUNDLE` wins).
    pub fn with_ca_bundle(mut self, ca_bundle: Option<&str>) -> Endpoint {
        self.ca_bundle = ca_bundle.map(str::to_string);
        self
    }

    /// The proxies and CA bundle this endpoint is reached with.
    pub fn net(&self) -> Result<crate::netconf::NetConf> {
        crate::netconf::NetConf::new(self.ca_bundle.as_deref())
    }

    /// The URL the SDK calls, for the rules of [`crate::netconf`].
    pub fn target_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com/", self.region))
    }

    /// The same endpoint with another total timeout and number of attempts.
    pub fn with_limits(mut self, timeout: Duration, attempts: u32) -> Endpoint {
        self.timeout = timeout;
        self.attempts = attempts.max(1);
        self
    }

    /// The endpoint as shown in messages: the override URL, or AWS's regional host.
    pub fn describe(&self) -> String {
        match &self.url {
            Some(u) => printable(u.as_bytes(), 200),
            None => format!("sts.{}.amazonaws.com", self.region),
        }
    }

    /// The timeout as shown in messages (`3s`, `20s`).
    pub fn timeout_text(&self) -> String {
        crate::timefmt::remaining(self.timeout.as_secs().max(1) as i64)
    }

    fn client(&self, creds: &Creds) -> Result<aws_sdk_sts::Client> {
        let total = self.timeout.max(Duration::from_secs(1));
        let attempt = if self.attempts > 1 {
            (total / 2).max(Duration::from_secs(1))
        } else {
            total
        };
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
                    .connect_timeout(total.min(Duration::from_secs(5)))
                    .operation_attempt_timeout(attempt)
                    .operation_timeout(total)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.attempts.max(1)));
        if let Some(u) = &self.url {
            b = b.endpoint_url(u.clone());
        }
        if let Some(http) = self.net()?.sdk_client()? {
            b = b.http_client(http);
        }
        Ok(aws_sdk_sts::Client::from_conf(b.build()))
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

fn convert(
    c: Option<&aws_sdk_sts::types::Credentials>,
    ep: &Endpoint,
    ctx: &Context<'_>,
) -> Result<Creds> {
    let unusable = |why: &str| {
        anyhow!(
            "{} for profile {}: STS at {} answered without a usable credential ({why}); check that {} is AWS STS (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url)",
            ctx.what,
            ctx.profile,
            ep.describe(),
            ep.describe()
        )
    };
    let c = c.ok_or_else(|| unusable("no Credentials element"))?;
    let creds = Creds {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: Some(c.session_token().to_string()),
        expiration: Some(c.expiration().secs()),
    };
    validate(&creds, crate::timefmt::now_epoch()).map_err(|e| unusable(&e.0))?;
    Ok(creds)
}

/// What came back, for a reply that awsenv cannot read: status, content type, size and the
/// first bytes — unless it looks like it holds a credential, then the parser's complaint.
/// Returns whether it looked like that, and the text.
///
/// Public only for the fuzz target `sts_answer` (`fuzz/`); awsenv calls it on STS replies its
/// SDK could not parse.
pub fn describe_reply(resp: &HttpResponse, why: &str) -> (bool, String) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| printable(v.as_bytes(), 60))
        .unwrap_or_else(|| "no content type".into());
    let body = resp.body().bytes().unwrap_or_default();
    let holds_secret = [&b"SecretAccessKey"[..], b"SessionToken"]
        .iter()
        .any(|n| body.windows(n.len()).any(|w| w == *n));
    if body.is_empty() {
        (false, format!("HTTP {status}, {ctype}, empty body"))
    } else if holds_secret {
        (
            true,
            format!(
                "HTTP {status}, {ctype}, {} bytes: {}",
                body.len(),
                printable(why.as_bytes(), 160)
            ),
        )
    } else {
        let start = body.len().min(200);
        (
            false,
            format!(
                "HTTP {status}, {ctype}, {} bytes starting \"{}\"",
                body.len(),
                printable(&body[..start], 80)
            ),
        )
    }
}

/// The innermost cause of an error, as one line.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    crate::awsconfig::one_line(&cur.to_string())
}

fn map_err<E>(err: SdkError<E>, ep: &Endpoint, ctx: &Context<'_>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let what = &ctx.what;
    let not_sts = |resp: &HttpResponse, why: String| {
        let (looks_like_sts, reply) = describe_reply(resp, &why);
        let kind = if looks_like_sts {
            "an STS answer awsenv cannot read"
        } else {
            "something that is not an STS answer"
        };
        anyhow!(
            "{what} for profile {}: STS at {} sent {kind}: {reply}; check that {} is AWS STS (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url)",
            ctx.profile,
            ep.describe(),
            ep.describe()
        )
    };
    let no_answer = || {
        anyhow::Error::new(NoAnswer {
            message: format!(
                "{what} for profile {}: STS at {} did not answer within {}; check your network or AWS_ENDPOINT_URL_STS",
                ctx.profile,
                ep.describe(),
                ep.timeout_text()
            ),
            within: ep.timeout_text(),
        })
    };
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let Some(code) = e.code() else {
                return not_sts(se.raw(), root_cause(e));
            };
            let code = printable(code.as_bytes(), 60);
            let msg = printable(
                crate::awsconfig::one_line(e.message().unwrap_or("")).as_bytes(),
                300,
            );
            match code.as_str() {
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
        SdkError::TimeoutError(_) => no_answer(),
        SdkError::DispatchFailure(d) if d.is_timeout() => no_answer(),
        SdkError::DispatchFailure(d) => {
            let net = ep.net().ok();
            if let Some(why) = d
                .as_connector_error()
                .and_then(|c| net?.explain(c, &ep.target_url()))
            {
                return anyhow!("{what} for profile {}: {why}", ctx.profile);
            }
            let detail = if d.is_io() {
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
        SdkError::ResponseError(r) => not_sts(r.raw(), root_cause(&err)),
        _ => anyhow!(
            "{what} for profile {}: unexpected answer from STS at {}: {}",
            ctx.profile,
            ep.describe(),
            printable(
                crate::awsconfig::one_line(&format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                ))
                .as_bytes(),
                300
            )
        ),
    }
}

/// The error of an STS call that got no answer in time (`status` says so in its own words).
#[derive(Debug)]
pub struct NoAnswer {
    /// The full one-line message.
    pub message: String,
    /// The timeout as text (`3s`).
    pub within: String,
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NoAnswer {}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// The parts of an IAM ARN (`arn:PARTITION:iam::ACCOUNT:RESOURCE`): the account (12 digits)
/// and the resource (`role/path/NAME`, `user/NAME`); `None` for anything that is not one.
pub fn iam_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, _partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn_ == "arn"
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit()))
    .then_some((account, resource))
}

/// How long an STS call may take before awsenv says what it waits for.
const SAY_AFTER: Duration = Duration::from_secs(1);

/// Runs one STS call; when it has not answered within [`SAY_AFTER`] (an endpoint that never
/// answers, a refused connection being retried), says once on stderr what awsenv waits for and
/// how long at most. Ctrl-C ends the wait (see `runtime::block_on`).
async fn said<T>(ep: &Endpoint, what: &str, call: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(call);
    tokio::select! {
        r = &mut call => return r,
        _ = tokio::time::sleep(SAY_AFTER) => {}
    }
    eprintln!(
        "awsenv: waiting for STS at {} ({what}; at most {}, Ctrl-C cancels)",
        ep.describe(),
        ep.timeout_text()
    );
    call.await
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
        .client(base)?
        .get_session_token()
        .duration_seconds(secs_i32(duration));
    if let Some((serial, code)) = mfa {
        req = req.serial_number(serial).token_code(code);
    }
    let out = said(ep, "GetSessionToken", req.send())
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ep, ctx)
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
        .client(base)?
        .assume_role()
        .role_arn(p.role_arn)
        .role_session_name(p.session_name)
        .duration_seconds(secs_i32(p.duration))
        .set_external_id(p.external_id.map(str::to_string))
        .set_source_identity(p.source_identity.map(str::to_string));
    if let Some((serial, code)) = p.mfa {
        req = req.serial_number(serial).token_code(code);
    }
    let out = said(ep, "AssumeRole", req.send())
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ep, ctx)
}

/// The parameters of one AssumeRoleWithWebIdentity call.
pub struct WebIdentity<'a> {
    /// `role_arn`.
    pub role_arn: &'a str,
    /// `role_session_name`.
    pub session_name: &'a str,
    /// The token (from `web_identity_token_file`).
    pub token: &'a str,
    /// `DurationSeconds`, when the profile sets `duration_seconds` (else STS's default, 1h).
    pub duration: Option<Duration>,
}

/// AssumeRoleWithWebIdentity: not signed (the token is the credential), through the same client
/// as every other STS call.
pub async fn assume_role_with_web_identity(
    ep: &Endpoint,
    p: &WebIdentity<'_>,
    ctx: &Context<'_>,
) -> Result<Creds> {
    // The operation's only auth scheme is "no auth": these placeholder keys sign nothing.
    let unsigned = Creds {
        access_key_id: "unsigned".into(),
        secret_access_key: "unsigned".into(),
        session_token: None,
        expiration: None,
    };
    let req = ep
        .client(&unsigned)?
        .assume_role_with_web_identity()
        .role_arn(p.role_arn)
        .role_session_name(p.session_name)
        .web_identity_token(p.token)
        .set_duration_seconds(p.duration.map(secs_i32));
    let out = said(ep, "AssumeRoleWithWebIdentity", req.send())
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ep, ctx)
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
        .client(base)?
        .get_federation_token()
        .name(name)
        .duration_seconds(secs_i32(duration))
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn("arn:aws:iam::aws:policy/AdministratorAccess")
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    convert(out.credentials(), ep, ctx)
}

/// GetCallerIdentity: (account, ARN).
pub async fn caller_identity(
    ep: &Endpoint,
    creds: &Creds,
    ctx: &Context<'_>,
) -> Result<(String, String)> {
    let out = ep
        .client(creds)?
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| map_err(e, ep, ctx))?;
    Ok((
        printable(out.account().unwrap_or_default().as_bytes(), 40),
        printable(out.arn().unwrap_or_default().as_bytes(), 300),
    ))
}
