//! What awsenv does with an STS answer: `sts::validate` on credentials with arbitrary fields,
//! and `sts::describe_reply` (the one line about a reply the SDK could not read) on arbitrary
//! HTTP answers.
//!
//! Properties:
//! - `validate` accepts only complete, unexpired credentials without NUL, control, space or
//!   non-ASCII bytes (access key id 16–128 letters and digits, a secret of at most 1 KiB, a
//!   non-empty token of at most 64 KiB when there is one, an expiration after now and before
//!   the year 10000); its reason is one of its fixed texts and never holds a secret;
//! - `describe_reply` is one printable line of bounded length, and never shows the body of a
//!   reply that holds `SecretAccessKey` or `SessionToken`.
#![no_main]

use arbitrary::Arbitrary;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use awsenv::sts::{Creds, describe_reply, validate};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;
const MAX_EXPIRATION: i64 = 253_402_300_799;

#[derive(Arbitrary, Debug)]
struct Reply<'a> {
    status: u16,
    content_type: Option<&'a str>,
    body: &'a [u8],
    why: &'a str,
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Creds {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        expiration: Option<i64>,
        /// Pick a plausible shape more often than pure noise would.
        plausible: bool,
    },
    Reply(Reply<'a>),
}

fn graphic(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

const REASONS: &[&str] = &[
    "the access key id is empty",
    "the access key id is not 16 to 128 letters and digits",
    "the secret access key is empty",
    "the secret access key holds spaces, control bytes or non-ASCII text, or is too long",
    "the session token is empty",
    "the session token holds spaces, control bytes or non-ASCII text, or is too long",
    "it has no expiration",
    "its expiration is after the year 9999",
];

fn check_creds(c: &Creds) {
    match validate(c, NOW) {
        Ok(()) => {
            let id = &c.access_key_id;
            assert!((16..=128).contains(&id.len()), "{c:?}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{c:?}");
            let s = &c.secret_access_key;
            assert!(
                !s.is_empty() && s.len() <= 1024 && graphic(s),
                "secret of {c:?}"
            );
            if let Some(t) = &c.session_token {
                assert!(
                    !t.is_empty() && t.len() <= 65_536 && graphic(t),
                    "token of {c:?}"
                );
            }
            if let Some(e) = c.expiration {
                assert!(e > NOW && e <= MAX_EXPIRATION, "{c:?}");
            }
        }
        Err(why) => {
            let r = why.0.as_str();
            assert!(
                REASONS.contains(&r)
                    || (r.starts_with("it expired at ")
                        && r.ends_with(" (is this machine's clock right?)")
                        && r.len()
                            == "it expired at ".len()
                                + 20
                                + " (is this machine's clock right?)".len()),
                "unexpected reason {r:?}"
            );
        }
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Creds {
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
        plausible,
    } => {
        let mut c = Creds {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
        };
        if plausible {
            // Near misses of a real answer: one field off at a time.
            c.access_key_id = format!("ASIA{}", c.access_key_id);
            c.expiration = c.expiration.map(|e| NOW + (e % 100_000));
        }
        check_creds(&c);
    }
    Input::Reply(r) => {
        let Ok(status) = StatusCode::try_from(r.status) else {
            return;
        };
        let mut resp = Response::new(status, SdkBody::from(r.body.to_vec()));
        if let Some(ct) = r.content_type {
            // The SDK's headers hold only valid header values; others never reach awsenv.
            let _ = resp
                .headers_mut()
                .try_insert("content-type", ct.to_string());
        }
        let (holds_secret, text) = describe_reply(&resp, r.why);
        assert_eq!(
            holds_secret,
            [&b"SecretAccessKey"[..], b"SessionToken"]
                .iter()
                .any(|n| r.body.windows(n.len()).any(|w| w == *n))
        );
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(
            text.chars().count() <= 600,
            "{} chars",
            text.chars().count()
        );
        let named = |b: &[u8]| {
            [&b"SecretAccessKey"[..], b"SessionToken"]
                .iter()
                .any(|n| b.windows(n.len()).any(|w| w == *n))
        };
        if holds_secret
            && !named(r.why.as_bytes())
            && !named(r.content_type.unwrap_or_default().as_bytes())
        {
            assert!(
                !text.contains("SecretAccessKey") && !text.contains("SessionToken"),
                "a reply holding a secret shown: {text:?}"
            );
        }
    }
});
