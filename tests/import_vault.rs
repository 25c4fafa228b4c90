//! `awsenv import --from aws-vault` (issue 18 §4): the long-term keys kept in aws-vault's
//! encrypted file store move into awsenv's store in one command. The store is built here with an
//! independent JOSE implementation (Python jwcrypto), item by item exactly as 99designs/keyring
//! writes them: one file per item named by its key, a JWE (PBES2-HS256+A128KW, A256GCM) of the
//! keyring.Item JSON whose Data is the base64 of aws.Credentials JSON.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::{Moto, TestEnv, find_tool, in_ci, require_tools};

const PROD_ID: &str = "AKIAVAULTIMPORTPROD1";
const PROD_SECRET: &str = "vaultProdSecretExample/0123456789abcdefX";
const DEV_ID: &str = "AKIAVAULTIMPORTDEV01";
const DEV_SECRET: &str = "vaultDevSecretExample/0123456789abcdefXYZ";
const SS_ID: &str = "AKIAVAULTIMPORTSSRV1";
const SS_SECRET: &str = "vaultSecretServiceExample/0123456789abcd";
const VAULT_PASS: &str = "aws-vault test passphrase";

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| require_tools(&["moto_server", "aws"]).then(Moto::start))
        .as_ref()
}

/// Whether python3 with jwcrypto is there (scripts/test installs it into its venv).
fn have_jwcrypto() -> bool {
    let ok = find_tool("python3").is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import jwcrypto"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        let m = "python3 with jwcrypto is not installed: scripts/test installs it (pip install jwcrypto into ~/.cache/awsenv-test/venv)";
        if in_ci() {
            panic!("{m} (CI=true: missing tools are failures, not skips)");
        }
        eprintln!("note: skipping test, {m}");
    }
    ok
}

/// Writes one aws-vault item into `dir` as 99designs/keyring's file backend does; the secret
/// reaches Python through its environment, never a file.
fn vault_item(dir: &Path, key: &str, id: &str, secret: &str, token: &str, pass: &str) {
    const SCRIPT: &str = r#"
import base64, datetime, json, os
from jwcrypto import jwe, jwk
e = os.environ
creds = {"AccessKeyID": e["V_ID"], "SecretAccessKey": e["V_SECRET"], "SessionToken": e["V_TOKEN"],
         "Source": "", "CanExpire": bool(e["V_TOKEN"]), "Expires": "0001-01-01T00:00:00Z", "AccountID": ""}
item = {"Key": e["V_KEY"], "Data": base64.b64encode(json.dumps(creds, separators=(",", ":")).encode()).decode(),
        "Label": "aws-vault (%s)" % e["V_KEY"], "Description": "",
        "KeychainNotTrustApplication": True, "KeychainNotSynchronizable": False}
hdr = {"alg": "PBES2-HS256+A128KW", "enc": "A256GCM", "p2c": 8192,
       "created": str(datetime.datetime.now())}
tok = jwe.JWE(json.dumps(item, separators=(",", ":")).encode(), protected=json.dumps(hdr))
key = jwk.JWK.from_password(e["V_PASS"])
tok.add_recipient(key)
compact = tok.serialize(compact=True)
# The independent implementation reads back what it wrote.
back = jwe.JWE()
back.deserialize(compact, key=key)
assert json.loads(back.payload)["Key"] == e["V_KEY"]
name = e["V_KEY"].replace("%", "%25").replace("/", "%2F")
path = os.path.join(e["V_DIR"], name)
with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    f.write(compact)
"#;
    std::fs::create_dir_all(dir).expect("mkdir vault dir");
    let python = find_tool("python3").expect("python3");
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .env("V_DIR", dir)
        .env("V_KEY", key)
        .env("V_ID", id)
        .env("V_SECRET", secret)
        .env("V_TOKEN", token)
        .env("V_PASS", pass)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "writing the aws-vault item {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(mut cmd: Command) -> Output {
    common::detach(&mut cmd).output().expect("spawn")
}

fn awsenv(env: &TestEnv, args: &[&str]) -> Output {
    let mut c = env.awsenv();
    c.args(args);
    run(c)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 1, empty stdout, one line on stderr that contains every needle.
fn assert_one_line_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout must be empty on failure");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("list vault dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

fn env_with_config(moto: &Moto) -> TestEnv {
    let mut env = TestEnv::new();
    env.with_moto(moto);
    env.write_aws_config(
        "[profile prod]\nregion = us-east-1\n\n[profile dev]\nregion = us-east-1\n\n[profile temp]\nregion = us-east-1\n",
    );
    env
}

/// Every long-term key in aws-vault's file store (default place, `~/.awsvault/keys`) is imported
/// with the passphrase from AWS_VAULT_FILE_PASSPHRASE; its session entries are not; aws-vault's
/// files are unchanged; `awsenv use prod` then signs with the imported key against moto; no
/// secret is in plaintext on disk or in the output.
#[test]
fn import_from_aws_vault_file_store_then_use() {
    let Some(moto) = moto() else { return };
    if !have_jwcrypto() {
        return;
    }
    let mut env = env_with_config(moto);
    let dir = env.home.join(".awsvault/keys");
    vault_item(&dir, "prod", PROD_ID, PROD_SECRET, "", VAULT_PASS);
    vault_item(&dir, "dev", DEV_ID, DEV_SECRET, "", VAULT_PASS);
    // A cached session aws-vault keeps beside them: not a profile's long-term keys.
    vault_item(
        &dir,
        "sts.GetSessionToken,cHJvZA,,1900000000",
        "ASIAVAULTSESSION0001",
        "sessionSecretExample",
        "sessiontoken",
        VAULT_PASS,
    );
    let before = snapshot(&dir);
    env.set_var("AWS_VAULT_FILE_PASSPHRASE", VAULT_PASS);
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("imported the keys of profile prod from aws-vault"),
        "{err}"
    );
    assert!(
        err.contains("imported the keys of profile dev from aws-vault"),
        "{err}"
    );
    assert!(!err.contains("sts.GetSessionToken"), "{err}");
    assert!(err.contains("left as they are"), "{err}");
    for s in [PROD_SECRET, DEV_SECRET, VAULT_PASS] {
        assert!(!err.contains(s) && !String::from_utf8_lossy(&o.stdout).contains(s));
    }
    assert_eq!(snapshot(&dir), before, "aws-vault's files are left alone");
    // Again: the same keys are already stored.
    let o = awsenv(&env, &["import", "--from", "aws-vault", "prod"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("the same keys are already stored"));

    env.remove_var("AWS_VAULT_FILE_PASSPHRASE");
    let o = awsenv(&env, &["use", "prod", "--shell", "bash"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("AWS_SESSION_TOKEN"),
        "a session from moto"
    );
    let signed: Vec<_> = moto
        .requests("GetSessionToken")
        .into_iter()
        .filter(|r| r.access_key_id() == Some(PROD_ID))
        .collect();
    assert_eq!(
        signed.len(),
        1,
        "GetSessionToken signed with the imported key"
    );
    let o = awsenv(&env, &["use", "dev", "--no-session", "--shell", "bash"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(DEV_SECRET));
    assert!(
        env.scan_for_plaintext(&[PROD_SECRET, DEV_SECRET])
            .is_empty()
    );
}

/// A wrong passphrase is one line naming the file, with no secret and nothing stored; no
/// terminal and no AWS_VAULT_FILE_PASSPHRASE says what to set; a missing file store and a
/// backend awsenv does not read (kwallet) are one line pointing to `aws-vault exec … awsenv add`;
/// `AWS_VAULT_BACKEND=secret-service` with no Secret Service is one line too.
#[test]
fn wrong_or_missing_passphrase_is_one_line() {
    let Some(moto) = moto() else { return };
    if !have_jwcrypto() {
        return;
    }
    let mut env = env_with_config(moto);
    let dir = env.root().join("elsewhere/vault");
    vault_item(&dir, "prod", PROD_ID, PROD_SECRET, "", VAULT_PASS);
    env.set_var("AWS_VAULT_FILE_DIR", &dir.to_string_lossy());
    env.set_var("AWS_VAULT_FILE_PASSPHRASE", "not the passphrase");
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    let file = dir.join("prod");
    assert_one_line_failure(
        &o,
        &[&file.to_string_lossy(), "passphrase does not open it"],
    );
    assert!(!stderr(&o).contains("not the passphrase"));
    env.remove_var("AWS_VAULT_FILE_PASSPHRASE");
    let o = awsenv(&env, &["import", "--from", "aws-vault", "prod"]);
    assert_one_line_failure(&o, &["no terminal", "AWS_VAULT_FILE_PASSPHRASE"]);
    env.set_var(
        "AWS_VAULT_FILE_DIR",
        &env.root().join("nowhere").to_string_lossy(),
    );
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    assert_one_line_failure(&o, &["nowhere does not exist", "awsenv add PROFILE --env"]);
    env.set_var("AWS_VAULT_BACKEND", "kwallet");
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    assert_one_line_failure(&o, &["AWS_VAULT_BACKEND", "awsenv add PROFILE --env"]);
    // No Secret Service answers here (no session bus).
    env.set_var("AWS_VAULT_BACKEND", "secret-service");
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    assert_one_line_failure(&o, &["Secret Service collection", "is not there"]);
    let o = awsenv(&env, &["use", "prod", "--no-session", "--shell", "bash"]);
    assert!(!o.status.success(), "nothing was stored");
}

/// Temporary credentials are refused by the validator, other stored keys are kept unless
/// --force, and a named profile aws-vault does not hold is said so (exit 1 in both cases).
#[test]
fn temporary_refused_other_keys_kept_unless_force() {
    let Some(moto) = moto() else { return };
    if !have_jwcrypto() {
        return;
    }
    let mut env = env_with_config(moto);
    let dir = env.home.join(".awsvault/keys");
    vault_item(
        &dir,
        "temp",
        "ASIAVAULTTEMPORARY01",
        "tempSecretExample",
        "tok",
        VAULT_PASS,
    );
    vault_item(&dir, "prod", PROD_ID, PROD_SECRET, "", VAULT_PASS);
    env.set_var("AWS_VAULT_FILE_PASSPHRASE", VAULT_PASS);
    env.add_keys("prod", "AKIAOTHERKEYEXAMPLE1", "otherSecretExample");
    let o = awsenv(
        &env,
        &["import", "--from", "aws-vault", "temp", "prod", "nosuch"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("profile temp: aws-vault keeps temporary credentials"),
        "{err}"
    );
    assert!(
        err.contains("profile prod: other keys are stored for it"),
        "{err}"
    );
    assert!(
        err.contains("profile nosuch: aws-vault's file store"),
        "{err}"
    );
    assert!(!err.contains("tempSecretExample") && !err.contains(PROD_SECRET));
    let o = awsenv(&env, &["use", "prod", "--no-session", "--shell", "bash"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("AKIAOTHERKEYEXAMPLE1"));
    let o = awsenv(&env, &["use", "temp", "--no-session", "--shell", "bash"]);
    assert!(!o.status.success(), "temporary keys were not stored");
    let o = awsenv(&env, &["import", "--from", "aws-vault", "prod", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = awsenv(&env, &["use", "prod", "--no-session", "--shell", "bash"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(PROD_ID));
}

/// Puts one aws-vault item into the Secret Service collection `collection` as 99designs/keyring's
/// secret-service backend (go-libsecret's CreateItem) does: labelled with the key, attribute
/// `profile` = the key, the keyring.Item JSON as the secret. Written with libsecret's own
/// `secret-tool`; the secret goes in on stdin.
fn vault_secret_service_item(env: &TestEnv, collection: &str, key: &str, id: &str, secret: &str) {
    use base64::Engine as _;
    use std::io::Write as _;
    let creds = serde_json::json!({"AccessKeyID": id, "SecretAccessKey": secret, "SessionToken": "",
        "Source": "", "CanExpire": false, "Expires": "0001-01-01T00:00:00Z", "AccountID": ""});
    let item = serde_json::json!({"Key": key,
        "Data": base64::engine::general_purpose::STANDARD.encode(creds.to_string()),
        "Label": format!("aws-vault ({key})"), "Description": "",
        "KeychainNotTrustApplication": true, "KeychainNotSynchronizable": false});
    let mut c = env.command("secret-tool");
    c.args([
        "store",
        "--label",
        key,
        "--collection",
        collection,
        "profile",
        key,
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run secret-tool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(item.to_string().as_bytes())
        .expect("write the item");
    let out = child.wait_with_output().expect("secret-tool");
    assert!(
        out.status.success(),
        "secret-tool store {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// aws-vault's Secret Service items (the backend aws-vault uses on a Linux desktop) are imported
/// from the collection it names, sessions skipped, then `use` signs with the imported key; with
/// `AWS_VAULT_BACKEND=secret-service` and no such collection, one line says so. (The tests' private
/// gnome-keyring creates no new collection without a password prompt, so aws-vault's collection
/// is the unlocked `login` one here, named by `AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME` as
/// aws-vault's `--secret-service-collection` would.)
#[test]
fn import_from_aws_vault_secret_service_items() {
    let Some(moto) = moto() else { return };
    if !require_tools(&["secret-tool", "dbus-daemon", "gnome-keyring-daemon"]) {
        return;
    }
    let mut env = env_with_config(moto);
    let keyring = common::KeyringSession::start(&env);
    env.with_keyring(&keyring);
    env.set_var("AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME", "login");
    vault_secret_service_item(&env, "login", "prod", SS_ID, SS_SECRET);
    vault_secret_service_item(
        &env,
        "login",
        "sts.GetSessionToken,cHJvZA,,1900000000",
        "ASIAVAULTSESSION0001",
        "sessionSecretExample",
    );
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("imported the keys of profile prod from aws-vault"),
        "{err}"
    );
    assert!(err.contains("Secret Service collection"), "{err}");
    assert!(
        !err.contains("sts.GetSessionToken") && !err.contains(SS_SECRET),
        "{err}"
    );
    let o = awsenv(&env, &["use", "prod", "--shell", "bash"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        moto.requests("GetSessionToken")
            .iter()
            .any(|r| r.access_key_id() == Some(SS_ID)),
        "GetSessionToken signed by the imported key"
    );
    env.set_var("AWS_VAULT_SECRET_SERVICE_COLLECTION_NAME", "awsvault");
    env.set_var("AWS_VAULT_BACKEND", "secret-service");
    let o = awsenv(&env, &["import", "--from", "aws-vault"]);
    assert_one_line_failure(
        &o,
        &["Secret Service collection", "awsvault", "is not there"],
    );
}
