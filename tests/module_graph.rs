//! The module table in the design is a direction: a module uses only those below it. This test
//! reads the sources of `src/verify/` and fails on any import circle between its submodules
//! (for example `identity` and `pins` importing each other).

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Source without its `#[cfg(test)]` module (tests may use anything).
fn non_test_source(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |at| &text[..at])
}

/// The sibling modules of `src/verify/` that each of its files names (`super::x`,
/// `crate::verify::x`).
fn verify_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/verify");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "mod" {
            modules.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            let text = non_test_source(text);
            let uses = names
                .iter()
                .filter(|other| *other != name)
                .filter(|other| {
                    [
                        format!("super::{other}::"),
                        format!("crate::verify::{other}::"),
                    ]
                    .iter()
                    .chain([format!("super::{other}}}"), format!("super::{other};")].iter())
                    .any(|pattern| text.contains(pattern.as_str()))
                })
                .cloned()
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

/// A circle in `graph`, if there is one (as the list of modules on it).
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(graph, next, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn the_verify_submodules_import_each_other_in_one_direction_only() {
    let graph = verify_graph();
    // The scan must see the edges that do exist, or it proves nothing.
    assert!(graph["pins"].contains("identity"), "{graph:?}");
    assert!(graph["profile"].contains("facts"), "{graph:?}");
    assert_eq!(find_circle(&graph), None, "{graph:?}");
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The crate's top-level modules (a file `src/x.rs` or a folder `src/x/`), and the others
/// each one names (`crate::x`), outside test modules.
fn crate_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "lib" || name == "bin" {
            continue;
        }
        let text = if path.is_dir() {
            let mut all = String::new();
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "rs") {
                    all.push_str(non_test_source(&std::fs::read_to_string(&file).unwrap()));
                }
            }
            all
        } else if path.extension().is_some_and(|e| e == "rs") {
            non_test_source(&std::fs::read_to_string(&path).unwrap()).to_string()
        } else {
            continue;
        };
        modules.insert(name, text);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            let uses = names
                .iter()
                .filter(|other| *other != name)
                .filter(|other| {
                    [format!("crate::{other}::"), format!("crate::{other}::{{")]
                        .iter()
                        .any(|pattern| text.contains(pattern.as_str()))
                })
                .cloned()
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

#[test]
fn the_crate_modules_import_each_other_in_one_direction_only() {
    let graph = crate_graph();
    // The edges that must exist (or the scan proves nothing), and the ones that were circles.
    assert!(graph["layer"].contains("gate"), "{graph:?}");
    assert!(graph["server"].contains("connection"), "{graph:?}");
    assert!(graph["layer"].contains("connection"), "{graph:?}");
    assert!(!graph["peer_chain"].contains("gate"), "{graph:?}");
    assert!(!graph["layer"].contains("server"), "{graph:?}");
    assert!(!graph["server"].contains("layer"), "{graph:?}");
    // The pure core knows nothing of transports.
    for transport in ["layer", "server", "tls", "gate", "connection"] {
        assert!(!graph["verify"].contains(transport), "{graph:?}");
    }
    assert_eq!(find_circle(&graph), None, "{graph:?}");
}
