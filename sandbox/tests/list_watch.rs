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
use serde_json::{Value, json};

/// Label selectors (`labels.Parse`), `limit`/`continue` paging (`storage.PrepareContinueToken`),
/// and the `metadata.name` field selector.
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
/// (`storage/etcd3/errors.go` `interpretListError`/`handleCompactedErrorForPaging`), and the
/// Status carries a token that continues the list at the latest revision.
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "compacting etcd on demand is a sandbox hook (a real apiserver compacts every 5 minutes)"
)]
async fn a_continue_token_from_before_a_compaction_is_410_expired() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    create_config_maps(&cms, "cm", 3).await;
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    target.sandbox_hook().compact_history();
    let status = api_error(
        cms.list(&ListParams::default().limit(2).continue_token(&token))
            .await,
    );
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
    assert!(
        status.message.starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ),
        "{}",
        status.message
    );
    let fresh = status
        .metadata
        .and_then(|m| m.continue_)
        .expect("a continue token in the Status");
    let rest = cms
        .list(&ListParams::default().limit(2).continue_token(&fresh))
        .await
        .unwrap();
    assert_eq!(names(rest.items), ["cm2"]);
}

/// A continue token reads etcd at the first page's revision (etcd3 `resolveGetListRev`), so later
/// pages do not see later writes; `resourceVersionMatch=Exact` reads the same revision.
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

/// A watch from a resourceVersion inside the watch window replays what happened after it
/// (`watchCache.getAllEventsSinceLocked`).
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

/// A watch from `resourceVersion=1` starts before the resource's watch cache was initialised
/// (at apiserver start), so its first event is the 410: `watch_cache.go`
/// `getAllEventsSinceLocked` (`too old resource version: 1 (<listResourceVersion>)`), sent as
/// an in-stream ERROR by `Cacher.Watch`'s `newErrWatcher`.
#[tokio::test]
async fn a_watch_from_resource_version_1_gets_410_expired_first() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let status = first_event_is_expired(&cms, "1").await;
    assert!(
        status.message.starts_with("too old resource version: 1 ("),
        "{}",
        status.message
    );
}

/// A custom resource's watch cache starts when its CRD starts being served
/// (`crdHandler.getOrCreateServingInfoFor` builds a new storage and cacher), so a watch from a
/// resourceVersion handed out before the CRD existed is 410 Expired at once
/// (`getAllEventsSinceLocked`). On a real cluster the fresh cacher may still be initialising,
/// which a watch meets as 429 `storage is (re)initializing`
/// (`Cacher.Watch` with `ResilientWatchCacheInitialization`): that is retried.
#[tokio::test]
async fn a_watch_from_before_its_crd_existed_gets_410_expired_first() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let before = Api::<ConfigMap>::namespaced(target.client(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let crd = common::scratch_crd("conf-watch");
    let _cleanup = common::install_scratch_crd(&target, &crd).await;
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(target.client(), &ns, &common::scratch_resource(&crd));
    let status = first_event_is_expired(&api, &before).await;
    let window_start: u64 = status
        .message
        .strip_prefix(&format!("too old resource version: {before} ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message: {}", status.message));
    assert!(window_start > before.parse::<u64>().unwrap());
}

/// A GET of `path` as JSON.
async fn raw_get(target: &Target, path: &str) -> Result<Value, kube::Error> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let text = target.client().request_text(request).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

/// Opens a watch from `rv` and returns its first event, which must be a 410 Expired ERROR.
async fn first_event_is_expired<K>(api: &Api<K>, rv: &str) -> kube::core::Status
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + common::TIMEOUT;
    loop {
        let stream = match api.watch(&WatchParams::default().timeout(10), rv).await {
            Err(kube::Error::Api(status))
                if status.code == 429 && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            other => other.unwrap(),
        };
        let events: Vec<_> = stream.take(1).try_collect().await.unwrap();
        match events.into_iter().next() {
            Some(WatchEvent::Error(status)) => {
                assert_eq!(status.code, 410, "{status:?}");
                assert_eq!(status.reason, "Expired", "{status:?}");
                return *status;
            }
            other => panic!("expected a 410 ERROR event first, got {other:?}"),
        }
    }
}

/// The sandbox's `watch_history` narrows every watch window (a real watch cache keeps at
/// least 100 events per resource), so a resourceVersion handed out a few writes ago is already
/// 410 Expired, with upstream's message: the window's oldest event after an eviction, minus one
/// (`getAllEventsSinceLocked`).
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "a watch window of 2 events is a sandbox option; a real watch cache keeps at least 100"
)]
async fn a_watch_older_than_a_narrow_watch_window_gets_410_expired() {
    let target = Target::with_sandbox(|sandbox| sandbox.watch_history(2)).await;
    target.sandbox_hook();
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let mut rvs = Vec::new();
    for i in 0..4 {
        let created = cms
            .create(
                &PostParams::default(),
                &configmap(&format!("c{i}"), json!({})),
            )
            .await
            .unwrap();
        rvs.push(created.metadata.resource_version.unwrap());
    }
    let status = first_event_is_expired(&cms, &rvs[0]).await;
    assert_eq!(
        status.message,
        format!("too old resource version: {} ({})", rvs[0], rvs[1])
    );
    // The window still holds the last two creations.
    let stream = cms.watch(&WatchParams::default(), &rvs[1]).await.unwrap();
    let events: Vec<_> = stream.take(2).try_collect().await.unwrap();
    assert!(
        events.iter().all(|e| matches!(e, WatchEvent::Added(_))),
        "{events:?}"
    );
}

/// After `compact_history` (an etcd compaction with the watch caches restarted, as after an
/// apiserver restart) every resourceVersion handed out so far is 410 for watches too.
#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "compacting etcd and restarting the watch caches on demand is a sandbox hook"
)]
async fn a_watch_from_before_a_compaction_gets_410_expired() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let created = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    target.sandbox_hook().compact_history();
    first_event_is_expired(&cms, &created.metadata.resource_version.unwrap()).await;
}

/// A list with `resourceVersion` and `resourceVersionMatch=NotOlderThan` (or none, without
/// `limit`) is served by the watch cache (`Cacher.GetList`; `shouldDelegateList` is false) at
/// its latest state, however old the resourceVersion: 200, never 410.
#[tokio::test]
async fn a_not_older_than_list_from_an_old_resource_version_is_the_latest_state() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    for version_match in [Some(kube::api::VersionMatch::NotOlderThan), None] {
        let list = cms
            .list(&ListParams {
                resource_version: Some("1".into()),
                version_match: version_match.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(names(list.items), ["a"], "{version_match:?}");
    }
}

/// An exact list (`resourceVersionMatch=Exact`) is read from etcd at that revision
/// (`shouldDelegateList`, etcd3 `resolveGetListRev`); one before etcd's compaction is 410 with
/// `interpretListError`'s message. kube-apiserver compacts etcd every 5 minutes, so this holds
/// on a cluster up longer than that (the sandbox starts as such a cluster); a younger cluster
/// still serves revision 1.
#[tokio::test]
async fn an_exact_list_from_a_compacted_resource_version_is_410_expired() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    let status = api_error(
        cms.list(&ListParams {
            resource_version: Some("1".into()),
            version_match: Some(kube::api::VersionMatch::Exact),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(status.code, 410, "{status:?}");
    assert_eq!(status.reason, "Expired");
    assert_eq!(
        status.message,
        "The resourceVersion for the provided list is too old."
    );
}

/// `resourceVersion=0` lists are served from the watch cache, which ignores `limit` for them
/// (`computeListLimit`): every item, no continue token.
#[tokio::test]
async fn a_list_at_resource_version_0_ignores_the_limit() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    for name in ["a", "b", "c"] {
        cms.create(&PostParams::default(), &configmap(name, json!({})))
            .await
            .unwrap();
    }
    // kube's ListParams leaves `resourceVersion=0` out when a limit is set: a raw request.
    let list: Value = raw_get(
        &target,
        &format!(
            "/api/v1/namespaces/{}/configmaps?resourceVersion=0&limit=1",
            &*ns
        ),
    )
    .await
    .unwrap();
    assert_eq!(list["metadata"].get("continue"), None, "{list}");
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .filter(|n| *n != ROOT_CA)
        .collect();
    assert_eq!(listed, ["a", "b", "c"]);
}

/// A continue token carries its own revision: the etcd store's `resolveGetListRev` refuses a
/// `resourceVersion` beside it with a 400.
#[tokio::test]
async fn a_continue_token_with_a_resource_version_is_400() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    for name in ["a", "b"] {
        cms.create(&PostParams::default(), &configmap(name, json!({})))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(1)).await.unwrap();
    let token = first.metadata.continue_.unwrap();
    // kube's ListParams leaves the resourceVersion out beside a continue token: a raw request.
    let status = api_error(
        raw_get(
            &target,
            &format!(
                "/api/v1/namespaces/{}/configmaps?limit=1&continue={token}&resourceVersion={}",
                &*ns,
                first.metadata.resource_version.unwrap()
            ),
        )
        .await,
    );
    assert_eq!(status.code, 400, "{status:?}");
    assert_eq!(
        status.message,
        "specifying resource version is not allowed when using continue"
    );
}

/// A list asking for a resourceVersion the watch cache has not reached waits for it (3 s,
/// `blockTimeout`) and then answers 504 (`waitUntilFreshAndBlock`,
/// `storage.NewTooLargeResourceVersionError`: retry after 1 s, a `ResourceVersionTooLarge`
/// cause).
#[tokio::test]
async fn a_list_from_a_future_resource_version_times_out_with_504() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let mut config = target.kube_config();
    config.default_retry = false;
    let cms: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config).unwrap(), &ns);
    let current: u64 = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap();
    let future = current + 1_000_000_000;
    let started = std::time::Instant::now();
    let status = api_error(
        cms.list(&ListParams {
            resource_version: Some(future.to_string()),
            version_match: Some(kube::api::VersionMatch::NotOlderThan),
            ..Default::default()
        })
        .await,
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(status.code, 504, "{status:?}");
    assert_eq!(status.reason, "Timeout");
    assert!(
        status.message.starts_with(&format!(
            "Timeout: Too large resource version: {future}, current: "
        )),
        "{}",
        status.message
    );
    let details = status.details.expect("details");
    assert_eq!(details.retry_after_seconds, 1);
    assert_eq!(details.causes.len(), 1);
    assert_eq!(details.causes[0].reason, "ResourceVersionTooLarge");
}

/// The cache watcher's filtering (`cacheWatcher.convertToWatchEvent`): an object that stops
/// matching the selector is sent as DELETED.
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

/// `sendInitialEvents=true` (WatchList, beta and on in 1.32): the current state as ADDED
/// events, then a BOOKMARK annotated `k8s.io/initial-events-end` (`cacheWatcher` with
/// `initialEventsEndBookmark`), then changes.
#[tokio::test]
async fn streaming_lists_end_the_initial_events_with_a_bookmark() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    create_config_maps(&cms, "c", 3).await;
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

/// With WatchList on (beta and default in 1.32) `SetListOptionsDefaults` turns a watch from
/// resourceVersion `0` that names neither `sendInitialEvents` nor `resourceVersionMatch` into a
/// streaming list: the current objects as ADDED, then, since it allows bookmarks, the
/// `k8s.io/initial-events-end` BOOKMARK (`Cacher.setInitialEventsEndBookmarkIfRequested`),
/// which kube's watches meet whenever they start from `0`.
#[tokio::test]
async fn a_watch_from_0_allowing_bookmarks_ends_its_initial_events_with_a_bookmark() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    cms.create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let mut stream = cms
        // kube's WatchParams allow bookmarks by default.
        .watch(&WatchParams::default().timeout(20), "0")
        .await
        .unwrap()
        .boxed();
    let mut added = Vec::new();
    loop {
        let event = tokio::time::timeout(common::TIMEOUT, stream.try_next())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the watch goes on");
        match event {
            WatchEvent::Added(cm) => added.extend(cm.metadata.name),
            WatchEvent::Bookmark(bookmark) => {
                assert_eq!(
                    bookmark
                        .metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true"),
                    "{:?}",
                    bookmark.metadata.resource_version
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    added.retain(|n| n != ROOT_CA);
    assert_eq!(added, ["a"]);
}

/// `allowWatchBookmarks=true`: the cacher's bookmark timer sends BOOKMARKs (about once a
/// minute on a real server, `Cacher.dispatchEvents`; configurable on the sandbox).
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

/// `Accept: ...;as=PartialObjectMetadata` transforms list and watch objects into
/// `PartialObjectMetadata` (`endpoints/handlers/response.go` `transformObject`).
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

/// Creates the ConfigMaps `{prefix}0` .. `{prefix}{n-1}`, without labels.
async fn create_config_maps(cms: &Api<ConfigMap>, prefix: &str, n: usize) {
    for i in 0..n {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("{prefix}{i}"), json!({})),
        )
        .await
        .unwrap();
    }
}
