//! The fault catalogue, toggle by toggle: each symptom shown with the toggle on, and gone with it
//! off, through what a user can observe (API objects, `/metrics`, logs, exit codes).
//!
//! Every controller here runs as deployed ([`support::Controller::start`]): as its
//! ServiceAccount, with the shipped RBAC and the `yaml/faults/` manifest its toggle needs, so the
//! symptom is the one a person sees on a cluster. What the API server has to do (throttle, revoke
//! a token, stop answering) comes from the mechanism a real server has: API Priority and Fairness
//! objects, tokens bound to a Secret, a TCP proxy in front of it. The few symptoms a real server
//! cannot produce on demand (a compacted watch history, a missing CRD, one slow watch) run on the
//! sandbox only and are ignored on a real cluster with the reason.
//!
//! Waiting: positive results are waited for (`eventually`), never read after a fixed sleep. A
//! test that shows that something does *not* happen first proves its positive control (the
//! controller is ready and has seen the change), then watches a window; the assertion is on
//! counts and object state, never on a rate that depends on the machine's load.

mod support;

use doc_controller::config::Config;
use doc_controller::diagnosis::Finding;
use doc_controller::fault::{Fault, Faults};
use doc_controller::{AppError, Document};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;
use support::proxy::Proxy;
use support::{
    Controller, Env, TestNamespace, converge, create, doc, eventually, ready_as, set_spec, wait_for,
};

/// How long a negative test watches for something that must not happen, once its positive
/// control has shown that the controller is ready and has seen the change.
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

async fn reconciles(c: &Controller) -> f64 {
    c.metric("doc_controller_reconcile_total", &[("result", "success")])
        .await
}

async fn requests(c: &Controller, verb: &str, resource: &str) -> f64 {
    c.metric(
        "doc_controller_api_requests_total",
        &[("verb", verb), ("resource", resource)],
    )
    .await
}

/// Waits until the controller is idle: nothing in flight, and the reconcile count unchanged
/// over a quarter of a second.
async fn settled(c: &Controller) {
    eventually("the controller to settle", || async {
        let before = c.metric("doc_controller_reconcile_total", &[]).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let idle = c.metric("doc_controller_reconciles_in_flight", &[]).await == 0.0;
        (idle && c.metric("doc_controller_reconcile_total", &[]).await == before).then_some(())
    })
    .await;
}

fn documents(env: &Env, ns: &TestNamespace) -> Api<Document> {
    Api::namespaced(env.client.clone(), ns.name())
}

fn config_maps(env: &Env, ns: &TestNamespace) -> Api<ConfigMap> {
    Api::namespaced(env.client.clone(), ns.name())
}

// === 1 status-timestamp, 2 no-predicate ===

/// The recipe of docs/faults.md for `status-timestamp` alone: a short `--resync-period`, so the
/// unchanged Documents are reconciled again. Converges 3 Documents, lets every one be reconciled
/// again at least twice; returns (status writes, successful reconciles).
async fn status_writes_over_resyncs(faults: &[Fault], expected: &[Finding]) -> (f64, f64) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let config = Config {
        resync_period: Duration::from_secs(2),
        ..with(faults)
    };
    let c = Controller::start(&env, &ns, config).await;
    converge(&documents(&env, &ns), 3).await;
    let converged = reconciles(&c).await;
    eventually("two resyncs of every Document", || async {
        (reconciles(&c).await >= converged + 6.0).then_some(())
    })
    .await;
    // Reconciles first: a reconcile's status write is counted before its success, so in this
    // order a reconcile finishing between the two reads cannot look like one that wrote nothing.
    let reconciled = reconciles(&c).await;
    let written = status_patches(&c).await;
    c.expect_findings(expected).await;
    (written, reconciled)
}

#[tokio::test]
async fn status_timestamp_on_writes_status_on_every_reconcile() {
    let (writes, reconciles) =
        status_writes_over_resyncs(&[Fault::StatusTimestamp], &[Finding::StatusChurn]).await;
    // Finalizer-adding reconciles (one per Document) write no status; every other one writes.
    assert!(
        writes >= reconciles - 3.0,
        "{writes} status writes in {reconciles} reconciles"
    );
}

#[tokio::test]
async fn status_timestamp_off_writes_status_once_per_change() {
    let (writes, reconciles) = status_writes_over_resyncs(&[], &[]).await;
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
        &ns,
        with(&[Fault::NoPredicate, Fault::StatusTimestamp]),
    )
    .await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    let rv = |d: Document| d.metadata.resource_version.unwrap_or_default();
    let first = rv(docs.get("doc-0").await.expect("get"));
    let before = status_patches(&c).await;
    // Nothing touches the Document any more: the controller's own writes keep it going.
    eventually("status writes to keep coming", || async {
        (status_patches(&c).await >= before + 5.0).then_some(())
    })
    .await;
    assert_ne!(
        rv(docs.get("doc-0").await.expect("get")),
        first,
        "resourceVersion climbs"
    );
    c.expect_findings(&[Finding::SelfTriggeringLoop]).await;
}

/// Labels each of 3 converged Documents (a change that leaves the spec alone, as a status write
/// does) and waits until the watch delivered all three; returns the reconciles that followed.
async fn reconciles_after_touching(c: &Controller, docs: &Api<Document>) -> f64 {
    converge(docs, 3).await;
    settled(c).await;
    let (events, before) = (
        c.documents_seen().await,
        c.metric("doc_controller_reconcile_total", &[]).await,
    );
    for i in 0..3 {
        docs.patch(
            &format!("doc-{i}"),
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "touched": "yes" } } })),
        )
        .await
        .expect("labelled");
    }
    eventually("the controller to see the three changes", || async {
        (c.documents_seen().await >= events + 3.0).then_some(())
    })
    .await;
    c.metric("doc_controller_reconcile_total", &[]).await - before
}

#[tokio::test]
async fn no_predicate_on_reconciles_changes_that_leave_the_spec_alone() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::NoPredicate])).await;
    let docs = documents(&env, &ns);
    let at_once = reconciles_after_touching(&c, &docs).await;
    let before = c.metric("doc_controller_reconcile_total", &[]).await - at_once;
    eventually("a reconcile per touched Document", || async {
        (c.metric("doc_controller_reconcile_total", &[]).await >= before + 3.0).then_some(())
    })
    .await;
    c.expect_findings(&[Finding::SpuriousReconciles]).await;
}

#[tokio::test]
async fn no_predicate_off_ignores_changes_that_leave_the_spec_alone() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    let at_once = reconciles_after_touching(&c, &docs).await;
    let before = c.metric("doc_controller_reconcile_total", &[]).await - at_once;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        c.metric("doc_controller_reconcile_total", &[]).await,
        before,
        "label changes were reconciled"
    );
    c.expect_no_findings().await;
}

// === Live toggles: switched from the doc-controller-config ConfigMap (`--live-faults`) ===

fn live(faults: &[Fault]) -> Config {
    Config {
        live_faults: true,
        ..with(faults)
    }
}

async fn set_live_toggles(env: &Env, ns: &TestNamespace, faults: Option<&str>) {
    let cms = config_maps(env, ns);
    match faults {
        Some(list) => {
            let cm: ConfigMap = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "doc-controller-config" },
                "data": { "faults": list }
            }))
            .expect("configmap");
            cms.patch(
                "doc-controller-config",
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&cm),
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

async fn fault_active(c: &Controller, fault: Fault) -> f64 {
    c.metric("doc_controller_fault_active", &[("fault", fault.name())])
        .await
}

#[tokio::test]
async fn live_toggles_show_their_symptom_at_once_and_end_it_when_switched_off() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, live(&[])).await;
    let docs = documents(&env, &ns);
    converge(&docs, 2).await;
    settled(&c).await;
    let quiet = status_patches(&c).await;

    // No Document changes: switching the toggles on is enough to start the endless loop.
    set_live_toggles(&env, &ns, Some("no-predicate, status-timestamp")).await;
    eventually(
        "status writes climbing with nothing else changing",
        || async { (status_patches(&c).await >= quiet + 10.0).then_some(()) },
    )
    .await;
    c.expect_findings(&[Finding::SelfTriggeringLoop]).await;

    // Removing the ConfigMap returns to the start configuration: the loop ends.
    set_live_toggles(&env, &ns, None).await;
    eventually("the toggles off", || async {
        (fault_active(&c, Fault::NoPredicate).await == 0.0).then_some(())
    })
    .await;
    settled(&c).await;
    let ended = status_patches(&c).await;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(status_patches(&c).await, ended, "the loop goes on");
    assert_eq!(c.metric("doc_controller_fault_active", &[]).await, 0.0);
    c.wait_cleared(Finding::SelfTriggeringLoop).await;
}

#[tokio::test]
async fn live_toggles_are_ignored_without_live_faults() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    set_live_toggles(&env, &ns, Some("no-predicate,status-timestamp")).await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    settled(&c).await;
    assert_eq!(c.metric("doc_controller_fault_active", &[]).await, 0.0);
    assert_eq!(status_patches(&c).await, 1.0);
    assert_eq!(
        requests(&c, "watch", "configmaps").await,
        1.0,
        "only the owned ConfigMaps are watched"
    );
    c.expect_no_findings().await;
}

#[tokio::test]
async fn a_restart_only_toggle_set_live_is_reported_not_applied() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, live(&[])).await;
    set_live_toggles(&env, &ns, Some("broad-watch-scope")).await;
    eventually("the restart-only toggle reported", || async {
        (c.metric(
            "doc_controller_fault_restart_pending",
            &[("fault", "broad-watch-scope")],
        )
        .await
            == 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(fault_active(&c, Fault::BroadWatchScope).await, 0.0);
    c.expect_no_findings().await;
}

// === 3 rival-writer ===

const RIVAL_ANNOTATION: &str = "rival.example.com/reviewed";

/// Another controller's move: put its annotation on `document-doc-0` unless it is there.
/// Returns whether it had to write.
async fn rival_move(cms: &Api<ConfigMap>) -> bool {
    let cm = cms
        .get("document-doc-0")
        .await
        .expect("published ConfigMap");
    let reviewed = cm
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(RIVAL_ANNOTATION));
    if !reviewed {
        cms.patch(
            "document-doc-0",
            &PatchParams {
                field_manager: Some("rival".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({ "metadata": { "annotations": { RIVAL_ANNOTATION: "yes" } } })),
        )
        .await
        .expect("rival writes");
    }
    !reviewed
}

#[tokio::test]
async fn rival_writer_on_fights_the_other_writer_forever() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::RivalWriter])).await;
    converge(&documents(&env, &ns), 1).await;
    let cms = config_maps(&env, &ns);
    let writes = std::cell::Cell::new(0);
    // The other writer keeps at it until the fight is diagnosed.
    eventually(
        "the annotation removed again and again, diagnosed",
        || async {
            writes.set(writes.get() + usize::from(rival_move(&cms).await));
            let diagnosed = support::diagnostics(c.admin_addr())
                .await
                .active()
                .any(|f| f.finding == Finding::FieldPingPong.name());
            (writes.get() >= 5 && diagnosed).then_some(())
        },
    )
    .await;
    assert!(requests(&c, "update", "configmaps").await >= 4.0);
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[("code", "403")])
            .await,
        0.0,
        "yaml/faults/rival-writer.yaml grants what the wrong way uses"
    );
    c.expect_findings(&[Finding::FieldPingPong]).await;
}

#[tokio::test]
async fn rival_writer_off_leaves_the_other_writers_fields_alone() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 1).await;
    let cms = config_maps(&env, &ns);
    let seen = c
        .metric(
            "doc_controller_watch_events_total",
            &[("resource", "configmaps"), ("event", "apply")],
        )
        .await;
    assert!(rival_move(&cms).await, "the first move writes");
    eventually("the controller to see the rival's write", || async {
        (c.metric(
            "doc_controller_watch_events_total",
            &[("resource", "configmaps"), ("event", "apply")],
        )
        .await
            > seen)
            .then_some(())
    })
    .await;
    settled(&c).await;
    tokio::time::sleep(WINDOW).await;
    assert!(
        !rival_move(&cms).await,
        "the rival's annotation was removed"
    );
    c.expect_no_findings().await;
}

// === 4 unpaged-initial-list: the request shape, from the binary's own debug log ===

/// More Documents than kube's default page (500), so that a paged list needs two requests.
const MORE_THAN_A_PAGE: usize = 600;

/// The LIST requests of Documents (not watches) that the controller binary logged.
fn document_lists(logs: &str) -> Vec<String> {
    logs.lines()
        .filter(|l| l.contains("requesting") && l.contains("http.method=GET"))
        .filter(|l| l.contains("/documents?") && !l.contains("watch=true"))
        .map(str::to_string)
        .collect()
}

/// Starts the controller binary as deployed, with the HTTP debug log on, over more Documents than
/// a page; once it is ready, returns its Document LIST requests as logged, the whole log, and
/// how many Document LISTs its metrics counted.
async fn initial_lists(faults: &[Fault], expected: &[Finding]) -> (Vec<String>, String, f64) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs = documents(&env, &ns);
    for i in 0..MORE_THAN_A_PAGE {
        create(&docs, &doc(&format!("doc-{i}"), "Doc", "")).await;
    }
    let binary = support::Binary::start_with_faults(
        &env,
        &ns,
        faults,
        &[("RUST_LOG", "info,kube_client=debug")],
    )
    .await;
    binary.wait_ready().await;
    let counted = support::sum_metric(
        &binary.metrics().await,
        "doc_controller_api_requests_total",
        &[("verb", "list"), ("resource", "documents")],
    );
    // Each request is logged before it is sent, so the log has them all by now (or very soon:
    // the lines travel through a pipe).
    let lists = eventually("the counted LISTs in the log", || async {
        let lists = document_lists(&binary.logs());
        (lists.len() as f64 >= counted).then_some(lists)
    })
    .await;
    binary.expect_findings(expected).await;
    let logs = binary.stop().await.1;
    (lists, logs, counted)
}

#[tokio::test]
async fn unpaged_initial_list_on_lists_everything_in_one_request() {
    let (lists, _, counted) =
        initial_lists(&[Fault::UnpagedInitialList], &[Finding::ListNotPaged]).await;
    // The preflight's `limit=1`, then all 600 in one LIST: no `limit`, so no `continue` either.
    // (A watch that fails later lists again, the same way; each list is still one request.)
    let (preflight, initial) = lists.split_first().expect("the preflight's LIST");
    assert!(preflight.contains("limit=1"), "{lists:#?}");
    assert!(!initial.is_empty(), "no initial LIST: {lists:#?}");
    for list in initial {
        assert!(
            !list.contains("limit=") && !list.contains("continue="),
            "a paged LIST: {lists:#?}"
        );
    }
    assert_eq!(counted, lists.len() as f64, "{lists:#?}");
}

#[tokio::test]
async fn unpaged_initial_list_off_streams_the_initial_list() {
    let (lists, logs, counted) = initial_lists(&[], &[]).await;
    assert_eq!(lists.len(), 1, "only the preflight: {lists:#?}");
    assert!(lists[0].contains("limit=1"), "{lists:#?}");
    assert!(
        logs.lines()
            .any(|l| l.contains("/documents?") && l.contains("sendInitialEvents=true")),
        "a streaming list"
    );
    assert_eq!(counted, 1.0);
}

// === 5 keep-managed-fields ===

/// Bytes per cached Document once the cache holds the 5 converged Documents as last written.
async fn cached_bytes_per_document(faults: &[Fault], expected: &[Finding]) -> f64 {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(faults)).await;
    converge(&documents(&env, &ns), 5).await;
    settled(&c).await;
    let bytes = || {
        c.metric(
            "doc_controller_cached_object_bytes",
            &[("store", "documents")],
        )
    };
    // The status writes' echoes may still be on their way into the cache.
    let settled_bytes = eventually("the cached Documents to stop changing", || async {
        let before = bytes().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        (before > 0.0 && bytes().await == before).then_some(before)
    })
    .await;
    c.expect_findings(expected).await;
    settled_bytes / 5.0
}

#[tokio::test]
async fn keep_managed_fields_on_caches_larger_objects() {
    let kept =
        cached_bytes_per_document(&[Fault::KeepManagedFields], &[Finding::LargeCacheObjects]).await;
    let stripped = cached_bytes_per_document(&[], &[]).await;
    assert!(
        kept > stripped * 1.3,
        "{kept:.0} bytes per cached Document with managedFields, {stripped:.0} without"
    );
}

#[tokio::test]
async fn keep_managed_fields_off_caches_no_managed_fields() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    settled(&c).await;
    let served = serde_json::to_vec(&docs.get("doc-0").await.expect("get"))
        .expect("serializes")
        .len() as f64;
    let cached = c
        .metric(
            "doc_controller_cached_object_bytes",
            &[("store", "documents")],
        )
        .await;
    assert!(
        cached > 0.0 && cached < served,
        "cached {cached} bytes, the API serves {served}"
    );
    c.expect_no_findings().await;
}

// === 6 broad-watch-scope ===

async fn unrelated_config_maps(env: &Env, ns: &TestNamespace, n: usize) {
    let cms = config_maps(env, ns);
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
    unrelated_config_maps(&env, &ns, 20).await;
    let c = Controller::start(&env, &ns, with(&[Fault::BroadWatchScope])).await;
    converge(&documents(&env, &ns), 1).await;
    eventually("unrelated ConfigMaps in the cache", || async {
        (c.metric("doc_controller_cached_objects", &[("store", "configmaps")])
            .await
            >= 22.0)
            .then_some(())
    })
    .await;
    c.expect_findings(&[Finding::WatchScopeTooBroad]).await;
}

#[tokio::test]
async fn broad_watch_scope_off_caches_only_managed_config_maps() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    unrelated_config_maps(&env, &ns, 20).await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 1).await;
    // document-doc-0 and documents-index.
    eventually("2 cached ConfigMaps", || async {
        (c.metric("doc_controller_cached_objects", &[("store", "configmaps")])
            .await
            == 2.0)
            .then_some(())
    })
    .await;
    c.expect_no_findings().await;
}

// === 7 no-bookmarks: needs a compacted watch history on demand (sandbox only) ===

/// Compacts the history, waits until the bookmarks (if any) have carried the watches past it,
/// then breaks every watch; returns the controller, to count 410s on, and how many Document
/// watches it had started before the break.
async fn after_compaction(env: &Env, ns: &TestNamespace, faults: &[Fault]) -> (Controller, f64) {
    let sb = env.sandbox().expect("ignored on a real cluster");
    let c = Controller::start(env, ns, with(faults)).await;
    converge(&documents(env, ns), 1).await;
    sb.compact_history();
    // Any write moves the revision past the compaction point; bookmarks carry it to watchers.
    // Every open watch of each resource the controller watches must get one *after* that write:
    // its bookmarks come every interval, so two rounds per open watch (the first may predate
    // the write) leave none behind. Counting all bookmarks together let one watch's ticks stand
    // in for another's, and the Document watch then resumed from before the compaction (a 410).
    let sent = WATCHED.map(|resource| sandbox_bookmarks(sb, resource));
    unrelated_config_maps(env, ns, 1).await;
    if !faults.contains(&Fault::NoBookmarks) {
        eventually(
            "two rounds of bookmarks to every watch after the compaction",
            || async {
                WATCHED
                    .iter()
                    .zip(sent)
                    .all(|(resource, sent)| {
                        sandbox_bookmarks(sb, resource)
                            >= sent + 2.0 * sandbox_open_watches(sb, resource)
                    })
                    .then_some(())
            },
        )
        .await;
    }
    let watches = requests(&c, "watch", "documents").await;
    sb.faults().close_watches();
    (c, watches)
}

/// The resources the controller watches (the Lease is read, not watched).
const WATCHED: [&str; 2] = ["documents", "configmaps"];

/// Bookmarks the sandbox has sent to the watchers of `resource` so far.
fn sandbox_bookmarks(sb: &kube_apiserver_sandbox::Sandbox, resource: &str) -> f64 {
    support::sum_metric(
        &sb.metrics_text(),
        "sandbox_apiserver_watch_bookmarks_total",
        &[("resource", resource)],
    )
}

/// Watches of `resource` open on the sandbox now (the controller's and any test's).
fn sandbox_open_watches(sb: &kube_apiserver_sandbox::Sandbox, resource: &str) -> f64 {
    support::sum_metric(
        &sb.metrics_text(),
        "sandbox_apiserver_open_watches",
        &[("resource", resource)],
    )
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs the watch history compacted on demand; a real API server compacts on its own schedule (etcd, every 5 minutes)"
)]
async fn no_bookmarks_on_gets_410_gone_after_compaction() {
    let env = Env::with_sandbox(|b| b.bookmark_interval(Duration::from_millis(100))).await;
    let ns = env.namespace().await;
    let (c, _) = after_compaction(&env, &ns, &[Fault::NoBookmarks]).await;
    eventually("a 410 when the watches resume", || async {
        (c.metric("doc_controller_watch_errors_total", &[("reason", "410")])
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    c.expect_findings(&[Finding::WatchGoneWithoutBookmarks])
        .await;
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs the watch history compacted on demand; a real API server compacts on its own schedule (etcd, every 5 minutes)"
)]
async fn no_bookmarks_off_resumes_after_compaction() {
    let env = Env::with_sandbox(|b| b.bookmark_interval(Duration::from_millis(100))).await;
    let ns = env.namespace().await;
    let (c, watches) = after_compaction(&env, &ns, &[]).await;
    // Positive control: the Document watch resumed (a new watch request), then no 410 came.
    eventually("the Document watch to resume", || async {
        (requests(&c, "watch", "documents").await > watches).then_some(())
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        c.metric("doc_controller_watch_errors_total", &[("reason", "410")])
            .await,
        0.0
    );
    c.expect_no_findings().await;
}

// === 8 static-credentials: the token file is rotated, then the old token revoked by deleting the
// === Secret it is bound to (as a Pod's tokens die with the Pod). About a minute each: kube
// === re-reads a token file at most once a minute.

/// How long after a token file is rewritten kube's client has surely read it: kube-client 5 keeps
/// a file's token at most 60 s and re-reads the file on the first request 50 s or more after the
/// last read (see src/credentials.rs). Not a guess at a machine's speed, a bound of kube's code:
/// after it, every request reads the new token.
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

/// A Secret for a token to be bound to.
async fn token_holder(env: &Env, ns: &TestNamespace, name: &str) -> support::deployed::BoundTo {
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), ns.name());
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name }
    }))
    .expect("secret");
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    support::deployed::BoundTo {
        secret: name.to_string(),
        uid: created.metadata.uid.expect("uid"),
    }
}

/// Waits until the API server rejects `token` (401).
async fn rejected(env: &Env, ns: &TestNamespace, token: &str) {
    let mut config = env.kube_config();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.to_string().into()),
        ..kube::config::AuthInfo::default()
    };
    let client = kube::Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client, ns.name());
    eventually("the old token to be rejected", || async {
        match cms.list(&kube::api::ListParams::default().limit(1)).await {
            Err(kube::Error::Api(status)) if status.code == 401 => Some(()),
            _ => None,
        }
    })
    .await;
}

async fn after_token_rotation(faults: &[Fault], expected: &[Finding]) -> AfterRotation {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = support::deployed::install_for(&env, &ns, faults).await;
    let (first, second) = (
        token_holder(&env, &ns, "token-holder-1").await,
        token_holder(&env, &ns, "token-holder-2").await,
    );
    let mut token_file = support::deployed::TokenFile::bound(&env, &installed, &first).await;
    let proxy = Proxy::start(&env.kube_config()).await;
    let config = proxy.kube_config(&token_file.kube_config(&env));
    let c = Controller::start_as(config, ns.name(), with(faults)).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;

    // The kubelet rotates the token; later the old one stops working (here: the object it is
    // bound to goes away; in a cluster it also expires) and the connections break (in a
    // cluster: watches end at their timeout, within about 5 minutes).
    let old = token_file.rotate(&env, &installed, Some(&second)).await;
    tokio::time::sleep(TOKEN_FILE_REREAD).await;
    Api::<Secret>::namespaced(env.client.clone(), ns.name())
        .delete(&first.secret, &DeleteParams::default())
        .await
        .expect("the old token's Secret deleted");
    rejected(&env, &ns, &old).await;
    proxy.cut();
    create(&docs, &doc("after-rotation", "After rotation", "new words")).await;
    set_spec(&docs, "doc-0", json!({ "title": "Edited after rotation" })).await;

    let unauthorized = || c.metric("doc_controller_api_requests_total", &[("code", "401")]);
    let watch_401s = || c.metric("doc_controller_watch_errors_total", &[("reason", "401")]);
    eventually(
        "both Documents Ready, or 401s on requests and watches",
        || async {
            let ready = is_ready(&docs, "after-rotation").await && is_ready(&docs, "doc-0").await;
            (ready || (unauthorized().await > 0.0 && watch_401s().await > 0.0)).then_some(())
        },
    )
    .await;
    tokio::time::sleep(WINDOW).await;
    c.expect_findings(expected).await;
    AfterRotation {
        unauthorized: unauthorized().await,
        unauthorized_watches: watch_401s().await,
        created_ready: is_ready(&docs, "after-rotation").await,
        edited_ready: is_ready(&docs, "doc-0").await,
    }
}

#[tokio::test]
async fn static_credentials_on_gets_401s_once_the_copied_token_is_revoked() {
    let after =
        after_token_rotation(&[Fault::StaticCredentials], &[Finding::CredentialsRejected]).await;
    assert!(after.unauthorized >= 1.0, "{} 401s", after.unauthorized);
    assert!(
        after.unauthorized_watches >= 1.0,
        "{} watch errors with 401",
        after.unauthorized_watches
    );
    assert!(!after.created_ready, "the new Document got Ready");
    assert!(!after.edited_ready, "the edited Document got Ready");
}

#[tokio::test]
async fn static_credentials_off_uses_the_rotated_token() {
    let after = after_token_rotation(&[], &[]).await;
    assert_eq!(after.unauthorized, 0.0);
    assert_eq!(after.unauthorized_watches, 0.0);
    assert!(after.created_ready, "the new Document is not Ready");
    assert!(after.edited_ready, "the edited Document is not Ready");
}

// === 10 no-backoff, 24 crash-on-error: watches that keep failing. The controller's RBAC is
// === revoked (its ClusterRoleBinding deleted), so every request gets 403, on any API server;
// === `skip-preflight` lets it past the preflight, which would stop it. 23 silent-watch-errors:
// === watches that time out behind a hung proxy (kube-runtime warns on its own for 403s).

async fn documents_watch_errors(c: &Controller) -> f64 {
    c.metric(
        "doc_controller_watch_errors_total",
        &[("resource", "documents")],
    )
    .await
}

/// A controller whose RBAC is revoked, with `skip-preflight` and `faults` on (and the token
/// file it reads, to keep while it runs).
async fn revoked(
    env: &Env,
    ns: &TestNamespace,
    faults: &[Fault],
) -> (Controller, support::deployed::TokenFile) {
    let installed = support::deployed::install_revoked(env, ns).await;
    let token = support::deployed::TokenFile::new(env, &installed).await;
    let mut all = vec![Fault::SkipPreflight];
    all.extend_from_slice(faults);
    let c = Controller::start_as(token.kube_config(env), ns.name(), with(&all)).await;
    (c, token)
}

#[tokio::test]
async fn no_backoff_on_retries_a_failing_watch_in_a_hot_loop() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (c, _token) = revoked(&env, &ns, &[Fault::NoBackoff]).await;
    // With a backoff (0.8 s doubling to 30 s) 50 errors would take many minutes.
    eventually("50 watch errors", || async {
        (documents_watch_errors(&c).await >= 50.0).then_some(())
    })
    .await;
    // The revoked RBAC is the test's setup, with its own finding. (It cannot read the Lease
    // either, so it stays a standby and tries no write.)
    c.expect_findings(&[Finding::WatchRetryHotLoop, Finding::WatchForbidden])
        .await;
}

#[tokio::test]
async fn no_backoff_off_retries_calmly() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (c, _token) = revoked(&env, &ns, &[]).await;
    eventually("the first watch error", || async {
        (documents_watch_errors(&c).await >= 1.0).then_some(())
    })
    .await;
    let first = documents_watch_errors(&c).await;
    tokio::time::sleep(WINDOW * 2).await;
    // 0.8-1.6 s, then 1.6-3.2 s: at most 3 more retries in 4 s; a hot loop makes hundreds.
    let more = documents_watch_errors(&c).await - first;
    assert!(more <= 3.0, "{more} more watch errors in {:?}", WINDOW * 2);
    assert!(
        c.metric("doc_controller_watch_errors_total", &[("reason", "403")])
            .await
            >= 1.0,
        "the errors are the revoked RBAC's 403s"
    );
    c.expect_findings(&[Finding::WatchForbidden]).await;
}

/// The binary, with its RBAC revoked, `skip-preflight` and `toggles` on.
async fn revoked_binary(env: &Env, ns: &TestNamespace, toggles: &[Fault]) -> support::Binary {
    let installed = support::deployed::install_revoked(env, ns).await;
    let mut faults = vec![Fault::SkipPreflight];
    faults.extend_from_slice(toggles);
    support::Binary::start_installed(env, ns, installed, &faults, &[("RUST_LOG", "info")]).await
}

/// The binary as deployed, ready, then cut off from its API server (a proxy in between hangs
/// every connection), with `silent-watch-errors` as given: its watches fail with timeouts, which
/// kube-runtime itself logs only at debug (it warns on its own for 403s, and only for those).
async fn watches_timing_out(
    env: &Env,
    ns: &TestNamespace,
    faults: &[Fault],
) -> (support::Binary, Proxy) {
    let proxy = Proxy::start(&env.kube_config()).await;
    let installed = support::deployed::install_for(env, ns, faults).await;
    let binary = support::Binary::start_with(
        env,
        ns,
        installed,
        faults,
        &[("RUST_LOG", "info,kube=warn")],
        &["--api-timeout=1s"],
        Some(&proxy),
    )
    .await;
    binary.wait_ready().await;
    proxy.hang();
    proxy.cut();
    // Positive control: the watches are failing, as the metrics tell.
    eventually("watch timeouts counted", || async {
        let errors = support::sum_metric(
            &binary.metrics().await,
            "doc_controller_watch_errors_total",
            &[("reason", "timeout")],
        );
        (errors >= 2.0).then_some(())
    })
    .await;
    (binary, proxy)
}

#[tokio::test]
async fn silent_watch_errors_on_leaves_no_trace_in_the_logs() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (binary, _proxy) = watches_timing_out(&env, &ns, &[Fault::SilentWatchErrors]).await;
    // The hung API server is the test's setup, and its own finding.
    binary
        .expect_findings(&[Finding::WatchErrorsUnlogged, Finding::ApiUnreachable])
        .await;
    let (code, logs) = binary.stop().await;
    assert_eq!(code, Some(0), "kept running until stopped: {logs}");
    assert!(
        logs.contains("starting controller"),
        "the log works: {logs}"
    );
    assert!(
        !logs.contains("watch error, retrying with backoff") && !logs.contains("watcher error"),
        "{logs}"
    );
    // What is left to tell: the diagnosis, with the fix.
    assert!(
        logs.lines().any(
            |l| l.contains("finding raised") && l.contains(Finding::WatchErrorsUnlogged.name())
        ),
        "{logs}"
    );
}

#[tokio::test]
async fn silent_watch_errors_off_logs_each_watch_error() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (binary, _proxy) = watches_timing_out(&env, &ns, &[]).await;
    binary.expect_findings(&[Finding::ApiUnreachable]).await;
    let line = binary
        .wait_for_log("a watch error in the log", |l| {
            l.contains("watch error, retrying with backoff")
        })
        .await;
    assert!(
        line.contains("WARN") && line.contains("did not answer within 1s"),
        "{line}"
    );
    let (code, _) = binary.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn crash_on_error_on_exits_1_on_the_first_watch_error() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let mut binary = revoked_binary(&env, &ns, &[Fault::CrashOnError]).await;
    let code = binary.exited_within(support::TIMEOUT).await;
    let logs = binary.logs();
    assert_eq!(code, Some(Some(1)), "{logs}");
    assert!(logs.contains("crash-on-error"), "{logs}");
    // Diagnosed on the way out: the one line a person sees before the restart.
    assert!(
        logs.lines().any(|l| l.contains("finding raised")
            && l.contains(Finding::CrashOnSoftError.name())
            && l.contains("WARN")),
        "{logs}"
    );
}

#[tokio::test]
async fn crash_on_error_off_keeps_running_through_watch_errors() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let mut binary = revoked_binary(&env, &ns, &[]).await;
    eventually("watch errors counted", || async {
        let errors = support::sum_metric(
            &binary.metrics().await,
            "doc_controller_watch_errors_total",
            &[("reason", "403")],
        );
        (errors >= 2.0).then_some(())
    })
    .await;
    assert_eq!(binary.exited_within(WINDOW).await, None, "still running");
    binary.expect_findings(&[Finding::WatchForbidden]).await;
    let (code, _) = binary.stop().await;
    assert_eq!(code, Some(0), "a clean shutdown on SIGTERM");
}

// === 11 api-unreachable: requests that never get an answer. The toggle is client-side; the fix's
// === readiness is shown against an API server that hangs behind a proxy.

/// The deadline for an answer in these tests (the default is 30 s).
const API_TIMEOUT: Duration = Duration::from_secs(1);

fn with_api_timeout(faults: &[Fault]) -> Config {
    Config {
        api_timeout: API_TIMEOUT,
        ..with(faults)
    }
}

async fn api_timeouts(c: &Controller) -> f64 {
    c.metric("doc_controller_api_requests_total", &[("code", "timeout")])
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
    let c = Controller::start(&env, &ns, with_api_timeout(&[Fault::ApiUnreachable])).await;

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
    eventually("two timed-out attempts", || async {
        (api_timeouts(&c).await >= 2.0).then_some(())
    })
    .await;
    // No hot loop: the preflight is retried with the watches' backoff (0.8 s, 1.6 s, 3.2 s, …
    // plus jitter) after each 1 s timeout: at most 2 more attempts end within 4 s.
    let before = api_timeouts(&c).await;
    tokio::time::sleep(WINDOW * 2).await;
    let more = api_timeouts(&c).await - before;
    assert!(
        more <= 2.0,
        "{more} more timed-out requests in {:?}",
        WINDOW * 2
    );
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[]).await,
        api_timeouts(&c).await,
        "no request got an answer"
    );
    assert_eq!(c.readyz().await, 503, "still not ready");
    c.expect_findings(&[Finding::ApiUnreachable]).await;
}

#[tokio::test]
async fn api_unreachable_off_is_ready_within_the_deadline() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with_api_timeout(&[])).await;
    converge(&documents(&env, &ns), 2).await;
    eventually("/readyz 200", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;
    assert_eq!(api_timeouts(&c).await, 0.0);
    c.expect_no_findings().await;
}

#[tokio::test]
async fn api_unreachable_on_logs_each_timeout_and_keeps_running() {
    const RETRY: &str = "CRD preflight got no answer from the API server, retrying with backoff";
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = support::deployed::install_for(&env, &ns, &[Fault::ApiUnreachable]).await;
    let token = support::deployed::TokenFile::new(&env, &installed).await;
    let args = [
        "--fault=api-unreachable",
        "--api-timeout=1s",
        "--namespace",
        ns.name(),
    ]
    .map(String::from);
    let mut binary = support::Binary::spawn(&token.kubeconfig(&env), &args, &[]).await;

    // The first retry, however long the process takes to start.
    let first = binary
        .wait_for_log("a log line for the unanswered preflight", |l| {
            l.contains(RETRY)
        })
        .await;
    assert!(first.contains("WARN"), "{first}");
    assert!(
        first.contains("the API server did not answer within 1s (GET /apis/kube.rs/v1/"),
        "{first}"
    );
    // No hot loop: after a 1 s deadline the next attempts wait 0.8-1.6 s, then 1.6-3.2 s, so at
    // most 2 more end within 4 s; retried at once, 4 would.
    let before = binary.logs().matches(RETRY).count();
    assert_eq!(binary.exited_within(WINDOW * 2).await, None, "kept running");
    let more = binary.logs().matches(RETRY).count() - before;
    assert!(more <= 2, "{more} more retries in {:?}", WINDOW * 2);
    binary.stop().await;
}

#[tokio::test]
async fn a_hung_api_server_fails_readiness_until_it_answers_again() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let proxy = Proxy::start(&env.kube_config()).await;
    let c = Controller::start_with(&env, &ns, with_api_timeout(&[]), &[], Some(&proxy)).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    eventually("/readyz 200", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;

    // The path to the API server breaks: open connections end, new ones are never answered.
    // (The first failures may be the cut connections themselves; then the deadline's.)
    proxy.hang();
    proxy.cut();
    eventually("/readyz to report the missed deadline", || async {
        let (code, body) = c.readyz_with_reasons().await;
        c.expect_findings(&[Finding::ApiUnreachable]).await;
        (code == 503
            && body.contains("API server unreachable: the API server did not answer within 1s"))
        .then_some(())
    })
    .await;
    assert_eq!(
        c.healthz().await,
        200,
        "liveness does not depend on the API"
    );
    eventually("the timed-out watches counted as watch errors", || async {
        (c.metric(
            "doc_controller_watch_errors_total",
            &[("reason", "timeout")],
        )
        .await
            >= 1.0)
            .then_some(())
    })
    .await;
    // No hot loop: the 2 watches back off (0.8 s, 1.6 s, 3.2 s, … after each 1 s timeout): at
    // most 3 attempts each in 4 s; retried at once they would make 8.
    let before = api_timeouts(&c).await;
    tokio::time::sleep(WINDOW * 2).await;
    let in_window = api_timeouts(&c).await - before;
    assert!(in_window <= 6.0, "{in_window} timeouts in {:?}", WINDOW * 2);

    // The API server answers again: the next answer makes the controller ready, and it works.
    proxy.pass();
    eventually("/readyz 200 again", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;
    create(&docs, &doc("after-hang", "After the hang", "words")).await;
    wait_for(&docs, "after-hang", ready_as("Published")).await;
    c.wait_cleared(Finding::ApiUnreachable).await;
}

// === 12 unbounded-concurrency: a concurrency share from API Priority and Fairness objects
// === (yaml/throttling.yaml), which a real API server and the sandbox both enforce.

/// Documents that exist before the controller starts, so its initial list hands it all at once,
/// as after a restart.
const BURST: usize = 100;

/// The priority level of yaml/throttling.yaml, as installed for `ns`.
fn priority_level(ns: &TestNamespace) -> String {
    let level = support::deployed::manifest("yaml/throttling.yaml")
        .into_iter()
        .find(|obj| obj["kind"] == "PriorityLevelConfiguration")
        .and_then(|obj| obj["metadata"]["name"].as_str().map(str::to_string))
        .expect("a PriorityLevelConfiguration in yaml/throttling.yaml");
    format!("{level}-{}", ns.name())
}

/// Requests of the controller the API server rejected at its priority level, from the server's
/// own `/metrics` (read with the admin's client, as `kubectl get --raw /metrics` does).
async fn rejected_by_the_server(env: &Env, ns: &TestNamespace) -> f64 {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("a request");
    let text = env.client.request_text(request).await.expect("/metrics");
    support::sum_metric(
        &text,
        "apiserver_flowcontrol_rejected_requests_total",
        &[("priority_level", priority_level(ns).as_str())],
    )
}

/// The controller over [`BURST`] Documents, as its ServiceAccount within the throttling share
/// of yaml/throttling.yaml (8 seats), with `faults` on.
async fn throttled(env: &Env, ns: &TestNamespace, config: Config) -> Controller {
    let docs = documents(env, ns);
    for i in 0..BURST {
        create(&docs, &doc(&format!("doc-{i}"), "Doc", "words")).await;
    }
    // A real API server takes milliseconds per request, so a burst overlaps there by itself; the
    // sandbox answers in microseconds, and is given that time here (server-side processing).
    if let Some(sb) = env.sandbox() {
        sb.faults().set(
            kube_apiserver_sandbox::Fault::latency(Duration::from_millis(20))
                .for_user(support::deployed::user_of(ns)),
        );
    }
    Controller::start_with(env, ns, config, &[Fault::UnboundedConcurrency], None).await
}

/// 429s the controller saw (every attempt: kube's client retries each after its Retry-After).
async fn throttled_answers(c: &Controller) -> f64 {
    c.metric("doc_controller_api_requests_total", &[("code", "429")])
        .await
}

#[tokio::test]
async fn unbounded_concurrency_on_gets_throttled_with_429s() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = throttled(&env, &ns, with(&[Fault::UnboundedConcurrency])).await;
    // The server's Retry-After grows while it keeps rejecting, so the burst takes long to get
    // through; the symptom is there as soon as both sides have counted the same rejections.
    eventually(
        "429s, counted alike by the server and the controller",
        || async {
            let rejected = rejected_by_the_server(&env, &ns).await;
            c.expect_findings(&[Finding::Throttled]).await;
            (rejected >= 1.0 && throttled_answers(&c).await == rejected).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn unbounded_concurrency_off_stays_within_the_share() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    // The fix: a concurrency the share can take (8 seats: 4 reconciles, the index writer, the
    // watches), as docs/faults.md says to size it.
    let config = Config {
        concurrency: 4,
        ..Config::default()
    };
    let c = throttled(&env, &ns, config).await;
    let docs = documents(&env, &ns);
    for i in 0..BURST {
        wait_for(&docs, &format!("doc-{i}"), ready_as("Published")).await;
    }
    assert_eq!(throttled_answers(&c).await, 0.0);
    assert_eq!(rejected_by_the_server(&env, &ns).await, 0.0);
    c.expect_no_findings().await;
}

// === 13 watch-per-object ===

#[tokio::test]
async fn watch_per_object_on_opens_a_watch_per_document() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::WatchPerObject])).await;
    converge(&documents(&env, &ns), 5).await;
    eventually("a watch per Document", || async {
        (requests(&c, "watch", "configmaps").await >= 6.0).then_some(())
    })
    .await;
    c.expect_findings(&[Finding::TooManyWatches]).await;
}

#[tokio::test]
async fn watch_per_object_off_shares_one_watch() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 5).await;
    settled(&c).await;
    assert_eq!(
        requests(&c, "watch", "configmaps").await,
        1.0,
        "the shared watch of owned ConfigMaps"
    );
    c.expect_no_findings().await;
}

// === 14 direct-reads ===

#[tokio::test]
async fn direct_reads_on_gets_from_the_api_on_every_reconcile() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::DirectReads])).await;
    converge(&documents(&env, &ns), 3).await;
    settled(&c).await;
    let gets = requests(&c, "get", "configmaps").await;
    let reconciles = c.metric("doc_controller_reconcile_total", &[]).await;
    assert!(
        gets >= reconciles,
        "{gets} GETs for {reconciles} reconciles"
    );
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[("code", "403")])
            .await,
        0.0,
        "yaml/faults/direct-reads.yaml grants what the wrong way uses"
    );
    c.expect_findings(&[Finding::ExcessiveApiCalls]).await;
}

#[tokio::test]
async fn direct_reads_off_reads_only_the_store() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 3).await;
    settled(&c).await;
    assert_eq!(requests(&c, "get", "configmaps").await, 0.0);
    c.expect_no_findings().await;
}

// === 15 cleanup-fails ===

#[tokio::test]
async fn cleanup_fails_on_keeps_deleted_documents_terminating() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::CleanupFails])).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    docs.delete("doc-0", &DeleteParams::default())
        .await
        .expect("delete accepted");
    eventually("cleanup errors", || async {
        (c.metric(
            "doc_controller_reconcile_errors_total",
            &[("reason", "injected_cleanup_failure")],
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
    c.expect_findings(&[Finding::StuckTerminating]).await;
}

#[tokio::test]
async fn cleanup_fails_off_releases_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    converge(&docs, 1).await;
    support::delete_and_wait(&docs, "doc-0").await;
    c.expect_no_findings().await;
}

// === 16 generation-only-predicate ===

#[tokio::test]
async fn generation_only_predicate_on_stalls_after_adding_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::GenerationOnlyPredicate])).await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("stuck", "Stuck", "")).await;
    let with_finalizer = eventually("the finalizer", || async {
        let d = docs.get("stuck").await.expect("get");
        d.metadata.finalizers.is_some().then_some(d)
    })
    .await;
    // Positive control: the watch delivered the finalizer change (create, then the update).
    eventually("the controller to see the finalizer", || async {
        (c.documents_seen().await >= 2.0).then_some(())
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
    c.expect_findings(&[Finding::ReconcilerIdle]).await;
}

#[tokio::test]
async fn generation_only_predicate_off_publishes_right_after_the_finalizer() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("flows", "Flows", "")).await;
    wait_for(&docs, "flows", ready_as("Published")).await;
    c.expect_no_findings().await;
}

// === 17 controller-down ===

#[tokio::test]
async fn controller_down_on_serves_health_but_reconciles_nothing() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("waiting", "Waiting", "")).await;
    let c = Controller::start(&env, &ns, with(&[Fault::ControllerDown])).await;
    // Positive control: the process is up and past its preflight, which lists Documents.
    eventually("the preflight done", || async {
        (requests(&c, "list", "documents").await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(c.healthz().await, 200, "alive");
    tokio::time::sleep(WINDOW).await;
    let d = docs.get("waiting").await.expect("get");
    assert!(d.metadata.finalizers.is_none() && d.status.is_none());
    assert_eq!(c.metric("doc_controller_reconcile_total", &[]).await, 0.0);
    c.expect_findings(&[Finding::ReconcilerIdle]).await;

    // Processed once a controller runs again.
    c.stop().await.expect("stops");
    let again = Controller::start(&env, &ns, Config::default()).await;
    wait_for(&docs, "waiting", ready_as("Published")).await;
    again.expect_no_findings().await;
}

// === 18 store-not-ready: needs the owned-ConfigMap watch alone answered late (sandbox only) ===

/// Restarts the controller over 5 published Documents while the ConfigMap watch is slow;
/// returns the new controller.
async fn restarted_with_a_slow_config_map_watch(
    env: &Env,
    ns: &TestNamespace,
    faults: &[Fault],
) -> Controller {
    let sb = env.sandbox().expect("ignored on a real cluster");
    let first = Controller::start(env, ns, Config::default()).await;
    converge(&documents(env, ns), 5).await;
    first.stop().await.expect("stops");
    sb.faults().set(
        kube_apiserver_sandbox::Fault::latency(Duration::from_secs(1))
            .for_user(support::deployed::user_of(ns))
            .for_verbs(["watch", "list"])
            .for_resources(["configmaps"]),
    );
    Controller::start(env, ns, with(faults)).await
}

async fn config_map_writes(c: &Controller) -> f64 {
    requests(c, "apply", "configmaps").await + requests(c, "patch", "configmaps").await
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs one watch (the owned ConfigMaps') answered late while the others are not; a real API server cannot be slowed per resource (a proxy sees only TLS)"
)]
async fn store_not_ready_on_rewrites_published_config_maps_at_start() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = restarted_with_a_slow_config_map_watch(&env, &ns, &[Fault::StoreNotReady]).await;
    eventually("the 5 published ConfigMaps rewritten", || async {
        (config_map_writes(&c).await >= 5.0).then_some(())
    })
    .await;
    c.expect_findings(&[Finding::CacheReadBeforeSync]).await;
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs one watch (the owned ConfigMaps') answered late while the others are not; a real API server cannot be slowed per resource (a proxy sees only TLS)"
)]
async fn store_not_ready_off_writes_nothing_at_start() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = restarted_with_a_slow_config_map_watch(&env, &ns, &[]).await;
    // Positive control: ready (both caches filled) and every Document reconciled once.
    eventually("ready, with the 5 Documents reconciled", || async {
        (c.readyz().await == 200 && reconciles(&c).await >= 5.0).then_some(())
    })
    .await;
    settled(&c).await;
    assert_eq!(config_map_writes(&c).await, 0.0);
    c.expect_no_findings().await;
}

// === 19 predicate-blocks-all ===

#[tokio::test]
async fn predicate_blocks_all_on_ignores_spec_changes() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::PredicateBlocksAll])).await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("frozen", "Frozen", "")).await;
    // First sight passes once: the finalizer is added; nothing after that.
    eventually("the finalizer", || async {
        let d = docs.get("frozen").await.expect("get");
        d.metadata.finalizers.is_some().then_some(())
    })
    .await;
    settled(&c).await;
    let (reconciled, seen) = (
        c.metric("doc_controller_reconcile_total", &[]).await,
        c.documents_seen().await,
    );
    set_spec(&docs, "frozen", json!({ "title": "Thawed" })).await;
    eventually("the controller to see the edit", || async {
        (c.documents_seen().await > seen).then_some(())
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    assert_eq!(
        c.metric("doc_controller_reconcile_total", &[]).await,
        reconciled
    );
    let d = docs.get("frozen").await.expect("get");
    assert_ne!(
        d.status.and_then(|s| s.observed_generation),
        d.metadata.generation,
        "the edit is never reconciled"
    );
    c.expect_findings(&[Finding::ReconcilerIdle]).await;
}

#[tokio::test]
async fn predicate_blocks_all_off_reconciles_spec_changes() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("live", "Live", "")).await;
    wait_for(&docs, "live", ready_as("Published")).await;
    set_spec(&docs, "live", json!({ "title": "Live v2" })).await;
    wait_for(&docs, "live", |d: Option<&Document>| {
        ready_as("Published")(d) && d.is_some_and(|d| d.metadata.generation == Some(2))
    })
    .await;
    c.expect_no_findings().await;
}

// === 20 narrow-selector ===

#[tokio::test]
async fn narrow_selector_on_leaves_the_store_empty() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs = documents(&env, &ns);
    create(&docs, &doc("unseen", "Unseen", "")).await;
    let c = Controller::start(&env, &ns, with(&[Fault::NarrowSelector])).await;
    // Ready: its initial list of Documents, made after "unseen" was created, is complete.
    eventually("/readyz 200", || async {
        (c.readyz().await == 200).then_some(())
    })
    .await;
    assert_eq!(
        c.metric("doc_controller_cached_objects", &[("store", "documents")])
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
    c.expect_findings(&[Finding::SelectorMatchesNothing]).await;
}

#[tokio::test]
async fn narrow_selector_off_caches_every_document() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 2).await;
    eventually("2 cached Documents", || async {
        (c.metric("doc_controller_cached_objects", &[("store", "documents")])
            .await
            == 2.0)
            .then_some(())
    })
    .await;
    c.expect_no_findings().await;
}

// === 22 skip-preflight: needs an API server without the Document CRD (sandbox only) ===

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs an API server without the Document CRD; removing it from a cluster deletes every Document there"
)]
async fn skip_preflight_on_retries_404s_instead_of_exiting() {
    let env = Env::without_crd().await;
    let ns = env.namespace().await;
    let mut c = Controller::start(&env, &ns, with(&[Fault::SkipPreflight])).await;
    eventually("404 watch errors", || async {
        (c.metric("doc_controller_watch_errors_total", &[("reason", "404")])
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert!(c.finished_within(WINDOW).await.is_none(), "still running");
    c.expect_findings(&[Finding::CrdMissing]).await;
    // With nothing ever cached there is nothing in flight: shutdown is immediate.
    c.stop().await.expect("clean shutdown");
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs an API server without the Document CRD; removing it from a cluster deletes every Document there"
)]
async fn skip_preflight_off_stops_with_the_install_command() {
    let env = Env::without_crd().await;
    let ns = env.namespace().await;
    let mut c = Controller::start(&env, &ns, Config::default()).await;
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

// === 25 blocking-reconcile ===

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
    let c = Controller::start(&env, &ns, with(&[Fault::BlockingReconcile])).await;
    converge(&documents(&env, &ns), 2).await;
    // Each reconcile sleeps 250 ms on its thread: a lower bound no machine can beat.
    assert!(mean_reconcile_seconds(&c).await >= 0.25);
    c.expect_findings(&[Finding::BlockingInAsync]).await;
}

#[tokio::test]
async fn blocking_reconcile_off_reconciles_in_milliseconds() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    converge(&documents(&env, &ns), 2).await;
    assert!(mean_reconcile_seconds(&c).await < 0.25);
    c.expect_no_findings().await;
}

// === 26 no-leader-election: two replicas in one namespace, as a Deployment with 2 replicas ===

/// Two controllers for `ns`, as two replicas of the Deployment (one ServiceAccount, their own
/// identities), with `faults`; the second starts once the first is ready.
async fn two_replicas(env: &Env, ns: &TestNamespace, faults: &[Fault]) -> [Controller; 2] {
    let replica = |identity: &str| Config {
        leader_election: doc_controller::leader::Settings {
            identity: Some(identity.to_string()),
            ..Default::default()
        },
        ..with(faults)
    };
    let a = Controller::start(env, ns, replica("replica-a")).await;
    eventually("replica-a ready", || async {
        (a.readyz().await == 200).then_some(())
    })
    .await;
    let b = Controller::start(env, ns, replica("replica-b")).await;
    eventually("replica-b ready", || async {
        (b.readyz().await == 200).then_some(())
    })
    .await;
    [a, b]
}

/// Per Document of the 3 converged ones, the `reportingInstance` of each of its `Published`
/// Events, once at least `per_document` are there.
async fn published_events(
    env: &Env,
    ns: &TestNamespace,
    per_document: usize,
) -> std::collections::BTreeMap<String, Vec<String>> {
    use k8s_openapi::api::events::v1::Event;
    let events: Api<Event> = Api::namespaced(env.client.clone(), ns.name());
    eventually("the Published Events", || async {
        let mut by = std::collections::BTreeMap::<String, Vec<String>>::new();
        for event in events
            .list(&Default::default())
            .await
            .expect("events listed")
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Published"))
        {
            let about = event.regarding.and_then(|r| r.name).unwrap_or_default();
            by.entry(about)
                .or_default()
                .push(event.reporting_instance.unwrap_or_default());
        }
        (by.len() == 3 && by.values().all(|v| v.len() >= per_document)).then_some(by)
    })
    .await
}

#[tokio::test]
async fn no_leader_election_on_lets_every_replica_write_and_publish_every_event_twice() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let replicas = two_replicas(&env, &ns, &[Fault::NoLeaderElection]).await;
    converge(&documents(&env, &ns), 3).await;
    let by = published_events(&env, &ns, 2).await;
    for (document, instances) in &by {
        let mut instances = instances.clone();
        instances.sort();
        assert_eq!(instances, ["replica-a", "replica-b"], "{document}");
    }
    for replica in &replicas {
        assert_eq!(replica.metric("doc_controller_leader", &[]).await, 1.0);
        assert!(
            replica
                .metric("doc_controller_writes_without_lease_total", &[])
                .await
                > 0.0
        );
        replica
            .expect_findings(&[Finding::WritesWithoutLease])
            .await;
    }
}

#[tokio::test]
async fn no_leader_election_off_lets_one_replica_write_and_the_other_wait() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let [a, b] = two_replicas(&env, &ns, &[]).await;
    converge(&documents(&env, &ns), 3).await;
    // Positive control of the window below: the standby sees every Document the leader does.
    let by = published_events(&env, &ns, 1).await;
    eventually("the standby's cache holds every Document", || async {
        (b.documents_seen().await >= 3.0).then_some(())
    })
    .await;
    tokio::time::sleep(WINDOW).await;
    let by_now = published_events(&env, &ns, 1).await;
    assert_eq!(by, by_now, "no Event added in the window");
    for (document, instances) in &by {
        assert_eq!(
            instances,
            &["replica-a"],
            "{document}: once, from the leader"
        );
    }
    assert_eq!(a.metric("doc_controller_leader", &[]).await, 1.0);
    assert_eq!(b.metric("doc_controller_leader", &[]).await, 0.0);
    assert_eq!(b.metric("doc_controller_reconcile_total", &[]).await, 0.0);
    let (code, body) = b.readyz_with_reasons().await;
    assert_eq!(
        (code, body.as_str()),
        (200, "ok\nstandby: the leader is replica-a")
    );
    for replica in [&a, &b] {
        assert_eq!(
            replica
                .metric("doc_controller_writes_without_lease_total", &[])
                .await,
            0.0
        );
        replica.expect_no_findings().await;
    }
}
