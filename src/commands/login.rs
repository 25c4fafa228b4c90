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
//! (explicitly asked for, as aws-vault does); otherwise the browser is sent to it through a
//! one-shot redirect on 127.0.0.1 with a random path (served by [`crate::listener`]), which
//! answers once with a redirect to the sign-in URL. Neither address is in a process's argv
//! (readable by every local user): the browser is given only the path of a private page
//! ([`crate::browser::RedirectPage`]) that leads to the one-shot address, so the sign-in URL
//! itself is never written to disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use zeroize::Zeroizing;

use crate::browser::{RedirectPage, WebUrl};
use crate::cli::ResolveOpts;
use crate::commands::session::profile_or_directory;
use crate::listener::{Holder, Loopback, Reply, ReplyFuture, Request};
use crate::resolve::request;
use crate::resolve::{Engine, local_user};
use crate::runtime::block_on;
use crate::sts::{self, Creds, Endpoint};

/// The console page the sign-in lands on.
pub const CONSOLE_URL: &str = "https://console.aws.amazon.com/";

/// `awsenv login [PROFILE] [--stdout]`.
pub fn login(
    profile: Option<&str>,
    query: Option<&str>,
    stdout: bool,
    opts: &ResolveOpts,
) -> Result<i32> {
    let (profile, opts) = profile_or_directory(profile, query, "login", true, opts)?;
    // Decide how to deliver the URL before asking STS (or the user) for anything.
    let browser = if stdout {
        None
    } else {
        Some(crate::browser::detect().ok_or_else(|| {
            anyhow!("no browser to open here (no $BROWSER and no graphical display); run 'awsenv login {profile} --stdout' to print the sign-in URL")
        })?)
    };
    let url = block_on(async {
        let engine = Engine::open().await?;
        sign_in_url(&engine, &profile, &opts).await
    })??;
    match browser {
        None => {
            let line = zeroize::Zeroizing::new(format!("{}\n", *url));
            super::write_stdout(line.as_bytes())?;
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
            let ep = Endpoint::new(region.as_deref(), root.get("endpoint_url"))
                .with_ca_bundle(chain.last().and_then(|p| p.get("ca_bundle")));
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
    WebUrl::parse("federation_url", &federation)?;
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
    let ca_bundle = engine
        .config
        .has(profile)
        .then(|| engine.config.profile(profile))
        .transpose()?
        .and_then(|p| p.get("ca_bundle").map(str::to_string));
    let body = http_get(&token_url, &federation, ca_bundle.as_deref()).await?;
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

/// One GET; the body on 200. `shown` names the endpoint in errors (the full URL is secret).
async fn http_get(url: &str, shown: &str, ca_bundle: Option<&str>) -> Result<Vec<u8>> {
    let client = crate::http::client(ca_bundle)?;
    let resp = tokio::time::timeout(Duration::from_secs(30), client.get(url))
        .await
        .map_err(|_| anyhow!("the federation endpoint {shown} did not answer within 30s"))?
        .map_err(|e| {
            anyhow!(
                "cannot reach the federation endpoint {shown}: {}",
                crate::sanitize::line(format!("{e:#}").as_bytes(), 400)
            )
        })?;
    if !(200..300).contains(&resp.status) {
        // An error page is outside text: one printable line, never raw bytes.
        let start = &resp.body[..resp.body.len().min(400)];
        bail!(
            "the federation endpoint {shown} refused the session (HTTP {}): {}",
            resp.status,
            crate::sanitize::line(start, 200)
        );
    }
    Ok(resp.body.to_vec())
}

/// How long the one-shot redirect waits for the browser.
const REDIRECT_WAIT: Duration = Duration::from_secs(120);

/// The one-shot redirect's answer to one request: the first `GET /<nonce>` gets the 302 to the
/// sign-in URL (and is reported on `done`), everything else 404.
fn redirect_answer(
    req: &Request,
    holder: &Holder,
    nonce: &str,
    url: &str,
    used: &AtomicBool,
    done: &std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
) -> Reply {
    let mut resp = Reply::new(http_body_util::Full::new(bytes::Bytes::new()));
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    let ours =
        req.method() == hyper::Method::GET
            && req.uri().path().strip_prefix('/').is_some_and(|p| {
                subtle::ConstantTimeEq::ct_eq(p.as_bytes(), nonce.as_bytes()).into()
            });
    let location = hyper::header::HeaderValue::from_str(url).ok();
    match location {
        Some(loc) if ours && !used.swap(true, Ordering::SeqCst) => {
            holder.authorise();
            *resp.status_mut() = hyper::StatusCode::FOUND;
            let h = resp.headers_mut();
            h.insert(hyper::header::LOCATION, loc);
            h.insert(
                "referrer-policy",
                hyper::header::HeaderValue::from_static("no-referrer"),
            );
            if let Some(tx) = done.lock().ok().and_then(|mut d| d.take()) {
                let _ = tx.send(());
            }
        }
        _ => *resp.status_mut() = hyper::StatusCode::NOT_FOUND,
    }
    resp
}

/// Opens `url` in the browser through a one-shot loopback redirect, so the sign-in URL is in
/// no process's argv and on no disk: the browser is given a private page leading to
/// `http://127.0.0.1:PORT/<random>`, which answers once with a redirect to the sign-in URL.
fn open_via_redirect(browser: &[String], url: &Zeroizing<String>) -> Result<()> {
    let socket = Loopback::bind("browser redirect")?;
    let mut bytes = Zeroizing::new([0u8; 16]);
    getrandom::fill(&mut bytes[..]).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    let nonce: Arc<Zeroizing<String>> = Arc::new(Zeroizing::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ));
    let local = WebUrl::parse(
        "the redirect address",
        &format!("http://127.0.0.1:{}/{}", socket.port(), nonce.as_str()),
    )?;
    let page = RedirectPage::create(&local)?;
    crate::browser::open_page(browser, &page)
        .map_err(|e| anyhow!("{e}; use 'awsenv login --stdout' to print the URL"))?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = Arc::new(std::sync::Mutex::new(Some(tx)));
    let used = Arc::new(AtomicBool::new(false));
    let url = Arc::new(url.clone());
    let handler = move |req: Request, holder: Holder| -> ReplyFuture {
        let reply = redirect_answer(&req, &holder, &nonce, &url, &used, &done);
        Box::pin(async move { reply })
    };
    // Ctrl-C ends the wait (and removes the page) instead of killing awsenv.
    let sigint = crate::tty::SigintGuard::install();
    let waited = async {
        tokio::pin!(rx);
        let deadline = tokio::time::Instant::now() + REDIRECT_WAIT;
        loop {
            if sigint.interrupted() {
                return Err(anyhow::Error::new(crate::tty::Cancelled::new(
                    "opening the AWS console",
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the browser did not open the sign-in page within 2 minutes; use 'awsenv login --stdout' to print the URL"
                );
            }
            if let Ok(fetched) = tokio::time::timeout(Duration::from_millis(100), &mut rx).await {
                return fetched.map_err(|_| anyhow!("the browser redirect stopped"));
            }
        }
    };
    let fetched = block_on(async { socket.serve_until(handler, waited).await });
    drop(sigint);
    drop(page);
    fetched???;
    eprintln!("awsenv: opened the AWS console in the browser");
    Ok(())
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
        let check = |u| WebUrl::parse("federation_url", u);
        assert!(check("https://signin.aws.amazon.com/federation").is_ok());
        assert!(check("http://127.0.0.1:9/federation").is_ok());
        assert!(check("http://example.com/federation").is_err());
    }
}
