//! The sandbox, mirroring the apiserver. Patches through a real `kube::Client`: JSON patch (and kube's finalizer helper), merge,
//! strategic merge and server-side apply.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Target, api_error, configmap, document, documents};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn a_json_patch_whose_test_operation_fails_is_422() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/k", "value": "other"},
        {"op": "replace", "path": "/data/k", "value": "new"}
    ]))
    .unwrap();
    let status = api_error(
        cms.patch("x", &PatchParams::default(), &Patch::<()>::Json(patch))
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["k"], "v");
}

#[tokio::test]
async fn strategic_merge_patch_is_415_for_custom_resources() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let status = api_error(
        docs.patch(
            "x",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"title": "t"}})),
        )
        .await,
    );
    assert_eq!(status.code, 415);
}

#[tokio::test]
async fn server_side_apply_creates_a_missing_object_and_updates_it() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let params = PatchParams::apply("test-manager");
    let doc = json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"},
        "spec": {"title": "one", "content": "c"}});
    let created = docs.patch("x", &params, &Patch::Apply(&doc)).await.unwrap();
    assert_eq!(created.data["spec"]["title"], "one");
    let doc = json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"},
        "spec": {"title": "two", "content": "c"}});
    let updated = docs.patch("x", &params, &Patch::Apply(&doc)).await.unwrap();
    assert_eq!(updated.data["spec"]["title"], "two");
    assert_eq!(updated.metadata.generation, Some(2));
}

#[tokio::test]
async fn server_side_apply_conflicts_with_another_manager_unless_forced() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let doc = |title: &str| {
        json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"},
            "spec": {"title": title, "content": "c"}})
    };
    docs.patch("x", &PatchParams::apply("alice"), &Patch::Apply(doc("one")))
        .await
        .unwrap();
    let status = api_error(
        docs.patch("x", &PatchParams::apply("bob"), &Patch::Apply(doc("two")))
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.starts_with("Apply failed with 1 conflict"),
        "{}",
        status.message
    );
    let forced = docs
        .patch(
            "x",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(doc("two")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["title"], "two");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"bob".to_owned()), "{managers:?}");
}

#[tokio::test]
async fn kube_finalizer_helper_patches_add_and_remove_finalizers() {
    // The exact JSON patches of `kube::runtime::finalizer`: a `test` of the missing
    // finalizers against null (which the real server accepts), then add; remove guarded by a
    // `test` of the finalizer itself.
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["kube.rs/cleanup"]}
    ]))
    .unwrap();
    let added = cms
        .patch("x", &PatchParams::default(), &Patch::<()>::Json(add))
        .await
        .unwrap();
    assert_eq!(
        added.metadata.finalizers,
        Some(vec!["kube.rs/cleanup".to_owned()])
    );
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "kube.rs/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]))
    .unwrap();
    let removed = cms
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::<()>::Json(remove.clone()),
        )
        .await
        .unwrap();
    assert_eq!(removed.metadata.finalizers.unwrap_or_default().len(), 0);
    let status = api_error(
        cms.patch("x", &PatchParams::default(), &Patch::<()>::Json(remove))
            .await,
    );
    assert_eq!(status.code, 422);
}

#[tokio::test]
async fn server_side_apply_to_the_status_subresource_changes_only_status() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let status = json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"},
        "spec": {"title": "ignored", "content": "c"}, "status": {"hidden": true}});
    let applied = docs
        .patch_status(
            "x",
            &PatchParams::apply("doc-controller").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["status"]["hidden"], true);
    assert_eq!(applied.data["spec"]["title"], "one");
    assert_eq!(applied.metadata.generation, Some(1));
    let again = docs
        .patch_status(
            "x",
            &PatchParams::apply("doc-controller").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
}

#[tokio::test]
async fn status_apply_without_metadata_like_controller_rs_works() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let status =
        json!({"apiVersion": "kube.rs/v1", "kind": "Document", "status": {"hidden": false}});
    let patched = docs
        .patch_status(
            "x",
            &PatchParams::apply("cntrlr").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["hidden"], false);
}
