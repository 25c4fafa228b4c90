//! The credential endpoint's request handling without sockets: `server::route` on a
//! fuzzer-built method, URI and headers, then the answer it leads to; and
//! `server::is_awsenv_state`, which decides what the served command's environment loses.
//!
//! Properties:
//! - the credentials route needs exactly one `Authorization` header equal to the (non-empty)
//!   token, `GET` and the path `/`; a refusal is authorised only with that exact header;
//! - an unauthorised refusal closes the connection and is the same whatever the method or path
//!   (nothing about the endpoint is told without the token); no refusal carries credentials;
//! - `is_awsenv_state` is true for every `AWSENV_*` name but the settings awsenv passes on,
//!   false for any other name.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use arbitrary::Arbitrary;
use awsenv::server::{KEPT_SETTINGS, Route, is_awsenv_state, refusal_response, route};
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Header<'a> {
    /// The endpoint's token as the `Authorization` header.
    Token,
    /// The token with a change (prefix, suffix or a cut), as an `Authorization` header.
    NearToken {
        prefix: &'a [u8],
        suffix: &'a [u8],
        cut: u8,
    },
    Authorization(&'a [u8]),
    Other(&'a [u8], &'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a [u8],
    uri: &'a [u8],
    token: &'a [u8],
    headers: Vec<Header<'a>>,
    env_name: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let token = input.token;
    let Ok(method) = Method::from_bytes(input.method) else {
        return;
    };
    let uri = Uri::try_from(input.uri).unwrap_or_else(|_| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for h in &input.headers {
        let (name, value): (HeaderName, Vec<u8>) = match h {
            Header::Token => (AUTHORIZATION, token.to_vec()),
            Header::NearToken {
                prefix,
                suffix,
                cut,
            } => {
                let keep = token.len().saturating_sub(*cut as usize % 3);
                let v = [prefix, &token[..keep], suffix].concat();
                (AUTHORIZATION, v)
            }
            Header::Authorization(v) => (AUTHORIZATION, v.to_vec()),
            Header::Other(n, v) => match HeaderName::from_bytes(n) {
                Ok(n) => (n, v.to_vec()),
                Err(_) => continue,
            },
        };
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            headers.append(name, v);
        }
    }
    let auth: Vec<&[u8]> = headers
        .get_all(AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let exact = !token.is_empty() && auth.len() == 1 && auth[0] == token;

    let r = route(&method, &uri, &headers, token);
    assert_eq!(r.authorised(), exact, "{r:?} with {auth:?}");
    match &r {
        Route::Credentials => {
            assert!(exact && method == Method::GET && uri.path() == "/", "{r:?}");
        }
        Route::Refuse(refusal) => {
            assert!(!refusal.status.is_success(), "{refusal:?}");
            if !exact {
                // Without the token, method and path make no difference.
                let again = route(&Method::GET, &Uri::from_static("/"), &headers, token);
                assert_eq!(again, r);
            }
            let resp = refusal_response(refusal);
            let close = resp
                .headers()
                .get(http::header::CONNECTION)
                .is_some_and(|v| v == "close");
            assert_eq!(close, !refusal.authorised);
            assert_eq!(resp.status(), refusal.status);
        }
    }

    let name = OsStr::from_bytes(input.env_name);
    let expected = input.env_name.starts_with(b"AWSENV_")
        && !KEPT_SETTINGS.iter().any(|k| k.as_bytes() == input.env_name);
    assert_eq!(is_awsenv_state(name), expected, "{name:?}");
});
