//! The admin HTTP server: `/metrics`, `/healthz` and `/readyz`.
//!
//! It only reports; no route changes the controller's behaviour, so it can be exposed to a
//! metrics scraper without granting any control.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text format 0.0.4, see [`crate::metrics`] |
//! | `GET /healthz` | `200 ok` as long as the process can answer HTTP (liveness) |
//! | `GET /readyz` | `200 ok` once ready, else `503` with one reason per line (readiness) |
//!
//! Other methods on these paths get `405 Method Not Allowed`, other paths `404 Not Found`.
//!
//! # Liveness versus readiness
//!
//! `/healthz` deliberately checks nothing but the process itself. If it depended on the API
//! server, an API server outage would make the kubelet restart every controller replica, which
//! fixes nothing and adds load when the API server comes back. A controller whose watches fail
//! keeps retrying with backoff on its own.
//!
//! `/readyz` answers whether this replica is doing its job: preflight checks passed (the CRD is
//! installed, permissions are granted), the reflector stores have their initial list, the API
//! server answers (see [`crate::api_health`]), and the process is not shutting down. A controller
//! receives no traffic through a Service, so readiness is mostly for humans and rollouts
//! (`kubectl rollout status` waits for it), which is why the 503 body explains itself.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::metrics::Metrics;

/// The readiness state, shared between the controller (which sets the flags) and `/readyz`.
///
/// Cloning is cheap and all clones share the same flags. Preflight and stores only ever go from
/// false to true: a replica that was ready and then gets watch errors stays ready (the watcher
/// retries), and shutting down is final. The API server's reachability is the one condition that
/// comes and goes: set by a request that got no answer (a timeout or a connection error), cleared
/// by the next answer of any status, so `/readyz` tells "the API server cannot be reached from
/// here" (a NetworkPolicy, an outage) apart from everything else.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    flags: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    preflight_passed: AtomicBool,
    stores_ready: AtomicBool,
    shutting_down: AtomicBool,
    /// The last error of a request that got no answer, until the next answer.
    api_unreachable: Mutex<Option<String>>,
}

impl Readiness {
    /// Not ready: preflight has not passed and the stores are not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the preflight checks (CRD installed, permissions granted) passed.
    pub fn set_preflight_passed(&self) {
        self.flags.preflight_passed.store(true, Ordering::Relaxed);
    }

    /// Records that every reflector store has received its initial list.
    pub fn set_stores_ready(&self) {
        self.flags.stores_ready.store(true, Ordering::Relaxed);
    }

    /// Records that shutdown has begun; `/readyz` answers 503 from now on.
    pub fn set_shutting_down(&self) {
        self.flags.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Records that a request to the API server got no answer, and why (the timeout or
    /// connection error); `/readyz` answers 503 until [`Readiness::set_api_reachable`].
    pub fn set_api_unreachable(&self, error: impl Into<String>) {
        *self.api_unreachable() = Some(error.into());
    }

    /// Records that the API server answered a request (with any status).
    pub fn set_api_reachable(&self) {
        let mut unreachable = self.api_unreachable();
        if unreachable.is_some() {
            *unreachable = None;
        }
    }

    fn api_unreachable(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.flags
            .api_unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this replica is ready: preflight passed, stores ready, the API server answering,
    /// and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.reasons_not_ready().is_empty()
    }

    /// Why this replica is not ready, in the order the conditions are normally met; empty when
    /// it is ready.
    pub fn reasons_not_ready(&self) -> Vec<String> {
        let flags = &self.flags;
        let mut reasons = Vec::new();
        if !flags.preflight_passed.load(Ordering::Relaxed) {
            reasons.push("preflight checks have not passed".to_owned());
        }
        if !flags.stores_ready.load(Ordering::Relaxed) {
            reasons.push("stores have not received their initial list".to_owned());
        }
        if let Some(error) = self.api_unreachable().as_deref() {
            reasons.push(format!("API server unreachable: {error}"));
        }
        if flags.shutting_down.load(Ordering::Relaxed) {
            reasons.push("shutting down".to_owned());
        }
        reasons
    }
}

/// What the handlers need.
#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// The admin routes, without a listener; [`serve`] runs them, tests call them directly.
pub fn router(metrics: Arc<Metrics>, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState { metrics, readiness })
}

/// Serves the admin routes on `listener` until `shutdown` completes, then finishes the
/// requests in progress and returns.
///
/// Bind the listener before calling, so a port conflict fails startup with a clear error
/// instead of inside a background task:
///
/// ```no_run
/// # async fn run(metrics: std::sync::Arc<doc_controller::metrics::Metrics>) -> std::io::Result<()> {
/// let readiness = doc_controller::admin::Readiness::new();
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// let shutdown = async { tokio::signal::ctrl_c().await.unwrap_or_default() };
/// doc_controller::admin::serve(listener, metrics, readiness, shutdown).await
/// # }
/// ```
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, readiness))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_handler(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let reasons = state.readiness.reasons_not_ready();
    if reasons.is_empty() {
        (StatusCode::OK, "ok".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, reasons.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new(&["kube_api"]).expect("metrics"))
    }

    /// Sends one request to the router and returns status, content type and body.
    async fn send(
        readiness: &Readiness,
        method: &str,
        path: &str,
    ) -> (StatusCode, Option<String>, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("valid request");
        let response = router(metrics(), readiness.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().expect("ascii").to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = String::from_utf8(body.to_vec()).expect("utf-8");
        (status, content_type, body)
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_prometheus_text_format() {
        let (status, content_type, body) = send(&Readiness::new(), "GET", "/metrics").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
        assert!(
            body.contains(r#"doc_controller_reconcile_errors_total{reason="kube_api"} 0"#),
            "{body}"
        );
    }

    #[tokio::test]
    async fn healthz_is_ok_even_before_the_controller_is_ready() {
        let (status, _, body) = send(&Readiness::new(), "GET", "/healthz").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
    }

    #[tokio::test]
    async fn readyz_lists_every_unmet_condition_until_ready() {
        let readiness = Readiness::new();

        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "preflight checks have not passed\nstores have not received their initial list"
        );

        readiness.set_preflight_passed();
        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "stores have not received their initial list");

        readiness.set_stores_ready();
        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
        assert!(readiness.is_ready());
    }

    #[tokio::test]
    async fn readyz_fails_once_shutdown_has_begun() {
        let readiness = Readiness::new();
        readiness.set_preflight_passed();
        readiness.set_stores_ready();

        readiness.set_shutting_down();

        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "shutting down");
        assert!(!readiness.is_ready());
    }

    #[tokio::test]
    async fn readyz_fails_while_the_api_server_does_not_answer_and_recovers_with_an_answer() {
        let readiness = Readiness::new();
        readiness.set_preflight_passed();
        readiness.set_stores_ready();

        readiness.set_api_unreachable("the API server did not answer within 30s (GET /api)");
        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "API server unreachable: the API server did not answer within 30s (GET /api)"
        );
        let (status, _, _) = send(&readiness, "GET", "/healthz").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "liveness does not depend on the API"
        );

        readiness.set_api_reachable();
        let (status, _, _) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn other_methods_are_not_allowed() {
        for path in ["/metrics", "/healthz", "/readyz"] {
            for method in ["POST", "PUT", "DELETE"] {
                let (status, _, _) = send(&Readiness::new(), method, path).await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        for path in ["/", "/metrics/extra", "/debug"] {
            let (status, _, _) = send(&Readiness::new(), "GET", path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn serve_answers_over_tcp_and_returns_after_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics(), Readiness::new(), async {
            stopped.await.unwrap_or_default();
        }));

        // A plain blocking client: the admin server must answer any HTTP/1.1 client.
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(address)?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            std::io::Result::Ok(response)
        })
        .await
        .expect("no panic")
        .expect("request over TCP");
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.ends_with("\r\n\r\nok"), "{response}");

        stop.send(()).expect("server still running");
        server.await.expect("no panic").expect("clean shutdown");
    }
}
