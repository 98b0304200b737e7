//! The sandbox's own Prometheus metrics, named after kube-apiserver's
//! (`apiserver_request_total`, `apiserver_request_duration_seconds`,
//! `apiserver_longrunning_requests`), with a `sandbox_` prefix so they are not mistaken for a
//! real server's. Served at `GET /metrics` (RBAC non-resource URL, allowed to
//! `system:masters`) and by `Sandbox::metrics_text`. The filter ([`layer`]) counts and times
//! every answer, under the user it was answered to, and keeps open watches counted until
//! their stream ends.
//!
//! Label values stay bounded: verbs and resources are the served ones, users are the few
//! identities of a sandbox, codes are HTTP codes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::Gate;
use crate::auth::UserInfo;

/// The filter.
pub(crate) async fn layer(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let info = super::request_info(&request);
    let response = next.run(request).await;
    let user = response
        .extensions()
        .get::<UserInfo>()
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let resource = if info.resource_request {
        info.combined_resource()
    } else {
        String::new()
    };
    let code = response.status().as_u16();
    gate.metrics
        .observe(&info.verb, &resource, &user, code, started.elapsed());
    if info.verb == "watch" && response.status().is_success() {
        return count_watch(&gate.metrics, &resource, response);
    }
    response
}

/// Wraps a watch response body so the open-watch gauge drops when the stream ends.
fn count_watch(metrics: &ServerMetrics, resource: &str, response: Response) -> Response {
    let guard = metrics.watch_opened(resource);
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The metric families of one sandbox.
#[derive(Debug, Clone)]
pub(crate) struct ServerMetrics {
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
pub(crate) struct WatchGuard {
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
    #[allow(
        clippy::expect_used,
        reason = "static metric definitions in a fresh registry cannot fail"
    )]
    pub(crate) fn new() -> Self {
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
    pub(crate) fn injected(&self, fault: &str) {
        self.injected.with_label_values(&[fault]).inc();
    }

    /// Counts one answered request.
    pub(crate) fn observe(
        &self,
        verb: &str,
        resource: &str,
        user: &str,
        code: u16,
        took: Duration,
    ) {
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
    pub(crate) fn throttled(&self, user: &str) {
        self.throttled.with_label_values(&[user]).inc();
    }

    /// Counts a watch as open until the guard drops.
    pub(crate) fn watch_opened(&self, resource: &str) -> WatchGuard {
        let gauge = self.open_watches.with_label_values(&[resource]);
        gauge.inc();
        WatchGuard { gauge }
    }

    /// The BOOKMARK counter by resource, which the HTTP layer's watch encoding increments.
    pub(crate) fn bookmarks(&self) -> IntCounterVec {
        self.bookmarks.clone()
    }

    /// The Prometheus text exposition of all families.
    pub(crate) fn text(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which these are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
