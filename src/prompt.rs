//! The prompt segment: `calvin 42m`, `calvin expired`, or nothing. Reads only the environment.

use crate::timefmt;

/// The default format of `awsenv prompt`.
pub const DEFAULT_FORMAT: &str = "{profile} {remaining}";

/// What `awsenv prompt` was asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    /// The format (default [`DEFAULT_FORMAT`]).
    pub format: Option<String>,
    /// Text put before the segment, only when there is one.
    pub prefix: String,
    /// Text put after the segment, only when there is one.
    pub suffix: String,
}

impl Options {
    /// Parses `--format F`, `--prefix P`, `--suffix S` (also as `--name=value`), in any order;
    /// `None` for anything else (the caller hands that to the full command-line parser).
    pub fn parse<'a>(mut args: impl Iterator<Item = &'a str>) -> Option<Options> {
        let mut o = Options::default();
        while let Some(a) = args.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v)),
                _ => (a, None),
            };
            let slot = match name {
                "--format" => {
                    let v = match inline {
                        Some(v) => v,
                        None => args.next()?,
                    };
                    o.format = Some(v.to_string());
                    continue;
                }
                "--prefix" => &mut o.prefix,
                "--suffix" => &mut o.suffix,
                _ => return None,
            };
            *slot = match inline {
                Some(v) => v,
                None => args.next()?,
            }
            .to_string();
        }
        Some(o)
    }
}

/// The placeholders a format may use.
pub const PLACEHOLDERS: [&str; 4] = ["{profile}", "{region}", "{remaining}", "{expiration}"];

/// The first `{word}` in `format` that is not a placeholder (a typo such as `{profil}`), for a
/// message; literal braces around anything else (`{`, `{ x }`, `{{`) are fine.
pub fn unknown_placeholder(format: &str) -> Option<&str> {
    let mut rest = format;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        if let Some(end) = after.find('}') {
            let word = &after[..end];
            if !word.is_empty()
                && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !PLACEHOLDERS.contains(&&rest[i..i + end + 2])
            {
                return Some(&rest[i..i + end + 2]);
            }
        }
        rest = after;
    }
    None
}

/// The message for an unknown placeholder.
pub fn unknown_placeholder_message(p: &str) -> String {
    format!(
        "unknown placeholder {p} in --format; the placeholders are {}",
        PLACEHOLDERS.join(" ")
    )
}

/// Replaces each placeholder in `format` by its value in one pass: a value is never searched
/// for placeholders itself, so a variable holding `{region}` shows as such and a few of them
/// cannot multiply the segment's length.
fn substitute(format: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match values.iter().find(|(p, _)| rest.starts_with(p)) {
            Some((p, v)) => {
                out.push_str(v);
                rest = &rest[p.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn without_controls(s: &str) -> String {
    crate::sanitize::strip(s)
}

/// Renders the segment from the environment at time `now` (epoch seconds); empty when no
/// profile is active. Placeholders: `{profile}`, `{region}`, `{remaining}`, `{expiration}`.
/// A session of another tool counts too (aws-vault's `AWS_VAULT` with
/// `AWS_CREDENTIAL_EXPIRATION` or, before v7, `AWS_SESSION_EXPIRATION`). Control characters
/// from the environment never reach the terminal.
pub fn render(opts: &Options, now: i64) -> String {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let Some(profile) = var(crate::envstate::PROFILE)
        .or_else(|| var("AWS_VAULT"))
        .map(|p| without_controls(&p))
        .filter(|p| !p.is_empty())
    else {
        return String::new();
    };
    let expiration = var("AWS_CREDENTIAL_EXPIRATION")
        .or_else(|| var("AWS_SESSION_EXPIRATION"))
        .map(|e| without_controls(&e));
    let remaining = match expiration.as_deref().and_then(timefmt::parse_rfc3339) {
        Some(at) if at > now => timefmt::remaining(at - now),
        Some(_) => "expired".to_string(),
        None => String::new(),
    };
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .map(|r| without_controls(&r))
        .unwrap_or_default();
    let out = substitute(
        opts.format.as_deref().unwrap_or(DEFAULT_FORMAT),
        &[
            ("{profile}", &profile),
            ("{region}", &region),
            ("{remaining}", &remaining),
            ("{expiration}", expiration.as_deref().unwrap_or("")),
        ],
    );
    let out = out.trim();
    if out.is_empty() {
        return String::new();
    }
    format!("{}{out}{}", opts.prefix, opts.suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_in_a_placeholder_is_named() {
        assert_eq!(
            unknown_placeholder("{profil} {remaining}"),
            Some("{profil}")
        );
        assert_eq!(
            unknown_placeholder("{profile} ({region}) {expiration}"),
            None
        );
        assert_eq!(unknown_placeholder("{ x } {{ {} {"), None);
    }

    #[test]
    fn options_in_any_order() {
        let o = Options::parse(["--suffix", " ", "--format={profile}"].into_iter());
        assert_eq!(
            o,
            Some(Options {
                format: Some("{profile}".into()),
                prefix: String::new(),
                suffix: " ".into()
            })
        );
        assert_eq!(Options::parse(["--bogus"].into_iter()), None);
        assert_eq!(
            substitute("{a}{b} {{a}} {c", &[("{a}", "{b}"), ("{b}", "B")]),
            "{b}B {{b}} {c"
        );
        assert_eq!(Options::parse(["--prefix"].into_iter()), None);
    }
}
