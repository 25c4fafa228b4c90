//! The sign-in's tokens: kept in the secret store, refreshed before they expire, shared by
//! every process — and the AWS CLI's token cache, read (and, only when asked, written).
//!
//! One store entry per sign-in (`sso/<digest>`, see [`SsoSession::store_key`]) holds the
//! client registrations (one per flow, reused until they expire), the access token and the
//! refresh token. Getting a token:
//! 1. the stored access token, while more than 5 minutes remain;
//! 2. else a valid token the AWS CLI wrote to `~/.aws/sso/cache` (read only: awsenv never
//!    spends the CLI's refresh token, which would log the CLI out);
//! 3. else, under a cross-process lock and after re-reading the store (another process may
//!    have done the work): the refresh token (no browser), or a new sign-in — authorization
//!    code with PKCE when a browser can open here, the device code otherwise.
//!
//! Refresh tokens rotate: one process refreshes, the others wait on the lock and then read the
//! new token, so no two processes ever spend the same refresh token.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::browser;
use super::config::SsoSession;
use super::oidc::{Flow, Oidc, Poll, RefreshError, Registration, Tokens};
use crate::settings::Settings;
use crate::store::{SecretStore, lock};
use crate::timefmt::{now_epoch, rfc3339};
use crate::tty::{Cancelled, SigintGuard};

/// An access token is used while more than this many seconds remain.
pub const ACCESS_WINDOW: i64 = 300;

/// What a store entry keeps for one sign-in.
#[derive(Serialize, Deserialize, Default)]
pub struct Entry {
    /// The start URL (for `list`).
    pub start_url: String,
    /// The region.
    pub region: String,
    /// The registration scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Client registrations, at most one per flow.
    #[serde(default)]
    pub clients: Vec<Registration>,
    /// The tokens of the current portal session.
    #[serde(default)]
    pub token: Option<StoredToken>,
}

/// The tokens of a portal session.
#[derive(Serialize, Deserialize)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// Its expiry, epoch seconds.
    pub expires_at: i64,
    /// The refresh token (rotates at each refresh).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The flow whose client registration issued it (a refresh uses the same client).
    pub flow: Flow,
    /// When the portal session began (the sign-in), epoch seconds.
    pub signed_in_at: i64,
}

impl Drop for StoredToken {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

impl StoredToken {
    fn usable(&self, now: i64, rejected: Option<&str>) -> bool {
        self.expires_at - now > ACCESS_WINDOW && rejected != Some(self.access_token.as_str())
    }
}

/// What token functions need: the store and the settings.
pub struct Ctx<'a> {
    /// The secret store.
    pub store: &'a dyn SecretStore,
    /// Effective settings.
    pub settings: &'a Settings,
}

impl Ctx<'_> {
    fn load(&self, s: &SsoSession) -> Result<Entry> {
        let fresh = || Entry {
            start_url: s.start_url.clone(),
            region: s.region.clone(),
            scopes: s.scopes.clone(),
            ..Entry::default()
        };
        Ok(match self.store.get(&s.store_key())? {
            // A damaged entry is replaced by the next sign-in.
            Some(v) => serde_json::from_str(&v).unwrap_or_else(|_| fresh()),
            None => fresh(),
        })
    }

    fn save(&self, s: &SsoSession, e: &Entry) -> Result<()> {
        let json = Zeroizing::new(
            serde_json::to_string(e)
                .map_err(|err| anyhow!("cannot encode the IAM Identity Center tokens: {err}"))?,
        );
        self.store
            .set(&s.store_key(), &json)
            .context("cannot keep the IAM Identity Center tokens")
    }
}

/// How to sign in when a sign-in is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// PKCE in a browser when one can open here, else the device code.
    Auto,
    /// The device code (`--use-device-code`).
    Device,
}

/// Prints a sign-in message where the user sees it: stderr when it is a terminal, else the
/// controlling terminal, else stderr. Never stdout (it may be captured by `eval`).
fn notice(msg: &str) {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal()
        && let Some(mut tty) = crate::tty::open()
    {
        let _ = writeln!(tty, "{msg}");
        return;
    }
    eprintln!("{msg}");
}

/// The access token for `session`: stored, the AWS CLI's, refreshed, or from a new sign-in.
/// `rejected` is a token the portal just refused (401): it is not used again.
pub async fn access_token(
    ctx: &Ctx<'_>,
    session: &SsoSession,
    rejected: Option<&str>,
    profile: Option<&str>,
) -> Result<Zeroizing<String>> {
    let now = now_epoch();
    if let Some(t) = ctx.load(session)?.token.as_ref()
        && t.usable(now, rejected)
    {
        return Ok(Zeroizing::new(t.access_token.clone()));
    }
    if let Some(c) = read_cli_token(session)
        && c.expires_at - now > ACCESS_WINDOW
        && rejected != Some(c.access_token.as_str())
    {
        return Ok(c.access_token.clone());
    }
    let _guard = lock::acquire(&format!("sso {}", session.store_key()))?;
    let mut entry = ctx.load(session)?;
    if let Some(t) = entry.token.as_ref()
        && t.usable(now_epoch(), rejected)
    {
        return Ok(Zeroizing::new(t.access_token.clone()));
    }
    let ended = match refresh(ctx, session, &mut entry).await? {
        Refreshed::Token(t) => return Ok(t),
        Refreshed::Nothing => false,
        Refreshed::Ended => true,
    };
    if ended {
        entry.token = None;
        ctx.save(session, &entry)?;
    }
    let login = session.login_command(profile);
    if crate::browser::detect().is_none() && !crate::tty::available() {
        if ended {
            bail!(
                "the IAM Identity Center portal session for {} has ended; sign in again with '{login}' in a terminal",
                session.describe()
            );
        }
        bail!(
            "not signed in to IAM Identity Center at {}, and there is no browser or terminal to sign in with here; run '{login}' in a terminal",
            session.describe()
        );
    }
    if ended {
        notice(&format!(
            "awsenv: the IAM Identity Center portal session for {} has ended; signing in again",
            session.describe()
        ));
    }
    sign_in(ctx, session, &mut entry, Mode::Auto, &login).await
}

/// What a refresh attempt gave.
enum Refreshed {
    /// A new access token (stored).
    Token(Zeroizing<String>),
    /// Nothing to refresh with (no token, no refresh token, or no client registration).
    Nothing,
    /// The refresh token was refused: the portal session has ended.
    Ended,
}

/// Refreshes the stored token with its refresh token (the caller holds the lock).
async fn refresh(ctx: &Ctx<'_>, session: &SsoSession, entry: &mut Entry) -> Result<Refreshed> {
    let now = now_epoch();
    let Some(t) = entry.token.as_ref() else {
        return Ok(Refreshed::Nothing);
    };
    let Some(rt) = t.refresh_token.clone().map(Zeroizing::new) else {
        return Ok(Refreshed::Nothing);
    };
    let flow = t.flow;
    let signed_in_at = t.signed_in_at;
    let Some(reg) = entry
        .clients
        .iter()
        .find(|c| c.flow == flow && c.expires_at > now)
        .cloned()
    else {
        return Ok(Refreshed::Nothing);
    };
    let oidc = Oidc::new(&session.region)?;
    match oidc.refresh(&reg, &rt).await {
        Ok(new) => {
            let access = Zeroizing::new(new.access_token.clone());
            entry.token = Some(StoredToken {
                access_token: new.access_token.clone(),
                expires_at: new.expires_at,
                // A service that answers without a new refresh token keeps the old one valid.
                refresh_token: new.refresh_token.clone().or_else(|| Some(rt.to_string())),
                flow,
                signed_in_at,
            });
            ctx.save(session, entry)?;
            write_cli_cache(ctx, session, entry);
            Ok(Refreshed::Token(access))
        }
        Err(RefreshError::Invalid) => Ok(Refreshed::Ended),
        Err(RefreshError::Failed(e)) => Err(e.context(format!(
            "cannot refresh the IAM Identity Center token for {}",
            session.describe()
        ))),
    }
}

/// `awsenv sso login`: a new sign-in, whatever is stored.
pub async fn login(ctx: &Ctx<'_>, session: &SsoSession, mode: Mode, login: &str) -> Result<i64> {
    let _guard = lock::acquire(&format!("sso {}", session.store_key()))?;
    let mut entry = ctx.load(session)?;
    if mode == Mode::Auto && crate::browser::detect().is_none() && !crate::tty::available() {
        bail!(
            "signing in to IAM Identity Center at {} needs a browser or a terminal, and there is neither here",
            session.describe()
        );
    }
    sign_in(ctx, session, &mut entry, mode, login).await?;
    Ok(entry
        .token
        .as_ref()
        .map(|t| t.expires_at)
        .unwrap_or_default())
}

/// A client registration for `flow`: the stored one while usable, else a new one (stored).
async fn registration(
    ctx: &Ctx<'_>,
    oidc: &Oidc,
    session: &SsoSession,
    entry: &mut Entry,
    flow: Flow,
) -> Result<Registration> {
    let now = now_epoch();
    if let Some(r) = entry
        .clients
        .iter()
        .find(|c| c.flow == flow && c.usable(now))
    {
        return Ok(r.clone());
    }
    let r = oidc.register(session, flow).await?;
    entry.clients.retain(|c| c.flow != flow);
    entry.clients.push(r.clone());
    ctx.save(session, entry)?;
    Ok(r)
}

/// Signs in (the caller holds the lock) and stores the tokens.
async fn sign_in(
    ctx: &Ctx<'_>,
    session: &SsoSession,
    entry: &mut Entry,
    mode: Mode,
    login: &str,
) -> Result<Zeroizing<String>> {
    let browser = crate::browser::detect();
    let flow = match (mode, &browser) {
        (Mode::Auto, Some(_)) => Flow::AuthCode,
        _ => Flow::Device,
    };
    if flow == Flow::Device && browser.is_none() && !crate::tty::available() {
        bail!(
            "the device-code sign-in to IAM Identity Center at {} needs a terminal to show the code on, and there is none",
            session.describe()
        );
    }
    let oidc = Oidc::new(&session.region)?;
    let reg = registration(ctx, &oidc, session, entry, flow).await?;
    let tokens = match flow {
        Flow::AuthCode => {
            pkce(
                ctx,
                &oidc,
                session,
                &reg,
                browser.as_deref().unwrap_or_default(),
                login,
            )
            .await?
        }
        Flow::Device => device(&oidc, session, &reg, browser.as_deref(), login).await?,
    };
    let access = Zeroizing::new(tokens.access_token.clone());
    entry.token = Some(StoredToken {
        access_token: tokens.access_token.clone(),
        expires_at: tokens.expires_at,
        refresh_token: tokens.refresh_token.clone(),
        flow,
        signed_in_at: now_epoch(),
    });
    ctx.save(session, entry)?;
    write_cli_cache(ctx, session, entry);
    Ok(access)
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut b = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut b).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
    Ok(b)
}

/// A PKCE verifier: 64 characters of `[A-Za-z0-9-._~]`, as the AWS CLI makes them.
fn verifier() -> Result<Zeroizing<String>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut out = Zeroizing::new(String::with_capacity(64));
    while out.len() < 64 {
        for b in random_bytes(128)?.iter() {
            // Rejection sampling: 198 = 3 × 66, so every character is equally likely.
            if *b < 198 && out.len() < 64 {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// base64url(SHA-256(verifier)) without padding.
fn challenge(verifier: &str) -> String {
    let std = aws_smithy_types::base64::encode(Sha256::digest(verifier.as_bytes()));
    std.trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

async fn pkce(
    ctx: &Ctx<'_>,
    oidc: &Oidc,
    session: &SsoSession,
    reg: &Registration,
    browser_cmd: &[String],
    login: &str,
) -> Result<Tokens> {
    let cb = browser::Callback::bind().await?;
    let verifier = verifier()?;
    let state: String = random_bytes(16)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let url = oidc.authorize_url(
        reg,
        &cb.redirect_uri,
        &state,
        &challenge(&verifier),
        &session.scopes,
    );
    lock::announce_held(&format!(
        "the IAM Identity Center sign-in for {} in a browser",
        session.start_url
    ));
    notice(&format!(
        "awsenv: signing in to IAM Identity Center at {} in your browser; if no page opens, visit:\n  {url}",
        session.describe()
    ));
    // Ctrl-C is observable from here on (before the browser can answer).
    let sigint = SigintGuard::install();
    // The authorize URL (state, client id, code challenge) is not put in the browser's argv,
    // which every local user can read: the browser gets a private page that redirects to it,
    // removed once the sign-in is over.
    let opened = crate::browser::WebUrl::parse("the IAM Identity Center sign-in address", &url)
        .and_then(|target| crate::browser::RedirectPage::create(&target))
        .and_then(|page| crate::browser::open_page(browser_cmd, &page).map(|()| page));
    let _page = match opened {
        Ok(page) => Some(page),
        Err(e) => {
            notice(&format!("awsenv: {e:#}; open the address above yourself"));
            None
        }
    };
    let timeout = ctx.settings.sso.sign_in_timeout;
    let redirect_uri = cb.redirect_uri.clone();
    let code = cb
        .wait(&state, Instant::now() + timeout, &sigint)
        .await
        .map_err(|e| match e {
            browser::WaitError::Cancelled => anyhow::Error::new(Cancelled::new("IAM Identity Center sign-in")),
            browser::WaitError::TimedOut => anyhow!(
                "the IAM Identity Center sign-in for {} timed out after {}; run '{login}' to try again (or '{login} --use-device-code' to sign in from another device)",
                session.describe(),
                crate::timefmt::human(timeout)
            ),
            browser::WaitError::Denied(why) => anyhow!(
                "the IAM Identity Center sign-in for {} was refused in the browser ({why}); run '{login}' to try again",
                session.describe()
            ),
            browser::WaitError::Io(e) => e,
        })?;
    drop(sigint);
    oidc.exchange_code(reg, &code, &verifier, &redirect_uri)
        .await
}

async fn device(
    oidc: &Oidc,
    session: &SsoSession,
    reg: &Registration,
    browser_cmd: Option<&[String]>,
    login: &str,
) -> Result<Tokens> {
    let d = oidc.start_device(reg, &session.start_url).await?;
    // Addresses from the service are shown and opened only when they are web addresses
    // (not `file:`, `javascript:` or a browser option).
    let what = "the verification address IAM Identity Center sent";
    crate::browser::WebUrl::parse(what, &d.verification_uri)?;
    let target = crate::browser::WebUrl::parse(what, &d.verification_uri_complete)?;
    lock::announce_held(&format!(
        "the IAM Identity Center sign-in for {} with code {}",
        session.start_url, d.user_code
    ));
    notice(&format!(
        "awsenv: to sign in to IAM Identity Center at {}, open {} and enter the code {}\n  (or open {})",
        session.describe(),
        d.verification_uri,
        d.user_code,
        d.verification_uri_complete
    ));
    let sigint = SigintGuard::install();
    // The code in the address could be approved by another local user reading the browser's
    // argv: the browser gets a private page that redirects to it, removed when the wait ends.
    let _page = browser_cmd.and_then(|cmd| {
        let page = crate::browser::RedirectPage::create(&target).ok()?;
        crate::browser::open_page(cmd, &page).ok()?;
        Some(page)
    });
    let deadline = Instant::now() + Duration::from_secs(d.expires_in);
    let mut interval = d.interval;
    let expired = || {
        anyhow!(
            "the device code {} for {} expired before the sign-in was approved; run '{login} --use-device-code' for a new one",
            d.user_code,
            session.describe()
        )
    };
    loop {
        let until = Instant::now() + Duration::from_secs(interval);
        while Instant::now() < until {
            if sigint.interrupted() {
                return Err(anyhow::Error::new(Cancelled::new(
                    "IAM Identity Center sign-in",
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if Instant::now() >= deadline {
            return Err(expired());
        }
        match oidc.poll_device(reg, &d).await {
            Ok(t) => return Ok(t),
            Err(Poll::Pending) => {}
            // RFC 8628: add 5 s to this and every later interval.
            Err(Poll::SlowDown) => interval += 5,
            Err(Poll::Expired) => return Err(expired()),
            Err(Poll::Denied) => bail!(
                "the IAM Identity Center sign-in for {} was denied (code {}); run '{login}' to try again",
                session.describe(),
                d.user_code
            ),
            Err(Poll::Failed(e)) => return Err(e),
        }
    }
}

/// What `list` and `status` show about a sign-in.
pub struct Status {
    /// Seconds left on awsenv's access token (negative: expired), when there is one.
    pub access_left: Option<i64>,
    /// Whether a refresh token is stored.
    pub refreshable: bool,
    /// When the portal session began.
    pub signed_in_at: Option<i64>,
    /// Seconds left on a token the AWS CLI wrote, when there is a valid one.
    pub cli_left: Option<i64>,
}

/// The sign-in state of `session` (reads the store and the AWS CLI's cache; no network).
pub fn status(ctx: &Ctx<'_>, session: &SsoSession) -> Result<Status> {
    let now = now_epoch();
    let e = ctx.load(session)?;
    let t = e.token.as_ref();
    Ok(Status {
        access_left: t.map(|t| t.expires_at - now),
        refreshable: t.is_some_and(|t| t.refresh_token.is_some()),
        signed_in_at: t.map(|t| t.signed_in_at),
        cli_left: read_cli_token(session)
            .map(|c| c.expires_at - now)
            .filter(|l| *l > 0),
    })
}

/// `awsenv sso logout` for one sign-in: ends the portal session (Logout) and removes the
/// tokens (registrations stay). True when there was a token.
pub async fn logout(ctx: &Ctx<'_>, session: &SsoSession) -> Result<bool> {
    let _guard = lock::acquire(&format!("sso {}", session.store_key()))?;
    let mut entry = ctx.load(session)?;
    let Some(t) = entry.token.take() else {
        return Ok(false);
    };
    let portal = super::portal::Portal::new(&session.region)?;
    let ended = portal.logout(&t.access_token).await;
    if ctx.settings.sso.write_aws_cache {
        remove_cli_cache(session, &t.access_token);
    }
    ctx.save(session, &entry)?;
    match ended {
        Ok(()) | Err(super::portal::PortalError::Unauthorized) => Ok(true),
        Err(super::portal::PortalError::Forbidden) => Ok(true),
        Err(super::portal::PortalError::Failed(e)) => Err(e.context(format!(
            "removed the tokens for {}, but the portal session may still be open",
            session.describe()
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// The AWS CLI's token cache (~/.aws/sso/cache/<sha1>.json)
// ---------------------------------------------------------------------------------------------

/// A token from the AWS CLI's cache.
pub struct CliToken {
    /// `accessToken`.
    pub access_token: Zeroizing<String>,
    /// `expiresAt`, epoch seconds.
    pub expires_at: i64,
}

fn cli_cache_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".aws/sso/cache"))
}

fn sha1_hex(s: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache files the AWS CLI would use for `session`: by session name, then by start URL.
fn cli_cache_files(session: &SsoSession) -> Vec<PathBuf> {
    let Some(dir) = cli_cache_dir() else {
        return Vec::new();
    };
    let mut v = Vec::new();
    if let Some(n) = &session.name {
        v.push(dir.join(format!("{}.json", sha1_hex(n))));
    }
    v.push(dir.join(format!("{}.json", sha1_hex(&session.start_url))));
    v
}

/// A valid-looking token for `session` from the AWS CLI's cache. The file must be ours (same
/// owner, not writable by others: a planted token would sign us in as someone else), name the
/// same start URL and region, and hold a well-formed token and expiry.
///
/// The file is opened once (no link followed, non-blocking) and the opened file is checked and
/// read: checking a path and then opening it again would let a swapped entry (another user's
/// token) through between the two.
pub fn read_cli_token(session: &SsoSession) -> Option<CliToken> {
    for path in cli_cache_files(session) {
        let Some(text) = read_own_small_file(&path, 65_536) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str());
        let same = s("startUrl").is_some_and(|u| session.same_start_url(u))
            && s("region").is_none_or(|r| r == session.region);
        let token = s("accessToken").unwrap_or_default();
        let expires = s("expiresAt").and_then(crate::timefmt::parse_rfc3339);
        if same
            && !token.is_empty()
            && token.len() <= 16 * 1024
            && token.bytes().all(|b| b.is_ascii_graphic())
            && let Some(expires_at) = expires
        {
            return Some(CliToken {
                access_token: Zeroizing::new(token.to_string()),
                expires_at,
            });
        }
    }
    None
}

/// The content of `path` when it is a regular file of this user's, writable by no one else, of
/// at most `max` bytes: one open (`O_NOFOLLOW`, `O_NONBLOCK`), checked and read on that
/// descriptor.
fn read_own_small_file(path: &std::path::Path, max: u64) -> Option<Zeroizing<String>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    if !meta.is_file() || meta.uid() != uid || meta.mode() & 0o022 != 0 || meta.len() > max {
        return None;
    }
    let mut text = Zeroizing::new(String::new());
    file.take(max + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= max).then_some(text)
}

/// With `[sso] write_aws_cache = true`: writes the token where the AWS CLI and SDKs read it
/// (plaintext, mode 0600). Failures are reported, not fatal.
fn write_cli_cache(ctx: &Ctx<'_>, session: &SsoSession, entry: &Entry) {
    if !ctx.settings.sso.write_aws_cache {
        return;
    }
    if let Err(e) = try_write_cli_cache(session, entry) {
        eprintln!(
            "awsenv: warning: cannot write the AWS CLI's token cache: {}",
            crate::awsconfig::one_line(&format!("{e:#}"))
        );
    }
}

fn try_write_cli_cache(session: &SsoSession, entry: &Entry) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let Some(t) = entry.token.as_ref() else {
        return Ok(());
    };
    let Some(path) = cli_cache_files(session).into_iter().next() else {
        bail!("HOME is not set");
    };
    let dir = path.parent().ok_or_else(|| anyhow!("no cache directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut m = serde_json::Map::new();
    m.insert("startUrl".into(), session.start_url.clone().into());
    m.insert("region".into(), session.region.clone().into());
    m.insert("accessToken".into(), t.access_token.clone().into());
    m.insert("expiresAt".into(), rfc3339(t.expires_at).into());
    // The refresh token and client belong to sso-session entries (as the CLI writes them).
    if session.name.is_some()
        && let (Some(rt), Some(reg)) = (
            &t.refresh_token,
            entry.clients.iter().find(|c| c.flow == t.flow),
        )
    {
        m.insert("refreshToken".into(), rt.clone().into());
        m.insert("clientId".into(), reg.client_id.clone().into());
        m.insert("clientSecret".into(), reg.client_secret.clone().into());
        m.insert(
            "registrationExpiresAt".into(),
            rfc3339(reg.expires_at).into(),
        );
    }
    let text = Zeroizing::new(serde_json::Value::Object(m).to_string());
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Removes the cache file awsenv wrote for `session` (only if it still holds `access`).
fn remove_cli_cache(session: &SsoSession, access: &str) {
    if let Some(path) = cli_cache_files(session).into_iter().next()
        && read_cli_token(session).is_some_and(|c| c.access_token.as_str() == access)
    {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_is_64_unreserved_characters() {
        let v = verifier().unwrap();
        assert_eq!(v.len(), 64);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_ne!(*v, *verifier().unwrap());
    }

    #[test]
    fn challenge_is_rfc7636() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn cli_cache_names_are_sha1_of_the_session_name() {
        // botocore: hashlib.sha1(b"corp").hexdigest()
        assert_eq!(sha1_hex("corp"), "ee0bfd2552fbd840c02cc48b6e823320543c450f");
    }
}
