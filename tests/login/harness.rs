//! The fake AWS Sign-In service (`tests/login/fake_signin.py`) for `login_session` tests: shared
//! by tests/login.rs and the shell scenarios.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{self, TestEnv, watch_and_kill};
use serde_json::{Value, json};

/// The signed-in identity of the tests' `aws login`.
pub const SESSION: &str = "arn:aws:iam::123456789012:user/Admin";

/// A path in the source tree.
pub fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One fake Sign-In service.
pub struct Fake {
    pub url: String,
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Fake {
    pub fn start(env: &TestEnv) -> Fake {
        let dir = tempfile::Builder::new()
            .prefix("awsenv-fake-signin-")
            .tempdir()
            .expect("create fake dir");
        let log = std::fs::File::create(dir.path().join("fake.log")).expect("create fake.log");
        let mut child = env
            .command("python3")
            .arg(src("tests/login/fake_signin.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start python3 tests/login/fake_signin.py");
        watch_and_kill(child.id(), dir.path());
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the fake's port line");
        let port: u16 = line
            .trim()
            .strip_prefix("FAKE_SIGNIN_PORT=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("fake_signin.py said {line:?}"));
        Fake {
            url: format!("http://127.0.0.1:{port}"),
            port,
            child,
            _dir: dir,
        }
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let r = common::http_request(self.port, "POST", path, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub fn requests(&self) -> Vec<Value> {
        let r = common::http_request(self.port, "GET", "/_fake/requests", b"")
            .unwrap_or_else(|e| panic!("/_fake/requests: {e}"));
        serde_json::from_slice(&r.body).expect("requests JSON")
    }

    /// What `aws login` leaves: a cache file whose access token expires in `expires_in` s.
    pub fn login(&self, env: &TestEnv, session: &str, expires_in: i64) -> PathBuf {
        let dir = env.home.join(".aws/login/cache");
        let v = self.post(
            "/_fake/login",
            json!({"session": session, "cache_dir": dir, "expires_in": expires_in}),
        );
        PathBuf::from(v["path"].as_str().expect("path"))
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[profile console]` (the `aws login` session) and `[profile admin]` (a role on top of it).
pub fn config() -> String {
    format!(
        "[profile console]\nlogin_session = {SESSION}\nregion = eu-west-1\n\n\
         [profile admin]\nsource_profile = console\nrole_arn = arn:aws:iam::123456789012:role/Admin\n"
    )
}
