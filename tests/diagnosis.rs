//! The self-diagnosis as a whole: no false alarm on a healthy controller (a long quiet run, a
//! convergence of 2,000 Documents), and docs/diagnosis.md is what its catalogue says.
// region: fault-catalogue
//! And live toggles whose finding is raised when they are switched on and cleared, without a
//! restart, when they are switched off. (Each toggle's own finding is asserted by its test in
//! tests/faults.rs and tests/rbac.rs.)
// endregion: fault-catalogue
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG`, as deployed.

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::diagnosis::Finding;
use kube::api::Api;
use std::time::Duration;
use support::{Controller, Env, converge, create, doc, eventually, ready_as};
// region: fault-catalogue
use doc_controller::fault::Fault;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::TestNamespace;
// endregion: fault-catalogue

#[tokio::test]
async fn a_long_quiet_run_raises_no_finding() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), ns.name()), 10).await;
    // 60 windows of half a second with nothing to do.
    let start = support::diagnostics(c.admin_addr()).await.windows;
    eventually("60 quiet windows", || async {
        (support::diagnostics(c.admin_addr()).await.windows >= start + 60).then_some(())
    })
    .await;
    c.expect_no_findings().await;
}

#[tokio::test]
async fn converging_2000_documents_raises_no_finding() {
    const N: usize = 2_000;
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    // Created first, so the controller meets them all at once, as after a restart.
    for i in 0..N {
        create(&docs, &doc(&format!("doc-{i}"), "Doc", "some words")).await;
    }
    let c = Controller::start(&env, &ns, Config::default()).await;
    // A bound for the whole convergence, not for one expectation: a debug build on two shared
    // cores takes a minute or so; the test fails only if the controller stops progressing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let list = docs
            .list(&Default::default())
            .await
            .expect("Documents listed");
        let ready = list
            .items
            .iter()
            .filter(|d| ready_as("Published")(Some(d)))
            .count();
        if ready == N {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ready} of {N} Documents Ready"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    c.expect_no_findings().await;
}

// region: fault-catalogue
// === Live toggles: raised when switched on, cleared when switched off, no restart ===

async fn set_live_toggles(env: &Env, ns: &TestNamespace, faults: &str) {
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "doc-controller-config" },
        "data": { "faults": faults }
    }))
    .expect("configmap");
    Api::<ConfigMap>::namespaced(env.client.clone(), ns.name())
        .patch(
            "doc-controller-config",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&cm),
        )
        .await
        .expect("toggles set");
}

/// A controller with live toggles over 2 converged Documents, resynced every second so that the
/// toggles' symptoms keep showing while they are on.
async fn live_controller(env: &Env, ns: &TestNamespace, setups_of: &[Fault]) -> Controller {
    let config = Config {
        live_faults: true,
        resync_period: Duration::from_secs(1),
        ..Config::default()
    };
    let c = Controller::start_with(env, ns, config, setups_of, None).await;
    converge(&Api::namespaced(env.client.clone(), ns.name()), 2).await;
    c.expect_no_findings().await;
    c
}

/// Switches `fault` on live: `finding` is raised; off again: it clears.
async fn raised_and_cleared_live(fault: Fault, finding: Finding) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = live_controller(&env, &ns, &[fault]).await;
    set_live_toggles(&env, &ns, fault.name()).await;
    c.expect_findings(&[finding]).await;
    set_live_toggles(&env, &ns, "").await;
    c.wait_cleared(finding).await;
}

#[tokio::test]
async fn status_timestamp_switched_live_raises_status_churn_and_clears() {
    raised_and_cleared_live(Fault::StatusTimestamp, Finding::StatusChurn).await;
}

#[tokio::test]
async fn direct_reads_switched_live_raises_excessive_api_calls_and_clears() {
    raised_and_cleared_live(Fault::DirectReads, Finding::ExcessiveApiCalls).await;
}

#[tokio::test]
async fn blocking_reconcile_switched_live_raises_blocking_in_async_and_clears() {
    raised_and_cleared_live(Fault::BlockingReconcile, Finding::BlockingInAsync).await;
}

#[tokio::test]
async fn cleanup_fails_switched_live_raises_stuck_terminating_and_clears() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = live_controller(&env, &ns, &[]).await;
    set_live_toggles(&env, &ns, Fault::CleanupFails.name()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    docs.delete("doc-0", &DeleteParams::default())
        .await
        .expect("delete accepted");
    c.expect_findings(&[Finding::StuckTerminating]).await;
    // The fix in force: the next retry's cleanup succeeds, the Document goes, the finding clears.
    set_live_toggles(&env, &ns, "").await;
    c.wait_cleared(Finding::StuckTerminating).await;
    eventually("the Document gone", || async {
        docs.get_opt("doc-0")
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
}
// endregion: fault-catalogue

// === docs/diagnosis.md is generated from the catalogue of findings ===

/// docs/diagnosis.md as the catalogue of findings says it: one section per finding.
fn diagnosis_docs() -> String {
    let mut out = String::from(
        "# Self-diagnosis\n\n\
         <!-- Generated from src/diagnosis/catalogue.rs by tests/diagnosis.rs: edit the catalogue, then\n\
         run `just docs` (DOC_CONTROLLER_BLESS=1 cargo test --test diagnosis). -->\n\n\
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
         `doc-controller doctor --url http://127.0.0.1:8080` prints them.\n",
    );
    // region: fault-catalogue
    out.push_str(&faults_region(
        "The fault catalogue ([faults.md](faults.md)) names the finding each toggle raises; its\n\
         tests assert it.\n",
    ));
    // endregion: fault-catalogue
    out.push_str("\n| finding | symptom |\n|---|---|\n");
    for finding in Finding::ALL {
        out.push_str(&format!(
            "| [`{name}`](#{name}) | {} |\n",
            finding.symptom(),
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
        out.push_str(&format!("\n**Fix**: {}.\n", finding.fix()));
        // region: fault-catalogue
        out.push('\n');
        out.push_str(&faults_region(&format!(
            "**Toggles**: {}.\n",
            toggles(*finding)
        )));
        // endregion: fault-catalogue
    }
    out
}

// region: fault-catalogue
/// The failure toggles whose symptom `finding` is.
fn toggles(finding: Finding) -> String {
    let names: Vec<String> = Fault::ALL
        .iter()
        .filter(|fault| fault.finding() == finding)
        .map(|fault| format!("`{fault}`"))
        .collect();
    if names.is_empty() {
        "`no-predicate` with `status-timestamp`".to_string()
    } else {
        names.join(", ")
    }
}

/// `text` between the Markdown markers of a fault-catalogue region.
fn faults_region(text: &str) -> String {
    let marker = |end: &str| format!("<!-- {end}region: fault-catalogue -->\n");
    format!("{}{text}{}", marker(""), marker("end"))
}
// endregion: fault-catalogue

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
