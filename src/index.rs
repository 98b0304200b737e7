//! The per-namespace `documents-index` ConfigMap, written in batches.
//!
//! The index is one object shared by every Document of a namespace. Two rules keep it right:
//!
//! * **No lost entries.** Each write is a JSON merge patch that names only the keys it changes
//!   (`{"data": {"a": "Title", "b": null}}`). The API server applies it to the current object, so
//!   writers never overwrite each other's entries and no read-modify-write race exists, without
//!   resourceVersion preconditions or retries on conflict.
//! * **No write per Document.** Reconciles do not write the index themselves; they hand their change
//!   to the [`IndexWriter`] task and wait for it. The task collects every change that arrives within
//!   a short window (and all that queue up while a write is in flight) and writes each namespace's
//!   index once per batch. When 2,000 Documents appear at once, the index is written a few dozen
//!   times, not 2,000 (the guide's "Excessive API calls in reconciler": batch where possible).
//!
//! # Errors
//! A failed write fails every reconcile whose change was in the batch; each retries through its own
//! `error_policy` backoff and resubmits. A missing index is not an error for removals (nothing to
//! remove); for additions the index is created.

use crate::configmap::{self, INDEX_NAME};
use crate::crd::FIELD_MANAGER;
use crate::error::{Error, RetryClass};
use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How many pending changes may queue before reconciles wait to submit theirs.
const QUEUE_CAPACITY: usize = 4096;

/// One Document's desired index entry: `Some(title)` to list it, `None` to remove it.
#[derive(Debug)]
struct Change {
    namespace: String,
    document: String,
    entry: Option<String>,
    done: oneshot::Sender<Result<(), Error>>,
}

/// Handle to the task that writes `documents-index` ConfigMaps. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IndexWriter {
    changes: mpsc::Sender<Change>,
}

impl IndexWriter {
    /// Starts the writer task on the current runtime. It stops when every handle is dropped.
    pub fn spawn(client: kube::Client, window: Duration, metrics: Arc<Metrics>) -> Self {
        let (changes, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(client, rx, window, metrics));
        Self { changes }
    }

    /// Lists `document` with `title` in its namespace's index, or removes it (`None`), and waits
    /// until the batch holding this change is written.
    pub async fn set(
        &self,
        namespace: &str,
        document: &str,
        title: Option<String>,
    ) -> Result<(), Error> {
        let (done, result) = oneshot::channel();
        let change = Change {
            namespace: namespace.to_string(),
            document: document.to_string(),
            entry: title,
            done,
        };
        let stopped = || Error::Index {
            namespace: namespace.to_string(),
            message: "index writer stopped (shutting down)".to_string(),
            class: RetryClass::Transient,
        };
        self.changes.send(change).await.map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

/// The batches of one round: per namespace, the last change per Document and who waits for it.
#[derive(Default)]
struct Batch {
    entries: BTreeMap<String, Option<String>>,
    waiting: Vec<oneshot::Sender<Result<(), Error>>>,
}

async fn write_batches(
    client: kube::Client,
    mut rx: mpsc::Receiver<Change>,
    window: Duration,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        // Give concurrent reconciles a moment to add their changes to this batch.
        if !window.is_zero() {
            tokio::time::sleep(window).await;
        }
        let mut batches: BTreeMap<String, Batch> = BTreeMap::new();
        let mut add = |c: Change| {
            let batch = batches.entry(c.namespace).or_default();
            // A later change of the same Document in one batch wins, as it would have sequentially.
            batch.entries.insert(c.document, c.entry);
            batch.waiting.push(c.done);
        };
        add(first);
        while let Ok(next) = rx.try_recv() {
            add(next);
        }
        let writes = batches.into_iter().map(|(namespace, batch)| {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
            let metrics = metrics.clone();
            async move {
                let result = write_index(&api, &namespace, &batch.entries).await;
                if result.is_ok() {
                    metrics.index_written(batch.entries.len());
                }
                for done in batch.waiting {
                    let outcome = result.clone().map_err(|f| Error::Index {
                        namespace: namespace.clone(),
                        message: f.message,
                        class: f.class,
                    });
                    // A reconcile that gave up waiting (shutdown) is not an error here.
                    let _ = done.send(outcome);
                }
            }
        });
        futures::future::join_all(writes).await;
    }
}

/// One merge patch of the namespace's index; creates the index if it is missing and something is
/// to be listed.
async fn write_index(
    api: &Api<ConfigMap>,
    namespace: &str,
    entries: &BTreeMap<String, Option<String>>,
) -> Result<(), WriteFailure> {
    let patch = serde_json::json!({ "data": entries });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match patch_index(api, namespace, &params, &patch).await {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let listed: BTreeMap<String, String> = entries
                .iter()
                .filter_map(|(doc, title)| Some((doc.clone(), title.clone()?)))
                .collect();
            // A missing index already lacks the entries to remove.
            if listed.is_empty() {
                return Ok(());
            }
            let mut index = configmap::empty_index(namespace);
            index.data = Some(listed);
            let create = PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PostParams::default()
            };
            match api.create(&create, &index).await {
                Ok(_) => Ok(()),
                // Someone created it in between: our keys are not in it yet, patch again.
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    patch_index(api, namespace, &params, &patch)
                        .await
                        .map_err(WriteFailure::from)
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// One merge patch of the index, whose answer is read as text and not parsed.
///
/// The API server answers with the whole index, `managedFields` included, where the field
/// manager owns one field per Document: parsing that into a `ConfigMap` was the largest single
/// cost of the controller's CPU (callgrind, 2,000 Documents: a quarter of all its instructions,
/// half of it in `ManagedFieldsEntry`), for an answer of which only the status code matters.
async fn patch_index(
    api: &Api<ConfigMap>,
    namespace: &str,
    params: &PatchParams,
    patch: &serde_json::Value,
) -> Result<(), kube::Error> {
    use kube::Resource;
    let request = kube::core::Request::new(ConfigMap::url_path(&(), Some(namespace)))
        .patch(INDEX_NAME, params, &Patch::Merge(patch))
        .map_err(kube::Error::BuildRequest)?;
    api.clone()
        .into_client()
        .request_text(request)
        .await
        .map(drop)
}

/// Why a batch could not be written; every waiter of the batch gets a copy.
#[derive(Clone, Debug)]
struct WriteFailure {
    message: String,
    class: RetryClass,
}

impl From<kube::Error> for WriteFailure {
    fn from(source: kube::Error) -> Self {
        Self {
            class: RetryClass::of(&source),
            message: source.to_string(),
        }
    }
}
