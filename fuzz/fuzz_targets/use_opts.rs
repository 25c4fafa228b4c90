//! `commands::session::UseOpts::parse`: the `AWSENV_OPTS` state variable (any bytes) read back
//! into resolution options, and `UseOpts::record`, which writes it.
//!
//! Properties: no panic; accepted text is at most 1 KiB; what is accepted, recorded again and
//! read back gives the same options (and options at their defaults record nothing).
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use awsenv::commands::session::UseOpts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(opts) = UseOpts::parse(Some(OsStr::from_bytes(data))) else {
        return;
    };
    assert!(data.len() <= 1024);
    match UseOpts::record(&opts) {
        None => {
            assert!(opts.region.is_none() && opts.duration.is_none() && !opts.no_session);
        }
        Some(text) => {
            let back = UseOpts::parse(Some(OsStr::new(&text))).expect("a recorded value parses");
            assert_eq!(back.region, opts.region);
            assert_eq!(back.duration, opts.duration);
            assert_eq!(back.no_session, opts.no_session);
            assert_eq!(UseOpts::record(&back).as_deref(), Some(text.as_str()));
        }
    }
});
