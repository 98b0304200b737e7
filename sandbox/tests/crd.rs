//! The sandbox, mirroring the apiserver. CustomResourceDefinitions: schema validation, pruning and defaulting, and the CRD lifecycle.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{api_error, document, documents, eventually, install_crd};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn custom_resources_are_validated_pruned_and_defaulted_by_the_crd_schema() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_honouring_finalizers_then_stops_serving_them() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
    docs.create(&PostParams::default(), &document("plain", "one"))
        .await
        .unwrap();
    let mut held = document("held", "two");
    held.metadata.finalizers = Some(vec!["kube.rs/cleanup".into()]);
    docs.create(&PostParams::default(), &held).await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("documents.kube.rs").await.unwrap();
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete("documents.kube.rs", &DeleteParams::default())
        .await
        .unwrap();
    eventually("held document marked for deletion", || async {
        docs.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    assert!(docs.get_opt("plain").await.unwrap().is_none());
    let status = api_error(
        docs.create(&PostParams::default(), &document("new", "t"))
            .await,
    );
    assert_eq!(status.code, 405);
    assert!(crds.get_opt("documents.kube.rs").await.unwrap().is_some());
    docs.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("CRD gone", || async {
        crds.get_opt("documents.kube.rs").await.unwrap().is_none()
    })
    .await;
    let status = api_error(docs.list(&ListParams::default()).await);
    assert_eq!(status.code, 404);
}
