//! The IAM Identity Center fake (`tests/sso/fake_sso.py`) for integration tests: start it
//! against a moto STS, point a [`TestEnv`] at it, read its recorder, drive its controls.
//!
//! Used by `tests/sso.rs` and by the shell scenario in `tests/shells/mod.rs`
//! (`#[path = "sso/harness.rs"]`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Moto, TestEnv, http_request, watch_and_kill};

/// The start URL of the fake's IAM Identity Center instance (an AWS-owned domain, so the AWS
/// CLI v2 does not try to resolve it over the network).
pub const START_URL: &str = "https://d-9067c2a8f1.awsapps.com/start";
/// The region of the sign-in.
pub const REGION: &str = "eu-west-1";

/// A private fake on a free loopback port; killed on drop.
pub struct FakeSso {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

pub fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

impl FakeSso {
    /// Starts `python3 tests/sso/fake_sso.py --sts <moto>` and waits for its port line.
    pub fn start(moto: &Moto) -> FakeSso {
        let dir = tempfile::Builder::new()
            .prefix("awsenv-fake-sso-")
            .tempdir()
            .expect("create fake sso dir");
        let log = std::fs::File::create(dir.path().join("fake.log")).expect("create fake.log");
        let mut child = Command::new("python3")
            .arg(src("tests/sso/fake_sso.py"))
            .args(["--sts", &moto.url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start python3 tests/sso/fake_sso.py");
        watch_and_kill(child.id(), dir.path());
        let mut line = String::new();
        let out = child.stdout.take().expect("fake stdout is piped");
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read the fake's port line");
        let port: u16 = line
            .trim()
            .strip_prefix("FAKE_SSO_PORT=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "fake_sso.py did not print its port ({line:?}); log:\n{}",
                    std::fs::read_to_string(dir.path().join("fake.log")).unwrap_or_default()
                )
            });
        FakeSso {
            port,
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let resp = http_request(self.port, method, path, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("fake {method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        assert!(
            resp.status == 200,
            "fake {method} {path} answered {}: {v}",
            resp.status
        );
        v
    }

    /// POST `/_fake/<path>` with a JSON body.
    pub fn control(&self, path: &str, body: Value) {
        self.call("POST", &format!("/_fake/{path}"), &body);
    }

    /// Merges settings (`access_token_ttl`, `approve`, `slow_down`, …).
    pub fn config(&self, v: Value) {
        self.control("config", v);
    }

    /// Every access token issued so far is expired now (the portal answers 401).
    pub fn expire_access_tokens(&self) {
        self.control("expire-access-tokens", json!({}));
    }

    /// Every portal session ends (refresh tokens are refused).
    pub fn end_sessions(&self) {
        self.control("end-sessions", json!({}));
    }

    /// Forgets the recorded requests.
    pub fn reset(&self) {
        self.control("reset-requests", json!({}));
    }

    /// The recorder: every request since start or the last reset.
    pub fn requests(&self) -> Vec<Value> {
        match self.call("GET", "/_fake/requests", &json!({})) {
            Value::Array(v) => v,
            other => panic!("recorder is not a list: {other}"),
        }
    }

    /// The recorded requests as `Operation[/grant] STATUS` lines (the device grant shown as
    /// `device_code`).
    pub fn ops(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                let grant = r["grant_type"]
                    .as_str()
                    .map(|g| format!("/{}", g.rsplit(':').next().unwrap_or(g)))
                    .unwrap_or_default();
                format!(
                    "{}{grant} {}",
                    r["operation"].as_str().unwrap_or("?"),
                    r["status"]
                )
            })
            .collect()
    }

    /// How many recorded lines of [`FakeSso::ops`] equal `op` (e.g. `CreateToken/refresh_token 200`).
    pub fn count(&self, op: &str) -> usize {
        self.ops().iter().filter(|o| *o == op).count()
    }

    /// Live sessions and tokens.
    pub fn state(&self) -> Value {
        self.call("GET", "/_fake/state", &json!({}))
    }

    /// Every secret the fake handed out (tokens, client secrets, device codes, role
    /// credentials), for plaintext scans.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = Vec::new();
        for r in self.requests() {
            let resp = &r["response"];
            for k in ["accessToken", "refreshToken", "clientSecret", "deviceCode"] {
                if let Some(s) = resp[k].as_str() {
                    v.push(s.to_string());
                }
            }
            for k in ["secretAccessKey", "sessionToken"] {
                if let Some(s) = resp["roleCredentials"][k].as_str() {
                    v.push(s.to_string());
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// A token from a device-code sign-in made directly against the fake (as another tool
    /// would): `{clientId, clientSecret, clientSecretExpiresAt, accessToken, refreshToken,
    /// expiresIn}`.
    pub fn device_token(&self) -> Value {
        let reg = self.call(
            "POST",
            "/client/register",
            &json!({"clientName": "test", "clientType": "public", "scopes": ["sso:account:access"]}),
        );
        let dev = self.call(
            "POST",
            "/device_authorization",
            &json!({"clientId": reg["clientId"], "clientSecret": reg["clientSecret"], "startUrl": START_URL}),
        );
        self.control("approve", json!({"user_code": dev["userCode"]}));
        let tok = self.call(
            "POST",
            "/token",
            &json!({"clientId": reg["clientId"], "clientSecret": reg["clientSecret"],
                    "grantType": "urn:ietf:params:oauth:grant-type:device_code",
                    "deviceCode": dev["deviceCode"]}),
        );
        json!({
            "clientId": reg["clientId"], "clientSecret": reg["clientSecret"],
            "clientSecretExpiresAt": reg["clientSecretExpiresAt"],
            "accessToken": tok["accessToken"], "refreshToken": tok["refreshToken"],
            "expiresIn": tok["expiresIn"],
        })
    }

    /// Points `env` at the fake (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`) with the
    /// test browser as `$BROWSER` (it follows the authorize URL, i.e. approves), logging every
    /// URL it opens to `<env>/browser.log`.
    pub fn point(&self, env: &mut TestEnv) {
        env.set_var("AWS_ENDPOINT_URL_SSO_OIDC", &self.url);
        env.set_var("AWS_ENDPOINT_URL_SSO", &self.url);
        env.set_var("BROWSER", &src("tests/sso/browser.py").to_string_lossy());
        let log = env.root().join("browser.log");
        env.set_var("BROWSER_LOG", &log.to_string_lossy());
    }

    /// Waits until the recorder shows `op` at least `n` times (a generous bound that only
    /// catches a hang).
    pub fn wait_for(&self, op: &str, n: usize) {
        let start = Instant::now();
        while self.count(op) < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {n}× {op}; recorded: {:?}",
                self.ops()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The fake's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fake.log")).unwrap_or_default()
    }
}

impl Drop for FakeSso {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URLs the test browser opened for `env` (empty when it never ran).
pub fn browser_opened(env: &TestEnv) -> Vec<String> {
    // The browser fetches in a child process; give a just-started one a moment to log.
    std::fs::read_to_string(env.root().join("browser.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `[sso-session corp]` for the fake, then `profiles` (text appended as is).
pub fn config(profiles: &str) -> String {
    format!(
        "[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = {REGION}\nsso_registration_scopes = sso:account:access\n\n{profiles}"
    )
}

/// `[profile NAME]` for `role` in `account` through sso-session corp.
pub fn profile(name: &str, account: &str, role: &str) -> String {
    format!(
        "[profile {name}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = {role}\nregion = {REGION}\n\n"
    )
}

/// The AWS CLI's token cache file for a session name (or a legacy start URL).
pub fn cli_cache_file(env: &TestEnv, key: &str) -> PathBuf {
    env.home
        .join(".aws/sso/cache")
        .join(format!("{}.json", hex_sha1(key)))
}

/// SHA-1 in hex (the AWS CLI names its cache files by it), via python3's hashlib.
pub fn hex_sha1(s: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest())",
            s,
        ])
        .output()
        .expect("run python3 for sha1");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Epoch seconds as the AWS CLI writes times in its cache: `%Y-%m-%dT%H:%M:%SZ`.
pub fn cli_time(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Writes the AWS CLI's token cache for sso-session `corp` with `tok` (from
/// [`FakeSso::device_token`]) expiring at `expires_at`.
pub fn write_cli_cache(env: &TestEnv, tok: &Value, expires_at: i64) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = cli_cache_file(env, "corp");
    std::fs::create_dir_all(path.parent().expect("cache dir")).expect("create cache dir");
    let reg_exp = tok["clientSecretExpiresAt"].as_i64().unwrap_or(0);
    let v = json!({
        "startUrl": START_URL, "region": REGION, "accessToken": tok["accessToken"],
        "expiresAt": cli_time(expires_at), "refreshToken": tok["refreshToken"],
        "clientId": tok["clientId"], "clientSecret": tok["clientSecret"],
        "registrationExpiresAt": cli_time(reg_exp),
    });
    std::fs::write(&path, v.to_string()).expect("write the CLI's token cache");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}
