//! `awsenv login`: the AWS console sign-in URL for a session (issue 4).
//!
//! 1. Credentials the console accepts: the role credentials of a profile with a role; for a
//!    profile without one, GetFederationToken signed with the stored long-term keys
//!    (GetSessionToken credentials cannot sign in to the console). GetFederationToken grants the
//!    intersection of the user's own policies and the policy passed, so the managed
//!    `AdministratorAccess` policy is passed to get exactly the user's own permissions.
//! 2. `GET {federation_url}?Action=getSigninToken&Session={"sessionId","sessionKey","sessionToken"}`
//!    gives a SigninToken (`SessionDuration` only when a role was assumed with long-term keys,
//!    i.e. `--no-session --duration D`; the federation endpoint rejects it for chained roles).
//! 3. `{federation_url}?Action=login&Issuer=awsenv&Destination=…&SigninToken=…` is the URL.
//!
//! The URL is a bearer credential for about 15 minutes. It is printed only with `--stdout`
//! (explicitly asked for, as aws-vault does); otherwise a browser is opened without the URL
//! ever appearing in a process's argv: the browser is pointed at a one-shot redirect on
//! 127.0.0.1 with a random path, which answers once with a redirect to the sign-in URL.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use zeroize::Zeroizing;

use crate::cli::ResolveOpts;
use crate::commands::session::profile_or_directory;
use crate::resolve::request;
use crate::resolve::{Engine, local_user};
use crate::runtime::block_on;
use crate::sts::{self, Creds, Endpoint};

/// The console page the sign-in lands on.
pub const CONSOLE_URL: &str = "https://console.aws.amazon.com/";

/// `awsenv login [PROFILE] [--stdout]`.
pub fn login(profile: Option<&str>, stdout: bool, opts: &ResolveOpts) -> Result<i32> {
    let (profile, opts) = profile_or_directory(profile, opts)?;
    // Decide how to deliver the URL before asking STS (or the user) for anything.
    let browser = if stdout {
        None
    } else {
        Some(find_browser().ok_or_else(|| {
            anyhow!("no browser to open here (no $BROWSER and no graphical display); run 'awsenv login {profile} --stdout' to print the sign-in URL")
        })?)
    };
    let url = block_on(async {
        let engine = Engine::open().await?;
        sign_in_url(&engine, &profile, &opts).await
    })??;
    match browser {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(format!("{}\n", *url).as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| anyhow!("cannot write to stdout: {e}"))?;
        }
        Some(b) => open_via_redirect(&b, &url)?,
    }
    Ok(0)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The credentials to sign in with, and the `SessionDuration` to ask for (if allowed).
async fn console_credentials(
    engine: &Engine,
    profile: &str,
    opts: &ResolveOpts,
) -> Result<(Creds, Option<u64>)> {
    let req = request(profile, opts)?;
    let chain = engine.config.chain(profile)?;
    let has_role = chain.iter().any(|p| p.get("role_arn").is_some());
    if has_role {
        let r = engine.resolve(&req).await?;
        // SessionDuration is accepted only for roles assumed with long-term keys.
        let duration = if req.no_session && chain.len() == 1 {
            req.duration.map(|d| d.as_secs().clamp(900, 43_200))
        } else {
            None
        };
        return Ok((r.creds.clone(), duration));
    }
    let root = chain
        .first()
        .ok_or_else(|| engine.config.unknown(profile))?;
    match engine.stored_keys(&root.name)? {
        Some(k) => {
            let base = Creds {
                access_key_id: k.access_key_id.clone(),
                secret_access_key: k.secret_access_key.clone(),
                session_token: None,
                expiration: None,
            };
            let region = req
                .region
                .clone()
                .or_else(|| root.get("region").map(str::to_string));
            let ep = Endpoint::new(region.as_deref(), root.get("endpoint_url"));
            let name: String = local_user().chars().take(32).collect();
            let duration = req.duration.unwrap_or(Duration::from_secs(3600));
            let ctx = sts::Context {
                profile,
                root: &root.name,
                mfa_serial: None,
                what: "GetFederationToken".into(),
            };
            let c = sts::get_federation_token(&ep, &base, &name, duration, &ctx).await?;
            Ok((c, None))
        }
        None => {
            // A credential_process root: usable only if it hands out temporary credentials.
            let r = engine.resolve(&req).await?;
            if r.creds.session_token.is_none() {
                bail!(
                    "profile {profile} has no role and no stored keys for GetFederationToken; the console needs temporary credentials"
                );
            }
            Ok((r.creds.clone(), None))
        }
    }
}

/// The console sign-in URL for `profile`.
pub async fn sign_in_url(
    engine: &Engine,
    profile: &str,
    opts: &ResolveOpts,
) -> Result<Zeroizing<String>> {
    let federation = engine
        .settings
        .federation_url
        .trim_end_matches('?')
        .to_string();
    check_federation_url(&federation)?;
    let (creds, session_duration) = console_credentials(engine, profile, opts).await?;
    let session = Zeroizing::new(
        serde_json::json!({
            "sessionId": creds.access_key_id,
            "sessionKey": creds.secret_access_key,
            "sessionToken": creds.session_token.clone().unwrap_or_default(),
        })
        .to_string(),
    );
    let mut token_url = Zeroizing::new(format!("{federation}?Action=getSigninToken"));
    if let Some(d) = session_duration {
        token_url.push_str(&format!("&SessionDuration={d}"));
    }
    token_url.push_str("&Session=");
    token_url.push_str(&url_encode(&session));
    let body = http_get(&token_url, &federation).await?;
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "SigninToken")]
        signin_token: String,
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        anyhow!("the federation endpoint {federation} answered without a SigninToken")
    })?;
    let signin = Zeroizing::new(answer.signin_token);
    Ok(Zeroizing::new(format!(
        "{federation}?Action=login&Issuer=awsenv&Destination={}&SigninToken={}",
        url_encode(CONSOLE_URL),
        url_encode(&signin)
    )))
}

/// The federation endpoint must be HTTPS, except on the loopback interface (tests, proxies).
fn check_federation_url(url: &str) -> Result<()> {
    let shown = crate::sanitize::printable(url.as_bytes(), 200);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| anyhow!("federation_url \"{shown}\" is not a URL"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") => Ok(()),
        _ => {
            bail!("federation_url \"{shown}\" must be an https:// URL (http:// only on 127.0.0.1)")
        }
    }
}

/// One GET; the body on 200. `shown` names the endpoint in errors (the full URL is secret).
async fn http_get(url: &str, shown: &str) -> Result<Vec<u8>> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| anyhow!("cannot load the system's TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| anyhow!("federation_url \"{shown}\" is not a URL"))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), client.get(uri))
        .await
        .map_err(|_| anyhow!("the federation endpoint {shown} did not answer within 30s"))?
        .map_err(|e| {
            anyhow!(
                "cannot reach the federation endpoint {shown}: {}",
                crate::sanitize::line(error_chain(&e).as_bytes(), 300)
            )
        })?;
    let status = resp.status();
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .map_err(|_| {
            anyhow!("the federation endpoint {shown} did not finish its answer within 30s")
        })?
        .map_err(|e| {
            anyhow!(
                "cannot read the answer of the federation endpoint {shown}: {}",
                crate::sanitize::line(e.to_string().as_bytes(), 300)
            )
        })?
        .to_bytes();
    if !status.is_success() {
        // An error page is outside text: one printable line, never raw bytes.
        let start = &body[..body.len().min(400)];
        bail!(
            "the federation endpoint {shown} refused the session (HTTP {}): {}",
            status.as_u16(),
            crate::sanitize::line(start, 200)
        );
    }
    Ok(body.to_vec())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A browser command: program and leading arguments (the URL is appended, or replaces `%s`).
#[derive(Debug, Clone)]
pub struct Browser {
    program: String,
    args: Vec<String>,
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// The browser to use: `$BROWSER` (first entry), macOS `open`, or `xdg-open` when a graphical
/// display is present; `None` otherwise.
pub fn find_browser() -> Option<Browser> {
    if let Some(b) = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        let first = b.split(':').next().unwrap_or_default();
        let mut words = first.split_whitespace().map(str::to_string);
        let program = words.next()?;
        return Some(Browser {
            program,
            args: words.collect(),
        });
    }
    if cfg!(target_os = "macos") {
        return Some(Browser {
            program: "open".into(),
            args: Vec::new(),
        });
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if display && on_path("xdg-open") {
        return Some(Browser {
            program: "xdg-open".into(),
            args: Vec::new(),
        });
    }
    None
}

/// Opens `url` in the browser through a one-shot loopback redirect, so the sign-in URL is
/// never in a process's argv: only `http://127.0.0.1:PORT/<random>` is, and it works once.
fn open_via_redirect(browser: &Browser, url: &str) -> Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1 for the browser: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| anyhow!("cannot read the redirect port: {e}"))?
        .port();
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    let path: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let local = format!("http://127.0.0.1:{port}/{path}");
    let mut args: Vec<String> = browser
        .args
        .iter()
        .map(|a| a.replace("%s", &local))
        .collect();
    if !browser.args.iter().any(|a| a.contains("%s")) {
        args.push(local);
    }
    std::process::Command::new(&browser.program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow!(
                "cannot start the browser {}: {e}; use 'awsenv login --stdout' to print the URL",
                browser.program
            )
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| anyhow!("cannot set up the redirect socket: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let target = head.split_whitespace().nth(1).unwrap_or_default();
                if target == format!("/{path}") {
                    let resp = Zeroizing::new(format!(
                        "HTTP/1.1 302 Found\r\nLocation: {url}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ));
                    let _ = stream.write_all(resp.as_bytes());
                    eprintln!("awsenv: opened the AWS console in the browser");
                    return Ok(());
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => bail!("the browser redirect failed: {e}"),
        }
    }
    bail!(
        "the browser did not open the sign-in page within 2 minutes; use 'awsenv login --stdout' to print the URL"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(
            url_encode("https://console.aws.amazon.com/"),
            "https%3A%2F%2Fconsole.aws.amazon.com%2F"
        );
        assert_eq!(url_encode("a b+c={\"x\"}"), "a%20b%2Bc%3D%7B%22x%22%7D");
    }

    #[test]
    fn federation_url_must_be_https_or_loopback() {
        assert!(check_federation_url("https://signin.aws.amazon.com/federation").is_ok());
        assert!(check_federation_url("http://127.0.0.1:9/federation").is_ok());
        assert!(check_federation_url("http://example.com/federation").is_err());
    }
}
