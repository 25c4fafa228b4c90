//! The credential server for `exec --server`: the ECS container-credentials protocol on
//! 127.0.0.1 (issue 4), hardened against starvation (issue 7).
//!
//! How it fits together:
//! - a **resolver thread** owns the [`Engine`] (secret store, config) and its own current-thread
//!   runtime. It answers one request at a time, so a resolution that waits for the cross-process
//!   lock or for an MFA code on `/dev/tty` never blocks the HTTP side; requests that arrive
//!   meanwhile queue up and are answered from the fresh result.
//! - a **server thread** runs a current-thread tokio runtime with hyper on a listener bound to
//!   `127.0.0.1:0`. Each `GET /` with the right `Authorization` token gets the current
//!   credentials: from memory while more than `refresh_window` remains, otherwise from the
//!   resolver, which re-assumes the role from the cached MFA session (no new code). What a
//!   request gets is decided by [`route`], a pure function of its method, target and headers.
//! - the **main thread** spawns the command with `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN` (and no static keys, no `AWSENV_*` state of the calling
//!   shell, `AWSENV_SERVER` set), forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to awsenv to it,
//!   waits, and returns its status. The endpoint dies with awsenv, and on Linux the command gets
//!   SIGTERM when awsenv dies, even by SIGKILL (`PR_SET_PDEATHSIG`).
//!
//! The endpoint cannot be starved by other local processes: it is served by
//! [`crate::listener`] (bounded connections, a deadline for the request head, an idle timeout,
//! shedding of connections that never showed the token first), and a request without the right
//! token is answered and its connection closed.
//!
//! Nothing is written to disk: the token lives in this process and the child's environment
//! only; credentials in the store stay encrypted as always.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

mod signals;

use signals::{CHILD, PENDING, child_setup, exit_like, install_signal_forwarding};

use crate::cli::ResolveOpts;
use crate::listener::{self, Handler, Holder, Loopback, ReplyFuture};
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
];

/// awsenv's settings variables, passed on to the command so that an awsenv run inside it
/// behaves like this one. Every other `AWSENV_*` variable is state of the shell awsenv was
/// started from (the active profile, the restore record, refresh and expiry times, the hook's
/// fingerprint, an outer `exec --server`'s mark) or a secret (`AWSENV_FILE_PASSPHRASE`), and is
/// removed: inside the command the endpoint is the only source of credentials.
pub const KEPT_SETTINGS: &[&str] = &[
    "AWSENV_BACKEND",
    "AWSENV_FILE_DIR",
    "AWSENV_SESSION_TTL",
    "AWSENV_ROLE_TTL",
    "AWSENV_REFRESH_WINDOW",
    "AWSENV_FEDERATION_URL",
    "AWSENV_STS_TIMEOUT",
    "AWSENV_UNLOCK_TTL",
    "AWSENV_UNLOCK_MAX",
    "AWSENV_SSO_WRITE_AWS_CACHE",
    "AWSENV_SSO_SESSION_DURATION",
    "AWSENV_SSO_SIGN_IN_TIMEOUT",
    "AWSENV_PICKER_ORDER",
    "AWSENV_KEY_MAX_AGE",
    "AWSENV_ANNOUNCE",
    "AWSENV_CONFIG_OVERLAY",
    "AWSENV_ROLE_BASE_PROFILE",
];

/// Whether an environment variable is awsenv state to remove from the command's environment.
pub fn is_awsenv_state(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"AWSENV_")
        && !KEPT_SETTINGS
            .iter()
            .any(|k| k.as_bytes() == name.as_bytes())
}

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
}

/// The settings of the `[default]` profile (config or credentials file) that give AWS SDKs
/// credentials of their own: SDKs read `[default]` before the container endpoint, so with any
/// of these the command would run as another identity.
fn default_profile_credentials(config: &crate::awsconfig::AwsConfig) -> Vec<&'static str> {
    let mut found = Vec::new();
    if !config.has("default") {
        return found;
    }
    if config.has_static_keys("default") {
        found.push("aws_access_key_id");
    }
    if let Ok(p) = config.profile("default") {
        // sso_role_name: an IAM Identity Center profile (with sso_account_id and a session).
        for key in ["role_arn", "credential_process", "sso_role_name"] {
            if p.get(key).is_some() {
                found.push(key);
            }
        }
    }
    found
}

/// The refusal (or, with `--allow-default-keys`, the warning) for credentials in `[default]`.
fn default_credentials_problem(found: &[&str], profile: &str, allowed: bool) -> Option<String> {
    if found.is_empty() {
        return None;
    }
    let what = format!(
        "the [default] profile in your AWS config or credentials file sets {}, and AWS SDKs use [default] before the credential endpoint",
        found.join(" and ")
    );
    Some(if allowed {
        format!("warning: {what} (--allow-default-keys given)")
    } else {
        format!(
            "{what}, so the command would run as that identity instead of {profile}: move those settings from [default] to a named profile, or pass --allow-default-keys to run anyway"
        )
    })
}

/// Starts the resolver thread; returns the job queue and the first answer (resolved before
/// the command starts, so a wrong code or missing keys fail up front).
fn start_resolver(
    mut req: Request,
    allow_default_keys: bool,
    shared_current: Arc<Mutex<Option<Arc<Creds>>>>,
) -> Result<Started> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (first_tx, first_rx) = mpsc::channel::<Result<(i64, Option<String>)>>();
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
            // Before any prompt: a refusal must not cost the user an MFA code.
            let found = default_profile_credentials(&engine.config);
            match default_credentials_problem(&found, &req.profile, allow_default_keys) {
                Some(warning) if allow_default_keys => eprintln!("awsenv: {warning}"),
                Some(refusal) => {
                    let _ = first_tx.send(Err(anyhow!(refusal)));
                    return;
                }
                None => {}
            }
            match rt.block_on(engine.resolve(&req)) {
                Ok(r) => {
                    let c = Arc::new(r.creds.clone());
                    if let Ok(mut g) = shared_current.lock() {
                        *g = Some(c.clone());
                    }
                    let _ = first_tx.send(Ok((window, r.region.clone())));
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
    let (window, region) = first_rx
        .recv()
        .map_err(|_| anyhow!("the credential resolver stopped before answering"))??;
    Ok(Started {
        jobs: job_tx,
        window,
        region,
    })
}

// ---- request handling: pure, for tests and fuzzing -----------------------------------------

/// What the endpoint does with one request, decided by [`route`] from the request alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An authorised `GET /`: answer with the current credentials ([`credentials_response`]).
    Credentials,
    /// Answer with an error and no credentials ([`refusal_response`]).
    Refuse(Refusal),
}

/// An error answer of the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Code` field of the JSON body.
    pub code: &'static str,
    /// The `Message` field of the JSON body.
    pub message: &'static str,
    /// Whether the request carried the endpoint's token. Without it the answer closes the
    /// connection, so that a stranger cannot hold one open.
    pub authorised: bool,
}

impl Route {
    /// Whether the request carried the endpoint's token.
    pub fn authorised(&self) -> bool {
        match self {
            Route::Credentials => true,
            Route::Refuse(r) => r.authorised,
        }
    }
}

fn refuse(
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    authorised: bool,
) -> Route {
    Route::Refuse(Refusal {
        status,
        code,
        message,
        authorised,
    })
}

/// Decides what a request gets: the token first (exactly one `Authorization` header, equal to
/// `token`, compared in constant time), so that nothing else about the endpoint is told to a
/// caller without it; then `GET` and the path `/`.
pub fn route(method: &Method, uri: &Uri, headers: &HeaderMap, token: &[u8]) -> Route {
    let mut given = headers.get_all(AUTHORIZATION).iter();
    match (given.next(), given.next()) {
        (None, _) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "MissingToken",
                "no Authorization header: AWS_CONTAINER_AUTHORIZATION_TOKEN is required",
                false,
            );
        }
        (Some(_), Some(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "AmbiguousToken",
                "more than one Authorization header",
                false,
            );
        }
        (Some(v), None) if token.is_empty() || !token_matches(v.as_bytes(), token) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "InvalidToken",
                "the Authorization header does not match this endpoint's token",
                false,
            );
        }
        (Some(_), None) => {}
    }
    if method != Method::GET {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GET is served",
            true,
        );
    }
    if uri.path() != "/" {
        return refuse(
            StatusCode::NOT_FOUND,
            "NotFound",
            "credentials are served at /",
            true,
        );
    }
    Route::Credentials
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Code": code, "Message": message });
    json_response(status, body.to_string())
}

/// The answer to a refused request (JSON `{"Code", "Message"}`, no credentials); it closes the
/// connection when the request was not authorised.
pub fn refusal_response(r: &Refusal) -> Response<Full<Bytes>> {
    let mut resp = error_response(r.status, r.code, r.message);
    if !r.authorised {
        resp.headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The answer to an authorised `GET /`: the credentials, or HTTP 500 with awsenv's one-line
/// reason why there are none.
pub fn credentials_response(answer: std::result::Result<&Creds, &str>) -> Response<Full<Bytes>> {
    match answer {
        Ok(c) => json_response(StatusCode::OK, credentials_json(c).to_string()),
        Err(msg) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CredentialsUnavailable",
            &format!("awsenv: {msg}"),
        ),
    }
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

// ---- serving: the hardened loopback listener ----------------------------------------------

/// The endpoint's [`Handler`]: [`route`] decides, and an authorised `GET /` gets the current
/// credentials (from memory or the resolver).
fn endpoint(shared: Arc<Shared>) -> impl Handler {
    move |req: listener::Request, holder: Holder| -> ReplyFuture {
        let shared = shared.clone();
        Box::pin(async move {
            let decision = route(
                req.method(),
                req.uri(),
                req.headers(),
                shared.token.as_bytes(),
            );
            // Before the resolver is asked (which may wait for an MFA code): the connection
            // of the token holder is never shed while it is being answered.
            if decision.authorised() {
                holder.authorise();
            }
            match decision {
                Route::Credentials => match shared.credentials().await {
                    Ok(c) => credentials_response(Ok(&c)),
                    Err(msg) => credentials_response(Err(&msg)),
                },
                Route::Refuse(r) => refusal_response(&r),
            }
        })
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

/// Runs `program` with a loopback credential endpoint serving `profile`'s credentials; returns
/// the exit status to use (the command's).
///
/// `allow_default_keys` (`--allow-default-keys`) runs the command even when the `[default]`
/// profile has credentials of its own, which SDKs would use instead of the endpoint.
pub fn exec_with_server(
    profile: &str,
    opts: &ResolveOpts,
    allow_default_keys: bool,
    program: &OsString,
    args: &[OsString],
) -> Result<i32> {
    let req = crate::resolve::request(profile, opts)?;
    let current = Arc::new(Mutex::new(None));
    let Started {
        jobs,
        window,
        region,
    } = start_resolver(req, allow_default_keys, current.clone())?;

    let token = new_token()?;
    let endpoint_socket = Loopback::bind("credential server")?;
    let port = endpoint_socket.port();

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
                if let Err(e) = endpoint_socket.serve(endpoint(shared)).await {
                    eprintln!("awsenv: credential server: {e:#}");
                }
            });
        })
        .map_err(|e| anyhow!("cannot start the server thread: {e}"))?;

    install_signal_forwarding()?;

    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for v in REMOVED_VARS {
        cmd.env_remove(v);
    }
    for (name, _) in std::env::vars_os() {
        if is_awsenv_state(&name) {
            cmd.env_remove(&name);
        }
    }
    cmd.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{port}/"),
    );
    cmd.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.as_str());
    cmd.env("AWS_VAULT", profile);
    cmd.env(crate::envstate::PROFILE, profile);
    cmd.env(crate::envstate::SERVER, profile);
    let overlay = crate::overlay::changes_now();
    for (name, value) in &overlay {
        cmd.env(name, value);
    }
    if let Some(r) = &region {
        cmd.env("AWS_REGION", r);
        cmd.env("AWS_DEFAULT_REGION", r);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before execve and makes only
    // async-signal-safe calls (sigaction, prctl, getppid), allocating nothing.
    unsafe { cmd.pre_exec(move || child_setup(parent)) };
    let mut child = cmd
        .spawn()
        .map_err(|e| crate::exitcode::cannot_run(program, e))?;
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
    // What the command wrote into the overlay (`aws configure set …`) reaches the user's file.
    if !overlay.is_empty()
        && let Err(e) = crate::overlay::write_now()
    {
        eprintln!("awsenv: {e:#}");
    }
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

    fn get(target: &str, auth: &[&str]) -> Route {
        let mut h = HeaderMap::new();
        for a in auth {
            if let Ok(v) = HeaderValue::from_bytes(a.as_bytes()) {
                h.append(AUTHORIZATION, v);
            }
        }
        let uri: Uri = target.parse().unwrap_or_default();
        route(&Method::GET, &uri, &h, b"tok")
    }

    fn status(r: &Route) -> u16 {
        match r {
            Route::Credentials => 200,
            Route::Refuse(x) => x.status.as_u16(),
        }
    }

    #[test]
    fn route_checks_the_token_before_anything_else() {
        assert_eq!(get("/", &["tok"]), Route::Credentials);
        assert_eq!(get("http://127.0.0.1:1/", &["tok"]), Route::Credentials);
        assert_eq!(status(&get("/", &[])), 401);
        assert_eq!(status(&get("/", &["tok2"])), 403);
        assert_eq!(status(&get("/", &["to"])), 403);
        assert_eq!(status(&get("/", &["tok", "tok"])), 400);
        // Without the token the path and method are not even looked at.
        assert_eq!(status(&get("/x", &[])), 401);
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("tok"));
        let post = route(&Method::POST, &Uri::from_static("/"), &h, b"tok");
        assert_eq!(status(&post), 405);
        assert!(post.authorised());
        assert_eq!(status(&get("/x", &["tok"])), 404);
        // An empty token never matches.
        assert_eq!(
            status(&route(
                &Method::GET,
                &Uri::from_static("/"),
                &HeaderMap::new(),
                b""
            )),
            401
        );
        let mut empty = HeaderMap::new();
        empty.insert(AUTHORIZATION, HeaderValue::from_static(""));
        assert_eq!(
            status(&route(&Method::GET, &Uri::from_static("/"), &empty, b"")),
            403
        );
    }

    #[test]
    fn refusals_without_the_token_close_the_connection() {
        for (r, closes) in [(get("/", &[]), true), (get("/x", &["tok"]), false)] {
            let Route::Refuse(refusal) = r else {
                panic!("not a refusal")
            };
            let resp = refusal_response(&refusal);
            assert_eq!(
                resp.headers().get(hyper::header::CONNECTION).is_some(),
                closes
            );
            assert_eq!(
                resp.headers().get(hyper::header::CACHE_CONTROL),
                Some(&HeaderValue::from_static("no-store"))
            );
        }
        let failed = credentials_response(Err("no terminal"));
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn state_variables_are_removed_and_settings_kept() {
        for state in [
            crate::envstate::PROFILE,
            crate::envstate::SOURCE,
            crate::envstate::RESTORE,
            crate::envstate::REFRESH_AT,
            crate::envstate::OPTS,
            crate::envstate::WATCH,
            crate::envstate::SERVER,
            crate::envstate::REGION_SOURCE,
            "AWSENV_FILE_PASSPHRASE",
            "AWSENV_ANYTHING_NEW",
        ] {
            assert!(is_awsenv_state(OsStr::new(state)), "{state}");
        }
        for kept in KEPT_SETTINGS {
            assert!(!is_awsenv_state(OsStr::new(kept)), "{kept}");
        }
        assert!(!is_awsenv_state(OsStr::new("AWS_REGION")));
        assert!(!is_awsenv_state(OsStr::new("AWSENV")));
        // Every setting read from the environment is kept: a new one added to the settings
        // (or to the STS client) must be added to KEPT_SETTINGS too.
        let sources = [include_str!("settings.rs"), include_str!("sts.rs")];
        for src in sources {
            for (at, _) in src.match_indices("\"AWSENV_") {
                let name: String = src[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if name.len() > "AWSENV_".len() && name != "AWSENV_FILE_PASSPHRASE" {
                    assert!(
                        KEPT_SETTINGS.contains(&name.as_str()),
                        "{name} is a setting: add it to KEPT_SETTINGS"
                    );
                }
            }
        }
    }

    #[test]
    fn default_profile_refusal_says_why_and_how() {
        assert_eq!(default_credentials_problem(&[], "calvin", false), None);
        let refusal = default_credentials_problem(&["aws_access_key_id"], "calvin", false)
            .unwrap_or_default();
        assert!(refusal.contains("aws_access_key_id") && refusal.contains("--allow-default-keys"));
        assert!(refusal.contains("calvin") && !refusal.contains('\n'));
        let warning =
            default_credentials_problem(&["role_arn"], "calvin", true).unwrap_or_default();
        assert!(warning.starts_with("warning: ") && warning.contains("role_arn"));
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
