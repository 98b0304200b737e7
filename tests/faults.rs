//! The fault catalogue, toggle by toggle: each symptom shown with the toggle on, and gone with it
//! off, through what a user can observe (API objects, `/metrics`, logs, exit codes).
//!
//! Counts, not timings: where a test needs a window to show that something does *not* happen, the
//! window only bounds how long the test waits; the assertion is on counts and object state.
//! Toggles that need the API server to misbehave (410, 429, 401, a hung server) set that up through
//! the sandbox's fault API and are skipped, with the reason printed, on a real cluster; the 403
//! toggles are in tests/rbac.rs, as the ServiceAccount with the shipped RBAC.

mod support;

use doc_controller::config::Config;
use doc_controller::fault::{Fault, Faults};
use doc_controller::{AppError, Document};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use support::{Controller, Env, create, doc, eventually, ready_as, set_spec, wait_for};

/// Long enough for a healthy controller to finish what a test asks of it on this kind of machine,
/// so that "nothing happened within it" means the toggle stopped it.
const WINDOW: Duration = Duration::from_secs(2);

fn with(faults: &[Fault]) -> Config {
    Config {
        faults: Faults::new(faults.iter().copied()),
        ..Config::default()
    }
}

async fn status_patches(c: &Controller) -> f64 {
    c.metric("doc_controller_status_patches_total", &[]).await
}

async fn requests(c: &Controller, verb: &str, resource: &str) -> f64 {
    c.metric(
        "doc_controller_api_requests_total",
        &[
            &format!("verb=\"{verb}\""),
            &format!("resource=\"{resource}\""),
        ],
    )
    .await
}

/// Creates `n` Documents and waits until all are Ready.
async fn converge(docs: &Api<Document>, n: usize) {
    for i in 0..n {
        create(
            docs,
            &doc(&format!("doc-{i}"), &format!("Doc {i}"), "some words"),
        )
        .await;
    }
    for i in 0..n {
        wait_for(docs, &format!("doc-{i}"), ready_as("Published")).await;
    }
}

// === status-timestamp, no-predicate ===

/// Converges 3 Documents with a short resync period, then lets every Document be reconciled
/// again, unchanged, at least twice; returns (status writes, successful reconciles).
async fn status_writes_over_resyncs(faults: &[Fault]) -> (f64, f64) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let config = Config {
        resync_period: Duration::from_millis(500),
        ..with(faults)
    };
    let c = Controller::start(&env, &ns.name, config).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 3).await;
    let converged = reconciles(&c).await;
    eventually("two resyncs of every Document", || async {
        (reconciles(&c).await >= converged + 6.0).then_some(())
    })
    .await;
    // Reconciles first: a reconcile's status write is counted before its success, so in this
    // order a reconcile finishing between the two reads cannot look like one that wrote nothing.
    let reconciled = reconciles(&c).await;
    (status_patches(&c).await, reconciled)
}

async fn reconciles(c: &Controller) -> f64 {
    c.metric("doc_controller_reconcile_total", &["result=\"success\""])
        .await
}

#[tokio::test]
async fn status_timestamp_on_writes_status_on_every_reconcile() {
    let (writes, reconciles) = status_writes_over_resyncs(&[Fault::StatusTimestamp]).await;
    // Finalizer-adding reconciles (one per Document) write no status; every other one writes.
    assert!(
        writes >= reconciles - 3.0,
        "{writes} status writes in {reconciles} reconciles"
    );
}

#[tokio::test]
async fn status_timestamp_off_writes_status_once_per_change() {
    let (writes, reconciles) = status_writes_over_resyncs(&[]).await;
    assert_eq!(
        writes, 3.0,
        "one status write per new Document, none in {reconciles} reconciles"
    );
}

#[tokio::test]
async fn no_predicate_with_status_timestamp_on_loops_forever() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(
        &env,
        &ns.name,
        with(&[Fault::NoPredicate, Fault::StatusTimestamp]),
    )
    .await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;
    let rv = |d: Document| d.metadata.resource_version.unwrap_or_default();
    let first = rv(docs.get("doc-0").await.expect("get"));
    let before = status_patches(&c).await;
    tokio::time::sleep(WINDOW).await;
    let after = status_patches(&c).await;
    assert!(
        after - before >= 5.0,
        "status writes keep coming: {before} -> {after}"
    );
    assert_ne!(
        rv(docs.get("doc-0").await.expect("get")),
        first,
        "resourceVersion climbs"
    );
}

/// Reconciles caused by touching each Document without changing its spec (a label), the kind of
/// change a status write is too.
async fn reconciles_after_touching(faults: &[Fault]) -> f64 {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(faults)).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 3).await;
    tokio::time::sleep(WINDOW / 4).await;
    let before = c.metric("doc_controller_reconcile_total", &[]).await;
    for i in 0..3 {
        docs.patch(
            &format!("doc-{i}"),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "metadata": { "labels": { "touched": "yes" } } })),
        )
        .await
        .expect("labelled");
    }
    tokio::time::sleep(WINDOW / 2).await;
    c.metric("doc_controller_reconcile_total", &[]).await - before
}

#[tokio::test]
async fn no_predicate_on_reconciles_changes_that_leave_the_spec_alone() {
    assert!(reconciles_after_touching(&[Fault::NoPredicate]).await >= 3.0);
}

#[tokio::test]
async fn no_predicate_off_ignores_changes_that_leave_the_spec_alone() {
    assert_eq!(reconciles_after_touching(&[]).await, 0.0);
}

// === generation-only-predicate ===

#[tokio::test]
async fn generation_only_predicate_on_stalls_after_adding_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, with(&[Fault::GenerationOnlyPredicate])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("stuck", "Stuck", "")).await;
    let with_finalizer = eventually("the finalizer", || async {
        let d = docs.get("stuck").await.expect("get");
        d.metadata.finalizers.is_some().then_some(d)
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    let d = docs.get("stuck").await.expect("get");
    assert!(
        d.status.is_none(),
        "no reconcile after the finalizer change"
    );
    assert_eq!(
        d.metadata.resource_version,
        with_finalizer.metadata.resource_version
    );
}

#[tokio::test]
async fn generation_only_predicate_off_publishes_right_after_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("flows", "Flows", "")).await;
    wait_for(&docs, "flows", ready_as("Published")).await;
}

// === predicate-blocks-all ===

#[tokio::test]
async fn predicate_blocks_all_on_ignores_spec_changes() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::PredicateBlocksAll])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("frozen", "Frozen", "")).await;
    // First sight passes once: the finalizer is added; nothing after that.
    tokio::time::sleep(WINDOW).await;
    let reconciles = c.metric("doc_controller_reconcile_total", &[]).await;
    set_spec(&docs, "frozen", json!({ "title": "Thawed" })).await;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        c.metric("doc_controller_reconcile_total", &[]).await,
        reconciles
    );
    let d = docs.get("frozen").await.expect("get");
    assert_ne!(
        d.status.and_then(|s| s.observed_generation),
        d.metadata.generation,
        "the edit is never reconciled"
    );
}

#[tokio::test]
async fn predicate_blocks_all_off_reconciles_spec_changes() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("live", "Live", "")).await;
    wait_for(&docs, "live", ready_as("Published")).await;
    set_spec(&docs, "live", json!({ "title": "Live v2" })).await;
    wait_for(&docs, "live", |d: Option<&Document>| {
        ready_as("Published")(d) && d.is_some_and(|d| d.metadata.generation == Some(2))
    })
    .await;
}

// === narrow-selector ===

#[tokio::test]
async fn narrow_selector_on_leaves_the_store_empty() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::NarrowSelector])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("unseen", "Unseen", "")).await;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        c.metric("doc_controller_cached_objects", &["store=\"documents\""])
            .await,
        0.0
    );
    assert_eq!(c.metric("doc_controller_reconcile_total", &[]).await, 0.0);
    assert!(
        docs.get("unseen")
            .await
            .expect("listed by the API")
            .status
            .is_none()
    );
}

#[tokio::test]
async fn narrow_selector_off_caches_every_document() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 2).await;
    eventually("2 cached Documents", || async {
        (c.metric("doc_controller_cached_objects", &["store=\"documents\""])
            .await
            == 2.0)
            .then_some(())
    })
    .await;
}

// === broad-watch-scope ===

async fn unrelated_config_maps(env: &Env, ns: &str, n: usize) {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.client.clone(), ns);
    for i in 0..n {
        let cm = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": format!("unrelated-{i}") }, "data": { "k": "v" }
        }))
        .expect("configmap");
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("created");
    }
}

#[tokio::test]
async fn broad_watch_scope_on_caches_unrelated_config_maps() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    unrelated_config_maps(&env, &ns.name, 20).await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::BroadWatchScope])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    eventually("unrelated ConfigMaps in the cache", || async {
        (c.metric("doc_controller_cached_objects", &["store=\"configmaps\""])
            .await
            >= 22.0)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn broad_watch_scope_off_caches_only_managed_config_maps() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    unrelated_config_maps(&env, &ns.name, 20).await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    // document-doc-0 and documents-index.
    eventually("2 cached ConfigMaps", || async {
        (c.metric("doc_controller_cached_objects", &["store=\"configmaps\""])
            .await
            == 2.0)
            .then_some(())
    })
    .await;
}

// === unpaged-initial-list ===

#[tokio::test]
async fn unpaged_initial_list_on_lists_everything_in_one_request() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::UnpagedInitialList])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    // The preflight's LIST, plus the watcher's initial LIST of each watched resource.
    assert_eq!(requests(&c, "list", "documents").await, 2.0);
    assert_eq!(requests(&c, "list", "configmaps").await, 1.0);
}

#[tokio::test]
async fn unpaged_initial_list_off_streams_the_initial_list() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    assert_eq!(
        requests(&c, "list", "documents").await,
        1.0,
        "only the preflight"
    );
    assert_eq!(requests(&c, "list", "configmaps").await, 0.0);
}

// === direct-reads ===

#[tokio::test]
async fn direct_reads_on_gets_from_the_api_on_every_reconcile() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::DirectReads])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 3).await;
    let gets = requests(&c, "get", "configmaps").await;
    let reconciles = c.metric("doc_controller_reconcile_total", &[]).await;
    assert!(
        gets >= reconciles,
        "{gets} GETs for {reconciles} reconciles"
    );
}

#[tokio::test]
async fn direct_reads_off_reads_only_the_store() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 3).await;
    assert_eq!(requests(&c, "get", "configmaps").await, 0.0);
}

// === cleanup-fails ===

#[tokio::test]
async fn cleanup_fails_on_keeps_deleted_documents_terminating() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::CleanupFails])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;
    docs.delete("doc-0", &DeleteParams::default())
        .await
        .expect("delete accepted");
    eventually("cleanup errors", || async {
        (c.metric(
            "doc_controller_reconcile_errors_total",
            &["reason=\"injected_cleanup_failure\""],
        )
        .await
            >= 1.0)
            .then_some(())
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    let d = docs.get("doc-0").await.expect("still there");
    assert!(d.metadata.deletion_timestamp.is_some(), "Terminating");
    assert_eq!(
        d.metadata.finalizers,
        Some(vec!["documents.kube.rs".to_string()])
    );
}

#[tokio::test]
async fn cleanup_fails_off_releases_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;
    support::delete_and_wait(&docs, "doc-0").await;
}

// === controller-down ===

#[tokio::test]
async fn controller_down_on_serves_health_but_reconciles_nothing() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::ControllerDown])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("waiting", "Waiting", "")).await;
    tokio::time::sleep(WINDOW).await;
    let d = docs.get("waiting").await.expect("get");
    assert!(d.metadata.finalizers.is_none() && d.status.is_none());
    assert_eq!(c.healthz().await, 200, "alive");
    assert_eq!(c.metric("doc_controller_reconcile_total", &[]).await, 0.0);

    // Processed once a controller runs again.
    c.stop().await.expect("stops");
    let _again = Controller::start(&env, &ns.name, Config::default()).await;
    wait_for(&docs, "waiting", ready_as("Published")).await;
}

// === blocking-reconcile ===

async fn mean_reconcile_seconds(c: &Controller) -> f64 {
    let sum = c
        .metric("doc_controller_reconcile_duration_seconds_sum", &[])
        .await;
    let count = c
        .metric("doc_controller_reconcile_duration_seconds_count", &[])
        .await;
    sum / count.max(1.0)
}

#[tokio::test]
async fn blocking_reconcile_on_holds_every_reconcile_for_its_sleep() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::BlockingReconcile])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 2).await;
    assert!(mean_reconcile_seconds(&c).await >= 0.25);
}

#[tokio::test]
async fn blocking_reconcile_off_reconciles_in_milliseconds() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 2).await;
    assert!(mean_reconcile_seconds(&c).await < 0.25);
}

// === Toggles shown on an API server without the CRD: skip-preflight, no-backoff,
// === silent-watch-errors, crash-on-error. A real cluster has the CRD installed, so these run
// === on the sandbox only.

/// A sandbox without the Document CRD, or `None` (with the reason printed) on a real cluster.
async fn crd_less() -> Option<Env> {
    let env = Env::without_crd().await;
    if env.is_sandbox() {
        Some(env)
    } else {
        eprintln!("skipped on a real cluster: needs an API server without the Document CRD");
        None
    }
}

#[tokio::test]
async fn skip_preflight_on_retries_404s_instead_of_exiting() {
    let Some(env) = crd_less().await else { return };
    let ns = env.namespace().await;
    let mut c = Controller::start(&env, &ns.name, with(&[Fault::SkipPreflight])).await;
    eventually("404 watch errors", || async {
        (c.metric("doc_controller_watch_errors_total", &["reason=\"404\""])
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert!(c.finished_within(WINDOW).await.is_none(), "still running");
    // With nothing ever cached there is nothing in flight: shutdown is immediate.
    c.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn skip_preflight_off_stops_with_the_install_command() {
    let Some(env) = crd_less().await else { return };
    let ns = env.namespace().await;
    let mut c = Controller::start(&env, &ns.name, Config::default()).await;
    match c.finished_within(support::TIMEOUT).await {
        Some(Err(AppError::Preflight(e))) => {
            assert!(
                e.to_string()
                    .contains("cargo run --bin crdgen | kubectl apply -f -")
            );
        }
        other => panic!("expected a preflight error, got {other:?}"),
    }
}

async fn documents_watch_errors_in_window(faults: &[Fault]) -> f64 {
    let env = crd_less().await.expect("sandbox");
    let ns = env.namespace().await;
    let mut all = vec![Fault::SkipPreflight];
    all.extend_from_slice(faults);
    let c = Controller::start(&env, &ns.name, with(&all)).await;
    tokio::time::sleep(WINDOW).await;
    c.metric(
        "doc_controller_watch_errors_total",
        &["resource=\"documents\""],
    )
    .await
}

#[tokio::test]
async fn no_backoff_on_retries_a_failing_watch_in_a_hot_loop() {
    if crd_less().await.is_none() {
        return;
    }
    let errors = documents_watch_errors_in_window(&[Fault::NoBackoff]).await;
    assert!(errors >= 50.0, "{errors} errors in {WINDOW:?}");
}

#[tokio::test]
async fn no_backoff_off_retries_calmly() {
    if crd_less().await.is_none() {
        return;
    }
    let errors = documents_watch_errors_in_window(&[]).await;
    assert!(
        (1.0..10.0).contains(&errors),
        "{errors} errors in {WINDOW:?}"
    );
}

/// Runs the controller binary for `WINDOW` against a CRD-less sandbox; returns its exit code (None
/// when it was still running and got killed) and its log output.
async fn run_binary(env: &Env, faults: &str) -> (Option<i32>, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_doc-controller"))
        .args(["--admin-addr", "127.0.0.1:0", "--fault", faults])
        .env("KUBECONFIG", env.kubeconfig())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("controller binary starts");
    let code = match tokio::time::timeout(WINDOW * 2, child.wait()).await {
        Ok(status) => status.expect("wait").code(),
        Err(_) => {
            child.kill().await.expect("kill");
            None
        }
    };
    let output = child.wait_with_output().await.expect("output");
    let logs = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (code, logs)
}

#[tokio::test]
async fn silent_watch_errors_on_leaves_no_trace_in_the_logs() {
    let Some(env) = crd_less().await else { return };
    let (code, logs) = run_binary(&env, "skip-preflight,silent-watch-errors").await;
    assert_eq!(code, None, "kept running");
    assert!(!logs.contains("watch error"), "{logs}");
}

#[tokio::test]
async fn silent_watch_errors_off_logs_each_watch_error() {
    let Some(env) = crd_less().await else { return };
    let (code, logs) = run_binary(&env, "skip-preflight").await;
    assert_eq!(code, None, "kept running");
    assert!(
        logs.contains("watch error, retrying with backoff"),
        "{logs}"
    );
    assert!(logs.contains("404"), "{logs}");
}

#[tokio::test]
async fn crash_on_error_on_exits_1_on_the_first_watch_error() {
    let Some(env) = crd_less().await else { return };
    let (code, logs) = run_binary(&env, "skip-preflight,crash-on-error").await;
    assert_eq!(code, Some(1), "{logs}");
    assert!(logs.contains("crash-on-error"), "{logs}");
}

#[tokio::test]
async fn crash_on_error_off_keeps_running_through_watch_errors() {
    let Some(env) = crd_less().await else { return };
    let (code, _logs) = run_binary(&env, "skip-preflight").await;
    assert_eq!(code, None);
}

// === watch-per-object ===

#[tokio::test]
async fn watch_per_object_on_opens_a_watch_per_document() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(&[Fault::WatchPerObject])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 5).await;
    eventually("a watch per Document", || async {
        (requests(&c, "watch", "configmaps").await >= 7.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn watch_per_object_off_shares_one_watch() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 5).await;
    // The shared watch of owned ConfigMaps, and the one of the live toggles' ConfigMap.
    assert_eq!(requests(&c, "watch", "configmaps").await, 2.0);
}

// === rival-writer ===

/// Another controller: it keeps an annotation on `document-doc-0`, adding it back whenever it is
/// gone. Returns how many times it had to write during the window.
async fn rival_writes(env: &Env, ns: &str) -> usize {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.client.clone(), ns);
    let deadline = tokio::time::Instant::now() + WINDOW;
    let mut writes = 0;
    while tokio::time::Instant::now() < deadline {
        let cm = cms
            .get("document-doc-0")
            .await
            .expect("published ConfigMap");
        let reviewed = cm
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("rival.example.com/reviewed"));
        if !reviewed {
            cms.patch(
                "document-doc-0",
                &kube::api::PatchParams {
                    field_manager: Some("rival".into()),
                    ..Default::default()
                },
                &kube::api::Patch::Merge(json!({
                    "metadata": { "annotations": { "rival.example.com/reviewed": "yes" } }
                })),
            )
            .await
            .expect("rival writes");
            writes += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writes
}

#[tokio::test]
async fn rival_writer_on_fights_the_other_writer_forever() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, with(&[Fault::RivalWriter])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    let writes = rival_writes(&env, &ns.name).await;
    assert!(
        writes >= 5,
        "the annotation keeps being removed: {writes} rival writes"
    );
}

#[tokio::test]
async fn rival_writer_off_leaves_the_other_writers_fields_alone() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _c = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    assert_eq!(rival_writes(&env, &ns.name).await, 1);
}

// === live toggles ===

async fn set_live_toggles(env: &Env, ns: &str, faults: Option<&str>) {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(env.client.clone(), ns);
    match faults {
        Some(list) => {
            let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "doc-controller-config" },
                "data": { "faults": list }
            }))
            .expect("configmap");
            cms.patch(
                "doc-controller-config",
                &kube::api::PatchParams::apply("e2e").force(),
                &kube::api::Patch::Apply(&cm),
            )
            .await
            .expect("toggles set");
        }
        None => {
            cms.delete("doc-controller-config", &DeleteParams::default())
                .await
                .expect("toggles removed");
        }
    }
}

#[tokio::test]
async fn live_toggles_switch_on_and_off_without_a_restart() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;

    set_live_toggles(&env, &ns.name, Some("no-predicate, status-timestamp")).await;
    eventually("the toggles in force", || async {
        (c.metric("doc_controller_fault_active", &["fault=\"no-predicate\""])
            .await
            == 1.0)
            .then_some(())
    })
    .await;
    // Any change now starts the endless loop.
    set_spec(&docs, "doc-0", json!({ "title": "Kick" })).await;
    tokio::time::sleep(WINDOW / 2).await;
    let before = status_patches(&c).await;
    tokio::time::sleep(WINDOW / 2).await;
    assert!(status_patches(&c).await - before >= 3.0, "looping");

    // Removing the ConfigMap returns to the start configuration: the loop ends.
    set_live_toggles(&env, &ns.name, None).await;
    eventually("the loop ended", || async {
        let a = status_patches(&c).await;
        tokio::time::sleep(WINDOW / 4).await;
        (status_patches(&c).await == a).then_some(())
    })
    .await;
    assert_eq!(c.metric("doc_controller_fault_active", &[]).await, 0.0);
}

#[tokio::test]
async fn a_restart_only_toggle_set_live_is_reported_not_applied() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    set_live_toggles(&env, &ns.name, Some("broad-watch-scope")).await;
    eventually("the restart-only toggle reported", || async {
        (c.metric(
            "doc_controller_fault_restart_pending",
            &["fault=\"broad-watch-scope\""],
        )
        .await
            == 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(
        c.metric(
            "doc_controller_fault_active",
            &["fault=\"broad-watch-scope\""]
        )
        .await,
        0.0
    );
}

// === keep-managed-fields ===

async fn cached_bytes_per_document(faults: &[Fault]) -> f64 {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(faults)).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 5).await;
    // The cache holds the Documents as last written (status, finalizer, managedFields).
    tokio::time::sleep(WINDOW / 4).await;
    c.metric(
        "doc_controller_cached_object_bytes",
        &["store=\"documents\""],
    )
    .await
        / 5.0
}

#[tokio::test]
async fn keep_managed_fields_on_caches_larger_objects() {
    let kept = cached_bytes_per_document(&[Fault::KeepManagedFields]).await;
    let stripped = cached_bytes_per_document(&[]).await;
    assert!(
        kept > stripped * 1.3,
        "{kept:.0} bytes per cached Document with managedFields, {stripped:.0} without"
    );
}

#[tokio::test]
async fn keep_managed_fields_off_caches_no_managed_fields() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;
    let served = serde_json::to_vec(&docs.get("doc-0").await.expect("get"))
        .expect("serializes")
        .len() as f64;
    let cached = c
        .metric(
            "doc_controller_cached_object_bytes",
            &["store=\"documents\""],
        )
        .await;
    assert!(
        cached < served,
        "cached {cached} bytes, the API serves {served}"
    );
}

// === Toggles whose symptom needs the API server's help: on the sandbox its fault API provides
// === it; on a real cluster these skip with the reason printed.

/// The sandbox of `env`, or `None` (with the reason printed) on a real cluster.
fn server_faults<'a>(env: &'a Env, needs: &str) -> Option<&'a sandbox::Sandbox> {
    let sb = env.sandbox();
    if sb.is_none() {
        eprintln!("skipped on a real cluster: needs {needs} from the sandbox's fault API");
    }
    sb
}

use support::CONTROLLER_SERVICE_ACCOUNT as CONTROLLER_SA;

async fn throttled_requests(concurrency: Option<u16>) -> Option<f64> {
    let env = Env::new().await;
    let sb = server_faults(&env, "a concurrency share (API Priority and Fairness)")?;
    let ns = env.namespace().await;
    support::apply_shipped_rbac(&env, true, &ns.name).await;
    let kube_config = support::as_service_account(&env);
    // A busy API server: every request of the controller takes a while, and the controller's
    // share allows 8 at a time.
    sb.faults()
        .set(sandbox::Fault::max_in_flight(8).for_user(CONTROLLER_SA));
    sb.faults()
        .set(sandbox::Fault::latency(Duration::from_millis(50)).for_user(CONTROLLER_SA));
    let faults: &[Fault] = if concurrency.is_none() {
        &[Fault::UnboundedConcurrency]
    } else {
        &[]
    };
    let config = Config {
        concurrency: concurrency.unwrap_or(16),
        ..with(faults)
    };
    // The Documents exist before the controller starts, so its initial list hands it all 40 at
    // once, as after a restart.
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    for i in 0..40 {
        create(&docs, &doc(&format!("doc-{i}"), "Doc", "words")).await;
    }
    let c = Controller::start_as(kube_config, &ns.name, config).await;
    for i in 0..40 {
        wait_for(&docs, &format!("doc-{i}"), ready_as("Published")).await;
    }
    let server = support::sum_metric(
        &sb.metrics_text(),
        "sandbox_apiserver_throttled_requests_total",
        &[],
    );
    // kube's client retries each 429 after its Retry-After; every attempt is counted.
    let seen = c
        .metric("doc_controller_api_requests_total", &["code=\"429\""])
        .await;
    assert_eq!(
        seen, server,
        "the controller counts every 429 the server sent"
    );
    Some(server)
}

#[tokio::test]
async fn unbounded_concurrency_on_gets_throttled_with_429s() {
    if let Some(throttled) = throttled_requests(None).await {
        assert!(throttled >= 1.0, "{throttled} requests throttled");
    }
}

#[tokio::test]
async fn unbounded_concurrency_off_stays_within_the_share() {
    if let Some(throttled) = throttled_requests(Some(2)).await {
        assert_eq!(throttled, 0.0);
    }
}

/// Compacts the history, lets bookmarks (if any) carry the watchers past it, then breaks every
/// watch: returns how many 410s the resumed watches got.
async fn gone_after_compaction(faults: &[Fault]) -> Option<f64> {
    let env = Env::with_sandbox(|b| b.bookmark_interval(Duration::from_millis(100))).await;
    let sb = server_faults(&env, "history compaction and closing watches")?;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with(faults)).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 1).await;
    sb.compact_history();
    // Any write moves the revision past the compaction point; bookmarks carry it to watchers.
    unrelated_config_maps(&env, &ns.name, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sb.faults().close_watches();
    tokio::time::sleep(WINDOW).await;
    Some(
        c.metric("doc_controller_watch_errors_total", &["reason=\"410\""])
            .await,
    )
}

#[tokio::test]
async fn no_bookmarks_on_gets_410_gone_after_compaction() {
    if let Some(gone) = gone_after_compaction(&[Fault::NoBookmarks]).await {
        assert!(gone >= 1.0, "{gone} watch errors with 410");
    }
}

#[tokio::test]
async fn no_bookmarks_off_resumes_after_compaction() {
    if let Some(gone) = gone_after_compaction(&[]).await {
        assert_eq!(gone, 0.0);
    }
}

/// Restarts the controller over 5 published Documents while the ConfigMap watch is slow:
/// returns how many ConfigMap writes the new controller made.
async fn rewrites_at_start(faults: &[Fault]) -> Option<f64> {
    let env = Env::new().await;
    let sb = server_faults(&env, "latency on the ConfigMap watch")?;
    let ns = env.namespace().await;
    let first = Controller::start(&env, &ns.name, Config::default()).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 5).await;
    first.stop().await.expect("stops");
    sb.faults().set(
        sandbox::Fault::latency(Duration::from_secs(1))
            .for_verbs(["watch", "list"])
            .for_resources(["configmaps"]),
    );
    let second = Controller::start(&env, &ns.name, with(faults)).await;
    tokio::time::sleep(WINDOW).await;
    Some(
        requests(&second, "apply", "configmaps").await
            + requests(&second, "patch", "configmaps").await,
    )
}

#[tokio::test]
async fn store_not_ready_on_rewrites_published_config_maps_at_start() {
    if let Some(writes) = rewrites_at_start(&[Fault::StoreNotReady]).await {
        assert!(writes >= 5.0, "{writes} ConfigMap writes");
    }
}

#[tokio::test]
async fn store_not_ready_off_writes_nothing_at_start() {
    if let Some(writes) = rewrites_at_start(&[]).await {
        assert_eq!(writes, 0.0);
    }
}

// === static-credentials: the controller runs as its ServiceAccount from a token file, which is
// === rotated; then the old token is revoked. Sandbox only: a real cluster cannot revoke one
// === token early, and its tokens live at least 10 minutes.

/// How long after a token file is rewritten kube's client has surely read it: kube-client 5 keeps
/// a file's token at most 60 s and re-reads the file on the first request 50 s or more after the
/// last read (see src/credentials.rs). This wait makes each of these tests take about a minute.
const TOKEN_FILE_REREAD: Duration = Duration::from_secs(60);

/// What a controller did once its token file was rotated and the old token revoked.
struct AfterRotation {
    /// Requests answered 401 Unauthorized.
    unauthorized: f64,
    /// Watch errors with 401.
    unauthorized_watches: f64,
    /// Whether a Document created after the revocation got Ready.
    created_ready: bool,
    /// Whether a Document edited after the revocation got Ready for its new generation.
    edited_ready: bool,
}

async fn is_ready(docs: &Api<Document>, name: &str) -> bool {
    let current = docs.get_opt(name).await.ok().flatten();
    ready_as("Published")(current.as_ref())
}

async fn after_token_rotation(faults: &[Fault]) -> Option<AfterRotation> {
    let env = Env::new().await;
    let sb = server_faults(&env, "revoking one ServiceAccount token")?;
    let ns = env.namespace().await;
    support::apply_shipped_rbac(&env, true, &ns.name).await;
    let mut token_file = support::ServiceAccountTokenFile::new(&env).await;
    let c = Controller::start_as(token_file.kube_config(&env), &ns.name, with(faults)).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;

    // The kubelet rotates the token; later the old one stops working (in a cluster: it expires)
    // and the watches reconnect (in a cluster: at their timeout, within about 5 minutes).
    let old = token_file.rotate(&env).await;
    tokio::time::sleep(TOKEN_FILE_REREAD).await;
    assert!(
        sb.revoke_service_account_token(&old),
        "a token the sandbox issued"
    );
    sb.faults().close_watches();
    create(&docs, &doc("after-rotation", "After rotation", "new words")).await;
    set_spec(&docs, "doc-0", json!({ "title": "Edited after rotation" })).await;

    let unauthorized = || c.metric("doc_controller_api_requests_total", &["code=\"401\""]);
    eventually("both Documents Ready, or a 401", || async {
        let ready = is_ready(&docs, "after-rotation").await && is_ready(&docs, "doc-0").await;
        (ready || unauthorized().await > 0.0).then_some(())
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    Some(AfterRotation {
        unauthorized: unauthorized().await,
        unauthorized_watches: c
            .metric("doc_controller_watch_errors_total", &["reason=\"401\""])
            .await,
        created_ready: is_ready(&docs, "after-rotation").await,
        edited_ready: is_ready(&docs, "doc-0").await,
    })
}

#[tokio::test]
async fn static_credentials_on_gets_401s_once_the_copied_token_is_revoked() {
    if let Some(after) = after_token_rotation(&[Fault::StaticCredentials]).await {
        assert!(after.unauthorized >= 1.0, "{} 401s", after.unauthorized);
        assert!(
            after.unauthorized_watches >= 1.0,
            "{} watch errors with 401",
            after.unauthorized_watches
        );
        assert!(!after.created_ready, "the new Document got Ready");
        assert!(!after.edited_ready, "the edited Document got Ready");
    }
}

#[tokio::test]
async fn static_credentials_off_uses_the_rotated_token() {
    if let Some(after) = after_token_rotation(&[]).await {
        assert_eq!(after.unauthorized, 0.0);
        assert_eq!(after.unauthorized_watches, 0.0);
        assert!(after.created_ready, "the new Document is not Ready");
        assert!(after.edited_ready, "the edited Document is not Ready");
    }
}

// === api-unreachable: requests that never get an answer. The toggle is client-side, so these
// === run on a real cluster too; the hung-server test needs the sandbox.

/// The deadline for an answer in these tests (the default is 30 s).
const API_TIMEOUT: Duration = Duration::from_secs(1);

fn with_api_timeout(faults: &[Fault]) -> Config {
    Config {
        api_timeout: API_TIMEOUT,
        ..with(faults)
    }
}

async fn api_timeouts(c: &Controller) -> f64 {
    c.metric("doc_controller_api_requests_total", &["code=\"timeout\""])
        .await
}

/// Waits until `/readyz` says the API server is unreachable; returns its body.
async fn unreachable_reason(c: &Controller) -> String {
    eventually("/readyz to report the API server unreachable", || async {
        let (code, body) = c.readyz_with_reasons().await;
        (code == 503 && body.contains("API server unreachable")).then_some(body)
    })
    .await
}

#[tokio::test]
async fn api_unreachable_on_fails_readiness_with_counted_timeouts_and_no_hot_loop() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with_api_timeout(&[Fault::ApiUnreachable])).await;

    let reason = unreachable_reason(&c).await;
    assert!(
        reason.contains("the API server did not answer within 1s (GET /apis/kube.rs/v1/"),
        "{reason}"
    );
    assert_eq!(
        c.healthz().await,
        200,
        "liveness does not depend on the API"
    );

    // The preflight LIST is retried with the watches' backoff (0.8 s, 1.6 s, 3.2 s, … plus
    // jitter) after each 1 s timeout: at most 3 attempts end within 7 s; retried at once, 7 would.
    tokio::time::sleep(WINDOW * 3).await;
    let timeouts = api_timeouts(&c).await;
    assert!(
        (2.0..=4.0).contains(&timeouts),
        "{timeouts} timed-out requests"
    );
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[]).await,
        timeouts,
        "no request got an answer"
    );
    assert_eq!(c.readyz().await, 503, "still not ready");
}

#[tokio::test]
async fn api_unreachable_off_is_ready_within_the_deadline() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns.name, with_api_timeout(&[])).await;
    converge(&Api::namespaced(env.client.clone(), &ns.name), 2).await;
    eventually("/readyz 200", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;
    assert_eq!(api_timeouts(&c).await, 0.0);
}

/// Sends each line of `output` to `lines`.
fn forward_lines(
    output: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
) {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(output).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
}

#[tokio::test]
async fn api_unreachable_on_logs_each_timeout_and_keeps_running() {
    const RETRY: &str = "CRD preflight got no answer from the API server, retrying with backoff";
    let env = Env::new().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_doc-controller"))
        .args(["--admin-addr", "127.0.0.1:0", "--fault", "api-unreachable"])
        .args(["--api-timeout", "1s"])
        .env("KUBECONFIG", env.kubeconfig())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("controller binary starts");
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    forward_lines(child.stdout.take().expect("stdout"), tx.clone());
    forward_lines(child.stderr.take().expect("stderr"), tx);

    // The first retry, however long the process takes to start.
    let first = tokio::time::timeout(support::TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            if line.contains(RETRY) {
                return Some(line);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("a log line for the unanswered preflight");
    assert!(first.contains("WARN"), "{first}");
    assert!(
        first.contains("the API server did not answer within 1s (GET /apis/kube.rs/v1/documents)"),
        "{first}"
    );

    // No hot loop: after a 1 s deadline the next attempts wait 0.8-1.6 s, then 1.6-3.2 s, so at
    // most 2 more end within 4 s; retried at once, 4 would.
    tokio::time::sleep(WINDOW * 2).await;
    let mut more = 0;
    while let Ok(line) = lines.try_recv() {
        more += usize::from(line.contains(RETRY));
    }
    assert!(more <= 2, "{more} more retries in {:?}", WINDOW * 2);
    assert!(
        child.try_wait().expect("child status").is_none(),
        "kept running"
    );
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_hung_api_server_fails_readiness_until_it_answers_again() {
    let env = Env::new().await;
    let Some(sb) = server_faults(&env, "an API server that hangs") else {
        return;
    };
    let ns = env.namespace().await;
    // The controller runs as its ServiceAccount, so the hang spares the test's own client.
    support::apply_shipped_rbac(&env, true, &ns.name).await;
    let kube_config = support::as_service_account(&env);
    let c = Controller::start_as(kube_config, &ns.name, with_api_timeout(&[])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    converge(&docs, 1).await;
    eventually("/readyz 200", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;

    // Every request of the controller is accepted and never answered; the open watches end, as
    // when a network path breaks, and their restarts hang.
    let hang = sb
        .faults()
        .set(sandbox::Fault::hang().for_user(CONTROLLER_SA));
    sb.faults().close_watches();
    let reason = unreachable_reason(&c).await;
    assert!(reason.contains("did not answer within 1s"), "{reason}");
    assert_eq!(
        c.healthz().await,
        200,
        "liveness does not depend on the API"
    );
    let before = api_timeouts(&c).await;
    assert!(before >= 1.0, "{before} timeouts counted");
    assert!(
        c.metric("doc_controller_watch_errors_total", &["reason=\"timeout\""])
            .await
            >= 1.0,
        "the timed-out watches are watch errors"
    );
    // No hot loop: the 3 watches (Documents, owned ConfigMaps, the toggles' ConfigMap) back off
    // (0.8 s, 1.6 s, 3.2 s, … after each 1 s timeout): at most 3 attempts each in 4 s; retried
    // at once they would make 12.
    tokio::time::sleep(WINDOW * 2).await;
    let in_window = api_timeouts(&c).await - before;
    assert!(in_window <= 9.0, "{in_window} timeouts in {:?}", WINDOW * 2);

    // The API server answers again: the next answer makes the controller ready, and it works.
    assert!(sb.faults().remove(hang));
    eventually("/readyz 200 again", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;
    create(&docs, &doc("after-hang", "After the hang", "words")).await;
    wait_for(&docs, "after-hang", ready_as("Published")).await;
}
