//! The one HTTPS client builder for the calls awsenv makes itself outside the AWS SDK (the
//! console federation endpoint, `doctor`'s clock check): rustls with the system's roots,
//! HTTP/1.1, plain `http://` only where the caller allows it (loopback endpoints).

use anyhow::{Result, anyhow};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A client for GET requests without a body.
pub type GetClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>;

/// A new client (one per command: awsenv makes few such calls).
pub fn client() -> Result<GetClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| anyhow!("cannot load the system's TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
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
