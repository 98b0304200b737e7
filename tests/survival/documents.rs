//! The test's own view of the Documents and what the controller made of them: a cache of every
//! Document of the namespace (a watch of the admin's, which rides through API server restarts
//! like any client), waits on it, and the end state a converged namespace must have.

use crate::support::{self, Env, TestNamespace};
use doc_controller::Document;
use doc_controller::configmap::INDEX_NAME;
use doc_controller::document::FINALIZER;
use doc_controller::document::status::{READY, reason};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Every Document of one namespace, as a watch sees them.
pub struct Documents {
    /// The namespace's Documents, through the admin's client.
    pub api: Api<Document>,
    store: Store<Document>,
    task: tokio::task::JoinHandle<()>,
}

impl Documents {
    /// Starts watching `ns`'s Documents; returns once the initial list is in.
    pub async fn watch(env: &Env, ns: &TestNamespace) -> Documents {
        let api: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
        let (store, writer) = reflector::store();
        let events = watcher(api.clone(), watcher::Config::default()).default_backoff();
        let task = tokio::spawn(reflector::reflector(writer, events).for_each(|_| async {}));
        let documents = Documents { api, store, task };
        tokio::time::timeout(support::TIMEOUT, documents.store.wait_until_ready())
            .await
            .expect("the test's Document watch lists within the timeout")
            .expect("the test's Document watch runs");
        documents
    }

    /// The Documents as last seen.
    pub fn now(&self) -> Vec<Arc<Document>> {
        self.store.state()
    }

    /// Waits until `done` holds for the Documents, at most `within`; fails the test with `what`
    /// and `progress` (what was seen last) otherwise. Returns how long it took.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[Arc<Document>]) -> bool,
        progress: impl Fn(&[Arc<Document>]) -> String,
    ) -> Duration {
        let started = tokio::time::Instant::now();
        loop {
            let documents = self.now();
            if done(&documents) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "timed out after {within:?} waiting for {what}; last seen: {}",
                progress(&documents)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until all `expected` Documents exist and every Document is [`settled`].
    pub async fn all_settled(&self, expected: usize, within: Duration) -> Duration {
        self.wait_until(
            &format!("{expected} Documents settled"),
            within,
            |docs| docs.len() == expected && docs.iter().all(|d| settled(d)),
            unsettled,
        )
        .await
    }
}

impl Drop for Documents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many Documents of `api` are [`settled`], by a fresh LIST.
pub async fn settled_now(api: &Api<Document>) -> usize {
    api.list(&ListParams::default())
        .await
        .expect("Documents listed")
        .items
        .iter()
        .filter(|d| settled(d))
        .count()
}

/// Whether a Document is done with: not being deleted, carrying the finalizer, and `Ready` for
/// its current generation with the reason its spec asks for (`Published`, or `Hidden`).
pub fn settled(doc: &Document) -> bool {
    let wanted = if doc.spec.hide {
        reason::HIDDEN
    } else {
        reason::PUBLISHED
    };
    doc.metadata.deletion_timestamp.is_none()
        && doc.finalizers().iter().any(|f| f == FINALIZER)
        && doc.status.as_ref().is_some_and(|s| {
            s.observed_generation == doc.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == READY && c.status == "True" && c.reason == wanted)
        })
}

/// A summary of the Documents that are not settled, for timeout messages.
pub fn unsettled(docs: &[Arc<Document>]) -> String {
    let waiting: Vec<String> = docs
        .iter()
        .filter(|d| !settled(d))
        .take(5)
        .map(|d| {
            let ready = d
                .ready_condition()
                .map(|c| format!("{} {}", c.status, c.reason))
                .unwrap_or_else(|| "no Ready condition".into());
            let observed = d.status.as_ref().and_then(|s| s.observed_generation);
            format!(
                "{} (generation {:?}, observed {observed:?}, {ready}, deleting: {})",
                d.name_any(),
                d.metadata.generation,
                d.metadata.deletion_timestamp.is_some()
            )
        })
        .collect();
    let count = docs.iter().filter(|d| !settled(d)).count();
    format!("{count} of {} not settled, e.g. {waiting:?}", docs.len())
}

/// Creates `documents`, `in_flight` at a time, as a busy client would: through an API server
/// restart too, retrying what got no answer (with a backoff) and taking `AlreadyExists` for
/// done (the create was committed, its answer lost with the connection).
pub async fn create_all(api: &Api<Document>, documents: Vec<Document>, in_flight: usize) {
    create_counting(
        api,
        documents,
        in_flight,
        &tokio::sync::watch::Sender::new(0),
    )
    .await;
}

/// [`create_all`], counting the Documents created so far into `created`.
pub async fn create_counting(
    api: &Api<Document>,
    documents: Vec<Document>,
    in_flight: usize,
    created: &tokio::sync::watch::Sender<usize>,
) {
    futures::stream::iter(documents)
        .map(|doc| async move {
            let deadline = tokio::time::Instant::now() + support::TIMEOUT;
            let mut pause = Duration::from_millis(100);
            loop {
                match api.create(&PostParams::default(), &doc).await {
                    Ok(_) => return,
                    Err(kube::Error::Api(status)) if status.code == 409 => return,
                    Err(kube::Error::Api(status)) => {
                        panic!("creating Document {}: {status:?}", doc.name_any())
                    }
                    Err(error) => {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "creating Document {}: {error}",
                            doc.name_any()
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                    }
                }
            }
        })
        .buffer_unordered(in_flight)
        .for_each(|()| {
            created.send_modify(|n| *n += 1);
            async {}
        })
        .await;
}

/// Ordinary Documents `<prefix>-0` .. `<prefix>-{n-1}`.
pub fn ordinary(prefix: &str, n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            support::doc(
                &format!("{prefix}-{i}"),
                &format!("{prefix} {i}"),
                "some words",
            )
        })
        .collect()
}

/// The namespace's `documents-index` entries (Document name to title); empty when it is not
/// there.
pub async fn index(client: &kube::Client, namespace: &str) -> BTreeMap<String, String> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    config_maps
        .get_opt(INDEX_NAME)
        .await
        .expect("the index is readable")
        .and_then(|index| index.data)
        .unwrap_or_default()
}

/// Checks what a converged namespace holds, given its Documents (all [`settled`]): the index
/// lists exactly the visible ones with their titles, each visible one has its ConfigMap with its
/// title, and no hidden one has.
pub async fn assert_published_as_specified(env: &Env, ns: &TestNamespace, docs: &[Arc<Document>]) {
    let expected: BTreeMap<String, String> = docs
        .iter()
        .filter(|d| !d.spec.hide)
        .map(|d| (d.name_any(), d.spec.title.clone()))
        .collect();
    let index = index(&env.client, ns.name()).await;
    let hidden: Vec<String> = docs
        .iter()
        .filter(|d| d.spec.hide)
        .map(|d| d.name_any())
        .collect();
    let (listed_but_hidden, listed_but_gone): (Vec<&String>, Vec<&String>) = index
        .keys()
        .filter(|n| !expected.contains_key(*n))
        .partition(|n| hidden.contains(n));
    let missing: Vec<&String> = expected
        .keys()
        .filter(|n| !index.contains_key(*n))
        .collect();
    let stale: Vec<&String> = expected
        .iter()
        .filter(|(n, title)| index.get(*n).is_some_and(|t| t != *title))
        .map(|(n, _)| n)
        .collect();
    assert!(
        listed_but_gone.is_empty()
            && listed_but_hidden.is_empty()
            && missing.is_empty()
            && stale.is_empty(),
        "the index lists Documents that are gone: {listed_but_gone:?}; hidden ones: \
         {listed_but_hidden:?}; misses published ones: {missing:?}; has old titles for: {stale:?}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());
    for doc in docs {
        let published = config_maps
            .get_opt(&doc.config_map_name())
            .await
            .expect("ConfigMaps are readable");
        match (doc.spec.hide, published) {
            (false, Some(cm)) => assert_eq!(
                cm.data.unwrap_or_default().get("title"),
                Some(&doc.spec.title),
                "the ConfigMap of {} has its title",
                doc.name_any()
            ),
            (false, None) => panic!(
                "Document {} is published without its ConfigMap",
                doc.name_any()
            ),
            (true, Some(_)) => panic!("hidden Document {} still has its ConfigMap", doc.name_any()),
            (true, None) => {}
        }
    }
}
