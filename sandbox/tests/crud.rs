//! The sandbox, mirroring the apiserver. CRUD through a real `kube::Client`: server-owned metadata, optimistic concurrency, no-op writes,
//! generation, the status subresource, finalizers, dry runs and Status errors.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{Target, api_error, configmap, document, documents, names, unique_name};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// `rest.BeforeCreate` / `FillObjectMetaSystemFields` set uid and creationTimestamp; the
/// ConfigMap strategy tracks no generation; a get returns the stored object.
#[tokio::test]
async fn create_sets_server_owned_metadata_and_get_returns_it() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let created = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.namespace.as_deref(), Some(&*ns));
    // Real apiservers do not track generation for configmaps.
    assert_eq!(meta.generation, None);
    let fetched = cms.get("a").await.unwrap();
    assert_eq!(fetched.metadata.resource_version, meta.resource_version);
    assert_eq!(fetched.data, created.data);
}

/// The namespaces the apiserver's bootstrap controller (`pkg/controlplane/controller/systemnamespaces`) creates.
#[tokio::test]
async fn default_namespaces_exist_at_start() {
    let target = Target::new().await;
    let nss: Api<Namespace> = Api::all(target.client());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_owned()));
    assert!(names.contains(&"kube-system".to_owned()));
}

/// The etcd store's `Create` fails with `storage.ErrCodeKeyExists`, which
/// `storeerr.InterpretCreateError` turns into `errors.NewAlreadyExists` (`configmaps "x" already exists`).
#[tokio::test]
async fn creating_an_existing_name_is_409_already_exists() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("x", json!({})))
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "AlreadyExists");
    assert_eq!(status.message, "configmaps \"x\" already exists");
}

/// The NamespaceLifecycle admission plugin (`plugin/pkg/admission/namespace/lifecycle`)
/// answers `errors.NewNotFound(namespaces, ns)` for a namespace that does not exist.
#[tokio::test]
async fn creating_in_a_missing_namespace_is_404_for_the_namespace() {
    let target = Target::new().await;
    let missing = unique_name("conf-missing");
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &missing);
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("x", json!({})))
            .await,
    );
    assert_eq!(status.code, 404);
    assert_eq!(
        status.message,
        format!("namespaces \"{missing}\" not found")
    );
}

/// `storeerr.InterpretGetError` with the request's group resource
/// (`Store.qualifiedResourceFromContext`): `documents.kube.rs "samuel" not found`.
#[tokio::test]
async fn getting_a_missing_custom_resource_is_404_with_the_qualified_name() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let status = api_error(documents(&target.client(), &ns).get("samuel").await);
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "documents.kube.rs \"samuel\" not found");
}

/// A bearer token that authenticates nobody is 401 on every apiserver: the authentication
/// filter (`endpoints/filters/authentication.go` `withAuthentication`) answers
/// `responsewriters.Unauthorized` when the token authenticator rejects the token, whatever the
/// anonymous setting.
#[tokio::test]
async fn requests_with_a_wrong_token_are_401_unauthorized() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let status = list_status_with(&target, &ns, wrong_token()).await;
    assert_eq!(status.code, 401);
    assert_eq!(status.reason, "Unauthorized");
    assert_eq!(status.message, "Unauthorized");
}

/// Without credentials the sandbox answers 401, as a kube-apiserver with
/// `--anonymous-auth=false` does. A real cluster with the default `--anonymous-auth=true`
/// instead authenticates `system:anonymous` and RBAC answers 403 (`filters/authorization.go`),
/// so which one a cluster gives is its configuration, not something this suite can assert.
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "401 or system:anonymous's 403 without credentials depends on the cluster's --anonymous-auth"
)]
async fn requests_without_credentials_are_401_on_the_sandbox() {
    let target = Target::new().await;
    target.sandbox_hook();
    let ns = target.namespace().await;
    let status = list_status_with(&target, &ns, kube::config::AuthInfo::default()).await;
    assert_eq!(status.code, 401);
}

fn wrong_token() -> kube::config::AuthInfo {
    kube::config::AuthInfo {
        token: Some("not-a-valid-token".to_owned().into()),
        ..Default::default()
    }
}

/// The Status of a ConfigMap list in `ns` sent with these credentials.
async fn list_status_with(
    target: &Target,
    ns: &str,
    auth_info: kube::config::AuthInfo,
) -> kube::core::Status {
    let mut config = target.kube_config();
    config.auth_info = auth_info;
    let client = kube::Client::try_from(config).expect("a client");
    let cms: Api<ConfigMap> = Api::namespaced(client, ns);
    api_error(cms.list(&ListParams::default()).await)
}

/// A PUT whose resourceVersion is not the stored one fails the etcd store's
/// `GuaranteedUpdate` precondition; `errors.NewConflict` with `registry.OptimisticLockErrorMsg`.
#[tokio::test]
async fn update_with_a_stale_resource_version_is_409_conflict() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let created = docs
        .create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let mut first = created.clone();
    first.data["spec"]["title"] = json!("two");
    docs.replace("x", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.data["spec"]["title"] = json!("three");
    let status = api_error(docs.replace("x", &PostParams::default(), &stale).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on documents.kube.rs \"x\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

/// A replace or patch that changes nothing keeps the resourceVersion: the registry store's
/// `GuaranteedUpdate` (`storage/etcd3/store.go`) skips the etcd write when the new object's
/// encoding equals the stored bytes (`!origState.stale && bytes.Equal(data, origState.data)`).
#[tokio::test]
async fn a_write_that_changes_nothing_keeps_the_resource_version() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let (created, replaced, patched) = noop_writes(&cms).await;
    assert_eq!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
}

/// The same no-op writes do not advance the sandbox's global revision either (etcd's revision
/// does not move without a write).
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "the global revision counter is the sandbox's; a real cluster's moves with other clients' writes"
)]
async fn a_write_that_changes_nothing_keeps_the_global_revision() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let sb = target.sandbox_hook();
    let created = cms
        .create(&PostParams::default(), &configmap("x", json!({"a": "b"})))
        .await
        .unwrap();
    let revision = sb.revision();
    assert_eq!(
        created.metadata.resource_version,
        Some(revision.to_string())
    );
    cms.replace("x", &PostParams::default(), &created)
        .await
        .unwrap();
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    assert_eq!(sb.revision(), revision);
}

/// Creates ConfigMap `x`, then replaces it unchanged and merge-patches it with its own data.
async fn noop_writes(cms: &Api<ConfigMap>) -> (ConfigMap, ConfigMap, ConfigMap) {
    let created = cms
        .create(&PostParams::default(), &configmap("x", json!({"a": "b"})))
        .await
        .unwrap();
    let replaced = cms
        .replace("x", &PostParams::default(), &created)
        .await
        .unwrap();
    let patched = cms
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();
    (created, replaced, patched)
}

/// A PUT's `metadata.uid` is a precondition (`rest.defaultUpdatedObjectInfo.Preconditions`):
/// the etcd store's `GuaranteedUpdate` checks it first, and a mismatch is a 409 `Precondition
/// failed` (`storage.NewInvalidObjError` through `InterpretUpdateError`). A PATCH carries no
/// such precondition, so changing the uid fails `ValidateObjectMetaUpdate` instead: 422.
#[tokio::test]
async fn a_foreign_uid_is_a_409_precondition_on_put_and_a_422_immutable_field_on_patch() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let created = cms
        .create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    let real = created.metadata.uid.clone().unwrap();
    let foreign = "00000000-0000-0000-0000-000000000000";
    let mut other = created.clone();
    other.metadata.uid = Some(foreign.to_owned());
    let status = api_error(cms.replace("x", &PostParams::default(), &other).await);
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(
        status.message,
        format!(
            "Operation cannot be fulfilled on configmaps \"x\": Precondition failed: UID in precondition: {foreign}, UID in object meta: {real}"
        )
    );
    let status = api_error(
        cms.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"uid": foreign}})),
        )
        .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(
        status.message,
        format!(
            "ConfigMap \"x\" is invalid: metadata.uid: Invalid value: \"{foreign}\": field is immutable"
        )
    );
}

/// The custom resource strategy's `PrepareForCreate` (generation 1) and `PrepareForUpdate`
/// (bumped when anything but metadata and status changes; `/status` writes never bump it).
#[tokio::test]
async fn generation_starts_at_1_and_bumps_only_on_spec_changes() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let created = docs
        .create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = docs
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let status = docs
        .patch_status(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hidden": true}})),
        )
        .await
        .unwrap();
    assert_eq!(status.metadata.generation, Some(1));
    let changed = docs
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"title": "two"}})),
        )
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
}

/// With the status subresource enabled the CR strategy's `PrepareForUpdate` keeps the live
/// status on main-resource writes and the status strategy keeps the live spec on `/status` writes.
#[tokio::test]
async fn the_status_subresource_changes_only_status_and_the_main_resource_ignores_status() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let after_status = docs
        .patch_status(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"title": "ignored"}, "status": {"hidden": true}})),
        )
        .await
        .unwrap();
    assert_eq!(after_status.data["spec"]["title"], "one");
    assert_eq!(after_status.data["status"]["hidden"], true);
    let after_main = docs
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"title": "two"}, "status": {"hidden": false}})),
        )
        .await
        .unwrap();
    assert_eq!(after_main.data["spec"]["title"], "two");
    assert_eq!(after_main.data["status"]["hidden"], true);
}

/// `Store.Delete` with finalizers: `rest.BeforeDelete` sets `deletionTimestamp`,
/// `deletionGracePeriodSeconds: 0` and bumps the generation; `ValidateNoNewFinalizers` refuses new
/// finalizers on a deleting object (the extra ones printed `%#v`, sorted); removing the last
/// finalizer deletes it (`Store.Update` → `deleteWithoutFinalizers`).
#[tokio::test]
async fn delete_with_a_finalizer_marks_the_object_until_the_finalizer_is_removed() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = documents(&target.client(), &ns);
    let mut doc = document("x", "one");
    doc.metadata.finalizers = Some(vec!["kube.rs/cleanup".into()]);
    docs.create(&PostParams::default(), &doc).await.unwrap();
    docs.delete("x", &DeleteParams::default()).await.unwrap();
    let deleting = docs.get("x").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(deleting.metadata.generation, Some(2));

    let add = json!({"metadata": {"finalizers": ["kube.rs/cleanup", "other"]}});
    let status = api_error(
        docs.patch("x", &PatchParams::default(), &Patch::Merge(add))
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        r#"Document.kube.rs "x" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"other"}"#
    );

    docs.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(docs.get("x").await).code, 404);
}

/// The Lease strategy's `AllowCreateOnUpdate` is true, so a PUT of a missing lease creates it
/// (`Store.Update` with `forceAllowCreate`), which client-go's and kube's leader election rely on.
#[tokio::test]
async fn leases_are_created_on_update_for_leader_election() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(target.client(), &ns);
    let lease: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(json!({
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    leases
        .replace("leader", &PostParams::default(), &lease)
        .await
        .unwrap();
    assert_eq!(
        leases
            .get("leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("me")
    );
}

/// `?dryRun=All` runs the whole create (defaulting, validation, admission) and answers the
/// object without storing it: the registry store's `Create` passes `dryrun.IsDryRun` to
/// `storage.Create`, and `DryRunnableStorage` (`registry/generic/registry/dryrun.go`) then
/// only checks that the key is free.
#[tokio::test]
async fn dry_run_validates_and_answers_without_storing() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let created = dry_run_create(&cms).await;
    assert_eq!(created.metadata.name.as_deref(), Some("a"));
    assert!(cms.get_opt("a").await.unwrap().is_none());
}

/// A dry run does not advance the sandbox's global revision (nothing reaches etcd).
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "the global revision counter is the sandbox's; a real cluster's moves with other clients' writes"
)]
async fn dry_run_keeps_the_global_revision() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let revision = target.sandbox_hook().revision();
    dry_run_create(&cms).await;
    assert_eq!(target.sandbox_hook().revision(), revision);
}

async fn dry_run_create(cms: &Api<ConfigMap>) -> ConfigMap {
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &configmap("a", json!({})),
    )
    .await
    .unwrap()
}

/// `ValidateObjectMeta` (`apimachinery/pkg/api/validation/objectmeta.go`): the name is a DNS-1123
/// subdomain (`NameIsDNSSubdomain`), label keys are qualified names (`ValidateLabels`).
#[tokio::test]
async fn names_and_labels_are_validated_like_object_meta() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("Bad_Name", json!({})))
            .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status.message.starts_with(
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ),
        "{}",
        status.message
    );
    let status = api_error(
        cms.create(
            &PostParams::default(),
            &configmap("ok", json!({"bad key": "v"})),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("metadata.labels: Invalid value: \"bad key\""),
        "{}",
        status.message
    );
}

/// `Store.DeleteCollection` lists with the selector and deletes each match.
#[tokio::test]
async fn delete_collection_deletes_the_selected_objects() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        cms.create(
            &PostParams::default(),
            &configmap(name, json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .unwrap();
    let left = names(cms.list(&ListParams::default()).await.unwrap().items);
    assert_eq!(left, ["c"]);
}

/// About the sandbox itself (no apiserver counterpart): it starts one whatever the target.
#[tokio::test]
async fn dropping_the_sandbox_stops_the_server_and_removes_its_kubeconfig() {
    // About the sandbox itself; it starts one whatever the target.
    let sb = kube_apiserver_sandbox::Sandbox::start().await.unwrap();
    let path = sb.kubeconfig_path().to_owned();
    assert!(path.exists());
    assert!(sb.url().starts_with("https://127.0.0.1:"));
    let addr = sb.url().trim_start_matches("https://").to_owned();
    drop(sb);
    // The temporary directory goes with the drop; the server task ends a moment later.
    assert!(!path.exists());
    common::eventually("the server stops listening", || {
        let addr = addr.clone();
        async move { tokio::net::TcpStream::connect(addr).await.is_err() }
    })
    .await;
}

/// About the sandbox itself: `Sandbox` is `Send + Sync`.
#[test]
fn the_sandbox_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<kube_apiserver_sandbox::Sandbox>();
}

/// kube's `Recorder` creates an events.k8s.io/v1 Event and patches its `series` on a repeat;
/// the Event strategy accepts both (`ValidateEventCreate`/`ValidateEventUpdate`).
#[tokio::test]
async fn kube_event_recorder_publishes_events() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let recorder = Recorder::new(client.clone(), Reporter::from("doc-controller"));
    let reference = kube::Resource::object_ref(&cm, &());
    let event = Event {
        type_: EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Test".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, &ns);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().map(|s| s.count), Some(2));
}

/// `ValidateConfigMapUpdate` (`field is immutable when \`immutable\` is set`, a Forbidden cause
/// on `data`) and `ValidateConfigMap`'s `IsConfigMapKey` for the keys.
#[tokio::test]
async fn immutable_configmaps_reject_data_changes_and_keys_are_validated() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let mut cm = configmap("frozen", json!({}));
    cm.immutable = Some(true);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let status = api_error(
        cms.patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "changed"}})),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    let mut bad = configmap("bad", json!({}));
    bad.data = Some([("bad key".to_owned(), "v".to_owned())].into());
    let status = api_error(cms.create(&PostParams::default(), &bad).await);
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("data[bad key]: Invalid value: \"bad key\": a valid config key"),
        "{}",
        status.message
    );
}

/// `ValidateConfigMap`'s size rule: the values of `data` and `binaryData` together may hold
/// `core.MaxSecretSize` (1 MiB) and no more, reported as `field.TooLong` on `field.NewPath("")`
/// (printed `[]`), on create and on every update that grows past it (`ValidateConfigMapUpdate`
/// validates the new object whole); keys do not count, `binaryData` counts decoded. A key in
/// both maps is invalid on `data[key]`. `ValidateSecret` applies the same limit to a Secret's
/// decoded `data`, reported on `data`.
#[tokio::test]
async fn configmaps_and_secrets_hold_at_most_one_mebibyte_of_values() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    const MAX: usize = 1024 * 1024;
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    // Exactly the limit, split over both maps with long keys: accepted.
    let mut full = configmap("full", json!({}));
    full.data = Some([("a".repeat(253), "x".repeat(MAX / 2))].into());
    full.binary_data = Some([("b".to_owned(), ByteString(vec![0; MAX / 2]))].into());
    cms.create(&PostParams::default(), &full).await.unwrap();
    // One byte more, by a merge patch: refused, and nothing is stored.
    let status = api_error(
        cms.patch(
            "full",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "y"}})),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ConfigMap \"full\" is invalid: []: Too long: may not be more than 1048576 bytes"
    );
    let details = status.details.expect("details");
    assert_eq!(details.causes[0].reason, "FieldValueTooLong");
    assert_eq!(details.causes[0].field, "[]");
    let stored = cms.get("full").await.unwrap().data.unwrap();
    assert!(
        !stored.contains_key("c"),
        "nothing of the refused write is stored"
    );
    // A key in both maps.
    let mut twice = configmap("twice", json!({}));
    twice.data = Some([("k".to_owned(), "text".to_owned())].into());
    twice.binary_data = Some([("k".to_owned(), ByteString(b"bytes".to_vec()))].into());
    let status = api_error(cms.create(&PostParams::default(), &twice).await);
    assert_eq!(
        status.message,
        "ConfigMap \"twice\" is invalid: data[k]: Invalid value: \"k\": duplicate of key present in binaryData"
    );
    // A Secret one byte over, counted decoded.
    let secrets: Api<Secret> = Api::namespaced(target.client(), &ns);
    let secret = |name: &str, bytes: usize| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some([("blob".to_owned(), ByteString(vec![7; bytes]))].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret("fits", MAX))
        .await
        .unwrap();
    let status = api_error(
        secrets
            .create(&PostParams::default(), &secret("over", MAX + 1))
            .await,
    );
    assert_eq!(
        status.message,
        "Secret \"over\" is invalid: data: Too long: may not be more than 1048576 bytes"
    );
}
