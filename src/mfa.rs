//! Getting an MFA code: `--mfa-token`, else the profile's `mfa_process`, else a hidden prompt on
//! the controlling terminal. No terminal and no code is an error, never a hang.

use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};
use zeroize::Zeroizing;

use crate::tty::{self, TtyError};

pub use crate::tty::Cancelled;

fn check(code: &str, from: &str) -> Result<()> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        bail!("the MFA code from {from} is not 6 digits")
    }
}

/// A code for `serial`.
pub fn code(
    serial: &str,
    given: Option<&str>,
    mfa_process: Option<&str>,
    profile: &str,
) -> Result<Zeroizing<String>> {
    if let Some(c) = given {
        let c = c.trim();
        check(c, "--mfa-token")?;
        return Ok(Zeroizing::new(c.to_string()));
    }
    if let Some(cmd) = mfa_process {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit())
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| anyhow!("profile {profile}: cannot run mfa_process: {e}"))?;
        if !out.status.success() {
            bail!("profile {profile}: mfa_process failed ({})", out.status);
        }
        let c = Zeroizing::new(String::from_utf8_lossy(&out.stdout).trim().to_string());
        check(&c, "mfa_process")?;
        return Ok(c);
    }
    crate::store::lock::announce_held(&format!(
        "the MFA code for {serial} being entered in another terminal"
    ));
    match tty::read_line(&format!("Enter MFA code for {serial}: "), true) {
        Ok(c) => {
            check(&c, "the terminal")?;
            Ok(c)
        }
        Err(TtyError::Interrupted) | Err(TtyError::Eof) => {
            Err(anyhow::Error::new(Cancelled::new("MFA prompt")))
        }
        Err(TtyError::NoTerminal) => bail!(
            "profile {profile} needs an MFA code for {serial} and there is no terminal to ask on: pass --mfa-token CODE or set mfa_process"
        ),
        Err(TtyError::Io(e)) => Err(anyhow!("cannot read the MFA code from the terminal: {e}")),
    }
}
