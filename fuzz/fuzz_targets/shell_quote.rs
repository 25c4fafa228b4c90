//! `shell::render` for every shell with arbitrary names and byte values.
//!
//! Properties:
//! - a change whose name is not an identifier renders as nothing (and takes nothing with it);
//! - every other change renders as exactly one statement of the fixed shape for its kind, and
//!   the value, unquoted by a small model of the shell's quoting (POSIX single quotes with
//!   `'\''`; fish single quotes with `\\` and `\'`; PowerShell's doubled quotes; dotenv's
//!   backslash escapes), is the input's bytes — so the value can never end the quoting early;
//! - JSON output parses as an object with the same names and (lossily decoded) values.
//!
//! `tests/quoting.rs` checks the same against the real bash, zsh, fish and sh.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use arbitrary::Arbitrary;
use awsenv::shell::{Change, Shell, is_identifier, render};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Kind {
    Set,
    Unset,
    SetPrivate,
    RestorePrivate,
    DropPrivate,
}

#[derive(Arbitrary, Debug)]
struct Item {
    kind: Kind,
    /// A plain identifier is used when this is false, to reach the rendering of values.
    raw_name: bool,
    name: String,
    held: String,
    value: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    shell: u8,
    items: Vec<Item>,
}

const SHELLS: [Shell; 7] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Sh,
    Shell::PowerShell,
    Shell::Env,
    Shell::Json,
];

fn ident(s: &str, raw: bool) -> String {
    if raw {
        return s.to_string();
    }
    let mut n: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if !n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        n.insert(0, 'V');
    }
    n
}

fn change(it: &Item) -> Change {
    let n = ident(&it.name, it.raw_name);
    let v = OsString::from_vec(it.value.clone());
    match it.kind {
        Kind::Set => Change::Set(n, v),
        Kind::Unset => Change::Unset(n),
        Kind::SetPrivate => Change::SetPrivate(n, v),
        Kind::RestorePrivate => Change::RestorePrivate(n, ident(&it.held, it.raw_name)),
        Kind::DropPrivate => Change::DropPrivate(n),
    }
}

fn names_ok(c: &Change) -> bool {
    match c {
        Change::RestorePrivate(n, h) => is_identifier(n) && is_identifier(h),
        c => is_identifier(c.name()),
    }
}

/// POSIX: a word of single-quoted runs joined by `\'`. Returns the value and the rest.
fn posix_unquote(s: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        assert_eq!(s.get(i), Some(&b'\''), "expected an opening quote: {s:?}");
        i += 1;
        while s[i] != b'\'' {
            out.push(s[i]);
            i += 1;
        }
        i += 1;
        if s[i..].starts_with(b"\\'") {
            out.push(b'\'');
            i += 2;
        } else {
            return (out, &s[i..]);
        }
    }
}

/// fish: one single-quoted string where `\\` and `\'` are escapes (other `\` is literal).
fn fish_unquote(s: &[u8]) -> (Vec<u8>, &[u8]) {
    assert_eq!(s.first(), Some(&b'\''), "expected an opening quote: {s:?}");
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match s[i] {
            b'\'' => return (out, &s[i + 1..]),
            b'\\' if matches!(s.get(i + 1), Some(b'\\' | b'\'')) => {
                out.push(s[i + 1]);
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// PowerShell: a single-quoted string where a doubled quote (any of its quote characters)
/// stands for one.
fn pwsh_unquote(s: &str) -> (String, &str) {
    let q = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let mut chars = s.char_indices().peekable();
    assert!(matches!(chars.next(), Some((_, c)) if q(c)), "{s:?}");
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if q(c) {
            match chars.peek() {
                Some(&(_, d)) if q(d) => {
                    out.push(c);
                    chars.next();
                }
                _ => return (out, &s[i + c.len_utf8()..]),
            }
        } else {
            out.push(c);
        }
    }
    panic!("unterminated PowerShell string: {s:?}");
}

/// dotenv: a double-quoted string with `\\`, `\"`, `\$`, `` \` ``, `\n`, `\r`.
fn dotenv_unquote(s: &[u8]) -> (Vec<u8>, &[u8]) {
    assert_eq!(s.first(), Some(&b'"'), "{s:?}");
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match s[i] {
            b'"' => return (out, &s[i + 1..]),
            b'\\' => {
                out.push(match s[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b @ (b'\\' | b'"' | b'$' | b'`') => b,
                    b => panic!("unknown escape \\{}", b as char),
                });
                i += 2;
            }
            // Unescaped, these would end the string or expand in a dotenv loader.
            b'$' | b'`' | b'\n' | b'\r' => panic!("unescaped {:?} in {s:?}", s[i] as char),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

fn expect<'a>(s: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    assert!(
        s.starts_with(prefix),
        "expected {:?} in {:?}",
        String::from_utf8_lossy(prefix),
        String::from_utf8_lossy(s)
    );
    &s[prefix.len()..]
}

/// Checks the output of one change (with identifier names) and returns what follows it.
fn check_one<'a>(shell: Shell, c: &Change, out: &'a [u8]) -> &'a [u8] {
    use Change::*;
    match (shell, c) {
        (Shell::Bash | Shell::Zsh | Shell::Sh, Set(n, v)) => {
            let (val, rest) = posix_unquote(expect(out, format!("export {n}=").as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            expect(rest, b";\n")
        }
        // The held copy is assigned, then unexported (bash, zsh); sh assigns it with allexport
        // off, once in each branch of a `case` on `$-`.
        (Shell::Bash | Shell::Zsh, SetPrivate(n, v)) => {
            let (val, rest) = posix_unquote(expect(out, format!("{n}=").as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            let unexport = match shell {
                Shell::Bash => format!("; export -n {n};\n"),
                _ => format!("; typeset -g +x {n};\n"),
            };
            expect(rest, unexport.as_bytes())
        }
        (Shell::Sh, SetPrivate(n, v)) => {
            let head = format!("case $- in *a*) set +a; unset {n}; {n}=");
            let (val, rest) = posix_unquote(expect(out, head.as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            let middle = format!("; set -a;; *) unset {n}; {n}=");
            let (val, rest) = posix_unquote(expect(rest, middle.as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            expect(rest, b";; esac;\n")
        }
        (Shell::Bash | Shell::Zsh | Shell::Sh, Unset(n) | DropPrivate(n)) => {
            expect(out, format!("unset {n};\n").as_bytes())
        }
        (Shell::Bash | Shell::Zsh | Shell::Sh, RestorePrivate(n, h)) => expect(
            out,
            format!(
                "if [ -n \"${{{h}+x}}\" ]; then export {n}=\"${h}\"; else unset {n}; fi; unset {h};\n"
            )
            .as_bytes(),
        ),
        (Shell::Fish, Set(n, v) | SetPrivate(n, v)) => {
            let head = match c {
                Set(..) => format!("set -gx {n} "),
                _ => format!("set -gu {n} "),
            };
            let (val, rest) = fish_unquote(expect(out, head.as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            expect(rest, b";\n")
        }
        (Shell::Fish, Unset(n) | DropPrivate(n)) => expect(out, format!("set -e {n};\n").as_bytes()),
        (Shell::Fish, RestorePrivate(n, h)) => expect(
            out,
            format!("if set -q {h}; set -gx {n} ${h}; else; set -e {n}; end; set -e {h};\n")
                .as_bytes(),
        ),
        (Shell::PowerShell, Set(n, v) | SetPrivate(n, v)) => {
            let head = match c {
                Set(..) => format!("$Env:{n} = "),
                _ => format!("$global:{n} = "),
            };
            let body = expect(out, head.as_bytes());
            // The statement ends at the first newline outside the string; values may hold
            // newlines, so unquote over the whole rest.
            let text = std::str::from_utf8(body).expect("PowerShell output is UTF-8");
            let (val, rest) = pwsh_unquote(text);
            assert_eq!(val, v.to_string_lossy());
            let consumed = body.len() - rest.len();
            expect(&body[consumed..], b"\n")
        }
        (Shell::PowerShell, Unset(n)) => expect(
            out,
            format!("Remove-Item -ErrorAction SilentlyContinue Env:{n}\n").as_bytes(),
        ),
        (Shell::PowerShell, DropPrivate(h)) => expect(
            out,
            format!("Remove-Variable -Scope Global -ErrorAction SilentlyContinue {h}\n").as_bytes(),
        ),
        (Shell::PowerShell, RestorePrivate(n, h)) => expect(
            out,
            format!(
                "if (Test-Path variable:global:{h}) {{ $Env:{n} = $global:{h} }} else {{ Remove-Item -ErrorAction SilentlyContinue Env:{n} }}; Remove-Variable -Scope Global -ErrorAction SilentlyContinue {h}\n"
            )
            .as_bytes(),
        ),
        (Shell::Env, Set(n, v)) => {
            let (val, rest) = dotenv_unquote(expect(out, format!("{n}=").as_bytes()));
            assert_eq!(val, v.as_encoded_bytes());
            expect(rest, b"\n")
        }
        (Shell::Env, _) => out,
        (Shell::Json, _) => unreachable!(),
    }
}

fuzz_target!(|input: Input| {
    let shell = SHELLS[input.shell as usize % SHELLS.len()];
    let changes: Vec<Change> = input.items.iter().map(change).collect();
    let out = render(shell, &changes);
    let kept: Vec<&Change> = changes.iter().filter(|c| names_ok(c)).collect();

    // A dropped change contributes nothing, alone or among others.
    for c in changes.iter().filter(|c| !names_ok(c)) {
        let alone = render(shell, std::slice::from_ref(c));
        let nothing: &[u8] = if shell == Shell::Json { b"{}\n" } else { b"" };
        assert_eq!(alone, nothing, "{c:?}");
    }

    if shell == Shell::Json {
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON output parses");
        let obj = v.as_object().expect("a JSON object");
        let mut expected = serde_json::Map::new();
        for c in &kept {
            match c {
                Change::Set(n, val) => {
                    expected.insert(n.clone(), val.to_string_lossy().into_owned().into());
                }
                Change::Unset(n) | Change::RestorePrivate(n, _) => {
                    expected.insert(n.clone(), serde_json::Value::Null);
                }
                _ => {}
            }
        }
        assert_eq!(obj, &expected);
        return;
    }

    let mut rest: &[u8] = &out;
    for c in &kept {
        rest = check_one(shell, c, rest);
    }
    if shell == Shell::Fish && !kept.is_empty() {
        rest = expect(rest, b"true;\n");
    }
    assert!(
        rest.is_empty(),
        "trailing output: {:?}",
        String::from_utf8_lossy(rest)
    );
});
