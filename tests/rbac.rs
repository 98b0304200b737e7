//! The shipped RBAC (yaml/rbac.yaml) is enough for the controller, run as its ServiceAccount
//! exactly as on a cluster; `forbidden-watch` shows the guide's 403 with the namespace-only
//! install of yaml/faults/forbidden-watch.yaml, and `forbidden-patch` the guide's 403 for a write
//! that the shipped RBAC does not grant.
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG`. Every test installs its own
//! ServiceAccount, roles and bindings (see tests/support/deployed.rs), so they do not interfere
//! when run together on one cluster.

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::diagnosis::Finding;
use doc_controller::fault::{Fault, Faults};
use kube::api::Api;
use serde_json::json;
use support::{
    Controller, Env, TestNamespace, create, delete_and_wait, doc, eventually, ready_as, set_spec,
    wait_for,
};

fn with(faults: &[Fault]) -> Config {
    Config {
        faults: Faults::new(faults.iter().copied()),
        ..Config::default()
    }
}

#[tokio::test]
async fn the_shipped_rbac_is_enough_for_the_controller_as_its_service_account() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;
    set_spec(&docs, "samuel", json!({ "hide": true })).await;
    wait_for(&docs, "samuel", ready_as("Hidden")).await;
    delete_and_wait(&docs, "samuel").await;
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[("code", "403")])
            .await,
        0.0,
        "no request was forbidden"
    );
    c.expect_no_findings().await;
}

// === forbidden-watch ===

/// The controller as its ServiceAccount with the namespace-only install of
/// yaml/faults/forbidden-watch.yaml (the shipped ClusterRole bound in the test's namespace).
async fn namespace_only(env: &Env, ns: &TestNamespace, faults: &[Fault]) -> Controller {
    Controller::start_with(env, ns, with(faults), &[Fault::ForbiddenWatch], None).await
}

#[tokio::test]
async fn forbidden_watch_on_gets_403_at_the_cluster_scope() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = namespace_only(&env, &ns, &[Fault::ForbiddenWatch]).await;
    eventually("403 watch errors", || async {
        (c.metric(
            "doc_controller_watch_errors_total",
            &[("resource", "documents"), ("reason", "403")],
        )
        .await
            >= 1.0)
            .then_some(())
    })
    .await;
    c.expect_findings(&[Finding::WatchForbidden]).await;
    let report = support::diagnostics(c.admin_addr()).await;
    let cause = report
        .active()
        .find_map(|f| f.likely_cause.clone())
        .expect("a likely cause");
    assert!(cause.contains("cluster scope"), "{cause}");
}

#[tokio::test]
async fn forbidden_watch_off_watches_the_permitted_namespace() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = namespace_only(&env, &ns, &[]).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("allowed", "Allowed", "")).await;
    wait_for(&docs, "allowed", ready_as("Published")).await;
    assert_eq!(
        c.metric("doc_controller_watch_errors_total", &[("reason", "403")])
            .await,
        0.0
    );
    c.expect_no_findings().await;
}

// === forbidden-patch ===

/// Status writes sent through the Document itself and answered 403.
async fn forbidden_status_writes(c: &Controller) -> f64 {
    c.metric(
        "doc_controller_api_requests_total",
        &[
            ("verb", "apply"),
            ("resource", "documents"),
            ("code", "403"),
        ],
    )
    .await
}

#[tokio::test]
async fn forbidden_patch_on_gets_403_and_the_document_never_gets_a_status() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, with(&[Fault::ForbiddenPatch])).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;

    eventually(
        "a forbidden status write, counted as a forbidden reconcile",
        || async {
            let reconcile_errors = c
                .metric(
                    "doc_controller_reconcile_errors_total",
                    &[("reason", "forbidden")],
                )
                .await;
            (forbidden_status_writes(&c).await >= 1.0 && reconcile_errors >= 1.0).then_some(())
        },
    )
    .await;
    // Everything the RBAC grants happened (finalizer, ConfigMap); the status never did.
    let samuel = docs.get("samuel").await.expect("get samuel");
    assert!(
        samuel
            .metadata
            .finalizers
            .is_some_and(|f| f.iter().any(|f| f == doc_controller::crd::FINALIZER)),
        "the finalizer update is granted"
    );
    assert!(samuel.status.is_none(), "{:?}", samuel.status);
    assert_eq!(
        c.metric(
            "doc_controller_api_requests_total",
            &[("resource", "documents/status")]
        )
        .await,
        0.0,
        "nothing went to the status subresource"
    );
    c.expect_findings(&[Finding::WriteForbidden]).await;
}

#[tokio::test]
async fn forbidden_patch_off_writes_status_through_the_granted_subresource() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let c = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;
    assert_eq!(forbidden_status_writes(&c).await, 0.0);
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &[("code", "403")])
            .await,
        0.0
    );
    c.expect_no_findings().await;
}
