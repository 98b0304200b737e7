//! The fault catalogue, the config, the user docs and the tests agree: every toggle of the
//! catalogue has a row in docs/faults.md, every row is a toggle the config accepts, and every
//! toggle is switched on by some end-to-end test.

use clap::ValueEnum;
use doc_controller::fault::Fault;
use std::collections::BTreeMap;

/// Toggle name -> its row, from the table of docs/faults.md.
fn doc_rows() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/faults.md"))
        .expect("docs/faults.md readable");
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .filter_map(|l| {
            let toggle = l.split('|').nth(3)?.trim().trim_matches('`').to_string();
            (!toggle.is_empty() && !toggle.starts_with("---")).then(|| (toggle, l.to_string()))
        })
        .collect()
}

#[test]
fn every_toggle_has_a_documented_row() {
    let rows = doc_rows();
    for fault in Fault::value_variants() {
        assert!(
            rows.contains_key(fault.name()),
            "{} has no row in docs/faults.md",
            fault.name()
        );
    }
}

#[test]
fn every_documented_toggle_is_accepted_by_the_config() {
    for toggle in doc_rows().keys() {
        assert!(
            Fault::from_str(toggle, false).is_ok(),
            "{toggle} is documented but the config rejects it"
        );
    }
}

#[test]
fn every_toggle_is_switched_on_by_an_end_to_end_test() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let tests: String = std::fs::read_dir(dir)
        .expect("tests/ readable")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| std::fs::read_to_string(path).expect("test file readable"))
        .collect();
    for fault in Fault::value_variants() {
        // In-process tests name the variant; the ones running the binary pass the kebab name.
        let variant = format!("Fault::{fault:?}");
        assert!(
            tests.contains(&variant) || tests.contains(&format!("{}\"", fault.name())),
            "no test in tests/ switches on {} ({variant})",
            fault.name()
        );
    }
}

#[test]
fn the_docs_cover_the_whole_catalogue() {
    let rows = doc_rows();
    assert_eq!(rows.len(), 25, "{:?}", rows.keys());
    // The catalogue itself lives beside the repository (shared/ in CI); check it when present.
    let catalogue = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fault-catalogue.md");
    let Ok(text) = std::fs::read_to_string(catalogue) else {
        eprintln!("{catalogue} not found; checked the docs against themselves only");
        return;
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
    {
        if let Some(toggle) = line.split('|').nth(4).map(|c| c.trim().trim_matches('`')) {
            if toggle.is_empty() || toggle.starts_with("---") {
                continue;
            }
            assert!(
                rows.contains_key(toggle),
                "catalogue toggle {toggle} has no row in the docs"
            );
        }
    }
}
