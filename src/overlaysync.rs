//! A write into the `AWS_CONFIG_FILE` overlay (`aws configure set region eu-west-3 --profile x`,
//! `aws configure set foo bar`, `aws configure sso` while awsenv serves the profiles) is not
//! lost: before the overlay is written again, what changed in it against what awsenv generated
//! (kept beside it as `config-<hash>.base`) — keys and sections added, changed or removed,
//! ignoring the `credential_process` lines awsenv put in — is applied to the user's config
//! through the one config editor ([`crate::configedit`]), and one line on stderr says so.
//!
//! When the user's file changed the same key since (a conflicting edit in both files), or the
//! edit cannot be made, nothing is applied: the overlay as the tool left it is kept in
//! `<config>.awsenv-unsaved` and one line says so. The hook does this at the next prompt, and
//! `exec --server` when its command ends.

use std::path::Path;

use crate::configedit::{ConfigFile, KeyEdit, key_of, section_of};
use crate::sanitize::printable;

/// One section of a config text: its header line, name and keys (each with its lines).
struct Section {
    header: String,
    name: String,
    entries: Vec<(String, String)>,
}

fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in text.split_inclusive('\n') {
        let with_nl = if line.ends_with('\n') {
            line.to_string()
        } else {
            format!("{line}\n")
        };
        if let Some(name) = section_of(line) {
            out.push(Section {
                header: line.trim().to_string(),
                name,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(s) = out.last_mut() else { continue };
        if let Some(k) = key_of(line) {
            s.entries.push((k.to_string(), with_nl));
        } else if line.starts_with([' ', '\t'])
            && !line.trim().is_empty()
            && let Some((_, lines)) = s.entries.last_mut()
        {
            lines.push_str(&with_nl);
        }
    }
    out
}

/// A key's value as the SDKs read it: the text after `=` and the nested lines, trimmed.
fn value(lines: &str) -> String {
    let mut v = lines
        .split_once('=')
        .map(|(_, r)| r.trim().to_string())
        .unwrap_or_default();
    for l in lines.lines().skip(1) {
        v.push('\n');
        v.push_str(l.trim());
    }
    v
}

/// Whether `s` is a profile awsenv serves in the generated text (its `credential_process`
/// names awsenv's `credential-process`).
fn served(s: &Section) -> bool {
    s.entries
        .iter()
        .any(|(k, l)| k == "credential_process" && l.contains(" credential-process "))
}

fn get<'a>(s: &'a Section, key: &str) -> Option<&'a str> {
    s.entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, l)| l.as_str())
}

/// What changed from `base` (the overlay awsenv generated) to `now` (the overlay as it is).
pub fn edits(base: &str, now: &str) -> Vec<KeyEdit> {
    let (base, now) = (sections(base), sections(now));
    let mut out = Vec::new();
    for n in &now {
        let b = base.iter().find(|b| b.name == n.name);
        let ours = b.is_some_and(served);
        for (key, lines) in &n.entries {
            if ours && key == "credential_process" {
                continue;
            }
            if b.and_then(|b| get(b, key)).map(value) != Some(value(lines)) {
                out.push(KeyEdit::Set {
                    section: n.name.clone(),
                    header: n.header.clone(),
                    key: key.clone(),
                    lines: lines.clone(),
                });
            }
        }
        if let Some(b) = b {
            for (key, _) in &b.entries {
                if !(ours && key == "credential_process") && get(n, key).is_none() {
                    out.push(KeyEdit::Remove {
                        section: n.name.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
    }
    for b in &base {
        if !now.iter().any(|n| n.name == b.name) {
            out.push(KeyEdit::RemoveSection {
                section: b.name.clone(),
            });
        }
    }
    out
}

fn section_name(e: &KeyEdit) -> &str {
    match e {
        KeyEdit::Set { section, .. }
        | KeyEdit::Remove { section, .. }
        | KeyEdit::RemoveSection { section } => section,
    }
}

fn key_name(e: &KeyEdit) -> Option<&str> {
    match e {
        KeyEdit::Set { key, .. } | KeyEdit::Remove { key, .. } => Some(key),
        KeyEdit::RemoveSection { .. } => None,
    }
}

/// The edits of `ours` that the user's own edits `theirs` (since the overlay was generated)
/// contradict: same key (or a removed section) changed differently in both.
pub fn conflicts<'a>(ours: &'a [KeyEdit], theirs: &[KeyEdit]) -> Vec<&'a KeyEdit> {
    ours.iter()
        .filter(|o| {
            theirs.iter().any(|t| {
                section_name(t) == section_name(o)
                    && (key_name(t).is_none()
                        || key_name(o).is_none()
                        || key_name(t) == key_name(o))
                    && t != *o
            })
        })
        .collect()
}

/// `profile x`, `profile default`, `sso-session corp`: a section as the user knows it.
fn shown_section(section: &str) -> String {
    let s = if section == "default" {
        "profile default"
    } else {
        section
    };
    printable(s.as_bytes(), 80)
}

/// One edit for a message: `'region = eu-west-3' of profile x`; a value that may be secret is
/// not shown.
pub fn describe(e: &KeyEdit) -> String {
    match e {
        KeyEdit::Set {
            section,
            key,
            lines,
            ..
        } => {
            let secret = ["secret", "token", "key_id", "password"]
                .iter()
                .any(|w| key.to_ascii_lowercase().contains(w));
            let v = value(lines);
            let shown = if secret || v.contains('\n') {
                printable(key.as_bytes(), 60)
            } else {
                format!(
                    "{} = {}",
                    printable(key.as_bytes(), 60),
                    printable(v.as_bytes(), 80)
                )
            };
            format!("'{shown}' of {}", shown_section(section))
        }
        KeyEdit::Remove { section, key } => format!(
            "the removal of '{}' of {}",
            printable(key.as_bytes(), 60),
            shown_section(section)
        ),
        KeyEdit::RemoveSection { section } => {
            format!("the removal of {}", shown_section(section))
        }
    }
}

/// `~/.aws/config` for a path under HOME, else the path.
fn shown_path(p: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
        && let Ok(rest) = p.strip_prefix(&home)
    {
        return format!("~/{}", rest.display());
    }
    p.display().to_string()
}

/// The line for what was saved: `saved 'region = eu-west-3' of profile x to ~/.aws/config`.
fn saved_line(edits: &[KeyEdit], to: &Path) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = edits.iter().take(SHOWN).map(describe).collect();
    if edits.len() > SHOWN {
        parts.push(format!("{} more", edits.len() - SHOWN));
    }
    format!("saved {} to {}", parts.join(", "), shown_path(to))
}

/// Saves what was written into the overlay `overlay` (generated as `base`) into the user's
/// config; `generated_now` generates the overlay text for a user config text (to tell the
/// user's own edits since). Returns the line to say, `None` when nothing was written into it.
pub fn save(overlay: &str, base: &str, generated_now: impl Fn(&str) -> String) -> Option<String> {
    let body = |t: &str| {
        t.split_once('\n')
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    };
    let ours = edits(&body(base), &body(overlay));
    if ours.is_empty() {
        return None;
    }
    let file = match ConfigFile::read() {
        Ok(f) => f,
        Err(e) => {
            return Some(format!(
                "cannot save what was written into AWS_CONFIG_FILE: {e:#}"
            ));
        }
    };
    let theirs = edits(&body(base), &body(&generated_now(&file.text)));
    let clash = conflicts(&ours, &theirs);
    let result = if let Some(c) = clash.first() {
        Err(format!(
            "{} was also changed in {}",
            describe(c),
            shown_path(&file.path)
        ))
    } else {
        // Drop what the user's file already holds.
        let todo: Vec<KeyEdit> = ours.into_iter().filter(|o| !theirs.contains(o)).collect();
        file.with_edits(&todo)
            .and_then(|text| file.replace(&text))
            .map(|_| saved_line(&todo, &file.path))
            .map_err(|e| format!("{e:#}"))
    };
    Some(match result {
        Ok(line) => line,
        Err(why) => match file.keep_aside(overlay) {
            Ok(p) => format!(
                "what was written into AWS_CONFIG_FILE is not saved to {} ({why}); it is kept in {}: copy it over by hand",
                shown_path(&file.path),
                shown_path(&p)
            ),
            Err(e) => format!(
                "what was written into AWS_CONFIG_FILE is lost: not saved to {} ({why}), and {e:#}",
                shown_path(&file.path)
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
[default]
region = eu-west-1
[profile calvin]
credential_process = /bin/awsenv credential-process calvin
region = us-east-2
[profile plain]
output = json
";

    fn set(section: &str, key: &str, lines: &str) -> KeyEdit {
        KeyEdit::Set {
            section: section.into(),
            header: format!("[{section}]"),
            key: key.into(),
            lines: lines.into(),
        }
    }

    #[test]
    fn what_aws_configure_wrote_is_found() {
        let now = "\
[default]
region = eu-west-1
foo = bar
[profile calvin]
credential_process = /other/awsenv credential-process calvin
region = eu-west-3
[profile x]
region = eu-west-3
";
        assert_eq!(
            edits(BASE, now),
            [
                set("default", "foo", "foo = bar\n"),
                set("profile calvin", "region", "region = eu-west-3\n"),
                set("profile x", "region", "region = eu-west-3\n"),
                KeyEdit::RemoveSection {
                    section: "profile plain".into()
                },
            ]
        );
        assert!(edits(BASE, BASE).is_empty());
        assert_eq!(
            describe(&set("profile x", "region", "region = eu-west-3\n")),
            "'region = eu-west-3' of profile x"
        );
        assert_eq!(
            describe(&set(
                "default",
                "aws_secret_access_key",
                "aws_secret_access_key = s\n"
            )),
            "'aws_secret_access_key' of profile default"
        );
    }

    /// What `aws configure sso` appends (a session and a profile) lands in the user's file as
    /// written, after the user's own sections, which keep their credential keys.
    #[test]
    fn what_aws_configure_sso_wrote_is_carried_over() {
        let now = format!(
            "{BASE}[profile dev]\nsso_session = corp\nsso_account_id = 444444444444\nsso_role_name = Dev\nregion = eu-west-1\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
        );
        let user = "[default]\nregion = eu-west-1\n[profile calvin]\nrole_arn = arn:aws:iam::2:role/r\nregion = us-east-2\n[profile plain]\noutput = json\n";
        let out = crate::configedit::apply_edits(user, &edits(BASE, &now));
        assert_eq!(
            out,
            format!(
                "{user}\n[profile dev]\nsso_session = corp\nsso_account_id = 444444444444\nsso_role_name = Dev\nregion = eu-west-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
            )
        );
    }

    #[test]
    fn the_same_key_changed_in_both_files_is_a_conflict() {
        let ours = [set("profile calvin", "region", "region = eu-west-3\n")];
        let theirs = [set("profile calvin", "region", "region = ap-south-1\n")];
        assert_eq!(conflicts(&ours, &theirs).len(), 1);
        assert!(conflicts(&ours, &ours).is_empty());
        let other = [set("profile calvin", "output", "output = json\n")];
        assert!(conflicts(&ours, &other).is_empty());
        let gone = [KeyEdit::RemoveSection {
            section: "profile calvin".into(),
        }];
        assert_eq!(conflicts(&ours, &gone).len(), 1);
    }
}
