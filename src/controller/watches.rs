//! The watches feeding the controller: scope, list mode, backoff, stripping, and what every event
//! and error turns into (metrics, logs, cache sync signals).
//!
//! Every watch gets `default_backoff()`: watcher errors are soft (the watcher recovers once the API
//! server, RBAC or network recovers), so they are retried calmly, counted in
//! `doc_controller_watch_errors_total{reason}` and logged at WARN: optimistically retried, never
//! silently ignored.

use crate::api_health::ApiTimeout;
use crate::config::Config;
use crate::configmap::MANAGED_BY_SELECTOR;
use crate::crd::Document;
use crate::diagnosis::{Doctor, Finding};
use crate::fault::{Fault, LiveFaults};
use crate::metrics::Metrics;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::{Lookup, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A watch stream after backoff, as the rest of the wiring consumes it.
pub type EventStream<K> = BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>;

/// Label selector that matches no Document (toggle `narrow-selector`).
pub const NARROW_SELECTOR: &str = "doc-controller.kube.rs/shard=does-not-exist";

/// An API over one namespace, or over all namespaces when none is configured.
pub fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The Document API the main watch uses: the configured namespace, or all namespaces.
pub fn documents_api(client: &Client, config: &Config) -> Api<Document> {
    // FAULT(forbidden-watch): watching at cluster scope while RBAC grants one namespace gets
    // `403 ... cannot watch resource "documents" ... at the cluster scope`, retried forever.
    // Fix: watch the namespace the controller is configured (and permitted) for.
    if config.faults.is_on(Fault::ForbiddenWatch) {
        return Api::all(client.clone());
    }
    scoped(client, config.namespace.as_deref())
}

/// The ConfigMap API and selector of the owned-objects watch.
pub fn config_maps_watch(client: &Client, config: &Config) -> (Api<ConfigMap>, watcher::Config) {
    // FAULT(broad-watch-scope): every ConfigMap of the cluster, with no selector, ends up in the
    // cache, though the controller only reads its own. Fix: select on the label it puts on them.
    if config.faults.is_on(Fault::BroadWatchScope) {
        return (Api::all(client.clone()), watcher_config(config));
    }
    (
        scoped(client, config.namespace.as_deref()),
        watcher_config(config).labels(MANAGED_BY_SELECTOR),
    )
}

/// Watch settings of the Document watch.
pub fn documents_watch_config(config: &Config) -> watcher::Config {
    // FAULT(narrow-selector): a selector that matches nothing leaves the Store empty, and nothing
    // is ever reconciled, while `kubectl get documents` lists them. Fix: no selector, or one that
    // matches what the controller is responsible for.
    if config.faults.is_on(Fault::NarrowSelector) {
        return watcher_config(config).labels(NARROW_SELECTOR);
    }
    watcher_config(config)
}

/// Watch settings shared by both watches.
fn watcher_config(config: &Config) -> watcher::Config {
    // FAULT(no-bookmarks): without bookmarks a quiet watch's resourceVersion grows old; after the
    // API server compacts its history, resuming it gets 410 Gone and a full re-list.
    // Fix: leave bookmarks on (kube's default). A streaming list needs bookmarks (its end is one),
    // so this wrong way also falls back to a plain LIST.
    if config.faults.is_on(Fault::NoBookmarks) {
        return watcher::Config::default().disable_bookmarks();
    }
    // FAULT(unpaged-initial-list): one LIST of everything, with no `limit`, holds every object in
    // one response, in memory at once, on top of the cache being built. (kube's default is pages
    // of 500, so the wrong way has to turn paging off: `page_size: None`.) Fix: a streaming list
    // (objects arrive one by one over the watch), or at least paging.
    if config.faults.is_on(Fault::UnpagedInitialList) {
        return watcher::Config {
            page_size: None,
            ..watcher::Config::default()
        };
    }
    watcher::Config::default().streaming_lists()
}

/// Starts a watch with the backoff every watch needs.
pub fn watch<K>(api: Api<K>, wc: watcher::Config, config: &Config) -> EventStream<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let events = watcher(api, wc);
    // FAULT(no-backoff): without a backoff the watcher retries a failing request as fast as it can:
    // a hot loop of requests against an API server that is already failing.
    // Fix: `default_backoff()`, exponential with jitter, reset after a healthy period.
    if config.faults.is_on(Fault::NoBackoff) {
        return events.boxed();
    }
    events.default_backoff().boxed()
}

/// A "backoff" that retries at once, forever: what a watch without `default_backoff()` does.
///
/// kube's `Controller` puts a backoff of its own on the streams it is given; `no-backoff` replaces
/// it with this one, so the toggle shows what a bare watch stream does.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBackoff;

impl Iterator for NoBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        Some(std::time::Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for NoBackoff {
    fn reset(&mut self) {}
}

/// Returns whether it stripped (false with `keep-managed-fields`).
///
/// Drops what the controller never reads before it is cached: `managedFields` is often larger than
/// the object itself, and `last-applied-configuration` repeats the whole spec.
pub fn strip<K: Resource>(obj: &mut K, config: &Config) -> bool {
    // FAULT(keep-managed-fields): cache objects as they come; the Store then holds every field
    // manager's bookkeeping for every object. Fix: strip it here, before the reflector.
    if config.faults.is_on(Fault::KeepManagedFields) {
        return false;
    }
    obj.managed_fields_mut().clear();
    obj.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    true
}

/// What a watch reports besides its objects.
pub struct Observer {
    /// Which watch, as the `resource` metric label.
    pub resource: &'static str,
    /// Where events and errors are counted.
    pub metrics: Arc<Metrics>,
    /// Called on every `InitDone` (the cache holds a complete list).
    pub on_init_done: Box<dyn Fn() + Send + Sync>,
    /// Receives the first watch error when the controller is to stop on it (`crash-on-error`).
    pub fatal: mpsc::Sender<String>,
    /// The toggles in force (`silent-watch-errors` and `crash-on-error` change live).
    pub faults: LiveFaults,
    /// The self-diagnosis: it keeps the latest error message per reason as evidence.
    pub doctor: Doctor,
}

impl Observer {
    /// Counts every event and error of `events`, passing them on unchanged.
    pub fn observe<K: Send + 'static>(self, events: EventStream<K>) -> EventStream<K> {
        events
            .inspect(move |item| match item {
                Ok(event) => {
                    if matches!(event, watcher::Event::InitDone) {
                        (self.on_init_done)();
                    }
                    self.metrics.watch_event(self.resource, event_label(event));
                    self.doctor.last_watch_errors().recovered(self.resource);
                }
                Err(error) => self.error(error),
            })
            .boxed()
    }

    fn error(&self, error: &watcher::Error) {
        let reason = watch_error_reason(error);
        self.metrics.watch_error(self.resource, reason);
        // FAULT(silent-watch-errors): dropping watch errors without a word leaves a failing
        // controller with clean logs; only the metrics still tell. Fix: log every one, at WARN.
        let logged = !self.faults.is_on(Fault::SilentWatchErrors);
        if logged {
            tracing::warn!(resource = self.resource, %error, "watch error, retrying with backoff");
            self.metrics.signals().watch_error_logged(self.resource);
        }
        self.doctor
            .last_watch_errors()
            .record(self.resource, reason, error.to_string(), logged);
        // FAULT(crash-on-error): tearing the process down on the first (soft, retryable) watch
        // error turns a blip into a restart; restarts then mask the cause. Fix: retry with
        // backoff, alert on the error rate.
        if self.faults.is_on(Fault::CrashOnError) {
            let failure = format!("{} watch failed: {error}", self.resource);
            self.doctor
                .raise_now(Finding::CrashOnSoftError, vec![failure.clone()]);
            let _ = self.fatal.try_send(failure);
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
    "timeout",
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
            // No answer within `--api-timeout`: the network or a hung API server.
            e if ApiTimeout::is_in(e) => return "timeout",
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

/// The objects of a watch's events, for triggers, each passed on only once `store` holds it:
/// `events` must come out of the reflector that fills `store`.
///
/// kube's `Controller` reads the object a trigger names from the Store when the reconcile
/// runs, not when it is triggered. A relist (after `410 Expired`, as when the API server
/// restarted) fills a buffer that replaces the Store only at `InitDone`; kube's
/// `applied_objects()` passes each `InitApply` on at once, so its reconcile may run against the
/// object as it was before the relist. The change the relist brings (a finalizer added while the
/// watch was down) then passes the predicate, is consumed by a reconcile that does not see it, and
/// nothing triggers the Document again until the next resync: seen as Documents left without a
/// status after an API server restart. So the objects of a list are passed on at its `InitDone`,
/// read from the Store that holds them by then; changes (`Apply`) at once, as before.
pub fn applied_from_store<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    store: Store<K>,
) -> BoxStream<'static, Result<K, watcher::Error>>
where
    K: Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    events
        .flat_map(move |event| {
            let objects: Vec<Result<Arc<K>, watcher::Error>> = match event {
                Ok(watcher::Event::Apply(obj)) => vec![Ok(Arc::new(obj))],
                Ok(watcher::Event::InitDone) => store.state().into_iter().map(Ok).collect(),
                Ok(
                    watcher::Event::Init | watcher::Event::InitApply(_) | watcher::Event::Delete(_),
                ) => Vec::new(),
                Err(error) => vec![Err(error)],
            };
            // One object at a time downstream: a list's objects are cloned as they are taken.
            futures::stream::iter(objects).map_ok(Arc::unwrap_or_clone)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::core::Status;
    use kube::runtime::reflector::{self, ObjectRef};

    fn config_map(resource_version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".into()),
                namespace: Some("ns".into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    /// Guards the fix for Documents left without a status after an API server restart: a
    /// relist's objects reached the controller while the Store still held the old ones.
    #[tokio::test]
    async fn a_relisted_object_is_triggered_only_once_the_store_holds_it() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let events = futures::stream::iter([
            watcher::Event::Init,
            watcher::Event::InitApply(config_map("1")),
            watcher::Event::InitDone,
            // A relist, as after 410 Expired: version 2 was written while the watch was down.
            watcher::Event::Init,
            watcher::Event::InitApply(config_map("2")),
            watcher::Event::InitDone,
            watcher::Event::Apply(config_map("3")),
        ])
        .map(Ok);
        let cached = store.clone();
        let triggered: Vec<(String, String)> =
            applied_from_store(reflector::reflector(writer, events), store)
                .map(|obj| {
                    let obj = obj.expect("no watch error");
                    let in_store = cached
                        .get(&ObjectRef::from_obj(&obj))
                        .and_then(|c| c.metadata.resource_version.clone())
                        .unwrap_or_default();
                    (obj.metadata.resource_version.unwrap_or_default(), in_store)
                })
                .collect()
                .await;
        let each_as_stored =
            [("1", "1"), ("2", "2"), ("3", "3")].map(|(t, s)| (t.into(), s.into()));
        assert_eq!(
            triggered, each_as_stored,
            "(triggered, in the Store when triggered)"
        );
    }

    #[test]
    fn watch_errors_are_labelled_by_http_code_timeout_or_connection() {
        let api = |code| {
            watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(
                Status::failure("x", "y").with_code(code),
            )))
        };
        assert_eq!(watch_error_reason(&api(403)), "403");
        assert_eq!(watch_error_reason(&api(504)), "5xx");
        assert_eq!(watch_error_reason(&api(418)), "other");
        let expired =
            watcher::Error::WatchError(Box::new(Status::failure("x", "Expired").with_code(410)));
        assert_eq!(watch_error_reason(&expired), "410");
        let timeout =
            watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(ApiTimeout {
                after: std::time::Duration::from_secs(30),
                method: http::Method::GET,
                path: "/apis/kube.rs/v1/documents".into(),
            })));
        assert_eq!(watch_error_reason(&timeout), "timeout");
        for label in [
            watch_error_reason(&timeout),
            watch_error_reason(&api(403)),
            watch_error_reason(&expired),
            watch_error_reason(&watcher::Error::NoResourceVersion),
        ] {
            assert!(WATCH_ERROR_REASONS.contains(&label));
        }
    }
}
