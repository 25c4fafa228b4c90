//! The `AWS_CONFIG_FILE` overlay: every profile of the user's AWS config that awsenv serves,
//! reachable by any SDK (Terraform's backend and provider aliases, the AWS CLI, boto3) through
//! `credential_process = <this awsenv> credential-process NAME`, with no edit of the user's file.
//!
//! At each activation (hook, `use`, `exec`, `exec --server`) awsenv writes the overlay — a copy
//! of the user's config in which each served profile keeps its non-credential keys (`region`,
//! `output`, endpoints, …) and gets a `credential_process` line instead of `role_arn`,
//! `source_profile`, `mfa_serial` and the IAM Identity Center keys — and points
//! `AWS_CONFIG_FILE` at it, recording the user's own file in [`USER_CONFIG`]. Everything else
//! (profiles awsenv does not serve, `[sso-session]`, `[services]`, comments) is copied exactly.
//! awsenv itself reads the user's file whenever `AWS_CONFIG_FILE` names a file in the overlay
//! directory ([`user_config_for`]), so `credential-process` never reads its own overlay.
//!
//! Served: a profile with `role_arn`, `source_profile`, `mfa_serial`, IAM Identity Center keys
//! or `login_session` (`aws login`, which Terraform's SDK does not read), and none of
//! `credential_process`, `credential_source`, `web_identity_token_file` (which awsenv does not
//! take over). The file is 0600 in `$XDG_RUNTIME_DIR/awsenv` (else
//! `$XDG_STATE_HOME/awsenv/run`), opened through [`crate::safefile`]; it holds no secrets. Its
//! first line holds a digest of the rest, so a write into it (`aws configure set` while it is
//! active) is noticed ([`written_into`]) and saved into the user's file before the overlay is
//! written again ([`save_writes`], [`crate::overlaysync`]).
//!
//! Std, sha2 and [`crate::safefile`] only: text in, text out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use sha2::{Digest, Sha256};

pub use crate::activation::{is_overlay, overlay_dir as dir, user_config_for};
pub use crate::envstate::USER_CONFIG;

/// The first line's prefix; the digest of the rest follows it.
const HEADER: &str = "# awsenv overlay; edit your own config instead, this file is rewritten: ";

/// Keys that make a profile's credentials, replaced in a served profile.
const CREDENTIAL_KEYS: &[&str] = &[
    "role_arn",
    "source_profile",
    "mfa_serial",
    "mfa_process",
    "role_session_name",
    "external_id",
    "duration_seconds",
    "source_identity",
    "include_profile",
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
    "login_session",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];
/// Keys that make awsenv leave a profile exactly as written.
const FOREIGN_KEYS: &[&str] = &[
    "credential_process",
    "credential_source",
    "web_identity_token_file",
];
/// Keys that make a profile one awsenv serves.
const SERVED_KEYS: &[&str] = &[
    "role_arn",
    "source_profile",
    "mfa_serial",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "login_session",
];

/// A word for a `credential_process` line: as is when plain, else in single quotes (both the
/// AWS CLI's split and Go's `sh -c` read them); `None` when it holds a quote or a control byte.
fn shell_word(w: &str) -> Option<String> {
    if w.is_empty() || w.chars().any(|c| c == '\'' || c.is_control()) {
        return None;
    }
    if w.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.@+/:=,".contains(c))
    {
        Some(w.to_string())
    } else {
        Some(format!("'{w}'"))
    }
}

/// A section header's profile name: `[profile NAME]` or `[default]`; `None` for other sections.
fn profile_of(header: &str) -> Option<&str> {
    let inner = header.strip_prefix('[')?.split(']').next()?.trim();
    if inner == "default" {
        return Some("default");
    }
    let rest = inner.strip_prefix("profile")?;
    rest.starts_with([' ', '\t']).then(|| rest.trim())
}

fn key_of(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t']) {
        return None; // a continuation (nested values)
    }
    let (k, _) = line.split_once('=')?;
    Some(k.trim())
}

/// The overlay's text for the user's config `text`, with `exe` as the awsenv to run; and the
/// names of the profiles it serves.
pub fn generate(text: &str, exe: &str) -> (String, Vec<String>) {
    let exe_word = shell_word(exe);
    let mut body = String::with_capacity(text.len() + 4096);
    let mut served = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        let Some(name) = t.starts_with('[').then(|| profile_of(t)).flatten() else {
            body.push_str(line);
            body.push('\n');
            i += 1;
            continue;
        };
        // The section runs to the next header.
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with('['))
            .unwrap_or(lines.len());
        let section = &lines[i + 1..end];
        let keys: Vec<&str> = section.iter().filter_map(|l| key_of(l)).collect();
        let serve = keys.iter().any(|k| SERVED_KEYS.contains(k))
            && !keys.iter().any(|k| FOREIGN_KEYS.contains(k));
        let command = match (&exe_word, shell_word(name)) {
            (Some(e), Some(n)) if serve => Some(format!("{e} credential-process {n}")),
            _ => None,
        };
        body.push_str(line);
        body.push('\n');
        match command {
            None => {
                for l in section {
                    body.push_str(l);
                    body.push('\n');
                }
            }
            Some(cmd) => {
                served.push(name.to_string());
                body.push_str("credential_process = ");
                body.push_str(&cmd);
                body.push('\n');
                let mut dropping = false;
                for l in section {
                    match key_of(l) {
                        Some(k) => dropping = CREDENTIAL_KEYS.contains(&k),
                        None if l.trim().is_empty() || l.trim_start().starts_with(['#', ';']) => {
                            dropping = false
                        }
                        None => {}
                    }
                    if !dropping {
                        body.push_str(l);
                        body.push('\n');
                    }
                }
            }
        }
        i = end;
    }
    let mut out = String::with_capacity(body.len() + 160);
    out.push_str(HEADER);
    out.push_str(&digest(&body));
    out.push('\n');
    out.push_str(&body);
    (out, served)
}

fn digest(body: &str) -> String {
    Sha256::digest(body.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the overlay text `text` was changed after awsenv wrote it (its digest line no longer
/// matches): something wrote into `AWS_CONFIG_FILE` while awsenv served it.
pub fn written_into(text: &str) -> bool {
    let Some((first, body)) = text.split_once('\n') else {
        return !text.is_empty();
    };
    match first.strip_prefix(HEADER) {
        Some(d) => d != digest(body),
        None => true,
    }
}

/// The overlay file's name for the user's config at `user`.
pub fn file_name(user: &Path) -> String {
    let h = Sha256::digest(user.as_os_str().as_encoded_bytes());
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("config-{hex}")
}

/// The awsenv to name in `credential_process`: the front `awsenv` next to this executable when
/// there is one, else this executable.
pub fn this_awsenv() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let front = me.with_file_name("awsenv");
    Some(if front.is_file() { front } else { me })
}

/// What [`write`] did.
pub struct Written {
    /// The overlay file.
    pub path: PathBuf,
    /// The profiles it serves.
    pub served: Vec<String>,
}

/// The name of the copy of what awsenv generated, kept beside the overlay `name` so a write
/// into the overlay can be told from it ([`crate::overlaysync`]).
fn base_name(name: &str) -> String {
    format!("{name}.base")
}

fn read_own(d: &crate::safefile::Dir, name: &str) -> std::io::Result<Option<String>> {
    if !d.has_own_file(name) {
        return Ok(None);
    }
    use std::io::Read;
    let mut text = String::new();
    d.open_file(name)?.read_to_string(&mut text)?;
    Ok(Some(text))
}

fn replace(d: &crate::safefile::Dir, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{name}.{}.tmp", std::process::id());
    d.write_file(&tmp, text.as_bytes())?;
    std::fs::rename(d.path().join(&tmp), d.path().join(name))
}

/// Writes (or keeps, when unchanged) the overlay for the user's config `user` whose text is
/// `text`, and the copy of what was generated. The file is replaced by a rename, so an SDK
/// reading it never sees half of it.
pub fn write(user: &Path, text: &str) -> std::io::Result<Written> {
    let dir_path = dir().ok_or_else(|| std::io::Error::other("no runtime or state directory"))?;
    let d = crate::safefile::Dir::open(&dir_path)?;
    d.restrict()?;
    let exe =
        this_awsenv().ok_or_else(|| std::io::Error::other("cannot find the awsenv executable"))?;
    let (out, served) = generate(text, &exe.to_string_lossy());
    let name = file_name(user);
    let path = d.path().join(&name);
    if read_own(&d, &base_name(&name))?.as_deref() != Some(out.as_str()) {
        replace(&d, &base_name(&name), &out)?;
    }
    if read_own(&d, &name)?.as_deref() != Some(out.as_str()) {
        replace(&d, &name, &out)?;
    }
    Ok(Written { path, served })
}

/// Saves into the user's config `user` what a tool wrote into its overlay since awsenv wrote
/// it ([`crate::overlaysync::save`]), saying so on stderr. Nothing when the overlay was not
/// written into (or there is none).
pub fn save_writes(user: &Path) {
    let Some(d) = dir().and_then(|p| crate::safefile::Dir::open_existing(&p).ok()) else {
        return;
    };
    let name = file_name(user);
    let Ok(Some(now)) = read_own(&d, &name) else {
        return;
    };
    if !written_into(&now) {
        return;
    }
    let exe = this_awsenv()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "awsenv".into());
    let gen_now = |t: &str| generate(t, &exe).0;
    // Without the copy (an overlay of an older awsenv): against the user's config as it is.
    let base = match read_own(&d, &base_name(&name)) {
        Ok(Some(b)) => b,
        _ => {
            crate::awsconfig::read_text_file(user, crate::awsconfig::MAX_FILE, "the AWS config", "")
                .ok()
                .flatten()
                .map(|t| gen_now(&t))
                .unwrap_or_default()
        }
    };
    if let Some(line) = crate::overlaysync::save(&now, &base, gen_now) {
        eprintln!("awsenv: {line}");
    }
}

/// The variables that point `AWS_CONFIG_FILE` at a fresh overlay and record the user's own
/// file, so every profile awsenv serves reaches SDKs through `credential-process`. Empty (with
/// one line on stderr when something failed) when the `config_overlay` setting is off or the
/// overlay cannot be written: then the user's config stays in effect as it is.
pub fn changes_now() -> Vec<(String, OsString)> {
    match write_now() {
        Ok(Some((path, user))) => vec![
            ("AWS_CONFIG_FILE".to_string(), path.into_os_string()),
            (USER_CONFIG.to_string(), user.into_os_string()),
        ],
        Ok(None) => Vec::new(),
        Err(e) => {
            eprintln!("awsenv: {e:#}; tools read your AWS config as it is");
            Vec::new()
        }
    }
}

/// Writes the overlay for the user's config as it is now: its path and the user's file;
/// `None` when the `config_overlay` setting is off or no profile would be served.
pub fn write_now() -> Result<Option<(PathBuf, PathBuf)>> {
    if !crate::settings::Settings::load().is_ok_and(|s| s.config_overlay) {
        return Ok(None);
    }
    let Some(user) = crate::awsconfig::aws_file_path("AWS_CONFIG_FILE", "config") else {
        return Ok(None);
    };
    let user = std::path::absolute(&user).unwrap_or(user);
    save_writes(&user);
    let text = crate::awsconfig::read_text_file(
        &user,
        crate::awsconfig::MAX_FILE,
        "the AWS config",
        "point AWS_CONFIG_FILE at a file",
    )?
    .unwrap_or_default();
    // Nothing to serve: the user's config stays AWS_CONFIG_FILE.
    if generate(&text, "awsenv").1.is_empty() {
        return Ok(None);
    }
    let w = write(&user, &text)
        .map_err(|e| anyhow!("cannot write the AWS_CONFIG_FILE overlay: {e}"))?;
    Ok(Some((w.path, user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# mine
[default]
region = eu-west-1

[profile calvin]
region = us-east-2
role_arn = arn:aws:iam::222222222222:role/productionEC2Full
mfa_serial = arn:aws:iam::111111111111:mfa/calvin
s3 =
  addressing_style = path

[profile jan-work]
region = eu-west-1

[profile proc]
credential_process = /bin/creds
role_arn = arn:aws:iam::1:role/x

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
[profile dev]
sso_session = corp
sso_account_id = 444444444444
sso_role_name = Dev
output = json
[profile odd name]
source_profile = calvin
role_arn = arn:aws:iam::5:role/y
";

    #[test]
    fn served_profiles_get_credential_process_and_keep_the_rest() {
        let (out, served) = generate(CONFIG, "/opt/aw senv");
        assert_eq!(served, ["calvin", "dev", "odd name"]);
        assert!(!written_into(&out));
        let body = out.split_once('\n').map(|(_, b)| b).unwrap_or_default();
        assert_eq!(
            body,
            "\
# mine
[default]
region = eu-west-1

[profile calvin]
credential_process = '/opt/aw senv' credential-process calvin
region = us-east-2
s3 =
  addressing_style = path

[profile jan-work]
region = eu-west-1

[profile proc]
credential_process = /bin/creds
role_arn = arn:aws:iam::1:role/x

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
[profile dev]
credential_process = '/opt/aw senv' credential-process dev
output = json
[profile odd name]
credential_process = '/opt/aw senv' credential-process 'odd name'
"
        );
    }

    #[test]
    fn a_write_into_the_overlay_is_noticed() {
        let (out, _) = generate(CONFIG, "/bin/awsenv");
        assert!(!written_into(&out));
        assert!(written_into(&format!("{out}[profile new]\nregion = x\n")));
        assert!(written_into("[default]\n"));
    }

    #[test]
    fn a_name_with_a_quote_is_left_as_written() {
        let (out, served) = generate("[profile it's]\nrole_arn = a\n", "/bin/awsenv");
        assert!(served.is_empty());
        assert!(out.ends_with("[profile it's]\nrole_arn = a\n"));
    }
}
