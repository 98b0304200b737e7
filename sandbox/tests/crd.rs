//! The sandbox, mirroring the apiserver. CustomResourceDefinitions: schema validation, pruning and defaulting, and the CRD lifecycle.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`). The CRD lifecycle
//! test deletes a CRD of its own, `widgets.conformance.kube.rs`, never the Document CRD.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Target, api_error, apply_crd, document, documents, eventually};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use serde_json::{Value, json};

#[tokio::test]
async fn custom_resources_are_validated_pruned_and_defaulted_by_the_crd_schema() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let status = api_error(
        docs.create(&PostParams::default(), &document("x", ""))
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "Document.kube.rs \"x\" is invalid: spec.title: Invalid value: \"\": spec.title in body should be at least 1 chars long"
    );
    let mut doc = document("y", "ok");
    doc.data["spec"]["unknown"] = json!(1);
    let created = docs.create(&PostParams::default(), &doc).await.unwrap();
    assert!(created.data["spec"].get("unknown").is_none());
    assert_eq!(created.data["spec"]["hide"], false);
}

#[tokio::test]
async fn status_updates_are_validated_against_the_schema() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let status = api_error(
        docs.patch_status(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hidden": "yes"}})),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("status.hidden"),
        "{}",
        status.message
    );
}

/// The CRD that the lifecycle test deletes: its own, so that nothing else depends on it.
const WIDGETS: &str = "widgets.conformance.kube.rs";

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": WIDGETS},
        "spec": {
            "group": "conformance.kube.rs",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"title": {"type": "string"}}}
                }}}
            }]
        }
    })
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("conformance.kube.rs", "v1", "Widget"),
        "widgets",
    )
}

fn widget(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "conformance.kube.rs/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"title": name}
    }))
    .expect("a Widget object")
}

/// Deletes the widgets CRD left by an earlier run that failed half-way: releases every widget
/// still held by a finalizer, deletes the CRD and waits until it is gone.
async fn remove_widgets_crd(client: kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if !matches!(crds.get_opt(WIDGETS).await, Ok(Some(_))) {
        return;
    }
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &widget_resource());
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    for held in all
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let (Some(ns), Some(name)) = (held.metadata.namespace, held.metadata.name) {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns, &widget_resource());
            let _ = api.patch(&name, &PatchParams::default(), &release).await;
        }
    }
    let _ = crds.delete(WIDGETS, &DeleteParams::default()).await;
    for _ in 0..300 {
        if matches!(crds.get_opt(WIDGETS).await, Ok(None)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_honouring_finalizers_then_stops_serving_them() {
    let target = Target::new().await;
    let client = target.client();
    // On a real cluster: no leftover of an earlier run, and none of this one whatever happens.
    remove_widgets_crd(client.clone()).await;
    let _cleanup = target.teardown(remove_widgets_crd);
    apply_crd(&client, widget_crd()).await;
    let ns = target.namespace().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &widget_resource());
    widgets
        .create(&PostParams::default(), &widget("plain"))
        .await
        .unwrap();
    let mut held = widget("held");
    held.metadata.finalizers = Some(vec!["kube.rs/cleanup".into()]);
    widgets.create(&PostParams::default(), &held).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get(WIDGETS).await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete(WIDGETS, &DeleteParams::default())
        .await
        .unwrap();
    eventually("held widget marked for deletion", || async {
        widgets
            .get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    // A real apiserver deletes the CRD's objects from a controller, in no promised order.
    eventually("plain widget deleted", || async {
        widgets.get_opt("plain").await.unwrap().is_none()
    })
    .await;
    let status = api_error(widgets.create(&PostParams::default(), &widget("new")).await);
    assert_eq!(status.code, 405);
    assert!(crds.get_opt(WIDGETS).await.unwrap().is_some());
    widgets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("CRD gone", || async {
        crds.get_opt(WIDGETS).await.unwrap().is_none()
    })
    .await;
    eventually("widgets no longer served (404)", || async {
        matches!(
            widgets.list(&ListParams::default()).await,
            Err(kube::Error::Api(status)) if status.code == 404
        )
    })
    .await;
}
