//! The README as a new user reads it: on GitHub, where rustdoc's hidden `# ` lines show, and
//! with the `Cargo.toml` lines they copy. (Its Rust blocks are compiled as doctests: see
//! `mod readme` in `src/lib.rs`.)

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// Every fenced block: (info string, lines).
fn code_blocks(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((info.trim().to_string(), Vec::new())),
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.to_string());
        }
    }
    assert!(current.is_none(), "unclosed code block");
    blocks
}

/// rustdoc treats a block as Rust when its info string is empty or names `rust`.
fn is_rust(info: &str) -> bool {
    info.is_empty()
        || info.split(',').any(|tag| {
            ["rust", "no_run", "should_panic", "ignore", "compile_fail"].contains(&tag.trim())
        })
}

#[test]
fn the_readme_rust_blocks_show_no_hidden_lines() {
    let readme = read("README.md");
    let rust: Vec<_> = code_blocks(&readme)
        .into_iter()
        .filter(|(info, _)| is_rust(info))
        .collect();
    assert!(!rust.is_empty(), "the README has a Rust example");
    for (info, lines) in &rust {
        for line in lines {
            let t = line.trim_start();
            assert!(
                !(t == "#" || t.starts_with("# ")),
                "```{info} block: rustdoc hides this line, GitHub shows it: {line:?}"
            );
        }
        // Not `ignore`d: the block must be compiled.
        assert!(!info.contains("ignore"), "```{info}");
    }
}

#[test]
fn the_readme_lists_the_dependencies_its_example_needs_at_versions_that_match() {
    let readme = read("README.md");
    let use_it = &readme[readme.find("## Use it").unwrap()..];
    let (_, lines) = code_blocks(use_it)
        .into_iter()
        .find(|(info, _)| info == "toml")
        .expect("a Cargo.toml block under \"Use it\"");
    let wanted: toml::Table = toml::from_str(&lines.join("\n")).unwrap();
    let wanted = wanted["dependencies"].as_table().unwrap();
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let ours = manifest["dependencies"].as_table().unwrap();

    let version = |spec: &toml::Value| -> String {
        match spec {
            toml::Value::String(v) => v.clone(),
            other => other["version"].as_str().unwrap().to_string(),
        }
    };
    for name in ["certgate", "axum", "tokio", "rustls", "rustls-pki-types"] {
        assert!(wanted.contains_key(name), "README Cargo.toml lacks {name}");
    }
    // The user's requirement must admit the version certgate itself builds against (same
    // semver-compatible series), or they get two copies and mismatched types.
    for (name, spec) in wanted {
        let theirs = version(spec);
        if name == "certgate" {
            let own = manifest["package"]["version"].as_str().unwrap();
            assert!(
                own.starts_with(&theirs),
                "certgate {theirs} vs package {own}"
            );
            let features = spec["features"].as_array().unwrap();
            for feature in features {
                let feature = feature.as_str().unwrap();
                assert!(
                    manifest["features"].get(feature).is_some(),
                    "certgate has no feature {feature}"
                );
            }
            continue;
        }
        let own = version(&ours[name.as_str()]);
        let series = |v: &str| -> String {
            let parts: Vec<&str> = v.trim_start_matches('=').split('.').collect();
            // 0.x: the minor is the breaking part; 1.x and up: the major.
            if parts[0] == "0" {
                format!("0.{}", parts[1])
            } else {
                parts[0].to_string()
            }
        };
        assert_eq!(
            series(&theirs),
            series(&own),
            "{name}: README {theirs}, Cargo.toml {own}"
        );
    }
    // The provider the example calls must be a feature the README turns on.
    let rustls_features = wanted["rustls"]["features"].as_array().unwrap();
    assert!(rustls_features.iter().any(|f| f.as_str() == Some("ring")));
    let tokio_features: Vec<&str> = wanted["tokio"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for needed in ["macros", "rt-multi-thread", "signal"] {
        assert!(tokio_features.contains(&needed), "tokio lacks {needed}");
    }
}

#[test]
fn the_readme_says_where_the_demo_writes_its_pki() {
    let readme = read("README.md");
    let quick_start =
        &readme[readme.find("## Quick start").unwrap()..readme.find("## Use it").unwrap()];
    assert!(quick_start.contains("./demo-pki"), "{quick_start}");
    assert!(quick_start.contains("--dir DIR"), "{quick_start}");
}

#[test]
fn the_readme_and_benchmarks_point_at_loadgen_where_it_lives() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let benches = manifest["bench"].as_array().unwrap();
    let loadgen = benches
        .iter()
        .find(|b| b["name"].as_str() == Some("loadgen"))
        .expect("loadgen is a bench target");
    assert_eq!(loadgen["harness"].as_bool(), Some(false));
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/loadgen.rs")
            .exists()
    );
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/loadgen.rs")
            .exists()
    );
    for doc in ["README.md", "BENCHMARKS.md"] {
        let text = read(doc);
        assert!(!text.contains("--example loadgen"), "{doc}");
        assert!(!text.contains("examples/loadgen"), "{doc}");
    }
    assert!(read("BENCHMARKS.md").contains("cargo bench --bench loadgen --features axum,server"));
}
