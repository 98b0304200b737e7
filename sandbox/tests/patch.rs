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

/// A failed `test` operation: evanphx/json-patch's `Apply` error becomes
/// `errors.NewGenericServerResponse(422, "", GroupResource{}, "", err, 0, false)` in `patch.go`
/// `jsonPatcher.applyJSPatch`, so the Status has the generic message, reason `Invalid`, and
/// empty `details` (no cause: `isUnexpectedResponse` is false); nothing is written.
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
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "the server rejected our request due to an error in our request"
    );
    let details = status.details.expect("an (empty) details object");
    assert!(details.causes.is_empty(), "{details:?}");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["k"], "v");
}

/// The other JSON patch failures: a path that does not exist (`replace`, `remove`) and an
/// unknown `op` fail while applying, the same 422 as a failed test (`applyJSPatch`); a body
/// that is no array of operations fails the strict decoding first (`kjson.UnmarshalStrict`
/// into `[]jsonPatchOp`, the default `fieldValidation` being `Warn`): 400
/// `error decoding patch: ...`.
#[tokio::test]
async fn json_patch_failures_are_422_when_applied_and_400_when_not_decodable() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    for ops in [
        json!([{"op": "replace", "path": "/data/missing", "value": "v"}]),
        json!([{"op": "remove", "path": "/metadata/labels/missing"}]),
        json!([{"op": "frobnicate", "path": "/data/k"}]),
    ] {
        let request = http::Request::patch(format!("/api/v1/namespaces/{}/configmaps/x", &*ns))
            .header("Content-Type", "application/json-patch+json")
            .body(ops.to_string().into_bytes())
            .unwrap();
        let status = api_error(target.client().request_text(request).await);
        assert_eq!(status.code, 422, "{ops}: {status:?}");
        assert_eq!(
            status.message,
            "the server rejected our request due to an error in our request"
        );
        assert!(status.details.is_some_and(|d| d.causes.is_empty()));
    }
    let request = http::Request::patch(format!("/api/v1/namespaces/{}/configmaps/x", &*ns))
        .header("Content-Type", "application/json-patch+json")
        .body(br#"[{"op": "add", "path": 7}]"#.to_vec())
        .unwrap();
    let status = api_error(target.client().request_text(request).await);
    assert_eq!(status.code, 400, "{status:?}");
    assert_eq!(status.reason, "BadRequest");
    assert_eq!(
        status.message,
        "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string"
    );
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["k"], "v");
}

/// Custom resources accept JSON, merge and apply patches only (`crdHandler`'s
/// `supportedTypes`); the patch handler's `negotiation.NewUnsupportedMediaTypeError` lists them.
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
    assert_eq!(status.reason, "UnsupportedMediaType");
    assert_eq!(
        status.message,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

/// Apply to a missing object creates it (`patch.go` `applyPatcher.createNewObject`, with
/// `forceAllowCreate`); a second apply that changes the spec bumps the custom resource's
/// generation (the CR strategy's `PrepareForUpdate`).
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

/// An apply changing a field another applier owns is 409: `managedfields/internal/conflict.go`
/// `NewConflictError` (message `getConflictMessage`, one `FieldManagerConflict` cause per
/// field with `printManager`'s description; `errors.NewApplyConflict` puts no name, group or
/// kind in `details`); `force=true` takes the field over.
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
    assert_eq!(
        status.message,
        r#"Apply failed with 1 conflict: conflict with "alice": .spec.title"#
    );
    let details = status.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(details.causes.len(), 1);
    assert_eq!(details.causes[0].reason, "FieldManagerConflict");
    assert_eq!(details.causes[0].message, r#"conflict with "alice""#);
    assert_eq!(details.causes[0].field, ".spec.title");
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

/// The exact JSON patches of `kube::runtime::finalizer`: a `test` of the missing finalizers
/// against null, which evanphx/json-patch v4 accepts (a missing value "is" null in
/// `Patch.test`), then add; remove guarded by a `test` of the finalizer itself, which fails
/// (422, `applyJSPatch`) once it is gone.
#[tokio::test]
async fn kube_finalizer_helper_patches_add_and_remove_finalizers() {
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

/// Apply through `/status` changes only status (the status strategy's `PrepareForUpdate`
/// keeps the live spec) and does not bump generation; the same apply again is a no-op that
/// keeps the resourceVersion (etcd3 `GuaranteedUpdate` skips equal bytes).
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

/// A status apply without `metadata` (as controller-rs sends it) works: `applyPatcher` merges
/// the applied configuration into the live object (`FieldManager.Apply`), whose name the
/// patch handler's `checkName` then finds.
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
