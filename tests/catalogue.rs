//! The fault catalogue, the config and the user docs agree: every toggle of the catalogue has a
//! row in docs/faults.md, and every row is either a toggle the config accepts or says plainly that
//! it is not implemented yet.

use clap::ValueEnum;
use doc_controller::fault::Fault;
use std::collections::BTreeMap;

const NOT_IMPLEMENTED: &str = "not implemented yet";

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
fn every_implemented_toggle_has_a_documented_row() {
    let rows = doc_rows();
    for fault in Fault::value_variants() {
        let row = rows
            .get(fault.name())
            .unwrap_or_else(|| panic!("{} has no row in docs/faults.md", fault.name()));
        assert!(
            !row.contains(NOT_IMPLEMENTED),
            "{} is implemented: {row}",
            fault.name()
        );
    }
}

#[test]
fn every_documented_toggle_is_accepted_by_the_config_or_marked_not_implemented() {
    for (toggle, row) in doc_rows() {
        let known = Fault::from_str(&toggle, false).is_ok();
        assert!(
            known || row.contains(NOT_IMPLEMENTED),
            "{toggle} is documented but the config rejects it"
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
