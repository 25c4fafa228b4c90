//! The layers point one way: the hot path (the front binary `awsenv`, which answers the
//! per-prompt hook and the prompt segment) contains nothing of the credential engine.

mod common;

const HOT_MODULES: &[&str] = &[
    "main.rs",
    "activation.rs",
    "envstate.rs",
    "fastpath.rs",
    "hook.rs",
    "platform.rs",
    "prompt.rs",
    "safefile.rs",
    "sanitize.rs",
    "shell.rs",
    "timefmt.rs",
];
const ENGINE: &[&str] = &[
    "store",
    "sts",
    "credcheck",
    "configedit",
    "resolve",
    "settings",
    "awsconfig",
    "mfa",
    "tty",
    "server",
    "listener",
    "browser",
    "commands",
    "app",
    "cli",
    "rotate",
    "overlay",
    "sso",
    "runtime",
    "http",
    "netconf",
    "exitcode",
    "picker",
    "source",
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
            "aws_sdk_iam",
            "aws_sdk_sso",
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
        "11aws_sdk_iam",
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

/// The module a `crate::…` path names: `commands::session` for `crate::commands::session::x`,
/// `store` for `crate::store::lock`, a top-level module otherwise.
fn module_of(path: &str) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or_default().to_string();
    match (first.as_str(), parts.next()) {
        ("commands", Some(sub)) if sub.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            format!("commands::{sub}")
        }
        _ => first,
    }
}

/// Every module of `src/` (files and `mod.rs` folders) with the modules it names.
fn import_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = std::collections::BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for ent in std::fs::read_dir(&dir).expect("read src").flatten() {
            let p = ent.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("bin/") || rel == "main.rs" || rel == "lib.rs" {
                continue;
            }
            let rel = rel.trim_end_matches(".rs").trim_end_matches("/mod");
            let name = module_of(&rel.replace('/', "::"));
            let text = std::fs::read_to_string(&p).expect("read module");
            let mut deps: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            let mut add = |path: &str| {
                let m = module_of(path);
                if !m.is_empty() && m != name {
                    deps.insert(m);
                }
            };
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                add(rest[..end].trim_end_matches(':'));
            }
            if name == "commands" {
                // A parent module reaches every child it declares.
                for line in text.lines() {
                    if let Some(sub) = line
                        .trim()
                        .strip_prefix("pub mod ")
                        .and_then(|r| r.strip_suffix(';'))
                    {
                        add(&format!("commands::{sub}"));
                    }
                }
            }
            if name.starts_with("commands::") {
                for (i, _) in text.match_indices("super::") {
                    let rest = &text[i + "super::".len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    let sub = &rest[..end];
                    if sub.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                        add(&format!("commands::{sub}"));
                    } else {
                        add("commands");
                    }
                }
            }
            graph
                .entry(name)
                .or_insert_with(std::collections::BTreeSet::new)
                .extend(deps);
        }
    }
    graph
}

#[test]
fn engine_modules_import_each_other_one_way() {
    let graph = import_graph();
    assert!(
        graph.contains_key("resolve") && graph.contains_key("commands::session"),
        "sanity: the graph has the engine's modules: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    // Depth-first search for a cycle; report it as a path.
    fn visit(
        n: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            // `commands` (mod.rs) is the parent of `commands::*`; a child naming a helper of
            // its parent is not a cycle through the children.
            if n.starts_with("commands::") && d == "commands" {
                continue;
            }
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", c.join(" -> "));
        }
    }
}

/// Every module `from` reaches through the import graph (itself excluded).
fn reachable(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    from: &str,
) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(n) = stack.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if d != from && seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn credential_sources_and_the_engine_point_one_way() {
    let graph = import_graph();
    assert!(
        graph.contains_key("source") && graph.contains_key("resolve"),
        "sanity: the graph has the sources and the engine: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    assert!(
        graph["rotate"].contains("resolve") && reachable(&graph, "source").contains("sso"),
        "sanity: the graph sees rotate -> resolve and source -> sso, so the checks below can fail"
    );
    // What is built on the engine: rotate, the server, the commands (their modules; the sso
    // module's own commands use only `commands::write_stdout` of src/commands/mod.rs), …
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let above_engine = |m: &str| {
        ["resolve", "rotate", "server", "app", "picker", "overlay"].contains(&m)
            || m.strip_prefix("commands::")
                .is_some_and(|c| src.join("commands").join(format!("{c}.rs")).exists())
    };
    // Sources know nothing of the engine (nor of anything built on it).
    for m in reachable(&graph, "source") {
        assert!(!above_engine(&m), "the credential sources reach {m}");
    }
    // The engine (chain walk, session cache) knows nothing of rotate, the commands, the server.
    for m in reachable(&graph, "resolve") {
        assert!(
            m == "source" || !above_engine(&m),
            "the engine (resolve) reaches {m}"
        );
    }
    // The engine names no particular source except the stored keys it hands to other modules:
    // adding a source touches src/source/ only.
    let mut texts = vec![src.join("resolve.rs")];
    for ent in std::fs::read_dir(src.join("resolve"))
        .expect("src/resolve")
        .flatten()
    {
        texts.push(ent.path());
    }
    let dir = std::fs::read_dir(src.join("source")).expect("src/source");
    let sources: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".rs").map(str::to_string)
        })
        .filter(|n| n != "mod" && n != "stored_keys")
        .collect();
    assert!(sources.len() >= 2, "sanity: sources found: {sources:?}");
    for p in texts {
        let text = std::fs::read_to_string(&p).expect("read");
        for s in &sources {
            let pat = format!("source::{s}");
            assert!(!text.contains(&pat), "{} names {pat}", p.display());
        }
        assert!(
            !text.contains("crate::sso"),
            "{} names crate::sso",
            p.display()
        );
    }
}
