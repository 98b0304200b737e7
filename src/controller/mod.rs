//! Wiring: the watches, caches and the kube-runtime [`Controller`] that drives [`reconcile`].
//!
//! Two watches ([`watches`]) feed the controller, each with `default_backoff()` so a failing API
//! server is retried calmly instead of ending the stream or spinning:
//!
//! * **Documents**: a streaming list (`streaming_lists()`) then watch, stripped of `managedFields`
//!   before caching (`.modify()`), filtered by `predicates::generation` combined with
//!   `predicates::finalizers`, so the controller's own status writes do not trigger it again while
//!   finalizer changes and deletions still do.
//! * **ConfigMaps** it manages (label selector): one watch fills the Store that reconciles read
//!   from, each ConfigMap kept in a compact form ([`crate::configmap::cached`]), and reconciles the
//!   owning Document when its ConfigMap is changed or deleted behind its back, but not on the echo
//!   of the controller's own writes ([`owner_trigger`]).
//!
//! Every watch event and watch error is counted in metrics and errors are logged at WARN: watcher
//! errors are soft (retried), but never silently ignored.

pub mod cache_size;
pub mod changes;
pub mod owner_trigger;
pub mod per_object;
pub mod toggles;
pub mod watches;

use crate::config::Config;
use crate::configmap::cached::{CachedConfigMap, cached_event};
use crate::crd::{CONTROLLER_NAME, Document};
use crate::diagnosis::{Doctor, Inputs};
use crate::events::EventRecorder;
use crate::fault::{Fault, LiveFaults};
use crate::finalizer::FinalizerWrites;
use crate::index::IndexWriter;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::reconcile::{Context, StatusWrites, error_policy, reconcile};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use kube::Client;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use owner_trigger::OwnerTrigger;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use watches::{Observer, WATCH_ERROR_REASONS};

pub use watches::watch_error_reason;

/// How often the cached-object gauges are refreshed.
const CACHE_GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// When the running controller's caches are filled, for readiness.
pub struct Synced {
    /// Turns true once the Document watch has delivered its initial list (`InitDone`).
    ///
    /// Readiness waits on these rather than on `Store::wait_until_ready`: in kube-runtime 5.0 a
    /// Store's readiness can be awaited by one task only (a second waiter replaces the first one's
    /// waker), and the Controller already waits on the Document store to start its reconciles.
    pub documents: watch::Receiver<bool>,
    /// Turns true once the ConfigMap watch has delivered its initial list.
    pub config_maps: watch::Receiver<bool>,
}

/// The controller stopped because of a watch error (only with the `crash-on-error` toggle).
#[derive(Debug, thiserror::Error)]
#[error("{0} (fault toggle crash-on-error is on)")]
pub struct WatchFailed(pub String);

/// Builds the watches and the controller; the returned future runs until `shutdown` resolves and
/// in-flight reconciles have finished.
pub fn build(
    client: Client,
    config: Config,
    faults: LiveFaults,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    doctor: Doctor,
    shutdown: Shared<BoxFuture<'static, ()>>,
) -> (Synced, BoxFuture<'static, Result<(), WatchFailed>>) {
    for resource in ["documents", "configmaps"] {
        metrics.watch_started(resource, WATCH_ERROR_REASONS);
        metrics.signals().watch_started(resource);
    }
    let (docs_synced_tx, documents_synced) = watch::channel(false);
    let (cms_synced_tx, config_maps_synced) = watch::channel(false);
    let (fatal_tx, mut fatal_rx) = mpsc::channel(1);
    let observer = |resource, synced: watch::Sender<bool>| Observer {
        resource,
        metrics: metrics.clone(),
        on_init_done: Box::new(move || {
            synced.send_replace(true);
        }),
        fatal: fatal_tx.clone(),
        faults: faults.clone(),
        doctor: doctor.clone(),
    };

    // Documents: streaming list + watch, stripped, cached, then filtered by predicates.
    let (doc_store, doc_writer) = reflector::store();
    let docs_api = watches::documents_api(&client, &config);
    let strip_config = config.clone();
    let documents_watch = watches::documents_watch_config(&config);
    let selector = documents_watch.label_selector.clone();
    // What each event changed, judged before the reflector replaces the cached Document.
    let changes = Arc::new(changes::ChangeTracker::new(
        doc_store.clone(),
        metrics.clone(),
    ));
    let seen_changes = changes.clone();
    let doc_events = watches::watch(docs_api, documents_watch, &config)
        .modify(move |doc: &mut Document| {
            watches::strip(doc, &strip_config);
        })
        .inspect(move |event| match event {
            Ok(watcher::Event::Apply(doc) | watcher::Event::InitApply(doc)) => {
                seen_changes.seen(doc);
            }
            Ok(watcher::Event::Init) => seen_changes.list_started(),
            _ => {}
        })
        .boxed();
    // Status writes the cache has not shown yet; each goes once the cache shows its Document.
    let status_writes = Arc::new(StatusWrites::default());
    let seen = status_writes.clone();
    // Finalizer updates the reconcile went on from; their watch echo triggers nothing.
    let finalizer_writes = Arc::new(FinalizerWrites::default());
    let (superseded, echoes_dropped) = (finalizer_writes.clone(), finalizer_writes.clone());
    let echoes = metrics.clone();
    // Observed after the reflector: "synced" must not be signalled before the Store holds the list.
    let doc_events = observer("documents", docs_synced_tx)
        .observe(doc_events.reflect(doc_writer).boxed())
        .inspect(move |event| {
            if let Ok(watcher::Event::Apply(doc) | watcher::Event::InitApply(doc)) = event {
                superseded.seen(doc);
                if seen.seen(doc) {
                    echoes.signals().own_write_echoed();
                }
            }
        });

    // Owned ConfigMaps: one watch fills the Store that reconciles read (each ConfigMap cached in
    // its compact form, see `configmap::cached`) and reconciles a Document when its ConfigMap
    // shows something to repair (`owner_trigger`), not on the echo of the controller's own writes.
    let (cm_store, cm_writer) = reflector::store();
    let (cm_api, cm_wc) = watches::config_maps_watch(&client, &config);
    let cm_events = watches::watch(cm_api, cm_wc, &config)
        .map_ok(cached_event)
        .boxed();
    let (owners_tx, owners_rx) = mpsc::unbounded_channel();
    let owners = OwnerTrigger::new(doc_store.clone(), faults.clone());
    // Observed after the reflector: reconciles wait for "synced" and then read the Store, so the
    // signal must follow the reflector's swap of the initial list into the Store. Observed before
    // it, a reconcile on another thread could wake up between the two, find the Store empty and
    // rewrite a ConfigMap that is there (seen as 1 to 6 writes at start with 10,000 Documents).
    let cm_events = reflector::reflector(cm_writer, cm_events).boxed();
    let repairs = metrics.clone();
    let index = IndexWriter::spawn(client.clone(), config.index_batch_window, metrics.clone());
    // The index writer answers for its own writes until the cache shows them (`index::unseen`),
    // within one term as leader.
    let (index_seen, index_terms) = (index.clone(), index.clone());
    let cm_watch = observer("configmaps", cms_synced_tx)
        .observe(cm_events)
        .for_each(move |event| {
            if let Ok(event) = event {
                index_seen.observe(&event);
                if let Some(owner) = owners.owner_to_reconcile(&event) {
                    repairs.signals().reconciles_requested("owned", 1);
                    // The controller outlives this watch; a closed channel only means it is
                    // stopping.
                    let _ = owners_tx.send(owner);
                }
            }
            futures::future::ready(())
        });

    let (offered, passed) = (changes.clone(), changes);
    // A list's Documents are triggered at its end, once the Store holds them: a reconcile reads
    // its Document from the Store (see `applied_from_store`).
    let doc_trigger = filter_changes(
        watches::applied_from_store(doc_events, doc_store.clone())
            .inspect(move |doc| {
                if let Ok(doc) = doc {
                    offered.offered(doc);
                }
            })
            .boxed(),
        faults.clone(),
    )
    .inspect(move |_| passed.passed())
    // The echo of a finalizer update the reconcile went on from: that resourceVersion was
    // reconciled already (`finalizer::FinalizerWrites`).
    .filter(move |doc| {
        let echo = matches!(doc, Ok(doc) if echoes_dropped.is_echo(doc));
        futures::future::ready(!echo)
    })
    .boxed();

    // FAULT(watch-per-object): a watch per Document's ConfigMap instead of the shared reflector
    // below: open watches grow with the number of Documents. Fix: one shared watch for all.
    let (object_watches, per_object_trigger) = if config.faults.is_on(Fault::WatchPerObject) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Some(per_object::ObjectWatches::new(
                client.clone(),
                tx,
                metrics.clone(),
            )),
            Some(UnboundedReceiverStream::new(rx)),
        )
    } else {
        (None, None)
    };
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: EventRecorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.into(),
                // Each replica's Events say which one published them (`reportingInstance`).
                instance: Some(leadership.identity().to_string()),
            },
        ),
        config_maps: cm_store.clone(),
        config_maps_synced: config_maps_synced.clone(),
        index,
        metrics: metrics.clone(),
        failures: Mutex::new(HashMap::new()),
        status_writes,
        finalizer_writes,
        object_watches,
        faults: faults.clone(),
        leadership: leadership.clone(),
        config: config.clone(),
    });

    let controller = Controller::for_stream(doc_trigger, doc_store.clone());
    // FAULT(no-backoff): see `watches::watch`; the Controller's own trigger backoff would
    // otherwise hide the missing one on the Document watch.
    let controller = if config.faults.is_on(Fault::NoBackoff) {
        controller.trigger_backoff(watches::NoBackoff)
    } else {
        controller
    };
    // Every Document again: on each resync tick, whenever live toggles change, so that a
    // toggle's symptom shows (and ends) at once rather than at the next change of a Document,
    // and at the start of every term as leader: a standby's reconciles did nothing, so a new
    // leader catches up as on a start.
    let (toggled_tx, toggled_rx) = mpsc::unbounded_channel();
    let requested = |source: &'static str| {
        let (store, metrics) = (doc_store.clone(), metrics.clone());
        move |()| metrics.signals().reconciles_requested(source, store.len())
    };
    let controller = controller
        .reconcile_all_on(resync_ticks(config.resync_period).map(requested("resync")))
        .reconcile_all_on(UnboundedReceiverStream::new(toggled_rx).map(requested("toggles")))
        .reconcile_all_on(
            terms(leadership.terms())
                .map(move |()| index_terms.forget_unseen())
                .map(requested("leader")),
        );
    let controller = match per_object_trigger {
        Some(per_object) => controller.reconcile_on(per_object),
        None => controller.reconcile_on(UnboundedReceiverStream::new(owners_rx)),
    };
    let concurrency = effective_concurrency(&config);
    let failing = context.clone();
    doctor.attach(Inputs {
        documents: doc_store.clone(),
        config_maps: cm_store.clone(),
        failing: Arc::new(move |doc| failing.is_failing(doc)),
        selector,
        concurrency,
    });
    metrics.signals().set_controller_running(true);
    let controller = controller
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _action)) => tracing::debug!(object.ref = %object, "reconciled"),
                // Reconcile errors are logged by error_policy; these are the controller's own
                // (e.g. the object vanished from the store before its reconcile ran).
                Err(error) => tracing::debug!(%error, "controller"),
            }
        });

    let toggles = if config.live_faults {
        let api = kube::Api::namespaced(client, &toggles::namespace(config.namespace.as_deref()));
        toggles::follow(api, faults, metrics.clone(), toggled_tx).boxed()
    } else {
        futures::future::pending().boxed()
    };
    let sizes = cache_size::CacheSizeCollector::new(doc_store.clone(), cm_store.clone())
        .and_then(|sizes| metrics.register_at_scrape(Box::new(sizes)));
    if let Err(error) = sizes {
        tracing::warn!(%error, "cached object sizes are not measured");
    }
    let gauges = cache_gauges(doc_store.clone(), cm_store.clone(), metrics);
    // kube-runtime holds reconciles back until the Document cache is ready, and its graceful
    // shutdown waits for that runner; if the cache never filled (CRD missing, RBAC denying the
    // watch), there is nothing in flight to finish: stop at once.
    let synced = documents_synced.clone();
    let never_synced = async move {
        shutdown.await;
        if !*synced.borrow() {
            return;
        }
        std::future::pending::<()>().await;
    };
    let run = async move {
        // The ConfigMap watch and the gauges live as long as the controller; once the controller
        // has drained (graceful shutdown), they are dropped with this future.
        tokio::select! {
            () = controller => Ok(()),
            () = cm_watch => Ok(()),
            () = gauges => Ok(()),
            () = toggles => Ok(()),
            () = never_synced => Ok(()),
            Some(error) = fatal_rx.recv() => Err(WatchFailed(error)),
        }
    };
    (
        Synced {
            documents: documents_synced,
            config_maps: config_maps_synced,
        },
        Box::pin(run),
    )
}

/// Reconcile only on changes that matter: a new generation (spec change or deletion) or a
/// finalizer change. Status writes, including the controller's own, do not pass.
fn filter_changes(
    docs: BoxStream<'static, Result<Document, watcher::Error>>,
    faults: LiveFaults,
) -> BoxStream<'static, Result<Document, watcher::Error>> {
    docs.predicate_filter(
        move |doc: &Document| changes_that_matter(doc, &faults),
        Default::default(),
    )
    .boxed()
}

/// The hash of what should trigger a reconcile; a Document passes when it changes. `None`
/// lets every event through.
fn changes_that_matter(doc: &Document, faults: &LiveFaults) -> Option<u64> {
    // FAULT(no-predicate): without a filter every status write the controller makes comes back as
    // a watch event and triggers another reconcile; with a non-deterministic status
    // (status-timestamp) that never ends.
    if faults.is_on(Fault::NoPredicate) {
        return None;
    }
    // FAULT(generation-only-predicate): generation alone misses finalizer changes (they do not
    // bump generation), so the reconcile that follows adding the finalizer never comes and
    // finalizer-driven steps wait for a periodic requeue.
    if faults.is_on(Fault::GenerationOnlyPredicate) {
        return predicates::generation(doc);
    }
    // FAULT(predicate-blocks-all): a predicate whose value never changes lets each Document
    // through once, at first sight, and never again: edits are not reconciled, with no log line
    // to say so. Fix: hash what should trigger a reconcile (generation, finalizers).
    if faults.is_on(Fault::PredicateBlocksAll) {
        return Some(0);
    }
    predicates::generation
        .combine(predicates::finalizers)
        .hash_property(doc)
}

/// One tick every `period`, the first one `period` after start; each reconciles every cached
/// Document (`reconcile_all_on`), to catch drift that no watch reports.
///
/// One timer for all Documents rather than a requeue per Document after each reconcile: with
/// requeues, the Controller's scheduler holds an entry per Document for the whole period (about
/// 800 bytes each, 8 MB at 10,000 Documents, measured with heaptrack), allocated in between the
/// reconciles' short-lived buffers, which leaves the heap fragmented.
fn resync_ticks(period: Duration) -> impl futures::Stream<Item = ()> + Send + 'static {
    // `interval` panics on a zero period; the configuration rejects it, this guards code callers.
    let period = period.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio_stream::wrappers::IntervalStream::new(ticks).map(|_| ())
}

/// One item at the start of every term as leader ([`Leadership::terms`]); terms that began in
/// quick succession may give one item, which reconciles every Document all the same.
fn terms(terms: watch::Receiver<u64>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(terms, |mut terms| async move {
        terms.changed().await.ok()?;
        terms.borrow_and_update();
        Some(((), terms))
    })
}

/// The number of Documents reconciled at once (`controller::Config::concurrency`; 0: no limit).
fn effective_concurrency(config: &Config) -> u16 {
    // FAULT(unbounded-concurrency): 0 means no limit; thousands of reconciles hit the API server at
    // once and it answers 429. Fix: a bound that the API server's fairness share can take.
    if config.faults.is_on(Fault::UnboundedConcurrency) {
        0
    } else {
        config.concurrency
    }
}

/// Keeps `doc_controller_cached_objects{store}` current.
async fn cache_gauges(docs: Store<Document>, cms: Store<CachedConfigMap>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(CACHE_GAUGE_INTERVAL);
    loop {
        tick.tick().await;
        metrics.set_cached_objects("documents", docs.len());
        metrics.set_cached_objects("configmaps", cms.len());
    }
}
