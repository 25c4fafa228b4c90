//! The IAM side of a rotation: one client signed with one set of credentials (the keys or
//! their MFA session), its three calls (ListAccessKeys, CreateAccessKey, DeleteAccessKey), and
//! errors that say what IAM answered.

use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use zeroize::Zeroizing;

use crate::awsconfig::{one_line, printable};
use crate::sts::{self, Creds};
use crate::timefmt::now_epoch;

use super::journal::valid_key_id;

/// An access key as ListAccessKeys shows it.
pub(super) struct KeyInfo {
    pub(super) id: String,
    pub(super) active: bool,
    pub(super) created: Option<i64>,
}

/// A key just made by CreateAccessKey.
pub(super) struct NewKey {
    pub(super) id: String,
    pub(super) secret: Zeroizing<String>,
    pub(super) created: Option<i64>,
}

/// Why an IAM call failed: AWS answered with an error, or no answer came.
pub(super) enum IamError {
    /// An error answer (`code`), described in `text`.
    Refused { code: String, text: String },
    /// No usable answer (network, timeout); `text` says so.
    NoAnswer(String),
}

impl std::fmt::Display for IamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IamError::Refused { text, .. } | IamError::NoAnswer(text) => f.write_str(text),
        }
    }
}

impl IamError {
    pub(super) fn code(&self) -> Option<&str> {
        match self {
            IamError::Refused { code, .. } => Some(code),
            IamError::NoAnswer(_) => None,
        }
    }
}

/// The IAM endpoint override: `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL`, the profile's
/// `endpoint_url` (none with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`).
pub(super) fn iam_endpoint(profile_endpoint: Option<&str>) -> Option<String> {
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    env("AWS_ENDPOINT_URL_IAM")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| profile_endpoint.map(str::to_string))
}

/// `text` with every word that looks like an access key id (`AKIA…`/`ASIA…`, 16+ characters)
/// masked like `list` shows keys: IAM's messages may quote the key ids.
pub(super) fn mask_key_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= 16 && (word.starts_with("AKIA") || word.starts_with("ASIA")) {
            out.push_str(&crate::keyid::masked(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// An IAM client signed with one set of credentials.
pub(super) struct Iam {
    pub(super) client: aws_sdk_iam::Client,
    pub(super) at: String,
    /// Signed with an MFA session (not with the keys themselves).
    pub(super) with_session: bool,
    /// The proxies and CA bundle, to explain a failed connection.
    net: crate::netconf::NetConf,
    /// The URL called, for the same.
    url: String,
}

impl Iam {
    pub(super) fn new(
        url: Option<&str>,
        net: &crate::netconf::NetConf,
        region: &str,
        creds: &Creds,
        timeout: Duration,
    ) -> Iam {
        use aws_sdk_iam::config::retry::RetryConfig;
        use aws_sdk_iam::config::timeout::TimeoutConfig;
        use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
        let total = timeout.max(Duration::from_secs(1));
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                creds.session_token.clone(),
                None,
                "awsenv",
            ))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(total.min(Duration::from_secs(5)))
                    .operation_attempt_timeout((total / 2).max(Duration::from_secs(1)))
                    .operation_timeout(total)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(u) = url {
            b = b.endpoint_url(u.to_string());
        }
        // The same NetConf already served STS's GetCallerIdentity: its bundle was read.
        if let Ok(Some(http)) = net.sdk_client() {
            b = b.http_client(http);
        }
        Iam {
            net: net.clone(),
            url: url.unwrap_or("https://iam.amazonaws.com/").to_string(),
            client: aws_sdk_iam::Client::from_conf(b.build()),
            at: match url {
                Some(u) => printable(u.as_bytes(), 200),
                None => "iam.amazonaws.com".to_string(),
            },
            with_session: creds.session_token.is_some(),
        }
    }

    pub(super) fn error<E, R>(&self, what: &str, err: SdkError<E, R>) -> IamError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = printable(e.code().unwrap_or("Unknown").as_bytes(), 60);
                let msg = mask_key_ids(&printable(
                    one_line(e.message().unwrap_or("")).as_bytes(),
                    300,
                ));
                let text = match code.as_str() {
                    "AccessDenied" | "AccessDeniedException" if self.with_session => format!(
                        "{what}: IAM denied it ({code}: {msg}); the user's policy must let it manage its own access keys"
                    ),
                    "AccessDenied" | "AccessDeniedException" => format!(
                        "{what}: IAM denied it ({code}: {msg}); if the user's policy requires MFA, rotate with the MFA session (set mfa_serial on the profile, do not pass --no-session)"
                    ),
                    "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "UnrecognizedClientException" => {
                        format!("{what}: IAM rejected the credentials ({code}: {msg})")
                    }
                    "ExpiredToken" | "ExpiredTokenException" => format!(
                        "{what}: the MFA session has expired ({msg}); run 'awsenv clear' and try again"
                    ),
                    "Throttling" | "ThrottlingException" => {
                        format!(
                            "{what}: IAM is throttling requests ({code}); wait a minute and retry"
                        )
                    }
                    _ => format!("{what}: {code}: {msg}"),
                };
                IamError::Refused { code, text }
            }
            SdkError::TimeoutError(_) => IamError::NoAnswer(format!(
                "{what}: IAM at {} did not answer in time; check your network or AWS_ENDPOINT_URL_IAM",
                self.at
            )),
            SdkError::DispatchFailure(d) => IamError::NoAnswer(
                match d
                    .as_connector_error()
                    .and_then(|c| self.net.explain(c, &self.url))
                {
                    Some(why) => format!("{what}: {why}"),
                    None => format!(
                        "{what}: cannot reach IAM at {}; check your network or AWS_ENDPOINT_URL_IAM",
                        self.at
                    ),
                },
            ),
            _ => IamError::NoAnswer(format!(
                "{what}: unexpected answer from IAM at {}: {}",
                self.at,
                printable(
                    one_line(&format!(
                        "{}",
                        aws_smithy_types::error::display::DisplayErrorContext(&err)
                    ))
                    .as_bytes(),
                    300
                )
            )),
        }
    }

    pub(super) async fn list_keys(
        &self,
        user: &str,
    ) -> std::result::Result<Vec<KeyInfo>, IamError> {
        let what = format!("ListAccessKeys for IAM user {user}");
        let out = self
            .client
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| self.error(&what, e))?;
        let mut keys = Vec::new();
        for k in out.access_key_metadata() {
            let Some(id) = k.access_key_id().filter(|i| valid_key_id(i)) else {
                return Err(IamError::NoAnswer(format!(
                    "{what}: IAM answered with a key id that is not one"
                )));
            };
            keys.push(KeyInfo {
                id: id.to_string(),
                active: k
                    .status()
                    .is_none_or(|s| *s == aws_sdk_iam::types::StatusType::Active),
                created: k.create_date().map(|d| d.secs()),
            });
        }
        Ok(keys)
    }

    pub(super) async fn create_key(&self, user: &str) -> std::result::Result<NewKey, IamError> {
        let what = format!("CreateAccessKey for IAM user {user}");
        // One attempt: a retry after a lost answer would make a second key.
        let out = self
            .client
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(aws_sdk_iam::config::Builder::default().retry_config(
                aws_sdk_iam::config::retry::RetryConfig::standard().with_max_attempts(1),
            ))
            .send()
            .await
            .map_err(|e| self.error(&what, e))?;
        let k = out
            .access_key()
            .ok_or_else(|| IamError::NoAnswer(format!("{what}: IAM answered without a key")))?;
        let key = NewKey {
            id: k.access_key_id().to_string(),
            secret: Zeroizing::new(k.secret_access_key().to_string()),
            created: k.create_date().map(|d| d.secs()),
        };
        let check = Creds {
            access_key_id: key.id.clone(),
            secret_access_key: key.secret.to_string(),
            session_token: None,
            expiration: None,
        };
        if let Err(why) = sts::validate(&check, now_epoch()) {
            return Err(IamError::NoAnswer(format!(
                "{what}: IAM answered with a key awsenv cannot use ({why})"
            )));
        }
        Ok(key)
    }

    /// Deletes key `id` of `user`; `Ok(false)` when IAM has no such key (already deleted).
    pub(super) async fn delete_key(
        &self,
        user: &str,
        id: &str,
    ) -> std::result::Result<bool, IamError> {
        let what = format!(
            "DeleteAccessKey {} of IAM user {user}",
            crate::keyid::masked(id)
        );
        match self
            .client
            .delete_access_key()
            .user_name(user)
            .access_key_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = self.error(&what, e);
                if e.code() == Some("NoSuchEntity") {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_messages_show_key_ids_masked() {
        assert_eq!(
            mask_key_ids("The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found."),
            "The Access Key with id ****MPLE cannot be found."
        );
        assert_eq!(mask_key_ids("AKIA is short"), "AKIA is short");
    }
}
