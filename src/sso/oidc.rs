//! The SSO OIDC API through aws-sdk-ssooidc: client registration, the device authorization,
//! and CreateToken for the device-code, authorization-code (PKCE) and refresh-token grants.
//! Each answer from the service is checked before use.

use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_sdk_ssooidc::config::retry::RetryConfig;
use aws_sdk_ssooidc::config::timeout::TimeoutConfig;
use aws_sdk_ssooidc::config::{BehaviorVersion, Region};
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::config::SsoSession;
use crate::timefmt::now_epoch;

/// The device-code grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The redirect URI registered for the authorization-code flow (loopback; the port is chosen
/// per sign-in and ignored by the service when it matches).
pub const REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";

/// Which flow a client registration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Authorization code with PKCE and a loopback redirect (a browser on this machine).
    AuthCode,
    /// Device authorization (a code entered in a browser anywhere).
    Device,
}

impl Flow {
    /// The name used in store entries.
    pub fn key(self) -> &'static str {
        match self {
            Flow::AuthCode => "auth_code",
            Flow::Device => "device",
        }
    }
}

/// A client registration (RegisterClient), cached until it expires.
#[derive(Clone, Serialize, Deserialize)]
pub struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: String,
    /// `clientSecretExpiresAt`, epoch seconds.
    pub expires_at: i64,
    /// The flow it was registered for.
    pub flow: Flow,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.client_secret.zeroize();
    }
}

impl Registration {
    /// Usable for at least another 15 minutes (the AWS CLI's rule).
    pub fn usable(&self, now: i64) -> bool {
        self.expires_at - now > 900
    }
}

/// What CreateToken gives.
pub struct Tokens {
    /// The access token (a bearer token for the portal).
    pub access_token: String,
    /// Its expiry, epoch seconds.
    pub expires_at: i64,
    /// The refresh token, when the client was registered with scopes.
    pub refresh_token: Option<String>,
}

impl Drop for Tokens {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

/// A device authorization in progress.
pub struct Device {
    /// `deviceCode` (secret: whoever has it and the client can poll for the token).
    pub device_code: String,
    /// `userCode`, shown to the user.
    pub user_code: String,
    /// `verificationUri`.
    pub verification_uri: String,
    /// `verificationUriComplete` (the URI with the code in it).
    pub verification_uri_complete: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.device_code.zeroize();
    }
}

/// How a device-code poll ended without a token.
#[derive(Debug)]
pub enum Poll {
    /// Not approved yet: poll again after the interval.
    Pending,
    /// Polled too fast: add 5 s to the interval.
    SlowDown,
    /// The code expired.
    Expired,
    /// The user denied the request.
    Denied,
    /// Anything else (one line).
    Failed(anyhow::Error),
}

/// Why a refresh failed.
#[derive(Debug)]
pub enum RefreshError {
    /// The refresh token (or its client) is no longer valid: the portal session ended, or it
    /// was already spent. Only a new sign-in helps.
    Invalid,
    /// A network or service failure (one line); the refresh token may still be good.
    Failed(anyhow::Error),
}

/// An OIDC client for one region, honouring `AWS_ENDPOINT_URL_SSO_OIDC` / `AWS_ENDPOINT_URL`.
pub struct Oidc {
    client: aws_sdk_ssooidc::Client,
    base: String,
}

fn is_well_formed_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 16 * 1024 && t.bytes().all(|b| b.is_ascii_graphic())
}

impl Oidc {
    /// The client for `region`. Requests are not retried by the SDK: a CreateToken for a
    /// refresh token must be sent once (refresh tokens rotate; a retried success would be
    /// answered as a spent token).
    pub fn new(region: &str) -> Result<Oidc> {
        let url = super::endpoint_override("AWS_ENDPOINT_URL_SSO_OIDC")?;
        let base = url
            .clone()
            .unwrap_or_else(|| super::default_endpoint("oidc", region));
        let mut b = aws_sdk_ssooidc::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .retry_config(RetryConfig::disabled());
        if let Some(u) = url {
            b = b.endpoint_url(u);
        }
        // Proxies and AWS_CA_BUNDLE (an SSO session belongs to no one profile's ca_bundle).
        if let Some(http) = crate::netconf::NetConf::new(None)?.sdk_client()? {
            b = b.http_client(http);
        }
        Ok(Oidc {
            client: aws_sdk_ssooidc::Client::from_conf(b.build()),
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The endpoint, for messages and the authorize URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn failure<E, R>(&self, what: &str, err: &SdkError<E, R>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        super::sdk_failure(
            "IAM Identity Center (OIDC)",
            &self.base,
            "AWS_ENDPOINT_URL_SSO_OIDC",
            what,
            err,
        )
    }

    /// RegisterClient for `flow`. Auth-code clients name their grant types, the loopback
    /// redirect URI and the start URL as issuer, as the AWS CLI does.
    pub async fn register(&self, session: &SsoSession, flow: Flow) -> Result<Registration> {
        let mut req = self
            .client
            .register_client()
            .client_name(format!(
                "awsenv-{}",
                session.name.as_deref().unwrap_or("legacy")
            ))
            .client_type("public")
            .set_scopes(Some(session.scopes.clone()));
        if flow == Flow::AuthCode {
            req = req
                .grant_types("authorization_code")
                .grant_types("refresh_token")
                .redirect_uris(REDIRECT_URI)
                .issuer_url(&session.start_url);
        }
        let out = req
            .send()
            .await
            .map_err(|e| self.failure("RegisterClient", &e))?;
        let (Some(id), Some(secret)) = (out.client_id(), out.client_secret()) else {
            return Err(anyhow!(
                "RegisterClient at {}: the answer has no client id or secret",
                self.base
            ));
        };
        if !is_well_formed_token(id) || !is_well_formed_token(secret) {
            return Err(anyhow!(
                "RegisterClient at {}: malformed client id or secret",
                self.base
            ));
        }
        Ok(Registration {
            client_id: id.to_string(),
            client_secret: secret.to_string(),
            expires_at: out.client_secret_expires_at(),
            flow,
        })
    }

    /// StartDeviceAuthorization.
    pub async fn start_device(&self, reg: &Registration, start_url: &str) -> Result<Device> {
        let out = self
            .client
            .start_device_authorization()
            .client_id(&reg.client_id)
            .client_secret(&reg.client_secret)
            .start_url(start_url)
            .send()
            .await
            .map_err(|e| self.failure("StartDeviceAuthorization", &e))?;
        let field = |v: Option<&str>| v.map(str::to_string).unwrap_or_default();
        let d = Device {
            device_code: field(out.device_code()),
            user_code: field(out.user_code()),
            verification_uri: field(out.verification_uri()),
            verification_uri_complete: field(out.verification_uri_complete()),
            expires_in: out.expires_in().clamp(0, 3600) as u64,
            interval: out.interval().clamp(1, 60) as u64,
        };
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 2048 && s.bytes().all(|b| b.is_ascii_graphic());
        if !is_well_formed_token(&d.device_code)
            || !printable(&d.user_code)
            || d.user_code.len() > 32
            || !(d.verification_uri.starts_with("https://")
                || d.verification_uri.starts_with("http://"))
            || !printable(&d.verification_uri)
            || !printable(&d.verification_uri_complete)
        {
            return Err(anyhow!(
                "StartDeviceAuthorization at {}: malformed answer",
                self.base
            ));
        }
        Ok(d)
    }

    fn tokens(
        &self,
        out: &aws_sdk_ssooidc::operation::create_token::CreateTokenOutput,
    ) -> Result<Tokens> {
        let access = out.access_token().unwrap_or_default();
        if !is_well_formed_token(access) {
            return Err(anyhow!(
                "CreateToken at {}: the answer has no valid access token",
                self.base
            ));
        }
        let refresh = out.refresh_token().filter(|r| !r.is_empty());
        if refresh.is_some_and(|r| !is_well_formed_token(r)) {
            return Err(anyhow!(
                "CreateToken at {}: malformed refresh token",
                self.base
            ));
        }
        let expires_in = out.expires_in();
        if expires_in <= 0 {
            return Err(anyhow!(
                "CreateToken at {}: the access token has no lifetime",
                self.base
            ));
        }
        Ok(Tokens {
            access_token: access.to_string(),
            expires_at: now_epoch() + i64::from(expires_in),
            refresh_token: refresh.map(str::to_string),
        })
    }

    /// One CreateToken poll for a device authorization.
    pub async fn poll_device(&self, reg: &Registration, d: &Device) -> Result<Tokens, Poll> {
        match self
            .client
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(&reg.client_secret)
            .grant_type(DEVICE_GRANT)
            .device_code(&d.device_code)
            .send()
            .await
        {
            Ok(out) => self.tokens(&out).map_err(Poll::Failed),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_authorization_pending_exception() => Err(Poll::Pending),
                Some(se) if se.is_slow_down_exception() => Err(Poll::SlowDown),
                Some(se) if se.is_expired_token_exception() => Err(Poll::Expired),
                Some(se) if se.is_access_denied_exception() => Err(Poll::Denied),
                _ => Err(Poll::Failed(self.failure("CreateToken (device code)", &e))),
            },
        }
    }

    /// The authorize URL of the authorization-code flow, built on the resolved endpoint (so the
    /// endpoint override applies), as the AWS CLI builds it.
    pub fn authorize_url(
        &self,
        reg: &Registration,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
        scopes: &[String],
    ) -> String {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        // Everything but RFC 3986's unreserved characters.
        const QUERY: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let enc = |s: &str| utf8_percent_encode(s, QUERY).to_string();
        format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state={}&code_challenge_method=S256&scopes={}&code_challenge={}",
            self.base,
            enc(&reg.client_id),
            enc(redirect_uri),
            enc(state),
            enc(&scopes.join(" ")),
            challenge
        )
    }

    /// CreateToken for an authorization code, with the PKCE verifier and the exact redirect URI.
    pub async fn exchange_code(
        &self,
        reg: &Registration,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Tokens> {
        let out = self
            .client
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(&reg.client_secret)
            .grant_type("authorization_code")
            .code(code)
            .code_verifier(verifier)
            .redirect_uri(redirect_uri)
            .send()
            .await
            .map_err(|e| self.failure("CreateToken (authorization code)", &e))?;
        self.tokens(&out)
    }

    /// CreateToken for a refresh token. The token is spent whatever the outcome.
    pub async fn refresh(
        &self,
        reg: &Registration,
        refresh_token: &str,
    ) -> Result<Tokens, RefreshError> {
        match self
            .client
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(&reg.client_secret)
            .grant_type("refresh_token")
            .refresh_token(refresh_token)
            .send()
            .await
        {
            Ok(out) => self.tokens(&out).map_err(RefreshError::Failed),
            Err(e) => match e.as_service_error() {
                Some(se)
                    if se.is_invalid_grant_exception()
                        || se.is_invalid_client_exception()
                        || se.is_unauthorized_client_exception()
                        || se.is_expired_token_exception() =>
                {
                    Err(RefreshError::Invalid)
                }
                _ => Err(RefreshError::Failed(
                    self.failure("CreateToken (refresh token)", &e),
                )),
            },
        }
    }
}
