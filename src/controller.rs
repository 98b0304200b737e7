//! Wiring: the watches, caches and the kube-runtime [`Controller`] that drives [`reconcile`].
//!
//! Two watches feed the controller, each with `default_backoff()` so a failing API server is retried
//! calmly instead of ending the stream or spinning:
//!
//! * **Documents**: a streaming list (`streaming_lists()`) then watch, stripped of `managedFields`
//!   before caching (`.modify()`), filtered by `predicates::generation` combined with
//!   `predicates::finalizers`, so the controller's own status writes do not trigger it again while
//!   finalizer changes and deletions still do.
//! * **ConfigMaps** it manages (label selector), through a *shared* reflector: one watch fills the
//!   Store that reconciles read from and also triggers the owning Document (`owns_shared_stream`)
//!   when its ConfigMap is changed or deleted behind its back.
//!
//! Every watch event and watch error is counted in metrics and errors are logged at WARN: watcher
//! errors are soft (retried), but never silently ignored.

use crate::config::Config;
use crate::configmap::MANAGED_BY_SELECTOR;
use crate::crd::{CONTROLLER_NAME, Document};
use crate::fault::Fault;
use crate::index::IndexWriter;
use crate::metrics::Metrics;
use crate::reconcile::{Context, error_policy, reconcile};
use futures::{Stream, StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Buffer of the shared ConfigMap reflector: how many events a slow subscriber may lag behind.
const SHARED_STORE_BUFFER: usize = 1024;

/// How often the cached-object gauges are refreshed.
const CACHE_GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// What the running controller exposes to its caller.
pub struct Stores {
    /// The Document cache.
    pub documents: Store<Document>,
    /// The managed ConfigMap cache.
    pub config_maps: Store<ConfigMap>,
    /// Turns true once the Document watch has delivered its initial list (`InitDone`).
    ///
    /// Readiness waits on these rather than on `Store::wait_until_ready`: in kube-runtime 5.0 a
    /// Store's readiness can be awaited by one task only (a second waiter replaces the first one's
    /// waker), and the Controller already waits on the Document store to start its reconciles.
    pub documents_synced: watch::Receiver<bool>,
    /// Turns true once the ConfigMap watch has delivered its initial list.
    pub config_maps_synced: watch::Receiver<bool>,
}

/// Builds the watches and the controller; the returned future runs until `shutdown` resolves and
/// in-flight reconciles have finished.
pub fn build(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> (Stores, BoxFuture<'static, ()>) {
    let (docs, cms) = match &config.namespace {
        Some(ns) => (
            Api::<Document>::namespaced(client.clone(), ns),
            Api::<ConfigMap>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<Document>::all(client.clone()),
            Api::<ConfigMap>::all(client.clone()),
        ),
    };
    let keep_managed_fields = config.faults.is_on(Fault::KeepManagedFields);
    metrics.watch_started("documents", WATCH_ERROR_REASONS);
    metrics.watch_started("configmaps", WATCH_ERROR_REASONS);
    let (docs_synced_tx, documents_synced) = watch::channel(false);
    let (cms_synced_tx, config_maps_synced) = watch::channel(false);

    // Owned ConfigMaps: one shared reflector is both the Store for reads and the owner trigger.
    let (cm_store, cm_writer) = reflector::store_shared(SHARED_STORE_BUFFER);
    let cm_subscriber = cm_writer
        .subscribe()
        .expect("a store_shared writer always hands out subscribers");
    let cm_watch = watcher(cms, watcher_config(&config).labels(MANAGED_BY_SELECTOR))
        .default_backoff()
        .modify(move |cm: &mut ConfigMap| strip(cm, keep_managed_fields))
        .inspect(observe("configmaps", metrics.clone(), move || {
            cms_synced_tx.send_replace(true)
        }))
        .reflect_shared(cm_writer)
        .for_each(|_| futures::future::ready(()));

    // Documents: streaming list + watch, stripped, cached, then filtered by predicates.
    let (doc_store, doc_writer) = reflector::store();
    let doc_events = watcher(docs, watcher_config(&config))
        .default_backoff()
        .modify(move |doc: &mut Document| strip(doc, keep_managed_fields))
        .inspect(observe("documents", metrics.clone(), move || {
            docs_synced_tx.send_replace(true)
        }))
        .reflect(doc_writer)
        .applied_objects();
    let doc_trigger = filter_changes(doc_events, &config);

    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        config_maps: cm_store.clone(),
        config_maps_synced: config_maps_synced.clone(),
        index: IndexWriter::spawn(client, config.index_batch_window, metrics.clone()),
        metrics: metrics.clone(),
        failures: Mutex::new(HashMap::new()),
        config: config.clone(),
    });

    let controller = Controller::for_stream(doc_trigger, doc_store.clone())
        .owns_shared_stream(cm_subscriber)
        .with_config(controller_config(&config))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _action)) => tracing::debug!(object.ref = %object, "reconciled"),
                // Reconcile errors are logged by error_policy; these are the controller's own
                // (e.g. the object vanished from the store before its reconcile ran).
                Err(error) => tracing::debug!(%error, "controller"),
            }
        });

    let gauges = cache_gauges(doc_store.clone(), cm_store.clone(), metrics);
    let run = async move {
        // The ConfigMap watch and the gauges live as long as the controller; once the controller
        // has drained (graceful shutdown), they are dropped with this future.
        tokio::select! {
            () = controller => {},
            () = cm_watch => {},
            () = gauges => {},
        }
    };
    (
        Stores {
            documents: doc_store,
            config_maps: cm_store,
            documents_synced,
            config_maps_synced,
        },
        Box::pin(run),
    )
}

/// Watch settings shared by both watches.
fn watcher_config(config: &Config) -> watcher::Config {
    // FAULT(unpaged-initial-list): one LIST of everything holds every object, in one response, in
    // memory at once, on top of the cache being built. Fix: a streaming list (objects arrive one by
    // one over the watch), or at least paging.
    if config.faults.is_on(Fault::UnpagedInitialList) {
        return watcher::Config::default().any_semantic();
    }
    watcher::Config::default().streaming_lists()
}

/// Reconcile only on changes that matter: a new generation (spec change or deletion) or a
/// finalizer change. Status writes, including the controller's own, do not pass.
fn filter_changes(
    docs: impl Stream<Item = Result<Document, watcher::Error>> + Send + 'static,
    config: &Config,
) -> futures::stream::BoxStream<'static, Result<Document, watcher::Error>> {
    // FAULT(no-predicate): without a filter every status write the controller makes comes back as
    // a watch event and triggers another reconcile; with a non-deterministic status
    // (status-timestamp) that never ends.
    if config.faults.is_on(Fault::NoPredicate) {
        return docs.boxed();
    }
    // FAULT(generation-only-predicate): generation alone misses finalizer changes (they do not
    // bump generation), so the reconcile that follows adding the finalizer never comes and
    // finalizer-driven steps wait for a periodic requeue.
    if config.faults.is_on(Fault::GenerationOnlyPredicate) {
        return docs
            .predicate_filter(predicates::generation, Default::default())
            .boxed();
    }
    docs.predicate_filter(
        predicates::generation.combine(predicates::finalizers),
        Default::default(),
    )
    .boxed()
}

fn controller_config(config: &Config) -> controller::Config {
    // FAULT(unbounded-concurrency): 0 means no limit; thousands of reconciles hit the API server at
    // once and it answers 429. Fix: a bound that the API server's fairness share can take.
    let concurrency = if config.faults.is_on(Fault::UnboundedConcurrency) {
        0
    } else {
        config.concurrency
    };
    controller::Config::default().concurrency(concurrency)
}

/// Drops what the controller never reads before it is cached: `managedFields` is often larger than
/// the object itself, and `last-applied-configuration` repeats the whole spec.
fn strip<K: Resource>(obj: &mut K, keep_managed_fields: bool) {
    // FAULT(keep-managed-fields): cache objects as they come; the Store then holds every field
    // manager's bookkeeping for every object. Fix: strip it here, before the reflector.
    if keep_managed_fields {
        return;
    }
    obj.managed_fields_mut().clear();
    obj.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
}

/// Counts watch events and logs watch errors, passing every item on unchanged.
fn observe<K>(
    resource: &'static str,
    metrics: Arc<Metrics>,
    on_init_done: impl Fn() -> bool + Send + 'static,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    move |item| match item {
        Ok(event) => {
            if matches!(event, watcher::Event::InitDone) {
                on_init_done();
            }
            metrics.watch_event(resource, event_label(event));
        }
        Err(error) => {
            metrics.watch_error(resource, watch_error_reason(error));
            tracing::warn!(resource, %error, "watch error, retrying with backoff");
        }
    }
}

fn event_label<K>(event: &watcher::Event<K>) -> &'static str {
    match event {
        watcher::Event::Apply(_) => "apply",
        watcher::Event::Delete(_) => "delete",
        watcher::Event::Init => "init",
        watcher::Event::InitApply(_) => "init_apply",
        watcher::Event::InitDone => "init_done",
    }
}

/// Every value [`watch_error_reason`] returns, so each series exists (at 0) from the start.
pub const WATCH_ERROR_REASONS: &[&str] = &[
    "connection",
    "401",
    "403",
    "404",
    "410",
    "429",
    "5xx",
    "other",
    "no_resource_version",
];

/// A bounded label for a watch error: the HTTP status when the API server sent one.
pub fn watch_error_reason(error: &watcher::Error) -> &'static str {
    let code = match error {
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        },
        watcher::Error::NoResourceVersion => return "no_resource_version",
    };
    match code {
        None => "connection",
        Some(401) => "401",
        Some(403) => "403",
        Some(404) => "404",
        Some(410) => "410",
        Some(429) => "429",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

/// Keeps `doc_controller_cached_objects{store}` current.
async fn cache_gauges(docs: Store<Document>, cms: Store<ConfigMap>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(CACHE_GAUGE_INTERVAL);
    loop {
        tick.tick().await;
        metrics.set_cached_objects("documents", docs.len());
        metrics.set_cached_objects("configmaps", cms.len());
    }
}
