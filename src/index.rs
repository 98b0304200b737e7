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
//! # Reading one's own writes
//! Reconciles decide from the ConfigMap cache whether an entry needs a write; right after a write
//! the cache may not show it yet. The writer remembers its batches until the cache shows them
//! ([`unseen`]), and [`IndexWriter::written_entry`] answers from them meanwhile.
//!
//! # Errors
//! A failed write fails every reconcile whose change was in the batch; each retries through its own
//! `error_policy` backoff and resubmits. A missing index is not an error for removals (nothing to
//! remove); for additions the index is created.
//!
//! # A full index
//! A ConfigMap's values may hold 1 MiB (`ValidateConfigMap`), so one namespace's index lists some
//! tens of thousands of Documents, depending on their titles. A batch that would grow it past that
//! is refused whole (422, `FieldValueTooLong`); the writer then writes the batch's removals alone,
//! so a deleted Document's cleanup never waits for room, and fails its additions with
//! [`Error::IndexFull`], which the reconciler shows in the Document's status.

mod unseen;

pub use unseen::Written;

use crate::FIELD_MANAGER;
use crate::configmap::cached::CachedConfigMap;
use crate::configmap::{self, INDEX_NAME};
use crate::error::{Error, RetryClass};
use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde::Deserialize;
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
    unseen: Arc<unseen::UnseenWrites>,
}

impl IndexWriter {
    /// Starts the writer task on the current runtime. It stops when every handle is dropped.
    pub fn spawn(client: kube::Client, window: Duration, metrics: Arc<Metrics>) -> Self {
        let (changes, rx) = mpsc::channel(QUEUE_CAPACITY);
        let unseen = Arc::new(unseen::UnseenWrites::default());
        tokio::spawn(write_batches(client, rx, window, metrics, unseen.clone()));
        Self { changes, unseen }
    }

    /// `document`'s entry as this process last wrote it, while the ConfigMap cache does not show
    /// that write yet; `None` when the cache is up to date for it.
    pub fn written_entry(&self, namespace: &str, document: &str) -> Option<Written> {
        self.unseen.entry(namespace, document)
    }

    /// Tells the writer what the ConfigMap cache shows now, so it stops answering for writes the
    /// cache has caught up with; call with every event of the ConfigMap watch, after the
    /// reflector has applied it.
    pub fn observe(&self, event: &watcher::Event<CachedConfigMap>) {
        self.unseen.observe(event);
    }

    /// Forgets the writes the cache does not show yet, at the start of a term as leader: another
    /// replica may have written those entries since (see [`unseen`]'s caveats).
    pub fn forget_unseen(&self) {
        self.unseen.forget();
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
    /// Each waiting reconcile with its Document.
    waiting: Vec<(String, oneshot::Sender<Result<(), Error>>)>,
}

async fn write_batches(
    client: kube::Client,
    mut rx: mpsc::Receiver<Change>,
    window: Duration,
    metrics: Arc<Metrics>,
    unseen: Arc<unseen::UnseenWrites>,
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
            batch.entries.insert(c.document.clone(), c.entry);
            batch.waiting.push((c.document, c.done));
        };
        add(first);
        while let Ok(next) = rx.try_recv() {
            add(next);
        }
        let writes = batches.into_iter().map(|(namespace, batch)| {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
            write_batch(api, namespace, batch, metrics.clone(), unseen.clone())
        });
        futures::future::join_all(writes).await;
    }
}

/// Writes one namespace's batch and tells each waiting reconcile how its change fared.
async fn write_batch(
    api: Api<ConfigMap>,
    namespace: String,
    batch: Batch,
    metrics: Arc<Metrics>,
    unseen: Arc<unseen::UnseenWrites>,
) {
    let mut result = write_and_remember(&api, &namespace, &batch.entries, &metrics, &unseen).await;
    let mut additions_failed = None;
    if let Err(failure) = &result
        && failure.full
    {
        // The additions do not fit; the removals make room and must not wait for it.
        additions_failed = Some(failure.clone());
        let removals: BTreeMap<String, Option<String>> = batch
            .entries
            .iter()
            .filter(|(_, entry)| entry.is_none())
            .map(|(document, entry)| (document.clone(), entry.clone()))
            .collect();
        result = if removals.is_empty() {
            Ok(())
        } else {
            write_and_remember(&api, &namespace, &removals, &metrics, &unseen).await
        };
    }
    for (document, done) in batch.waiting {
        let is_addition = batch.entries.get(&document).is_some_and(Option::is_some);
        let outcome = match (&additions_failed, &result) {
            (Some(_), _) if is_addition => Err(Error::IndexFull {
                namespace: namespace.clone(),
                document,
            }),
            (_, Ok(())) => Ok(()),
            (_, Err(failure)) => Err(Error::Index {
                namespace: namespace.clone(),
                message: failure.message.clone(),
                class: failure.class,
            }),
        };
        // A reconcile that gave up waiting (shutdown) is not an error here.
        let _ = done.send(outcome);
    }
}

/// [`write_index`], remembering the write for the reconciles' next reads ([`unseen`]) before
/// they hear of it.
async fn write_and_remember(
    api: &Api<ConfigMap>,
    namespace: &str,
    entries: &BTreeMap<String, Option<String>>,
    metrics: &Metrics,
    unseen: &unseen::UnseenWrites,
) -> Result<(), WriteFailure> {
    match write_index(api, namespace, entries).await {
        Ok(written) => {
            metrics.index_written(entries.len());
            if written.is_some() {
                unseen.written(namespace, written, entries);
            }
            Ok(())
        }
        Err(failure) => {
            if failure.maybe_done {
                unseen.written(namespace, None, entries);
            }
            Err(failure)
        }
    }
}

/// One merge patch of the namespace's index; creates the index if it is missing and something is
/// to be listed. Returns the index's resourceVersion after the write, `None` when nothing was
/// written (removals from a missing index).
async fn write_index(
    api: &Api<ConfigMap>,
    namespace: &str,
    entries: &BTreeMap<String, Option<String>>,
) -> Result<Option<String>, WriteFailure> {
    let patch = serde_json::json!({ "data": entries });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match patch_index(api, namespace, &params, &patch).await {
        Ok(version) => Ok(version),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let listed: BTreeMap<String, String> = entries
                .iter()
                .filter_map(|(doc, title)| Some((doc.clone(), title.clone()?)))
                .collect();
            // A missing index already lacks the entries to remove.
            if listed.is_empty() {
                return Ok(None);
            }
            let mut index = configmap::empty_index(namespace);
            index.data = Some(listed);
            let create = PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PostParams::default()
            };
            match api.create(&create, &index).await {
                Ok(index) => Ok(index.metadata.resource_version),
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

/// One merge patch of the index; returns the index's resourceVersion after it.
///
/// The API server answers with the whole index, `managedFields` included, where the field
/// manager owns one field per Document: parsing that into a `ConfigMap` was the largest single
/// cost of the controller's CPU (callgrind, 2,000 Documents: a quarter of all its instructions,
/// half of it in `ManagedFieldsEntry`). Only the resourceVersion is needed (by [`unseen`]), so
/// the answer is read into [`PatchAnswer`], and serde skips the rest without building anything.
async fn patch_index(
    api: &Api<ConfigMap>,
    namespace: &str,
    params: &PatchParams,
    patch: &serde_json::Value,
) -> Result<Option<String>, kube::Error> {
    use kube::Resource;
    let request = kube::core::Request::new(ConfigMap::url_path(&(), Some(namespace)))
        .patch(INDEX_NAME, params, &Patch::Merge(patch))
        .map_err(kube::Error::BuildRequest)?;
    let answer: PatchAnswer = api.clone().into_client().request(request).await?;
    Ok(answer.metadata.resource_version)
}

/// The one field read of the index a patch answers with (an answer without it is no error: the
/// write is done, it is only not remembered).
#[derive(Deserialize)]
struct PatchAnswer {
    #[serde(default)]
    metadata: PatchAnswerMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchAnswerMeta {
    resource_version: Option<String>,
}

/// Why a batch could not be written; every waiter of the batch gets a copy.
#[derive(Clone, Debug)]
struct WriteFailure {
    message: String,
    class: RetryClass,
    /// No answer said the write was not done (a lost connection, a server-side timeout): it may
    /// have been (see [`unseen`]).
    maybe_done: bool,
    /// The index would have grown past what a ConfigMap may hold: `ValidateConfigMap`'s
    /// `FieldValueTooLong` on the whole object (the only field of the index that can be too long).
    full: bool,
}

impl From<kube::Error> for WriteFailure {
    fn from(source: kube::Error) -> Self {
        let full = matches!(&source, kube::Error::Api(status)
        if status.code == 422
            && status.details.as_ref().is_some_and(|details| {
                details.causes.iter().any(|cause| cause.reason == "FieldValueTooLong")
            }));
        Self {
            class: RetryClass::of(&source),
            maybe_done: !matches!(&source, kube::Error::Api(status) if status.code < 500),
            full,
            message: source.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::fixtures;
    use http::Method;
    use serde_json::json;

    const INDEX: &str = "/api/v1/namespaces/default/configmaps/documents-index";

    /// A batch refused because the index would grow past 1 MiB: its removals are written alone
    /// (a deleted Document's cleanup never waits for room), its additions fail as `IndexFull`.
    #[tokio::test]
    async fn a_full_index_still_takes_removals_and_refuses_additions_as_full() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let writer = ctx.index.clone();
        let server = async move {
            let both = api.expect(Method::PATCH, INDEX).await;
            assert_eq!(both.body, json!({"data": {"ada": "Ada", "bob": null}}));
            both.fail_too_long();
            let removals = api.expect(Method::PATCH, INDEX).await;
            assert_eq!(removals.body, json!({"data": {"bob": null}}));
            removals.echo();
            api.expect_silence().await;
        };
        // Both changes reach the writer before it starts a batch, so they share one.
        let (added, removed, ()) = tokio::join!(
            writer.set("default", "ada", Some("Ada".into())),
            writer.set("default", "bob", None),
            server,
        );
        assert!(
            matches!(&added, Err(Error::IndexFull { namespace, document })
                if namespace == "default" && document == "ada"),
            "{added:?}"
        );
        assert_eq!(
            added.expect_err("full").retry_class(),
            RetryClass::Persistent
        );
        removed.expect("the removal is written");
    }

    /// Any other refusal fails the whole batch as before: nothing is written twice.
    #[tokio::test]
    async fn another_refusal_fails_the_whole_batch() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let writer = ctx.index.clone();
        let server = async move {
            api.expect(Method::PATCH, INDEX)
                .await
                .fail(403, "Forbidden");
            api.expect_silence().await;
        };
        let (added, removed, ()) = tokio::join!(
            writer.set("default", "ada", Some("Ada".into())),
            writer.set("default", "bob", None),
            server,
        );
        for result in [added, removed] {
            assert!(matches!(result, Err(Error::Index { .. })), "{result:?}");
        }
    }
}
