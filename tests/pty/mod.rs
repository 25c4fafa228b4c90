//! A pseudo-terminal for one command: the command's controlling terminal (what it opens as
//! `/dev/tty` for prompts), while its stdin, stdout and stderr stay pipes the test reads. The
//! test waits for a prompt to appear on the terminal, types an answer, and counts prompts.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A command running with a pseudo-terminal as its controlling terminal.
pub struct Pty {
    master: File,
    /// Held open so that the master never reads as hung up before the command opens the
    /// terminal itself (`/dev/tty`); closed in [`Pty::finish`].
    slave: Option<File>,
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

fn open_pair() -> (File, File) {
    // SAFETY: plain libc calls on descriptors we own; each result is checked.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(m, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            s >= 0,
            "open the pty slave: {}",
            std::io::Error::last_os_error()
        );
        (File::from_raw_fd(m), File::from_raw_fd(s))
    }
}

impl Pty {
    /// Starts `cmd` in a new session whose controlling terminal is a fresh pty. stdin is
    /// closed unless the caller set it; stdout and stderr are captured.
    pub fn spawn(cmd: Command) -> Pty {
        Pty::start(cmd, 0)
    }

    /// [`Pty::spawn`] with stderr on the terminal too (to watch messages as they come).
    pub fn spawn_stderr_on_tty(cmd: Command) -> Pty {
        Pty::start(cmd, 1)
    }

    /// [`Pty::spawn`] with stdin, stdout and stderr on the terminal: an interactive shell.
    pub fn spawn_interactive(cmd: Command) -> Pty {
        Pty::start(cmd, 3)
    }

    fn start(mut cmd: Command, on_tty: u8) -> Pty {
        let (master, slave) = open_pair();
        let slave_fd = slave.as_raw_fd();
        let tty = || Stdio::from(slave.try_clone().expect("clone the pty slave"));
        cmd.stdout(if on_tty >= 3 { tty() } else { Stdio::piped() });
        cmd.stderr(if on_tty >= 1 { tty() } else { Stdio::piped() });
        if on_tty >= 3 {
            cmd.stdin(tty());
        }
        // SAFETY: setsid and ioctl are async-signal-safe; the slave stays open until exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn a command on a pty");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut rd = master.try_clone().expect("clone the pty master");
        let sink = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the command and everything it started closed the terminal.
            while let Ok(n) = rd.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            slave: Some(slave),
            child,
            screen,
            reader: Some(reader),
        }
    }

    /// Everything written to the terminal so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// How often `needle` appeared on the terminal.
    pub fn count(&self, needle: &str) -> usize {
        self.screen().matches(needle).count()
    }

    /// Waits until the terminal shows `needle` `times` times; false on timeout or exit.
    pub fn wait_for_n(&mut self, needle: &str, times: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.count(needle) >= times {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(100));
                return self.count(needle) >= times;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits until the terminal shows `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_n(needle, 1, timeout)
    }

    /// Types `text` on the terminal (a line needs its `\r`).
    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .and_then(|()| self.master.flush())
            .expect("type on the pty");
    }

    /// Sends Ctrl-C (the terminal turns it into SIGINT for the foreground process group).
    pub fn ctrl_c(&mut self) {
        self.send("\x03");
    }

    /// The command's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the command has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits (at most `timeout`, then kills) for the command and returns its output; the
    /// terminal's text is in [`Pty::screen`].
    pub fn finish(mut self, timeout: Duration) -> (Output, String) {
        let end = Instant::now() + timeout;
        while Instant::now() < end && !self.exited() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !self.exited() {
            let _ = self.child.kill();
        }
        let mut child = self.child;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_end(&mut stdout);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_end(&mut stderr);
        }
        let status = child.wait().expect("wait for the pty command");
        drop(self.slave.take());
        drop(self.master);
        if let Some(r) = self.reader.take() {
            // The reader ends at EIO when the last holder of the terminal closes it; do not
            // hang on a process that (wrongly) kept it open.
            let end = Instant::now() + Duration::from_secs(2);
            while !r.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let screen = String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned();
        (
            Output {
                status,
                stdout,
                stderr,
            },
            screen,
        )
    }
}
