//! The sandbox keeps up with the object counts a controller's load tests use.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

/// Load rather than wording: 10,000 ConfigMaps created, listed whole and in pages, and watched,
/// within the time a real cluster takes (about a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_objects_can_be_created_listed_paged_and_watched() {
    let target = common::Target::new().await;
    let ns = target.namespace().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), &ns);
    // What a real cluster puts into every namespace (its root CA), none on the sandbox.
    let present = cms.list(&ListParams::default()).await.unwrap().items.len();
    let started = Instant::now();
    stream::iter(0..10_000)
        .map(|i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("cm-{i:05}"), "labels": {"shard": (i % 10).to_string()}},
                    "data": {"i": i.to_string()}
                }))
                .unwrap();
                cms.create(&PostParams::default(), &cm).await.map(|_| ())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let created = started.elapsed();

    let started = Instant::now();
    let all = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(common::ours(all.items).len(), 10_000);
    let shard = cms
        .list(&ListParams::default().labels("shard=3"))
        .await
        .unwrap();
    assert_eq!(shard.items.len(), 1_000);
    let mut pages = 0;
    let mut seen = 0;
    let mut params = ListParams::default().limit(500);
    loop {
        let page = cms.list(&params).await.unwrap();
        pages += 1;
        seen += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    let total = 10_000 + present;
    assert_eq!((pages, seen), (total.div_ceil(500), total));
    let listed = started.elapsed();

    let started = Instant::now();
    let mut events = watcher(cms.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(cm)
                if cm.metadata.name.as_deref() != Some(common::ROOT_CA) =>
            {
                initial += 1
            }
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, 10_000);
    eprintln!(
        "created in {created:?}, listed in {listed:?}, streamed in {:?}",
        started.elapsed()
    );
}
