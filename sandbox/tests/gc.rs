//! The sandbox, mirroring the apiserver. Garbage collection and namespace termination: background, foreground and orphan propagation.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Target, api_error, configmap, eventually, owned_by};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// A background delete of the owner: the garbage collector
/// (`pkg/controller/garbagecollector` `attemptToDeleteItem`) deletes dependents whose owners are all gone.
#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "dependent", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
        ]}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    eventually("dependent garbage collected", || async {
        cms.get_opt("dependent").await.unwrap().is_none()
    })
    .await;
}

/// `attemptToDeleteItem` with a solid owner left: the dependent survives and the GC patches the
/// dangling owner reference away; deleting the last owner collects it.
#[tokio::test]
async fn a_dependent_with_another_live_owner_survives_and_loses_the_dangling_reference() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let first = cms
        .create(&PostParams::default(), &configmap("first", json!({})))
        .await
        .unwrap();
    let second = cms
        .create(&PostParams::default(), &configmap("second", json!({})))
        .await
        .unwrap();
    let dep: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "dep", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "first", "uid": first.metadata.uid},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "second", "uid": second.metadata.uid}
        ]}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("first", &DeleteParams::default()).await.unwrap();
    eventually("dangling reference removed", || async {
        cms.get("dep")
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap_or_default()
            .len()
            == 1
    })
    .await;
    cms.delete("second", &DeleteParams::default())
        .await
        .unwrap();
    eventually("dependent collected", || async {
        cms.get_opt("dep").await.unwrap().is_none()
    })
    .await;
}

/// `propagationPolicy: Foreground`: `Store.Delete` adds the `foregroundDeletion` finalizer
/// (`deletionFinalizersForGarbageCollection`); the GC deletes the blocking dependents and removes
/// the finalizer once they are gone (`processDeletingDependentsItem`).
#[tokio::test]
async fn foreground_deletion_waits_for_dependents_then_removes_the_owner() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    let mut dep = owned_by("dep", &owner, true);
    dep.metadata.finalizers = Some(vec!["test/hold".into()]);
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let deleting = cms.get("owner").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert!(
        deleting
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_owned())
    );
    eventually("dependent marked for deletion", || async {
        cms.get("dep")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    })
    .await;
    assert!(cms.get_opt("owner").await.unwrap().is_some());
    cms.patch(
        "dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("owner deleted", || async {
        cms.get_opt("owner").await.unwrap().is_none()
    })
    .await;
}

/// `propagationPolicy: Orphan`: the `orphan` finalizer; the GC's `orphanDependents` removes
/// the owner reference from each dependent, then the finalizer.
#[tokio::test]
async fn orphan_deletion_removes_the_owner_reference_and_keeps_dependents() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_by("dep", &owner, false))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually("owner deleted", || async {
        cms.get_opt("owner").await.unwrap().is_none()
    })
    .await;
    let dep = cms.get("dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());
}

/// Namespace deletion: the namespace strategy marks it `Terminating` with the `kubernetes`
/// finalizer, the NamespaceLifecycle admission plugin refuses new objects in it, and the namespace
/// controller (`pkg/controller/namespace/deletion`) deletes its contents, then finalizes it.
#[tokio::test]
async fn deleting_a_namespace_terminates_it_and_removes_its_contents() {
    let target = Target::new().await;
    let client = target.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    // The guard deletes it too on a real cluster should the test fail half-way.
    let guard = target.namespace().await;
    let team = guard.name().to_owned();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &team);
    let mut held = configmap("held", json!({}));
    held.metadata.finalizers = Some(vec!["test/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    nss.delete(&team, &DeleteParams::default()).await.unwrap();
    let terminating = nss.get(&team).await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("new", json!({})))
            .await,
    );
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "configmaps \"new\" is forbidden: unable to create new content in namespace {team} because it is being terminated"
        )
    );
    let details = status.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("new", "", "configmaps")
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("namespace gone", || async {
        nss.get_opt(&team).await.unwrap().is_none()
    })
    .await;
}
