//! The fault catalogue, the toggle declaration, the user docs and the tests agree: every toggle
//! has one row in docs/faults.md with its number, whether it switches live and what the cluster
//! needs for it, exactly as `doc_controller::fault` declares; every manifest of yaml/faults/
//! belongs to a toggle and grants only what the shipped RBAC lacks; every toggle is switched on
//! by some end-to-end test.

#[path = "support/faults_doc.rs"]
mod faults_doc;

use doc_controller::fault::{Fault, Switch};
use std::collections::{BTreeMap, BTreeSet};

fn doc_rows() -> BTreeMap<String, faults_doc::DocRow> {
    let rows = faults_doc::read();
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
    let rows = doc_rows();
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
    for toggle in doc_rows().keys() {
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

#[test]
#[ignore = "compares docs/faults.md with ../shared/fault-catalogue.md, which is not part of the repository; .ci/run runs it where that file exists (cargo test --test catalogue -- --ignored)"]
fn the_docs_cover_the_steering_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fault-catalogue.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows = doc_rows();
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

// === The self-diagnosis: docs/diagnosis.md is generated from its catalogue ===

use doc_controller::diagnosis::Finding;

/// docs/diagnosis.md as the catalogue of findings says it: one section per finding.
fn diagnosis_docs() -> String {
    let mut out = String::from(
        "# Self-diagnosis\n\n\
         <!-- Generated from src/diagnosis/catalogue.rs by tests/catalogue.rs: edit the catalogue, then\n\
         run `just docs` (DOC_CONTROLLER_BLESS=1 cargo test --test catalogue). -->\n\n\
         doc-controller recognises the symptoms of the kube.rs troubleshooting guide from its own\n\
         signals while it runs, names the likely cause and says the fix. Every window\n\
         (`--diagnosis-window`, 10 s) it compares its metrics with the last window's and reads a few\n\
         facts from its caches; each finding below has one rule ([src/diagnosis/rules.rs](../src/diagnosis/rules.rs)).\n\
         A finding is raised after its symptom showed in a number of consecutive windows and cleared\n\
         after a number of windows without it, so it does not flap.\n\n\
         A raised finding shows as one WARN log line (`finding raised: …` with the evidence, the cause,\n\
         the fix and this page), `doc_controller_finding_active{finding}` = 1, a Kubernetes Event from\n\
         the replica that leads (on the Documents it is about, else on the controller's Pod), an entry\n\
         of `GET /diagnostics` on the admin server, and\n\
         `doc-controller doctor --url http://127.0.0.1:8080` prints them. The\n\
         fault catalogue ([faults.md](faults.md)) names the finding each toggle raises; its tests\n\
         assert it.\n\n\
         | finding | symptom | toggles |\n|---|---|---|\n",
    );
    let toggles = |finding: Finding| {
        let names: Vec<String> = finding
            .toggles()
            .iter()
            .map(|fault| format!("`{fault}`"))
            .collect();
        if names.is_empty() {
            "`no-predicate` with `status-timestamp`".to_string()
        } else {
            names.join(", ")
        }
    };
    for finding in Finding::ALL {
        out.push_str(&format!(
            "| [`{name}`](#{name}) | {} | {} |\n",
            finding.symptom(),
            toggles(*finding),
            name = finding.name()
        ));
    }
    for finding in Finding::ALL {
        out.push_str(&format!("\n## {}\n\n", finding.name()));
        out.push_str(&format!("**Symptom**: {}.\n\n", finding.symptom()));
        out.push_str(&format!(
            "**Raised when**: {}; raised after {} window{}, cleared after {} without it.\n\n",
            finding.raised_when(),
            finding.raise_after(),
            if finding.raise_after() == 1 { "" } else { "s" },
            finding.clear_after()
        ));
        out.push_str("**Likely causes**, most likely first (the evidence says which):\n\n");
        for (i, cause) in finding.causes().iter().enumerate() {
            out.push_str(&format!("{}. {cause}\n", i + 1));
        }
        out.push_str(&format!("\n**Fix**: {}.\n\n", finding.fix()));
        out.push_str(&format!("**Toggles**: {}.\n", toggles(*finding)));
    }
    out
}

#[test]
fn the_diagnosis_docs_are_generated_from_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/diagnosis.md");
    let generated = diagnosis_docs();
    if std::env::var_os("DOC_CONTROLLER_BLESS").is_some() {
        std::fs::write(path, &generated).expect("docs/diagnosis.md written");
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/diagnosis.md is not what src/diagnosis/catalogue.rs says: run `just docs`"
    );
}

#[test]
fn every_toggle_row_names_the_finding_its_tests_assert() {
    let rows = doc_rows();
    for fault in Fault::ALL {
        let row = &rows[fault.name()];
        let finding = Finding::of_toggle(*fault).expect("every toggle has a finding");
        let link = format!("[`{0}`](diagnosis.md#{0})", finding.name());
        assert!(
            row.finding.starts_with(&link),
            "{fault}: the finding column must start with {link}: {}",
            row.finding
        );
    }
}
