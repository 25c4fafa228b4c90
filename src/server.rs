//! The credential server for `exec --server`: the ECS container-credentials protocol on
//! 127.0.0.1 (issue 4).

use std::ffi::OsString;

use anyhow::{Result, bail};

use crate::cli::ResolveOpts;

/// Runs `program` with a loopback credential endpoint serving `profile`'s credentials.
pub fn exec_with_server(
    _profile: &str,
    _opts: &ResolveOpts,
    _program: &OsString,
    _args: &[OsString],
) -> Result<i32> {
    bail!("exec --server is not implemented yet")
}
