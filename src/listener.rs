//! One hardened loopback HTTP listener for every server awsenv runs on 127.0.0.1 (issue 17):
//! the `exec --server` credential endpoint (`server.rs`), the IAM Identity Center sign-in
//! callback (`Callback` in `sso/browser.rs`) and the one-shot redirect of `awsenv login`
//! (`commands/login.rs`). It imports nothing of awsenv.
//!
//! Any local process can connect to 127.0.0.1, so none of them may be able to starve the
//! listener: it serves many connections at once (at most [`MAX_CONNECTIONS`], fewer when the
//! limit on open files is low: [`connection_cap`]), a connection must send a complete request
//! head of at most 16 KiB within [`HEADER_TIMEOUT`] and is closed after [`IDLE_TIMEOUT`]
//! without a request, and when a new connection needs room (or `accept` runs out of
//! descriptors) the connection closed is the oldest that never showed the listener's secret,
//! then the secret holder's idle one idle the longest — never one whose authorised request is
//! being answered.
//!
//! What a request gets is the caller's [`Handler`]: it is given the request and a [`Holder`]
//! for its connection, on which it calls [`Holder::authorise`] when the request carried the
//! secret (the endpoint's token, the login nonce, the sign-in's `state`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// A request as the listener hands it to its [`Handler`].
pub type Request = hyper::Request<Incoming>;
/// An answer.
pub type Reply = Response<Full<Bytes>>;
/// What a [`Handler`] returns: the answer, once known.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// What a listener does with each request. A request that carried the listener's secret calls
/// [`Holder::authorise`] (before any long wait), so that its connection is never shed.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `req`, which arrived on the connection `holder`.
    fn call(&self, req: Request, holder: Holder) -> ReplyFuture;
}

impl<F> Handler for F
where
    F: Fn(Request, Holder) -> ReplyFuture + Send + Sync + 'static,
{
    fn call(&self, req: Request, holder: Holder) -> ReplyFuture {
        self(req, holder)
    }
}

/// The most connections a listener holds at once (fewer when the limit on open files is
/// low: see [`connection_cap`]). A command needs a handful; the rest is room to shed into.
pub const MAX_CONNECTIONS: usize = 512;
/// The fewest connections held, however low the limit on open files.
const MIN_CONNECTIONS: usize = 8;
/// Descriptors left free for the rest of awsenv (STS connections, the store, the terminal).
const RESERVED_FDS: u64 = 64;
/// A connection must send a complete request head within this time, counted from the
/// connection (its first request) or from the first byte of a later one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no request for this long after its last answer is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Loopback::serve_until`] lets the secret holder's connections finish their answers
/// once it is done.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request head read (hyper's buffer; larger heads get HTTP 431).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Accepted, no byte received yet.
    Fresh = 0,
    /// Receiving a request head.
    Reading = 1,
    /// An authorised or refused request is being answered.
    Busy = 2,
    /// Answered; waiting for the next request.
    Idle = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Fresh,
            1 => Phase::Reading,
            2 => Phase::Busy,
            _ => Phase::Idle,
        }
    }
}

/// A snapshot of one connection, for the pure decisions below. Times are milliseconds since the
/// server started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ConnView {
    accepted_ms: u64,
    phase: Phase,
    /// When the phase began (for `Fresh` and a first `Reading`: when the connection came).
    since_ms: u64,
    /// Whether a request on it showed the listener's secret (see [`Holder::authorise`]).
    authorised: bool,
}

/// When a connection times out (ms since the server started); `None` while it is busy.
fn deadline_ms(v: &ConnView) -> Option<u64> {
    let ms = |d: Duration| d.as_millis() as u64;
    match v.phase {
        Phase::Fresh | Phase::Reading => Some(v.since_ms + ms(HEADER_TIMEOUT)),
        Phase::Idle => Some(v.since_ms + ms(IDLE_TIMEOUT)),
        Phase::Busy => None,
    }
}

/// The rank of a connection in the order of shedding (lowest first), `None` for one that is
/// never shed: first the connections that never showed the secret, oldest first whatever they
/// are doing (so that sending a byte now and then buys an attacker nothing, and every new
/// connection gets the same time to show the secret); then the secret holder's idle ones, idle
/// longest first. The secret holder's connections that are sending a request or being answered
/// are kept.
fn shed_rank(v: &ConnView) -> Option<(u8, u64)> {
    match (v.authorised, v.phase) {
        (false, _) => Some((0, v.accepted_ms)),
        (true, Phase::Idle) => Some((1, v.since_ms)),
        (true, Phase::Fresh | Phase::Reading | Phase::Busy) => None,
    }
}

/// The connection to close to make room, if any may be closed.
fn pick_victim(conns: impl IntoIterator<Item = (u64, ConnView)>) -> Option<u64> {
    conns
        .into_iter()
        .filter_map(|(id, v)| shed_rank(&v).map(|r| (r, id)))
        .min()
        .map(|(_, id)| id)
}

/// How many connections to hold with a soft limit of `soft` open files.
fn connection_cap_for(soft: u64) -> usize {
    soft.saturating_sub(RESERVED_FDS)
        .clamp(MIN_CONNECTIONS as u64, MAX_CONNECTIONS as u64) as usize
}

/// How many connections to hold: [`MAX_CONNECTIONS`], or fewer so that `RESERVED_FDS`
/// descriptors stay free under this process's soft limit on open files.
pub fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        // rlim_t is narrower than u64 on some 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        let soft = lim.rlim_cur as u64;
        soft
    } else {
        1024
    };
    connection_cap_for(soft)
}

/// One live connection.
struct Conn {
    accepted_ms: u64,
    phase: AtomicU8,
    since_ms: AtomicU64,
    authorised: AtomicBool,
    /// Woken at each phase change, so the connection's timer follows it.
    changed: Notify,
    /// Woken when the connection is shed.
    shed: Notify,
}

impl Conn {
    fn view(&self) -> ConnView {
        ConnView {
            accepted_ms: self.accepted_ms,
            phase: Phase::from_u8(self.phase.load(Ordering::Relaxed)),
            since_ms: self.since_ms.load(Ordering::Relaxed),
            authorised: self.authorised.load(Ordering::Relaxed),
        }
    }

    fn enter(&self, phase: Phase, now_ms: u64) {
        self.since_ms.store(now_ms, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Bytes arrived: a fresh or idle connection is now sending a request head.
    fn received(&self, now_ms: u64) {
        match Phase::from_u8(self.phase.load(Ordering::Relaxed)) {
            // The first head's time counts from the connection.
            Phase::Fresh => {
                self.phase.store(Phase::Reading as u8, Ordering::Relaxed);
                self.changed.notify_one();
            }
            Phase::Idle => self.enter(Phase::Reading, now_ms),
            Phase::Reading | Phase::Busy => {}
        }
    }
}

/// The live connections.
struct Table {
    epoch: Instant,
    cap: usize,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Woken when a connection task has ended (its descriptor is closed).
    closed: Notify,
}

impl Table {
    fn new(cap: usize) -> Table {
        Table {
            epoch: Instant::now(),
            cap,
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            closed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Closes the connection first in the shedding order; false when none may be closed.
    fn shed_one(&self) -> bool {
        let Ok(mut conns) = self.conns.lock() else {
            return false;
        };
        let victim = pick_victim(conns.iter().map(|(id, c)| (*id, c.view())));
        match victim.and_then(|id| conns.remove(&id)) {
            Some(c) => {
                c.shed.notify_one();
                true
            }
            None => false,
        }
    }

    /// Registers a new connection, shedding one when the table is full; `None` when it is full
    /// of connections that must be kept (the new one is then closed).
    fn admit(&self) -> Option<(u64, Arc<Conn>)> {
        let full = self
            .conns
            .lock()
            .map(|c| c.len() >= self.cap)
            .unwrap_or(true);
        if full && !self.shed_one() {
            return None;
        }
        let now = self.now_ms();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            accepted_ms: now,
            phase: AtomicU8::new(Phase::Fresh as u8),
            since_ms: AtomicU64::new(now),
            authorised: AtomicBool::new(false),
            changed: Notify::new(),
            shed: Notify::new(),
        });
        self.conns.lock().ok()?.insert(id, conn.clone());
        Some((id, conn))
    }

    /// Whether a connection that showed the secret is still open.
    fn holder_connected(&self) -> bool {
        self.conns
            .lock()
            .map(|c| c.values().any(|c| c.authorised.load(Ordering::Relaxed)))
            .unwrap_or(false)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&id);
        }
    }
}

/// A socket that reports received bytes to its connection's state.
struct Watched {
    stream: tokio::net::TcpStream,
    conn: Arc<Conn>,
    table: Arc<Table>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.received(this.table.now_ms());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The connection a request arrived on, as its [`Handler`] sees it.
#[derive(Clone)]
pub struct Holder(Arc<Conn>);

impl Holder {
    /// Marks the connection as the secret holder's: it is then never shed while it sends a
    /// request or is being answered, only (after strangers) when idle.
    pub fn authorise(&self) {
        self.0.authorised.store(true, Ordering::Relaxed);
    }
}

/// Returns when the connection has been silent, or slow to send a head, for too long.
async fn timer(conn: &Conn, table: &Table) {
    loop {
        let changed = conn.changed.notified();
        match deadline_ms(&conn.view()) {
            None => changed.await,
            Some(at) => {
                let now = table.now_ms();
                if now >= at {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(at - now)) => {}
                    _ = changed => {}
                }
            }
        }
    }
}

/// Serves one connection until it ends, times out or is shed.
async fn connection(
    stream: tokio::net::TcpStream,
    id: u64,
    conn: Arc<Conn>,
    table: Arc<Table>,
    handler: Arc<dyn Handler>,
) {
    let io = hyper_util::rt::TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
        table: table.clone(),
    });
    let (c, t) = (conn.clone(), table.clone());
    let svc = hyper::service::service_fn(move |req| {
        let (c, t, handler) = (c.clone(), t.clone(), handler.clone());
        async move {
            c.enter(Phase::Busy, t.now_ms());
            let reply = handler.call(req, Holder(c.clone())).await;
            c.enter(Phase::Idle, t.now_ms());
            Ok::<_, std::convert::Infallible>(reply)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(MAX_HEAD_BYTES)
        .max_headers(64)
        .header_read_timeout(None);
    tokio::select! {
        _ = http.serve_connection(io, svc) => {}
        _ = conn.shed.notified() => {}
        _ = timer(&conn, &table) => {}
    }
    // The socket was closed when the select above dropped the connection.
    table.remove(id);
    table.closed.notify_waiters();
    table.closed.notify_one();
}

/// Whether `accept` failed for want of descriptors or memory.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A listening socket on 127.0.0.1 with a free port, not yet serving.
pub struct Loopback {
    socket: std::net::TcpListener,
    port: u16,
    /// Names the listener in messages ("credential server", "sign-in redirect").
    what: &'static str,
}

impl Loopback {
    /// Binds a free port on 127.0.0.1; `what` names the listener in errors and messages.
    pub fn bind(what: &'static str) -> Result<Loopback> {
        let socket = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| anyhow!("cannot listen on 127.0.0.1 for the {what}: {e}"))?;
        let port = socket
            .local_addr()
            .map_err(|e| anyhow!("cannot read the port of the {what}: {e}"))?
            .port();
        socket
            .set_nonblocking(true)
            .map_err(|e| anyhow!("cannot set up the socket of the {what}: {e}"))?;
        Ok(Loopback { socket, port, what })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves `handler` until the process ends (or the future is dropped, which closes every
    /// connection).
    pub async fn serve(self, handler: impl Handler) -> Result<()> {
        self.serve_until(handler, std::future::pending::<()>())
            .await
            .map(|_| ())
    }

    /// Serves `handler` until `done` resolves, then stops accepting, lets the secret holder's
    /// connections finish their answers (at most [`FINISH_TIMEOUT`]), closes the rest and
    /// returns what `done` gave.
    pub async fn serve_until<T>(
        self,
        handler: impl Handler,
        done: impl Future<Output = T>,
    ) -> Result<T> {
        let what = self.what;
        let listener = tokio::net::TcpListener::from_std(self.socket)
            .map_err(|e| anyhow!("cannot use the socket of the {what}: {e}"))?;
        let handler: Arc<dyn Handler> = Arc::new(handler);
        let table = Arc::new(Table::new(connection_cap()));
        let mut tasks = JoinSet::new();
        let mut told = false;
        tokio::pin!(done);
        let out = loop {
            while tasks.try_join_next().is_some() {}
            let accepted = tokio::select! {
                out = &mut done => break out,
                a = listener.accept() => a,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) if out_of_descriptors(&e) => {
                    if !told {
                        eprintln!(
                            "awsenv: {what}: out of file descriptors ({e}); making room by closing connections that never showed the token"
                        );
                        told = true;
                    }
                    // Free a descriptor and wait until it is closed; with nothing to free, wait
                    // a little. Never spin.
                    let wait = if table.shed_one() { 100 } else { 50 };
                    let _ =
                        tokio::time::timeout(Duration::from_millis(wait), table.closed.notified())
                            .await;
                    continue;
                }
                Err(_) => {
                    // A connection aborted before it was accepted, and the like.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let Some((id, conn)) = table.admit() else {
                // Full of the secret holder's busy connections: this one is closed unanswered.
                continue;
            };
            let _ = stream.set_nodelay(true);
            tasks.spawn(connection(stream, id, conn, table.clone(), handler.clone()));
            // One connection per turn of the scheduler: the connections already accepted read
            // what arrived for them (the secret holder's request head) before the next one can
            // push them out. Without this tokio accepts up to its cooperative budget (128) in
            // a burst before any of them runs.
            tokio::task::yield_now().await;
        };
        drop(listener);
        let finish = async {
            loop {
                let closed = table.closed.notified();
                if !table.holder_connected() {
                    return;
                }
                closed.await;
            }
        };
        let _ = tokio::time::timeout(FINISH_TIMEOUT, finish).await;
        // Dropping the tasks closes every connection left.
        tasks.shutdown().await;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(accepted_ms: u64, phase: Phase, since_ms: u64, authorised: bool) -> ConnView {
        ConnView {
            accepted_ms,
            phase,
            since_ms,
            authorised,
        }
    }

    #[test]
    fn shedding_order_spares_the_secret_holder() {
        let holder_busy = (1, view(0, Phase::Busy, 50, true));
        let holder_sending = (2, view(0, Phase::Reading, 60, true));
        let holder_idle_old = (3, view(0, Phase::Idle, 10, true));
        let holder_idle_new = (4, view(0, Phase::Idle, 90, true));
        let stranger_reading_old = (5, view(5, Phase::Reading, 5, false));
        let stranger_silent_new = (6, view(80, Phase::Fresh, 80, false));
        let stranger_silent_old = (7, view(20, Phase::Fresh, 20, false));
        let all = vec![
            holder_busy,
            holder_sending,
            holder_idle_old,
            holder_idle_new,
            stranger_reading_old,
            stranger_silent_new,
            stranger_silent_old,
        ];
        let mut order = Vec::new();
        let mut left = all.clone();
        while let Some(id) = pick_victim(left.clone()) {
            order.push(id);
            left.retain(|(i, _)| *i != id);
        }
        // Strangers by age whatever they do, then the holder's idle ones, idle longest first.
        assert_eq!(order, vec![5, 7, 6, 3, 4]);
        assert_eq!(pick_victim(vec![holder_busy, holder_sending]), None);
    }

    #[test]
    fn timeouts_follow_the_phase() {
        let h = HEADER_TIMEOUT.as_millis() as u64;
        let i = IDLE_TIMEOUT.as_millis() as u64;
        assert_eq!(
            deadline_ms(&view(100, Phase::Fresh, 100, false)),
            Some(100 + h)
        );
        assert_eq!(
            deadline_ms(&view(100, Phase::Reading, 100, false)),
            Some(100 + h)
        );
        assert_eq!(
            deadline_ms(&view(100, Phase::Idle, 700, true)),
            Some(700 + i)
        );
        assert_eq!(deadline_ms(&view(100, Phase::Busy, 700, true)), None);
        assert!(HEADER_TIMEOUT < IDLE_TIMEOUT);
    }

    #[test]
    fn connection_cap_leaves_descriptors_free() {
        assert_eq!(connection_cap_for(1024), MAX_CONNECTIONS);
        assert_eq!(connection_cap_for(512), 512 - RESERVED_FDS as usize);
        assert_eq!(connection_cap_for(u64::MAX), MAX_CONNECTIONS);
        assert_eq!(connection_cap_for(200), 200 - RESERVED_FDS as usize);
        assert_eq!(connection_cap_for(20), MIN_CONNECTIONS);
        assert!(connection_cap() >= MIN_CONNECTIONS);
    }
}
