//! Prometheus metrics for the controller, exposed on the admin server's `/metrics`.
//!
//! Everything lives in one [`Metrics`] value with its *own* [`Registry`] instead of the
//! `prometheus` crate's global default registry: tests can build as many independent instances
//! as they like, and nothing a dependency registers globally leaks into our endpoint.
//!
//! # Naming
//!
//! Every series is prefixed `doc_controller_`, counters end in `_total`, and durations and sizes
//! are in base units (`_seconds`, `_bytes`), following the Prometheus naming conventions. Names
//! are spelled out in full below (no registry prefix) so that `grep` finds them.
//!
//! # Pre-initialised series
//!
//! A labelled counter series that does not exist yet is not the same as one that is 0: the first
//! increment of a brand-new series is invisible to `rate()` and `increase()`, and alerts such as
//! `rate(doc_controller_reconcile_errors_total[5m]) > 0` miss it. Every label combination that is
//! known up front (reconcile results, the error reasons passed to [`Metrics::new`], watch events
//! and watch error reasons per resource in [`Metrics::watch_started`]) is therefore created at 0
//! before the first scrape.
//!
//! # Label cardinality
//!
//! All label values are `&'static str` from small fixed sets (or, for the API metrics, derived
//! from a finite API; see [`crate::client_metrics`]). Object names and namespaces are never labels:
//! they would create one series per object and grow without bound.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramTimer, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Histogram buckets (seconds) from 1 ms to 10 s, roughly 1-2.5-5 per decade.
///
/// A healthy reconcile (a few API calls) takes milliseconds; anything near 10 s means the
/// controller is stuck behind throttling or a slow API server, which is worth seeing as its
/// own bucket rather than lost in `+Inf`.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The values of the `result` label of `doc_controller_reconcile_total`.
const RESULTS: [&str; 2] = ["success", "error"];

/// The values of the `event` label of `doc_controller_watch_events_total`.
///
/// These mirror `kube::runtime::watcher::Event`'s variants (`Apply`, `Delete`, `Init`,
/// `InitApply`, `InitDone`).
pub const WATCH_EVENTS: [&str; 5] = ["apply", "delete", "init", "init_apply", "init_done"];

/// All metrics of the controller and the registry they are exposed from.
///
/// Shared as `Arc<Metrics>`; every method takes `&self` (the collectors are atomics).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Collectors that measure when scraped and cost real work (walking the caches): part of
    /// `/metrics`, left out of [`Metrics::sample`], which the doctor takes every window.
    scrape_registry: Registry,
    signals: std::sync::Arc<crate::signals::Signals>,
    reconcile_total: IntCounterVec,
    reconcile_errors_total: IntCounterVec,
    reconcile_duration_seconds: Histogram,
    reconciles_in_flight: IntGauge,
    status_patches_total: IntCounter,
    watch_events_total: IntCounterVec,
    watch_errors_total: IntCounterVec,
    cached_objects: IntGaugeVec,
    index_writes_total: IntCounter,
    index_entries_changed_total: IntCounter,
    api: ApiMetrics,
}

impl Metrics {
    /// Creates and registers all metrics.
    ///
    /// `error_reasons` is the bounded set of values of the `reason` label of
    /// `doc_controller_reconcile_errors_total` (the controller passes its error enum's list of
    /// labels); each is pre-initialised to 0 so alerts see the first error.
    ///
    /// Fails only if two collectors clash (a programming error caught by the unit tests).
    pub fn new(error_reasons: &[&'static str]) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();

        let reconcile_total = IntCounterVec::new(
            Opts::new(
                "doc_controller_reconcile_total",
                "Reconciliations finished, by result.",
            ),
            &["result"],
        )?;
        let reconcile_errors_total = IntCounterVec::new(
            Opts::new(
                "doc_controller_reconcile_errors_total",
                "Reconciliations that failed, by error reason.",
            ),
            &["reason"],
        )?;
        let reconcile_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "doc_controller_reconcile_duration_seconds",
                "Time spent in one reconciliation, successful or not.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )?;
        let reconciles_in_flight = IntGauge::new(
            "doc_controller_reconciles_in_flight",
            "Reconciliations currently running.",
        )?;
        let status_patches_total = IntCounter::new(
            "doc_controller_status_patches_total",
            "Status patches sent to the API server (unchanged statuses are not sent).",
        )?;
        let watch_events_total = IntCounterVec::new(
            Opts::new(
                "doc_controller_watch_events_total",
                "Watch events received, by watched resource and event type.",
            ),
            &["resource", "event"],
        )?;
        let watch_errors_total = IntCounterVec::new(
            Opts::new(
                "doc_controller_watch_errors_total",
                "Watch errors (the watcher retries with backoff), by watched resource and reason.",
            ),
            &["resource", "reason"],
        )?;
        let cached_objects = IntGaugeVec::new(
            Opts::new(
                "doc_controller_cached_objects",
                "Objects currently held in each reflector store.",
            ),
            &["store"],
        )?;
        let index_writes_total = IntCounter::new(
            "doc_controller_index_writes_total",
            "Writes of the shared documents-index ConfigMap (each write is one batch).",
        )?;
        let index_entries_changed_total = IntCounter::new(
            "doc_controller_index_entries_changed_total",
            "Index entries changed by documents-index writes; divided by writes it shows how well writes are batched.",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "doc_controller_build_info",
                "Always 1; the labels describe the running build.",
            ),
            &["version"],
        )?;
        let signals = std::sync::Arc::new(crate::signals::Signals::new(&registry)?);
        let api = ApiMetrics::new(signals.clone())?;

        registry.register(Box::new(reconcile_total.clone()))?;
        registry.register(Box::new(reconcile_errors_total.clone()))?;
        registry.register(Box::new(reconcile_duration_seconds.clone()))?;
        registry.register(Box::new(reconciles_in_flight.clone()))?;
        registry.register(Box::new(status_patches_total.clone()))?;
        registry.register(Box::new(watch_events_total.clone()))?;
        registry.register(Box::new(watch_errors_total.clone()))?;
        registry.register(Box::new(cached_objects.clone()))?;
        registry.register(Box::new(index_writes_total.clone()))?;
        registry.register(Box::new(index_entries_changed_total.clone()))?;
        registry.register(Box::new(build_info.clone()))?;
        registry.register(Box::new(api.requests_total.clone()))?;
        registry.register(Box::new(api.request_duration_seconds.clone()))?;

        // CPU, memory, open file descriptors, threads and start time of this process, read from
        // /proc, which only exists on Linux (the prometheus crate only offers it there).
        // Linux limits pids to 2^22, so the conversion to `pid_t` (i32) cannot wrap.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                "doc_controller",
            ),
        ))?;
        #[cfg(feature = "jemalloc")]
        registry.register(Box::new(crate::allocator::JemallocCollector::new()?))?;

        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for result in RESULTS {
            reconcile_total.with_label_values(&[result]).reset();
        }
        for reason in error_reasons {
            reconcile_errors_total.with_label_values(&[reason]).reset();
        }

        Ok(Self {
            registry,
            scrape_registry: Registry::new(),
            signals,
            reconcile_total,
            reconcile_errors_total,
            reconcile_duration_seconds,
            reconciles_in_flight,
            status_patches_total,
            watch_events_total,
            watch_errors_total,
            cached_objects,
            index_writes_total,
            index_entries_changed_total,
            api,
        })
    }

    /// The registry all metrics are registered in, to add collectors of your own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a collector that measures at scrape time and costs real work: it is served on
    /// `/metrics` but not taken into [`Metrics::sample`].
    pub fn register_at_scrape(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.scrape_registry.register(collector)
    }

    /// The metrics of the diagnosis ([`crate::signals`]).
    pub fn signals(&self) -> &crate::signals::Signals {
        &self.signals
    }

    /// Every cheap metric family now: what the doctor compares window by window.
    pub fn sample(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }

    /// Renders every registered metric in the Prometheus text exposition format (0.0.4), the
    /// body of `GET /metrics`.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(self.scrape_registry.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut text = String::new();
        // Encoding only fails for metric families that are malformed, which a registry refuses
        // to register; log instead of failing the scrape.
        if let Err(error) = TextEncoder::new().encode_utf8(&families, &mut text) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        text
    }

    /// Starts timing one reconciliation.
    ///
    /// Increments `doc_controller_reconciles_in_flight` now; the returned guard observes
    /// `doc_controller_reconcile_duration_seconds` and decrements the gauge when it is dropped.
    /// Because that happens in `Drop`, it also happens when the reconcile returns early with `?`,
    /// panics, or its future is cancelled, so the gauge cannot drift upwards. Keep the guard in a
    /// local for the whole reconcile: `let _timer = metrics.reconcile_started();` (not `let _ =`,
    /// which drops it immediately).
    #[must_use = "the reconcile is timed until the returned guard is dropped"]
    pub fn reconcile_started(&self) -> ReconcileTimer {
        self.reconciles_in_flight.inc();
        self.signals.note_in_flight(self.reconciles_in_flight.get());
        ReconcileTimer {
            _duration: self.reconcile_duration_seconds.start_timer(),
            in_flight: self.reconciles_in_flight.clone(),
        }
    }

    /// Counts a successful reconciliation: `doc_controller_reconcile_total{result="success"}`.
    pub fn reconcile_succeeded(&self) {
        self.reconcile_total.with_label_values(&["success"]).inc();
        self.signals.reconcile_succeeded_now();
    }

    /// Counts a failed reconciliation: `doc_controller_reconcile_total{result="error"}` and
    /// `doc_controller_reconcile_errors_total{reason}`.
    ///
    /// `reason` should be one of the labels passed to [`Metrics::new`]; any other value still
    /// works but its series only appears on first use.
    pub fn reconcile_failed(&self, reason: &'static str) {
        self.reconcile_total.with_label_values(&["error"]).inc();
        self.reconcile_errors_total
            .with_label_values(&[reason])
            .inc();
    }

    /// Counts a status write actually sent to the API server:
    /// `doc_controller_status_patches_total`.
    ///
    /// Call it only when a patch is sent, so the ratio to reconciles shows how often a reconcile
    /// found the status already up to date.
    pub fn status_patched(&self) {
        self.status_patches_total.inc();
    }

    /// Pre-initialises the watch series of `resource` to 0: every event in [`WATCH_EVENTS`] and
    /// every reason in `error_reasons` (the bounded set the caller classifies watch errors into).
    /// Call once per watched resource at startup.
    pub fn watch_started(&self, resource: &'static str, error_reasons: &[&'static str]) {
        for event in WATCH_EVENTS {
            self.watch_events_total
                .with_label_values(&[resource, event])
                .reset();
        }
        for reason in error_reasons {
            self.watch_errors_total
                .with_label_values(&[resource, reason])
                .reset();
        }
    }

    /// Counts a watch event: `doc_controller_watch_events_total{resource, event}`, with `event`
    /// one of [`WATCH_EVENTS`].
    pub fn watch_event(&self, resource: &'static str, event: &'static str) {
        self.watch_events_total
            .with_label_values(&[resource, event])
            .inc();
    }

    /// Counts a watch error: `doc_controller_watch_errors_total{resource, reason}`.
    ///
    /// `reason` must come from a small fixed set (an HTTP code such as `"403"` or `"410"`, or a
    /// failure class such as `"connection"`), never an error message.
    pub fn watch_error(&self, resource: &'static str, reason: &'static str) {
        self.watch_errors_total
            .with_label_values(&[resource, reason])
            .inc();
    }

    /// Sets `doc_controller_cached_objects{store}` to the number of objects in a reflector store.
    pub fn set_cached_objects(&self, store: &'static str, count: usize) {
        self.cached_objects
            .with_label_values(&[store])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts one (batched) write of the documents-index ConfigMap:
    /// `doc_controller_index_writes_total`, and adds `entries_changed` to
    /// `doc_controller_index_entries_changed_total`.
    pub fn index_written(&self, entries_changed: usize) {
        self.index_writes_total.inc();
        self.index_entries_changed_total
            .inc_by(u64::try_from(entries_changed).unwrap_or(u64::MAX));
    }

    /// A cheap handle on the Kubernetes API request metrics, for
    /// [`ApiMetricsLayer`](crate::client_metrics::ApiMetricsLayer).
    pub fn api(&self) -> ApiMetrics {
        self.api.clone()
    }
}

/// Times one reconciliation; created by [`Metrics::reconcile_started`].
///
/// On drop it observes the elapsed time in `doc_controller_reconcile_duration_seconds` and
/// decrements `doc_controller_reconciles_in_flight`.
#[derive(Debug)]
#[must_use = "the reconcile is timed until this guard is dropped"]
pub struct ReconcileTimer {
    /// Observes the duration when dropped (prometheus' own guard).
    _duration: HistogramTimer,
    in_flight: IntGauge,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

/// Metrics of the requests the controller sends to the Kubernetes API server, recorded by
/// [`ApiMetricsLayer`](crate::client_metrics::ApiMetricsLayer).
///
/// Cloning is cheap (the collectors are reference counted) and all clones record into the same
/// series.
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    requests_total: IntCounterVec,
    request_duration_seconds: HistogramVec,
    /// The request shapes and open watches the diagnosis reads.
    pub(crate) signals: std::sync::Arc<crate::signals::Signals>,
}

impl ApiMetrics {
    fn new(signals: std::sync::Arc<crate::signals::Signals>) -> Result<Self, prometheus::Error> {
        Ok(Self {
            signals,
            requests_total: IntCounterVec::new(
                Opts::new(
                    "doc_controller_api_requests_total",
                    "Requests sent to the Kubernetes API server, by verb, resource and HTTP status code (\"timeout\" when no response head arrived in time, \"error\" when the request failed otherwise without a response).",
                ),
                &["verb", "resource", "code"],
            )?,
            request_duration_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "doc_controller_api_request_duration_seconds",
                    "Time until the Kubernetes API server's response headers arrived, by verb and resource; for watches this is the time to establish the watch, not its lifetime.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &["verb", "resource"],
            )?,
        })
    }

    /// Records one finished request.
    pub(crate) fn record(&self, verb: &str, resource: &str, code: &str, duration: Duration) {
        self.requests_total
            .with_label_values(&[verb, resource, code])
            .inc();
        self.request_duration_seconds
            .with_label_values(&[verb, resource])
            .observe(duration.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASONS: &[&str] = &["kube_api", "invalid_spec"];

    fn metrics() -> Metrics {
        Metrics::new(REASONS).expect("metrics register without clashes")
    }

    /// The value of one sample line, e.g. `series("x_total{a=\"b\"}")`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    #[test]
    fn known_series_are_exported_as_zero_before_anything_happens() {
        let text = metrics().render();

        for series in [
            r#"doc_controller_reconcile_total{result="success"}"#,
            r#"doc_controller_reconcile_total{result="error"}"#,
            r#"doc_controller_reconcile_errors_total{reason="kube_api"}"#,
            r#"doc_controller_reconcile_errors_total{reason="invalid_spec"}"#,
            "doc_controller_reconciles_in_flight",
            "doc_controller_reconcile_duration_seconds_count",
            "doc_controller_status_patches_total",
            "doc_controller_index_writes_total",
            "doc_controller_index_entries_changed_total",
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
        }
    }

    #[test]
    fn every_exported_metric_is_prefixed_with_doc_controller() {
        let metrics = metrics();
        metrics.watch_started("documents", &["410"]);
        metrics.set_cached_objects("documents", 1);
        metrics
            .api()
            .record("get", "documents", "200", Duration::ZERO);

        for family in metrics.registry().gather() {
            assert!(
                family.name().starts_with("doc_controller_"),
                "{} is not prefixed",
                family.name()
            );
        }
    }

    #[test]
    fn build_info_carries_the_crate_version() {
        let text = metrics().render();

        let series = format!(
            r#"doc_controller_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(sample(&text, &series), Some(1.0), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_exported_with_the_controller_prefix() {
        let text = metrics().render();

        assert!(
            text.contains("doc_controller_process_cpu_seconds_total "),
            "{text}"
        );
        assert!(
            text.contains("doc_controller_process_resident_memory_bytes "),
            "{text}"
        );
    }

    #[cfg(feature = "jemalloc")]
    #[test]
    fn allocator_statistics_are_exported_with_feature_jemalloc() {
        let text = metrics().render();

        assert!(
            sample(&text, "doc_controller_jemalloc_allocated_bytes")
                .is_some_and(|bytes| bytes > 0.0),
            "{text}"
        );
    }

    #[test]
    fn a_finished_reconcile_is_timed_and_leaves_no_reconcile_in_flight() {
        let metrics = metrics();

        let timer = metrics.reconcile_started();
        assert_eq!(
            sample(&metrics.render(), "doc_controller_reconciles_in_flight"),
            Some(1.0)
        );
        drop(timer);

        let text = metrics.render();
        assert_eq!(
            sample(&text, "doc_controller_reconciles_in_flight"),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "doc_controller_reconcile_duration_seconds_count"),
            Some(1.0)
        );
    }

    #[test]
    fn a_panicking_reconcile_leaves_no_reconcile_in_flight() {
        let metrics = metrics();

        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _timer = metrics.reconcile_started();
            panic!("reconcile bug");
        }));

        assert!(outcome.is_err());
        let text = metrics.render();
        assert_eq!(
            sample(&text, "doc_controller_reconciles_in_flight"),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "doc_controller_reconcile_duration_seconds_count"),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn a_cancelled_reconcile_leaves_no_reconcile_in_flight() {
        let metrics = std::sync::Arc::new(metrics());
        let started = std::sync::Arc::new(tokio::sync::Notify::new());

        let task = tokio::spawn({
            let (metrics, started) = (metrics.clone(), started.clone());
            async move {
                let _timer = metrics.reconcile_started();
                started.notify_one();
                std::future::pending::<()>().await;
            }
        });
        started.notified().await;
        task.abort();
        assert!(task.await.is_err_and(|error| error.is_cancelled()));

        assert_eq!(
            sample(&metrics.render(), "doc_controller_reconciles_in_flight"),
            Some(0.0)
        );
    }

    #[test]
    fn a_failed_reconcile_counts_as_error_with_its_reason() {
        let metrics = metrics();

        metrics.reconcile_failed("invalid_spec");
        metrics.reconcile_succeeded();

        let text = metrics.render();
        assert_eq!(
            sample(&text, r#"doc_controller_reconcile_total{result="error"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"doc_controller_reconcile_total{result="success"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_reconcile_errors_total{reason="invalid_spec"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_reconcile_errors_total{reason="kube_api"}"#
            ),
            Some(0.0)
        );
    }

    #[test]
    fn a_started_watch_exports_all_its_events_and_error_reasons_as_zero() {
        let metrics = metrics();

        metrics.watch_started("documents", &["403", "410"]);
        metrics.watch_event("documents", "apply");
        metrics.watch_error("documents", "410");

        let text = metrics.render();
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_watch_events_total{event="apply",resource="documents"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_watch_events_total{event="init_done",resource="documents"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_watch_errors_total{reason="410",resource="documents"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"doc_controller_watch_errors_total{reason="403",resource="documents"}"#
            ),
            Some(0.0)
        );
    }

    #[test]
    fn cached_objects_show_the_latest_count_per_store() {
        let metrics = metrics();

        metrics.set_cached_objects("documents", 3);
        metrics.set_cached_objects("documents", 2);

        assert_eq!(
            sample(
                &metrics.render(),
                r#"doc_controller_cached_objects{store="documents"}"#
            ),
            Some(2.0)
        );
    }

    #[test]
    fn index_writes_count_writes_and_changed_entries() {
        let metrics = metrics();

        metrics.index_written(3);
        metrics.index_written(2);

        let text = metrics.render();
        assert_eq!(
            sample(&text, "doc_controller_index_writes_total"),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, "doc_controller_index_entries_changed_total"),
            Some(5.0)
        );
    }

    #[test]
    fn status_patches_are_counted() {
        let metrics = metrics();

        metrics.status_patched();

        assert_eq!(
            sample(&metrics.render(), "doc_controller_status_patches_total"),
            Some(1.0)
        );
    }

    #[test]
    fn reconcile_duration_buckets_cover_one_millisecond_to_ten_seconds() {
        let text = metrics().render();

        assert!(text.contains(r#"doc_controller_reconcile_duration_seconds_bucket{le="0.001"} 0"#));
        assert!(text.contains(r#"doc_controller_reconcile_duration_seconds_bucket{le="10"} 0"#));
    }
}
