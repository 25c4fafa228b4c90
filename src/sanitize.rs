//! The one sanitiser: every message built from outside text — a service's error code, message
//! or body (STS, IAM Identity Center, IAM, the federation endpoint), a file's content, an
//! environment value — quotes that text through [`printable`] or [`line()`], so that it reaches
//! the terminal only as printable text: no ESC, BEL, CSI or other control byte, no
//! text-direction override, no invalid UTF-8. [`one_line`], which every error goes through on
//! its way to stderr (`app::report`), applies it too, as a last net.
//!
//! Part of the hot layer (no dependency), so the per-prompt code may use it as well.

/// Whether `c` must not reach a terminal as is: a control character (C0, DEL, C1), a line or
/// paragraph separator, or a text-direction embedding, override or isolate.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || ('\u{2028}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `bytes` as one printable line of at most `max` bytes: control characters, text-direction
/// overrides and invalid UTF-8 as `\xNN` / `\u{NNNN}`, the rest cut with `…`. For quoting what a
/// foreign server or a hostile variable holds. Idempotent: its output passes through unchanged.
pub fn printable(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid().chars().map(|c| {
            if unsafe_char(c) {
                if (c as u32) < 0x100 {
                    format!("\\x{:02x}", c as u32)
                } else {
                    format!("\\u{{{:04x}}}", c as u32)
                }
            } else {
                c.to_string()
            }
        });
        let invalid = chunk.invalid().iter().map(|b| format!("\\x{b:02x}"));
        for piece in valid.chain(invalid) {
            if out.len().saturating_add(piece.len()) > max {
                out.push('…');
                return out;
            }
            out.push_str(&piece);
        }
    }
    out
}

/// `bytes` (a value from a file or the environment) in double quotes as [`printable`] shows
/// it: `"eu-west-1\x1b[2J"`. What an error uses to quote a value it refuses.
pub fn quoted(bytes: &[u8], max: usize) -> String {
    format!("\"{}\"", printable(bytes, max))
}

/// `bytes` (an error page, a service message) as one printable line of at most `max` bytes:
/// runs of ASCII whitespace (newlines included) become one space, then [`printable`].
pub fn line(bytes: &[u8], max: usize) -> String {
    let mut joined = Vec::with_capacity(bytes.len().min(max.saturating_mul(4)));
    for word in bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !joined.is_empty() {
            joined.push(b' ');
        }
        joined.extend_from_slice(word);
    }
    printable(&joined, max)
}

/// A possibly multi-line message as one printable line (see [`line()`]), whatever its length,
/// with the password of any `scheme://user:password@host` in it redacted ([`redact_userinfo`]).
pub fn one_line(s: &str) -> String {
    redact_userinfo(&line(s.as_bytes(), usize::MAX))
}

/// `s` with the credentials of every URL in it (`https://user:secret@proxy:3128`) replaced:
/// `https://user:***@proxy:3128` (a user alone, which may be a token, becomes `***`).
pub fn redact_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                match authority[..at].split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `s` without the characters [`printable`] would escape: for the prompt segment, where an
/// escape sequence shown as text would be noise.
pub fn strip(s: &str) -> String {
    s.chars().filter(|&c| !unsafe_char(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_and_cuts() {
        assert_eq!(printable(b"a\0b\x1b[", 100), "a\\x00b\\x1b[");
        assert_eq!(printable("jörg".as_bytes(), 100), "jörg");
        assert_eq!(printable(b"\xff", 100), "\\xff");
        assert_eq!(printable("a\u{202e}b".as_bytes(), 100), "a\\u{202e}b");
        assert_eq!(printable("a\u{9b}2J".as_bytes(), 100), "a\\x9b2J");
        assert_eq!(printable(b"abcdef", 3), "abc…");
    }

    #[test]
    fn a_hostile_page_becomes_one_printable_line() {
        let page = b"<html>\x1b]0;PWNED\x07\x1b[2J\x9b2J\r\n  Session\tinvalid\n</html>";
        let l = line(page, 500);
        assert_eq!(
            l,
            "<html>\\x1b]0;PWNED\\x07\\x1b[2J\\x9b2J Session invalid </html>"
        );
        assert!(!l.bytes().any(|b| b < 0x20 || b == 0x7f));
        assert_eq!(printable(l.as_bytes(), 500), l, "not idempotent");
        assert_eq!(one_line("a\n  b\u{7}"), "a b\\x07");
        assert_eq!(strip("dev\u{1b}[31m\u{202e}"), "dev[31m");
        assert_eq!(quoted(b"eu\x07", 40), "\"eu\\x07\"");
    }

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact_userinfo("proxy https://bob:s3cr%40t@proxy:3128/ refused; http://tok@h x"),
            "proxy https://bob:***@proxy:3128/ refused; http://***@h x"
        );
        assert_eq!(redact_userinfo("https://host/a@b"), "https://host/a@b");
        assert_eq!(
            one_line("via http://u:hunter2@p:1\n"),
            "via http://u:***@p:1"
        );
    }
}
