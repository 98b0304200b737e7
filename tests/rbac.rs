//! The shipped RBAC (yaml/rbac.yaml) is enough for the controller, run as its ServiceAccount
//! exactly as on a cluster, and status goes through the one subresource it grants a write on.
// region: fault-catalogue
//! `forbidden-watch` shows the guide's 403 with the namespace-only install of
//! yaml/faults/forbidden-watch.yaml, and `forbidden-patch` the guide's 403 for a write that the
//! shipped RBAC does not grant.
// endregion: fault-catalogue
//!
//! `kubectl auth can-i --list`, asked as the ServiceAccount, shows exactly what src/rbac.rs
//! declares, plus what the API server's bootstrap policy grants every ServiceAccount.
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG`. Every test installs its own
//! ServiceAccount, roles and bindings (see tests/support/deployed.rs), so they do not interfere
//! when run together on one cluster.

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use kube::api::Api;
use serde_json::json;
use support::{
    Controller, Env, create, delete_and_wait, doc, eventually, ready_as, set_spec, wait_for,
};
// region: fault-catalogue
use doc_controller::diagnosis::Finding;
use doc_controller::fault::{Fault, Faults};
use support::TestNamespace;

fn with(faults: &[Fault]) -> Config {
    Config {
        faults: Faults::new(faults.iter().copied()),
        ..Config::default()
    }
}
// endregion: fault-catalogue

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

// === kubectl auth can-i --list ===

/// What every ServiceAccount may do on a fresh cluster, as kubectl lists it (`resource.group`
/// or a non-resource URL, and a verb): the ClusterRoles and ClusterRoleBindings of the API
/// server's bootstrap policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`,
/// Kubernetes 1.32): `system:basic-user` (the self-reviews) and `system:discovery` and
/// `system:public-info-viewer` (discovery, health, version), bound to `system:authenticated`,
/// and `system:service-account-issuer-discovery` (the OIDC documents), bound to
/// `system:serviceaccounts`. A cluster that grants every ServiceAccount more (its own
/// bindings to these groups, the `ClusterTrustBundle` feature) lists more, and this test says so.
const BOOTSTRAP_GRANTS: &[(&str, &str)] = &[
    ("selfsubjectaccessreviews.authorization.k8s.io", "create"),
    ("selfsubjectrulesreviews.authorization.k8s.io", "create"),
    ("selfsubjectreviews.authentication.k8s.io", "create"),
    ("/api", "get"),
    ("/api/*", "get"),
    ("/apis", "get"),
    ("/apis/*", "get"),
    ("/healthz", "get"),
    ("/livez", "get"),
    ("/openapi", "get"),
    ("/openapi/*", "get"),
    ("/readyz", "get"),
    ("/version", "get"),
    ("/version/", "get"),
    ("/.well-known/openid-configuration", "get"),
    ("/.well-known/openid-configuration/", "get"),
    ("/openid/v1/jwks", "get"),
    ("/openid/v1/jwks/", "get"),
];

/// `(resource or URL, resource names, verb)` of each row of `kubectl auth can-i --list`, whose
/// columns are `Resources  Non-Resource URLs  Resource Names  Verbs`, the last three printed as
/// Go slices (`[get list]`); a row lists a resource or URLs, never both.
fn can_i_rows(table: &str) -> std::collections::BTreeSet<(String, String, String)> {
    let mut rows = std::collections::BTreeSet::new();
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (resource, rest) = line.split_once('[').expect("a row with bracketed columns");
        let columns: Vec<Vec<String>> = format!("[{rest}")
            .split(']')
            .filter_map(|c| c.trim().strip_prefix('['))
            .map(|c| c.split_whitespace().map(str::to_string).collect())
            .collect();
        let [urls, names, verbs] = columns.as_slice() else {
            panic!("a row of four columns: {line:?}");
        };
        let names = names.join(",");
        let subjects: Vec<String> = match resource.trim() {
            "" => urls.clone(),
            resource => vec![resource.to_string()],
        };
        for subject in subjects {
            for verb in verbs {
                rows.insert((subject.clone(), names.clone(), verb.clone()));
            }
        }
    }
    rows
}

#[tokio::test]
async fn kubectl_auth_can_i_list_as_the_service_account_shows_the_declared_permissions_and_the_defaults()
 {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = support::deployed::install(&env, &ns).await;
    // Derived from the one declaration, src/rbac.rs, in kubectl's spelling (`Permission`'s
    // Display is `kubectl auth can-i`'s `verb resource.group/subresource`).
    // The Lease's `get` and `update` name it (`resourceNames`), in the namespace listed here,
    // where the test installed the Role (its Lease namespace).
    let declared = doc_controller::rbac::REQUIRED.iter().map(|p| {
        let shown = p.to_string();
        let (verb, resource) = shown.split_once(' ').expect("verb and resource");
        let name = match p.scope {
            doc_controller::rbac::Scope::Lease => {
                doc_controller::leader::settings::DEFAULT_LEASE_NAME.to_string()
            }
            _ => String::new(),
        };
        (resource.to_string(), name, verb.to_string())
    });
    let defaults = BOOTSTRAP_GRANTS
        .iter()
        .map(|(what, verb)| ((*what).to_string(), String::new(), (*verb).to_string()));
    let expected: std::collections::BTreeSet<(String, String, String)> =
        declared.chain(defaults).collect();

    let kubectl = support::kubectl::Kubectl::new(&env);
    let args = [
        "auth",
        "can-i",
        "--list",
        "--namespace",
        ns.name(),
        "--as",
        &installed.user,
    ];
    // A real API server's RBAC takes a moment to see new bindings.
    let listed = eventually("the ServiceAccount's rules in effect", || async {
        let rows = can_i_rows(&kubectl.ok(&args, None).await);
        expected.is_subset(&rows).then_some(rows)
    })
    .await;
    let missing: Vec<_> = expected.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "kubectl auth can-i --list as {}: missing {missing:?}, more than declared {extra:?} \
         (a grant to every ServiceAccount or authenticated user beyond the bootstrap policy's \
         shows here too)",
        installed.user
    );
}

#[test]
fn can_i_rows_read_kubectls_table() {
    let table = "Resources                         Non-Resource URLs   Resource Names   Verbs\n\
        documents.kube.rs                 []                  []               [list watch]\n\
        leases.coordination.k8s.io        []                  [doc-controller] [get update]\n\
                                          [/api/*]            []               [get]\n";
    let rows = can_i_rows(table);
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    let expected = [
        row("documents.kube.rs", "", "list"),
        row("documents.kube.rs", "", "watch"),
        row("leases.coordination.k8s.io", "doc-controller", "get"),
        row("leases.coordination.k8s.io", "doc-controller", "update"),
        row("/api/*", "", "get"),
    ];
    assert_eq!(rows, expected.into_iter().collect());
}

// region: fault-catalogue
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

// endregion: fault-catalogue

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

// region: fault-catalogue
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
            .is_some_and(|f| f.iter().any(|f| f == doc_controller::document::FINALIZER)),
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
// endregion: fault-catalogue

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
