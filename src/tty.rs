//! Reading a line from the controlling terminal (`/dev/tty`), so prompts work inside
//! `eval "$(…)"` and inside shell prompt hooks.
//!
//! fish runs prompt-event handlers with the terminal still in its line editor's mode (no
//! ICANON, no ICRNL): a plain read never sees Enter. So the terminal is put into canonical mode
//! with CR→NL mapping (echo off for secrets) and restored exactly afterwards, also on Ctrl-C,
//! which aborts the read instead of killing the process with the terminal left mis-set.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

/// Why a terminal read produced no line.
#[derive(Debug)]
pub enum TtyError {
    /// There is no controlling terminal.
    NoTerminal,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// End of input (Ctrl-D) before a line.
    Eof,
    /// Another I/O error.
    Io(std::io::Error),
}

impl TtyError {
    /// Converts to an error, using `no_tty` for [`TtyError::NoTerminal`].
    pub fn or_else_no_tty(self, no_tty: impl FnOnce() -> anyhow::Error) -> anyhow::Error {
        match self {
            TtyError::NoTerminal => no_tty(),
            TtyError::Interrupted => anyhow::anyhow!("interrupted"),
            TtyError::Eof => anyhow::anyhow!("no input (end of file at the prompt)"),
            TtyError::Io(e) => anyhow::anyhow!("terminal: {e}"),
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The user cancelled something with Ctrl-C (or end of input at a prompt): a prompt, a wait.
#[derive(Debug)]
pub struct Cancelled {
    what: String,
}

impl Cancelled {
    /// `what` was cancelled ("MFA prompt", "waiting").
    pub fn new(what: &str) -> Cancelled {
        Cancelled {
            what: what.to_string(),
        }
    }
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cancelled", self.what)
    }
}

impl std::error::Error for Cancelled {}

/// While alive, SIGINT (Ctrl-C) does not kill the process but is recorded, and interrupts
/// blocking reads (no `SA_RESTART`). Also takes over a SIGINT that the calling shell ignores
/// (the hooks do, so that Ctrl-C at a prompt cancels only awsenv). The previous action is
/// restored on drop.
pub struct SigintGuard {
    old: libc::sigaction,
}

impl SigintGuard {
    /// Installs the recording handler.
    pub fn install() -> SigintGuard {
        INTERRUPTED.store(false, Ordering::SeqCst);
        // SAFETY: installing a handler that only stores to an atomic; the old action is kept
        // and restored on drop.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigint as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0; // no SA_RESTART: read() returns EINTR
            libc::sigaction(libc::SIGINT, &sa, &mut old);
        }
        SigintGuard { old }
    }

    /// Whether Ctrl-C was pressed since [`SigintGuard::install`].
    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the saved signal action.
        unsafe { libc::sigaction(libc::SIGINT, &self.old, std::ptr::null_mut()) };
    }
}

/// Opens the controlling terminal, if there is one.
pub fn open() -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// Whether a controlling terminal can be opened.
pub fn available() -> bool {
    open().is_some()
}

/// Writes `prompt` to the terminal and reads one line (without its newline); `hidden` turns
/// echo off.
pub fn read_line(prompt: &str, hidden: bool) -> Result<Zeroizing<String>, TtyError> {
    let mut tty = open().ok_or(TtyError::NoTerminal)?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut orig: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut orig) } == 0;
    if have_termios {
        let mut t = orig;
        t.c_lflag |= libc::ICANON | libc::ISIG;
        if hidden {
            t.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
            t.c_lflag |= libc::ECHONL;
        } else {
            t.c_lflag |= libc::ECHO | libc::ECHOE | libc::ECHOK;
        }
        t.c_iflag |= libc::ICRNL;
        t.c_iflag &= !(libc::INLCR | libc::IGNCR);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: fd is open; t is a valid termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    let sigint = SigintGuard::install();
    let result = (|| {
        tty.write_all(prompt.as_bytes()).map_err(TtyError::Io)?;
        let _ = tty.flush();
        let mut line = Zeroizing::new(Vec::new());
        loop {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a valid buffer.
            let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    if sigint.interrupted() {
                        return Err(TtyError::Interrupted);
                    }
                    continue;
                }
                return Err(TtyError::Io(err));
            }
            if n == 0 {
                return if line.is_empty() {
                    Err(TtyError::Eof)
                } else {
                    Ok(line)
                };
            }
            match b[0] {
                b'\n' | b'\r' => return Ok(line),
                c => line.push(c),
            }
        }
    })();
    drop(sigint);
    if have_termios {
        // SAFETY: restoring the saved terminal attributes on an open fd.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &orig) };
    }
    if matches!(result, Err(TtyError::Interrupted)) {
        let _ = tty.write_all(b"\n");
    }
    let line = result?;
    let text = String::from_utf8_lossy(&line).trim().to_string();
    Ok(Zeroizing::new(text))
}
