//! The fault catalogue, the toggle declaration, the user docs and the tests agree: every toggle
//! has one row in docs/faults.md with its number, whether it switches live and what the cluster
//! needs for it, exactly as `doc_controller::fault` declares; every manifest of yaml/faults/
//! belongs to a toggle and grants only what the shipped RBAC lacks; every toggle is switched on
//! by some end-to-end test.

#[path = "support/faults_md.rs"]
mod faults_md;

use doc_controller::fault::{Fault, Switch};
use std::collections::{BTreeMap, BTreeSet};

fn faults_md_rows() -> BTreeMap<String, faults_md::Row> {
    let rows = faults_md::read();
    let by_toggle: BTreeMap<_, _> = rows.iter().map(|r| (r.toggle.clone(), r.clone())).collect();
    assert_eq!(
        by_toggle.len(),
        rows.len(),
        "a toggle has two rows in docs/faults.md"
    );
    by_toggle
}

#[test]
fn every_toggle_has_a_row_that_says_what_the_declaration_says() {
    let rows = faults_md_rows();
    for fault in Fault::ALL {
        let row = rows
            .get(fault.name())
            .unwrap_or_else(|| panic!("{fault} has no row in docs/faults.md"));
        assert_eq!(row.number, fault.row().to_string(), "{fault}: row number");
        let switch = match fault.switch() {
            Switch::Live => "live",
            Switch::Restart => "restart",
        };
        assert_eq!(row.switch, switch, "{fault}: switch column");
        match fault.cluster_setup() {
            Some(setup) => assert!(
                row.cluster_needs.contains(&format!("[{setup}]")),
                "{fault}: the cluster-needs column must link {setup}: {}",
                row.cluster_needs
            ),
            None => assert_eq!(row.cluster_needs, "—", "{fault}: needs nothing"),
        }
    }
    assert_eq!(rows.len(), Fault::ALL.len(), "{:?}", rows.keys());
}

#[test]
fn every_documented_toggle_is_accepted_by_the_config() {
    for toggle in faults_md_rows().keys() {
        assert!(
            toggle.parse::<Fault>().is_ok(),
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
    for fault in Fault::ALL {
        // In-process tests name the variant; the ones running the binary pass the kebab name.
        let variant = format!("Fault::{fault:?}");
        assert!(
            tests.contains(&variant) || tests.contains(&format!("{}\"", fault.name())),
            "no test in tests/ switches on {fault} ({variant})"
        );
    }
}

/// `(apiGroup, resource, verb)` triples the ClusterRoles of a manifest grant.
fn granted(file: &str) -> BTreeSet<(String, String, String)> {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let objects: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut triples = BTreeSet::new();
    for role in objects.iter().filter(|o| o["kind"] == "ClusterRole") {
        for rule in role["rules"].as_array().into_iter().flatten() {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        triples.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    triples
}

#[test]
fn every_fault_manifest_belongs_to_a_toggle_and_grants_only_what_the_shipped_rbac_lacks() {
    let shipped = granted("yaml/rbac.yaml");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/faults");
    let declared: BTreeSet<&str> = Fault::ALL
        .iter()
        .filter_map(|f| f.cluster_setup())
        .collect();
    for entry in std::fs::read_dir(dir)
        .expect("yaml/faults/ readable")
        .flatten()
    {
        let file = format!(
            "yaml/faults/{}",
            entry.file_name().to_str().expect("a UTF-8 file name")
        );
        assert!(
            declared.contains(file.as_str()),
            "{file} is no toggle's cluster_setup"
        );
        let extra = granted(&file);
        let overlap: Vec<_> = extra.intersection(&shipped).collect();
        assert!(
            overlap.is_empty(),
            "{file} grants what yaml/rbac.yaml has: {overlap:?}"
        );
        assert!(
            !extra.iter().any(|(_, _, verb)| verb == "*"),
            "{file}: name each verb the wrong way uses"
        );
    }
}

// region: template-only
// The steering catalogue is this repository's (it lives beside it): no generated project has it.
#[test]
#[ignore = "compares docs/faults.md with ../shared/fault-catalogue.md, which is not part of the repository; .ci/run runs it where that file exists (cargo test --test catalogue -- --ignored)"]
fn the_docs_cover_the_steering_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fault-catalogue.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows = faults_md_rows();
    let mut seen = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(number), Some(toggle)) = (cells.get(1), cells.get(4)) else {
            continue;
        };
        let toggle = toggle.trim_matches('`');
        if toggle.is_empty() || toggle.starts_with("---") {
            continue;
        }
        seen += 1;
        let row = rows
            .get(toggle)
            .unwrap_or_else(|| panic!("catalogue toggle {toggle} has no row in the docs"));
        assert_eq!(&row.number, number, "{toggle}: the catalogue's row number");
    }
    // The catalogue numbers its rows 1..=n; a toggle this project added beyond it (as
    // `no-leader-election`) takes a number after n, so the catalogue's rows are the first n.
    assert!(
        seen > 0,
        "{path}: no rows read; has its table changed shape?"
    );
    let beyond: Vec<_> = Fault::ALL
        .iter()
        .filter(|f| usize::from(f.row()) > seen)
        .collect();
    assert_eq!(
        seen + beyond.len(),
        Fault::ALL.len(),
        "every toggle is either a catalogue row or numbered after the catalogue: {beyond:?}"
    );
}
// endregion: template-only

#[test]
fn every_toggle_row_names_the_finding_its_tests_assert() {
    let rows = faults_md_rows();
    for fault in Fault::ALL {
        let row = &rows[fault.name()];
        let finding = fault.finding();
        let link = format!("[`{0}`](diagnosis.md#{0})", finding.name());
        assert!(
            row.finding.starts_with(&link),
            "{fault}: the finding column must start with {link}: {}",
            row.finding
        );
    }
}
