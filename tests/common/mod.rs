//! Shared harness for awsenv's integration tests (SPEC §9).
//!
//! Every integration test file starts with `mod common;` and builds on:
//!
//! - [`require_tool`]: skip a test when an external tool is missing, except under `CI=true`
//!   where a missing tool is a hard failure with an install hint.
//! - [`Moto`]: a private `moto_server` (STS emulator) on a free loopback port with its request
//!   recorder switched on, so tests can assert which parameters each STS call carried.
//! - [`TestEnv`]: an isolated `HOME`, `AWS_CONFIG_FILE`, `XDG_*` tree and file-store passphrase,
//!   plus [`TestEnv::command`] which starts processes from an empty environment so nothing of the
//!   developer's (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, …) leaks into a test.
//! - [`KeyringSession`]: a private D-Bus session bus with an unlocked gnome-keyring Secret
//!   Service, for the keyring backend tests; the developer's keyring is never touched.
//!
//! Not every test file uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod metadata;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`Moto::start`] waits for `moto_server` to answer before giving up.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`KeyringSession::start`] waits for the bus and the Secret Service.
const KEYRING_START_TIMEOUT: Duration = Duration::from_secs(15);
/// The password of the private test keyring (it only protects throwaway test data).
const KEYRING_PASSWORD: &str = "pw";

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/// True when running under CI (`CI=true` or `CI=1`), where missing tools are failures.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Ok("true" | "1")
    )
}

/// How to install the external tool `name` on Debian (used in skip/failure messages).
pub fn install_hint(name: &str) -> String {
    match name {
        "gnome-keyring-daemon" => "apt-get install gnome-keyring".to_string(),
        "dbus-run-session" | "dbus-daemon" | "dbus-send" => "apt-get install dbus".to_string(),
        "secret-tool" => "apt-get install libsecret-tools".to_string(),
        "moto_server" => "pip install 'moto[server]'".to_string(),
        "aws" => "pip install awscli".to_string(),
        "mitmdump" => "scripts/test installs it: pip install mitmproxy==11.0.2 into ~/.cache/awsenv-test/mitm-venv".to_string(),
        "terraform" => {
            "install Terraform 1.11+ at /usr/local/bin/terraform (part of the machine image)"
                .to_string()
        }
        // zsh, fish, direnv, hyperfine, shellcheck, tmux, bash, … : the package has the tool's name.
        other => format!("apt-get install {other}"),
    }
}

/// Full path of executable `name` if it is on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True if the executable `name` is on `PATH`.
///
/// When it is missing: under `CI=true` this panics (`"zsh is not installed: apt-get install
/// zsh"`), because CI must run every test; otherwise it prints a note to stderr and returns
/// false, and the caller returns early:
///
/// ```ignore
/// if !common::require_tool("zsh") { return; }
/// ```
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    let message = format!("{name} is not installed: {}", install_hint(name));
    if in_ci() {
        panic!("{message} (CI=true: missing tools are failures, not skips)");
    }
    eprintln!("note: skipping test, {message}");
    record_skip();
    false
}

/// Notes the running test as skipped in the file `AWSENV_TEST_SKIPS` names (one line per
/// test), so that `scripts/test` counts skipped tests apart from passed ones.
fn record_skip() {
    let Some(path) = std::env::var_os("AWSENV_TEST_SKIPS") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{exe} {test}");
    }
}

/// [`require_tool`] for several tools; true only if all are present (all missing ones are
/// reported, not just the first).
pub fn require_tools(names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| find_tool(name).is_none())
        .collect();
    if missing.len() > 1 && in_ci() {
        let all: Vec<String> = missing
            .iter()
            .map(|name| format!("{name} is not installed: {}", install_hint(name)))
            .collect();
        panic!(
            "{} (CI=true: missing tools are failures, not skips)",
            all.join("; ")
        );
    }
    // Report every missing tool (one note each) outside CI.
    missing.iter().filter(|name| !require_tool(name)).count() == 0
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of the port-probe listener")
        .port()
}

/// `n` random bytes from the kernel, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client (std only) for the moto control API
// ---------------------------------------------------------------------------------------------

/// A response from [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// The body (de-chunked if needed).
    pub body: Vec<u8>,
}

/// Sends one HTTP/1.1 request with `Connection: close` to `127.0.0.1:port` and reads the whole
/// response. Errors are returned as text (connection refused while a server starts is normal).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<HttpResponse, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("send: {e}"))?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;

    let split = find_bytes(&raw, b"\r\n\r\n").ok_or("no end of HTTP headers in response")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse { status, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find_bytes(data, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers for recorded requests
// ---------------------------------------------------------------------------------------------

/// Decodes `application/x-www-form-urlencoded` text: `%XX` escapes and `+` as space.
/// Malformed escapes are kept literally; invalid UTF-8 is replaced lossily.
pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a form-encoded string (`a=1&b=x%2Fy`) into decoded key/value pairs. A key without
/// `=` gets an empty value; later duplicates win.
pub fn parse_form(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes standard base64 (with or without `=` padding; whitespace ignored).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = value(c).ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Moto
// ---------------------------------------------------------------------------------------------

/// One request seen by moto's recorder, reduced to what STS tests care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The STS action, e.g. `GetSessionToken`, `AssumeRole`, `GetCallerIdentity`
    /// (empty if the request carried no `Action`).
    pub action: String,
    /// All decoded parameters of the query string and the form body, e.g. `SerialNumber`,
    /// `TokenCode`, `RoleArn`, `RoleSessionName`, `DurationSeconds`, `Version`.
    pub params: BTreeMap<String, String>,
    /// HTTP method (`POST` for the form-encoded query protocol).
    pub method: String,
    /// Full request URL as recorded.
    pub url: String,
    /// Request headers as recorded (e.g. `Authorization` shows the access key id used).
    pub headers: BTreeMap<String, String>,
}

impl RecordedRequest {
    /// The parameter `name`, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The access key id that signed this request, from the SigV4 `Authorization` header.
    pub fn access_key_id(&self) -> Option<&str> {
        let auth = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))?
            .1;
        let rest = auth.split("Credential=").nth(1)?;
        rest.split('/').next()
    }

    /// Parses one line of moto's `download-recording` output (see [`Moto::recorded_requests`]).
    pub fn from_recording_line(line: &str) -> Result<Self, String> {
        let entry: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("recording line is not JSON: {e}"))?;
        let text = |key: &str| entry.get(key).and_then(|v| v.as_str()).unwrap_or_default();
        let method = text("method").to_string();
        let url = text("url").to_string();
        let body_text = text("body");
        let body = if entry.get("body_encoded").and_then(|v| v.as_bool()) == Some(true) {
            let bytes = base64_decode(body_text)?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            body_text.to_string()
        };
        let headers: BTreeMap<String, String> = entry
            .get("headers")
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut params = url
            .split_once('?')
            .map(|(_, query)| parse_form(query))
            .unwrap_or_default();
        let form = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .is_none_or(|(_, v)| v.contains("x-www-form-urlencoded"));
        if form {
            params.extend(parse_form(body.trim()));
        }
        let action = params.get("Action").cloned().unwrap_or_default();
        Ok(Self {
            action,
            params,
            method,
            url,
            headers,
        })
    }
}

/// A private `moto_server` on a free loopback port, with its recorder on; killed on drop.
///
/// Point awsenv at it with [`TestEnv::with_moto`] (sets `AWS_ENDPOINT_URL_STS`). Moto accepts any
/// access key and never checks MFA codes, but its recorder shows each call's parameters.
pub struct Moto {
    /// The port moto listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    /// Holds moto's log (`moto.log`) and recording file; removed on drop.
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p PORT`, waits (up to 20 s) until `/moto-api/` answers,
    /// then resets and starts the recorder. Panics with moto's log on failure.
    ///
    /// The recording file is per instance (`MOTO_RECORDER_FILEPATH` in a temp dir): moto's
    /// default is `./moto_recording`, which parallel tests would share.
    pub fn start() -> Self {
        let mut last_error = String::new();
        // The free port can be taken between probe and bind; retry a few times on early exit.
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("awsenv-moto-")
                .tempdir()
                .expect("create moto temp dir");
            let port = free_port();
            let log_path = dir.path().join("moto.log");
            let log = fs::File::create(&log_path).expect("create moto.log");
            let log_err = log.try_clone().expect("clone moto.log handle");
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path())
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"))
                .env_remove("MOTO_ENABLE_RECORDING")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start moto_server ({e}): {}",
                        install_hint("moto_server")
                    )
                });
            watch_and_kill(child.id(), dir.path());
            let mut moto = Moto {
                port,
                url: format!("http://127.0.0.1:{port}"),
                child,
                dir,
            };
            match moto.wait_ready() {
                Ok(()) => {
                    moto.reset_recorder();
                    return moto;
                }
                Err(e) => last_error = e,
            }
            // `moto` is dropped here (killed); try another port.
        }
        panic!("moto_server did not start: {last_error}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "moto_server on port {} exited with {status}; log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if let Ok(resp) = http_request(self.port, "GET", "/moto-api/", b"")
                && resp.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "moto_server on port {} did not answer GET {}/moto-api/ within {:?}; log:\n{}",
                    self.port,
                    self.url,
                    MOTO_START_TIMEOUT,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// moto's stdout/stderr so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    fn control(&self, method: &str, path: &str) -> Vec<u8> {
        let resp = http_request(self.port, method, path, b"")
            .unwrap_or_else(|e| panic!("moto {method} {path} failed: {e}; log:\n{}", self.log()));
        assert!(
            resp.status == 200,
            "moto {method} {path} answered HTTP {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
        resp.body
    }

    /// Forgets every recorded request and keeps recording.
    pub fn reset_recorder(&self) {
        self.control("POST", "/moto-api/recorder/reset-recording");
        self.control("POST", "/moto-api/recorder/start-recording");
    }

    /// Everything recorded since start or the last [`Moto::reset_recorder`], oldest first.
    ///
    /// moto 5.x's `GET /moto-api/recorder/download-recording` returns one JSON object per line:
    /// `{"headers": {...}, "method": "POST", "url": "http://127.0.0.1:PORT/",
    /// "body": "<base64>", "body_encoded": true}`; the body is base64 of the form-encoded STS
    /// request (`Action=GetSessionToken&Version=2011-06-15&SerialNumber=...&TokenCode=...`).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        let body = self.control("GET", "/moto-api/recorder/download-recording");
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                RecordedRequest::from_recording_line(line)
                    .unwrap_or_else(|e| panic!("cannot parse moto recording line ({e}): {line}"))
            })
            .collect()
    }

    /// Recorded requests whose action is `action` (e.g. `"AssumeRole"`).
    pub fn requests(&self, action: &str) -> Vec<RecordedRequest> {
        self.recorded_requests()
            .into_iter()
            .filter(|r| r.action == action)
            .collect()
    }

    /// How many recorded requests have action `action`.
    pub fn count(&self, action: &str) -> usize {
        self.requests(action).len()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// TestEnv
// ---------------------------------------------------------------------------------------------

/// Detaches `cmd` from any terminal: a new session (`setsid`, so `/dev/tty` cannot be opened)
/// and stdin closed. A command that would prompt fails at once instead of blocking a test.
pub fn detach(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe and only affects the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd
}

/// Kills `pid` and removes `dir` once this test process has exited, for servers kept in a
/// `static` (whose `Drop` never runs): a detached `sh` polls for our pid once a second.
pub fn watch_and_kill(pid: u32, dir: &Path) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; rm -rf -- \"$1\""
    );
    let _ = Command::new("sh")
        .args(["-c", &script, "awsenv-test-watchdog"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// An isolated home for one test: everything awsenv, the AWS CLI or a shell could read or write
/// lives under [`TestEnv::dir`], which is deleted on drop.
///
/// Layout: `home/` (`HOME`, with `.aws/config` and `.aws/credentials` paths), `config/`, `data/`,
/// `state/`, `cache/` (the `XDG_*_HOME` dirs) and `run/` (`XDG_RUNTIME_DIR`, mode 0700).
pub struct TestEnv {
    /// The temp dir holding everything.
    pub dir: tempfile::TempDir,
    /// `HOME` for commands (`dir/home`).
    pub home: PathBuf,
    /// `XDG_CONFIG_HOME`.
    pub config_home: PathBuf,
    /// `XDG_DATA_HOME`.
    pub data_home: PathBuf,
    /// `XDG_STATE_HOME`.
    pub state_home: PathBuf,
    /// `XDG_CACHE_HOME`.
    pub cache_home: PathBuf,
    /// `XDG_RUNTIME_DIR` (0700).
    pub runtime_dir: PathBuf,
    passphrase: String,
    /// Variables for every command; later settings override earlier ones.
    vars: BTreeMap<String, String>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Creates the temp tree and the base variables (see [`TestEnv::envs`]).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("awsenv-test-")
            .tempdir()
            .expect("create test temp dir");
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let config_home = root.join("config");
        let data_home = root.join("data");
        let state_home = root.join("state");
        let cache_home = root.join("cache");
        let runtime_dir = root.join("run");
        for d in [
            &home.join(".aws"),
            &config_home,
            &data_home,
            &state_home,
            &cache_home,
            &runtime_dir,
        ] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        for d in [&root, &runtime_dir] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700))
                .unwrap_or_else(|e| panic!("chmod 0700 {}: {e}", d.display()));
        }
        let passphrase = format!("test-passphrase-{}", random_hex(16));
        let path_of = |p: &Path| p.to_string_lossy().into_owned();
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("HOME", path_of(&home)),
            ("AWS_CONFIG_FILE", path_of(&home.join(".aws/config"))),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                path_of(&home.join(".aws/credentials")),
            ),
            ("XDG_CONFIG_HOME", path_of(&config_home)),
            ("XDG_DATA_HOME", path_of(&data_home)),
            ("XDG_STATE_HOME", path_of(&state_home)),
            ("XDG_CACHE_HOME", path_of(&cache_home)),
            ("XDG_RUNTIME_DIR", path_of(&runtime_dir)),
            ("AWSENV_BACKEND", "file".to_string()),
            ("AWSENV_FILE_PASSPHRASE", passphrase.clone()),
            // Keep the SDKs/CLI from probing 169.254.169.254 (slow timeouts, never wanted here).
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ] {
            vars.insert(k.to_string(), v);
        }
        Self {
            dir,
            home,
            config_home,
            data_home,
            state_home,
            cache_home,
            runtime_dir,
            passphrase,
            vars,
        }
    }

    /// The temp dir's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the AWS config file (`AWS_CONFIG_FILE`).
    pub fn aws_config_path(&self) -> PathBuf {
        self.home.join(".aws/config")
    }

    /// Path of the AWS shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`).
    pub fn aws_credentials_path(&self) -> PathBuf {
        self.home.join(".aws/credentials")
    }

    /// Writes `text` to the AWS config file (replacing it).
    pub fn write_aws_config(&self, text: &str) {
        let path = self.aws_config_path();
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes `text` to the AWS shared credentials file (replacing it).
    pub fn write_aws_credentials(&self, text: &str) {
        let path = self.aws_credentials_path();
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes `$XDG_CONFIG_HOME/awsenv/config.toml`.
    pub fn write_awsenv_settings(&self, text: &str) {
        let path = self.config_home.join("awsenv/config.toml");
        fs::create_dir_all(self.config_home.join("awsenv")).expect("create awsenv config dir");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The random per-test file-store passphrase (`AWSENV_FILE_PASSPHRASE`).
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// Sets (or overrides) a variable for every command made from now on.
    pub fn set_var(&mut self, key: &str, value: &str) {
        self.vars.insert(key.to_string(), value.to_string());
    }

    /// Removes a variable from the set given to commands.
    pub fn remove_var(&mut self, key: &str) {
        self.vars.remove(key);
    }

    /// Points STS at `moto` (`AWS_ENDPOINT_URL_STS`).
    pub fn with_moto(&mut self, moto: &Moto) {
        self.set_var("AWS_ENDPOINT_URL_STS", &moto.url);
    }

    /// Uses the keyring backend on `keyring`'s private bus (`AWSENV_BACKEND=keyring`,
    /// `DBUS_SESSION_BUS_ADDRESS`).
    pub fn with_keyring(&mut self, keyring: &KeyringSession) {
        self.set_var("AWSENV_BACKEND", "keyring");
        for (k, v) in keyring.envs() {
            self.set_var(&k, &v);
        }
    }

    /// The test's variables: `HOME`, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, the
    /// `XDG_*` dirs, `AWSENV_BACKEND=file`, `AWSENV_FILE_PASSPHRASE`, `AWS_EC2_METADATA_DISABLED`,
    /// plus whatever [`TestEnv::with_moto`] / [`TestEnv::set_var`] added.
    pub fn envs(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `PATH` for commands: the directory of the awsenv binaries first (so shell hooks find
    /// `awsenv`), then the test runner's `PATH` (for shells, `aws`, `moto_server`, …).
    pub fn path_var(&self) -> String {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_awsenv"))
            .parent()
            .expect("awsenv binary has a parent dir")
            .to_path_buf();
        let mut dirs = vec![bin_dir];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs)
            .expect("PATH entries are joinable")
            .to_string_lossy()
            .into_owned()
    }

    /// A command for `program` with an **empty** environment plus only `PATH`, `LANG=C.UTF-8`,
    /// `TERM=dumb` and [`TestEnv::envs`]; its working directory is `HOME`. No developer variable
    /// (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, `AWS_VAULT`, …) leaks in.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", self.path_var())
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .envs(self.envs())
            .current_dir(&self.home);
        cmd
    }

    /// Stores long-term keys for `profile` with `awsenv add PROFILE --env`; panics on failure.
    pub fn add_keys(&self, profile: &str, key_id: &str, secret: &str) {
        let out = detach(
            self.awsenv()
                .args(["add", profile, "--env"])
                .env("AWS_ACCESS_KEY_ID", key_id)
                .env("AWS_SECRET_ACCESS_KEY", secret),
        )
        .output()
        .expect("run awsenv add");
        assert!(
            out.status.success(),
            "awsenv add {profile}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`TestEnv::command`] for the awsenv binary under test.
    pub fn awsenv(&self) -> Command {
        self.command(env!("CARGO_BIN_EXE_awsenv"))
    }

    /// Every regular file under the temp dir (recursively, symlinks not followed) whose bytes
    /// contain any of `needles`. Use to assert that no secret is stored in plaintext.
    pub fn scan_for_plaintext(&self, needles: &[&str]) -> Vec<PathBuf> {
        let needles: Vec<&[u8]> = needles
            .iter()
            .map(|n| n.as_bytes())
            .filter(|n| !n.is_empty())
            .collect();
        let mut hits = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file()
                    && let Ok(bytes) = fs::read(&path)
                    && needles.iter().any(|n| find_bytes(&bytes, n).is_some())
                {
                    hits.push(path);
                }
            }
        }
        hits.sort();
        hits
    }
}

// ---------------------------------------------------------------------------------------------
// KeyringSession
// ---------------------------------------------------------------------------------------------

/// A private D-Bus session bus with an unlocked gnome-keyring Secret Service
/// (`org.freedesktop.secrets`), for keyring-backend tests. Both daemons are killed on drop.
///
/// How it starts:
/// 1. `dbus-daemon --session --nofork --nopidfile --print-address=1
///    --address=unix:path=<dir>/bus`; the first stdout line is `DBUS_SESSION_BUS_ADDRESS`.
/// 2. `gnome-keyring-daemon --foreground --unlock --components=secrets` with that address and the
///    password `pw` on stdin (then EOF); it creates and unlocks a `login` keyring, which becomes
///    the default collection, so `secret-tool store` works without any prompt.
/// 3. Waits until `org.freedesktop.secrets` has an owner on the bus (`dbus-send … NameHasOwner`).
///
/// Both daemons run with an empty environment plus `PATH` and the [`TestEnv`]'s `HOME` and
/// `XDG_*` dirs, so the keyring files land in `<TestEnv>/data/keyrings/` and the developer's
/// keyring and session bus are never touched (D-Bus activation, if it happens, inherits this
/// isolated environment too).
pub struct KeyringSession {
    /// `DBUS_SESSION_BUS_ADDRESS` of the private bus.
    pub bus_address: String,
    dbus: Child,
    // Kept open so dbus-daemon never writes to a closed pipe.
    _dbus_stdout: BufReader<ChildStdout>,
    keyring: Option<Child>,
}

impl KeyringSession {
    /// Tools this needs (for [`require_tools`]).
    pub const TOOLS: [&'static str; 3] = ["dbus-daemon", "dbus-send", "gnome-keyring-daemon"];

    /// Starts the bus and the keyring for `env` (see the type docs). Panics with a clear message
    /// if a daemon cannot be started or the Secret Service does not appear within 15 s.
    pub fn start(env: &TestEnv) -> Self {
        let bus_dir = env.root().join("dbus");
        fs::create_dir_all(&bus_dir).expect("create private bus dir");
        fs::set_permissions(&bus_dir, fs::Permissions::from_mode(0o700)).expect("chmod bus dir");
        let socket = bus_dir.join("bus");

        let base_env = |cmd: &mut Command| {
            cmd.env_clear()
                .env("PATH", env.path_var())
                .env("LANG", "C.UTF-8")
                .env("HOME", &env.home)
                .env("XDG_CONFIG_HOME", &env.config_home)
                .env("XDG_DATA_HOME", &env.data_home)
                .env("XDG_STATE_HOME", &env.state_home)
                .env("XDG_CACHE_HOME", &env.cache_home)
                .env("XDG_RUNTIME_DIR", &env.runtime_dir)
                .current_dir(&env.home);
        };

        let mut dbus_cmd = Command::new("dbus-daemon");
        base_env(&mut dbus_cmd);
        let mut dbus = dbus_cmd
            .arg("--session")
            .arg("--nofork")
            .arg("--nopidfile")
            .arg("--nosyslog")
            .arg("--print-address=1")
            .arg(format!("--address=unix:path={}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start dbus-daemon ({e}): {}",
                    install_hint("dbus-daemon")
                )
            });
        let mut dbus_stdout =
            BufReader::new(dbus.stdout.take().expect("dbus-daemon stdout is piped"));
        let mut bus_address = String::new();
        // dbus-daemon prints the address once it listens; a failure closes stdout (EOF).
        let read = dbus_stdout.read_line(&mut bus_address);
        let bus_address = bus_address.trim().to_string();
        if read.is_err() || bus_address.is_empty() {
            let _ = dbus.kill();
            let status = dbus.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("dbus-daemon did not print its address (read: {read:?}, exit: {status})");
        }

        let mut session = KeyringSession {
            bus_address,
            dbus,
            _dbus_stdout: dbus_stdout,
            keyring: None,
        };

        let mut keyring_cmd = Command::new("gnome-keyring-daemon");
        base_env(&mut keyring_cmd);
        let mut keyring = keyring_cmd
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &session.bus_address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start gnome-keyring-daemon ({e}): {}",
                    install_hint("gnome-keyring-daemon")
                )
            });
        {
            // The unlock password is read from stdin up to EOF; dropping the pipe closes it.
            let mut stdin = keyring
                .stdin
                .take()
                .expect("gnome-keyring-daemon stdin is piped");
            stdin
                .write_all(KEYRING_PASSWORD.as_bytes())
                .expect("write the keyring password to gnome-keyring-daemon");
        }
        session.keyring = Some(keyring);
        session.wait_for_secret_service();
        session
    }

    fn wait_for_secret_service(&mut self) {
        let deadline = Instant::now() + KEYRING_START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.keyring.as_mut().map(Child::try_wait) {
                panic!("gnome-keyring-daemon exited early with {status}");
            }
            if let Ok(Some(status)) = self.dbus.try_wait() {
                panic!("dbus-daemon exited early with {status}");
            }
            let out = Command::new("dbus-send")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run dbus-send ({e}): {}", install_hint("dbus-send"))
                });
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("boolean true")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "org.freedesktop.secrets did not appear on the private bus {} within {:?}",
                self.bus_address,
                KEYRING_START_TIMEOUT
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Variables to add to a command so it talks to this keyring: `DBUS_SESSION_BUS_ADDRESS`.
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![(
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            self.bus_address.clone(),
        )]
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Fake STS servers
// ---------------------------------------------------------------------------------------------

/// Reads one HTTP/1.1 request (head and `Content-Length` body) from `s`; `None` at EOF or on
/// a malformed request.
fn read_http_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(i) = find_bytes(&raw, b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 || raw.len() > 1 << 20 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = raw[split + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(len);
    Some((head, body))
}

/// The value of header `name` in a request or response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// A fake STS on a free loopback port that answers every request with the same raw HTTP
/// response (`status`, optional `Content-Type`, `body` bytes) and closes the connection.
/// Returns its URL; the server lives until the test process exits.
pub fn fake_sts_reply(status: u16, content_type: Option<&str>, body: &[u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake STS");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("fake STS address").port()
    );
    let mut resp = format!("HTTP/1.1 {status} Whatever\r\n").into_bytes();
    if let Some(ct) = content_type {
        resp.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    resp.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    resp.extend_from_slice(body);
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = read_http_request(&mut s);
            let _ = s.write_all(&resp);
            let _ = s.shutdown(Shutdown::Both);
        }
    });
    url
}

/// AWS's exact answer to AssumeRole with `DurationSeconds` over 3600 when it is signed with
/// temporary credentials (role chaining): HTTP 400, `ValidationError`.
pub const ROLE_CHAINING_MESSAGE: &str = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.";

/// A proxy in front of [`Moto`] that enforces what moto does not: AWS refuses AssumeRole with
/// `DurationSeconds` > 3600 signed by temporary credentials (a request with a session token or
/// an `ASIA…` key: an assumed role or a GetSessionToken session) with
/// [`ROLE_CHAINING_MESSAGE`]. Everything else is forwarded to
/// moto unchanged (moto's recorder sees only forwarded requests). One request per connection.
pub struct StsProxy {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_STS`.
    pub url: String,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StsProxy {
    /// Starts the proxy for `moto`; it lives until the test process exits.
    pub fn start(moto: &Moto) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the STS proxy");
        let url = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("proxy address").port()
        );
        let refused = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        let upstream = moto.port;
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut s = s;
                    let Some((head, body)) = read_http_request(&mut s) else {
                        return;
                    };
                    let form = parse_form(&String::from_utf8_lossy(&body));
                    // Temporary credentials sign with a session token (moto's GetSessionToken
                    // even hands out an `AKIA…` id with one), AWS's always start with ASIA.
                    let temporary = header(&head, "x-amz-security-token").is_some()
                        || header(&head, "authorization")
                            .and_then(|a| a.split("Credential=").nth(1))
                            .is_some_and(|c| c.starts_with("ASIA"));
                    let long = form
                        .get("DurationSeconds")
                        .and_then(|d| d.parse::<u64>().ok())
                        .is_some_and(|d| d > 3600);
                    let reply = if form.get("Action").map(String::as_str) == Some("AssumeRole")
                        && temporary
                        && long
                    {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = format!(
                            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>ValidationError</Code>\n    <Message>{ROLE_CHAINING_MESSAGE}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
                            random_hex(8)
                        );
                        format!(
                            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .into_bytes()
                    } else {
                        match forward(upstream, &head, &body) {
                            Some(r) => r,
                            None => return,
                        }
                    };
                    let _ = s.write_all(&reply);
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
        });
        StsProxy { url, refused }
    }

    /// How many AssumeRole calls the proxy refused as role chaining over one hour.
    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Sends one request to `127.0.0.1:port` with `Connection: close` and returns the response
/// with its `Connection` header replaced by `close`.
fn forward(port: u16, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", port)).ok()?;
    up.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req: Vec<u8> = Vec::new();
    for l in head.split("\r\n") {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            req.extend_from_slice(l.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    req.extend_from_slice(body);
    up.write_all(&req).ok()?;
    let mut raw = Vec::new();
    up.read_to_end(&mut raw).ok()?;
    let split = find_bytes(&raw, b"\r\n\r\n")?;
    let rhead = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut out = Vec::new();
    for l in rhead.split("\r\n") {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&raw[split + 4..]);
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Fault injection in front of moto (IAM and STS)
// ---------------------------------------------------------------------------------------------

/// Sends one AWS query-protocol call straight to moto, as if signed by `key_id` for `service`
/// (`iam`, `sts`): moto reads the service and the caller from the SigV4 header and checks no
/// signature. For setting up users and keys, and reading IAM's state, in tests.
pub fn moto_call(
    moto: &Moto,
    service: &str,
    key_id: &str,
    params: &[(&str, &str)],
) -> Result<String, String> {
    let version = if service == "iam" {
        "2010-05-08"
    } else {
        "2011-06-15"
    };
    let mut body = format!("Version={version}");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                body.push(b as char);
            } else {
                body.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut stream =
        TcpStream::connect(("127.0.0.1", moto.port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00\r\n\r\n",
        moto.port,
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status_ok = text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if status_ok {
        Ok(body)
    } else {
        Err(format!(
            "{}: {body}",
            text.lines().next().unwrap_or_default()
        ))
    }
}

/// Every `<tag>…</tag>` text in `xml`, in order (enough for moto's flat answers).
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_string());
        rest = &rest[j + close.len()..];
    }
    out
}

/// One request the [`FaultProxy`] saw.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    /// The service in the SigV4 credential scope: `iam`, `sts`.
    pub service: String,
    /// The `Action` parameter, e.g. `CreateAccessKey`.
    pub action: String,
    /// Every decoded form parameter.
    pub params: BTreeMap<String, String>,
    /// The access key id that signed it.
    pub key_id: String,
    /// Whether it carried a session token (signed with temporary credentials).
    pub with_session: bool,
    /// Whether a fault was injected into it.
    pub faulted: bool,
}

/// What the [`FaultProxy`] does to a request that matches a rule.
pub enum Fault {
    /// Answer with AWS's error `code` and HTTP `status` without forwarding it to moto.
    Refuse {
        /// HTTP status.
        status: u16,
        /// AWS error code, e.g. `AccessDenied`.
        code: &'static str,
    },
    /// Forward it to moto (which does the work), then answer with an error, as if the answer
    /// was lost on the way.
    LoseAnswer {
        /// HTTP status.
        status: u16,
        /// AWS error code.
        code: &'static str,
    },
    /// Forward it to moto, then run the hook on moto's raw answer (it may change it, or
    /// break something on the side) before passing the answer on.
    Then(AnswerHook),
}

/// A hook on moto's raw answer (see [`Fault::Then`]).
pub type AnswerHook = Box<dyn FnMut(&mut Vec<u8>) + Send>;

/// Which requests a fault applies to.
type Matcher = Box<dyn Fn(&ProxiedRequest) -> bool + Send>;

struct FaultRule {
    matches: Matcher,
    fault: Fault,
    /// How many more requests it applies to (`None`: all).
    times: Option<usize>,
}

#[derive(Default)]
struct FaultState {
    rules: Vec<FaultRule>,
    seen: Vec<ProxiedRequest>,
    /// (key id, secret) of every CreateAccessKey answer that passed through.
    created: Vec<(String, String)>,
}

/// A proxy in front of [`Moto`] for IAM and STS (point `AWS_ENDPOINT_URL_IAM` and
/// `AWS_ENDPOINT_URL_STS` at [`FaultProxy::url`]): it records every request (service, action,
/// signing key, session or not), keeps the keys that CreateAccessKey hands out (so a test
/// knows the new secret and can look for it where it must not be), and injects the faults a
/// test asks for into chosen calls. One request per connection.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: std::sync::Arc<std::sync::Mutex<FaultState>>,
}

fn aws_error(service: &str, status: u16, code: &str) -> Vec<u8> {
    let ns = if service == "iam" {
        "https://iam.amazonaws.com/doc/2010-05-08/"
    } else {
        "https://sts.amazonaws.com/doc/2011-06-15/"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        random_hex(8)
    );
    format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl FaultProxy {
    /// Starts the proxy for `moto`; it lives until the test process exits.
    pub fn start(moto: &Moto) -> Self {
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let url = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("proxy address").port()
        );
        let state = Arc::new(Mutex::new(FaultState::default()));
        let shared = state.clone();
        let upstream = moto.port;
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let mut s = s;
                    let Some((head, body)) = read_http_request(&mut s) else {
                        return;
                    };
                    let params = parse_form(&String::from_utf8_lossy(&body));
                    let auth = header(&head, "authorization").unwrap_or_default();
                    let scope = auth
                        .split("Credential=")
                        .nth(1)
                        .and_then(|c| c.split([',', ' ']).next())
                        .unwrap_or_default();
                    let mut parts = scope.split('/');
                    let key_id = parts.next().unwrap_or_default().to_string();
                    let service = parts.nth(2).unwrap_or_default().to_string();
                    let mut req = ProxiedRequest {
                        service: service.clone(),
                        action: params.get("Action").cloned().unwrap_or_default(),
                        params,
                        key_id,
                        with_session: header(&head, "x-amz-security-token").is_some(),
                        faulted: false,
                    };
                    let mut guard = state.lock().expect("proxy state");
                    let rule = guard
                        .rules
                        .iter()
                        .position(|r| r.times != Some(0) && (r.matches)(&req));
                    req.faulted = rule.is_some();
                    guard.seen.push(req.clone());
                    let mut fault = None;
                    if let Some(i) = rule {
                        let r = &mut guard.rules[i];
                        if let Some(t) = &mut r.times {
                            *t -= 1;
                        }
                        fault = Some(i);
                    }
                    drop(guard);
                    let refuse = fault.and_then(|i| {
                        let g = state.lock().expect("proxy state");
                        match g.rules[i].fault {
                            Fault::Refuse { status, code } => Some((status, code)),
                            _ => None,
                        }
                    });
                    let reply = if let Some((status, code)) = refuse {
                        aws_error(&service, status, code)
                    } else {
                        let Some(mut answer) = forward(upstream, &head, &body) else {
                            return;
                        };
                        let text = String::from_utf8_lossy(&answer).into_owned();
                        if req.action == "CreateAccessKey" {
                            let ids = xml_values(&text, "AccessKeyId");
                            let secrets = xml_values(&text, "SecretAccessKey");
                            if let (Some(id), Some(secret)) = (ids.first(), secrets.first()) {
                                state
                                    .lock()
                                    .expect("proxy state")
                                    .created
                                    .push((id.clone(), secret.clone()));
                            }
                        }
                        match fault {
                            None => answer,
                            Some(i) => {
                                let mut g = state.lock().expect("proxy state");
                                match &mut g.rules[i].fault {
                                    Fault::LoseAnswer { status, code } => {
                                        aws_error(&service, *status, code)
                                    }
                                    Fault::Then(hook) => {
                                        hook(&mut answer);
                                        answer
                                    }
                                    Fault::Refuse { .. } => answer,
                                }
                            }
                        }
                    };
                    let _ = s.write_all(&reply);
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
        });
        FaultProxy { url, state }
    }

    /// From now on, `fault` applies to the requests `matches` picks (`times` of them, or all).
    pub fn inject(
        &self,
        matches: impl Fn(&ProxiedRequest) -> bool + Send + 'static,
        fault: Fault,
        times: Option<usize>,
    ) {
        self.state
            .lock()
            .expect("proxy state")
            .rules
            .push(FaultRule {
                matches: Box::new(matches),
                fault,
                times,
            });
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.state.lock().expect("proxy state").rules.clear();
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.state.lock().expect("proxy state").seen.clone()
    }

    /// The requests so far whose action is `action`.
    pub fn calls(&self, action: &str) -> Vec<ProxiedRequest> {
        self.seen()
            .into_iter()
            .filter(|r| r.action == action)
            .collect()
    }

    /// (key id, secret) of every key CreateAccessKey handed out through the proxy.
    pub fn created_keys(&self) -> Vec<(String, String)> {
        self.state.lock().expect("proxy state").created.clone()
    }
}

/// Processes whose command line (`/proc/<pid>/cmdline`) contains any of `needles`, as
/// `pid: command line`. Use to assert that no secret is ever passed in argv.
pub fn argv_containing(needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return hits;
    };
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(raw) = fs::read(ent.path().join("cmdline")) else {
            continue;
        };
        if needles
            .iter()
            .filter(|n| !n.is_empty())
            .any(|n| find_bytes(&raw, n.as_bytes()).is_some())
        {
            hits.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&raw).replace('\0', " ")
            ));
        }
    }
    hits
}

/// Whether this test runs as root (needed to make a second local user). Outside CI a test
/// that needs root is skipped with a note; under `CI=true` it fails instead.
pub fn require_root() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let message = "this test needs root (it makes a throwaway second local user)";
    if in_ci() {
        panic!("{message} (CI=true: tests that need root do not skip)");
    }
    eprintln!("note: skipping test, {message}");
    record_skip();
    false
}

/// A throwaway local user (`useradd`, no home), removed (`userdel`) on drop. Needs root.
pub struct SecondUser {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
}

impl SecondUser {
    /// Makes the user, or `None` (skipped, see [`require_root`]) when not root.
    pub fn create() -> Option<SecondUser> {
        if !require_root() || !require_tools(&["useradd", "userdel", "runuser"]) {
            return None;
        }
        let name = format!("awsenv{}", random_hex(6));
        let o = Command::new(find_tool("useradd").expect("useradd"))
            .args(["-M", "-N", "-s", "/bin/sh", &name])
            .output()
            .expect("run useradd");
        assert!(
            o.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new("id")
            .args(["-u", &name])
            .output()
            .expect("run id");
        let uid = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("a uid");
        Some(SecondUser { name, uid })
    }

    /// Runs `script` with `sh -c` as this user; panics when it fails.
    pub fn sh(&self, script: &str) {
        let o = Command::new(find_tool("runuser").expect("runuser"))
            .args(["-u", &self.name, "--", "sh", "-c", script])
            .output()
            .expect("run runuser");
        assert!(
            o.status.success(),
            "as {}: {script}: {}",
            self.name,
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for SecondUser {
    fn drop(&mut self) {
        if let Some(userdel) = find_tool("userdel") {
            let _ = Command::new(userdel).arg(&self.name).output();
        }
    }
}
