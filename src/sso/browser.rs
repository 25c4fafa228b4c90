//! The browser side of a sign-in: whether a browser can be opened here, opening one, and the
//! loopback redirect (`http://127.0.0.1:<port>/oauth/callback`) that receives the
//! authorization code.
//!
//! A browser is there when `$BROWSER` names one, on macOS (`open`), or with a graphical display
//! (`DISPLAY` / `WAYLAND_DISPLAY`) and `xdg-open`. Over SSH without a display there is none, and
//! the device code is used instead.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::tty::SigintGuard;

/// The command that opens a URL here, if any (the URL is appended, or replaces `%s`).
pub fn detect() -> Option<Vec<String>> {
    // $BROWSER is a ':'-separated list of commands (the first one is used).
    if let Ok(b) = std::env::var("BROWSER")
        && let Some(first) = b.split(':').map(str::trim).find(|s| !s.is_empty())
    {
        return Some(first.split_whitespace().map(str::to_string).collect());
    }
    if cfg!(target_os = "macos") {
        return Some(vec!["open".to_string()]);
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if display && on_path("xdg-open") {
        return Some(vec!["xdg-open".to_string()]);
    }
    None
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(name);
            Path::new(&f).is_file()
        })
    })
}

/// Starts the browser on `url` without waiting for it (its exit is reaped in the background).
/// Its output goes nowhere: a browser's chatter must not reach a terminal or a pipe.
pub fn open(cmd: &[String], url: &str) -> Result<()> {
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| anyhow!("no browser command"))?;
    let mut c = std::process::Command::new(prog);
    let mut substituted = false;
    for a in args {
        if a.contains("%s") {
            c.arg(a.replace("%s", url));
            substituted = true;
        } else {
            c.arg(a);
        }
    }
    if !substituted {
        c.arg(url);
    }
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow!("cannot start the browser {prog}: {e}"))?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

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
    listener: TcpListener,
    /// `http://127.0.0.1:<port>/oauth/callback`, sent in the authorize URL and CreateToken.
    pub redirect_uri: String,
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>awsenv</title><p>Signed in to IAM Identity Center. You can close this tab and return to the terminal.";
const PAGE_FAILED: &str = "<!doctype html><meta charset=utf-8><title>awsenv</title><p>The sign-in did not succeed. Return to the terminal for details.";

impl Callback {
    /// Binds a free loopback port.
    pub async fn bind() -> Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| anyhow!("cannot listen on 127.0.0.1 for the sign-in redirect: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| anyhow!("cannot read the redirect listener's port: {e}"))?
            .port();
        Ok(Callback {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/oauth/callback"),
        })
    }

    /// Waits for the redirect carrying `state`, until `deadline` or Ctrl-C. Requests for other
    /// paths, or with another state (not ours: anyone on this machine can connect), are
    /// answered and ignored.
    pub async fn wait(
        &self,
        state: &str,
        deadline: Instant,
        sigint: &SigintGuard,
    ) -> Result<zeroize::Zeroizing<String>, WaitError> {
        loop {
            if sigint.interrupted() {
                return Err(WaitError::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::TimedOut);
            }
            let tick = Duration::from_millis(100).min(deadline - now);
            let accepted = match tokio::time::timeout(tick, self.listener.accept()).await {
                Err(_) => continue,
                Ok(Err(e)) => return Err(WaitError::Io(anyhow!("sign-in redirect listener: {e}"))),
                Ok(Ok((stream, _))) => stream,
            };
            match handle(accepted, state).await {
                Some(Ok(code)) => return Ok(code),
                Some(Err(e)) => return Err(WaitError::Denied(e)),
                None => continue,
            }
        }
    }
}

/// Reads one request; `Some(Ok(code))` for our callback with a code, `Some(Err(error))` for
/// our callback with an error, `None` for anything else.
async fn handle(
    mut s: TcpStream,
    state: &str,
) -> Option<Result<zeroize::Zeroizing<String>, String>> {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while buf.len() < 8192 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return None;
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/oauth/callback" {
        let _ = respond(&mut s, "404 Not Found", "not found").await;
        return None;
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
            "code" => code = Some(zeroize::Zeroizing::new(v)),
            "state" => got_state = Some(v),
            "error" => error = Some(v),
            _ => {}
        }
    }
    let ours = got_state
        .as_deref()
        .is_some_and(|g| subtle::ConstantTimeEq::ct_eq(g.as_bytes(), state.as_bytes()).into());
    if !ours {
        let _ = respond(&mut s, "400 Bad Request", PAGE_FAILED).await;
        return None;
    }
    if let Some(e) = error {
        let _ = respond(&mut s, "200 OK", PAGE_FAILED).await;
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Some(Err(e));
    }
    match code.filter(|c| !c.is_empty() && c.len() <= 4096) {
        Some(c) => {
            let _ = respond(&mut s, "200 OK", PAGE_OK).await;
            Some(Ok(c))
        }
        None => {
            let _ = respond(&mut s, "400 Bad Request", PAGE_FAILED).await;
            None
        }
    }
}

async fn respond(s: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(msg.as_bytes()).await?;
    s.shutdown().await
}
