//! Signals of `exec --server`: SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to awsenv with kill(2) are
//! forwarded to the command, the command gets back the dispositions awsenv found and dies with
//! awsenv (`PR_SET_PDEATHSIG`), and awsenv ends the way the command ended.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use anyhow::{Result, anyhow, bail};

/// The child's pid once it runs (0 before).
pub(super) static CHILD: AtomicI32 = AtomicI32::new(0);
/// A forwardable signal that arrived before the child existed (0: none).
pub(super) static PENDING: AtomicI32 = AtomicI32::new(0);
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
pub(super) fn install_signal_forwarding() -> Result<()> {
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
    for (i, sig) in FORWARDED.into_iter().enumerate() {
        // SAFETY: installing a handler that only does async-signal-safe work, and reading the
        // action it replaces.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &sa, &mut old) != 0 {
                bail!(
                    "cannot install a signal handler: {}",
                    std::io::Error::last_os_error()
                );
            }
            IGNORED[i].store(old.sa_sigaction == libc::SIG_IGN, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Which of [`FORWARDED`] awsenv found ignored when it started (under `nohup`, as a background
/// job of a non-interactive shell): the command inherits them ignored, as it would without
/// awsenv in between.
static IGNORED: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

/// Runs in the forked child before execve: the forwarded signals get back the disposition
/// awsenv found (awsenv's handlers would otherwise swallow them until execve), and the
/// command is sent SIGTERM when awsenv dies, however it dies
/// ([`crate::platform::die_with_parent`]), so that it never runs on against a dead endpoint
/// unnoticed. The death signal fires when the
/// *thread* that forked ends: that is the main thread, which waits for the command until it
/// ends. If awsenv died between fork and prctl, the child is already orphaned: getppid tells,
/// and the command is not started. Only async-signal-safe calls, nothing allocated.
pub(super) fn child_setup(parent: libc::pid_t) -> std::io::Result<()> {
    for (i, sig) in FORWARDED.into_iter().enumerate() {
        let disposition = if IGNORED[i].load(Ordering::SeqCst) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        // SAFETY: signal(2) is async-signal-safe.
        unsafe { libc::signal(sig, disposition) };
    }
    crate::platform::die_with_parent(parent)
}

/// Ends awsenv the way the command ended: by the same signal when it was killed by one (so a
/// calling shell sees "interrupted" and stops its loop), else with its exit code.
pub(super) fn exit_like(status: std::process::ExitStatus) -> i32 {
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
