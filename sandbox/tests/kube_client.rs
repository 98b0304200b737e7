//! The sandbox driven through a real `kube::Client`: each test names the apiserver behaviour
//! it mirrors.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{api_error, document, documents, install_crd};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;

fn configmap(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_sets_server_owned_metadata_and_get_returns_it() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let created = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    // Real apiservers do not track generation for configmaps.
    assert_eq!(meta.generation, None);
    let fetched = cms.get("a").await.unwrap();
    assert_eq!(fetched.metadata.resource_version, meta.resource_version);
    assert_eq!(fetched.data, created.data);
}

#[tokio::test]
async fn default_namespaces_exist_at_start() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let nss: Api<Namespace> = Api::all(sb.client().unwrap());
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

#[tokio::test]
async fn creating_an_existing_name_is_409_already_exists() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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

#[tokio::test]
async fn creating_in_a_missing_namespace_is_404_for_the_namespace() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sb.client().unwrap(), "nope");
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("x", json!({})))
            .await,
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "namespaces \"nope\" not found");
}

#[tokio::test]
async fn getting_a_missing_custom_resource_is_404_with_the_qualified_name() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let status = api_error(documents(&client, "default").get("samuel").await);
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "documents.kube.rs \"samuel\" not found");
}

#[tokio::test]
async fn requests_without_the_token_are_401_unauthorized() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let mut config = sb.kube_config();
    config.auth_info = kube::config::AuthInfo::default();
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let status = api_error(cms.list(&ListParams::default()).await);
    assert_eq!(status.code, 401);
}

#[tokio::test]
async fn update_with_a_stale_resource_version_is_409_conflict() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_the_resource_version() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let created = cms
        .create(&PostParams::default(), &configmap("x", json!({"a": "b"})))
        .await
        .unwrap();
    let revision = sb.revision();
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
    assert_eq!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(sb.revision(), revision);
}

#[tokio::test]
async fn generation_starts_at_1_and_bumps_only_on_spec_changes() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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

#[tokio::test]
async fn the_status_subresource_changes_only_status_and_the_main_resource_ignores_status() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
async fn delete_with_a_finalizer_marks_the_object_until_the_finalizer_is_removed() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
    assert!(
        status
            .message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        status.message
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

#[tokio::test]
async fn a_json_patch_whose_test_operation_fails_is_422() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
async fn list_filters_by_label_selector_and_pages_with_continue_tokens() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    for i in 0..5 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm{i}"), json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    let web = cms
        .list(&ListParams::default().labels("tier in (web)"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 3);
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().unwrap();
    let second = cms
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.items[0].metadata.name.as_deref(), Some("cm2"));
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm4"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    sb.compact_history();
    let status = api_error(
        cms.list(&ListParams::default().limit(2).continue_token(&token))
            .await,
    );
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
}

#[tokio::test]
async fn watch_replays_changes_after_the_given_resource_version() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let stream = cms.watch(&WatchParams::default(), &rv).await.unwrap();
    let events: Vec<_> = stream.take(3).try_collect().await.unwrap();
    assert!(matches!(events[0], WatchEvent::Added(_)));
    assert!(matches!(events[1], WatchEvent::Modified(_)));
    assert!(matches!(events[2], WatchEvent::Deleted(_)));
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_gets_a_410_error_event() {
    let sb = sandbox::Sandbox::builder()
        .watch_history(2)
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    for i in 0..4 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("c{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let stream = cms.watch(&WatchParams::default(), "1").await.unwrap();
    let events: Vec<_> = stream.take(1).try_collect().await.unwrap();
    match &events[0] {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
            assert!(
                status.message.starts_with("too old resource version: 1 ("),
                "{}",
                status.message
            );
        }
        other => panic!("expected an error event, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_sends_objects_leaving_the_label_selector_as_deleted() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    cms.create(&PostParams::default(), &configmap("a", json!({"app": "x"})))
        .await
        .unwrap();
    let rv = sb.revision().to_string();
    let stream = cms
        .watch(&WatchParams::default().labels("app=x"), &rv)
        .await
        .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    let events: Vec<_> = stream.take(1).try_collect().await.unwrap();
    assert!(matches!(events[0], WatchEvent::Deleted(_)), "{events:?}");
}

#[tokio::test]
async fn streaming_lists_end_the_initial_events_with_a_bookmark() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("c{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let mut stream = watcher(cms.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut seen = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event {
            watcher::Event::InitApply(_) => seen += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, 3);
    cms.create(&PostParams::default(), &configmap("late", json!({})))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, watcher::Event::Apply(cm) if cm.metadata.name.as_deref() == Some("late"))
    );
}

#[tokio::test]
async fn watch_with_bookmarks_receives_periodic_bookmarks() {
    let sb = sandbox::Sandbox::builder()
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let rv = sb.revision().to_string();
    let stream = cms
        .watch(
            &WatchParams {
                bookmarks: true,
                ..Default::default()
            },
            &rv,
        )
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(5),
        stream.take(1).try_collect::<Vec<_>>(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(events[0], WatchEvent::Bookmark(_)));
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_and_stops_serving_them() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
    docs.create(&PostParams::default(), &document("x", "one"))
        .await
        .unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
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
    let status = api_error(docs.list(&ListParams::default()).await);
    assert_eq!(status.code, 404);
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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
    for _ in 0..50 {
        if cms.get_opt("dependent").await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("dependent was not garbage collected");
}

#[tokio::test]
async fn kube_event_recorder_publishes_events() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
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
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().map(|s| s.count), Some(2));
}

async fn eventually<F, Fut>(what: &str, mut check: F)
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

fn owned_by(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name,
            "uid": owner.metadata.uid, "blockOwnerDeletion": block
        }]}
    }))
    .unwrap()
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents_then_removes_the_owner() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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

#[tokio::test]
async fn orphan_deletion_removes_the_owner_reference_and_keeps_dependents() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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

#[tokio::test]
async fn deleting_a_namespace_terminates_it_and_removes_its_contents() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let mut held = configmap("held", json!({}));
    held.metadata.finalizers = Some(vec!["test/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    nss.delete("team", &DeleteParams::default()).await.unwrap();
    let terminating = nss.get("team").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let status = api_error(
        cms.create(&PostParams::default(), &configmap("new", json!({})))
            .await,
    );
    assert_eq!(status.code, 403);
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("namespace gone", || async {
        nss.get_opt("team").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn server_side_apply_conflicts_with_another_manager_unless_forced() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
async fn leases_are_created_on_update_for_leader_election() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::default_namespaced(sb.client().unwrap());
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

#[tokio::test]
async fn dry_run_validates_and_answers_without_storing() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let revision = sb.revision();
    let created = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &configmap("a", json!({})),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("a"));
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert_eq!(sb.revision(), revision);
}

#[tokio::test]
async fn names_and_labels_are_validated_like_object_meta() {
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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

#[tokio::test]
async fn kube_finalizer_helper_patches_add_and_remove_finalizers() {
    // The exact JSON patches of `kube::runtime::finalizer`: a `test` of the missing
    // finalizers against null (which the real server accepts), then add; remove guarded by a
    // `test` of the finalizer itself.
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
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
    let sb = sandbox::Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    install_crd(&client).await;
    let docs = documents(&client, "default");
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
async fn metadata_watchers_receive_partial_object_metadata() {
    use kube::core::PartialObjectMeta;
    let sb = sandbox::Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let metas: Api<PartialObjectMeta<ConfigMap>> = Api::default_namespaced(sb.client().unwrap());
    cms.create(&PostParams::default(), &configmap("a", json!({"x": "y"})))
        .await
        .unwrap();
    let mut stream = watcher(metas, watcher::Config::default()).boxed();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let watcher::Event::InitApply(meta) = event {
            assert_eq!(meta.metadata.name.as_deref(), Some("a"));
            assert_eq!(meta.metadata.labels.unwrap()["x"], "y");
            break;
        }
    }
}
