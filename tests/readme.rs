//! The README's metrics table says what `/metrics` serves: every metric it names is served by a
//! running controller, and every `doc_controller_*` family served is in the table. A row may name
//! a family pattern with `*` (`doc_controller_process_*`).

mod support;

use doc_controller::config::Config;
use support::{Controller, Env, create, doc, ready_as, wait_for};

/// A metric name or pattern of the README's `**Metrics**` tables (first column; the table after
/// each paragraph that starts so), and the Cargo feature its row says it needs
/// (`(feature `jemalloc`)`), if any.
fn documented() -> Vec<(String, Option<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md readable");
    let tables: Vec<&str> = readme.split("**Metrics**").skip(1).collect();
    assert!(!tables.is_empty(), "a **Metrics** paragraph in the README");
    let rows = tables.iter().flat_map(|table| {
        table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
    });
    let mut names = Vec::new();
    for row in rows {
        let cells: Vec<&str> = row.split('|').collect();
        let (Some(first), Some(what)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let feature = what
            .split_once("feature `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(feature, _)| feature.to_string());
        for name in first.split('`').skip(1).step_by(2) {
            if name.starts_with("doc_controller_") {
                let name = name.split('{').next().unwrap_or(name).to_string();
                names.push((name, feature.clone()));
            }
        }
    }
    names
}

/// Whether this build has the Cargo feature a README row names.
fn enabled(feature: &str) -> bool {
    match feature {
        "jemalloc" => cfg!(feature = "jemalloc"),
        "console" => cfg!(feature = "console"),
        other => panic!("the README names an unknown feature {other:?}"),
    }
}

/// Whether `family` is `name`, or matches the pattern `name` (one `*`).
fn matches(name: &str, family: &str) -> bool {
    match name.split_once('*') {
        Some((prefix, suffix)) => {
            family.len() >= prefix.len() + suffix.len()
                && family.starts_with(prefix)
                && family.ends_with(suffix)
        }
        None => name == family,
    }
}

#[tokio::test]
async fn the_readme_metrics_table_names_exactly_what_metrics_serves() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = kube::Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;

    let text = c.metrics().await;
    let served: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("doc_controller_"))
        .collect();
    let documented = documented();
    assert!(
        !documented.is_empty(),
        "no metric names found in the README"
    );
    for (name, feature) in &documented {
        let is_served = served.iter().any(|family| matches(name, family));
        match feature.as_deref() {
            Some(feature) if !enabled(feature) => assert!(
                !is_served,
                "{name} is served without the feature `{feature}` its row names"
            ),
            _ => assert!(
                is_served,
                "the README names {name}, /metrics does not serve it"
            ),
        }
    }
    for family in &served {
        assert!(
            documented.iter().any(|(name, _)| matches(name, family)),
            "/metrics serves {family}, the README's table does not name it"
        );
    }
}

/// The `.rs` files under `dir`, in its subdirectories too (a test target of several files).
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for path in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
    {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// `(test name, reason)` of every test marked `#[cfg_attr(real_cluster, ignore = "…")]` in the
/// test files under `dir` (relative to the repository), if it exists.
fn ignored_on_a_real_cluster(dir: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    if !path.is_dir() {
        return Vec::new();
    }
    let mut files = rust_files(&path);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("test file readable");
        // Attributes start a line; a mention in a comment does not.
        let starts = text
            .match_indices("\n")
            .map(|(at, _)| at + 1)
            .filter(|&at| text[at..].trim_start().starts_with("#[cfg_attr("));
        for at in starts {
            let head = text[at..].trim_start()["#[cfg_attr(".len()..].trim_start();
            if !head.starts_with("real_cluster,") {
                continue;
            }
            let reason = head
                .split_once("ignore = \"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(reason, _)| reason.to_string())
                .expect("a reason");
            let name = head
                .split_once("fn ")
                .and_then(|(_, r)| r.split(|c: char| !c.is_alphanumeric() && c != '_').next())
                .expect("a test function after the attribute")
                .to_string();
            found.push((name, reason));
        }
    }
    found
}

#[test]
fn the_readme_lists_every_test_a_real_cluster_ignores() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md readable");
    let section = readme
        .split("### What a real cluster does not check")
        .nth(1)
        .expect("a section \"What a real cluster does not check\" in the README");
    let section = section.split("\n## ").next().unwrap_or(section);
    let ignored: Vec<_> = ["tests", "sandbox/tests"]
        .iter()
        .flat_map(|dir| ignored_on_a_real_cluster(dir))
        .collect();
    assert!(!ignored.is_empty());
    for (name, reason) in &ignored {
        assert!(
            section.contains(&format!("`{name}`")),
            "the README does not list {name} ({reason})"
        );
    }
    let listed = section.matches("\n| `").count();
    assert_eq!(
        listed,
        ignored.len(),
        "the README lists tests that are not ignored"
    );
}
