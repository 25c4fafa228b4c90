//! The credential server for `exec --server`: the ECS container-credentials protocol on
//! 127.0.0.1 (issue 4).
//!
//! How it fits together:
//! - a **resolver thread** owns the [`Engine`] (secret store, config) and its own current-thread
//!   runtime. It answers one request at a time, so a resolution that waits for the cross-process
//!   lock or for an MFA code on `/dev/tty` never blocks the HTTP side; requests that arrive
//!   meanwhile queue up and are answered from the fresh result.
//! - a **server thread** runs a current-thread tokio runtime with hyper on a listener bound to
//!   `127.0.0.1:0`. Each `GET /` with the right `Authorization` token gets the current
//!   credentials: from memory while more than `refresh_window` remains, otherwise from the
//!   resolver, which re-assumes the role from the cached MFA session (no new code).
//! - the **main thread** spawns the command with `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN` (and no static keys), forwards SIGINT/SIGTERM/SIGHUP/
//!   SIGQUIT sent to awsenv to it, waits, and returns its status. The endpoint dies with awsenv.
//!
//! Nothing is written to disk: the token lives in this process and the child's environment
//! only; credentials in the store stay encrypted as always.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request as HttpRequest, Response, StatusCode};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::cli::ResolveOpts;
use crate::resolve::{Engine, Request};
use crate::sts::Creds;
use crate::timefmt;

/// Variables removed from the command's environment: static credentials and anything that
/// would make an SDK pick another source before the container endpoint.
pub const REMOVED_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_SESSION_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    crate::envstate::SOURCE,
    crate::envstate::RESTORE,
    crate::envstate::REFRESH_AT,
];

/// The answer the resolver gives: credentials, or a one-line error for the client.
type Answer = std::result::Result<Arc<Creds>, String>;

/// A job for the resolver thread: where to send the answer.
type Job = tokio::sync::oneshot::Sender<Answer>;

/// What the HTTP side shares: the last credentials and the way to the resolver.
struct Shared {
    token: Zeroizing<String>,
    current: Arc<Mutex<Option<Arc<Creds>>>>,
    refresh_window: i64,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Shared {
    /// The cached credentials, if more than `refresh_window` remains (the resolver's own rule).
    fn fresh(&self) -> Option<Arc<Creds>> {
        let guard = self.current.lock().ok()?;
        let c = guard.as_ref()?;
        c.fresh(self.refresh_window, timefmt::now_epoch())
            .then(|| c.clone())
    }

    async fn credentials(&self) -> Answer {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .lock()
            .map_err(|_| "the credential resolver failed".to_string())?
            .send(tx)
            .map_err(|_| "the credential resolver has stopped".to_string())?;
        rx.await
            .map_err(|_| "the credential resolver has stopped".to_string())?
    }
}

/// What the resolver thread hands back once the first resolution is done.
struct Started {
    /// The queue of refresh jobs.
    jobs: mpsc::Sender<Job>,
    /// The settings' `refresh_window`, in seconds.
    window: i64,
    /// The region of the resolved profile.
    region: Option<String>,
    /// Whether the `[default]` profile holds static keys (SDKs would use them first).
    default_has_keys: bool,
}

/// Starts the resolver thread; returns the job queue and the first answer (resolved before
/// the command starts, so a wrong code or missing keys fail up front).
fn start_resolver(
    mut req: Request,
    shared_current: Arc<Mutex<Option<Arc<Creds>>>>,
) -> Result<Started> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (first_tx, first_rx) = mpsc::channel::<Result<(i64, Option<String>, bool)>>();
    std::thread::Builder::new()
        .name("awsenv-resolver".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = first_tx.send(Err(anyhow!("cannot start the async runtime: {e}")));
                    return;
                }
            };
            let engine = match rt.block_on(Engine::open()) {
                Ok(e) => e,
                Err(e) => {
                    let _ = first_tx.send(Err(e));
                    return;
                }
            };
            let window = engine.settings.refresh_window.as_secs() as i64;
            match rt.block_on(engine.resolve(&req)) {
                Ok(r) => {
                    let c = Arc::new(r.creds.clone());
                    if let Ok(mut g) = shared_current.lock() {
                        *g = Some(c.clone());
                    }
                    let default_keys = engine.config.has_static_keys("default");
                    let _ = first_tx.send(Ok((window, r.region.clone(), default_keys)));
                }
                Err(e) => {
                    let _ = first_tx.send(Err(e));
                    return;
                }
            }
            // A one-time code given with --mfa-token cannot be used twice: later MFA sessions
            // come from mfa_process or the terminal.
            req.mfa_token = None;
            while let Ok(reply) = job_rx.recv() {
                // Requests queued behind a resolution are answered from its result.
                let cached = shared_current
                    .lock()
                    .ok()
                    .and_then(|g| g.clone())
                    .filter(|c| c.fresh(window, timefmt::now_epoch()));
                let answer = match cached {
                    Some(c) => Ok(c),
                    None => match rt.block_on(engine.resolve(&req)) {
                        Ok(r) => {
                            let c = Arc::new(r.creds.clone());
                            if let Ok(mut g) = shared_current.lock() {
                                *g = Some(c.clone());
                            }
                            Ok(c)
                        }
                        Err(e) => {
                            let line = crate::awsconfig::one_line(&format!("{e:#}"));
                            eprintln!("awsenv: credential server: {line}");
                            Err(line)
                        }
                    },
                };
                let _ = reply.send(answer);
            }
        })
        .map_err(|e| anyhow!("cannot start the resolver thread: {e}"))?;
    let (window, region, default_has_keys) = first_rx
        .recv()
        .map_err(|_| anyhow!("the credential resolver stopped before answering"))??;
    Ok(Started {
        jobs: job_tx,
        window,
        region,
        default_has_keys,
    })
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    resp
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Code": code, "Message": message });
    json_response(status, body.to_string())
}

/// The ECS container-credentials JSON for a set of credentials.
pub fn credentials_json(c: &Creds) -> Zeroizing<String> {
    let mut m = serde_json::Map::new();
    m.insert("AccessKeyId".into(), c.access_key_id.clone().into());
    m.insert("SecretAccessKey".into(), c.secret_access_key.clone().into());
    m.insert(
        "Token".into(),
        c.session_token.clone().unwrap_or_default().into(),
    );
    // SDKs require an expiry for container credentials; long-term keys (only with --no-session)
    // get a nominal one hour so clients come back periodically.
    let exp = c.expiration.unwrap_or_else(|| timefmt::now_epoch() + 3600);
    m.insert("Expiration".into(), timefmt::rfc3339(exp).into());
    Zeroizing::new(serde_json::Value::Object(m).to_string())
}

/// Whether the `Authorization` header value is the token (constant time in the content).
pub fn token_matches(given: &[u8], token: &[u8]) -> bool {
    bool::from(given.ct_eq(token))
}

async fn handle(
    shared: Arc<Shared>,
    req: HttpRequest<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let Some(given) = req.headers().get(hyper::header::AUTHORIZATION) else {
        return Ok(error_response(
            StatusCode::UNAUTHORIZED,
            "MissingToken",
            "no Authorization header: AWS_CONTAINER_AUTHORIZATION_TOKEN is required",
        ));
    };
    if !token_matches(given.as_bytes(), shared.token.as_bytes()) {
        return Ok(error_response(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "the Authorization header does not match this endpoint's token",
        ));
    }
    if req.method() != hyper::Method::GET {
        return Ok(error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GET is served",
        ));
    }
    if req.uri().path() != "/" {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            "credentials are served at /",
        ));
    }
    match shared.credentials().await {
        Ok(c) => Ok(json_response(
            StatusCode::OK,
            credentials_json(&c).to_string(),
        )),
        Err(msg) => Ok(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CredentialsUnavailable",
            &format!("awsenv: {msg}"),
        )),
    }
}

/// Serves on `listener` until the process ends.
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// 32 random bytes, hex.
fn new_token() -> Result<Zeroizing<String>> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut b[..])
        .map_err(|e| anyhow!("cannot get random bytes for the endpoint token: {e}"))?;
    let mut s = Zeroizing::new(String::with_capacity(64));
    for x in b.iter() {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

// ---- signals -------------------------------------------------------------------------------

/// The child's pid once it runs (0 before).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A forwardable signal that arrived before the child existed (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);
/// The write end of the self-pipe the signal handler reports to (-1 before).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The signals forwarded to the command.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // A signal the terminal generated (Ctrl-C, Ctrl-\, hangup of the foreground group) was sent
    // by the kernel to the whole process group, so the command got it too: forwarding it would
    // deliver it twice (and a second Ctrl-C makes terraform abort without cleanup). Only
    // signals sent to awsenv with kill(2) (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL) are
    // forwarded.
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let code = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_code }
    };
    if code > 0 {
        return;
    }
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Installs the forwarding handlers and the thread that relays them to the child.
fn install_signal_forwarding() -> Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors or fails.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!(
            "cannot create a pipe for signal forwarding: {}",
            std::io::Error::last_os_error()
        );
    }
    SIGNAL_PIPE.store(fds[1], Ordering::SeqCst);
    let read_fd = fds[0];
    std::thread::Builder::new()
        .name("awsenv-signals".into())
        .spawn(move || {
            loop {
                let mut b = 0u8;
                // SAFETY: reading one byte into a valid buffer.
                let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
                if n == 1 {
                    let pid = CHILD.load(Ordering::SeqCst);
                    if pid > 0 {
                        // SAFETY: signalling our own child.
                        unsafe { libc::kill(pid, b as libc::c_int) };
                    } else {
                        PENDING.store(b as i32, Ordering::SeqCst);
                    }
                } else if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                } else {
                    return;
                }
            }
        })
        .map_err(|e| anyhow!("cannot start the signal thread: {e}"))?;
    for sig in FORWARDED {
        // SAFETY: installing a handler that only does async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                bail!(
                    "cannot install a signal handler: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    Ok(())
}

/// Ends awsenv the way the command ended: by the same signal when it was killed by one (so a
/// calling shell sees "interrupted" and stops its loop), else with its exit code.
fn exit_like(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    let Some(sig) = status.signal() else {
        return 1;
    };
    // Signals that dump core are reported as 128+N rather than re-raised (no core of awsenv).
    let dumps_core = [
        libc::SIGQUIT,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGSEGV,
        libc::SIGSYS,
    ];
    if !dumps_core.contains(&sig) {
        // SAFETY: restoring the default action and raising the signal on ourselves.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
    }
    128 + sig
}

/// Runs `program` with a loopback credential endpoint serving `profile`'s credentials; returns
/// the exit status to use (the command's).
pub fn exec_with_server(
    profile: &str,
    opts: &ResolveOpts,
    program: &OsString,
    args: &[OsString],
) -> Result<i32> {
    let req = crate::resolve::request(profile, opts)?;
    let current = Arc::new(Mutex::new(None));
    let Started {
        jobs,
        window,
        region,
        default_has_keys,
    } = start_resolver(req, current.clone())?;

    let token = new_token()?;
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1: {e}"))?;
    let port = std_listener
        .local_addr()
        .map_err(|e| anyhow!("cannot read the endpoint's port: {e}"))?
        .port();
    std_listener
        .set_nonblocking(true)
        .map_err(|e| anyhow!("cannot set up the endpoint socket: {e}"))?;

    let shared = Arc::new(Shared {
        token: token.clone(),
        current,
        refresh_window: window,
        jobs: Mutex::new(jobs),
    });
    std::thread::Builder::new()
        .name("awsenv-server".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                eprintln!("awsenv: credential server: cannot start the async runtime");
                return;
            };
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(listener) => serve(listener, shared).await,
                    Err(e) => {
                        eprintln!("awsenv: credential server: cannot use the listening socket: {e}")
                    }
                }
            });
        })
        .map_err(|e| anyhow!("cannot start the server thread: {e}"))?;

    install_signal_forwarding()?;
    if default_has_keys {
        eprintln!(
            "awsenv: warning: the [default] profile in your AWS config or credentials file has static keys; AWS SDKs use them before the credential endpoint"
        );
    }

    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for v in REMOVED_VARS {
        cmd.env_remove(v);
    }
    cmd.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{port}/"),
    );
    cmd.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.as_str());
    cmd.env("AWS_VAULT", profile);
    cmd.env(crate::envstate::PROFILE, profile);
    if let Some(r) = &region {
        cmd.env("AWS_REGION", r);
        cmd.env("AWS_DEFAULT_REGION", r);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow!("cannot run {}: {e}", program.to_string_lossy()))?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let early = PENDING.swap(0, Ordering::SeqCst);
    if early > 0 {
        // SAFETY: signalling our own child with a signal that was meant for it.
        unsafe { libc::kill(child.id() as i32, early) };
    }
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => bail!("cannot wait for {}: {e}", program.to_string_lossy()),
        }
    };
    CHILD.store(0, Ordering::SeqCst);
    Ok(exit_like(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare_is_exact() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abd", b"abc"));
        assert!(!token_matches(b"ab", b"abc"));
        assert!(!token_matches(b"", b"abc"));
    }

    #[test]
    fn container_json_has_the_fields_sdks_read() {
        let c = Creds {
            access_key_id: "ASIAX".into(),
            secret_access_key: "s".into(),
            session_token: Some("t".into()),
            expiration: Some(1_800_000_000),
        };
        let v: serde_json::Value = serde_json::from_str(&credentials_json(&c)).unwrap_or_default();
        assert_eq!(v["AccessKeyId"], "ASIAX");
        assert_eq!(v["SecretAccessKey"], "s");
        assert_eq!(v["Token"], "t");
        assert_eq!(v["Expiration"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let (a, b) = (
            new_token().unwrap_or_default(),
            new_token().unwrap_or_default(),
        );
        assert_eq!(a.len(), 64);
        assert_ne!(*a, *b);
    }
}
