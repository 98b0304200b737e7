//! The reconciler: from one Document to its ConfigMap, index entry, status and Events.
//!
//! # Expected flow
//! [`reconcile`] opens a span carrying the object ref, starts the duration timer, and asks
//! [`finalizer::Step`] what the Document needs: the `documents.kube.rs` finalizer on first sight
//! (and nothing else until it is there), then [`apply`] while the Document lives, and [`cleanup`]
//! followed by the finalizer's release once it is deleted.
//!
//! # Guarantees
//! * Idempotent: the reconcile reason is not known (by design of kube-runtime), so every step
//!   compares what is there with what should be, and writes only the difference. Reconciling an
//!   unchanged Document sends zero write requests.
//! * Reads of owned objects come from the ConfigMap [`Store`], fed by the shared reflector, not from
//!   the API server.
//! * Bad input is not an error: an invalid spec sets `Ready=False`/`InvalidSpec`, publishes one
//!   Warning, and waits for a change.
//!
//! # Errors
//! API failures return [`Error`]; [`error_policy`] retries each Document with an exponential backoff
//! whose base depends on the kind of error ([`crate::error::RetryClass`]).

use crate::FIELD_MANAGER;
use crate::config::Config;
use crate::configmap;
use crate::configmap::cached::CachedConfigMap;
use crate::document::status::{self, Outcome};
use crate::document::{Document, DocumentStatus, published, validation};
use crate::error::{Error, RetryClass, backoff_delay};
use crate::events::{self, DocumentEvent};
// region: fault-catalogue
use crate::fault::Fault;
// endregion: fault-catalogue
use crate::finalizer;
use crate::index::{IndexWriter, Written};
use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::{Instrument, field};

/// Everything a reconcile needs, built once and shared by all reconciles.
pub struct Context {
    /// Client for writes (and, only with `direct-reads`, reads).
    pub client: Client,
    /// The effective configuration.
    pub config: Config,
    /// Metrics of reconciles, status writes and the index.
    pub metrics: Arc<Metrics>,
    /// Event recorder; one per controller so its deduplication cache works.
    pub recorder: events::EventRecorder,
    /// Cache of the ConfigMaps this controller manages (published ones and the indexes).
    pub config_maps: Store<CachedConfigMap>,
    /// True once the ConfigMap cache holds its initial list; reads wait for it.
    pub config_maps_synced: tokio::sync::watch::Receiver<bool>,
    /// Batched writer of `documents-index`.
    pub index: IndexWriter,
    /// Consecutive failures per Document, for the exponential backoff; cleared on success.
    pub failures: Mutex<HashMap<ObjectRef<Document>, u32>>,
    /// The last status written per Document, with the resourceVersion it was written over; see
    /// [`StatusWrites`]; shared with the Document watch, which prunes it.
    pub status_writes: Arc<StatusWrites>,
    /// Finalizer updates a reconcile went on from, until their watch echo comes back; shared
    /// with the Document trigger, which drops that echo.
    pub finalizer_writes: Arc<finalizer::FinalizerWrites>,
    /// Whether this replica leads; a standby's reconciles do nothing (see [`crate::leader`]).
    pub leadership: crate::leader::Leadership,
    // region: fault-catalogue
    /// The failure toggles in force; the live ones change at run time.
    pub faults: crate::fault::LiveFaults,
    /// Per-Document ConfigMap watches, only with the `watch-per-object` toggle.
    pub object_watches: Option<crate::controller::per_object::ObjectWatches>,
    // endregion: fault-catalogue
}

/// Reconciles one Document. Called by the [`kube::runtime::Controller`].
pub async fn reconcile(doc: Arc<Document>, ctx: Arc<Context>) -> Result<Action, Error> {
    // A standby keeps its caches warm and leaves the work to the leader: no request, no metric.
    // When it becomes leader every Document is reconciled again (`controller::build`).
    if !ctx.leadership.is_leading() {
        return Ok(Action::await_change());
    }
    let object_ref = ObjectRef::from_obj(doc.as_ref());
    // The root span of this reconcile: every log line and OpenTelemetry span below carries the
    // object ref, and the trace id is recorded so logs can be joined with traces.
    let span = tracing::info_span!(
        "reconcile",
        object.ref = %object_ref,
        trace_id = field::Empty,
    );
    async move {
        if let Some(trace_id) = crate::telemetry::current_trace_id() {
            tracing::Span::current().record("trace_id", field::display(trace_id));
        }
        let _timer = ctx.metrics.reconcile_started();
        let result = crate::signals::SlowPolls::new(reconcile_inner(doc, &ctx), &ctx.metrics).await;
        match &result {
            Ok(_) => {
                ctx.metrics.reconcile_succeeded();
                ctx.forget_failures(&object_ref);
            }
            Err(e) => ctx.metrics.reconcile_failed(e.metric_label()),
        }
        result
    }
    .instrument(span)
    .await
}

async fn reconcile_inner(doc: Arc<Document>, ctx: &Context) -> Result<Action, Error> {
    // FAULT(blocking-reconcile): synchronous sleep or I/O inside an async fn holds the runtime
    // thread (here for 250 ms); every other task on it (watches, other reconciles, /metrics)
    // waits. tokio-console shows long polls. Fix: never block in async code; use
    // `tokio::time::sleep`, async I/O, or `spawn_blocking` for unavoidable blocking work.
    if ctx.faults.is_on(Fault::BlockingReconcile) {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let namespace = doc
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(doc.name_any()))?;
    let api: Api<Document> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = doc.name_any();
    match finalizer::Step::of(&doc) {
        finalizer::Step::Add => {
            let added =
                finalizer::add(&finalizer::documents(ctx.client.clone(), &namespace), &name)
                    .await
                    .map_err(|e| Error::kube(format!("add finalizer to Document {name}"), e))?;
            // FAULT(generation-only-predicate): a reconcile that stops after adding the finalizer
            // and waits for the update's watch event (as kube's `finalizer()` helper does) waits
            // forever when the predicate ignores finalizer changes: the Document has its finalizer
            // and nothing else until the resync. Fix: a predicate that passes finalizer changes
            // (`controller::changes_that_matter`); and here, going on with the update's answer.
            if ctx.faults.is_on(Fault::GenerationOnlyPredicate) {
                return Ok(Action::await_change());
            }
            // The Document as stored now, finalizer included (`finalizer::add`): publish it at
            // once rather than after a watch round trip; its echo will trigger nothing.
            let Some(mut doc) = added else {
                return Ok(Action::await_change());
            };
            crate::controller::watches::strip_unread(&mut doc);
            ctx.finalizer_writes.record(&doc);
            apply(&doc, ctx, &api).await
        }
        finalizer::Step::Apply => apply(&doc, ctx, &api).await,
        finalizer::Step::Cleanup => {
            let action = cleanup(&doc, ctx).await?;
            finalizer::release(&finalizer::documents(ctx.client.clone(), &namespace), &name)
                .await
                .map_err(|e| Error::kube(format!("release finalizer of Document {name}"), e))?;
            Ok(action)
        }
        finalizer::Step::Done => Ok(Action::await_change()),
    }
}

/// Brings a live Document's ConfigMap, index entry and status to what its spec asks for.
pub async fn apply(doc: &Document, ctx: &Context, api: &Api<Document>) -> Result<Action, Error> {
    let outcome = match validation::validate(doc) {
        // Bad input loses nothing: what was published stays until the spec is fixed.
        Err(reason) => Outcome::Invalid {
            reason,
            published: current_config_map(doc, ctx)
                .await?
                .map(|_| doc.config_map_name()),
        },
        Ok(()) if doc.spec.hide => {
            unpublish(doc, ctx).await?;
            Outcome::Hidden
        }
        Ok(()) => match publish(doc, ctx).await {
            Ok(()) => Outcome::Published {
                config_map: doc.config_map_name(),
            },
            // Published, not listed: the status and a Warning Event say why and what to do; the
            // error keeps the Document retrying slowly, so room made by deletions is found.
            Err(full @ Error::IndexFull { .. }) => {
                let outcome = Outcome::NotListed {
                    config_map: doc.config_map_name(),
                    why: full.to_string(),
                };
                write_status(doc, &outcome, ctx, api).await?;
                return Err(full);
            }
            Err(error) => return Err(error),
        },
    };
    write_status(doc, &outcome, ctx, api).await?;
    // No requeue per Document: the periodic resync is one timer for all of them
    // (`controller::resync_ticks`), so the Controller's scheduler holds nothing while all is well.
    Ok(Action::await_change())
}

/// Runs when a Document with our finalizer is deleted: remove its index entry and say so. Its
/// ConfigMap needs nothing: the garbage collector removes it through the owner reference.
pub async fn cleanup(doc: &Document, ctx: &Context) -> Result<Action, Error> {
    // FAULT(cleanup-fails): a cleanup that can never succeed keeps the finalizer forever; the
    // Document stays Terminating. Fix: make cleanup succeed eventually, treating what is already
    // gone (a missing index, a missing entry) as done, as `write_index` does.
    if ctx.faults.is_on(Fault::CleanupFails) {
        return Err(Error::InjectedCleanupFailure);
    }
    let namespace = doc.namespace().unwrap_or_default();
    if current_index_entry(doc, ctx).await? != IndexEntry::Is(None) {
        ctx.index.set(&namespace, &doc.name_any(), None).await?;
    }
    events::publish(&ctx.recorder, doc, &DocumentEvent::Deleted).await;
    // FAULT(watch-per-object): the deleted Document's own ConfigMap watch stops (see
    // `controller::per_object`).
    if let Some(watches) = &ctx.object_watches {
        watches.forget(doc);
    }
    ctx.status_writes.forget(doc);
    Ok(Action::await_change())
}

/// Server-side applies the Document's ConfigMap and lists it in the index, each only if needed.
async fn publish(doc: &Document, ctx: &Context) -> Result<(), Error> {
    // FAULT(watch-per-object): a watch of this Document's own ConfigMap (see
    // `controller::per_object`).
    if let Some(watches) = &ctx.object_watches {
        watches.ensure(doc);
    }
    apply_config_map(doc, ctx).await?;
    let title = Some(doc.spec.title.clone());
    if current_index_entry(doc, ctx).await? != IndexEntry::Is(title.clone()) {
        let namespace = doc.namespace().unwrap_or_default();
        ctx.index.set(&namespace, &doc.name_any(), title).await?;
    }
    Ok(())
}

/// Server-side applies the ConfigMap the Document is published as ([`published::published`]),
/// unless the cache shows it holds that already in the fields this controller owns.
async fn apply_config_map(doc: &Document, ctx: &Context) -> Result<(), Error> {
    let desired = published::published(doc);
    let current = current_config_map(doc, ctx).await?;
    // FAULT(rival-writer): insisting on the whole object (compare everything, PUT everything)
    // removes what any other writer added; when another controller adds it back, the two take
    // turns forever: alternating resourceVersions under `kubectl get -w`. Fix: server-side apply
    // of the fields this controller owns, compared on those fields only (below).
    if ctx.faults.is_on(Fault::RivalWriter) {
        return replace_whole(doc, ctx, current, desired).await;
    }
    if current.is_some_and(|current| current.is_up_to_date(&desired)) {
        return Ok(());
    }
    let name = doc.config_map_name();
    config_maps(doc, ctx)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(|e| Error::kube(format!("apply ConfigMap {name}"), e))?;
    Ok(())
}

// region: fault-catalogue
/// The wrong way of `rival-writer`: the ConfigMap must be exactly `desired`, other writers'
/// labels and annotations included; a PUT replaces it whole.
async fn replace_whole(
    doc: &Document,
    ctx: &Context,
    current: Option<CachedConfigMap>,
    mut desired: ConfigMap,
) -> Result<(), Error> {
    let name = doc.config_map_name();
    let api = config_maps(doc, ctx);
    let result = match current {
        Some(current) if !current.is_annotated() && current.is_up_to_date(&desired) => Ok(()),
        Some(current) => {
            desired.metadata.resource_version = current.resource_version().map(str::to_string);
            api.replace(&name, &kube::api::PostParams::default(), &desired)
                .await
                .map(|_| ())
        }
        None => api
            .create(&kube::api::PostParams::default(), &desired)
            .await
            .map(|_| ()),
    };
    result.map_err(|e| Error::kube(format!("replace ConfigMap {name}"), e))
}
// endregion: fault-catalogue

/// Removes the Document's ConfigMap and index entry, each only if present.
async fn unpublish(doc: &Document, ctx: &Context) -> Result<(), Error> {
    if current_config_map(doc, ctx).await?.is_some() {
        let name = doc.config_map_name();
        match config_maps(doc, ctx)
            .delete(&name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            // Already gone is what we wanted.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(Error::kube(format!("delete ConfigMap {name}"), e)),
        }
    }
    if matches!(
        current_index_entry(doc, ctx).await?,
        IndexEntry::Is(Some(_)) | IndexEntry::Unknown
    ) {
        let namespace = doc.namespace().unwrap_or_default();
        ctx.index.set(&namespace, &doc.name_any(), None).await?;
    }
    Ok(())
}

/// Writes the status only when it differs from what is on the object, and announces transitions.
async fn write_status(
    doc: &Document,
    outcome: &Outcome,
    ctx: &Context,
    api: &Api<Document>,
) -> Result<(), Error> {
    // The status as last written, if the cache has not caught up with that write yet.
    let known;
    let doc = match ctx.status_writes.unseen(doc) {
        Some(written) => {
            known = Document {
                status: Some(written),
                ..doc.clone()
            };
            &known
        }
        None => doc,
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let desired = status::desired_status(doc, outcome, &now);
    // FAULT(status-timestamp): "reconciled at <now>" makes every computed status differ from the
    // last one, so every reconcile writes status and bumps resourceVersion (and, without a
    // predicate, triggers itself again, forever). Fix: only values derived from the spec and the
    // controller's actions; a time only where the API conventions ask for one
    // (`lastTransitionTime`, moved only on a transition), as `status::desired_status` does.
    let desired = if ctx.faults.is_on(Fault::StatusTimestamp) {
        status::with_reconcile_time(desired, &now)
    } else {
        desired
    };
    if !status::needs_write(doc, &desired) {
        return Ok(());
    }
    // A deterministic status changes only with a new generation; a write for a generation whose
    // status was already written is the churn the diagnosis looks for.
    if doc.status.as_ref().is_some_and(|current| {
        current.observed_generation.is_some()
            && current.observed_generation == desired.observed_generation
    }) {
        ctx.metrics.signals().status_rewritten();
    }
    let event = DocumentEvent::for_transition(doc, &desired);
    let patch = serde_json::json!({
        "apiVersion": "kube.rs/v1",
        "kind": "Document",
        "status": desired,
    });
    let name = doc.name_any();
    patch_status(api, &name, &patch, ctx)
        .await
        .map_err(|e| Error::kube(format!("apply status of Document {name}"), e))?;
    ctx.status_writes.record(doc, desired.clone());
    if let Some(ready) = desired.conditions.first() {
        tracing::info!(
            ready = %ready.status,
            reason = %ready.reason,
            generation = desired.observed_generation.unwrap_or_default(),
            "status written"
        );
    }
    if let Some(event) = event {
        events::publish(&ctx.recorder, doc, &event).await;
    }
    Ok(())
}

/// Server-side applies `patch` to the status subresource of the Document `name`, and counts it.
async fn patch_status(
    api: &Api<Document>,
    name: &str,
    patch: &serde_json::Value,
    ctx: &Context,
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // FAULT(forbidden-patch): the status sent through the Document itself (`patch`, not
    // `patch_status`) is a write the shipped RBAC does not grant: it allows `patch` on
    // `documents/status` only, so the API server answers `403 … cannot patch resource "documents"`
    // and no status is ever written. (Granted, it would be no better: with a status subresource,
    // the API server ignores `status` sent to the main resource.) Fix: write status through the
    // status subresource, and grant exactly the verbs the code uses (`yaml/rbac.yaml`).
    if ctx.faults.is_on(Fault::ForbiddenPatch) {
        api.patch(name, &params, &Patch::Apply(patch)).await?;
        ctx.metrics.status_patched();
        return Ok(());
    }
    api.patch_status(name, &params, &Patch::Apply(patch))
        .await?;
    ctx.metrics.status_patched();
    Ok(())
}

fn config_maps(doc: &Document, ctx: &Context) -> Api<ConfigMap> {
    Api::namespaced(ctx.client.clone(), &doc.namespace().unwrap_or_default())
}

/// The Document's published ConfigMap as last seen.
async fn current_config_map(
    doc: &Document,
    ctx: &Context,
) -> Result<Option<CachedConfigMap>, Error> {
    let name = doc.config_map_name();
    // FAULT(direct-reads): a GET per reconcile for something the watch already delivered doubles
    // the API requests per reconcile and adds their latency. Fix: read the reflector's Store.
    if ctx.faults.is_on(Fault::DirectReads) {
        return config_maps(doc, ctx)
            .get_opt(&name)
            .await
            .map(|cm| cm.map(CachedConfigMap::from))
            .map_err(|e| Error::kube(format!("get ConfigMap {name}"), e));
    }
    wait_for_cache(ctx).await;
    let key = ObjectRef::new(&name).within(&doc.namespace().unwrap_or_default());
    Ok(ctx.config_maps.get(&key).map(Arc::unwrap_or_clone))
}

/// Waits until the ConfigMap cache holds its initial list.
///
/// The Controller starts reconciling once the *Document* cache is ready; the ConfigMap watch may
/// still be listing. Reading its Store then would find nothing, and every reconcile at start would
/// rewrite a ConfigMap and an index entry that are already there.
async fn wait_for_cache(ctx: &Context) {
    cache_synced(ctx).await;
    // What the diagnosis sees of it: a read of a cache that has not its initial list yet.
    if !*ctx.config_maps_synced.borrow() {
        ctx.metrics.signals().cache_read_before_sync();
    }
}

/// Resolves once the ConfigMap cache has its initial list (or its watch is gone).
async fn cache_synced(ctx: &Context) {
    // FAULT(store-not-ready): reading the Store before its initial list makes decisions on an
    // empty cache: right after a start, every Document looks unpublished and is written again.
    // Fix: wait for the cache (below), and only then read it.
    if ctx.faults.is_on(Fault::StoreNotReady) {
        return;
    }
    let mut synced = ctx.config_maps_synced.clone();
    // An error means the watch is gone (shutdown); reading the Store is then harmless.
    let _ = synced.wait_for(|synced| *synced).await;
}

/// A Document's entry in its namespace's index, as far as this process knows.
#[derive(Debug, PartialEq, Eq)]
enum IndexEntry {
    /// The index itself is not there.
    NoIndex,
    /// The index is there, with the entry's title or without the entry (`None`).
    Is(Option<String>),
    /// This process's last write of it got no answer: it may or may not be done, so it is
    /// written again whatever the cache shows.
    Unknown,
}

/// The Document's entry in its namespace's index as last seen (or last written, while the cache
/// does not show that write yet).
async fn current_index_entry(doc: &Document, ctx: &Context) -> Result<IndexEntry, Error> {
    let namespace = doc.namespace().unwrap_or_default();
    let name = doc.name_any();
    // FAULT(direct-reads): see `current_config_map`.
    if ctx.faults.is_on(Fault::DirectReads) {
        let index = config_maps(doc, ctx)
            .get_opt(configmap::INDEX_NAME)
            .await
            .map_err(|e| Error::kube("get ConfigMap documents-index", e))?;
        return Ok(index.map_or(IndexEntry::NoIndex, |index| {
            IndexEntry::Is(configmap::index_entry(&index, &name))
        }));
    }
    // This process's own write, while the cache does not show it yet (see `index::unseen`).
    match ctx.index.written_entry(&namespace, &name) {
        Some(Written::Entry(entry)) => return Ok(IndexEntry::Is(entry)),
        Some(Written::Unknown) => return Ok(IndexEntry::Unknown),
        None => {}
    }
    wait_for_cache(ctx).await;
    let key = ObjectRef::new(configmap::INDEX_NAME).within(&namespace);
    // Only the entry: the index holds one per Document, cloning it per reconcile would make
    // every reconcile O(Documents).
    Ok(ctx
        .config_maps
        .get(&key)
        .map_or(IndexEntry::NoIndex, |index| {
            IndexEntry::Is(index.index_entry(&name))
        }))
}

/// Status writes whose echo the Document cache has not shown yet.
///
/// A reconcile can run again before the watch delivers the status it just wrote (a change of the
/// owned ConfigMap triggers it, for instance). The cached Document still has the old status, so the
/// same status would be written again, and its Event published twice. Remembering what was
/// written over which resourceVersion lets that reconcile see the write is already done; once the
/// cache moves past that resourceVersion, the cached status is the truth again.
///
/// An entry lives only until then: the Document watch calls [`StatusWrites::seen`] on every
/// Document it caches. Kept for good, the entries held a status per Document ever written (5 MB
/// at 10,000 Documents) that nothing would read again.
#[derive(Default)]
pub struct StatusWrites(Mutex<HashMap<ObjectRef<Document>, StatusWrite>>);

/// The resourceVersion a status was written over, and that status.
type StatusWrite = (Option<String>, DocumentStatus);

impl StatusWrites {
    /// The status written over the cached resourceVersion, when the cache does not show it yet.
    fn unseen(&self, doc: &Document) -> Option<DocumentStatus> {
        let key = ObjectRef::from_obj(doc);
        let mut written = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match written.get(&key) {
            Some((rv, status)) if *rv == doc.metadata.resource_version => Some(status.clone()),
            // The cache moved on (its event may have come before the write was recorded).
            Some(_) => {
                written.remove(&key);
                None
            }
            None => None,
        }
    }

    /// The cache now holds `doc`: a status written over an older resourceVersion is in it (or
    /// superseded), so its entry goes. Returns whether `doc` is the echo of that write (it
    /// carries the status written).
    pub fn seen(&self, doc: &Document) -> bool {
        let key = ObjectRef::from_obj(doc);
        let mut written = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if written
            .get(&key)
            .is_some_and(|(rv, _)| *rv != doc.metadata.resource_version)
        {
            return written
                .remove(&key)
                .is_some_and(|(_, status)| doc.status.as_ref() == Some(&status));
        }
        false
    }

    fn record(&self, doc: &Document, written: DocumentStatus) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                ObjectRef::from_obj(doc),
                (doc.metadata.resource_version.clone(), written),
            );
    }

    fn forget(&self, doc: &Document) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&ObjectRef::from_obj(doc));
    }
}

/// Decides when a failed Document is retried: exponential backoff per Document, with a base that
/// depends on the kind of error (a conflict is retried at once, a 403 waits for a human).
pub fn error_policy(doc: Arc<Document>, error: &Error, ctx: Arc<Context>) -> Action {
    // The lease ran out while this reconcile was in flight: its writes were refused before they
    // left. Not retried here: the new leader reconciles every Document when it takes over, and
    // so does this replica if it leads again.
    if error.retry_class() == RetryClass::NotLeading {
        tracing::info!(
            object.ref = %ObjectRef::from_obj(doc.as_ref()),
            %error,
            "reconcile stopped: this replica no longer leads"
        );
        return Action::await_change();
    }
    let failures = ctx.record_failure(ObjectRef::from_obj(doc.as_ref()));
    let delay = backoff_delay(error.retry_class(), failures);
    tracing::warn!(
        object.ref = %ObjectRef::from_obj(doc.as_ref()),
        %error,
        reason = error.metric_label(),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

// === impl Context ===

impl Context {
    fn record_failure(&self, object: ObjectRef<Document>) -> u32 {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(object).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    /// Whether the last reconcile of `object` failed (it is backing off).
    pub fn is_failing(&self, object: &ObjectRef<Document>) -> bool {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(object)
    }

    fn forget_failures(&self, object: &ObjectRef<Document>) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(object);
    }
}

#[cfg(test)]
mod tests {
    //! Each test drives one reconcile against a mocked API server and asserts the exact requests
    //! it makes, in order. A request the test does not expect fails it.

    use super::*;
    use crate::config::Config;
    use crate::document::FINALIZER;
    use crate::document::status::Outcome;
    // region: fault-catalogue
    use crate::fault::Faults;
    // endregion: fault-catalogue
    use crate::fixtures::{self, ApiServer};
    use http::Method;
    use serde_json::json;
    use std::time::Duration;

    const DOC: &str = "/apis/kube.rs/v1/namespaces/default/documents/samuel";
    const STATUS: &str = "/apis/kube.rs/v1/namespaces/default/documents/samuel/status";
    const CM: &str = "/api/v1/namespaces/default/configmaps/document-samuel";
    const INDEX: &str = "/api/v1/namespaces/default/configmaps/documents-index";
    const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

    fn spawn(doc: Document, ctx: Arc<Context>) -> tokio::task::JoinHandle<Result<Action, Error>> {
        tokio::spawn(reconcile(Arc::new(doc), ctx))
    }

    async fn finish(run: tokio::task::JoinHandle<Result<Action, Error>>) -> Result<Action, Error> {
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("reconcile finished")
            .expect("reconcile did not panic")
    }

    /// Answers the status apply with the Document carrying that status.
    fn doc_with(body: &serde_json::Value, doc: &Document) -> serde_json::Value {
        let mut full = serde_json::to_value(doc).expect("Document serializes");
        full["status"] = body["status"].clone();
        full
    }

    /// Answers the finalizer's fresh read of the Document.
    async fn answer_get(api: &mut ApiServer, doc: &Document) {
        api.expect(Method::GET, DOC)
            .await
            .respond(serde_json::to_value(doc).expect("Document serializes"));
    }

    fn empty_index() -> serde_json::Value {
        serde_json::to_value(crate::configmap::empty_index("default")).expect("index serializes")
    }

    async fn expect_event(api: &mut ApiServer, reason: &str, type_: &str) {
        let event = api.expect(Method::POST, EVENTS).await;
        assert_eq!(event.body["reason"], reason);
        assert_eq!(event.body["type"], type_);
        event.echo();
    }

    /// Answers a deleted Document's cleanup: its index entry removed, the `Deleted` Event, the
    /// finalizer's fresh read, and the finalizer released.
    async fn expect_cleanup(api: &mut ApiServer, doc: &Document) {
        let index = api.expect(Method::PATCH, INDEX).await;
        assert_eq!(index.body, json!({"data": {"samuel": null}}));
        index.respond(empty_index());
        expect_event(api, "Deleted", "Normal").await;
        answer_get(api, doc).await;
        let release = api.expect(Method::PUT, DOC).await;
        assert_eq!(release.body["metadata"]["finalizers"], json!([]));
        release.echo();
    }

    #[tokio::test]
    async fn reconcile_of_an_unchanged_document_makes_no_requests() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);

        let action = finish(spawn(doc, ctx.clone())).await.expect("reconciled");
        assert_eq!(action, Action::await_change());
        api.expect_silence().await;
    }

    /// The request sequence changed here on purpose: the reconcile that adds the finalizer goes
    /// on with the update's answer instead of ending and waiting for its watch echo.
    #[tokio::test]
    async fn first_reconcile_adds_the_finalizer_then_publishes_the_document_the_update_returned() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let doc = Document::test();
        let run = spawn(doc.clone(), ctx.clone());

        answer_get(&mut api, &doc).await;
        let update = api.expect(Method::PUT, DOC).await;
        assert_eq!(update.body["metadata"]["finalizers"], json!([FINALIZER]));
        assert_eq!(
            update.body["metadata"]["resourceVersion"], "100",
            "the update is conditional on the version read"
        );
        let mut stored = update.body.clone();
        stored["metadata"]["resourceVersion"] = json!("101");
        update.respond(stored.clone());

        api.expect(Method::PATCH, CM).await.echo();
        api.expect(Method::PATCH, INDEX).await.echo();
        let status = api.expect(Method::PATCH, STATUS).await;
        assert_eq!(status.body["status"]["observedGeneration"], 1);
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        expect_event(&mut api, "Published", "Normal").await;
        finish(run).await.expect("reconciled");
        api.expect_silence().await;

        // The update's watch echo, at the resourceVersion the update returned, is dropped once.
        let echo: Document = serde_json::from_value(stored).expect("Document deserializes");
        assert!(ctx.finalizer_writes.is_echo(&echo));
        assert!(!ctx.finalizer_writes.is_echo(&echo));
    }

    // region: fault-catalogue
    #[tokio::test]
    async fn with_generation_only_predicate_the_first_reconcile_only_adds_the_finalizer() {
        let config = Config {
            faults: Faults::new([Fault::GenerationOnlyPredicate]),
            ..Config::default()
        };
        let (ctx, mut api, _cache) = fixtures::context(config);
        let doc = Document::test();
        let run = spawn(doc.clone(), ctx);

        answer_get(&mut api, &doc).await;
        api.expect(Method::PUT, DOC).await.echo();
        assert_eq!(
            finish(run).await.expect("reconciled"),
            Action::await_change()
        );
        api.expect_silence().await;
    }
    // endregion: fault-catalogue

    #[tokio::test]
    async fn a_conflicting_finalizer_update_is_retried_at_once() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let doc = Document::test();
        let run = spawn(doc.clone(), ctx);

        answer_get(&mut api, &doc).await;
        api.expect(Method::PUT, DOC).await.fail(409, "Conflict");

        let error = finish(run)
            .await
            .expect_err("a conflict fails the reconcile");
        assert_eq!(error.retry_class(), crate::error::RetryClass::Conflict);
        api.expect_silence().await;
    }

    // region: fault-catalogue
    #[tokio::test]
    async fn forbidden_patch_sends_the_status_through_the_document_itself() {
        let config = Config {
            faults: Faults::new([Fault::ForbiddenPatch]),
            ..Config::default()
        };
        let (ctx, mut api, mut cache) = fixtures::context(config);
        let doc = Document::test().finalized();
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx);

        let status = api.expect(Method::PATCH, DOC).await;
        assert_eq!(status.content_type, "application/apply-patch+yaml");
        assert_eq!(status.body["status"]["configMap"], "document-samuel");
        status.fail(403, "Forbidden");

        let error = finish(run).await.expect_err("the write is forbidden");
        assert_eq!(error.metric_label(), "forbidden");
        api.expect_silence().await;
    }
    // endregion: fault-catalogue

    #[tokio::test]
    async fn a_new_document_is_published_indexed_and_marked_ready() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let doc = Document::test().finalized();
        let run = spawn(doc.clone(), ctx);

        let cm = api.expect(Method::PATCH, CM).await;
        assert_eq!(cm.content_type, "application/apply-patch+yaml");
        assert!(cm.uri.contains("fieldManager=doc-controller") && cm.uri.contains("force=true"));
        assert_eq!(
            cm.body["data"],
            json!({"title": "Samuel", "content": "hello world"})
        );
        assert_eq!(
            cm.body["metadata"]["ownerReferences"][0]["uid"],
            "uid-samuel"
        );
        cm.echo();

        let index = api.expect(Method::PATCH, INDEX).await;
        assert_eq!(index.content_type, "application/merge-patch+json");
        assert_eq!(index.body, json!({"data": {"samuel": "Samuel"}}));
        index.echo();

        let status = api.expect(Method::PATCH, STATUS).await;
        assert_eq!(status.content_type, "application/apply-patch+yaml");
        let ready = &status.body["status"]["conditions"][0];
        assert_eq!(
            (ready["type"].as_str(), ready["status"].as_str()),
            (Some("Ready"), Some("True"))
        );
        assert_eq!(status.body["status"]["observedGeneration"], 1);
        assert_eq!(status.body["status"]["configMap"], "document-samuel");
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);

        expect_event(&mut api, "Published", "Normal").await;
        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn a_reconcile_before_the_status_echo_arrives_writes_nothing_again() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test().finalized();
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx.clone());
        let status = api.expect(Method::PATCH, STATUS).await;
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        expect_event(&mut api, "Published", "Normal").await;
        finish(run).await.expect("reconciled");

        // The cache still holds the Document without status (same resourceVersion).
        finish(spawn(doc, ctx)).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn a_written_status_is_remembered_only_until_the_cache_shows_it() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test().finalized();
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx.clone());
        let status = api.expect(Method::PATCH, STATUS).await;
        let mut echo: Document =
            serde_json::from_value(doc_with(&status.body, &doc)).expect("Document deserializes");
        status.respond(serde_json::to_value(&echo).expect("Document serializes"));
        expect_event(&mut api, "Published", "Normal").await;
        finish(run).await.expect("reconciled");
        assert!(ctx.status_writes.unseen(&doc).is_some());

        // The watch delivers the written status under a new resourceVersion.
        echo.metadata.resource_version = Some("2".into());
        ctx.status_writes.seen(&echo);
        assert!(ctx.status_writes.unseen(&doc).is_none());
        assert!(ctx.status_writes.0.lock().expect("not poisoned").is_empty());
    }

    /// An index with no room left: the Document stays published, its status says it is not
    /// listed and what to do, with one Warning Event, and the error retries it slowly.
    #[tokio::test]
    async fn a_full_index_leaves_the_document_published_and_says_it_is_not_listed() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("other", "Other")]);
        let run = spawn(doc.clone(), ctx);

        api.expect(Method::PATCH, INDEX).await.fail_too_long();
        let status = api.expect(Method::PATCH, STATUS).await;
        let ready = &status.body["status"]["conditions"][0];
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some("IndexFull"))
        );
        let message = ready["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("documents-index is full")
                && message.contains("delete Documents or spread them over namespaces"),
            "{message}"
        );
        assert_eq!(status.body["status"]["configMap"], "document-samuel");
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        expect_event(&mut api, "IndexFull", "Warning").await;

        let error = finish(run).await.expect_err("not listed");
        assert_eq!(error.metric_label(), "index_full");
        assert_eq!(error.retry_class(), RetryClass::Persistent);
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn a_missing_index_is_created_with_the_entry() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        let run = spawn(doc, ctx);

        api.expect(Method::PATCH, INDEX).await.fail(404, "NotFound");
        let create = api
            .expect(Method::POST, "/api/v1/namespaces/default/configmaps")
            .await;
        assert_eq!(create.body["metadata"]["name"], "documents-index");
        assert_eq!(create.body["data"], json!({"samuel": "Samuel"}));
        create.echo();

        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn hiding_deletes_the_config_map_and_the_index_entry_then_says_so() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published())
            .hidden();
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx);

        api.expect(Method::DELETE, CM).await.respond(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}
        }));
        let index = api.expect(Method::PATCH, INDEX).await;
        assert_eq!(index.body, json!({"data": {"samuel": null}}));
        index.respond(empty_index());
        let status = api.expect(Method::PATCH, STATUS).await;
        assert_eq!(status.body["status"]["hidden"], true);
        assert_eq!(status.body["status"]["conditions"][0]["reason"], "Hidden");
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        expect_event(&mut api, "Hidden", "Normal").await;

        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn deletion_removes_the_index_entry_publishes_deleted_and_releases_the_finalizer() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published())
            .deleting();
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx);

        expect_cleanup(&mut api, &doc).await;
        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn deletion_with_the_index_already_gone_succeeds() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let doc = Document::test().finalized().deleting();
        let run = spawn(doc.clone(), ctx);

        api.expect(Method::PATCH, INDEX).await.fail(404, "NotFound");
        expect_event(&mut api, "Deleted", "Normal").await;
        answer_get(&mut api, &doc).await;
        api.expect(Method::PUT, DOC).await.echo();

        finish(run).await.expect("a missing index is success");
    }

    #[tokio::test]
    async fn a_document_deleted_before_the_cache_shows_its_index_entry_still_has_it_removed() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[]);
        let run = spawn(doc.clone(), ctx.clone());
        let index = api.expect(Method::PATCH, INDEX).await;
        assert_eq!(index.body, json!({"data": {"samuel": "Samuel"}}));
        let mut listed = crate::configmap::empty_index("default");
        listed.metadata.resource_version = Some("101".into());
        listed.data = Some([("samuel".to_string(), "Samuel".to_string())].into());
        index.respond(serde_json::to_value(listed).expect("index serializes"));
        finish(run).await.expect("published");

        // Deleted at once: the cache still shows the index without the entry (no watch event
        // here), and the cleanup must remove the entry all the same.
        let doc = doc.deleting();
        let run = spawn(doc.clone(), ctx);
        expect_cleanup(&mut api, &doc).await;
        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn a_document_deleted_after_its_listing_got_no_answer_still_has_its_entry_removed() {
        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[]);
        let run = spawn(doc.clone(), ctx.clone());
        // The listing may be done, its answer lost with the connection.
        api.expect(Method::PATCH, INDEX).await.cut();
        finish(run)
            .await
            .expect_err("a lost answer fails the reconcile");

        // Deleted: the cache shows no entry, but the lost write may have made one.
        let doc = doc.deleting();
        let run = spawn(doc.clone(), ctx);
        expect_cleanup(&mut api, &doc).await;
        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn an_invalid_spec_gets_a_condition_and_one_warning_and_no_config_map() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let mut doc = Document::test().finalized();
        doc.spec.content = "𝄞".repeat(300_000);
        let run = spawn(doc.clone(), ctx.clone());

        let status = api.expect(Method::PATCH, STATUS).await;
        let ready = &status.body["status"]["conditions"][0];
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some("InvalidSpec"))
        );
        let answer = doc_with(&status.body, &doc);
        status.respond(answer.clone());
        expect_event(&mut api, "InvalidSpec", "Warning").await;
        // Not an error: no backoff loop, it waits for a change (or the periodic resync).
        assert_eq!(
            finish(run).await.expect("invalid input is not an error"),
            Action::await_change()
        );

        // Reconciling it again changes nothing and warns no more.
        let again: Document = serde_json::from_value(answer).expect("Document deserializes");
        finish(spawn(again, ctx)).await.expect("reconciled");
        api.expect_silence().await;
    }

    /// kube's Recorder names an Event `<Document name>.<16 hex digits>`: over the API server's
    /// 253 characters for a name too long to publish, so such a Document got no Warning at all.
    #[tokio::test]
    async fn a_document_named_too_long_for_its_config_map_still_gets_its_one_warning() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let mut doc = Document::test().finalized();
        let name = "n".repeat(250);
        doc.metadata.name = Some(name.clone());
        let run = spawn(doc.clone(), ctx);

        let status = api
            .expect(
                Method::PATCH,
                &format!("/apis/kube.rs/v1/namespaces/default/documents/{name}/status"),
            )
            .await;
        assert_eq!(
            status.body["status"]["conditions"][0]["reason"],
            "InvalidSpec"
        );
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        let event = api.expect(Method::POST, EVENTS).await;
        assert_eq!(
            (&event.body["type"], &event.body["reason"]),
            (&json!("Warning"), &json!("InvalidSpec"))
        );
        assert_eq!(event.body["regarding"]["name"], json!(name));
        let event_name = event.body["metadata"]["name"]
            .as_str()
            .expect("a named Event")
            .to_string();
        assert!(
            event_name.len() <= 253 && event_name.starts_with(&"n".repeat(236)),
            "{event_name}"
        );
        event.echo();
        finish(run).await.expect("invalid input is not an error");
        api.expect_silence().await;
    }

    #[tokio::test]
    async fn a_conflict_is_an_error_retried_quickly() {
        let (ctx, mut api, _cache) = fixtures::context(Config::default());
        let doc = Document::test().finalized();
        let run = spawn(doc.clone(), ctx.clone());
        api.expect(Method::PATCH, CM).await.fail(409, "Conflict");
        let err = finish(run).await.expect_err("conflict surfaces");
        assert_eq!(err.metric_label(), "conflict");
        let action = error_policy(Arc::new(doc), &err, ctx);
        assert_eq!(action, Action::requeue(Duration::from_millis(100)));
    }

    // region: fault-catalogue
    #[tokio::test]
    async fn with_status_timestamp_every_reconcile_writes_status() {
        let config = Config {
            faults: Faults::new([crate::fault::Fault::StatusTimestamp]),
            ..Config::default()
        };
        let (ctx, mut api, mut cache) = fixtures::context(config);
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx);
        let status = api.expect(Method::PATCH, STATUS).await;
        let answer = doc_with(&status.body, &doc);
        status.respond(answer);
        finish(run).await.expect("reconciled");
    }
    // endregion: fault-catalogue

    // region: fault-catalogue
    #[tokio::test]
    async fn with_direct_reads_each_reconcile_gets_what_the_store_has() {
        let config = Config {
            faults: Faults::new([crate::fault::Fault::DirectReads]),
            ..Config::default()
        };
        let (ctx, mut api, mut cache) = fixtures::context(config);
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        let run = spawn(doc.clone(), ctx);
        let cm = serde_json::to_value(crate::document::published::published(&doc)).expect("cm");
        api.expect(Method::GET, CM).await.respond(cm);
        let mut index = crate::configmap::empty_index("default");
        index.data = Some([("samuel".to_string(), "Samuel".to_string())].into());
        api.expect(Method::GET, INDEX)
            .await
            .respond(serde_json::to_value(index).expect("index"));
        finish(run).await.expect("reconciled");
        api.expect_silence().await;
    }
    // endregion: fault-catalogue

    // region: fault-catalogue
    #[tokio::test]
    async fn with_cleanup_fails_deletion_never_completes() {
        let config = Config {
            faults: Faults::new([crate::fault::Fault::CleanupFails]),
            ..Config::default()
        };
        let (ctx, mut api, _cache) = fixtures::context(config);
        let doc = Document::test().finalized().deleting();
        let err = finish(spawn(doc, ctx)).await.expect_err("cleanup fails");
        assert_eq!(err.metric_label(), "injected_cleanup_failure");
        api.expect_silence().await;
    }
    // endregion: fault-catalogue

    /// One reconcile of a settled Document under a subscriber exporting to memory: the spans
    /// named `reconcile` it exported.
    async fn exported_reconcile_spans() -> Vec<opentelemetry_sdk::trace::SpanData> {
        use opentelemetry_sdk::trace::InMemorySpanExporter;
        use tracing_subscriber::layer::SubscriberExt;

        let exporter = InMemorySpanExporter::default();
        let (provider, layer) = crate::telemetry::test_tracer(exporter.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        let _guard = tracing::subscriber::set_default(subscriber);

        let (ctx, mut api, mut cache) = fixtures::context(Config::default());
        let doc = Document::test()
            .finalized()
            .with_status(&fixtures::published());
        cache.insert(crate::document::published::published(&doc));
        cache.insert_index(&[("samuel", "Samuel")]);
        // Interest in a callsite is cached process-wide: a test on another thread, with no
        // subscriber, may have been registering the `reconcile` span's callsite while this
        // subscriber was installed, and cached it as uninteresting. Recompute it now, right
        // before the span is created.
        tracing::callsite::rebuild_interest_cache();
        finish(spawn(doc, ctx)).await.expect("reconciled");
        api.expect_silence().await;
        provider.force_flush().expect("spans flushed");
        let spans = exporter.get_finished_spans().expect("spans exported");
        spans
            .into_iter()
            .filter(|s| s.name == "reconcile")
            .collect()
    }

    #[tokio::test]
    async fn one_reconcile_yields_an_opentelemetry_span_carrying_the_object_ref() {
        // tracing's interest and level caches are process-wide and the other tests of this
        // binary run at the same time, some installing subscribers of their own: rarely (seen
        // twice, once with the rebuild above) a run exports no span at all, while tokio's own
        // spans of the same run are there. A second or third run shows whether the reconcile
        // makes its span; a reconcile that makes none, or two, fails every time.
        let mut reconciles = Vec::new();
        for _ in 0..3 {
            reconciles = exported_reconcile_spans().await;
            if !reconciles.is_empty() {
                break;
            }
        }
        assert_eq!(reconciles.len(), 1, "{reconciles:?}");
        let object_ref = reconciles[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "object.ref")
            .map(|kv| kv.value.to_string());
        assert_eq!(
            object_ref.as_deref(),
            Some("Document.v1.kube.rs/samuel.default")
        );
    }

    #[test]
    fn outcome_of_a_published_fixture_names_its_config_map() {
        assert_eq!(
            fixtures::published(),
            Outcome::Published {
                config_map: "document-samuel".into()
            }
        );
    }
}
