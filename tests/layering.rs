//! The layers point one way: the hot path (the front binary `awsenv`, which answers the
//! per-prompt hook and the prompt segment) contains nothing of the credential engine.

mod common;

const HOT_MODULES: &[&str] = &[
    "main.rs",
    "activation.rs",
    "envstate.rs",
    "hook.rs",
    "prompt.rs",
    "shell.rs",
    "timefmt.rs",
];
const ENGINE: &[&str] = &[
    "store",
    "sts",
    "resolve",
    "settings",
    "awsconfig",
    "mfa",
    "tty",
    "server",
    "commands",
    "app",
    "cli",
];

#[test]
fn hot_modules_import_nothing_from_the_engine() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for m in HOT_MODULES {
        let text = std::fs::read_to_string(src.join(m)).unwrap_or_else(|e| panic!("{m}: {e}"));
        for e in ENGINE {
            for pat in [
                format!("crate::{e}"),
                format!("awsenv::{e}"),
                format!("super::{e}"),
            ] {
                assert!(!text.contains(&pat), "{m} uses {pat}");
            }
        }
        for dep in [
            "tokio",
            "aws_sdk_sts",
            "aws_config",
            "keyring_core",
            "age::",
        ] {
            assert!(!text.contains(dep), "{m} uses {dep}");
        }
    }
}

fn defined_symbols(path: &std::path::Path) -> String {
    // The symbol table, not the bytes: debug builds carry debuginfo naming every crate.
    let out = std::process::Command::new("nm")
        .arg("--defined-only")
        .arg(path)
        .output()
        .expect("run nm (binutils)");
    assert!(
        out.status.success(),
        "nm {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_front_binary_links_no_runtime_sdk_or_store() {
    if !common::require_tool("nm") {
        return;
    }
    let front = std::path::Path::new(env!("CARGO_BIN_EXE_awsenv"));
    let syms = defined_symbols(front);
    for sym in [
        "5tokio",
        "11aws_sdk_sts",
        "10aws_config",
        "12keyring_core",
        "3age",
        "5hyper",
        "4clap",
    ] {
        assert!(!syms.contains(&format!("_ZN{sym}")), "awsenv links {sym}");
    }
    let engine = defined_symbols(&front.with_file_name("awsenv-engine"));
    assert!(
        engine.contains("_ZN5tokio") && engine.contains("_ZN11aws_sdk_sts"),
        "sanity: the engine links them, so the check above can fail"
    );
}
