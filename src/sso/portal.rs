//! The AWS access portal through aws-sdk-sso: GetRoleCredentials, ListAccounts,
//! ListAccountRoles (paginated) and Logout, with the access token as bearer token.
//! Answers are checked before use; the expiration comes in epoch milliseconds.

use std::time::Duration;

use anyhow::anyhow;
use aws_sdk_sso::config::retry::RetryConfig;
use aws_sdk_sso::config::timeout::TimeoutConfig;
use aws_sdk_sso::config::{BehaviorVersion, Region};
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};

use crate::sts::Creds;
use crate::timefmt::now_epoch;

/// Why a portal call failed.
#[derive(Debug)]
pub enum PortalError {
    /// 401: the access token is not (or no longer) valid.
    Unauthorized,
    /// 403 (or 404 for an account): the user has no access to this account or role.
    Forbidden,
    /// Anything else (one line).
    Failed(anyhow::Error),
}

/// One account the user can reach.
#[derive(Clone, Debug)]
pub struct Account {
    /// The 12-digit id.
    pub id: String,
    /// The account's name (display only; cleaned of control characters).
    pub name: String,
}

/// A portal client for one region, honouring `AWS_ENDPOINT_URL_SSO` / `AWS_ENDPOINT_URL`.
pub struct Portal {
    client: aws_sdk_sso::Client,
    base: String,
}

fn clean(s: &str) -> String {
    crate::sanitize::printable(s.as_bytes(), 128)
}

impl Portal {
    /// The client for `region`.
    pub fn new(region: &str) -> anyhow::Result<Portal> {
        let url = super::endpoint_override("AWS_ENDPOINT_URL_SSO")?;
        // For messages only; it may come from the environment, so it is quoted printable.
        let base = crate::sanitize::printable(
            url.clone()
                .unwrap_or_else(|| super::default_endpoint("portal.sso", region))
                .as_bytes(),
            200,
        );
        let mut b = aws_sdk_sso::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(u) = url {
            b = b.endpoint_url(u);
        }
        // Proxies and AWS_CA_BUNDLE (an SSO session belongs to no one profile's ca_bundle).
        if let Some(http) = crate::netconf::NetConf::new(None)?.sdk_client()? {
            b = b.http_client(http);
        }
        Ok(Portal {
            client: aws_sdk_sso::Client::from_conf(b.build()),
            base,
        })
    }

    fn classify<E, R>(&self, what: &str, err: SdkError<E, R>) -> PortalError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        if let SdkError::ServiceError(se) = &err {
            match se.err().code() {
                Some("UnauthorizedException") => return PortalError::Unauthorized,
                Some("ForbiddenException") | Some("ResourceNotFoundException") => {
                    return PortalError::Forbidden;
                }
                _ => {}
            }
        }
        PortalError::Failed(super::sdk_failure(
            "the AWS access portal",
            &self.base,
            "AWS_ENDPOINT_URL_SSO",
            what,
            &err,
        ))
    }

    /// GetRoleCredentials: temporary credentials for `role` in `account`.
    pub async fn role_credentials(
        &self,
        token: &str,
        account: &str,
        role: &str,
    ) -> Result<Creds, PortalError> {
        let out = self
            .client
            .get_role_credentials()
            .access_token(token)
            .account_id(account)
            .role_name(role)
            .send()
            .await
            .map_err(|e| self.classify("GetRoleCredentials", e))?;
        let bad = |why: &str| {
            PortalError::Failed(anyhow!(
                "GetRoleCredentials at {}: {why} in the answer",
                self.base
            ))
        };
        let c = out
            .role_credentials()
            .ok_or_else(|| bad("no credentials"))?;
        // Epoch milliseconds; beyond a year from now it is not an expiry time in milliseconds.
        let exp = c.expiration() / 1000;
        if exp > now_epoch() + 366 * 86_400 {
            return Err(bad(
                "an expiration that is not a time in epoch milliseconds",
            ));
        }
        let creds = Creds {
            access_key_id: c.access_key_id().unwrap_or_default().to_string(),
            secret_access_key: c.secret_access_key().unwrap_or_default().to_string(),
            session_token: Some(c.session_token().unwrap_or_default().to_string()),
            expiration: Some(exp),
        };
        crate::credcheck::check(
            &creds,
            &format!(
                "GetRoleCredentials for account {} role {} at the AWS access portal {}",
                clean(account),
                clean(role),
                self.base
            ),
            "check that it is the AWS access portal (AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL) and that this machine's clock is right",
        )
        .map_err(PortalError::Failed)?;
        Ok(creds)
    }

    /// ListAccounts, every page.
    pub async fn accounts(&self, token: &str) -> Result<Vec<Account>, PortalError> {
        let mut v = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..1000 {
            let out = self
                .client
                .list_accounts()
                .access_token(token)
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.classify("ListAccounts", e))?;
            for a in out.account_list() {
                let id = a.account_id().unwrap_or_default();
                if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
                    v.push(Account {
                        id: id.to_string(),
                        name: clean(a.account_name().unwrap_or_default()),
                    });
                }
            }
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(v),
            }
        }
        Err(PortalError::Failed(anyhow!(
            "ListAccounts at {}: the portal keeps answering with more pages",
            self.base
        )))
    }

    /// ListAccountRoles for `account`, every page.
    pub async fn roles(&self, token: &str, account: &str) -> Result<Vec<String>, PortalError> {
        let mut v = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..1000 {
            let out = self
                .client
                .list_account_roles()
                .access_token(token)
                .account_id(account)
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.classify("ListAccountRoles", e))?;
            for r in out.role_list() {
                let name = r.role_name().unwrap_or_default();
                if !name.is_empty()
                    && name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
                {
                    v.push(name.to_string());
                }
            }
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(v),
            }
        }
        Err(PortalError::Failed(anyhow!(
            "ListAccountRoles at {}: the portal keeps answering with more pages",
            self.base
        )))
    }

    /// Logout: ends the portal session of `token`.
    pub async fn logout(&self, token: &str) -> Result<(), PortalError> {
        self.client
            .logout()
            .access_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify("Logout", e))
    }
}
