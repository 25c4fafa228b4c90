//! The one HTTPS client builder for the calls awsenv makes itself outside the AWS SDK (the
//! console federation endpoint, `doctor`'s clock check): the SDK's own connector as
//! [`crate::netconf`] sets it up (the system roots plus `AWS_CA_BUNDLE` / the profile's
//! `ca_bundle`, `HTTPS_PROXY` / `NO_PROXY`), HTTP/1.1, plain `http://` only where the caller
//! allows it (loopback endpoints).

use anyhow::{Result, anyhow};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;

use crate::netconf::{NetConf, Routed};

/// A client for GET requests without a body.
pub struct GetClient {
    conn: Routed,
    net: NetConf,
}

/// An answer: status, headers and the whole body.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Date` header, if any.
    pub date: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
}

/// A new client (one per command: awsenv makes few such calls) with the proxy and CA bundle of
/// the environment and `profile_ca_bundle` (the profile's `ca_bundle`).
pub fn client(profile_ca_bundle: Option<&str>) -> Result<GetClient> {
    let net = NetConf::new(profile_ca_bundle)?;
    Ok(GetClient {
        conn: net.connector(None, None)?,
        net,
    })
}

impl GetClient {
    /// One GET of `url`; the error is one line (TLS and proxy failures say what to set).
    pub async fn get(&self, url: &str) -> Result<Answer> {
        use http_body_util::BodyExt;
        let req = hyper::Request::builder()
            .uri(url)
            .body(SdkBody::empty())
            .map_err(|_| anyhow!("not a URL"))?;
        let req = HttpRequest::try_from(req).map_err(|_| anyhow!("not a URL"))?;
        let resp = self.conn.call(req).await.map_err(|e| {
            let text = self.net.explain(&e, url).unwrap_or_else(|| error_chain(&e));
            anyhow!("{}", crate::sanitize::one_line(&text))
        })?;
        let status = resp.status().as_u16();
        let date = resp.headers().get("date").map(str::to_string);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("{}", crate::sanitize::one_line(&error_chain(&*e))))?
            .to_bytes();
        Ok(Answer { status, date, body })
    }
}

/// The error and its sources as one line (hyper's own message alone says "client error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}
