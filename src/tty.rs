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

/// Whether a [`SigintGuard`] should also move this process into a foreground process group of
/// its own ([`own_foreground_group`]).
static OWN_FOREGROUND: AtomicBool = AtomicBool::new(false);
/// How many [`SigintGuard`]s are alive.
static GUARDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Makes every [`SigintGuard`] of this process also take the terminal into a process group of
/// its own while it lives, so that Ctrl-C reaches only awsenv and not the shell that runs it.
///
/// The bash hook relies on this: bash aborts a prompt function when Ctrl-C reaches it, even if
/// the child handled the signal, and saving and restoring the user's INT trap around the call
/// would cost a fork at every prompt. (zsh and fish ignore SIGINT around the call themselves,
/// without a fork; fish, moreover, does not take the terminal back if its child dies while
/// holding it, so this is only for bash.) Measured: bash and zsh continue the prompt function
/// and get the terminal back even when awsenv is SIGKILLed while holding it.
pub fn own_foreground_group() {
    OWN_FOREGROUND.store(true, Ordering::SeqCst);
}

/// The process group [`Foreground::take`] took the terminal from (0: none), for [`Guardian`].
static TAKEN_FROM: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// A helper process that puts the terminal back as it was — its modes, and its foreground
/// process group — if awsenv dies while it has changed them (SIGKILL at an MFA prompt would
/// otherwise leave the terminal without echo, and bash's next prompt without the terminal).
/// It waits on a pipe: the byte awsenv writes when it restored the terminal itself means
/// "nothing to do"; end of file without it means awsenv died.
struct Guardian {
    tx: libc::c_int,
    pid: libc::pid_t,
}

impl Guardian {
    /// Starts the helper for terminal `fd`, whose modes were `orig`; `None` when it cannot be
    /// started (the terminal is then restored only by awsenv itself, as before).
    fn start(fd: libc::c_int, orig: &libc::termios) -> Option<Guardian> {
        let mut p = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills two descriptors; close-on-exec keeps them out of anything awsenv
        // runs (mfa_process), so end of file comes only when awsenv is gone.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        let orig = *orig;
        let pgrp = TAKEN_FROM.load(Ordering::SeqCst);
        // SAFETY: fork; the child calls only async-signal-safe functions (close, sigaction,
        // read, tcsetattr, tcsetpgrp, _exit) on memory copied before the fork.
        match unsafe { libc::fork() } {
            0 => unsafe {
                libc::close(p[1]);
                let mut ign: libc::sigaction = std::mem::zeroed();
                ign.sa_sigaction = libc::SIG_IGN;
                for sig in [
                    libc::SIGINT,
                    libc::SIGTTOU,
                    libc::SIGTSTP,
                    libc::SIGQUIT,
                    libc::SIGHUP,
                ] {
                    libc::sigaction(sig, &ign, std::ptr::null_mut());
                }
                let mut b = [0u8; 1];
                loop {
                    let n = libc::read(p[0], b.as_mut_ptr().cast(), 1);
                    if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                    {
                        continue;
                    }
                    if n <= 0 {
                        libc::tcsetattr(fd, libc::TCSANOW, &orig);
                        if pgrp > 0 {
                            libc::tcsetpgrp(fd, pgrp);
                        }
                    }
                    libc::_exit(0);
                }
            },
            pid if pid > 0 => {
                // SAFETY: the read end belongs to the child now.
                unsafe { libc::close(p[0]) };
                Some(Guardian { tx: p[1], pid })
            }
            _ => {
                // SAFETY: closing the two descriptors pipe2 made.
                unsafe {
                    libc::close(p[0]);
                    libc::close(p[1]);
                }
                None
            }
        }
    }
}

impl Drop for Guardian {
    /// Called once awsenv restored the terminal itself: tells the helper so and reaps it.
    fn drop(&mut self) {
        // SAFETY: writing one byte to and closing our pipe end; waiting for our own child.
        unsafe {
            libc::write(self.tx, b"d".as_ptr().cast(), 1);
            libc::close(self.tx);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The terminal taken into our own process group, and how to give it back.
struct Foreground {
    tty: File,
    orig_pgrp: libc::pid_t,
    old_mask: libc::sigset_t,
    old_tstp: libc::sigaction,
}

impl Foreground {
    /// Takes the terminal when this process is in its foreground process group (shared with the
    /// shell that runs it); `None` when there is nothing to take.
    fn take() -> Option<Foreground> {
        let tty = open()?;
        let fd = tty.as_raw_fd();
        // SAFETY: plain libc calls on our own process and an open terminal fd; every result is
        // checked and undone on failure.
        unsafe {
            let orig_pgrp = libc::tcgetpgrp(fd);
            if orig_pgrp <= 0 || orig_pgrp != libc::getpgrp() || libc::getpid() == orig_pgrp {
                return None;
            }
            let mut block: libc::sigset_t = std::mem::zeroed();
            let mut old_mask: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            libc::sigaddset(&mut block, libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old_mask);
            if libc::setpgid(0, 0) != 0 {
                libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
                return None;
            }
            if libc::tcsetpgrp(fd, libc::getpid()) != 0 {
                libc::setpgid(0, orig_pgrp);
                libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
                return None;
            }
            // Ctrl-Z would stop us while we hold the terminal, and the shell waits for us.
            let mut ign: libc::sigaction = std::mem::zeroed();
            ign.sa_sigaction = libc::SIG_IGN;
            let mut old_tstp: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGTSTP, &ign, &mut old_tstp);
            TAKEN_FROM.store(orig_pgrp, Ordering::SeqCst);
            Some(Foreground {
                tty,
                orig_pgrp,
                old_mask,
                old_tstp,
            })
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        // SAFETY: giving the terminal back to the group we took it from, with SIGTTOU still
        // blocked, rejoining that group, and restoring the signal state we saved.
        unsafe {
            libc::tcsetpgrp(self.tty.as_raw_fd(), self.orig_pgrp);
            libc::setpgid(0, self.orig_pgrp);
            TAKEN_FROM.store(0, Ordering::SeqCst);
            libc::sigaction(libc::SIGTSTP, &self.old_tstp, std::ptr::null_mut());
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
        }
    }
}

/// While alive, SIGINT (Ctrl-C) does not kill the process but is recorded, and interrupts
/// blocking reads (no `SA_RESTART`). Also takes over a SIGINT that the calling shell ignores
/// (the zsh and fish hooks do, so that Ctrl-C at a prompt cancels only awsenv), and, after
/// [`own_foreground_group`], the terminal itself. The previous state is restored on drop.
pub struct SigintGuard {
    old: libc::sigaction,
    foreground: Option<Foreground>,
}

/// Whether Ctrl-C was pressed while a [`SigintGuard`] is alive (false when none is).
pub fn interrupted() -> bool {
    GUARDS.load(Ordering::SeqCst) > 0 && INTERRUPTED.load(Ordering::SeqCst)
}

impl SigintGuard {
    /// Installs the recording handler (and takes the terminal, see [`own_foreground_group`]).
    pub fn install() -> SigintGuard {
        let outer = GUARDS.fetch_add(1, Ordering::SeqCst) > 0;
        let foreground = if !outer && OWN_FOREGROUND.load(Ordering::SeqCst) {
            Foreground::take()
        } else {
            None
        };
        if !outer {
            INTERRUPTED.store(false, Ordering::SeqCst);
        }
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
        SigintGuard { old, foreground }
    }

    /// Whether Ctrl-C was pressed since [`SigintGuard::install`].
    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        self.foreground.take();
        // SAFETY: restoring the saved signal action.
        unsafe { libc::sigaction(libc::SIGINT, &self.old, std::ptr::null_mut()) };
        GUARDS.fetch_sub(1, Ordering::SeqCst);
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

/// Discards whatever was typed ahead on the terminal and not read yet, so that a command that
/// gives up mid-dialogue never hands the user's type-ahead (a secret, say) to the shell.
pub fn discard_typeahead() {
    if let Some(tty) = open() {
        // SAFETY: tcflush on an open descriptor.
        unsafe { libc::tcflush(tty.as_raw_fd(), libc::TCIFLUSH) };
    }
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
    // Started before the modes change, dropped (told "done") after they are restored.
    let guardian = have_termios.then(|| Guardian::start(fd, &orig)).flatten();
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
    drop(guardian);
    if matches!(result, Err(TtyError::Interrupted)) {
        let _ = tty.write_all(b"\n");
    }
    let line = result?;
    let text = String::from_utf8_lossy(&line).trim().to_string();
    Ok(Zeroizing::new(text))
}
