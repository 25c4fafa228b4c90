//! The file-store unlock agent: one process per user and store that holds the unlocked
//! identity in memory, so the passphrase is asked once, not at every command.
//!
//! - **Where**: a socket `$XDG_RUNTIME_DIR/awsenv/agent-<hash of the store dir>.sock` (falling
//!   back to `/run/user/<uid>`); the `awsenv` directory is 0700, the socket 0600, and both the
//!   runtime directory and ours must belong to the user. No usable runtime directory is an
//!   error that says what to set.
//! - **Who**: every connection's peer credentials (`SO_PEERCRED`) are checked: only processes
//!   of the agent's own uid are served (like ssh-agent); clients check that the agent runs as
//!   their uid too.
//! - **What it does**: it never hands out the identity. It answers three questions: the file
//!   name of an entry key (an HMAC under a key derived from the identity), the plaintext of an
//!   entry file's ciphertext, and its status. Encryption needs only the public recipient, which
//!   the agent gives in its greeting. Clients read and write the files themselves, under the
//!   store's lock. The greeting carries a hash of `identity.age`: when the file changed (a new
//!   store in the same place), the agent forgets and exits.
//! - **Memory**: the identity sits in one page that is `mlock`ed (kept out of swap when the
//!   limit allows) and `MADV_DONTDUMP`; the process is not dumpable (`PR_SET_DUMPABLE` 0, so no
//!   core dump and no same-uid ptrace or `/proc/<pid>/mem`), and the page is zeroized when the
//!   agent forgets. Stack copies made while unlocking are overwritten right after.
//! - **How long**: it forgets and exits after `unlock_ttl` without a request (default 15 min),
//!   `unlock_max` after unlocking (default 8 h), on `awsenv lock`, on SIGTERM/SIGINT/SIGHUP, and
//!   when its socket is removed or replaced (checked every second).
//! - **Started** on demand, detached (`setsid`, its own stdio, no inherited descriptors, an
//!   empty environment but for what it needs), by the first command that has to unlock the
//!   store: that command asks for the passphrase on the terminal (also inside a shell hook)
//!   and passes it through a pipe; the agent checks it, binds its socket and says `ok`. Parallel
//!   commands wait for that one (and say so); Ctrl-C ends a wait. `awsenv unlock` does the same
//!   explicitly, `awsenv agent` runs one in the foreground. With `AWSENV_FILE_PASSPHRASE` set no
//!   agent is used.
//!
//! Protocol: frames of `[tag: u8][length: u32 big-endian][payload]`, at most [`MAX_FRAME`]
//! bytes of payload. Requests: `H` greeting (hash of identity.age ‖ store dir), `N` name (entry
//! key), `O` open (ciphertext), `S` status, `L` lock. Replies: 0 ok, 1 error (text), 2 damaged
//! (why), 3 stale (identity.age changed; the agent has quit).

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use age::secrecy::SecretString;
use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::file::{IDENTITY_FILE, MAX_FILE, Unlocked, WrongPassphrase, read_secret};
use super::lock;
use crate::settings::Settings;

/// The largest payload a frame may carry.
pub const MAX_FRAME: usize = MAX_FILE as usize + 4096;
const OP_HELLO: u8 = b'H';
const OP_NAME: u8 = b'N';
const OP_OPEN: u8 = b'O';
const OP_STATUS: u8 = b'S';
const OP_LOCK: u8 = b'L';
const ST_OK: u8 = 0;
const ST_ERR: u8 = 1;
const ST_DAMAGED: u8 = 2;
const ST_STALE: u8 = 3;
/// A client waits this long for an answer (the agent answers in microseconds).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The agent closes a connection idle this long (clients reconnect).
const IDLE_CONNECTION: Duration = Duration::from_secs(60);
/// At most this many connections at once.
const MAX_CONNECTIONS: usize = 64;
/// How often to ask for the passphrase before giving up.
const ATTEMPTS: usize = 3;
/// What a process waiting for the unlocking one is told.
pub const WAITING_FOR: &str = "the file-store passphrase being entered in another terminal";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

// ---------------------------------------------------------------------------------------------
// Where the socket lives
// ---------------------------------------------------------------------------------------------

/// Why `dir` is not a private directory of ours, if it is not.
fn not_private(dir: &Path, strict: bool) -> Option<String> {
    if !dir.is_absolute() {
        return Some(format!("{} is not an absolute path", dir.display()));
    }
    let md = match std::fs::metadata(dir) {
        Ok(md) => md,
        Err(e) => return Some(format!("{}: {e}", dir.display())),
    };
    if !md.is_dir() {
        return Some(format!("{} is not a directory", dir.display()));
    }
    if md.uid() != euid() {
        return Some(format!(
            "{} belongs to uid {}, not to you (uid {})",
            dir.display(),
            md.uid(),
            euid()
        ));
    }
    let loose = if strict { 0o077 } else { 0o022 };
    if md.permissions().mode() & loose != 0 {
        return Some(format!(
            "{} is open to other users (mode {:o})",
            dir.display(),
            md.permissions().mode() & 0o777
        ));
    }
    None
}

/// The user's runtime directory: `$XDG_RUNTIME_DIR`, else `/run/user/<uid>`.
fn runtime_dir() -> Result<PathBuf> {
    let mut why = Vec::new();
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            match not_private(&d, false) {
                None => return Ok(d),
                Some(w) => why.push(format!("XDG_RUNTIME_DIR: {w}")),
            }
        }
        None => why.push("XDG_RUNTIME_DIR is not set".to_string()),
    }
    let fallback = PathBuf::from(format!("/run/user/{}", euid()));
    match not_private(&fallback, false) {
        None => Ok(fallback),
        Some(w) => {
            why.push(w);
            bail!(
                "no runtime directory for the file-store agent ({}): set XDG_RUNTIME_DIR to a directory only you can use (mode 0700), or set AWSENV_FILE_PASSPHRASE",
                why.join("; ")
            )
        }
    }
}

/// The agent's socket and lock file for the store in `store_dir`.
#[derive(Clone, Debug)]
pub struct Place {
    /// The runtime directory it is under.
    pub runtime: PathBuf,
    /// The socket.
    pub socket: PathBuf,
    /// The lock held while unlocking.
    pub lock: PathBuf,
}

/// Finds (and creates, 0700) the agent's directory and names its socket for `store_dir`.
pub fn place(store_dir: &Path) -> Result<Place> {
    let runtime = runtime_dir()?;
    // Checked on the directory itself (crate::safefile): a link, another owner, or a mode that
    // let others plant entries (a link named like the lock) is refused, not repaired.
    let dir = crate::safefile::Dir::open_existing(&runtime)?.subdir("awsenv")?;
    dir.restrict()?;
    let dir = dir.path().to_path_buf();
    let id = hex(&Sha256::digest(store_dir.as_os_str().as_encoded_bytes())[..8]);
    let socket = dir.join(format!("agent-{id}.sock"));
    // sockaddr_un holds 108 bytes with the terminating NUL.
    if socket.as_os_str().len() >= 108 {
        bail!(
            "the agent's socket path {} is longer than a Unix socket allows: set XDG_RUNTIME_DIR to a shorter directory",
            socket.display()
        );
    }
    Ok(Place {
        runtime,
        lock: dir.join(format!("agent-{id}.lock")),
        socket,
    })
}

/// Takes the lock that one process holds while it unlocks the store in `store_dir` (asks for
/// the passphrase and starts the agent); the others wait, saying what for.
pub fn lock_unlocking(store_dir: &Path) -> Result<lock::Lock> {
    let p = place(store_dir)?;
    lock::acquire_at(
        p.lock,
        &format!(
            "another awsenv process unlocking the file store at {}",
            store_dir.display()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

fn write_frame(w: &mut impl Write, tag: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too big"))?;
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()
}

fn frame_len(head: &[u8; 5]) -> std::io::Result<usize> {
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a frame of {len} bytes (at most {MAX_FRAME})"
        )));
    }
    Ok(len)
}

fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Zeroizing<Vec<u8>>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let len = frame_len(&head)?;
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body)?;
    Ok((head[0], body))
}

// ---------------------------------------------------------------------------------------------
// Peer credentials
// ---------------------------------------------------------------------------------------------

/// The uid of the process at the other end of a Unix socket.
fn peer_uid(fd: &impl AsRawFd) -> std::io::Result<u32> {
    crate::platform::peer_uid(fd.as_raw_fd())
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// The greeting for the store in `dir` whose identity file holds `id_bytes`.
fn hello_for(dir: &Path, id_bytes: &[u8]) -> Vec<u8> {
    let mut h = Sha256::digest(id_bytes).to_vec();
    h.extend_from_slice(dir.as_os_str().as_encoded_bytes());
    h
}

fn stopped(e: &std::io::Error) -> anyhow::Error {
    let what = if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        format!("did not answer within {} s", CLIENT_TIMEOUT.as_secs())
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "stopped while answering (the connection closed)".to_string()
    } else {
        format!("stopped while answering ({e})")
    };
    anyhow!(
        "the file-store agent {what}: run the command again (it unlocks the store anew, or run 'awsenv unlock')"
    )
}

fn exchange(s: &mut UnixStream, op: u8, payload: &[u8]) -> Result<(u8, Zeroizing<Vec<u8>>)> {
    write_frame(s, op, payload)
        .and_then(|()| read_frame(s))
        .map_err(|e| stopped(&e))
}

/// Connects to the agent at `socket` and greets it. `None` when no agent is there (or the one
/// there served an older identity and has quit).
fn try_connect(
    socket: &Path,
    hello: &[u8],
) -> Result<Option<(UnixStream, age::x25519::Recipient)>> {
    let Some(mut s) = connect(socket)? else {
        return Ok(None);
    };
    let (st, body) = exchange(&mut s, OP_HELLO, hello)?;
    match st {
        ST_OK => {
            let text = std::str::from_utf8(&body).map_err(|_| {
                anyhow!(
                    "the file-store agent at {} answered garbage",
                    socket.display()
                )
            })?;
            let r = text.parse::<age::x25519::Recipient>().map_err(|_| {
                anyhow!(
                    "the file-store agent at {} answered garbage",
                    socket.display()
                )
            })?;
            Ok(Some((s, r)))
        }
        ST_STALE => Ok(None),
        _ => bail!(
            "the file-store agent at {} refused: {}",
            socket.display(),
            String::from_utf8_lossy(&body)
        ),
    }
}

/// Connects to `socket` and checks that the agent is ours; `None` when nobody listens.
fn connect(socket: &Path) -> Result<Option<UnixStream>> {
    let s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot reach the file-store agent at {}", socket.display())
            });
        }
    };
    let uid =
        peer_uid(&s).with_context(|| format!("cannot check who serves {}", socket.display()))?;
    if uid != euid() {
        bail!(
            "{} is served by uid {uid}, not by you: refusing to use it (remove it)",
            socket.display()
        );
    }
    s.set_read_timeout(Some(CLIENT_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(CLIENT_TIMEOUT)))
        .with_context(|| format!("cannot set a timeout on {}", socket.display()))?;
    Ok(Some(s))
}

/// Whether the agent has closed this connection (it reads as hang-up or end of file before we
/// sent anything).
fn hung_up(s: &UnixStream) -> bool {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polling one valid descriptor without waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n != 0
}

/// Where the passphrase comes from when the store has to be unlocked.
pub enum Passphrase {
    /// Ask on the terminal (up to three times).
    Terminal,
    /// One line on standard input (`awsenv unlock --stdin`).
    Stdin,
}

fn no_terminal(dir: &Path) -> anyhow::Error {
    anyhow!(
        "the file store at {} is locked and there is no terminal to ask for its passphrase on: run 'awsenv unlock' in a terminal (or set AWSENV_FILE_PASSPHRASE)",
        dir.display()
    )
}

/// Reads one line (the passphrase) from standard input.
fn stdin_passphrase() -> Result<SecretString> {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(4096)
        .read_to_end(&mut buf)
        .context("cannot read the passphrase from standard input")?;
    let text = std::str::from_utf8(&buf)
        .map_err(|_| anyhow!("the passphrase on standard input is not UTF-8"))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("no passphrase on standard input");
    }
    Ok(SecretString::from(line.to_string()))
}

/// Unlocks the store in `dir`: under the unlocking lock, checks again for an agent, else gets
/// the passphrase and starts one. The caller must not hold the unlocking lock.
fn unlock_flow(
    dir: &Path,
    place: &Place,
    hello: &[u8],
    source: Passphrase,
) -> Result<(UnixStream, age::x25519::Recipient)> {
    let _guard = lock_unlocking(dir)?;
    if let Some(c) = try_connect(&place.socket, hello)? {
        return Ok(c);
    }
    match source {
        Passphrase::Stdin => spawn(dir, place, stdin_passphrase()?)?,
        Passphrase::Terminal => {
            lock::announce_held(WAITING_FOR);
            let prompt = format!(
                "Enter passphrase to unlock the file store at {}: ",
                dir.display()
            );
            let mut attempt = 0;
            loop {
                attempt += 1;
                let line = read_secret(&prompt, || no_terminal(dir))?;
                if line.is_empty() {
                    bail!("empty passphrase");
                }
                match spawn(dir, place, SecretString::from(line.to_string())) {
                    Ok(()) => break,
                    Err(e) if e.is::<WrongPassphrase>() && attempt < ATTEMPTS => {
                        eprintln!("awsenv: wrong passphrase, try again");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    try_connect(&place.socket, hello)?.ok_or_else(|| {
        anyhow!(
            "the file-store agent started but does not answer at {}",
            place.socket.display()
        )
    })
}

/// Starts a detached agent for `dir` with `pass`; returns once it listens (or failed).
fn spawn(dir: &Path, place: &Place, pass: SecretString) -> Result<()> {
    use age::secrecy::ExposeSecret;
    let settings = Settings::load()?;
    let exe = std::env::current_exe().context("cannot find the awsenv-engine executable")?;
    let mut cmd = Command::new(&exe);
    cmd.arg0("awsenv")
        .args(["agent", "--detached"])
        .env_clear()
        .env("AWSENV_BACKEND", "file")
        .env("AWSENV_FILE_DIR", dir)
        .env("XDG_RUNTIME_DIR", &place.runtime)
        .env(
            "AWSENV_UNLOCK_TTL",
            settings.unlock_ttl.as_secs().to_string(),
        )
        .env(
            "AWSENV_UNLOCK_MAX",
            settings.unlock_max.as_secs().to_string(),
        )
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid and fcntl/close_range are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            crate::platform::cloexec_from(3);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start the file-store agent ({})", exe.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut line = Zeroizing::new(pass.expose_secret().as_bytes().to_vec());
        line.push(b'\n');
        // A failed write shows as the agent's answer below.
        let _ = stdin.write_all(&line);
    }
    let mut answer = Vec::new();
    if let Some(out) = child.stdout.take() {
        let _ = out.take(4096).read_to_end(&mut answer);
    }
    // The started process forks the agent and exits at once.
    let _ = child.wait();
    let answer = String::from_utf8_lossy(&answer);
    let answer = answer.trim();
    match answer.split_once(' ').unwrap_or((answer, "")) {
        ("ok", _) => Ok(()),
        ("wrong", _) => Err(anyhow!(WrongPassphrase(dir.display().to_string()))),
        ("error", msg) => bail!("the file-store agent did not start: {msg}"),
        _ => bail!("the file-store agent did not start (it gave no answer)"),
    }
}

/// A connection to the agent that holds the store's identity.
pub struct Client {
    dir: PathBuf,
    place: Place,
    hello: Vec<u8>,
    recipient: age::x25519::Recipient,
    conn: Mutex<Option<UnixStream>>,
}

impl Client {
    /// Connects to the agent for the store in `dir` (whose `identity.age` holds `id_bytes`),
    /// unlocking it first when no agent holds it: the passphrase is asked on the terminal.
    pub fn connect_or_unlock(dir: &Path, id_bytes: &[u8]) -> Result<Client> {
        Client::unlocking(dir, id_bytes, Passphrase::Terminal)
    }

    /// Starts the agent for a store just created with `pass`; the caller holds
    /// [`lock_unlocking`].
    pub fn start(dir: &Path, id_bytes: &[u8], pass: SecretString) -> Result<Client> {
        let place = place(dir)?;
        let hello = hello_for(dir, id_bytes);
        spawn(dir, &place, pass)?;
        let (s, recipient) = try_connect(&place.socket, &hello)?.ok_or_else(|| {
            anyhow!(
                "the file-store agent started but does not answer at {}",
                place.socket.display()
            )
        })?;
        Ok(Client {
            dir: dir.to_path_buf(),
            place,
            hello,
            recipient,
            conn: Mutex::new(Some(s)),
        })
    }

    /// [`Client::connect_or_unlock`] with the passphrase from `source`.
    pub fn unlocking(dir: &Path, id_bytes: &[u8], source: Passphrase) -> Result<Client> {
        let place = place(dir)?;
        let hello = hello_for(dir, id_bytes);
        let (s, recipient) = match try_connect(&place.socket, &hello)? {
            Some(c) => c,
            None => unlock_flow(dir, &place, &hello, source)?,
        };
        Ok(Client {
            dir: dir.to_path_buf(),
            place,
            hello,
            recipient,
            conn: Mutex::new(Some(s)),
        })
    }

    /// The store's public key.
    pub fn recipient(&self) -> &age::x25519::Recipient {
        &self.recipient
    }

    fn request(&self, op: u8, payload: &[u8]) -> Result<(u8, Zeroizing<Vec<u8>>)> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| anyhow!("the agent connection is poisoned"))?;
        // Closed by the agent since the last request (idle, or it forgot the store): connect
        // again, unlocking anew if it is gone.
        if conn.as_ref().is_some_and(hung_up) {
            *conn = None;
        }
        if conn.is_none() {
            let (s, _) = match try_connect(&self.place.socket, &self.hello)? {
                Some(c) => c,
                None => unlock_flow(&self.dir, &self.place, &self.hello, Passphrase::Terminal)?,
            };
            *conn = Some(s);
        }
        let Some(s) = conn.as_mut() else {
            bail!("no connection to the file-store agent");
        };
        match exchange(s, op, payload) {
            Ok(r) => Ok(r),
            Err(e) => {
                *conn = None;
                Err(e)
            }
        }
    }

    /// The HMAC part of the file name of `key`.
    pub fn name(&self, key: &str) -> Result<String> {
        let (st, body) = self.request(OP_NAME, key.as_bytes())?;
        let name = String::from_utf8_lossy(&body).into_owned();
        if st != ST_OK || name.len() != 40 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("the file-store agent could not name an entry: {name}");
        }
        Ok(name)
    }

    /// The plaintext of an entry file, or why it cannot be read.
    pub fn open(
        &self,
        ciphertext: &[u8],
    ) -> Result<std::result::Result<Zeroizing<Vec<u8>>, String>> {
        let (st, body) = self.request(OP_OPEN, ciphertext)?;
        match st {
            ST_OK => Ok(Ok(body)),
            ST_DAMAGED => Ok(Err(String::from_utf8_lossy(&body).into_owned())),
            _ => bail!(
                "the file-store agent could not decrypt: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

/// Asks a running agent for `op` without a greeting (status, lock). `None`: no agent.
fn ask(socket: &Path, op: u8) -> Result<Option<String>> {
    let Some(mut s) = connect(socket)? else {
        return Ok(None);
    };
    let (st, body) = exchange(&mut s, op, b"")?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if st != ST_OK {
        bail!("the file-store agent refused: {text}");
    }
    Ok(Some(text))
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

fn file_settings() -> Result<Settings> {
    let s = Settings::load()?;
    if s.backend != Some(crate::settings::Backend::File) {
        bail!(
            "the unlock agent is for the file store, and the file store is not in use: set AWSENV_BACKEND=file (or backend = \"file\" in the settings file)"
        );
    }
    Ok(s)
}

fn identity_bytes(dir: &Path) -> Result<Vec<u8>> {
    super::FileStore::new(dir.to_path_buf())
        .identity()?
        .ok_or_else(|| {
            anyhow!(
                "there is no file store at {} yet: 'awsenv add PROFILE' creates it",
                dir.display()
            )
        })
}

fn store_dir(s: &Settings) -> PathBuf {
    std::path::absolute(&s.file_dir).unwrap_or_else(|_| s.file_dir.clone())
}

fn lifetimes(s: &Settings) -> String {
    format!(
        "it forgets after {} without use, at the latest after {}",
        crate::timefmt::human(s.unlock_ttl),
        crate::timefmt::human(s.unlock_max)
    )
}

/// `awsenv unlock [--stdin]`: unlocks the file store into the agent (starting one).
pub fn unlock_command(from_stdin: bool) -> Result<i32> {
    let s = file_settings()?;
    if super::file::env_passphrase()?.is_some() {
        eprintln!(
            "awsenv: AWSENV_FILE_PASSPHRASE is set, so every command unlocks the file store itself and no agent is used"
        );
        return Ok(0);
    }
    let dir = store_dir(&s);
    let id = identity_bytes(&dir)?;
    let place = place(&dir)?;
    let hello = hello_for(&dir, &id);
    if try_connect(&place.socket, &hello)?.is_some() {
        eprintln!(
            "The file store at {} is already unlocked ({}).",
            dir.display(),
            ask(&place.socket, OP_STATUS)?.unwrap_or_default()
        );
        return Ok(0);
    }
    let source = if from_stdin {
        Passphrase::Stdin
    } else if crate::tty::available() {
        Passphrase::Terminal
    } else {
        bail!(
            "there is no terminal to ask for the passphrase of the file store at {} on: run 'awsenv unlock' in a terminal, or give the passphrase on standard input with 'awsenv unlock --stdin'",
            dir.display()
        );
    };
    unlock_flow(&dir, &place, &hello, source)?;
    eprintln!(
        "Unlocked the file store at {}; {}.",
        dir.display(),
        lifetimes(&s)
    );
    Ok(0)
}

/// `awsenv lock`: the agent forgets the unlocked store now.
pub fn lock_command() -> Result<i32> {
    let s = file_settings()?;
    let dir = store_dir(&s);
    let place = place(&dir)?;
    match ask(&place.socket, OP_LOCK)? {
        Some(_) => eprintln!("Locked the file store at {}.", dir.display()),
        None => eprintln!("The file store at {} was not unlocked.", dir.display()),
    }
    Ok(0)
}

/// `awsenv agent`: unlocks the store (asking on the terminal) and serves in the foreground,
/// saying what it does on stderr, until it forgets (idle, lifetime, `awsenv lock`, Ctrl-C).
pub fn foreground_command() -> Result<i32> {
    crate::platform::deny_dumps_and_tracing();
    let s = file_settings()?;
    let dir = store_dir(&s);
    let id = identity_bytes(&dir)?;
    let place = place(&dir)?;
    let hello = hello_for(&dir, &id);
    let guard = lock_unlocking(&dir)?;
    if try_connect(&place.socket, &hello)?.is_some() {
        bail!(
            "an agent already holds the file store at {} unlocked (socket {}); 'awsenv lock' stops it",
            dir.display(),
            place.socket.display()
        );
    }
    let pass = match super::file::env_passphrase()? {
        Some(p) => p,
        None => {
            lock::announce_held(WAITING_FOR);
            let line = read_secret(
                &format!(
                    "Enter passphrase to unlock the file store at {}: ",
                    dir.display()
                ),
                || no_terminal(&dir),
            )?;
            SecretString::from(line.to_string())
        }
    };
    let ready = prepare(&dir, &place, pass)?;
    drop(guard);
    eprintln!(
        "awsenv agent: the file store at {} is unlocked, served on {}; {} (Ctrl-C stops).",
        dir.display(),
        place.socket.display(),
        lifetimes(&s)
    );
    let why = serve(ready, &s, true)?;
    eprintln!("awsenv agent: forgot the file store ({why}).");
    Ok(0)
}

/// `awsenv agent --detached`: what `spawn` runs. Forks (the started process exits at once),
/// reads the passphrase from stdin, unlocks, binds, answers `ok` / `wrong …` / `error …` on
/// stdout, closes its stdio and serves.
pub fn detached_command() -> Result<i32> {
    // SAFETY: no other thread exists yet (the engine starts none before its command).
    match unsafe { libc::fork() } {
        -1 => bail!("cannot fork: {}", std::io::Error::last_os_error()),
        0 => {}
        // SAFETY: the parent only exits.
        _ => unsafe { libc::_exit(0) },
    }
    crate::platform::deny_dumps_and_tracing();
    let mut out = std::io::stdout();
    let started = (|| {
        let pass = stdin_passphrase()?;
        devnull_onto(0);
        let s = Settings::load()?;
        let dir = store_dir(&s);
        let place = place(&dir)?;
        Ok::<_, anyhow::Error>((prepare(&dir, &place, pass)?, s))
    })();
    match started {
        Ok((ready, s)) => {
            let _ = out.write_all(b"ok\n").and_then(|()| out.flush());
            devnull_onto(1);
            let _ = serve(ready, &s, false)?;
            Ok(0)
        }
        Err(e) => {
            let line = crate::awsconfig::one_line(&format!("{e:#}"));
            let tag = if e.is::<WrongPassphrase>() {
                "wrong"
            } else {
                "error"
            };
            let _ = writeln!(out, "{tag} {line}").and_then(|()| out.flush());
            Ok(1)
        }
    }
}

fn devnull_onto(fd: libc::c_int) {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        // SAFETY: dup2 onto a standard descriptor.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

// ---------------------------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------------------------

/// A value kept in its own page: locked in memory when the limit allows, left out of core
/// dumps, zeroized and unmapped on drop. For values without heap parts.
struct Secret<T> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
}

impl<T> Secret<T> {
    fn new(value: T) -> Result<Secret<T>> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        if std::mem::align_of::<T>() > page {
            bail!("cannot keep the identity in a page of its own");
        }
        let len = std::mem::size_of::<T>().max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping; checked for failure before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!(
                "cannot map memory for the identity: {}",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: p is a fresh mapping of len bytes, page-aligned (so aligned for T).
        unsafe {
            // Best effort: RLIMIT_MEMLOCK may forbid it.
            libc::mlock(p, len);
            crate::platform::exclude_from_core_dumps(p, len);
            std::ptr::write(p.cast::<T>(), value);
        }
        let ptr = std::ptr::NonNull::new(p.cast::<T>())
            .ok_or_else(|| anyhow!("cannot map memory for the identity"))?;
        Ok(Secret { ptr, len })
    }
}

impl<T> std::ops::Deref for Secret<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in new, valid until drop.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for Secret<T> {
    fn drop(&mut self) {
        // SAFETY: the value was written in new and is dropped once; then the whole mapping is
        // zeroed and released.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            let bytes = self.ptr.as_ptr().cast::<u8>();
            for i in 0..self.len {
                std::ptr::write_volatile(bytes.add(i), 0);
            }
            std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
            libc::munlock(bytes.cast(), self.len);
            libc::munmap(bytes.cast(), self.len);
        }
    }
}

/// Overwrites the stack below the caller's frame, where unlocking left copies of secrets.
#[inline(never)]
fn scrub_stack() {
    let mut buf = [0u8; 128 * 1024];
    std::hint::black_box(&mut buf);
}

/// An unlocked agent about to serve.
struct Ready {
    listener: UnixListener,
    unlocked: Secret<Unlocked>,
    hello: Vec<u8>,
    recipient: String,
    socket: PathBuf,
    ino: (u64, u64),
}

/// Unlocks the store in `dir` with `pass` and binds the agent's socket.
fn prepare(dir: &Path, place: &Place, pass: SecretString) -> Result<Ready> {
    let id_path = dir.join(IDENTITY_FILE);
    let id = identity_bytes(dir)?;
    let unlocked = Secret::new(Unlocked::unlock(&id_path, &id, pass)?)?;
    scrub_stack();
    let recipient = unlocked.recipient().to_string();
    let listener = bind(&place.socket)?;
    let md = std::fs::metadata(&place.socket)
        .with_context(|| format!("cannot read {}", place.socket.display()))?;
    Ok(Ready {
        listener,
        unlocked,
        hello: hello_for(dir, &id),
        recipient,
        socket: place.socket.clone(),
        ino: (md.dev(), md.ino()),
    })
}

/// Binds `socket` 0600 (no moment with wider permissions), replacing a socket nobody answers
/// on (left over from an agent that was killed).
fn bind(socket: &Path) -> Result<UnixListener> {
    if socket.exists() {
        if connect(socket)?.is_some() {
            bail!("another agent already listens on {}", socket.display());
        }
        let _ = std::fs::remove_file(socket);
    }
    // SAFETY: umask only changes this process's file-creation mask (the agent keeps it).
    unsafe { libc::umask(0o177) };
    let l = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {} to 0600", socket.display()))?;
    Ok(l)
}

/// Whether `socket` is still the one this agent bound.
fn still_ours(socket: &Path, ino: (u64, u64)) -> bool {
    std::fs::symlink_metadata(socket).is_ok_and(|m| (m.dev(), m.ino()) == ino)
}

fn remove_if_ours(socket: &Path, ino: (u64, u64)) {
    if still_ours(socket, ino) {
        let _ = std::fs::remove_file(socket);
    }
}

/// The agent's state, shared by its connections (one thread).
struct Shared {
    unlocked: RefCell<Option<Secret<Unlocked>>>,
    hello: Vec<u8>,
    recipient: String,
    socket: PathBuf,
    ino: (u64, u64),
    last_use: Cell<Instant>,
    started: Instant,
    ttl: Duration,
    max: Duration,
    quit: RefCell<Option<String>>,
    wake: tokio::sync::Notify,
    connections: Cell<usize>,
    log: bool,
}

impl Shared {
    /// Forgets the identity now, removes the socket (so a new agent can start at once) and
    /// tells the main loop to end.
    fn forget(&self, why: &str) {
        self.unlocked.borrow_mut().take();
        remove_if_ours(&self.socket, self.ino);
        let mut q = self.quit.borrow_mut();
        if q.is_none() {
            *q = Some(why.to_string());
        }
        self.wake.notify_one();
    }

    fn status(&self) -> String {
        let idle = self.ttl.saturating_sub(self.last_use.get().elapsed());
        let life = self.max.saturating_sub(self.started.elapsed());
        let round = crate::timefmt::human;
        format!(
            "agent pid {}; it forgets in {} without use, at the latest in {}",
            std::process::id(),
            round(idle.min(life)),
            round(life)
        )
    }

    /// The answer to one request.
    fn answer(&self, op: u8, payload: &[u8], greeted: &mut bool) -> (u8, Zeroizing<Vec<u8>>) {
        let text = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
        match op {
            OP_STATUS => return (ST_OK, text(&self.status())),
            OP_LOCK => {
                self.forget("locked by 'awsenv lock'");
                return (ST_OK, text(""));
            }
            OP_HELLO => {
                let fp = &self.hello[..32];
                if payload == self.hello.as_slice() {
                    *greeted = true;
                } else if payload.len() >= 32
                    && payload[32..] == self.hello[32..]
                    && &payload[..32] != fp
                {
                    self.forget("identity.age changed");
                    return (ST_STALE, text(""));
                } else {
                    return (ST_ERR, text("this agent serves another file store"));
                }
            }
            _ if !*greeted => return (ST_ERR, text("greet first")),
            _ => {}
        }
        let guard = self.unlocked.borrow();
        let Some(u) = guard.as_ref() else {
            return (ST_ERR, text("the agent has forgotten the file store"));
        };
        self.last_use.set(Instant::now());
        match op {
            OP_HELLO => (ST_OK, text(&self.recipient)),
            OP_NAME => match std::str::from_utf8(payload) {
                Ok(key) => (ST_OK, text(&u.name(key))),
                Err(_) => (ST_ERR, text("an entry key is UTF-8")),
            },
            OP_OPEN => match u.open(payload) {
                Ok(plain) => (ST_OK, plain),
                Err(why) => (ST_DAMAGED, text(&why)),
            },
            _ => (ST_ERR, text("unknown request")),
        }
    }
}

async fn read_frame_async(
    s: &mut tokio::net::UnixStream,
) -> std::io::Result<(u8, Zeroizing<Vec<u8>>)> {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await?;
    let len = frame_len(&head)?;
    let mut body = Zeroizing::new(vec![0u8; len]);
    s.read_exact(&mut body).await?;
    Ok((head[0], body))
}

async fn connection(mut s: tokio::net::UnixStream, shared: Rc<Shared>) {
    use tokio::io::AsyncWriteExt;
    let mut greeted = false;
    loop {
        let Ok(Ok((op, payload))) =
            tokio::time::timeout(IDLE_CONNECTION, read_frame_async(&mut s)).await
        else {
            break;
        };
        let (st, body) = shared.answer(op, &payload, &mut greeted);
        drop(payload);
        let mut frame = Zeroizing::new(Vec::with_capacity(body.len() + 5));
        frame.push(st);
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        drop(body);
        let sent = tokio::time::timeout(CLIENT_TIMEOUT, s.write_all(&frame)).await;
        if !matches!(sent, Ok(Ok(()))) || shared.quit.borrow().is_some() {
            break;
        }
    }
    shared
        .connections
        .set(shared.connections.get().saturating_sub(1));
}

/// Serves until the agent forgets; returns why it did.
fn serve(ready: Ready, settings: &Settings, log: bool) -> Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let ttl = settings.unlock_ttl;
    let max = settings.unlock_max;
    local.block_on(&rt, async move {
        use tokio::signal::unix::{SignalKind, signal};
        ready
            .listener
            .set_nonblocking(true)
            .context("cannot serve the agent socket")?;
        let listener = tokio::net::UnixListener::from_std(ready.listener)
            .context("cannot serve the agent socket")?;
        let shared = Rc::new(Shared {
            unlocked: RefCell::new(Some(ready.unlocked)),
            hello: ready.hello,
            recipient: ready.recipient,
            socket: ready.socket,
            ino: ready.ino,
            last_use: Cell::new(Instant::now()),
            started: Instant::now(),
            ttl,
            max,
            quit: RefCell::new(None),
            wake: tokio::sync::Notify::new(),
            connections: Cell::new(0),
            log,
        });
        let sig = |k| signal(k).context("cannot handle signals");
        let mut term = sig(SignalKind::terminate())?;
        let mut int = sig(SignalKind::interrupt())?;
        let mut hup = sig(SignalKind::hangup())?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let me = euid();
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => {
                        let uid = s.peer_cred().map(|c| c.uid()).ok();
                        if uid != Some(me) {
                            if shared.log {
                                eprintln!("awsenv agent: refused a connection from uid {}", uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()));
                            }
                            continue;
                        }
                        if shared.connections.get() >= MAX_CONNECTIONS {
                            continue;
                        }
                        shared.connections.set(shared.connections.get() + 1);
                        tokio::task::spawn_local(connection(s, shared.clone()));
                    }
                    // Out of descriptors, say: let connections finish.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                _ = tick.tick() => {
                    if shared.last_use.get().elapsed() >= shared.ttl {
                        shared.forget(&format!("unused for {}", crate::timefmt::human(shared.ttl)));
                    } else if shared.started.elapsed() >= shared.max {
                        shared.forget(&format!("unlocked for {}", crate::timefmt::human(shared.max)));
                    } else if !still_ours(&shared.socket, shared.ino) {
                        shared.forget("its socket was removed");
                    }
                }
                _ = term.recv() => shared.forget("SIGTERM"),
                _ = int.recv() => shared.forget("interrupted"),
                _ = hup.recv() => shared.forget("SIGHUP"),
                _ = shared.wake.notified() => {}
            }
            let quit = shared.quit.borrow().clone();
            if let Some(why) = quit {
                shared.forget(&why);
                return Ok(why);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_are_bounded() {
        let mut buf = Vec::new();
        write_frame(&mut buf, OP_NAME, b"keys/a").expect("write");
        let (op, body) = read_frame(&mut buf.as_slice()).expect("read");
        assert_eq!((op, body.as_slice()), (OP_NAME, &b"keys/a"[..]));
        let mut huge = vec![OP_OPEN];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut huge.as_slice()).is_err());
        assert!(read_frame(&mut &buf[..3]).is_err());
    }

    #[test]
    fn a_secret_page_holds_and_zeroizes() {
        let s = Secret::new([7u8; 32]).expect("page");
        assert_eq!(*s, [7u8; 32]);
        drop(s);
    }
}
