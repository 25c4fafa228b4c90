//! The loopback redirect (`http://127.0.0.1:<port>/oauth/callback`) that receives the
//! authorization code of a browser sign-in, served by the hardened [`crate::listener`]: other
//! local processes holding connections open cannot delay it, and a request with another
//! `state` (anyone on this machine can connect) is answered and ignored while the sign-in goes
//! on waiting. Opening the browser is [`crate::browser`]'s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::listener::{Holder, Loopback, Reply, ReplyFuture, Request};
use crate::tty::SigintGuard;

/// How waiting for the redirect ended without a code.
#[derive(Debug)]
pub enum WaitError {
    /// Ctrl-C.
    Cancelled,
    /// The deadline passed.
    TimedOut,
    /// The authorization server redirected with an error (e.g. `access_denied`).
    Denied(String),
    /// The listener failed.
    Io(anyhow::Error),
}

/// The loopback listener of one authorization-code sign-in.
pub struct Callback {
    socket: Loopback,
    /// `http://127.0.0.1:<port>/oauth/callback`, sent in the authorize URL and CreateToken.
    pub redirect_uri: String,
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>awsenv</title><p>Signed in to IAM Identity Center. You can close this tab and return to the terminal.";
const PAGE_FAILED: &str = "<!doctype html><meta charset=utf-8><title>awsenv</title><p>The sign-in did not succeed. Return to the terminal for details.";

/// What the redirect with our `state` carried: a code, or the authorization server's error.
type Outcome = std::result::Result<Zeroizing<String>, String>;

impl Callback {
    /// Binds a free loopback port.
    pub async fn bind() -> Result<Callback> {
        let socket = Loopback::bind("sign-in redirect")?;
        let redirect_uri = format!("http://127.0.0.1:{}/oauth/callback", socket.port());
        Ok(Callback {
            socket,
            redirect_uri,
        })
    }

    /// Waits for the redirect carrying `state`, until `deadline` or Ctrl-C. Requests for other
    /// paths, or with another state (not ours: anyone on this machine can connect), are
    /// answered and ignored, and the wait goes on.
    pub async fn wait(
        self,
        state: &str,
        deadline: Instant,
        sigint: &SigintGuard,
    ) -> Result<Zeroizing<String>, WaitError> {
        let (tx, rx) = oneshot::channel::<Outcome>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let state = Arc::new(state.to_string());
        let handler = move |req: Request, holder: Holder| -> ReplyFuture {
            let reply = answer(&req, &state, &holder, &tx);
            Box::pin(async move { reply })
        };
        let done = async {
            tokio::pin!(rx);
            loop {
                if sigint.interrupted() {
                    return Err(WaitError::Cancelled);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(WaitError::TimedOut);
                }
                let tick = Duration::from_millis(100).min(deadline - now);
                match tokio::time::timeout(tick, &mut rx).await {
                    Err(_) => continue,
                    Ok(Err(_)) => {
                        return Err(WaitError::Io(anyhow::anyhow!(
                            "the sign-in redirect listener stopped"
                        )));
                    }
                    Ok(Ok(Ok(code))) => return Ok(code),
                    Ok(Ok(Err(e))) => return Err(WaitError::Denied(e)),
                }
            }
        };
        self.socket
            .serve_until(handler, done)
            .await
            .map_err(WaitError::Io)?
    }
}

/// The answer to one request; the redirect with our `state` (the first one only) is sent to
/// `tx` and its connection marked as ours.
fn answer(
    req: &Request,
    state: &str,
    holder: &Holder,
    tx: &Mutex<Option<oneshot::Sender<Outcome>>>,
) -> Reply {
    let (path, query) = (req.uri().path(), req.uri().query().unwrap_or_default());
    if req.method() != hyper::Method::GET || path != "/oauth/callback" {
        return page(StatusCode::NOT_FOUND, "not found");
    }
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "code" => code = Some(Zeroizing::new(v)),
            "state" => got_state = Some(v),
            "error" => error = Some(v),
            _ => {}
        }
    }
    let ours = got_state
        .as_deref()
        .is_some_and(|g| subtle::ConstantTimeEq::ct_eq(g.as_bytes(), state.as_bytes()).into());
    if !ours {
        return page(StatusCode::BAD_REQUEST, PAGE_FAILED);
    }
    let outcome = if let Some(e) = error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        Err(e)
    } else {
        match code.filter(|c| !c.is_empty() && c.len() <= 4096) {
            Some(c) => Ok(c),
            None => return page(StatusCode::BAD_REQUEST, PAGE_FAILED),
        }
    };
    let Some(sender) = tx.lock().ok().and_then(|mut t| t.take()) else {
        // A second redirect with our state: the first one is being used.
        return page(StatusCode::BAD_REQUEST, PAGE_FAILED);
    };
    holder.authorise();
    let body = if outcome.is_ok() {
        PAGE_OK
    } else {
        PAGE_FAILED
    };
    let _ = sender.send(outcome);
    page(StatusCode::OK, body)
}

/// An HTML answer that closes its connection.
fn page(status: StatusCode, body: &'static str) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}
