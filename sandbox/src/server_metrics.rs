//! The sandbox's own Prometheus metrics, named after kube-apiserver's
//! (`apiserver_request_total`, `apiserver_request_duration_seconds`,
//! `apiserver_longrunning_requests`), with a `sandbox_` prefix so they are not mistaken for a
//! real server's. Served at `GET /metrics` (RBAC non-resource URL, allowed to
//! `system:masters`) and by `Sandbox::metrics_text`.
//!
//! Label values stay bounded: verbs and resources are the served ones, users are the few
//! identities of a sandbox, codes are HTTP codes.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The metric families of one sandbox.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    open_watches: IntGaugeVec,
    bookmarks: IntCounterVec,
    throttled: IntCounterVec,
    injected: IntCounterVec,
}

/// Decrements the open-watch gauge when the watch stream ends.
#[derive(Debug)]
pub struct WatchGuard {
    gauge: prometheus::IntGauge,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    /// Registers the families in a fresh registry.
    ///
    /// # Panics
    /// Never: the names and labels are static and valid, and the registry is fresh.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "sandbox_apiserver_requests_total",
                "Requests served by the sandbox, by verb, resource, user and HTTP code.",
            ),
            &["verb", "resource", "user", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "sandbox_apiserver_request_duration_seconds",
                "Time to answer non-watch requests (including injected latency).",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["verb", "resource"],
        )
        .expect("valid metric");
        let open_watches = IntGaugeVec::new(
            Opts::new(
                "sandbox_apiserver_open_watches",
                "Watch streams currently open, by resource.",
            ),
            &["resource"],
        )
        .expect("valid metric");
        let bookmarks = IntCounterVec::new(
            Opts::new(
                "sandbox_apiserver_watch_bookmarks_total",
                "BOOKMARK events sent to watchers (periodic and initial-events-end), by resource.",
            ),
            &["resource"],
        )
        .expect("valid metric");
        let throttled = IntCounterVec::new(
            Opts::new(
                "sandbox_apiserver_throttled_requests_total",
                "Requests rejected with 429 by API Priority and Fairness or throttling faults, by user.",
            ),
            &["user"],
        )
        .expect("valid metric");
        let injected = IntCounterVec::new(
            Opts::new(
                "sandbox_injected_faults_total",
                "Faults applied to requests, by fault type (latency, hang, drop, error).",
            ),
            &["fault"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(open_watches.clone()),
            Box::new(bookmarks.clone()),
            Box::new(throttled.clone()),
            Box::new(injected.clone()),
        ] {
            registry.register(collector).expect("fresh registry");
        }
        Self {
            registry,
            requests,
            duration,
            open_watches,
            bookmarks,
            throttled,
            injected,
        }
    }

    /// Counts a fault applied to a request.
    pub fn injected(&self, fault: &str) {
        self.injected.with_label_values(&[fault]).inc();
    }

    /// Counts one answered request.
    pub fn observe(&self, verb: &str, resource: &str, user: &str, code: u16, took: Duration) {
        self.requests
            .with_label_values(&[verb, resource, user, &code.to_string()])
            .inc();
        if verb != "watch" {
            self.duration
                .with_label_values(&[verb, resource])
                .observe(took.as_secs_f64());
        }
    }

    /// Counts a throttled request.
    pub fn throttled(&self, user: &str) {
        self.throttled.with_label_values(&[user]).inc();
    }

    /// Counts a watch as open until the guard drops.
    pub fn watch_opened(&self, resource: &str) -> WatchGuard {
        let gauge = self.open_watches.with_label_values(&[resource]);
        gauge.inc();
        WatchGuard { gauge }
    }

    /// Counts a BOOKMARK sent to a watcher of `resource`.
    pub fn bookmark_sent(&self, resource: &str) {
        self.bookmarks.with_label_values(&[resource]).inc();
    }

    /// The Prometheus text exposition of all families.
    pub fn text(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which these are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
