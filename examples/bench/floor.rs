//! The write floor: a bare kube client doing exactly the writes the controller must do for each
//! Document, at the same concurrency, and nothing else (no watch, no cache, no Events).
//!
//! Per Document, in the controller's order: add the finalizer, server-side apply the owned
//! ConfigMap, hand the index entry to the same batching [`IndexWriter`] the controller uses (same
//! window), server-side apply the status, publish the `Published` Event through the controller's
//! own publisher (an Event per transition is a write the controller must make too). The objects written are built by the controller's own
//! functions, so the end state is the one the controller would reach. One LIST of the Documents
//! comes first (the floor needs their uids, as the controller needs its initial list).
//! It runs in its own process (`bench floor-worker`), like the controller, and prints one JSON
//! line with its figures.

use crate::BenchError;
use doc_controller::configmap;
use doc_controller::crd::{CONTROLLER_NAME, FIELD_MANAGER, FINALIZER};
use doc_controller::events::DocumentEvent;
use doc_controller::events::EventRecorder;
use doc_controller::fault::Faults;
use doc_controller::index::IndexWriter;
use doc_controller::metrics::Metrics;
use doc_controller::status::{self, Outcome};
use doc_controller::{Document, Error};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::Reporter;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often one write is attempted before the floor gives up on a Document.
const ATTEMPTS: u32 = 5;

/// Runs the floor for every Document of `namespace` and prints `{"documents", "writes", ...}`.
pub async fn run(
    namespace: &str,
    concurrency: u16,
    index_batch_window: Duration,
) -> Result<(), BenchError> {
    let started = Instant::now();
    let client = kube::Client::try_default().await?;
    let docs: Api<Document> = Api::namespaced(client.clone(), namespace);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let metrics = Arc::new(
        Metrics::new(Error::ALL_LABELS).map_err(|e| BenchError::msg(format!("metrics: {e}")))?,
    );
    let index = IndexWriter::spawn(client.clone(), index_batch_window, metrics.clone());
    let recorder = EventRecorder::new(
        client.clone(),
        Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: None,
        },
    );
    let list = docs.list(&ListParams::default()).await?;
    let n = list.items.len();
    let writes = AtomicU64::new(0);
    let retries = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let counted = |r: Result<(), kube::Error>, attempt: u32| {
        writes.fetch_add(1, Ordering::Relaxed);
        if r.is_err() && attempt + 1 < ATTEMPTS {
            retries.fetch_add(1, Ordering::Relaxed);
        }
        r
    };
    futures::stream::iter(list.items)
        .for_each_concurrent(usize::from(concurrency), |doc| {
            let (docs, cms, index, counted, failed) = (&docs, &cms, &index, &counted, &failed);
            let recorder = &recorder;
            async move {
                let mut ok = one_document(&doc, docs, cms, index, namespace, counted).await;
                if ok {
                    let event = DocumentEvent::Published {
                        config_map: doc.config_map_name(),
                    };
                    doc_controller::events::publish(recorder, &doc, &event).await;
                    ok = counted(Ok(()), 0).is_ok();
                }
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    let out = json!({
        "documents": n,
        "writes": writes.load(Ordering::Relaxed),
        "index_writes": crate::process::Samples::parse(&metrics.render())
            .sum("doc_controller_index_writes_total", |_| true),
        "retries": retries.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "seconds": started.elapsed().as_secs_f64(),
        "cpu_seconds": crate::process::self_cpu_seconds(),
    });
    println!("{out}");
    Ok(())
}

async fn one_document(
    doc: &Document,
    docs: &Api<Document>,
    cms: &Api<ConfigMap>,
    index: &IndexWriter,
    namespace: &str,
    counted: &(impl Fn(Result<(), kube::Error>, u32) -> Result<(), kube::Error> + Sync),
) -> bool {
    let name = doc.name_any();
    let finalizer = json!({"metadata": {"finalizers": [FINALIZER]}});
    let desired_cm = configmap::published(doc);
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let status = status::desired_status(
        doc,
        &Outcome::Published {
            config_map: doc.config_map_name(),
        },
        &Time(k8s_openapi::jiff::Timestamp::now()),
        &Faults::default(),
    );
    let status_patch = json!({"apiVersion": "kube.rs/v1", "kind": "Document", "status": status});
    let cm_name = doc.config_map_name();
    // The retried closures capture references, which they may copy into each attempt.
    let (name, finalizer, cm_name, apply) = (&name, &finalizer, &cm_name, &apply);
    let (desired_cm, status_patch) = (&desired_cm, &status_patch);
    let steps = async {
        retry(|a| async move {
            counted(
                docs.patch(name, &PatchParams::default(), &Patch::Merge(finalizer))
                    .await
                    .map(|_| ()),
                a,
            )
        })
        .await?;
        retry(|a| async move {
            counted(
                cms.patch(cm_name, apply, &Patch::Apply(desired_cm))
                    .await
                    .map(|_| ()),
                a,
            )
        })
        .await?;
        let mut indexed = false;
        for _ in 0..ATTEMPTS {
            if index
                .set(namespace, name, Some(doc.spec.title.clone()))
                .await
                .is_ok()
            {
                indexed = true;
                break;
            }
        }
        if !indexed {
            return Err(());
        }
        retry(|a| async move {
            counted(
                docs.patch_status(name, apply, &Patch::Apply(status_patch))
                    .await
                    .map(|_| ()),
                a,
            )
        })
        .await
    };
    steps.await.is_ok()
}

async fn retry<F, Fut>(mut write: F) -> Result<(), ()>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    for attempt in 0..ATTEMPTS {
        match write(attempt).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                eprintln!("floor: write failed (attempt {}): {e}", attempt + 1);
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
    }
    Err(())
}
