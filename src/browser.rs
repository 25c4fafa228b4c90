//! The one place awsenv opens a browser (issue 17), and what it may hand one.
//!
//! - Only a [`WebUrl`] — `https://`, or `http://` on the loopback interface — is ever opened
//!   ([`open`]); anything else (`file:`, `javascript:`, an argument starting with `-`) is refused
//!   with one line. [`WebUrl::parse`] is also awsenv's one check for the endpoints it sends
//!   secrets to (`federation_url`, the IAM Identity Center endpoint overrides).
//! - `/proc/<pid>/cmdline` is readable by every local user, so a URL that must stay secret (the
//!   one-time address of `awsenv login`, the PKCE authorize URL with its `state`) is not put in
//!   the browser's argv: it goes into a [`RedirectPage`], a 0600 HTML file in a directory only
//!   the user can enter, and the browser is given only that file's path ([`open_page`]). A
//!   `RedirectPage` can only be made here, so no other `file:` URL reaches a browser.
//!
//! A browser is there when `$BROWSER` names one (its first `:`-separated entry), on macOS
//! (`open`), or with a graphical display (`DISPLAY` / `WAYLAND_DISPLAY`) and `xdg-open`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

/// The command that opens a URL here, if any (the URL is appended, or replaces `%s`).
pub fn detect() -> Option<Vec<String>> {
    if let Ok(b) = std::env::var("BROWSER")
        && let Some(first) = b.split(':').map(str::trim).find(|s| !s.is_empty())
    {
        return Some(first.split_whitespace().map(str::to_string).collect());
    }
    if cfg!(target_os = "macos") {
        return Some(vec!["open".to_string()]);
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if display && on_path("xdg-open") {
        return Some(vec!["xdg-open".to_string()]);
    }
    None
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| Path::new(&d.join(name)).is_file()))
}

/// A URL that may be opened in a browser or sent secrets: `https://` with a host, or
/// `http://` on `127.0.0.1` / `localhost` / `[::1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebUrl(String);

/// Whether `host` (as [`hyper::Uri::host`] gives it) is the loopback interface.
fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

impl WebUrl {
    /// Checks `url`; `what` names it in the one-line refusal ("federation_url", "the
    /// verification address IAM Identity Center sent").
    pub fn parse(what: &str, url: &str) -> Result<WebUrl> {
        let refuse = || {
            anyhow!(
                "{what} {} must be an https:// URL (http:// only on 127.0.0.1); refusing to use it",
                crate::sanitize::quoted(url.as_bytes(), 200)
            )
        };
        // http::Uri refuses spaces and control characters; the scheme must start the string
        // (so nothing can be taken for a browser option).
        if !url.is_ascii() || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(refuse());
        }
        let uri: hyper::Uri = url.parse().map_err(|_| refuse())?;
        let host = uri.host().unwrap_or_default();
        let lower = url.to_ascii_lowercase();
        match uri.scheme_str() {
            Some("https") if !host.is_empty() && lower.starts_with("https://") => {
                Ok(WebUrl(url.to_string()))
            }
            Some("http") if is_loopback(host) && lower.starts_with("http://") => {
                Ok(WebUrl(url.to_string()))
            }
            _ => Err(refuse()),
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A 0600 HTML page that sends the browser on to a [`WebUrl`] (meta refresh), in a directory
/// only the user can enter (`$XDG_RUNTIME_DIR/awsenv`, else a fresh 0700 directory in the temp
/// directory). Removed when dropped.
pub struct RedirectPage {
    path: PathBuf,
    /// A directory made for this page alone, removed with it.
    own_dir: Option<PathBuf>,
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Why `dir` (not followed if a symlink) is not a directory only this user can use, if it is not.
fn not_private(dir: &Path) -> Option<String> {
    match std::fs::symlink_metadata(dir) {
        Err(e) => Some(format!("{}: {e}", dir.display())),
        Ok(md) if !md.is_dir() => Some(format!("{} is not a directory", dir.display())),
        Ok(md) if md.uid() != euid() => Some(format!("{} is not yours", dir.display())),
        Ok(md) if md.mode() & 0o077 != 0 => Some(format!(
            "{} is open to other users (mode {:o})",
            dir.display(),
            md.mode() & 0o777
        )),
        Ok(_) => None,
    }
}

/// `$XDG_RUNTIME_DIR/awsenv`, made 0700 if missing, when the runtime directory and it are the
/// user's alone.
fn runtime_pages_dir() -> Option<PathBuf> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty())?;
    let runtime = PathBuf::from(runtime);
    if not_private(&runtime).is_some() {
        return None;
    }
    let dir = runtime.join("awsenv");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    not_private(&dir).is_none().then_some(dir)
}

/// `s` with the characters that matter in an HTML attribute or text escaped.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's HTML: an immediate meta refresh to `to`, no referrer, and a link as fallback.
fn page_html(to: &WebUrl) -> String {
    let u = html_escape(to.as_str());
    format!(
        "<!doctype html><meta charset=utf-8><meta name=referrer content=no-referrer>\
         <meta http-equiv=refresh content=\"0;url={u}\"><title>awsenv</title>\
         <p><a href=\"{u}\" rel=noreferrer>Continue</a>\n"
    )
}

impl RedirectPage {
    /// Writes a page that redirects to `to`: created new (`O_EXCL`, `O_NOFOLLOW`), 0600, and
    /// checked to be the user's.
    pub fn create(to: &WebUrl) -> Result<RedirectPage> {
        RedirectPage::create_in(runtime_pages_dir(), to)
    }

    /// [`RedirectPage::create`] in `dir` (checked to be private), or in a fresh temp directory.
    fn create_in(dir: Option<PathBuf>, to: &WebUrl) -> Result<RedirectPage> {
        let dir = dir.filter(|d| not_private(d).is_none());
        let (dir, own_dir) = match dir {
            Some(d) => (d, None),
            None => {
                // mkdir fails on anything already there, so the directory is new and ours.
                let d = std::env::temp_dir().join(format!("awsenv-page-{}", random_hex(16)?));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&d)
                    .map_err(|e| anyhow!("cannot create {}: {e}", d.display()))?;
                if let Some(why) = not_private(&d) {
                    bail!("cannot use {} for the browser page: {why}", d.display());
                }
                (d.clone(), Some(d))
            }
        };
        let path = dir.join(format!("open-{}.html", random_hex(16)?));
        let page = RedirectPage { path, own_dir };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&page.path)
            .map_err(|e| anyhow!("cannot create {}: {e}", page.path.display()))?;
        let md = f
            .metadata()
            .map_err(|e| anyhow!("cannot read {}: {e}", page.path.display()))?;
        if md.uid() != euid() || md.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} is not a private file of yours; not using it",
                page.path.display()
            );
        }
        f.write_all(page_html(to).as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| anyhow!("cannot write {}: {e}", page.path.display()))?;
        Ok(page)
    }

    /// The page's `file://` URL.
    fn url(&self) -> String {
        let mut u = String::from("file://");
        for b in self.path.as_os_str().as_encoded_bytes() {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(b) {
                u.push(*b as char);
            } else {
                u.push_str(&format!("%{b:02X}"));
            }
        }
        u
    }
}

impl Drop for RedirectPage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(d) = &self.own_dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Starts the browser `cmd` on `url` (a checked address).
pub fn open(cmd: &[String], url: &WebUrl) -> Result<()> {
    launch(cmd, url.as_str())
}

/// Starts the browser `cmd` on awsenv's own redirect page; only its path is in the argv.
pub fn open_page(cmd: &[String], page: &RedirectPage) -> Result<()> {
    launch(cmd, &page.url())
}

/// Starts the browser without waiting for it (its exit is reaped in the background). Its
/// output goes nowhere: a browser's chatter must not reach a terminal or a pipe.
fn launch(cmd: &[String], url: &str) -> Result<()> {
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| anyhow!("no browser command"))?;
    let mut c = std::process::Command::new(prog);
    let mut substituted = false;
    for a in args {
        if a.contains("%s") {
            c.arg(a.replace("%s", url));
            substituted = true;
        } else {
            c.arg(a);
        }
    }
    if !substituted {
        c.arg(url);
    }
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow!("cannot start the browser {prog}: {e}"))?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://signin.aws.amazon.com/federation",
            "http://127.0.0.1:9/federation",
            "http://localhost:8080/x",
            "http://[::1]:1/",
            "https://device.sso.us-east-1.amazonaws.com/?user_code=ABCD-EFGH",
        ] {
            assert!(WebUrl::parse("u", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/federation",
            "http://127.0.0.1.evil.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "--renderer-cmd-prefix=/tmp/evil",
            " https://example.com/",
            "https://example.com/\x1b]0;x\x07",
            "https:///nohost",
            "",
        ] {
            let e = WebUrl::parse("the address", bad).map(|_| ()).err();
            let msg = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                msg.starts_with("the address ") && !msg.contains('\n') && !msg.contains('\x1b'),
                "{bad:?}: {msg}"
            );
        }
    }

    #[test]
    fn pages_are_private_and_removed_after_use() {
        let Ok(tmp) = tempfile::tempdir() else {
            panic!("no temp dir")
        };
        let private = tmp.path().join("private");
        let loose = tmp.path().join("loose");
        for (d, mode) in [(&private, 0o700), (&loose, 0o755)] {
            assert!(std::fs::DirBuilder::new().mode(mode).create(d).is_ok());
            assert!(std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).is_ok());
        }
        let to = WebUrl("http://127.0.0.1:1/abc".into());
        let Ok(page) = RedirectPage::create_in(Some(private.clone()), &to) else {
            panic!("no page")
        };
        let path = page.path.clone();
        assert!(path.starts_with(&private) && page.url().starts_with("file:///"));
        let md = std::fs::metadata(&path).ok();
        assert_eq!(md.map(|m| m.permissions().mode() & 0o777), Some(0o600));
        let html = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(html.contains("url=http://127.0.0.1:1/abc\""), "{html}");
        drop(page);
        assert!(!path.exists(), "removed when dropped");
        // A directory other users can enter is not used: a fresh private one is made instead.
        let Ok(page) = RedirectPage::create_in(Some(loose.clone()), &to) else {
            panic!("no page")
        };
        let (path, own) = (page.path.clone(), page.own_dir.clone());
        assert!(!path.starts_with(&loose) && own.is_some());
        drop(page);
        assert!(!path.exists() && own.is_some_and(|d| !d.exists()));
    }

    #[test]
    fn page_escapes_the_target() {
        let to = WebUrl("https://x/?a=1&b=\"<".into());
        let html = page_html(&to);
        assert!(
            html.contains("url=https://x/?a=1&amp;b=&quot;&lt;\""),
            "{html}"
        );
    }
}
