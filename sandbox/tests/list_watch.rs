//! The sandbox, mirroring the apiserver. Lists and watches through a real `kube::Client` and `kube::runtime::watcher`: selectors, paging,
//! snapshots, replay, 410 Expired, bookmarks and streaming lists.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{ROOT_CA, Target, api_error, configmap, names, ours};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;

#[tokio::test]
async fn list_filters_by_label_selector_and_pages_with_continue_tokens() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
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
}

/// After an etcd compaction past a list's revision, its continue token is 410 Expired
/// (`storage/etcd3/errors.go` `interpretListError`/`handleCompactedErrorForPaging`).
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "compacting etcd on demand is a sandbox hook (a real apiserver compacts every 5 minutes)"
)]
async fn a_continue_token_from_before_a_compaction_is_410_expired() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    target.sandbox_hook().compact_history();
    let status = api_error(
        cms.list(&ListParams::default().limit(2).continue_token(&token))
            .await,
    );
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
}

#[tokio::test]
async fn pages_of_one_list_are_a_consistent_snapshot() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    for name in ["a", "b", "c", "d"] {
        cms.create(&PostParams::default(), &configmap(name, json!({})))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    cms.delete("c", &DeleteParams::default()).await.unwrap();
    cms.create(&PostParams::default(), &configmap("e", json!({})))
        .await
        .unwrap();
    let second = cms
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(second.items), ["c", "d"]);
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let exact = cms
        .list(&ListParams {
            resource_version: first.metadata.resource_version.clone(),
            version_match: Some(kube::api::VersionMatch::Exact),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ours(exact.items).len(), 4);
}

#[tokio::test]
async fn watch_replays_changes_after_the_given_resource_version() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
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
    // A real apiserver's watch cache has long forgotten resourceVersion 1 too.
    let target = Target::with_sandbox(|sandbox| sandbox.watch_history(2)).await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
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
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let created = cms
        .create(&PostParams::default(), &configmap("a", json!({"app": "x"})))
        .await
        .unwrap();
    let rv = created
        .metadata
        .resource_version
        .expect("a created object has a resourceVersion");
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
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
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
            watcher::Event::InitApply(cm) if cm.metadata.name.as_deref() != Some(ROOT_CA) => {
                seen += 1
            }
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
    let target =
        Target::with_sandbox(|sandbox| sandbox.bookmark_interval(Duration::from_millis(200))).await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let rv = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("a list has a resourceVersion");
    // A real apiserver sends a bookmark about once a minute.
    let within = if target.is_sandbox() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(90)
    };
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
    let events: Vec<_> = tokio::time::timeout(within, stream.take(1).try_collect::<Vec<_>>())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(events[0], WatchEvent::Bookmark(_)));
}

#[tokio::test]
async fn metadata_watchers_receive_partial_object_metadata() {
    use kube::core::PartialObjectMeta;
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let metas: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(target.client(), &ns);
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
        if let watcher::Event::InitApply(meta) = event
            && meta.metadata.name.as_deref() != Some(ROOT_CA)
        {
            assert_eq!(meta.metadata.name.as_deref(), Some("a"));
            assert_eq!(meta.metadata.labels.unwrap()["x"], "y");
            break;
        }
    }
}
