//! Where a benchmark runs: a fresh embedded sandbox per phase, or the cluster named by
//! `DOC_CONTROLLER_E2E_KUBECONFIG` (a fresh namespace per phase, deleted afterwards).

use crate::BenchError;
use doc_controller::{Document, DocumentSpec};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kube_apiserver_sandbox::LatencyModel;
use kube_apiserver_sandbox::testkit::{TestCluster, TestNamespace};
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The environment variable naming a kubeconfig, shared with the e2e suite.
pub const KUBECONFIG_ENV: &str = "DOC_CONTROLLER_E2E_KUBECONFIG";

/// Requests in flight while the bench itself creates Documents.
const CREATE_CONCURRENCY: usize = 32;

/// One API server and one namespace holding the Documents of one measurement.
pub struct Phase {
    /// The namespace; should the bench end without [`Phase::cleanup`], it is deleted when the
    /// phase drops on a real cluster. Declared before the cluster, so it goes first.
    ns: TestNamespace,
    /// The API server: a sandbox kept alive for the phase, or the cluster.
    cluster: TestCluster,
    /// The kubeconfig for child processes.
    pub kubeconfig: PathBuf,
    /// An admin client of the bench (not the controller's).
    pub client: Client,
    /// The namespace of this phase.
    pub namespace: String,
    /// The API server's port, for counting connections to it.
    pub api_port: u16,
    /// Time it took to create the Documents, and how many.
    pub created: Option<(usize, Duration)>,
}

/// Whether the bench runs against a real cluster.
pub fn cluster_kubeconfig() -> Option<PathBuf> {
    std::env::var_os(KUBECONFIG_ENV).map(PathBuf::from)
}

/// `"sandbox"` or `"cluster"`.
pub fn target_name() -> &'static str {
    if cluster_kubeconfig().is_some() {
        "cluster"
    } else {
        "sandbox"
    }
}

impl Phase {
    /// A fresh API server (sandbox, with `latency`) or a fresh namespace (cluster), with the
    /// CRD installed.
    pub async fn new(label: &str, latency: LatencyModel) -> Result<Self, BenchError> {
        let cluster = TestCluster::from_env(KUBECONFIG_ENV, |b| {
            b.watch_history(100_000).latency(latency)
        })
        .await
        .map_err(|e| BenchError::msg(e.to_string()))?;
        let api_port = cluster.kube_config().cluster_url.port_u16().unwrap_or(443);
        let client = cluster.client();
        doc_controller::document::install(client.clone(), Duration::from_secs(30))
            .await
            .map_err(|e| BenchError::msg(e.to_string()))?;
        let ns = cluster
            .namespace(&format!("bench-{label}"))
            .await
            .map_err(|e| BenchError::msg(e.to_string()))?
            .before_delete(release_documents);
        Ok(Self {
            kubeconfig: cluster.kubeconfig_path().to_path_buf(),
            client,
            namespace: ns.name().to_owned(),
            ns,
            cluster,
            api_port,
            created: None,
        })
    }

    /// The Document API of this phase's namespace.
    pub fn documents(&self) -> Api<Document> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates `n` Documents of about `content_bytes` bytes of content each.
    pub async fn create_documents(
        &mut self,
        n: usize,
        content_bytes: usize,
    ) -> Result<Duration, BenchError> {
        let api = self.documents();
        let started = Instant::now();
        futures::stream::iter(0..n)
            .map(|i| {
                let api = api.clone();
                async move {
                    let doc = document(i, content_bytes);
                    api.create(&PostParams::default(), &doc).await.map(|_| ())
                }
            })
            .buffer_unordered(CREATE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let took = started.elapsed();
        self.created = Some((n, took));
        Ok(took)
    }

    /// Counts the Documents that are `Ready=True` for their current generation, as a watch sees
    /// them. Started before the measured actor, so the watch's own start is not measured.
    pub async fn ready_counter(&self) -> Result<ReadyCounter, BenchError> {
        let (tx, rx) = watch::channel(0usize);
        let (synced_tx, mut synced) = watch::channel(false);
        let stream = watcher(self.documents(), watcher::Config::default()).default_backoff();
        let task = tokio::spawn(async move {
            let mut ready: HashSet<String> = HashSet::new();
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => {
                        if is_ready(&d) {
                            ready.insert(d.name_any());
                        } else {
                            ready.remove(&d.name_any());
                        }
                        tx.send_replace(ready.len());
                    }
                    Ok(watcher::Event::Delete(d)) => {
                        ready.remove(&d.name_any());
                        tx.send_replace(ready.len());
                    }
                    Ok(watcher::Event::InitDone) => {
                        synced_tx.send_replace(true);
                    }
                    Ok(watcher::Event::Init) => ready.clear(),
                    Err(e) => eprintln!("bench: ready watch: {e}"),
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(60), synced.wait_for(|s| *s)).await;
        Ok(ReadyCounter { rx, task })
    }

    /// CPU seconds the API server has used so far: on the sandbox the bench process (which
    /// hosts it), on a cluster `process_cpu_seconds_total` from the API server's `/metrics`
    /// (0 when it cannot be read, e.g. without the permission to `get` the `/metrics` path).
    pub async fn server_cpu_seconds(&self) -> f64 {
        if self.cluster.is_sandbox() {
            return crate::process::self_cpu_seconds().unwrap_or_default();
        }
        let request = http::Request::get("/metrics").body(Vec::new());
        let Ok(request) = request else { return 0.0 };
        match self.client.request_text(request).await {
            Ok(text) => {
                crate::process::Samples::parse(&text).sum("process_cpu_seconds_total", |_| true)
            }
            Err(e) => {
                eprintln!("bench: API server /metrics: {e}");
                0.0
            }
        }
    }

    /// Removes what the phase created: on the sandbox everything goes with it; on a cluster the
    /// finalizers are released, the namespace deleted, and the deletion waited for (at most
    /// `timeout`), so the next phase meets the API server as this one did, not busy deleting.
    pub async fn cleanup(self, timeout: Duration) -> Result<(), BenchError> {
        if self.cluster.is_sandbox() {
            return Ok(());
        }
        let took = self
            .ns
            .delete(&self.client, timeout)
            .await
            .map_err(|e| BenchError::msg(e.to_string()))?;
        eprintln!("bench: namespace {} deleted in {took:.1?}", self.namespace);
        Ok(())
    }
}

/// Releases the finalizers of the Documents of a phase's namespace about to be deleted on a
/// real cluster: no controller runs any more to remove them.
async fn release_documents(client: Client, namespace: String) {
    let api: Api<Document> = Api::namespaced(client, &namespace);
    let Ok(docs) = api.list(&ListParams::default()).await else {
        return;
    };
    let stuck: Vec<String> = docs
        .items
        .iter()
        .filter(|d| !d.finalizers().is_empty())
        .map(ResourceExt::name_any)
        .collect();
    futures::stream::iter(stuck)
        .for_each_concurrent(CREATE_CONCURRENCY, |name| {
            let api = api.clone();
            async move {
                let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
                let _ = api.patch(&name, &PatchParams::default(), &release).await;
            }
        })
        .await;
}

/// The number of ready Documents, kept current by a watch.
pub struct ReadyCounter {
    rx: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyCounter {
    /// Waits until at least `n` Documents are ready.
    pub async fn wait_for(&mut self, n: usize, timeout: Duration) -> Result<(), BenchError> {
        let outcome = tokio::time::timeout(timeout, self.rx.wait_for(|c| *c >= n))
            .await
            .map(|r| r.is_ok());
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(BenchError::msg("ready watch ended")),
            Err(_) => Err(BenchError::msg(format!(
                "only {} of {n} Documents ready after {timeout:?}",
                self.count()
            ))),
        }
    }

    /// How many are ready now.
    pub fn count(&self) -> usize {
        *self.rx.borrow()
    }
}

impl Drop for ReadyCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `Ready=True` with `observedGeneration == generation`.
pub fn is_ready(d: &Document) -> bool {
    d.status.as_ref().is_some_and(|s| {
        s.observed_generation.is_some()
            && s.observed_generation == d.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Document number `i`, with prose-like content of about `content_bytes` bytes.
pub fn document(i: usize, content_bytes: usize) -> Document {
    const WORDS: &[&str] = &[
        "controller",
        "reconcile",
        "the",
        "cluster",
        "status",
        "of",
        "a",
        "document",
        "is",
        "published",
        "when",
        "its",
        "spec",
        "changes",
        "and",
        "watch",
        "events",
        "arrive",
        "from",
        "server",
    ];
    let mut content = String::with_capacity(content_bytes + 16);
    let mut k = i as u64;
    while content.len() < content_bytes {
        k = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        content.push_str(WORDS[((k >> 33) % WORDS.len() as u64) as usize]);
        content.push(if (k >> 20).is_multiple_of(12) {
            '\n'
        } else {
            ' '
        });
    }
    Document::new(
        &format!("doc-{i:05}"),
        DocumentSpec {
            title: format!("Document number {i}"),
            content,
            hide: false,
        },
    )
}
