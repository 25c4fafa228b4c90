//! Getting an MFA code: `--mfa-token`, else the profile's `mfa_process`, else a hidden prompt on
//! the controlling terminal. No terminal and no code is an error, never a hang.

use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};
use zeroize::Zeroizing;

use crate::tty::{self, TtyError};

pub use crate::tty::Cancelled;

/// The code as authenticator apps show it (`123 456`, `123-456`) without its separators, if
/// what remains is six digits.
pub fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

fn check(code: &str, from: &str) -> Result<Zeroizing<String>> {
    match normalize(code) {
        Some(c) => Ok(Zeroizing::new(c)),
        None => bail!("the MFA code from {from} is not 6 digits"),
    }
}

/// How often the terminal prompt asks again after an input that is not a code.
const TERMINAL_ATTEMPTS: usize = 3;

/// Set once this process has obtained an MFA code from any source: a refresh that needed a new
/// code is announced, one served from the cache is not.
static CODE_OBTAINED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has obtained an MFA code (see [`code`]).
pub fn code_obtained() -> bool {
    CODE_OBTAINED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A code for `serial`.
pub fn code(
    serial: &str,
    given: Option<&str>,
    mfa_process: Option<&str>,
    profile: &str,
) -> Result<Zeroizing<String>> {
    let c = code_from_somewhere(serial, given, mfa_process, profile)?;
    CODE_OBTAINED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(c)
}

fn code_from_somewhere(
    serial: &str,
    given: Option<&str>,
    mfa_process: Option<&str>,
    profile: &str,
) -> Result<Zeroizing<String>> {
    if let Some(c) = given {
        return check(c, "--mfa-token");
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
        return check(&c, "mfa_process");
    }
    crate::store::lock::announce_held(&format!(
        "the MFA code for {serial} being entered in another terminal"
    ));
    let mut prompt = format!("Enter MFA code for {serial}: ");
    for attempt in 1..=TERMINAL_ATTEMPTS {
        match tty::read_line(&prompt, true) {
            Ok(c) => match normalize(&c) {
                Some(code) => return Ok(Zeroizing::new(code)),
                None if attempt < TERMINAL_ATTEMPTS => {
                    prompt = format!("That is not a 6-digit code. Enter MFA code for {serial}: ");
                }
                None => bail!("no 6-digit MFA code for {serial} after {TERMINAL_ATTEMPTS} tries"),
            },
            Err(TtyError::Interrupted) | Err(TtyError::Eof) => {
                return Err(anyhow::Error::new(Cancelled::new("MFA prompt")));
            }
            Err(TtyError::NoTerminal) => bail!(
                "profile {profile} needs an MFA code for {serial} and there is no terminal to ask on: pass --mfa-token CODE or set mfa_process"
            ),
            Err(TtyError::Io(e)) => bail!("cannot read the MFA code from the terminal: {e}"),
        }
    }
    bail!("no MFA code for {serial}")
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn codes_as_apps_show_them() {
        assert_eq!(normalize("123 456").as_deref(), Some("123456"));
        assert_eq!(normalize(" 123-456 ").as_deref(), Some("123456"));
        assert_eq!(normalize("12345"), None);
        assert_eq!(normalize("1234567"), None);
        assert_eq!(normalize("12a456"), None);
    }
}
