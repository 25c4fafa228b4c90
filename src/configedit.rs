//! The one editor of the user's AWS config file: every change awsenv makes to it (today the
//! profiles `awsenv sso profiles NAME --write` generates) goes through [`ConfigFile`].
//!
//! - Its text lives in one block between exact marker lines, `# BEGIN awsenv LABEL` (optionally
//!   followed by ` (` and a note) and `# END awsenv LABEL`; a line that merely starts with the
//!   marker (`… corp-eu` for `corp`) is not ours. Everything outside the block is kept byte for
//!   byte; a BEGIN without its END, or two blocks of one label, is refused, not guessed at.
//! - The names it gives sections never collide: [`ConfigFile::taken`] holds every profile name
//!   the config file (outside the block) and the credentials file define, and
//!   [`unique_name`] picks a free one.
//! - The result is parsed with the AWS SDK's profile parser, and checked for a section written
//!   twice (which the SDK merges but the AWS CLI refuses), before it replaces the file.
//! - The file is replaced atomically (a temporary file in the same directory, created with
//!   `O_EXCL|O_NOFOLLOW`, mode 0600, fsynced, renamed over the file, directory fsynced), after
//!   the previous text is kept in `<file>.awsenv-backup` (0600), and only if the file did not
//!   change since it was read.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::awsconfig::{AwsConfig, ConfigText, MAX_FILE, aws_file_path, read_text_file};
use crate::sanitize::printable;

/// The AWS config file as read for an edit, with the credentials file's profile names.
pub struct ConfigFile {
    /// The file edited (symbolic links resolved, so a linked dotfile is edited in place).
    pub path: PathBuf,
    /// Its text when read (empty when it does not exist).
    pub text: String,
    credentials_names: BTreeSet<String>,
}

/// The marker lines of the block labelled `label` (`sso profiles corp`): the BEGIN line with
/// `note` (when not empty) and the END line.
pub fn markers(label: &str, note: &str) -> (String, String) {
    let begin = if note.is_empty() {
        format!("# BEGIN awsenv {label}")
    } else {
        format!("# BEGIN awsenv {label} ({note})")
    };
    (begin, format!("# END awsenv {label}"))
}

/// The byte range of the block labelled `label` in `text` (BEGIN line through END line), if
/// any. Only exact marker lines count. An error for a BEGIN without END or a second block.
pub fn find_block(text: &str, label: &str) -> Result<Option<(usize, usize)>> {
    let (begin, end) = markers(label, "");
    let with_note = format!("{begin} (");
    let mut start: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        if l == begin || l.starts_with(&with_note) {
            if start.is_some() || found.is_some() {
                bail!("the file has two '{begin}' lines; remove one block by hand");
            }
            start = Some(pos);
        } else if l == end
            && let Some(s) = start.take()
        {
            found = Some((s, pos + line.len()));
        }
        pos += line.len();
    }
    if start.is_some() {
        bail!("the file has a '{begin}' line without its '{end}' line; fix the file by hand");
    }
    Ok(found)
}

/// The profile names with a section in `text`: `[profile X]` and `[X]` in a config file
/// (`sso-session` and `services` sections are not profiles), `[X]` in a credentials file.
pub fn section_names(text: &str, credentials: bool) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('[')?.split(']').next()?.trim();
            if credentials {
                return Some(inner.to_string());
            }
            let mut words = inner.split_whitespace();
            if matches!(words.next(), Some("sso-session" | "services")) && words.next().is_some() {
                return None;
            }
            let name = inner
                .strip_prefix("profile")
                .filter(|r| r.starts_with(char::is_whitespace))
                .map(str::trim)
                .unwrap_or(inner);
            Some(name.to_string())
        })
        .collect()
}

/// `wanted` if it is not in `taken`, else `wanted-<suffix>`, else `wanted-<suffix>-2`, `-3`…;
/// the name picked is added to `taken`.
pub fn unique_name(wanted: &str, suffix: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = wanted.to_string();
    let mut n = 1;
    while taken.contains(&name) {
        name = if n == 1 {
            format!("{wanted}-{suffix}")
        } else {
            format!("{wanted}-{suffix}-{n}")
        };
        n += 1;
    }
    taken.insert(name.clone());
    name
}

impl ConfigFile {
    /// Reads the AWS config file (`AWS_CONFIG_FILE`, `~/.aws/config`) and the names of the
    /// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`).
    pub fn read() -> Result<ConfigFile> {
        let path = aws_file_path("AWS_CONFIG_FILE", "config")
            .ok_or_else(|| anyhow!("no home directory for ~/.aws/config; set AWS_CONFIG_FILE"))?;
        // Edit the file a symbolic link points to, not the link.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let fix = "point AWS_CONFIG_FILE at a file";
        let text = read_text_file(&path, MAX_FILE, "the AWS config", fix)?.unwrap_or_default();
        let credentials_names = match aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials") {
            Some(p) => read_text_file(
                &p,
                MAX_FILE,
                "the AWS credentials file",
                "point AWS_SHARED_CREDENTIALS_FILE at a file",
            )?
            .map(|mut t| {
                let names = section_names(&t, true);
                zeroize::Zeroize::zeroize(&mut t);
                names
            })
            .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        Ok(ConfigFile {
            path,
            text,
            credentials_names,
        })
    }

    /// The text outside the block labelled `label`.
    pub fn outside(&self, label: &str) -> Result<String> {
        Ok(match find_block(&self.text, label)? {
            Some((s, e)) => format!("{}{}", &self.text[..s], &self.text[e..]),
            None => self.text.clone(),
        })
    }

    /// Every profile name a generated section must not take: those of the config file outside
    /// the block labelled `label`, and those of the credentials file.
    pub fn taken(&self, label: &str) -> Result<BTreeSet<String>> {
        let mut names = section_names(&self.outside(label)?, false);
        names.extend(self.credentials_names.iter().cloned());
        Ok(names)
    }

    /// Whether `name` is a profile of the credentials file.
    pub fn in_credentials(&self, name: &str) -> bool {
        self.credentials_names.contains(name)
    }

    /// The file's text with the block labelled `label` holding `body` (sections, each ending
    /// with a blank line; empty: the block is removed). The block stays where it was, or is
    /// appended after a blank line.
    pub fn with_block(&self, label: &str, note: &str, body: &str) -> Result<String> {
        let (begin, end) = markers(label, note);
        let block = if body.is_empty() {
            String::new()
        } else {
            format!("{begin}\n{body}{end}\n")
        };
        let text = &self.text;
        Ok(match find_block(text, label)? {
            Some((s, e)) => format!("{}{block}{}", &text[..s], &text[e..]),
            None if block.is_empty() => text.clone(),
            None => {
                let sep = if text.is_empty() || text.ends_with("\n\n") {
                    ""
                } else if text.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                format!("{text}{sep}{block}")
            }
        })
    }

    /// Checks `new_text` as the AWS tools will read it: the SDK's parser accepts it, and no
    /// profile of `generated` has a second section in it or in the credentials file.
    pub fn verify(&self, new_text: &str, generated: &[String]) -> Result<()> {
        let shown = self.path.display().to_string();
        let parsed = AwsConfig::parse(
            Some(ConfigText {
                path: &shown,
                text: new_text,
            }),
            None,
        )
        .context("the edited config would not parse; the file is unchanged")?;
        let mut seen = BTreeSet::new();
        for name in section_headers(new_text) {
            if generated.contains(&name) && !seen.insert(name.clone()) {
                bail!(
                    "the edited config would have two [profile {}] sections; the file is unchanged",
                    printable(name.as_bytes(), 80)
                );
            }
        }
        for name in generated {
            if self.credentials_names.contains(name) || !parsed.has(name) {
                bail!(
                    "the edited config would not define profile {} on its own; the file is unchanged",
                    printable(name.as_bytes(), 80)
                );
            }
        }
        Ok(())
    }

    /// Reads the AWS credentials file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`)
    /// for an edit: today only [`ConfigFile::without_keys`] (`awsenv import`). Its text holds
    /// secrets: it is wiped from memory when the value is dropped, and it is never backed up.
    pub fn read_credentials() -> Result<ConfigFile> {
        let path =
            aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials").ok_or_else(|| {
                anyhow!("no home directory for ~/.aws/credentials; set AWS_SHARED_CREDENTIALS_FILE")
            })?;
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let fix = "point AWS_SHARED_CREDENTIALS_FILE at a file";
        let text =
            read_text_file(&path, MAX_FILE, "the AWS credentials file", fix)?.unwrap_or_default();
        Ok(ConfigFile {
            path,
            text,
            credentials_names: BTreeSet::new(),
        })
    }

    /// The credentials file's text without the key lines (`aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_session_token`, `aws_security_token`) of the sections named
    /// in `profiles`; a section left with nothing but blank and comment lines goes too. Every
    /// other byte is kept. Checked with the SDK's parser: none of `profiles` holds keys after.
    pub fn without_keys(&self, profiles: &[String]) -> Result<zeroize::Zeroizing<String>> {
        const KEYS: [&str; 4] = [
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_security_token",
        ];
        let mut out = zeroize::Zeroizing::new(String::with_capacity(self.text.len()));
        // The current section: its header line and body, flushed when the next one starts.
        let mut section: Option<(bool, String)> = None;
        let flush = |section: &mut Option<(bool, String)>, out: &mut String| {
            if let Some((ours, mut text)) = section.take() {
                let keep = !ours
                    || text.lines().skip(1).any(|l| {
                        let t = l.trim();
                        !t.is_empty() && !t.starts_with('#') && !t.starts_with(';')
                    });
                if keep {
                    out.push_str(&text);
                }
                zeroize::Zeroize::zeroize(&mut text);
            }
        };
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if t.starts_with('[') {
                flush(&mut section, &mut out);
                let name = section_names(t, true)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                section = Some((profiles.contains(&name), line.to_string()));
                continue;
            }
            match &mut section {
                Some((true, text)) => {
                    let key = t.split('=').next().unwrap_or("").trim();
                    if !KEYS.contains(&key) {
                        text.push_str(line);
                    }
                }
                Some((false, text)) => text.push_str(line),
                None => out.push_str(line),
            }
        }
        flush(&mut section, &mut out);
        let shown = self.path.display().to_string();
        let parsed = AwsConfig::parse(
            None,
            Some(ConfigText {
                path: &shown,
                text: &out,
            }),
        )
        .context("the edited credentials file would not parse; it is unchanged")?;
        for p in profiles {
            if parsed.has_static_keys(p) {
                bail!(
                    "profile {} still holds keys after the edit (an unusual layout); {shown} is unchanged: remove them by hand",
                    printable(p.as_bytes(), 80)
                );
            }
        }
        Ok(out)
    }

    /// Replaces the file with `new_text` (see the module docs); returns the backup's path, or
    /// `None` when nothing changed or there was no file before.
    pub fn replace(&self, new_text: &str) -> Result<Option<PathBuf>> {
        self.replace_keeping(new_text, true)
    }

    /// [`ConfigFile::replace`] with no backup: for the credentials file, whose previous text
    /// holds the plaintext keys being removed.
    pub fn replace_without_backup(&self, new_text: &str) -> Result<()> {
        self.replace_keeping(new_text, false).map(|_| ())
    }

    fn replace_keeping(&self, new_text: &str, keep_backup: bool) -> Result<Option<PathBuf>> {
        if new_text == self.text {
            return Ok(None);
        }
        let shown = self.path.display();
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Another program may have written the file since it was read: do not undo that.
        let now = zeroize::Zeroizing::new(
            read_text_file(&self.path, MAX_FILE, "the AWS config", "")?.unwrap_or_default(),
        );
        if *now != self.text {
            bail!("{shown} changed while awsenv was editing it; run the command again");
        }
        let backup = if !keep_backup || (self.text.is_empty() && !self.path.exists()) {
            None
        } else {
            let b = PathBuf::from(format!("{}.awsenv-backup", self.path.display()));
            write_atomically(dir, &b, &self.text)
                .with_context(|| format!("cannot keep a backup of {shown}; it is unchanged"))?;
            Some(b)
        };
        write_atomically(dir, &self.path, new_text)?;
        Ok(backup)
    }
}

/// One key-level change to a config file's text, applied by [`ConfigFile::with_edits`]: what
/// a tool wrote into awsenv's `AWS_CONFIG_FILE` overlay, carried over to the user's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEdit {
    /// `key` of `section` (a header's inner text, words single-spaced: `profile x`, `default`,
    /// `sso-session corp`) holds `lines` (`key = value` and any indented lines under it); the
    /// section is appended with `header` when the file has none.
    Set {
        /// The section's name.
        section: String,
        /// The header line for a new section (`[profile x]`).
        header: String,
        /// The key.
        key: String,
        /// The key's lines as written, each ending with a newline.
        lines: String,
    },
    /// `key` of `section` goes (with its indented lines).
    Remove {
        /// The section's name.
        section: String,
        /// The key.
        key: String,
    },
    /// The whole section goes.
    RemoveSection {
        /// The section's name.
        section: String,
    },
}

/// A header line's section name: its inner text with single spaces (`[ profile  x ]` is
/// `profile x`); `None` for a line that is not a header.
pub fn section_of(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.split(']').next()?;
    Some(inner.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The key a line sets (`region = x` is `region`); `None` for blank, comment, indented
/// (nested value) and header lines.
pub fn key_of(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t']) || line.trim_start().starts_with(['#', ';', '[']) {
        return None;
    }
    let (k, _) = line.split_once('=')?;
    Some(k.trim()).filter(|k| !k.is_empty())
}

/// The line range `[start, end)` of each section named `name` in `lines` (header through the
/// line before the next header); the first one.
fn section_range(lines: &[String], name: &str) -> Option<(usize, usize)> {
    let start = lines
        .iter()
        .position(|l| section_of(l).as_deref() == Some(name))?;
    let end = (start + 1..lines.len())
        .find(|&j| section_of(&lines[j]).is_some())
        .unwrap_or(lines.len());
    Some((start, end))
}

/// The lines `[i, j)` of the key at line `i` in a section ending at `end`: its line and the
/// indented non-blank lines under it.
fn key_span(lines: &[String], i: usize, end: usize) -> usize {
    let mut j = i + 1;
    while j < end && lines[j].starts_with([' ', '\t']) && !lines[j].trim().is_empty() {
        j += 1;
    }
    j
}

/// `text` with `edits` applied in order (see [`KeyEdit`]); every other line kept as it is.
pub fn apply_edits(text: &str, edits: &[KeyEdit]) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if let Some(l) = lines.last_mut()
        && !l.ends_with('\n')
    {
        l.push('\n');
    }
    for e in edits {
        match e {
            KeyEdit::Set {
                section,
                header,
                key,
                lines: new,
            } => {
                let new: Vec<String> = new.split_inclusive('\n').map(String::from).collect();
                match section_range(&lines, section) {
                    Some((s, end)) => {
                        match (s + 1..end).find(|&i| key_of(&lines[i]) == Some(key.as_str())) {
                            Some(i) => {
                                let j = key_span(&lines, i, end);
                                lines.splice(i..j, new);
                            }
                            None => {
                                // After the section's last non-blank line.
                                let at = (s + 1..end)
                                    .rev()
                                    .find(|&i| !lines[i].trim().is_empty())
                                    .map_or(s + 1, |i| i + 1);
                                lines.splice(at..at, new);
                            }
                        }
                    }
                    None => {
                        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                            lines.push("\n".into());
                        }
                        lines.push(format!("{header}\n"));
                        lines.extend(new);
                    }
                }
            }
            KeyEdit::Remove { section, key } => {
                if let Some((s, end)) = section_range(&lines, section)
                    && let Some(i) = (s + 1..end).find(|&i| key_of(&lines[i]) == Some(key.as_str()))
                {
                    let j = key_span(&lines, i, end);
                    lines.drain(i..j);
                }
            }
            KeyEdit::RemoveSection { section } => {
                if let Some((s, end)) = section_range(&lines, section) {
                    lines.drain(s..end);
                }
            }
        }
    }
    lines.concat()
}

impl ConfigFile {
    /// The file's text with `edits` applied ([`apply_edits`]), checked with the SDK's parser.
    pub fn with_edits(&self, edits: &[KeyEdit]) -> Result<String> {
        let text = apply_edits(&self.text, edits);
        self.verify(&text, &[])?;
        Ok(text)
    }

    /// Keeps `text` (awsenv's overlay as a tool left it) next to the file, as
    /// `<file>.awsenv-unsaved` (0600, replaced atomically); returns that path.
    pub fn keep_aside(&self, text: &str) -> Result<PathBuf> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let p = PathBuf::from(format!("{}.awsenv-unsaved", self.path.display()));
        write_atomically(dir, &p, text)?;
        Ok(p)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        // The credentials file's text holds secrets.
        zeroize::Zeroize::zeroize(&mut self.text);
    }
}

/// The profile names of every section header of a config text, repeats included.
fn section_headers(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('['))
        .flat_map(|l| section_names(l, false))
        .collect()
}

/// Writes `text` to `path` through a new temporary file in `dir` (`O_EXCL|O_NOFOLLOW`, 0600,
/// fsynced), renamed over `path`; then fsyncs `dir`.
fn write_atomically(dir: &Path, path: &Path, text: &str) -> Result<()> {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(
        ".{name}.awsenv-{}.tmp",
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = f
        .write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_markers_delimit_a_block() {
        let (b, e) = markers("sso profiles corp", "note");
        let (eb, ee) = markers("sso profiles corp-eu", "note");
        let text =
            format!("{eb}\n[profile x]\n{ee}\n[profile mine]\n{b}\n[profile a]\n{e}\n# end\n");
        let (s, end) = find_block(&text, "sso profiles corp")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(&text[s..end], format!("{b}\n[profile a]\n{e}\n"));
        let (s, end) = find_block(&text, "sso profiles corp-eu")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(&text[s..end], format!("{eb}\n[profile x]\n{ee}\n"));
        assert!(find_block(&format!("{b}\n[profile a]\n"), "sso profiles corp").is_err());
        assert!(find_block(&format!("{b}\n{e}\n{b}\n{e}\n"), "sso profiles corp").is_err());
        assert_eq!(
            find_block("[default]\n", "sso profiles corp")
                .ok()
                .flatten(),
            None
        );
    }

    #[test]
    fn edits_change_only_their_keys() {
        let text = "# mine\n[default]\nregion = eu-west-1\n\n[profile a]\nrole_arn = r\ns3 =\n  addressing_style = path\nregion = us-east-1\n\n[profile b]\nregion = x\n";
        let set = |section: &str, key: &str, lines: &str| KeyEdit::Set {
            section: section.into(),
            header: format!("[{section}]"),
            key: key.into(),
            lines: lines.into(),
        };
        let out = apply_edits(
            text,
            &[
                set("profile a", "region", "region = eu-west-3\n"),
                set("default", "foo", "foo = bar\n"),
                KeyEdit::Remove {
                    section: "profile a".into(),
                    key: "s3".into(),
                },
                KeyEdit::RemoveSection {
                    section: "profile b".into(),
                },
                set("profile x", "region", "region = eu-west-3\n"),
            ],
        );
        assert_eq!(
            out,
            "# mine\n[default]\nregion = eu-west-1\nfoo = bar\n\n[profile a]\nrole_arn = r\nregion = eu-west-3\n\n[profile x]\nregion = eu-west-3\n"
        );
    }

    #[test]
    fn names_never_collide() {
        let mut taken: BTreeSet<String> = ["a", "a-1", "a-1-2"].map(String::from).into();
        assert_eq!(unique_name("b", "1", &mut taken), "b");
        assert_eq!(unique_name("a", "1", &mut taken), "a-1-3");
        assert_eq!(unique_name("a", "1", &mut taken), "a-1-4");
    }

    #[test]
    fn the_result_is_checked_before_it_is_written() {
        let file = ConfigFile {
            path: PathBuf::from("/h/.aws/config"),
            text: String::new(),
            credentials_names: ["mine".to_string()].into(),
        };
        let one = "[profile a]\nregion = x\n";
        assert!(file.verify(one, &["a".into()]).is_ok());
        let twice = format!("{one}\n{one}");
        let e = file
            .verify(&twice, &["a".into()])
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("two [profile a]"));
        assert!(
            file.verify("[profile mine]\nregion = x\n", &["mine".into()])
                .is_err()
        );
        assert!(
            file.verify("[profile a]\nnot a line\n", &["a".into()])
                .is_err()
        );
    }

    #[test]
    fn without_keys_removes_only_the_named_profiles_keys() {
        let cf = ConfigFile {
            path: PathBuf::from("/h/.aws/credentials"),
            text: "# mine\n[plain]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n\
                   [keep]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\n\n\
                   [mixed]\nregion = eu-west-1\naws_access_key_id = AKIA3\naws_secret_access_key = s3\n"
                .into(),
            credentials_names: BTreeSet::new(),
        };
        let out = cf
            .without_keys(&["plain".into(), "mixed".into()])
            .expect("edit");
        assert_eq!(
            out.as_str(),
            "# mine\n[keep]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\n\n[mixed]\nregion = eu-west-1\n"
        );
    }

    #[test]
    fn section_names_of_both_files() {
        let names = section_names(
            "[default]\n[profile a b]\n[sso-session corp]\n[ profile c ]\n",
            false,
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec!["a b", "c", "default"]
        );
        let names = section_names("[dev-readonly]\n[profile x]\n", true);
        assert!(names.contains("dev-readonly") && names.contains("profile x"));
    }
}
