//! Shell names, detection and rendering of environment changes with exact quoting.
//!
//! This module is on the hot path's side of the line: it imports nothing from the credential
//! engine. Every value is quoted so that any byte sequence (quotes, `$`, backticks, backslashes,
//! newlines, UTF-8, even invalid UTF-8) arrives in the target shell exactly and runs nothing.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// A shell (or output format) awsenv can print statements for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish: its single quotes treat `\\` and `\'` as escapes.
    Fish,
    /// Any POSIX `sh` (dash, busybox, ksh).
    Sh,
    /// PowerShell (`$Env:NAME = '…'`).
    PowerShell,
    /// dotenv lines (`NAME="…"`), without `export`; unsets are omitted.
    Env,
    /// A JSON object: name to value, `null` for a variable to unset.
    Json,
}

impl Shell {
    /// Every accepted name, for usage messages.
    pub const NAMES: &'static [&'static str] =
        &["bash", "zsh", "fish", "sh", "powershell", "env", "json"];

    /// Parses a shell name as given to `--shell` (also accepts `pwsh` and `dash`).
    pub fn parse(name: &str) -> Option<Shell> {
        Some(match name {
            "bash" => Shell::Bash,
            "zsh" => Shell::Zsh,
            "fish" => Shell::Fish,
            "sh" | "dash" | "ksh" | "mksh" | "busybox" | "ash" => Shell::Sh,
            "powershell" | "pwsh" => Shell::PowerShell,
            "env" | "dotenv" => Shell::Env,
            "json" => Shell::Json,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Sh => "sh",
            Shell::PowerShell => "powershell",
            Shell::Env => "env",
            Shell::Json => "json",
        }
    }

    /// Detects the calling shell: the parent process's name (Linux `/proc`), then `$SHELL`,
    /// then POSIX `sh`.
    pub fn detect() -> Shell {
        if let Some(shell) = crate::platform::parent_process_name()
            .as_deref()
            .and_then(shell_from_program)
        {
            return shell;
        }
        std::env::var("SHELL")
            .ok()
            .as_deref()
            .and_then(shell_from_program)
            .unwrap_or(Shell::Sh)
    }
}

impl fmt::Display for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn shell_from_program(program: &str) -> Option<Shell> {
    let base = program.rsplit('/').next().unwrap_or(program);
    let base = base.trim_start_matches('-');
    Shell::parse(base)
}

/// One change to the environment (or to the calling shell's unexported variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Set (and export) a variable.
    Set(String, OsString),
    /// Remove a variable.
    Unset(String),
    /// Set an **unexported** shell variable (the held copy of a replaced secret), so that no
    /// child process sees it. Omitted by formats that are not a shell (`env`, `json`).
    SetPrivate(String, OsString),
    /// `RestorePrivate(NAME, HELD)`: export NAME with the value of the unexported shell
    /// variable HELD if that is set, else unset NAME; then remove HELD. The value is expanded
    /// as data by the shell, never evaluated.
    RestorePrivate(String, String),
    /// Remove an unexported shell variable.
    DropPrivate(String),
}

impl Change {
    /// Shorthand for [`Change::Set`] from anything string-like.
    pub fn set(name: &str, value: impl AsRef<OsStr>) -> Change {
        Change::Set(name.to_string(), value.as_ref().to_os_string())
    }

    /// Shorthand for [`Change::Unset`].
    pub fn unset(name: &str) -> Change {
        Change::Unset(name.to_string())
    }

    /// The variable this change is about.
    pub fn name(&self) -> &str {
        match self {
            Change::Set(n, _)
            | Change::Unset(n)
            | Change::SetPrivate(n, _)
            | Change::RestorePrivate(n, _)
            | Change::DropPrivate(n) => n,
        }
    }

    /// Whether every name in the change is a plain shell identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    fn names_are_identifiers(&self) -> bool {
        match self {
            Change::RestorePrivate(n, h) => is_identifier(n) && is_identifier(h),
            c => is_identifier(c.name()),
        }
    }
}

/// Whether `name` is a portable shell identifier.
pub fn is_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Renders a list of changes as statements for `shell`. A change whose variable name is not a
/// plain identifier is dropped (ours always are; this is defence in depth against a name that
/// came from outside). Values may be any bytes.
///
/// fish output ends with `true`, so that `… | source; and terraform plan` sees status 0 (fish's
/// `set -e` of a variable that is not set returns 4).
pub fn render(shell: Shell, changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    let changes: Vec<&Change> = changes
        .iter()
        .filter(|c| c.names_are_identifiers())
        .collect();
    if shell == Shell::Json {
        out.push(b'{');
        let mut first = true;
        for change in changes {
            let value = match change {
                Change::Set(_, v) => Some(v.as_bytes()),
                Change::Unset(_) | Change::RestorePrivate(..) => None,
                Change::SetPrivate(..) | Change::DropPrivate(_) => continue,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            json_string(&mut out, change.name().as_bytes());
            out.push(b':');
            match value {
                Some(v) => json_string(&mut out, v),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"}\n");
        return out;
    }
    for change in &changes {
        render_one(shell, change, &mut out);
    }
    if shell == Shell::Fish && !changes.is_empty() {
        out.extend_from_slice(b"true;\n");
    }
    out
}

fn render_one(shell: Shell, change: &Change, out: &mut Vec<u8>) {
    match (shell, change) {
        (Shell::Bash | Shell::Zsh | Shell::Sh, Change::Set(n, v)) => {
            out.extend_from_slice(format!("export {n}=").as_bytes());
            posix_quote(out, v.as_bytes());
            out.extend_from_slice(b";\n");
        }
        (Shell::Bash | Shell::Zsh | Shell::Sh, Change::Unset(n)) => {
            out.extend_from_slice(format!("unset {n};\n").as_bytes());
        }
        (Shell::Fish, Change::Set(n, v)) => {
            out.extend_from_slice(format!("set -gx {n} ").as_bytes());
            fish_quote(out, v.as_bytes());
            out.extend_from_slice(b";\n");
        }
        (Shell::Fish, Change::Unset(n)) => {
            out.extend_from_slice(format!("set -e {n};\n").as_bytes());
        }
        (Shell::PowerShell, Change::Set(n, v)) => {
            out.extend_from_slice(format!("$Env:{n} = ").as_bytes());
            powershell_quote(out, &v.to_string_lossy());
            out.push(b'\n');
        }
        (Shell::PowerShell, Change::Unset(n)) => {
            out.extend_from_slice(
                format!("Remove-Item -ErrorAction SilentlyContinue Env:{n}\n").as_bytes(),
            );
        }
        (Shell::Env, Change::Set(n, v)) => {
            out.extend_from_slice(format!("{n}=").as_bytes());
            dotenv_quote(out, v.as_bytes());
            out.push(b'\n');
        }
        (Shell::Env, Change::Unset(_)) => {}
        // The held copy must stay unexported even under `set -a` (allexport), which exports
        // every assignment, and even if a variable of that name came exported from outside.
        (Shell::Bash | Shell::Zsh, Change::SetPrivate(n, v)) => {
            let unexport = if shell == Shell::Bash {
                "export -n"
            } else {
                "typeset -g +x"
            };
            out.extend_from_slice(format!("{n}=").as_bytes());
            posix_quote(out, v.as_bytes());
            out.extend_from_slice(format!("; {unexport} {n};\n").as_bytes());
        }
        // POSIX sh cannot unexport: `unset` drops an inherited export, and allexport is off
        // for the unset and the assignment (dash marks a name it unsets under `set -a`).
        (Shell::Sh, Change::SetPrivate(n, v)) => {
            let mut quoted = Vec::new();
            posix_quote(&mut quoted, v.as_bytes());
            out.extend_from_slice(format!("case $- in *a*) set +a; unset {n}; {n}=").as_bytes());
            out.extend_from_slice(&quoted);
            out.extend_from_slice(format!("; set -a;; *) unset {n}; {n}=").as_bytes());
            out.extend_from_slice(&quoted);
            out.extend_from_slice(b";; esac;\n");
        }
        (Shell::Bash | Shell::Zsh | Shell::Sh, Change::RestorePrivate(n, h)) => {
            out.extend_from_slice(
                format!(
                    "if [ -n \"${{{h}+x}}\" ]; then export {n}=\"${h}\"; else unset {n}; fi; unset {h};\n"
                )
                .as_bytes(),
            );
        }
        (Shell::Bash | Shell::Zsh | Shell::Sh, Change::DropPrivate(h)) => {
            out.extend_from_slice(format!("unset {h};\n").as_bytes());
        }
        (Shell::Fish, Change::SetPrivate(n, v)) => {
            out.extend_from_slice(format!("set -gu {n} ").as_bytes());
            fish_quote(out, v.as_bytes());
            out.extend_from_slice(b";\n");
        }
        (Shell::Fish, Change::RestorePrivate(n, h)) => {
            out.extend_from_slice(
                format!("if set -q {h}; set -gx {n} ${h}; else; set -e {n}; end; set -e {h};\n")
                    .as_bytes(),
            );
        }
        (Shell::Fish, Change::DropPrivate(h)) => {
            out.extend_from_slice(format!("set -e {h};\n").as_bytes());
        }
        (Shell::PowerShell, Change::SetPrivate(n, v)) => {
            out.extend_from_slice(format!("$global:{n} = ").as_bytes());
            powershell_quote(out, &v.to_string_lossy());
            out.push(b'\n');
        }
        (Shell::PowerShell, Change::RestorePrivate(n, h)) => {
            out.extend_from_slice(
                format!(
                    "if (Test-Path variable:global:{h}) {{ $Env:{n} = $global:{h} }} else {{ Remove-Item -ErrorAction SilentlyContinue Env:{n} }}; Remove-Variable -Scope Global -ErrorAction SilentlyContinue {h}\n"
                )
                .as_bytes(),
            );
        }
        (Shell::PowerShell, Change::DropPrivate(h)) => {
            out.extend_from_slice(
                format!("Remove-Variable -Scope Global -ErrorAction SilentlyContinue {h}\n")
                    .as_bytes(),
            );
        }
        // dotenv lines cannot hold shell state; a held secret cannot be restored there.
        (
            Shell::Env,
            Change::SetPrivate(..) | Change::RestorePrivate(..) | Change::DropPrivate(_),
        ) => {}
        // JSON is rendered as a whole object in `render`.
        (Shell::Json, _) => {}
    }
}

/// POSIX single quotes: everything literal; a `'` becomes `'\''`.
pub fn posix_quote(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// fish single quotes: `\` and `'` must be escaped with a backslash, all else is literal.
pub fn fish_quote(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'\'');
    for &b in value {
        if b == b'\'' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'\'');
}

/// PowerShell single quotes: a quote (including the typographic ones PowerShell also accepts)
/// is doubled.
pub fn powershell_quote(out: &mut Vec<u8>, value: &str) {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            s.push(c);
        }
        s.push(c);
    }
    s.push('\'');
    out.extend_from_slice(s.as_bytes());
}

/// dotenv double quotes with backslash escapes for `\`, `"`, `$`, backtick and newline.
pub fn dotenv_quote(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        match b {
            b'\\' | b'"' | b'$' | b'`' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A JSON string literal (invalid UTF-8 is replaced).
pub fn json_string(out: &mut Vec<u8>, value: &[u8]) {
    let s = String::from_utf8_lossy(value);
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(shell: Shell, v: &str) -> String {
        String::from_utf8(render(shell, &[Change::set("X", v)])).unwrap_or_default()
    }

    #[test]
    fn posix_quotes_single_quote() {
        assert_eq!(one(Shell::Bash, "a'b"), "export X='a'\\''b';\n");
    }

    #[test]
    fn fish_escapes_backslash_and_quote() {
        assert_eq!(one(Shell::Fish, r"a\'b"), "set -gx X 'a\\\\\\'b';\ntrue;\n");
    }

    #[test]
    fn powershell_doubles_typographic_quotes() {
        assert_eq!(
            one(Shell::PowerShell, "a\u{2019}b"),
            "$Env:X = 'a\u{2019}\u{2019}b'\n"
        );
    }

    #[test]
    fn names_that_are_not_identifiers_are_dropped() {
        let out = render(
            Shell::Bash,
            &[
                Change::unset("X;touch /tmp/p;Y"),
                Change::set("OK_1", "v"),
                Change::RestorePrivate("A".into(), "b c".into()),
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out), "export OK_1='v';\n");
    }

    #[test]
    fn fish_output_ends_with_status_zero() {
        let out = render(Shell::Fish, &[Change::unset("NOT_SET_ANYWHERE")]);
        assert!(String::from_utf8_lossy(&out).ends_with("true;\n"));
    }

    #[test]
    fn json_marks_unset_as_null() {
        let out = render(Shell::Json, &[Change::set("A", "1\n"), Change::unset("B")]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"A\":\"1\\n\",\"B\":null}\n"
        );
    }

    #[test]
    fn env_format_skips_unsets() {
        let out = render(Shell::Env, &[Change::unset("B"), Change::set("A", "$x")]);
        assert_eq!(String::from_utf8_lossy(&out), "A=\"\\$x\"\n");
    }
}
