//! The one place that turns the environment and a profile into how awsenv connects: proxies
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` for either, `NO_PROXY`; upper case first, then
//! lower case, the variables the SDK's own client reads) and the CA
//! bundle (`AWS_CA_BUNDLE`, else the profile's `ca_bundle`, added to the system roots). Every
//! HTTP client awsenv builds gets its connections from here: the SDK clients (STS, IAM, SSO
//! OIDC, the portal) through [`NetConf::sdk_client`], the plain GETs of `src/http.rs` (the
//! console federation endpoint, `doctor`) through [`NetConf::connector`].
//!
//! The proxy itself is the SDK's (aws-smithy-http-client: CONNECT tunnel, Proxy-Authorization);
//! which destination goes through it is decided here, because the SDK's matcher knows no port in
//! a `NO_PROXY` entry and no loopback rule:
//! - the loopback interface (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) is always reached
//!   directly, as Go's net/http does: a proxy elsewhere cannot reach this machine's loopback, and
//!   the endpoints awsenv serves itself (`exec --server`, the SSO callback) live there;
//! - `NO_PROXY` entries: `*`; a host (`sts.example.com`, matching it and its subdomains);
//!   `.example.com` (its subdomains and itself); an IP address; a CIDR block (`10.0.0.0/8`);
//!   any of those with `:port` (only that port).
//!
//! With no proxy and no CA bundle set, [`NetConf::sdk_client`] is `None` and the SDK's default
//! client is used: nothing is added to `use`. (That client reads the same proxy variables, but
//! with no loopback rule, no `:port` in `NO_PROXY` and no CA bundle: awsenv replaces it as soon
//! as one of them is set.)

use anyhow::{Result, anyhow, bail};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Connector, tls::rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest CA bundle read (a full system bundle is about 200 KB).
const MAX_BUNDLE: u64 = 8 << 20;

/// A proxy from the environment. Its `Debug` shows no credentials.
#[derive(Clone)]
struct Proxy {
    /// As given (userinfo still percent-encoded: the SDK decodes it).
    url: String,
    /// For messages: scheme, host and port, never the credentials.
    shown: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.shown)
    }
}

/// A CA bundle: where it came from and its PEM text.
#[derive(Clone, Debug)]
struct Bundle {
    shown: String,
    pem: Vec<u8>,
}

/// One `NO_PROXY` entry.
#[derive(Clone, Debug, PartialEq)]
enum Host {
    Any,
    Name(String),
    Net(IpAddr, u8),
}

/// Proxies and trust for the connections awsenv makes.
#[derive(Clone, Debug, Default)]
pub struct NetConf {
    https: Option<Proxy>,
    http: Option<Proxy>,
    no_proxy: Vec<(Host, Option<u16>)>,
    bundle: Option<Bundle>,
}

fn env(names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), v.trim().to_string()))
    })
}

impl NetConf {
    /// From the environment and the profile's `ca_bundle` (`AWS_CA_BUNDLE` wins, as in the AWS
    /// CLI). Fails on a proxy URL it cannot use or a CA bundle it cannot read.
    pub fn new(profile_ca_bundle: Option<&str>) -> Result<NetConf> {
        let https = env(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])
            .map(|(n, v)| proxy(&n, &v))
            .transpose()?;
        let http = env(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
            .map(|(n, v)| proxy(&n, &v))
            .transpose()?;
        let no_proxy = env(&["NO_PROXY", "no_proxy"])
            .map(|(_, v)| parse_no_proxy(&v))
            .unwrap_or_default();
        let bundle = match env(&["AWS_CA_BUNDLE"]) {
            Some((_, path)) => Some(bundle(&path, "AWS_CA_BUNDLE")?),
            None => match profile_ca_bundle.map(str::trim).filter(|p| !p.is_empty()) {
                Some(path) => Some(bundle(path, "the profile's ca_bundle")?),
                None => None,
            },
        };
        Ok(NetConf {
            https,
            http,
            no_proxy,
            bundle,
        })
    }

    /// Whether the SDK's default client would do: no proxy, no CA bundle.
    pub fn is_default(&self) -> bool {
        self.https.is_none() && self.http.is_none() && self.bundle.is_none()
    }

    /// The proxy a request to `url` goes through, if any.
    fn proxy_for(&self, url: &str) -> Option<&Proxy> {
        let uri: hyper::Uri = url.parse().ok()?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if loopback(host) || self.bypassed(host, port) {
            return None;
        }
        if https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }
    }

    fn bypassed(&self, host: &str, port: u16) -> bool {
        let ip = host.parse::<IpAddr>().ok();
        self.no_proxy.iter().any(|(h, p)| {
            p.is_none_or(|p| p == port)
                && match h {
                    Host::Any => true,
                    Host::Net(net, len) => ip.is_some_and(|ip| in_net(ip, *net, *len)),
                    Host::Name(d) => {
                        ip.is_none()
                            && (host.eq_ignore_ascii_case(d)
                                || host.len() > d.len()
                                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'
                                    && host[host.len() - d.len()..].eq_ignore_ascii_case(d))
                    }
                }
        })
    }

    /// The CA bundle in use, for messages: `AWS_CA_BUNDLE /path` or `the system roots`.
    pub fn trust_shown(&self) -> String {
        match &self.bundle {
            Some(b) => format!("the system roots and {}", b.shown),
            None => "the system roots".to_string(),
        }
    }

    fn tls_context(&self) -> Result<TlsContext> {
        let mut store = TrustStore::default();
        if let Some(b) = &self.bundle {
            store = store.with_pem_certificate(b.pem.clone());
        }
        TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| anyhow!("cannot set up TLS: {e}"))
    }

    /// One connector for all destinations: direct or through the proxy the rules pick.
    pub fn connector(
        &self,
        settings: Option<&HttpConnectorSettings>,
        components: Option<&RuntimeComponents>,
    ) -> Result<Routed> {
        let ctx = self.tls_context()?;
        let build = |p: Option<&Proxy>| -> Result<Connector> {
            let mut b = Connector::builder();
            if let Some(s) = settings {
                b = b.connector_settings(s.clone());
            }
            if let Some(sleep) = components.and_then(|c| c.sleep_impl()) {
                b = b.sleep_impl(sleep);
            }
            if let Some(p) = p {
                let cfg = ProxyConfig::all(p.url.as_str())
                    .map_err(|_| anyhow!("cannot use the proxy {}", p.shown))?;
                b = b.proxy_config(cfg);
            }
            Ok(b.tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(ctx.clone())
                .build())
        };
        Ok(Routed {
            conf: Arc::new(self.clone()),
            direct: build(None)?,
            via_https: self.https.as_ref().map(|p| build(Some(p))).transpose()?,
            via_http: self.http.as_ref().map(|p| build(Some(p))).transpose()?,
        })
    }

    /// The HTTP client for an SDK client's config, or `None` for the SDK's default (no proxy
    /// and no CA bundle set).
    pub fn sdk_client(&self) -> Result<Option<SharedHttpClient>> {
        if self.is_default() {
            return Ok(None);
        }
        // Fail now (a bad bundle) rather than inside the SDK.
        self.tls_context()?;
        Ok(Some(SharedHttpClient::new(SdkClient {
            conf: self.clone(),
            cache: Mutex::new(Vec::new()),
        })))
    }

    /// What went wrong on a connection to `host`, as one line, when it is about TLS or the
    /// proxy; `None` for other failures (the caller's own message stands).
    pub fn explain(&self, err: &(dyn std::error::Error + 'static), url: &str) -> Option<String> {
        let host = url
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_else(|| url.to_string());
        let host = crate::sanitize::printable(host.as_bytes(), 200);
        if let Some(why) = tls_failure(err) {
            return Some(format!(
                "TLS to {host} failed ({why}) with {}; if a proxy or private CA signs for it, set AWS_CA_BUNDLE or the profile's ca_bundle to its PEM file",
                self.trust_shown()
            ));
        }
        let p = self.proxy_for(url)?;
        let text = chain(err);
        let why = if text.contains("proxy authorization required") {
            "it wants credentials (HTTP 407): check the user and password in the proxy URL"
        } else if text.contains("failed to create underlying connection") {
            "cannot connect to the proxy"
        } else if text.contains("tunnel error: unsuccessful") {
            "the proxy refused the tunnel"
        } else if text.contains("tunnel error") {
            "the proxy broke off the tunnel"
        } else {
            return None;
        };
        Some(format!(
            "through the proxy {} to {host}: {why} (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)",
            p.shown
        ))
    }
}

/// The error and its sources, joined.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// The TLS reason in an error chain (`invalid peer certificate: UnknownIssuer`), if any.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(crate::sanitize::line(r.to_string().as_bytes(), 200));
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(crate::sanitize::line(inner.to_string().as_bytes(), 200));
        }
        cur = err.source();
    }
    None
}

fn loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    let len = u32::from(len).min(bits);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (a >> shift) == (b >> shift)
}

/// A proxy URL from variable `name`: `http://` or `https://` (no scheme means `http://`).
fn proxy(name: &str, value: &str) -> Result<Proxy> {
    let url = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let shown = crate::sanitize::redact_userinfo(&crate::sanitize::printable(url.as_bytes(), 200));
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| anyhow!("{name} is not a proxy URL: {shown}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("{name}: only http:// and https:// proxies are supported, not {shown}"),
    }
    let host = uri
        .host()
        .ok_or_else(|| anyhow!("{name} has no host: {shown}"))?;
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    let scheme = uri.scheme_str().unwrap_or("http");
    Ok(Proxy {
        url,
        shown: format!(
            "{scheme}://{}:{port}",
            crate::sanitize::printable(host.as_bytes(), 200)
        ),
    })
}

fn parse_no_proxy(list: &str) -> Vec<(Host, Option<u16>)> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            if e == "*" {
                return Some((Host::Any, None));
            }
            // A port: `host:443`, `[::1]:443`, `10.0.0.1:443` (a bare IPv6 has several colons).
            let (host, port) = match e.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                    (h, Some(p.parse::<u16>().ok()?))
                }
                _ => (e, None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Some((net, len)) = host.split_once('/') {
                let net: IpAddr = net.parse().ok()?;
                return Some((Host::Net(net, len.parse().ok()?), port));
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                let len = if ip.is_ipv4() { 32 } else { 128 };
                return Some((Host::Net(ip, len), port));
            }
            let name = host.trim_start_matches("*.").trim_start_matches('.');
            (!name.is_empty()).then(|| (Host::Name(name.to_string()), port))
        })
        .collect()
}

fn bundle(path: &str, from: &str) -> Result<Bundle> {
    use std::io::Read;
    let shown = format!(
        "{from} {}",
        crate::sanitize::printable(path.as_bytes(), 200)
    );
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BUNDLE).read_to_end(&mut pem))
        .map_err(|e| anyhow!("cannot read the CA bundle {shown}: {e}"))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        bail!("the CA bundle {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(Bundle { shown, pem })
}

/// A connector that sends each request directly or through the proxy [`NetConf`] picks.
#[derive(Debug)]
pub struct Routed {
    conf: Arc<NetConf>,
    direct: Connector,
    via_https: Option<Connector>,
    via_http: Option<Connector>,
}

impl HttpConnector for Routed {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let proxied = self.conf.proxy_for(request.uri()).is_some();
        let https = request.uri().starts_with("https:");
        match (proxied, https) {
            (true, true) => self
                .via_https
                .as_ref()
                .unwrap_or(&self.direct)
                .call(request),
            (true, false) => self.via_http.as_ref().unwrap_or(&self.direct).call(request),
            _ => self.direct.call(request),
        }
    }
}

/// The SDK's HTTP client: one [`Routed`] connector per timeout setting, kept for reuse.
#[derive(Debug)]
struct SdkClient {
    conf: NetConf,
    cache: Mutex<Vec<(TimeoutKey, SharedHttpConnector)>>,
}

type TimeoutKey = (Option<Duration>, Option<Duration>);

impl HttpClient for SdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let conn = match self.conf.connector(Some(settings), Some(components)) {
            Ok(c) => SharedHttpConnector::new(c),
            // Checked in `sdk_client`; should it fail now, every request says why.
            Err(e) => SharedHttpConnector::new(Failing(e.to_string())),
        };
        cache.push((key, conn.clone()));
        conn
    }
}

#[derive(Debug)]
struct Failing(String);

impl HttpConnector for Failing {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        let msg = self.0.clone();
        HttpConnectorFuture::ready(Err(
            aws_smithy_runtime_api::client::result::ConnectorError::other(msg.into(), None),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(no_proxy: &str) -> NetConf {
        NetConf {
            https: Some(Proxy {
                url: "http://proxy:3128".into(),
                shown: "http://proxy:3128".into(),
            }),
            http: None,
            no_proxy: parse_no_proxy(no_proxy),
            bundle: None,
        }
    }

    fn via(c: &NetConf, url: &str) -> bool {
        c.proxy_for(url).is_some()
    }

    #[test]
    fn no_proxy_rules() {
        let c = conf("example.com, .corp.test,10.0.0.0/8, 192.168.1.7 ,fd00::/8,sts.test:8443");
        assert!(!via(&c, "https://example.com/"));
        assert!(!via(&c, "https://sts.example.com/"));
        assert!(via(&c, "https://notexample.com/"));
        assert!(!via(&c, "https://corp.test/"));
        assert!(!via(&c, "https://a.b.corp.test:444/"));
        assert!(!via(&c, "https://10.1.2.3/"));
        assert!(via(&c, "https://11.1.2.3/"));
        assert!(!via(&c, "https://192.168.1.7/"));
        assert!(via(&c, "https://192.168.1.8/"));
        assert!(!via(&c, "https://[fd12::1]/"));
        assert!(via(&c, "https://[fe80::1]/"));
        assert!(!via(&c, "https://sts.test:8443/"));
        assert!(
            via(&c, "https://sts.test/"),
            "port rule applies to its port only"
        );
        assert!(!via(&conf("*"), "https://anything.example/"));
        assert!(!via(&conf("EXAMPLE.com"), "https://www.Example.COM/"));
    }

    #[test]
    fn loopback_is_never_proxied_and_http_needs_http_proxy() {
        let c = conf("");
        for u in [
            "https://127.0.0.1:4566/",
            "https://127.0.0.2/",
            "https://[::1]:80/",
            "https://localhost/",
            "https://api.localhost/",
        ] {
            assert!(!via(&c, u), "{u}");
        }
        assert!(via(&c, "https://sts.us-east-1.amazonaws.com/"));
        assert!(
            !via(&c, "http://sts.us-east-1.amazonaws.com/"),
            "no HTTP_PROXY"
        );
    }

    #[test]
    fn proxy_urls_show_no_credentials() {
        let p = proxy("HTTPS_PROXY", "https://us%40er:p%3Ass@proxy.corp:3128").unwrap();
        assert_eq!(p.shown, "https://proxy.corp:3128");
        assert_eq!(format!("{p:?}"), "Proxy(https://proxy.corp:3128)");
        assert_eq!(
            proxy("HTTPS_PROXY", "proxy:8080").unwrap().shown,
            "http://proxy:8080"
        );
        let e = proxy("HTTPS_PROXY", "socks5://u:hunter2@proxy:1080")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("only http:// and https://"), "{e}");
    }
}
