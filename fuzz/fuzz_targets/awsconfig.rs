//! `awsconfig::AwsConfig::parse` on arbitrary config and credentials texts (the SDK's parser
//! plus awsenv's `include_profile` and `source_profile` handling). The input is the config
//! file; after a line `#credentials` comes the credentials file, and after a line `#ask` a
//! profile name to look up that may not exist.
//!
//! Properties: a refusal names the file and the line (`…, line N: …`) in one line; an
//! accepted configuration answers every query about every profile it lists without panicking
//! (cycles in `include_profile` or `source_profile` are errors, never a hang), a listed profile
//! exists, and a chain ends at the profile asked for.
#![no_main]

use awsenv::awsconfig::{AwsConfig, ConfigText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let (input, other) = input.split_once("\n#ask\n").unwrap_or((input, "nosuch"));
    let (config, credentials) = match input.split_once("\n#credentials\n") {
        Some((c, k)) => (Some(c), Some(k)),
        None => (Some(input), None),
    };
    let config = config.map(|text| ConfigText {
        path: "/home/u/.aws/config",
        text,
    });
    let credentials = credentials.map(|text| ConfigText {
        path: "/home/u/.aws/credentials",
        text,
    });
    match AwsConfig::parse(config, credentials) {
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
            assert!(
                msg.contains("/home/u/.aws/config, line ")
                    || msg.contains("/home/u/.aws/credentials, line "),
                "no file and line in {msg:?}"
            );
        }
        Ok(c) => {
            let names = c.names();
            for n in &names {
                assert!(c.has(n), "{n:?} listed but not found");
                let _ = c.has_static_keys(n);
                if let Ok(p) = c.profile(n) {
                    assert_eq!(&p.name, n);
                    let _ = p.duration_seconds();
                }
                if let Ok(chain) = c.chain(n) {
                    assert_eq!(chain.last().map(|p| &p.name), Some(n));
                }
            }
            let _ = c.chain(other);
            let _ = c.unknown(other);
            for s in c.sso_session_names() {
                assert!(c.sso_session(&s).is_some(), "{s:?} listed but not found");
            }
        }
    }
});
