//! The README's metrics table says what `/metrics` serves: every metric it names is served by a
//! running controller, and every `doc_controller_*` family served is in the table. A row may name
//! a family pattern with `*` (`doc_controller_process_*`).

mod support;

use doc_controller::config::Config;
use support::{Controller, Env, create, doc, ready_as, wait_for};

/// A metric name or pattern of the README's `**Metrics**` table (first column), and the Cargo
/// feature its row says it needs (`(feature `jemalloc`)`), if any.
fn documented() -> Vec<(String, Option<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md readable");
    let table = readme
        .split("**Metrics**")
        .nth(1)
        .expect("a **Metrics** paragraph in the README");
    let mut names = Vec::new();
    for row in table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
    {
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
    let docs = kube::Api::namespaced(env.client.clone(), &ns.name);
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
