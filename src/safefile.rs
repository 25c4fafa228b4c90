//! Files awsenv creates in its own directories (the state directory and its locks, the bash
//! fast path's reference files, the reload marker, the trust directory's entries, the unlock
//! agent's directory under the runtime directory): one building block, so that no feature
//! follows a link another user planted.
//!
//! A [`Dir`] is a directory opened with `O_NOFOLLOW | O_DIRECTORY` and checked on the opened
//! descriptor (`fstat`): a directory, owned by this user, writable by no one else. A directory
//! that is a symbolic link (say into another user's directory) is refused, whatever it points
//! to. Files in it are opened relative to that descriptor (`openat`) with `O_NOFOLLOW`, so a
//! renamed or swapped path cannot redirect them, and the opened file is checked again: a regular
//! file of this user with one link (a planted hard link to someone else's file is refused).
//!
//! This module is on the hot path's side: std and libc only.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A directory of this user's own, writable by no one else, held open.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    if name.is_empty() || name.as_bytes().contains(&b'/') || name == ".." || name == "." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain file name", name.to_string_lossy()),
        ));
    }
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a file name with a NUL byte".to_string(),
        )
    })
}

/// An error naming `path` and what is wrong with it.
fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} {why}", path.display()),
    )
}

/// An OS error with `path` and `what` in its text.
fn os_error(what: &str, path: &Path, e: io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EMLINK) => {
            "is a symbolic link or not a directory; awsenv follows no links in its own directories: remove it".to_string()
        }
        _ => e.to_string(),
    };
    io::Error::new(e.kind(), format!("cannot {what} {}: {why}", path.display()))
}

impl Dir {
    /// Opens `path` (absolute) as a directory of this user's, creating it and its missing
    /// parents (0700) first. Refused: a symbolic link, not a directory, another owner, group-
    /// or other-writable. A group- or other-writable directory of this user is also refused:
    /// something may have been planted in it while it was.
    pub fn open(path: &Path) -> io::Result<Dir> {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
        {
            Ok(()) => {}
            // A symbolic link to a directory passes `create`; a dangling one fails here.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(os_error("create", path, e)),
        }
        Self::open_existing(path)
    }

    /// [`Dir::open`] without creating anything.
    pub fn open_existing(path: &Path) -> io::Result<Dir> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| refused(path, "has a NUL byte in its name"))?;
        // SAFETY: a valid NUL-terminated path; the descriptor is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(os_error("open", path, io::Error::last_os_error()));
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Self::checked(fd, path.to_path_buf())
    }

    fn checked(fd: OwnedFd, path: PathBuf) -> io::Result<Dir> {
        let md = File::from(fd.try_clone()?).metadata()?;
        if !md.is_dir() {
            return Err(refused(&path, "is not a directory"));
        }
        if md.uid() != euid() {
            return Err(refused(
                &path,
                &format!(
                    "belongs to uid {}, not to you; awsenv keeps its files only in directories of yours: remove it or point XDG_STATE_HOME/XDG_RUNTIME_DIR elsewhere",
                    md.uid()
                ),
            ));
        }
        if md.mode() & 0o022 != 0 {
            return Err(refused(
                &path,
                &format!(
                    "is writable by others (mode {:04o}); awsenv keeps its files only in directories only you can write: check what is in it, then chmod 700 it",
                    md.mode() & 0o7777
                ),
            ));
        }
        Ok(Dir { fd, path })
    }

    /// Takes every permission of group and others away (mode 0700), through the descriptor.
    pub fn restrict(&self) -> io::Result<()> {
        let f = File::from(self.fd.try_clone()?);
        if f.metadata()?.permissions().mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o700))
                .map_err(|e| os_error("restrict to 0700", &self.path, e))?;
        }
        Ok(())
    }

    /// This directory's real path, when no one but this user and root can swap it or any
    /// directory above it for another: the real path leads to this very directory, and every
    /// directory above it is owned by root or this user and writable by no one else (sticky
    /// ones such as `/tmp` excepted). `None` otherwise. A path handed to a shell, which follows
    /// it again later, must be such a path.
    pub fn real_path_if_private(&self) -> Option<PathBuf> {
        let real = std::fs::canonicalize(&self.path).ok()?;
        let here = File::from(self.fd.try_clone().ok()?).metadata().ok()?;
        let there = std::fs::metadata(&real).ok()?;
        if (here.dev(), here.ino()) != (there.dev(), there.ino()) {
            return None;
        }
        for a in real.ancestors().skip(1) {
            let md = std::fs::symlink_metadata(a).ok()?;
            let owner_ok = md.uid() == 0 || md.uid() == euid();
            let sticky = md.mode() & 0o1000 != 0; // S_ISVTX
            if !owner_ok || (md.mode() & 0o022 != 0 && !sticky) {
                return None;
            }
        }
        Some(real)
    }

    /// The directory's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory `name`, created (0700) when missing, checked as [`Dir::open`] does.
    pub fn subdir(&self, name: &str) -> io::Result<Dir> {
        let path = self.path.join(name);
        let c = c_name(OsStr::new(name))?;
        // SAFETY: valid descriptor and NUL-terminated name.
        if unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), 0o700) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(os_error("create", &path, e));
            }
        }
        // SAFETY: as above; the descriptor is owned below.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(os_error("open", &path, io::Error::last_os_error()));
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        Self::checked(unsafe { OwnedFd::from_raw_fd(fd) }, path)
    }

    /// Opens the file `name` for reading and writing, creating it (0600) when missing, never
    /// through a symbolic link, never truncated here. Refused: not a regular file, another
    /// owner, more than one link.
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let path = self.path.join(name);
        let c = c_name(OsStr::new(name))?;
        // SAFETY: valid descriptor and NUL-terminated name; the descriptor is owned below.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDWR
                    | libc::O_CREAT
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_NOCTTY
                    | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "is a symbolic link; awsenv follows no links in its own directories: remove it"
                    .to_string()
            } else {
                e.to_string()
            };
            return Err(io::Error::new(
                e.kind(),
                format!("cannot open {}: {why}", path.display()),
            ));
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let md = file.metadata()?;
        if !md.is_file() {
            return Err(refused(&path, "is not a regular file; remove it"));
        }
        if md.uid() != euid() {
            return Err(refused(
                &path,
                &format!("belongs to uid {}, not to you; remove it", md.uid()),
            ));
        }
        if md.nlink() != 1 {
            return Err(refused(
                &path,
                "has other hard links (one may be someone else's file); remove it",
            ));
        }
        if md.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }

    /// Whether `name` is a regular file of this user's (not a link), without opening it.
    pub fn has_own_file(&self, name: &str) -> bool {
        let Ok(c) = c_name(OsStr::new(name)) else {
            return false;
        };
        // SAFETY: an all-zero stat is a valid value for fstatat to overwrite.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, NUL-terminated name, and a stat buffer of the right type.
        let rc = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_uid == euid()
    }

    /// Replaces the content of the file `name` with `bytes` ([`Dir::open_file`], truncated).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut f = self.open_file(name)?;
        f.set_len(0)?;
        f.write_all(bytes)
    }

    /// Removes the entry `name` (a file or a link, never what a link points to); a missing one
    /// is not an error.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let c = c_name(OsStr::new(name))?;
        // SAFETY: valid descriptor and NUL-terminated name.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The names in the directory (read through the held descriptor).
    pub fn names(&self) -> io::Result<Vec<std::ffi::OsString>> {
        // The descriptor's own path names this very directory, whatever its path is now.
        let rd = std::fs::read_dir(crate::platform::fd_dir_path(self.fd.as_raw_fd()))
            .or_else(|_| std::fs::read_dir(&self.path))?;
        Ok(rd.flatten().map(|e| e.file_name()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fs_canon(p: &Path) -> PathBuf {
        std::fs::canonicalize(p).expect("canonicalize")
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("awsenv-safefile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        d
    }

    #[test]
    fn a_planted_symlink_is_never_followed_nor_its_target_truncated() {
        let d = tmp("link");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").expect("write");
        let dir = Dir::open(&d.join("state")).expect("open");
        symlink(&victim, d.join("state/x.lock")).expect("symlink");
        let e = dir.write_file("x.lock", b"").expect_err("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = dir.open_file("x.lock").expect_err("refused");
        assert!(e.to_string().contains("x.lock"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        std::fs::hard_link(&victim, d.join("state/h")).expect("link");
        assert!(dir.open_file("h").is_err(), "a hard link is refused");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_that_is_a_link_or_loose_is_refused() {
        let d = tmp("dir");
        std::fs::create_dir(d.join("real")).expect("mkdir");
        symlink(d.join("real"), d.join("state")).expect("symlink");
        let e = Dir::open(&d.join("state")).expect_err("a link is refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::set_permissions(d.join("real"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let e = Dir::open(&d.join("real")).expect_err("loose is refused");
        assert!(e.to_string().contains("writable by others"), "{e}");
        std::fs::set_permissions(d.join("real"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let dir = Dir::open(&d.join("real")).expect("open");
        dir.write_file("f", b"one").expect("write");
        assert!(dir.has_own_file("f"));
        symlink(d.join("real/f"), d.join("real/l")).expect("symlink");
        assert!(!dir.has_own_file("l"), "a link is not a file of one's own");
        assert!(!dir.has_own_file("missing"));
        dir.write_file("f", b"2").expect("rewrite");
        assert_eq!(
            std::fs::read_to_string(d.join("real/f")).expect("read"),
            "2"
        );
        assert!(dir.subdir("locks").is_ok());
        assert!(dir.names().expect("names").iter().any(|n| n == "f"));
        dir.remove("f").expect("remove");
        dir.remove("f").expect("missing is fine");
        assert!(dir.open_file("../f").is_err());
        let real = dir.real_path_if_private().expect("private");
        assert_eq!(real, fs_canon(&d.join("real")));
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(dir.real_path_if_private().is_none(), "a loose parent");
        let _ = std::fs::remove_dir_all(&d);
    }
}
