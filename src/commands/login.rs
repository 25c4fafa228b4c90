//! `awsenv login`: the AWS console sign-in URL for a session (issue 4).

use anyhow::{Result, bail};

use crate::cli::ResolveOpts;

/// `awsenv login [PROFILE] [--stdout]`.
pub fn login(_profile: Option<&str>, _stdout: bool, _opts: &ResolveOpts) -> Result<i32> {
    bail!("login is not implemented yet")
}
