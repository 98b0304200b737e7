//! Shared fixtures: the Document CRD and a dynamic API for it.

#![allow(dead_code, clippy::unwrap_used)]

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

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

/// Installs the Document CRD.
pub async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(document_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
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
    .unwrap()
}

/// The `kube::Error::Api` status of a result, or a panic.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A ConfigMap with these labels and `data: {k: v}`.
pub fn configmap(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .unwrap()
}

/// Polls `check` until it holds (5 s at most).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A ConfigMap owned by `owner`.
pub fn owned_by(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
            "uid": owner.metadata.uid, "blockOwnerDeletion": block
        }]}
    }))
    .unwrap()
}
