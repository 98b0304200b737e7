//! Shared fixtures of the conformance suite: where it runs ([`Target`]), a namespace per test,
//! the Document CRD and a dynamic API for it.
//!
//! # Running against a real API server
//! By default every test starts its own in-memory [`kube_apiserver_sandbox::Sandbox`]. Set
//! `DOC_CONTROLLER_E2E_KUBECONFIG=/path/to/kubeconfig` (the variable of the controller's e2e
//! suite) and the same tests run against that kubeconfig's current context instead, so that any
//! divergence between the sandbox and a real apiserver shows as a failing test:
//!
//! ```text
//! DOC_CONTROLLER_E2E_KUBECONFIG=$HOME/.kube/config cargo test -p kube-apiserver-sandbox
//! ```
//!
//! - The user needs cluster-admin rights; the cluster needs its controllers (garbage collector,
//!   namespace controller), as any kind or k3s cluster has.
//! - Each test works in its own namespace `conf-<random>`, deleted when the test ends, pass or
//!   fail (the testkit's `TestNamespace`). Cluster-scoped objects get unique names.
//! - The Document CRD `documents.kube.rs` is server-side applied (field manager
//!   [`FIELD_MANAGER`], forced) and left installed. Its schema is trimmed and differs from the
//!   controller's `yaml/crd.yaml` (and kubectl.rs applies a third variant), so run this suite and
//!   the controller's e2e suite one after the other, not at the same time, on one cluster. Tests
//!   that need a CRD of their own (to delete it, or to watch from before it existed) create a
//!   [`scratch_crd`] with a unique name in the group `conformance.kube.rs` and delete it when
//!   they end, so parallel runs on one cluster never meet.
//! - A test that needs a hook only the sandbox has (its revision counter, compacting its watch
//!   history, its fault API) is its own test, marked
//!   `#[cfg_attr(real_cluster, ignore = "<why>")]`: `sandbox/build.rs` sets `cfg(real_cluster)`
//!   when the suite is built with [`KUBECONFIG_ENV`] set, so such a test shows as ignored with
//!   its reason instead of passing without checking anything. It reaches the hook through
//!   [`Target::sandbox_hook`], which fails loudly if it is forced to run against a cluster.
//!   Test files that do not use [`Target`] (those about the sandbox's faults, for instance)
//!   always start a sandbox of their own and ignore [`KUBECONFIG_ENV`].
//! - The kubectl tests need a `kubectl` binary (`KUBECTL`, or `kubectl` on the `PATH`); without
//!   one they fail with that message ([`kubectl_binary`]).
//! - A cluster puts a `kube-root-ca.crt` ConfigMap into every namespace; tests that count
//!   ConfigMaps leave it out ([`ROOT_CA`], [`ours`]).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the fixtures"
)]

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::{Api, ResourceExt};
use kube_apiserver_sandbox::testkit::DEFAULT_TIMEOUT;
use kube_apiserver_sandbox::testkit::TestCluster;
pub use kube_apiserver_sandbox::testkit::{Teardown, TestNamespace, eventually, unique_name};
use kube_apiserver_sandbox::{Sandbox, SandboxBuilder};
use serde_json::{Value, json};
use std::future::Future;
use std::path::Path;

/// The environment variable naming a kubeconfig to run the suite against a real cluster.
pub const KUBECONFIG_ENV: &str = "DOC_CONTROLLER_E2E_KUBECONFIG";

/// How long a cluster may take for something asynchronous (GC, CRD establishing, cleanup).
pub const TIMEOUT: std::time::Duration = DEFAULT_TIMEOUT;

/// The field manager the suite's CRDs are server-side applied with.
pub const FIELD_MANAGER: &str = "sandbox-conformance";

/// The ConfigMap a cluster's root-CA publisher puts into every namespace (the sandbox does not).
pub const ROOT_CA: &str = "kube-root-ca.crt";

/// Where a test runs: a sandbox started for it, or the cluster of [`KUBECONFIG_ENV`] (the
/// testkit's [`TestCluster`]), with what this suite adds: the hooks only a sandbox has, a
/// namespace that waits for the cluster's root CA, the Document CRD.
pub struct Target {
    cluster: TestCluster,
}

impl Target {
    /// Connects to the cluster named by [`KUBECONFIG_ENV`], or starts a default sandbox.
    pub async fn new() -> Target {
        Self::with_sandbox(|builder| builder).await
    }

    /// Like [`Target::new`]; a sandbox is started from the builder `configure` returns (options
    /// a real cluster has fixed, such as its watch history, are ignored there).
    pub async fn with_sandbox(configure: impl FnOnce(SandboxBuilder) -> SandboxBuilder) -> Target {
        let cluster = TestCluster::from_env(KUBECONFIG_ENV, configure)
            .await
            .unwrap_or_else(|e| panic!("the sandbox, or the cluster of {KUBECONFIG_ENV}: {e}"));
        Target { cluster }
    }

    /// An admin client.
    pub fn client(&self) -> kube::Client {
        self.cluster.client()
    }

    /// The client configuration, e.g. to derive clients with other credentials.
    pub fn kube_config(&self) -> kube::Config {
        self.cluster.kube_config()
    }

    /// The kubeconfig for `kubectl --kubeconfig`.
    pub fn kubeconfig_path(&self) -> &Path {
        self.cluster.kubeconfig_path()
    }

    /// Whether this is the sandbox (not a real cluster).
    pub fn is_sandbox(&self) -> bool {
        self.cluster.is_sandbox()
    }

    /// The sandbox, for hooks only it has; `None` on a real cluster.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.cluster.sandbox()
    }

    /// The sandbox, for a test that is `#[cfg_attr(real_cluster, ignore = ...)]` because it
    /// needs a hook only the sandbox has; panics (the test fails, it does not pass unchecked)
    /// when such a test is made to run against a real cluster anyway.
    pub fn sandbox_hook(&self) -> &Sandbox {
        self.cluster.sandbox().unwrap_or_else(|| {
            panic!(
                "this test needs a sandbox-only hook and cannot check anything on the cluster of \
                 {KUBECONFIG_ENV}; build the suite with {KUBECONFIG_ENV} set so it is ignored"
            )
        })
    }

    /// A fresh namespace `conf-<random>` for one test, deleted on a real cluster when the
    /// returned guard drops.
    pub async fn namespace(&self) -> TestNamespace {
        let guard = self
            .cluster
            .namespace("conf")
            .await
            .expect("the test namespace is created");
        let publishes_root_ca = !self.is_sandbox()
            && matches!(
                Api::<ConfigMap>::namespaced(self.client(), "default")
                    .get_opt(ROOT_CA)
                    .await,
                Ok(Some(_))
            );
        if publishes_root_ca {
            // The cluster publishes its root CA into each new namespace a moment later; wait
            // for it so that it does not show up in the middle of a test's watch.
            let cms: Api<ConfigMap> = Api::namespaced(self.client(), guard.name());
            eventually("the cluster's root CA in the test namespace", || async {
                matches!(cms.get_opt(ROOT_CA).await, Ok(Some(_)))
            })
            .await;
        }
        guard
    }

    /// Work to do when the returned guard drops, on a real cluster only (a sandbox is discarded
    /// with everything in it); see the testkit's [`Teardown`].
    pub fn teardown<F, Fut>(&self, work: F) -> Teardown
    where
        F: FnOnce(kube::Client) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.cluster.teardown(work)
    }

    /// Installs the Document CRD (server-side applied, idempotent) and waits until it is served.
    pub async fn install_crd(&self) {
        install_crd(&self.client()).await;
    }
}

/// The kubectl binary: `KUBECTL`, or `kubectl` on the `PATH`. Panics when it does not run:
/// CI installs kubectl, and a kubectl test that returned early would pass without checking.
pub fn kubectl_binary() -> String {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    let runs = std::process::Command::new(&bin)
        .args(["version", "--client"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "`{bin} version --client` does not run: the kubectl tests need kubectl \
         (install it, or set KUBECTL to its path)"
    );
    bin
}

/// Leaves out the objects a real cluster adds to every namespace ([`ROOT_CA`]).
pub fn ours<K: ResourceExt>(items: Vec<K>) -> Vec<K> {
    items
        .into_iter()
        .filter(|item| item.name_any() != ROOT_CA)
        .collect()
}

/// The names of [`ours`] in list order.
pub fn names<K: ResourceExt>(items: Vec<K>) -> Vec<String> {
    ours(items).iter().map(ResourceExt::name_any).collect()
}

/// The Document CRD as the controller's crdgen would produce it (trimmed).
pub fn document_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "documents.kube.rs"},
        "spec": {
            "group": "kube.rs",
            "names": {"kind": "Document", "plural": "documents", "singular": "document", "shortNames": ["doc"], "categories": []},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Title", "type": "string", "jsonPath": ".spec.title"},
                    {"name": "Hidden", "type": "boolean", "jsonPath": ".status.hidden"}
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"type": "object", "required": ["title", "content"], "properties": {
                            "title": {"type": "string", "minLength": 1},
                            "content": {"type": "string"},
                            "hide": {"type": "boolean", "default": false}
                        }},
                        "status": {"type": "object", "nullable": true, "properties": {
                            "hidden": {"type": "boolean"}
                        }}
                    }
                }}
            }]
        }
    })
}

/// Installs the Document CRD: server-side applied, so it is idempotent (and on a real cluster
/// it may already be there), then waits until it is served.
pub async fn install_crd(client: &kube::Client) {
    apply_crd(client, document_crd()).await;
}

/// Server-side applies a CRD (forced, field manager [`FIELD_MANAGER`]) and waits until it is
/// `Established` and its resource answers a list.
pub async fn apply_crd(client: &kube::Client, crd: Value) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(crd).expect("a CRD object");
    let name = crd.name_any();
    crds.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("CRD {name} applies: {e}"));
    wait_until_served(client, &crd).await;
}

/// Waits until the CRD is `Established` and its resource answers a list.
pub async fn wait_until_served(client: &kube::Client, crd: &CustomResourceDefinition) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    eventually(&format!("CRD {name} established"), || async {
        crds.get_opt(&name).await.ok().flatten().is_some_and(|c| {
            c.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
    })
    .await;
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .expect("a storage version");
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&crd.spec.group, &version, &crd.spec.names.kind),
        &crd.spec.names.plural,
    );
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    eventually(&format!("{name} served"), || async {
        all.list(&ListParams::default().limit(1)).await.is_ok()
    })
    .await;
}

/// A namespaced CRD in the suite's own group `conformance.kube.rs` with a unique name (tests
/// running at once on one cluster never share it) and an open schema: plural
/// `<prefix><8 hex digits>`, kind `Scratch<8 hex digits>`. Install it with
/// [`install_scratch_crd`].
pub fn scratch_crd(prefix: &str) -> CustomResourceDefinition {
    let id = unique_name("x").trim_start_matches("x-").to_owned();
    let plural = format!(
        "{}{id}",
        prefix.replace(|c: char| !c.is_ascii_lowercase(), "")
    );
    let kind = format!("Scratch{id}");
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.conformance.kube.rs")},
        "spec": {
            "group": "conformance.kube.rs",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true
                }}
            }]
        }
    }))
    .expect("a CRD object")
}

/// Creates a [`scratch_crd`] and waits until it is served; the returned guard deletes it on
/// a real cluster.
pub async fn install_scratch_crd(target: &Target, crd: &CustomResourceDefinition) -> Teardown {
    let crds: Api<CustomResourceDefinition> = Api::all(target.client());
    crds.create(&PostParams::default(), crd)
        .await
        .expect("the scratch CRD is created");
    let name = crd.name_any();
    let cleanup = target.teardown(move |client| async move {
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        let _ = crds.delete(&name, &DeleteParams::background()).await;
    });
    wait_until_served(&target.client(), crd).await;
    cleanup
}

/// The dynamic API resource of a [`scratch_crd`].
pub fn scratch_resource(crd: &CustomResourceDefinition) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&crd.spec.group, "v1", &crd.spec.names.kind),
        &crd.spec.names.plural,
    )
}

/// The dynamic API resource of Documents.
pub fn document_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kube.rs", "v1", "Document"),
        "documents",
    )
}

/// A namespaced dynamic API for Documents.
pub fn documents(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &document_resource())
}

/// A Document object.
pub fn document(name: &str, title: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "kube.rs/v1",
        "kind": "Document",
        "metadata": {"name": name},
        "spec": {"title": title, "content": "hello"}
    }))
    .expect("a Document object")
}

/// The `kube::Error::Api` status of a result, or a panic.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A ConfigMap with these labels and `data: {k: v}`.
pub fn configmap(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .expect("a ConfigMap object")
}

/// A ConfigMap owned by `owner`.
pub fn owned_by(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
            "uid": owner.metadata.uid, "blockOwnerDeletion": block
        }]}
    }))
    .expect("a ConfigMap object")
}
