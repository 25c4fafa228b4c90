//! Fakes of the two local credential endpoints a workload reads: the EC2 instance metadata
//! service with IMDSv2 ([`FakeImds`]) and the container credentials endpoint ([`FakeEcs`]).
//!
//! [`FakeImds`] is strict where the real service is: a session token only from
//! `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` between 1 and 21600
//! (and no `X-Forwarded-For`); every `GET` needs a token it issued that has not expired (401
//! otherwise); the TTL is echoed back. tests/workload.rs validates it with botocore's own
//! `InstanceMetadataFetcher` before trusting it with awsenv.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The instance profile's role name the fake IMDS reports.
pub const IMDS_ROLE: &str = "awsenv-test-instance-role";

/// One request a fake saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET`, `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// Lowercased header names with their values.
    pub headers: HashMap<String, String>,
    /// The status answered.
    pub status: u16,
}

/// The credentials a fake hands out.
#[derive(Clone, Debug)]
pub struct FakeCreds {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token.
    pub token: String,
}

impl FakeCreds {
    /// Fresh random temporary credentials (ASIA…).
    pub fn random() -> Self {
        FakeCreds {
            access_key_id: format!("ASIA{}", super::random_hex(8).to_uppercase()),
            secret_access_key: super::random_hex(20),
            token: format!("FwoGZXIvYXdzE{}", super::random_hex(40)),
        }
    }

    fn json(&self, extra: &str) -> String {
        let exp = awsenv::timefmt::rfc3339(awsenv::timefmt::now_epoch() + 6 * 3600);
        format!(
            "{{{extra}\"AccessKeyId\":\"{}\",\"SecretAccessKey\":\"{}\",\"Token\":\"{}\",\"Expiration\":\"{exp}\"}}",
            self.access_key_id, self.secret_access_key, self.token
        )
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let mut text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

/// A loopback server answering each connection with `handle`; stopped on drop.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start<F>(handle: F) -> Server
    where
        F: Fn(&Request) -> (u16, Vec<(&'static str, String)>, String) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake endpoint");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let Some(req) = read_request(&mut s) else {
                            continue;
                        };
                        let (status, headers, body) = handle(&req);
                        seen2.lock().expect("seen").push(Seen {
                            method: req.method.clone(),
                            path: req.path.clone(),
                            headers: req.headers.clone(),
                            status,
                        });
                        respond(&mut s, status, &headers, &body);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, stop, seen }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A fake EC2 instance metadata service (IMDSv2 only) on a loopback port.
pub struct FakeImds {
    server: Server,
    /// `http://127.0.0.1:PORT` (for `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    pub url: String,
    /// What it hands out.
    pub creds: FakeCreds,
}

impl FakeImds {
    /// Starts it.
    pub fn start() -> FakeImds {
        let creds = FakeCreds::random();
        let tokens: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let c = creds.clone();
        let server = Server::start(move |req| {
            let mut tokens = tokens.lock().expect("tokens");
            if req.path == "/latest/api/token" {
                if req.method != "PUT" {
                    return (405, vec![], String::new());
                }
                if req.headers.contains_key("x-forwarded-for") {
                    return (403, vec![], String::new());
                }
                let ttl = req
                    .headers
                    .get("x-aws-ec2-metadata-token-ttl-seconds")
                    .and_then(|v| v.parse::<u64>().ok());
                let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
                    return (400, vec![], String::new());
                };
                let token = format!("AQAEA{}==", super::random_hex(24));
                tokens.insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
                return (
                    200,
                    vec![("X-aws-ec2-metadata-token-ttl-seconds", ttl.to_string())],
                    token,
                );
            }
            if req.method != "GET" {
                return (405, vec![], String::new());
            }
            let valid = req
                .headers
                .get("x-aws-ec2-metadata-token")
                .and_then(|t| tokens.get(t))
                .is_some_and(|until| Instant::now() < *until);
            if !valid {
                return (401, vec![], String::new());
            }
            let base = "/latest/meta-data/iam/security-credentials/";
            match req.path.strip_prefix(base) {
                Some("") => (200, vec![], IMDS_ROLE.to_string()),
                Some(r) if r == IMDS_ROLE => (
                    200,
                    vec![("Content-Type", "text/plain".to_string())],
                    c.json(&format!(
                        "\"Code\":\"Success\",\"LastUpdated\":\"{}\",\"Type\":\"AWS-HMAC\",",
                        awsenv::timefmt::rfc3339(awsenv::timefmt::now_epoch())
                    )),
                ),
                _ => (404, vec![], String::new()),
            }
        });
        let url = format!("http://127.0.0.1:{}", server.port);
        FakeImds { server, url, creds }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.server.seen.lock().expect("seen").clone()
    }
}

/// A fake container credentials endpoint on a loopback port: `GET /creds` with
/// `Authorization: <token>` answers the credentials, anything else 401/404.
pub struct FakeEcs {
    server: Server,
    /// `http://127.0.0.1:PORT/creds` (for `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub full_uri: String,
    /// The authorization token it wants.
    pub auth: String,
    /// What it hands out.
    pub creds: FakeCreds,
}

impl FakeEcs {
    /// Starts it.
    pub fn start() -> FakeEcs {
        let creds = FakeCreds::random();
        let auth = format!("Bearer {}", super::random_hex(16));
        let (c, a) = (creds.clone(), auth.clone());
        let server = Server::start(move |req| {
            if req.method != "GET" || req.path != "/creds" {
                return (404, vec![], String::new());
            }
            if req.headers.get("authorization") != Some(&a) {
                return (401, vec![], String::new());
            }
            (
                200,
                vec![("Content-Type", "application/json".to_string())],
                c.json(""),
            )
        });
        let full_uri = format!("http://127.0.0.1:{}/creds", server.port);
        FakeEcs {
            server,
            full_uri,
            auth,
            creds,
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.server.seen.lock().expect("seen").clone()
    }
}
