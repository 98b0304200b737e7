//! The metrics the controller's self-diagnosis reads ([`crate::diagnosis`]), beyond the ones every
//! controller exposes: what changed on the watched Documents and whether it passed the predicate,
//! what triggered reconciles, what the reconciles did that they should not, and which findings are
//! raised. They are ordinary Prometheus series on `/metrics`, so the alert rules in
//! `yaml/observability/` read the same evidence the doctor does.
//!
//! Every series known up front starts at 0 (see [`crate::metrics`]); labels come from the small
//! fixed sets below.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::atomic::{AtomicI64, Ordering};

/// What a Document watch event changed, compared with the cached object it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// First sight of the Document (created, or the initial list).
    Created,
    /// A new `metadata.generation` (a spec change, or the deletion timestamp).
    Generation,
    /// The finalizers changed, the generation did not.
    Finalizers,
    /// Neither: status, labels, annotations, resourceVersion only.
    Other,
}

impl Change {
    /// Every value, in label order.
    pub const ALL: [Change; 4] = [
        Change::Created,
        Change::Generation,
        Change::Finalizers,
        Change::Other,
    ];

    /// The `change` label.
    pub const fn label(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Generation => "generation",
            Change::Finalizers => "finalizers",
            Change::Other => "other",
        }
    }

    /// Whether a reconcile is owed for it (what the right predicate lets through).
    pub const fn matters(self) -> bool {
        !matches!(self, Change::Other)
    }

    /// Compares a watched Document with the one cached before it (`None`: not cached).
    pub fn of(previous: Option<(Option<i64>, &[String])>, next: (Option<i64>, &[String])) -> Self {
        match previous {
            None => Change::Created,
            Some((generation, _)) if generation != next.0 => Change::Generation,
            Some((_, finalizers)) if finalizers != next.1 => Change::Finalizers,
            Some(_) => Change::Other,
        }
    }
}

/// Whether a Document change passed the trigger predicate: the `predicate` label.
pub const PREDICATE: [&str; 2] = ["passed", "filtered"];

/// What requested a reconcile besides a Document change: the `source` label (`object_watch`: an
/// event of a watch on one owned object).
pub const TRIGGER_SOURCES: [&str; 5] = ["owned", "object_watch", "resync", "toggles", "leader"];

/// The states of `doc_controller_documents{state}`, set by the doctor from the Document cache.
pub const DOCUMENT_STATES: [&str; 3] = ["terminating_stuck", "lagging", "with_managed_fields"];

/// The diagnosis metrics; see the [module docs](self). Shared through
/// [`Metrics::signals`](crate::metrics::Metrics::signals).
#[derive(Debug)]
pub struct Signals {
    document_changes_total: IntCounterVec,
    reconcile_triggers_total: IntCounterVec,
    status_rewrites_total: IntCounter,
    own_write_echoes_total: IntCounter,
    cache_reads_before_sync_total: IntCounter,
    reconcile_slow_polls_total: IntCounter,
    watch_errors_logged_total: IntCounterVec,
    open_watches: IntGaugeVec,
    unpaged_lists_total: IntCounterVec,
    watches_without_bookmarks_total: IntCounterVec,
    documents: IntGaugeVec,
    reconciles_in_flight_peak: IntGauge,
    controller_running: IntGauge,
    ready: IntGauge,
    last_reconcile_success: IntGauge,
    finding_active: IntGaugeVec,
    findings_raised_total: IntCounterVec,
    /// The highest in-flight count since the doctor last took it.
    peak: AtomicI64,
}

impl Signals {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| IntCounter::new(name, help);
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
        };
        let signals = Self {
            document_changes_total: counter_vec(
                "doc_controller_document_changes_total",
                "Document watch events by what they changed (created, generation, finalizers, other) and whether the trigger predicate passed them to the reconciler.",
                &["change", "predicate"],
            )?,
            reconcile_triggers_total: counter_vec(
                "doc_controller_reconcile_triggers_total",
                "Reconciles requested other than by a Document change: an owned object to repair (owned), an event of a watch on one owned object (object_watch), a resync tick (resync), a change of the live toggles (toggles), the start of a term as leader (leader); one per Document.",
                &["source"],
            )?,
            status_rewrites_total: counter(
                "doc_controller_status_rewrites_total",
                "Status writes for a generation whose status was already written: a deterministic status makes none.",
            )?,
            own_write_echoes_total: counter(
                "doc_controller_own_write_echoes_total",
                "Document watch events that were the echo of the controller's own status write.",
            )?,
            cache_reads_before_sync_total: counter(
                "doc_controller_cache_reads_before_sync_total",
                "Reads of the ConfigMap cache made before its initial list arrived.",
            )?,
            reconcile_slow_polls_total: counter(
                "doc_controller_reconcile_slow_polls_total",
                "Polls of a reconcile future that held its runtime thread for 200 ms or more (blocking work in async code).",
            )?,
            watch_errors_logged_total: counter_vec(
                "doc_controller_watch_errors_logged_total",
                "Watch errors the controller logged at WARN; fewer than doc_controller_watch_errors_total means errors go unlogged.",
                &["resource"],
            )?,
            open_watches: gauge_vec(
                "doc_controller_open_watches",
                "Watch connections open now, by resource.",
                &["resource"],
            )?,
            unpaged_lists_total: counter_vec(
                "doc_controller_unpaged_lists_total",
                "LIST requests without a limit (one response with every object), by resource.",
                &["resource"],
            )?,
            watches_without_bookmarks_total: counter_vec(
                "doc_controller_watches_without_bookmarks_total",
                "Watch requests that did not ask for bookmarks, by resource.",
                &["resource"],
            )?,
            documents: gauge_vec(
                "doc_controller_documents",
                "Cached Documents in a state worth watching: Terminating past the bound (terminating_stuck), observedGeneration behind generation while not failing (lagging), carrying managedFields in the cache (with_managed_fields).",
                &["state"],
            )?,
            reconciles_in_flight_peak: IntGauge::new(
                "doc_controller_reconciles_in_flight_peak",
                "The most reconciles in flight at once during the last diagnosis window.",
            )?,
            controller_running: IntGauge::new(
                "doc_controller_controller_running",
                "1 while the controller's runner (watches and reconciles) runs, 0 otherwise.",
            )?,
            ready: IntGauge::new(
                "doc_controller_ready",
                "1 while /readyz answers 200, 0 otherwise (set every diagnosis window).",
            )?,
            last_reconcile_success: IntGauge::new(
                "doc_controller_last_reconcile_success_timestamp_seconds",
                "Unix time of the last successful reconcile (0: none yet).",
            )?,
            finding_active: gauge_vec(
                "doc_controller_finding_active",
                "1 for each finding of the self-diagnosis raised now (docs/diagnosis.md), 0 otherwise.",
                &["finding"],
            )?,
            findings_raised_total: counter_vec(
                "doc_controller_findings_raised_total",
                "Times each finding was raised.",
                &["finding"],
            )?,
            peak: AtomicI64::new(0),
        };
        registry.register(Box::new(signals.document_changes_total.clone()))?;
        registry.register(Box::new(signals.reconcile_triggers_total.clone()))?;
        registry.register(Box::new(signals.status_rewrites_total.clone()))?;
        registry.register(Box::new(signals.own_write_echoes_total.clone()))?;
        registry.register(Box::new(signals.cache_reads_before_sync_total.clone()))?;
        registry.register(Box::new(signals.reconcile_slow_polls_total.clone()))?;
        registry.register(Box::new(signals.watch_errors_logged_total.clone()))?;
        registry.register(Box::new(signals.open_watches.clone()))?;
        registry.register(Box::new(signals.unpaged_lists_total.clone()))?;
        registry.register(Box::new(signals.watches_without_bookmarks_total.clone()))?;
        registry.register(Box::new(signals.documents.clone()))?;
        registry.register(Box::new(signals.reconciles_in_flight_peak.clone()))?;
        registry.register(Box::new(signals.controller_running.clone()))?;
        registry.register(Box::new(signals.ready.clone()))?;
        registry.register(Box::new(signals.last_reconcile_success.clone()))?;
        registry.register(Box::new(signals.finding_active.clone()))?;
        registry.register(Box::new(signals.findings_raised_total.clone()))?;
        for change in Change::ALL {
            for predicate in PREDICATE {
                signals
                    .document_changes_total
                    .with_label_values(&[change.label(), predicate])
                    .reset();
            }
        }
        for source in TRIGGER_SOURCES {
            signals
                .reconcile_triggers_total
                .with_label_values(&[source])
                .reset();
        }
        for state in DOCUMENT_STATES {
            signals.documents.with_label_values(&[state]).set(0);
        }
        Ok(signals)
    }

    /// Creates the series of every finding at 0 (the doctor knows them; this layer does not).
    pub fn findings_known(&self, findings: &[&str]) {
        for finding in findings {
            self.finding_active.with_label_values(&[finding]).set(0);
            self.findings_raised_total
                .with_label_values(&[finding])
                .reset();
        }
    }

    /// Pre-initialises the per-resource series of a watched resource.
    pub fn watch_started(&self, resource: &str) {
        self.watch_errors_logged_total
            .with_label_values(&[resource])
            .reset();
        self.open_watches.with_label_values(&[resource]).set(0);
        self.unpaged_lists_total
            .with_label_values(&[resource])
            .reset();
        self.watches_without_bookmarks_total
            .with_label_values(&[resource])
            .reset();
    }

    /// Counts a Document watch event: what it changed, and whether the predicate passed it.
    pub fn document_changed(&self, change: Change, passed: bool) {
        let predicate = if passed { "passed" } else { "filtered" };
        self.document_changes_total
            .with_label_values(&[change.label(), predicate])
            .inc();
    }

    /// Counts `n` reconciles requested by `source` (one of [`TRIGGER_SOURCES`]).
    pub fn reconciles_requested(&self, source: &'static str, n: usize) {
        self.reconcile_triggers_total
            .with_label_values(&[source])
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Counts a status write for a generation whose status was written before.
    pub fn status_rewritten(&self) {
        self.status_rewrites_total.inc();
    }

    /// Counts the echo of the controller's own status write.
    pub fn own_write_echoed(&self) {
        self.own_write_echoes_total.inc();
    }

    /// Counts a read of the ConfigMap cache before its initial list.
    pub fn cache_read_before_sync(&self) {
        self.cache_reads_before_sync_total.inc();
    }

    /// Counts a reconcile poll that held its thread too long.
    pub fn slow_poll(&self) {
        self.reconcile_slow_polls_total.inc();
    }

    /// Counts a watch error the controller logged.
    pub fn watch_error_logged(&self, resource: &str) {
        self.watch_errors_logged_total
            .with_label_values(&[resource])
            .inc();
    }

    /// A watch of `resource` opened (`+1`) or closed (`-1`).
    pub fn watch_open(&self, resource: &str, delta: i64) {
        self.open_watches.with_label_values(&[resource]).add(delta);
    }

    /// Counts a LIST of `resource` without a limit.
    pub fn unpaged_list(&self, resource: &str) {
        self.unpaged_lists_total
            .with_label_values(&[resource])
            .inc();
    }

    /// Counts a watch of `resource` that did not ask for bookmarks.
    pub fn watch_without_bookmarks(&self, resource: &str) {
        self.watches_without_bookmarks_total
            .with_label_values(&[resource])
            .inc();
    }

    /// Sets `doc_controller_documents{state}`.
    pub fn set_documents(&self, state: &'static str, count: usize) {
        self.documents
            .with_label_values(&[state])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Notes the current number of reconciles in flight, for the window's peak.
    pub fn note_in_flight(&self, in_flight: i64) {
        self.peak.fetch_max(in_flight, Ordering::Relaxed);
    }

    /// The window's peak of reconciles in flight, published and restarted from `now_in_flight`.
    pub fn take_in_flight_peak(&self, now_in_flight: i64) -> i64 {
        let peak = self
            .peak
            .swap(now_in_flight, Ordering::Relaxed)
            .max(now_in_flight);
        self.reconciles_in_flight_peak.set(peak);
        peak
    }

    /// Sets `doc_controller_controller_running`.
    pub fn set_controller_running(&self, running: bool) {
        self.controller_running.set(i64::from(running));
    }

    /// Sets `doc_controller_ready`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Records a successful reconcile now.
    pub fn reconcile_succeeded_now(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.last_reconcile_success.set(now);
    }

    /// Sets `doc_controller_finding_active{finding}`, counting a raise.
    pub fn set_finding(&self, finding: &str, active: bool) {
        let gauge = self.finding_active.with_label_values(&[finding]);
        if active && gauge.get() == 0 {
            self.findings_raised_total
                .with_label_values(&[finding])
                .inc();
        }
        gauge.set(i64::from(active));
    }
}

/// A poll of a reconcile future this long holds its runtime thread: blocking work in async code.
/// Wall time, so a thread the OS set aside on a busy machine counts too; far above that.
pub const SLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Times each poll of a future and counts the slow ones in
/// `doc_controller_reconcile_slow_polls_total`: what tokio-console shows as long task polls, as a
/// number the diagnosis can read.
pub struct SlowPolls<'a, F> {
    inner: std::pin::Pin<Box<F>>,
    signals: &'a Signals,
}

impl<'a, F: Future> SlowPolls<'a, F> {
    /// Times the polls of `inner`.
    pub fn new(inner: F, metrics: &'a crate::metrics::Metrics) -> Self {
        Self {
            inner: Box::pin(inner),
            signals: metrics.signals(),
        }
    }
}

impl<F: Future> Future for SlowPolls<'_, F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let started = std::time::Instant::now();
        let poll = self.inner.as_mut().poll(cx);
        if started.elapsed() >= SLOW_POLL {
            self.signals.slow_poll();
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_what_differs_from_the_cached_document() {
        let none: &[String] = &[];
        let ours = ["documents.kube.rs".to_string()];
        assert_eq!(Change::of(None, (Some(1), none)), Change::Created);
        assert_eq!(
            Change::of(Some((Some(1), none)), (Some(2), none)),
            Change::Generation
        );
        assert_eq!(
            Change::of(Some((Some(1), none)), (Some(1), &ours)),
            Change::Finalizers
        );
        assert_eq!(
            Change::of(Some((Some(1), &ours)), (Some(1), &ours)),
            Change::Other
        );
        assert!(!Change::Other.matters() && Change::Finalizers.matters());
    }

    #[test]
    fn the_in_flight_peak_is_the_highest_since_it_was_last_taken() {
        let signals = Signals::new(&Registry::new()).expect("registers");
        signals.note_in_flight(3);
        signals.note_in_flight(7);
        signals.note_in_flight(2);
        assert_eq!(signals.take_in_flight_peak(1), 7);
        assert_eq!(signals.take_in_flight_peak(0), 1);
    }
}
