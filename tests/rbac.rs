//! The shipped RBAC (yaml/rbac.yaml) is enough for the controller, run as its ServiceAccount
//! through impersonation, exactly as on a real cluster; and the `forbidden-watch` toggle shows the
//! guide's 403 when that RBAC is granted in one namespace only.
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG` (the user needs `impersonate` on
//! ServiceAccounts, as cluster admins have).

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::fault::{Fault, Faults};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::{
    Controller, Env, create, delete_and_wait, doc, eventually, ready_as, set_spec, wait_for,
};

const SERVICE_ACCOUNT: &str = "system:serviceaccount:default:doc-controller";

/// Server-side applies the objects of yaml/rbac.yaml; with `cluster_wide` false, the
/// ClusterRoleBinding is replaced by a RoleBinding in `namespace` only.
async fn apply_shipped_rbac(env: &Env, cluster_wide: bool, namespace: &str) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/rbac.yaml"))
        .expect("yaml/rbac.yaml readable");
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).expect("yaml/rbac.yaml parses");
    let apply = PatchParams::apply("e2e-rbac").force();
    for obj in docs {
        let name = obj["metadata"]["name"].as_str().expect("named").to_string();
        match obj["kind"].as_str() {
            Some("ServiceAccount") => {
                let api: Api<ServiceAccount> = Api::namespaced(env.client.clone(), "default");
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("sa");
            }
            Some("ClusterRole") => {
                let api: Api<ClusterRole> = Api::all(env.client.clone());
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("role");
            }
            Some("ClusterRoleBinding") if cluster_wide => {
                let api: Api<ClusterRoleBinding> = Api::all(env.client.clone());
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("binding");
            }
            Some("ClusterRoleBinding") => {
                let mut binding = obj.clone();
                binding["kind"] = json!("RoleBinding");
                binding["metadata"]["namespace"] = json!(namespace);
                let api: Api<RoleBinding> = Api::namespaced(env.client.clone(), namespace);
                api.patch(&name, &apply, &Patch::Apply(&binding))
                    .await
                    .expect("namespaced binding");
            }
            other => panic!("unexpected kind {other:?} in yaml/rbac.yaml"),
        }
    }
}

/// The controller's client configuration, acting as its ServiceAccount.
fn as_service_account(env: &Env) -> kube::Config {
    let mut config = env.kube_config();
    config.auth_info.impersonate = Some(SERVICE_ACCOUNT.to_string());
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".to_string(),
        "system:serviceaccounts:default".to_string(),
    ]);
    config
}

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

async fn forbidden_watch(faults: &[Fault]) -> (Controller, support::TestNamespace, Env) {
    let env = Env::new().await;
    let ns = env.namespace().await;
    apply_shipped_rbac(&env, false, &ns.name).await;
    let config = Config {
        faults: Faults::new(faults.iter().copied()),
        ..Config::default()
    };
    let c = Controller::start_as(as_service_account(&env), &ns.name, config).await;
    (c, ns, env)
}

#[tokio::test]
async fn forbidden_watch_on_gets_403_at_the_cluster_scope() {
    let (c, _ns, _env) = forbidden_watch(&[Fault::ForbiddenWatch]).await;
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
    let (c, ns, env) = forbidden_watch(&[]).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), &ns.name);
    create(&docs, &doc("allowed", "Allowed", "")).await;
    wait_for(&docs, "allowed", ready_as("Published")).await;
    assert_eq!(
        c.metric("doc_controller_watch_errors_total", &["reason=\"403\""])
            .await,
        0.0
    );
}
