//! Everything awsenv asks of the operating system that is not POSIX, in one place: Linux is the
//! only platform built and tested. Each function names, in its documentation, the macOS and BSD
//! equivalent a port would use, so that a port touches this file alone.
//!
//! On any other target this module does not compile: the `compile_error!` below names what is
//! missing, rather than letting awsenv build and silently do less (run a command that outlives a
//! dead credential endpoint, trust a socket peer unchecked, leave secrets in core dumps).
//!
//! Hot layer: only `libc` and `std`, so that the front binary may use it (shell detection).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "awsenv is built and tested on Linux only. A port implements, in src/platform.rs: \
     die_with_parent (PR_SET_PDEATHSIG: kqueue EVFILT_PROC/NOTE_EXIT on macOS, \
     procctl(PROC_PDEATHSIG_CTL) on FreeBSD), peer_uid (SO_PEERCRED: getpeereid or \
     LOCAL_PEERCRED), deny_dumps_and_tracing (PR_SET_DUMPABLE: ptrace(PT_DENY_ATTACH) on macOS, \
     procctl(PROC_TRACE_CTL) on FreeBSD), exclude_from_core_dumps (MADV_DONTDUMP: MADV_NOCORE \
     on the BSDs), parent_process_name (/proc/PID/comm: proc_name/proc_pidpath on macOS, \
     sysctl KERN_PROC_PID on the BSDs), cloexec_from (close_range: closefrom/fcntl), \
     fd_dir_path (/proc/self/fd: fdopendir)"
);

use std::os::fd::RawFd;
use std::path::PathBuf;

/// The command name of this process's parent (what `ps -o comm` shows: `bash`, `-zsh`), used to
/// detect the calling shell; `None` when it cannot be read.
///
/// Linux: `/proc/<ppid>/comm`. macOS: `proc_name(getppid())` (libproc; or the base name of
/// `proc_pidpath`). FreeBSD/NetBSD/OpenBSD: `sysctl` `KERN_PROC_PID` and the `ki_comm`/`p_comm`
/// field of the returned `kinfo_proc`.
pub fn parent_process_name() -> Option<String> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = unsafe { libc::getppid() };
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    Some(comm.trim().to_string())
}

/// In a forked child before `execve`: arranges for SIGTERM when `parent` (the process that
/// forked) dies, however it dies, and fails with `ESRCH` if it already has. Only
/// async-signal-safe calls, nothing allocated.
///
/// Linux: `prctl(PR_SET_PDEATHSIG, SIGTERM)` (fires when the *thread* that forked ends), then
/// `getppid() != parent` for a parent that died before the prctl. FreeBSD:
/// `procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &SIGTERM)`, same getppid check. macOS and the other
/// BSDs have no death signal: the parent's side must watch instead, a kqueue `EVFILT_PROC` with
/// `NOTE_EXIT` on the parent's pid in a process that outlives it (or the child polls
/// `getppid()`), which is a different design and why no fallback is here.
pub fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid are async-signal-safe syscalls.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// The uid of the process at the other end of the Unix socket `fd`.
///
/// Linux: `getsockopt(SOL_SOCKET, SO_PEERCRED)` (a `struct ucred`). macOS and the BSDs:
/// `getpeereid(fd, &uid, &gid)` (or `getsockopt(SOL_LOCAL, LOCAL_PEERCRED)`, a `struct
/// xucred`).
pub fn peer_uid(fd: RawFd) -> std::io::Result<u32> {
    let mut cred: libc::ucred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// No core dumps of this process, and no same-uid `ptrace` or `/proc/<pid>/mem` reads of it
/// (the file-store agent, which holds the unlocked identity). Best effort, like the callers'
/// other hardening: failures are ignored.
///
/// `setrlimit(RLIMIT_CORE, 0)` is POSIX. Linux: `prctl(PR_SET_DUMPABLE, 0)`. macOS:
/// `ptrace(PT_DENY_ATTACH, 0, 0, 0)`. FreeBSD: `procctl(P_PID, 0, PROC_TRACE_CTL,
/// PROC_TRACE_CTL_DISABLE)`. OpenBSD/NetBSD: no equivalent beyond the core limit.
pub fn deny_dumps_and_tracing() {
    // SAFETY: plain process-attribute calls.
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// Leaves the mapping at `addr` of `len` bytes out of core dumps (best effort).
///
/// Linux: `madvise(MADV_DONTDUMP)`. FreeBSD/DragonFly: `madvise(MADV_NOCORE)` (or `minherit`
/// + `MAP_NOCORE` at mmap). macOS: none; [`deny_dumps_and_tracing`] covers it there.
///
/// # Safety
/// `addr` and `len` describe a mapping this process owns (page-aligned, as from `mmap`).
pub unsafe fn exclude_from_core_dumps(addr: *mut libc::c_void, len: usize) {
    // SAFETY: the caller's mapping; madvise only changes advice on it.
    unsafe { libc::madvise(addr, len, libc::MADV_DONTDUMP) };
}

/// Marks every descriptor from `first` up close-on-exec; in a forked child before exec, so
/// async-signal-safe and allocating nothing.
///
/// Linux: `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` (5.11+), else `fcntl(FD_CLOEXEC)` on
/// each number below 1024. FreeBSD 13+: the same `close_range`; macOS and the other BSDs: the
/// `fcntl` loop (`closefrom` closes rather than marks).
pub fn cloexec_from(first: u32) {
    // SAFETY: close_range only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    for fd in first.min(1024)..1024 {
        // SAFETY: fcntl on a number that may not be a descriptor just fails.
        unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// A path that names the open directory `fd` itself, wherever it has been moved since it was
/// opened (for listing it).
///
/// Linux: `/proc/self/fd/<fd>`. macOS and the BSDs: no such path; list the descriptor with
/// `fdopendir(dup(fd))` instead.
pub fn fd_dir_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}
