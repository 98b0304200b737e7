//! The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `/diagnostics` and a page (`/`).
//!
//! It only reports; no route changes the controller's behaviour, so it can be exposed to a
//! metrics scraper without granting any control.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text format 0.0.4, see [`crate::metrics`] |
//! | `GET /healthz` | `200 ok` as long as the process can answer HTTP (liveness) |
//! | `GET /readyz` | `200 ok` once ready, else `503` with one reason per line (readiness); the last line says who leads |
//! | `GET /diagnostics` | the self-diagnosis as JSON ([`Diagnostics`]): every finding, raised or not, with evidence, cause and fix |
//! | `GET /` | a page for people ([`page`]): the key series as plots, the raised findings with cause and fix, the toggles in force |
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
//! (`kubectl rollout status` waits for it), which is why the 503 body explains itself. A
//! standby replica is ready (its job is to be ready to lead; an unready standby would stall
//! every rolling update and count against a PodDisruptionBudget): the body's last line says who
//! leads ([`crate::leader`]).

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::diagnosis::report::Diagnostics;
use crate::metrics::Metrics;
pub use crate::readiness::Readiness;
use tokio::sync::watch;

pub mod page;

/// What the handlers need.
#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    readiness: Readiness,
    diagnostics: watch::Receiver<Diagnostics>,
}

/// The admin routes, without a listener; [`serve`] runs them, tests call them directly.
pub fn router(
    metrics: Arc<Metrics>,
    readiness: Readiness,
    diagnostics: watch::Receiver<Diagnostics>,
) -> Router {
    Router::new()
        .route("/", get(page_handler))
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/diagnostics", get(diagnostics_handler))
        .with_state(AdminState {
            metrics,
            readiness,
            diagnostics,
        })
}

/// Serves the admin routes on `listener` until `shutdown` completes, then finishes the
/// requests in progress and returns.
///
/// Bind the listener before calling, so a port conflict fails startup with a clear error
/// instead of inside a background task:
///
/// ```no_run
/// # async fn run(metrics: std::sync::Arc<doc_controller::metrics::Metrics>) -> std::io::Result<()> {
/// use doc_controller::diagnosis::{Doctor, Settings};
/// let readiness = doc_controller::admin::Readiness::new();
/// let doctor = Doctor::new(metrics.clone(), Settings::default(), None);
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// let shutdown = async { tokio::signal::ctrl_c().await.unwrap_or_default() };
/// doc_controller::admin::serve(listener, metrics, readiness, doctor.subscribe(), shutdown).await
/// # }
/// ```
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    diagnostics: watch::Receiver<Diagnostics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, readiness, diagnostics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_handler(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.render(),
    )
}

async fn diagnostics_handler(State(state): State<AdminState>) -> impl IntoResponse {
    let report = state.diagnostics.borrow().clone();
    axum::Json(report)
}

/// The page reads the same report as `/diagnostics` and the toggles from the metrics, so it
/// shows nothing the other routes do not.
async fn page_handler(State(state): State<AdminState>) -> impl IntoResponse {
    let report = state.diagnostics.borrow().clone();
    let toggles = page::toggles_in_force(&state.metrics);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                page::CONTENT_SECURITY_POLICY,
            ),
        ],
        page::render(&report, &toggles),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// `ok` or the reasons, then who leads (a standby is ready: see [`crate::leader`]).
async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let reasons = state.readiness.reasons_not_ready();
    let (code, mut body) = if reasons.is_empty() {
        (StatusCode::OK, "ok".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, reasons.join("\n"))
    };
    if let Some(leader) = state.readiness.leader_line() {
        body.push('\n');
        body.push_str(&leader);
    }
    (code, body)
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new(&["kube_api"]).expect("metrics"))
    }

    fn diagnostics() -> watch::Receiver<Diagnostics> {
        watch::channel(Diagnostics::default()).1
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
        let response = router(metrics(), readiness.clone(), diagnostics())
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
    async fn readyz_says_who_leads_and_a_standby_is_ready() {
        let readiness = Readiness::new();
        readiness.set_preflight_passed();
        readiness.set_stores_ready();
        readiness.set_leader_line("standby: the leader is doc-controller-7d9f8-x2v4q");

        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            "ok\nstandby: the leader is doc-controller-7d9f8-x2v4q"
        );

        readiness.set_shutting_down();
        let (status, _, body) = send(&readiness, "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "shutting down\nstandby: the leader is doc-controller-7d9f8-x2v4q"
        );
    }

    #[tokio::test]
    async fn other_methods_are_not_allowed() {
        for path in ["/", "/metrics", "/healthz", "/readyz", "/diagnostics"] {
            for method in ["POST", "PUT", "DELETE"] {
                let (status, _, _) = send(&Readiness::new(), method, path).await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        for path in ["/index.html", "/metrics/extra", "/debug"] {
            let (status, _, _) = send(&Readiness::new(), "GET", path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn the_page_is_html_with_the_plots_and_findings_sections() {
        let (status, content_type, body) = send(&Readiness::new(), "GET", "/").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
        assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
        assert!(body.contains("<svg id=\"plot-reconciles\""), "{body}");
        assert!(body.contains("<section id=\"findings\">"), "{body}");
    }

    #[tokio::test]
    async fn serve_answers_over_tcp_and_returns_after_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            metrics(),
            Readiness::new(),
            diagnostics(),
            async {
                stopped.await.unwrap_or_default();
            },
        ));

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
