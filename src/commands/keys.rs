//! `add`, `remove`, `list`, `clear`: long-term keys and the session cache; `unlock`, `lock`,
//! `agent`: the file store's unlock agent.

use anyhow::{Result, anyhow, bail};
use zeroize::Zeroizing;

use crate::resolve::{Engine, StoredKeys};
use crate::runtime::block_on;
use crate::store::{self, Kind, Unreadable};
use crate::timefmt::{now_epoch, remaining};

fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks an access key id: its shape, and that it is not a temporary one (`ASIA…`: those
/// need their session token and end within hours; awsenv stores long-term keys).
pub fn check_key_id(id: &str) -> Result<()> {
    if !valid_key_id(id) {
        let q_id = crate::sanitize::quoted(id.as_bytes(), 80);
        bail!("{q_id} does not look like an AWS access key id (e.g. AKIAIOSFODNN7EXAMPLE)");
    }
    if id.starts_with("ASIA") {
        bail!(
            "{id} is a temporary access key id (ASIA…): these are temporary credentials, which end within hours and need their session token; store the long-term keys of an IAM user (AKIA…)"
        );
    }
    Ok(())
}

/// The keys in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, refused when they are temporary.
fn keys_from_env() -> Result<StoredKeys> {
    let id = std::env::var("AWS_ACCESS_KEY_ID")
        .map_err(|_| anyhow!("--env: AWS_ACCESS_KEY_ID is not set"))?;
    if std::env::var_os("AWS_SESSION_TOKEN").is_some_and(|t| !t.is_empty()) {
        bail!(
            "--env: AWS_SESSION_TOKEN is set, so these are temporary credentials (a session or an assumed role); awsenv stores long-term keys: unset AWS_SESSION_TOKEN and export the keys of an IAM user"
        );
    }
    let id = id.trim().to_string();
    check_key_id(&id)?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .map_err(|_| anyhow!("--env: AWS_SECRET_ACCESS_KEY is not set"))?;

    Ok(StoredKeys {
        access_key_id: id,
        secret_access_key: secret,
        created: None,
        added: None,
    })
}

/// Checks a secret access key's shape: AWS's are 40 characters of base64 (`A-Z a-z 0-9 + /`).
fn check_secret(secret: &str) -> Result<()> {
    let ok_chars = secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if secret.len() != 40 || !ok_chars {
        bail!(
            "that does not look like a secret access key ({} characters; AWS's have 40 letters, digits, + and /)",
            secret.chars().count()
        );
    }
    Ok(())
}

/// How often `add` asks again for a key id or a secret that does not look like one.
const KEY_ATTEMPTS: usize = 3;

/// Asks on the terminal until `check` accepts the answer, at most [`KEY_ATTEMPTS`] times. Each
/// refusal is said and the question asked again; on giving up, whatever was typed ahead is
/// discarded so it never reaches the shell as a command.
fn ask_until(
    prompt: &str,
    hidden: bool,
    check: impl Fn(&str) -> Result<()>,
) -> Result<Zeroizing<String>> {
    let no_tty = || {
        anyhow!(
            "no terminal to ask for the keys on: use --env with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    };
    for attempt in 1..=KEY_ATTEMPTS {
        let answer = match crate::tty::read_line(prompt, hidden) {
            Ok(a) => a,
            Err(crate::tty::TtyError::Interrupted | crate::tty::TtyError::Eof) => {
                crate::tty::discard_typeahead();
                return Err(anyhow::Error::new(crate::tty::Cancelled::new("key prompt")));
            }
            Err(e) => return Err(e.or_else_no_tty(no_tty)),
        };
        match check(answer.trim()) {
            Ok(()) => return Ok(Zeroizing::new(answer.trim().to_string())),
            Err(e) if attempt < KEY_ATTEMPTS => eprintln!("awsenv: {e:#}; try again"),
            Err(e) => {
                crate::tty::discard_typeahead();
                return Err(e.context(format!("no keys stored after {KEY_ATTEMPTS} tries")));
            }
        }
    }
    bail!("no keys stored")
}

/// Asks for the keys on the terminal; the key id is checked (and asked again) before the
/// secret is asked for, and the secret's shape too.
fn keys_from_terminal() -> Result<StoredKeys> {
    let id = ask_until("Enter Access Key ID: ", false, check_key_id)?;
    let secret = ask_until("Enter Secret Access Key: ", true, check_secret)?;
    Ok(StoredKeys {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
        created: None,
        added: None,
    })
}

/// `awsenv add PROFILE [--env] [--force]`.
pub fn add(profile: &str, from_env: bool, force: bool) -> Result<i32> {
    // Keys from the environment are checked before the store is opened (or created).
    let env_keys = if from_env {
        Some(keys_from_env()?)
    } else {
        None
    };
    block_on(async {
        let engine = Engine::open().await?;
        if !engine.config.has(profile) {
            eprintln!(
                "awsenv: note: profile {profile} is not in {} yet; add a [profile {profile}] section to use it",
                crate::awsconfig::config_path_text()
            );
        } else if let Ok(p) = engine.config.profile(profile)
            && let Some(source) = p.get("source_profile")
        {
            eprintln!(
                "awsenv: warning: profile {profile} has source_profile = {source}, so its own keys are never used: awsenv signs with the keys of {source} ('awsenv add {source}')"
            );
        }
        let key = store::keys_key(profile);
        if !force {
            let existing = match engine.store.get(&key) {
                Ok(v) => v.map(|_| "has stored keys"),
                Err(e) if store::damaged(&e).is_some() => {
                    Some("has stored keys that cannot be read")
                }
                Err(e) => return Err(e),
            };
            if let Some(what) = existing {
                if !crate::tty::available() {
                    bail!("profile {profile} already {what}; use --force to replace them");
                }
                if !super::confirm(&format!("Profile {profile} already {what}. Replace them?")) {
                    bail!("kept the stored keys of profile {profile}");
                }
            }
        }
        let keys = match env_keys {
            Some(k) => {
                // Scripts may hold an emulator's keys: a warning, not a refusal.
                if let Err(e) = check_secret(k.secret_access_key.trim()) {
                    eprintln!(
                        "awsenv: warning: --env: AWS_SECRET_ACCESS_KEY: {e:#}; stored as given"
                    );
                }
                k
            }
            None => keys_from_terminal()?,
        };
        if keys.secret_access_key.trim().is_empty() {
            bail!("the secret access key is empty");
        }
        crate::credcheck::check(
            &crate::sts::Creds {
                access_key_id: keys.access_key_id.clone(),
                secret_access_key: keys.secret_access_key.trim().to_string(),
                session_token: None,
                expiration: None,
            },
            &format!("awsenv add {profile}: the input"),
            "copy them again from the IAM console or your key file",
        )?;
        store_keys(
            &engine,
            profile,
            &keys.access_key_id,
            &keys.secret_access_key,
        )?;
        let cleared = engine.clear(Some(profile))?;
        eprintln!(
            "Added keys for profile {profile} to {}{}",
            engine.store.describe(),
            if cleared > 0 {
                format!(" (dropped {cleared} cached sessions)")
            } else {
                String::new()
            }
        );
        Ok(0)
    })?
}

/// Stores long-term keys for `profile` (replacing any) and reads them back: an error unless
/// the store now holds exactly these keys.
pub fn store_keys(engine: &Engine, profile: &str, id: &str, secret: &str) -> Result<()> {
    let key = store::keys_key(profile);
    let json = Zeroizing::new(
        serde_json::json!({
            "access_key_id": id,
            "secret_access_key": secret.trim(),
            "added": now_epoch()
        })
        .to_string(),
    );
    engine.store.set(&key, &json)?;
    let back = engine
        .store
        .get(&key)?
        .and_then(|v| serde_json::from_str::<StoredKeys>(&v).ok());
    match back {
        Some(k) if k.access_key_id == id && k.secret_access_key == secret.trim() => Ok(()),
        _ => bail!(
            "the keys of profile {profile} did not read back from {} as written",
            engine.store.describe()
        ),
    }
}

/// `awsenv remove PROFILE [--force]`.
pub fn remove(profile: &str, force: bool) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        let key = store::keys_key(profile);
        let exists = match engine.store.get(&key) {
            Ok(v) => v.is_some(),
            // Damaged keys can be removed on purpose (they are never removed otherwise).
            Err(e) if store::damaged(&e).is_some() => true,
            Err(e) => return Err(e),
        };
        if !exists {
            bail!("no keys stored for profile {profile}");
        }
        if !force {
            if !crate::tty::available() {
                bail!("removing the keys of profile {profile} needs confirmation: use --force");
            }
            if !super::confirm(&format!("Delete the stored keys of profile {profile}?")) {
                bail!("kept the keys of profile {profile}");
            }
        }
        let n = engine.clear(Some(profile))?;
        engine.store.delete(&key)?;
        eprintln!("Removed the keys of profile {profile} and {n} cached sessions");
        Ok(0)
    })?
}

/// One line about an entry that cannot be read, and what to do about it.
fn unreadable_line(u: &Unreadable) -> String {
    let (what, todo) = match (u.kind, u.key.as_deref().and_then(|k| k.strip_prefix("keys/"))) {
        (Some(Kind::Cache), _) => (
            "a cached session".to_string(),
            "'awsenv clear' drops it (the next use fetches it again)".to_string(),
        ),
        (Some(Kind::Journal), _) => (
            match u.key.as_deref().and_then(|k| k.strip_prefix("rotation/")) {
                Some(p) => format!("the journal of an interrupted key rotation of profile {p}"),
                None => "the journal of an interrupted key rotation".to_string(),
            },
            "kept: 'awsenv rotate PROFILE' for the profile you were rotating checks IAM and removes it".to_string(),
        ),
        (_, Some(p)) => (
            format!("the stored keys of profile {p}"),
            format!("kept: restore it from a backup, or 'awsenv add {p} --force' stores the keys again"),
        ),
        (Some(Kind::Keys), None) => (
            "stored keys".to_string(),
            "kept: restore it from a backup, or store the keys again with 'awsenv add PROFILE --force'".to_string(),
        ),
        (None, _) => (
            "an entry of the first store layout (keys or a session)".to_string(),
            "kept: restore it from a backup, or remove it if you know it is a session".to_string(),
        ),
    };
    format!(
        "UNREADABLE {}: {what}, {}; {todo}",
        u.location,
        crate::awsconfig::one_line(&u.why)
    )
}

/// The masked form of a key id (`****MPLE`), shared with `rotate` and `status`.
pub use crate::keyid::masked;

/// How old a stored key is, as far as awsenv knows: seconds, and whether that is exact (IAM's
/// creation time) or a lower bound (the time it was stored).
pub fn key_age(keys: &StoredKeys, now: i64) -> Option<(i64, bool)> {
    match (keys.created, keys.added) {
        (Some(c), _) => Some(((now - c).max(0), true)),
        (None, Some(a)) => Some(((now - a).max(0), false)),
        (None, None) => None,
    }
}

/// [`key_age`] as shown in `list`: `95d` (IAM's creation time), `12d+` (stored 12 days ago,
/// created earlier or then), `unknown`.
pub fn age_text(age: Option<(i64, bool)>) -> String {
    match age {
        Some((secs, exact)) => format!("{}d{}", secs / 86_400, if exact { "" } else { "+" }),
        None => "unknown".to_string(),
    }
}

/// What `list` shows about one profile's stored keys: (KEYS, KEY, AGE, warning).
fn keys_columns(
    engine: &Engine,
    profile: &str,
    now: i64,
) -> Result<(String, String, String, Option<String>)> {
    let dash = || "-".to_string();
    let value = match engine.store.get(&store::keys_key(profile)) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok((dash(), dash(), dash(), None)),
        Err(e) if store::damaged(&e).is_some() => {
            return Ok(("damaged".into(), dash(), dash(), None));
        }
        Err(e) => return Err(e),
    };
    let Ok(keys) = serde_json::from_str::<StoredKeys>(&value) else {
        return Ok(("damaged".into(), dash(), dash(), None));
    };
    let age = key_age(&keys, now);
    let max = engine.settings.key_max_age.as_secs() as i64;
    let warning = age.filter(|(secs, _)| *secs > max).map(|(secs, exact)| {
        format!(
            "warning: the key {} of profile {profile} is {}{} days old, more than key_max_age ({} days): rotate it with 'awsenv rotate {profile}'",
            masked(&keys.access_key_id),
            if exact { "" } else { "at least " },
            secs / 86_400,
            max / 86_400
        )
    });
    Ok((
        "stored".into(),
        masked(&keys.access_key_id),
        age_text(age),
        warning,
    ))
}

/// `awsenv list`. An interrupted key rotation found in the store is finished or rolled back
/// first (see [`crate::rotate::recover_for_list`]).
pub fn list(verbose: bool) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        let mut inv = engine.inventory()?;
        let journals: Vec<String> = inv
            .keys
            .iter()
            .filter_map(|k| k.strip_prefix("rotation/"))
            .map(str::to_string)
            .collect();
        if !journals.is_empty() {
            crate::rotate::recover_for_list(&engine, &journals).await;
            inv = engine.inventory()?;
        }
        let now = now_epoch();
        let mut names = engine.config.names();
        let damaged_keys: Vec<&str> = inv
            .unreadable
            .iter()
            .filter_map(|u| u.key.as_deref()?.strip_prefix("keys/"))
            .collect();
        for p in inv
            .keys
            .iter()
            .filter_map(|k| k.strip_prefix("keys/"))
            .chain(damaged_keys.iter().copied())
        {
            if !names.iter().any(|n| n == p) {
                names.push(p.to_string());
            }
        }
        names.sort();
        let mut out = format!("Keys and sessions in {}\n", engine.store.describe());
        let mut warnings = Vec::new();
        let width = names
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(7)
            .clamp(7, 24);
        out.push_str(&format!(
            "{:<width$}  {:<8}  {:<8}  {:<7}  SESSIONS\n",
            "PROFILE", "KEYS", "KEY", "AGE"
        ));
        for n in &names {
            let (stored, key, age) = if inv.keys.iter().any(|k| k.strip_prefix("keys/") == Some(n))
            {
                let (stored, key, age, warning) = keys_columns(&engine, n, now)?;
                warnings.extend(warning);
                (stored, key, age)
            } else if damaged_keys.contains(&n.as_str()) {
                ("damaged".into(), "-".into(), "-".into())
            } else if engine.config.plaintext_keys(n).is_some() {
                warnings.push(format!(
                    "profile {n} keeps its keys in plaintext in {}: 'awsenv import {n}' moves them into the store",
                    crate::awsconfig::credentials_path_text()
                ));
                ("plaintxt".into(), "-".into(), "-".into())
            } else if engine
                .config
                .profile(n)
                .is_ok_and(|p| p.get(crate::source::login::KEY).is_some())
            {
                ("login".into(), "-".into(), "-".into())
            } else {
                ("-".into(), "-".into(), "-".into())
            };
            let entries: Vec<&crate::resolve::CacheEntry> =
                inv.sessions.iter().filter(|e| &e.profile == n).collect();
            let entries = if verbose {
                entries
            } else {
                current_sessions(&engine.config, n, entries, now)
            };
            let with_mfa = engine
                .config
                .chain(n)
                .map(|c| c.iter().any(|p| p.get("mfa_serial").is_some()))
                .unwrap_or(false);
            let mut s: Vec<String> = entries
                .iter()
                .map(|e| session_text(e, now, with_mfa, verbose))
                .collect();
            if let Some(login) = engine
                .config
                .profile(n)
                .ok()
                .and_then(|p| p.get(crate::source::login::KEY).map(str::to_string))
            {
                s.insert(0, crate::source::login::describe(&login, now));
            }
            if s.is_empty() {
                s.push("-".into());
            }
            // One session per line, under the SESSIONS column, so a line fits 80 columns.
            for (i, session) in s.iter().enumerate() {
                let line = if i == 0 {
                    format!("{n:<width$}  {stored:<8}  {key:<8}  {age:<7}  {session}")
                } else {
                    format!("{:<width$}  {:<8}  {:<8}  {:<7}  {session}", "", "", "", "")
                };
                out.push_str(&if verbose { line } else { fit(&line, 80) });
                out.push('\n');
            }
        }
        for u in &inv.unreadable {
            out.push_str(&unreadable_line(u));
            out.push('\n');
        }
        out.push_str(&crate::sso::commands::list_text(
            &engine.config,
            &*engine.store,
            &engine.settings,
        ));
        super::write_stdout(out.as_bytes())?;
        for w in warnings {
            eprintln!("awsenv: {w}");
        }
        Ok(0)
    })?
}

/// The cached entries of `profile` that serve it now: not expired, for the role its config
/// names today (an entry for a role since edited out is stale), one per kind and role — the
/// one with the most time left.
fn current_sessions<'a>(
    config: &crate::awsconfig::AwsConfig,
    profile: &str,
    entries: Vec<&'a crate::resolve::CacheEntry>,
    now: i64,
) -> Vec<&'a crate::resolve::CacheEntry> {
    let role_now = config
        .profile(profile)
        .ok()
        .and_then(|p| p.get("role_arn").map(str::to_string));
    let mut best: Vec<&crate::resolve::CacheEntry> = Vec::new();
    for e in entries {
        if e.creds.remaining(now).is_some_and(|l| l <= 0) {
            continue;
        }
        if e.kind == "role" && e.role_arn.is_some() && e.role_arn != role_now {
            continue;
        }
        match best
            .iter_mut()
            .find(|b| b.kind == e.kind && b.role_arn == e.role_arn)
        {
            Some(b) => {
                if e.creds.remaining(now) > b.creds.remaining(now) {
                    *b = e;
                }
            }
            None => best.push(e),
        }
    }
    best
}

/// One cached entry as `list` shows it: `role 222222222222/terraform (59m)`, `mfa session
/// (7h59m)`, `session (7h59m)` (no MFA), `sso role 111111111111/Admin (42m)`; `-v` shows the
/// whole ARN.
fn session_text(e: &crate::resolve::CacheEntry, now: i64, with_mfa: bool, verbose: bool) -> String {
    let left = match e.creds.remaining(now) {
        Some(l) if l > 0 => remaining(l),
        Some(_) => "expired".into(),
        None => "no expiry".into(),
    };
    let short = |r: &str| -> String {
        match crate::sts::iam_arn(r) {
            Some((account, resource)) if !verbose => {
                format!(
                    "{account}/{}",
                    resource.rsplit('/').next().unwrap_or(resource)
                )
            }
            _ => r.to_string(),
        }
    };
    match &e.role_arn {
        Some(r) if e.kind == "sso" => format!("sso role {r} ({left})"),
        Some(r) => format!("role {} ({left})", short(r)),
        None if with_mfa => format!("mfa session ({left})"),
        None => format!("session ({left})"),
    }
}

/// `line` cut to `max` characters with `…`.
fn fit(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut s: String = line.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// `awsenv clear [PROFILE]`.
pub fn clear(profile: Option<&str>) -> Result<i32> {
    block_on(async {
        let engine = Engine::open().await?;
        if let Some(p) = profile
            && !engine.config.has(p)
        {
            return Err(engine.config.unknown(p));
        }
        let r = engine.clear_report(profile)?;
        let n = r.sessions + r.damaged_dropped;
        eprintln!(
            "Cleared {n} cached session{}{}",
            if n == 1 { "" } else { "s" },
            match r.damaged_dropped {
                0 => String::new(),
                d => format!(" ({d} of them damaged)"),
            }
        );
        for u in &r.kept {
            eprintln!("awsenv: {}", unreadable_line(u));
        }
        Ok(0)
    })?
}

/// `awsenv unlock [--stdin]`.
pub fn unlock(from_stdin: bool) -> Result<i32> {
    store::agent::unlock_command(from_stdin)
}

/// `awsenv lock`.
pub fn lock() -> Result<i32> {
    store::agent::lock_command()
}

/// `awsenv agent [--detached]`.
pub fn agent(detached: bool) -> Result<i32> {
    if detached {
        store::agent::detached_command()
    } else {
        store::agent::foreground_command()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(created: Option<i64>, added: Option<i64>) -> StoredKeys {
        StoredKeys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "s".into(),
            created,
            added,
        }
    }

    #[test]
    fn only_the_last_four_of_a_key_id_are_shown() {
        assert_eq!(masked("AKIAIOSFODNN7EXAMPLE"), "****MPLE");
        assert_eq!(masked("AB"), "****AB");
    }

    #[test]
    fn ages_say_whether_they_are_exact() {
        let now = 1_800_000_000;
        let day = 86_400;
        // IAM's creation time wins over the time it was stored.
        let exact = key_age(&keys(Some(now - 95 * day), Some(now - day)), now);
        assert_eq!(age_text(exact), "95d");
        let bound = key_age(&keys(None, Some(now - 12 * day - 5)), now);
        assert_eq!(age_text(bound), "12d+");
        assert_eq!(age_text(key_age(&keys(None, None), now)), "unknown");
        // A creation time in the future (a skewed clock) is no negative age.
        assert_eq!(age_text(key_age(&keys(Some(now + 60), None), now)), "0d");
    }

    #[test]
    fn an_unreadable_journal_says_what_it_is_and_that_it_is_kept() {
        let line = unreadable_line(&Unreadable {
            kind: Some(Kind::Journal),
            location: "keyring entry rotation/calvin".into(),
            why: "bad".into(),
            key: Some("rotation/calvin".into()),
        });
        assert!(
            line.contains("interrupted key rotation of profile calvin") && line.contains("kept"),
            "{line}"
        );
    }
}
