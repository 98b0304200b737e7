//! The shipped RBAC (yaml/rbac.yaml) is enough for the controller, run as its ServiceAccount
//! through impersonation, exactly as on a real cluster; the `forbidden-watch` toggle shows the
//! guide's 403 when that RBAC is granted in one namespace only, and `forbidden-patch` the guide's
//! 403 for a write that RBAC does not grant.
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG` (the user needs `impersonate` on
//! ServiceAccounts, as cluster admins have).

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::fault::{Fault, Faults};
use kube::api::Api;
use serde_json::json;
use support::{
    Controller, Env, apply_shipped_rbac, as_service_account, create, delete_and_wait, doc,
    eventually, ready_as, set_spec, wait_for,
};

#[tokio::test]
async fn the_shipped_rbac_is_enough_for_the_controller_as_its_service_account() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    apply_shipped_rbac(&env, true, &ns.name).await;
    let c = Controller::start_as(as_service_account(&env), &ns.name, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);

    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;
    set_spec(&docs, "samuel", json!({ "hide": true })).await;
    wait_for(&docs, "samuel", ready_as("Hidden")).await;
    delete_and_wait(&docs, "samuel").await;
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &["code=\"403\""])
            .await,
        0.0,
        "no request was forbidden"
    );
}

/// The controller as its ServiceAccount with the shipped RBAC, bound cluster-wide or in the test
/// namespace only, with `faults` on.
async fn as_shipped(
    cluster_wide: bool,
    faults: &[Fault],
) -> (Controller, support::TestNamespace, Env) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    apply_shipped_rbac(&env, cluster_wide, &ns.name).await;
    let config = Config {
        faults: Faults::new(faults.iter().copied()),
        ..Config::default()
    };
    let c = Controller::start_as(as_service_account(&env), &ns.name, config).await;
    (c, ns, env)
}

#[tokio::test]
async fn forbidden_watch_on_gets_403_at_the_cluster_scope() {
    let (c, _ns, _env) = as_shipped(false, &[Fault::ForbiddenWatch]).await;
    eventually("403 watch errors", || async {
        (c.metric(
            "doc_controller_watch_errors_total",
            &["resource=\"documents\"", "reason=\"403\""],
        )
        .await
            >= 1.0)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn forbidden_watch_off_watches_the_permitted_namespace() {
    let (c, ns, env) = as_shipped(false, &[]).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("allowed", "Allowed", "")).await;
    wait_for(&docs, "allowed", ready_as("Published")).await;
    assert_eq!(
        c.metric("doc_controller_watch_errors_total", &["reason=\"403\""])
            .await,
        0.0
    );
}

// === forbidden-patch ===

/// Status writes sent through the Document itself and answered 403.
async fn forbidden_status_writes(c: &Controller) -> f64 {
    c.metric(
        "doc_controller_api_requests_total",
        &["verb=\"apply\"", "resource=\"documents\"", "code=\"403\""],
    )
    .await
}

#[tokio::test]
async fn forbidden_patch_on_gets_403_and_the_document_never_gets_a_status() {
    let (c, ns, env) = as_shipped(true, &[Fault::ForbiddenPatch]).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("samuel", "Samuel", "hello")).await;

    eventually(
        "a forbidden status write, counted as a forbidden reconcile",
        || async {
            let reconcile_errors = c
                .metric(
                    "doc_controller_reconcile_errors_total",
                    &["reason=\"forbidden\""],
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
            &["resource=\"documents/status\""]
        )
        .await,
        0.0,
        "nothing went to the status subresource"
    );
}

#[tokio::test]
async fn forbidden_patch_off_writes_status_through_the_granted_subresource() {
    let (c, ns, env) = as_shipped(true, &[]).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;
    assert_eq!(forbidden_status_writes(&c).await, 0.0);
    assert_eq!(
        c.metric("doc_controller_api_requests_total", &["code=\"403\""])
            .await,
        0.0
    );
}
