//! The sandbox, mirroring the apiserver. CustomResourceDefinitions: schema validation, pruning and defaulting, and the CRD lifecycle.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`). The CRD lifecycle
//! test deletes a CRD of its own with a unique name (`widgets<hex>.conformance.kube.rs`),
//! never the Document CRD.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Target, api_error, apply_crd, document, documents, eventually};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

/// Mirrors the CRD's structural schema at work in the custom resource strategy
/// (`apiextensions-apiserver/pkg/registry/customresource/validator.go`, kube-openapi's
/// `minLength` wording `... in body should be at least 1 chars long`), pruning of undeclared
/// fields and defaulting (`structuraldefaulting`) in the CR decoder.
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

/// A `/status` write is validated against the same schema (the CR status strategy's
/// `ValidateUpdate`): a type mismatch is `Invalid value: "string": ... must be of type boolean`.
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
    assert_eq!(
        status.message,
        r#"Document.kube.rs "x" is invalid: status.hidden: Invalid value: "string": status.hidden in body must be of type boolean: "string""#
    );
}

/// A widget of the scratch CRD `crd`.
fn widget(crd: &CustomResourceDefinition, name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "conformance.kube.rs/v1",
        "kind": crd.spec.names.kind,
        "metadata": {"name": name},
        "spec": {"title": name}
    }))
    .expect("a widget object")
}

/// Releases every object of the scratch CRD still held by a finalizer and deletes the CRD, so
/// that a failed run leaves nothing behind on a real cluster.
async fn remove_scratch_crd(client: kube::Client, crd: CustomResourceDefinition) {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &common::scratch_resource(&crd));
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    for held in all
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let (Some(ns), Some(name)) = (held.metadata.namespace, held.metadata.name) {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns, &common::scratch_resource(&crd));
            let _ = api.patch(&name, &PatchParams::default(), &release).await;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let _ = crds.delete(&crd.name_any(), &DeleteParams::default()).await;
}

/// The CRD cleanup finalizer (`apiextensions-apiserver/pkg/controller/finalizer`
/// `CRDFinalizer`) deletes every custom resource, waiting for their own finalizers; meanwhile
/// `crdHandler.serveResource` refuses creates with its 405 (`<verb> not allowed while custom
/// resource definition is terminating`); once the CRD is gone its path falls through to the
/// not-found handler (404).
#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_honouring_finalizers_then_stops_serving_them() {
    let target = Target::new().await;
    let client = target.client();
    // A CRD of this test's own, with a unique name: nothing else depends on it, and parallel
    // runs on one cluster do not meet. On a real cluster it goes whatever happens.
    let scratch = common::scratch_crd("widgets");
    let name = scratch.name_any();
    let _cleanup = target.teardown({
        let scratch = scratch.clone();
        move |client| remove_scratch_crd(client, scratch)
    });
    apply_crd(&client, serde_json::to_value(&scratch).unwrap()).await;
    let ns = target.namespace().await;
    let resource = common::scratch_resource(&scratch);
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    widgets
        .create(&PostParams::default(), &widget(&scratch, "plain"))
        .await
        .unwrap();
    let mut held = widget(&scratch, "held");
    held.metadata.finalizers = Some(vec!["kube.rs/cleanup".into()]);
    widgets.create(&PostParams::default(), &held).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get(&name).await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
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
    let status = api_error(
        widgets
            .create(&PostParams::default(), &widget(&scratch, "new"))
            .await,
    );
    assert_eq!(status.code, 405);
    assert_eq!(status.reason, "MethodNotAllowed");
    assert_eq!(
        status.message,
        "create not allowed while custom resource definition is terminating"
    );
    let details = status.details.expect("NewMethodNotSupported's details");
    assert_eq!(
        (details.group.as_str(), details.kind.as_str()),
        ("conformance.kube.rs", scratch.spec.names.plural.as_str())
    );
    assert!(crds.get_opt(&name).await.unwrap().is_some());
    widgets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("CRD gone", || async {
        crds.get_opt(&name).await.unwrap().is_none()
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
