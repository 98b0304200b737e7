//! Metrics for every request the controller sends to the Kubernetes API server.
//!
//! [`ApiMetricsLayer`] is a [`tower::Layer`] added to the kube [`Client`](kube::Client)'s
//! middleware stack. For each request it records:
//!
//! - `doc_controller_api_requests_total{verb, resource, code}`
//! - `doc_controller_api_request_duration_seconds{verb, resource}`
//!
//! This answers "what is the controller doing to the API server?" (is it re-listing in a loop,
//! patching status on every reconcile, getting throttled with `429`, forbidden with `403`?)
//! without access to the API server's own metrics or audit log.
//!
//! # Wiring
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use doc_controller::{client_metrics::ApiMetricsLayer, metrics::Metrics};
//!
//! let metrics = Metrics::new(&[])?;
//! let config = kube::Config::infer().await?;
//! let client = kube::client::ClientBuilder::try_from(config)?
//!     .with_layer(&ApiMetricsLayer::new(metrics.api()))
//!     .build();
//! # drop(client);
//! # Ok(())
//! # }
//! ```
//!
//! The layer wraps kube's whole default stack, so it sees each request once as the caller issued
//! it: retries inside the stack are not counted separately, and the URI is still the path
//! relative to the cluster URL.
//!
//! # Labels
//!
//! `verb` and `resource` are derived from the method and path the way the API server derives its
//! own request info (see [`request_info`]), so they can be compared with the API server's
//! `apiserver_request_total` (which spells the verbs in upper case). Object names and namespaces are dropped: the label values come
//! from the finite set of verbs and resources of the API, so the number of series stays bounded
//! however many objects exist.
//!
//! `code` is the HTTP status code (`"200"`, `"404"`, `"409"`, `"429"`, ...), `"timeout"` when the
//! response head did not arrive within the deadline of [`crate::api_health`] (an unreachable or
//! hung API server), `"error"` when the request failed without a response otherwise (connection
//! refused, TLS errors), and `"cancelled"` when the caller dropped the request before a response
//! arrived.
//!
//! # What the duration measures
//!
//! The duration ends when the response *headers* arrive, for every request. For a watch that is
//! the time to establish the watch (the body is a stream that stays open for minutes), so
//! watch durations are comparable with other requests instead of being a constant "watch
//! timeout". For other requests, reading the body afterwards is not included; for typical
//! object-sized JSON bodies that is negligible, for very large lists it is not.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, Uri};
use tower::BoxError;

use crate::api_health::ApiTimeout;
use crate::metrics::ApiMetrics;

/// A [`tower::Layer`] recording API request metrics; see the [module docs](self) for wiring.
#[derive(Clone, Debug)]
pub struct ApiMetricsLayer {
    metrics: ApiMetrics,
}

impl ApiMetricsLayer {
    /// Creates the layer; get `metrics` from [`Metrics::api`](crate::metrics::Metrics::api).
    pub fn new(metrics: ApiMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for ApiMetricsLayer {
    type Service = ApiMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The [`tower::Service`] created by [`ApiMetricsLayer`]; it forwards every request unchanged
/// and records its outcome.
#[derive(Clone, Debug)]
pub struct ApiMetricsService<S> {
    inner: S,
    metrics: ApiMetrics,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for ApiMetricsService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<WatchBody<ResBody>>;
    // Boxed so that a timeout can be told apart from other failures (kube boxes errors anyway).
    type Error = BoxError;
    // Boxing costs one allocation per API request, which is noise next to the request itself,
    // and keeps this a plain `async` block instead of a hand-written future.
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let (verb, resource) = request_info(request.method(), request.uri(), content_type);
        let shape = RequestShape::of(verb, request.uri());
        shape.count(&self.metrics, &resource);
        // Created before the inner call so that the time and a cancellation before the first
        // poll are both accounted for.
        let mut recorder = Recorder {
            metrics: self.metrics.clone(),
            verb,
            resource,
            started: Instant::now(),
            outcome: Outcome::Cancelled,
        };
        let response = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = response.await.map_err(Into::into);
            recorder.finished(match &result {
                Ok(response) => Outcome::Response(response.status()),
                Err(error) if ApiTimeout::is_in(&**error) => Outcome::TimedOut,
                Err(_) => Outcome::Failed,
            });
            let resource = recorder.resource.clone();
            result.map(|response| {
                // A watch is open while its body streams: counted until the body is dropped.
                let open = (shape.is_watch() && response.status().is_success())
                    .then(|| OpenWatch::new(metrics, resource));
                response.map(|body| WatchBody {
                    inner: body,
                    _open: open,
                })
            })
        })
    }
}

/// What kind of read a request is, for the diagnosis signals ([`crate::signals`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestShape {
    /// A watch, and whether it asked for bookmarks.
    Watch { bookmarks: bool },
    /// A LIST, and whether it set a page size (`limit`).
    List { limited: bool },
    /// Anything else.
    Other,
}

impl RequestShape {
    fn of(verb: &str, uri: &Uri) -> Self {
        let query = uri.query().unwrap_or_default();
        let has = |key: &str, value: Option<&str>| {
            query.split('&').any(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                k == key && value.is_none_or(|value| v == value)
            })
        };
        match verb {
            "watch" => RequestShape::Watch {
                bookmarks: has("allowWatchBookmarks", Some("true")),
            },
            "list" => RequestShape::List {
                limited: has("limit", None),
            },
            _ => RequestShape::Other,
        }
    }

    fn is_watch(self) -> bool {
        matches!(self, RequestShape::Watch { .. })
    }

    /// Counts what the diagnosis wants to know of the request's shape: a LIST without a limit
    /// holds everything in one response; a watch without bookmarks loses its place when the
    /// history is compacted.
    fn count(self, metrics: &ApiMetrics, resource: &str) {
        match self {
            RequestShape::List { limited: false } => metrics.signals.unpaged_list(resource),
            RequestShape::Watch { bookmarks: false } => {
                metrics.signals.watch_without_bookmarks(resource);
            }
            _ => {}
        }
    }
}

/// One open watch, counted in `doc_controller_open_watches{resource}` until dropped.
#[derive(Debug)]
struct OpenWatch {
    signals: std::sync::Arc<crate::signals::Signals>,
    resource: String,
}

impl OpenWatch {
    fn new(metrics: ApiMetrics, resource: String) -> Self {
        metrics.signals.watch_open(&resource, 1);
        OpenWatch {
            signals: metrics.signals,
            resource,
        }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.signals.watch_open(&self.resource, -1);
    }
}

pin_project_lite::pin_project! {
    /// A response body, unchanged; for a watch it keeps the watch counted as open until the
    /// stream is dropped (ended, or cancelled by the client).
    #[derive(Debug)]
    pub struct WatchBody<B> {
        #[pin]
        inner: B,
        _open: Option<OpenWatch>,
    }
}

impl<B: http_body::Body> http_body::Body for WatchBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// How a request ended, as far as this layer saw it.
enum Outcome {
    /// The future was dropped before the response arrived.
    Cancelled,
    /// The inner service failed without a response.
    Failed,
    /// No response head within the deadline ([`ApiTimeout`]).
    TimedOut,
    /// Response headers arrived with this status.
    Response(StatusCode),
}

/// Records one request when dropped, so that every exit path (response, error, cancellation)
/// is counted exactly once.
struct Recorder {
    metrics: ApiMetrics,
    verb: &'static str,
    resource: String,
    started: Instant,
    outcome: Outcome,
}

impl Recorder {
    /// Replaces the default outcome (cancelled) once the request ended; recorded on drop.
    fn finished(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let code = match &self.outcome {
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "error",
            Outcome::TimedOut => "timeout",
            Outcome::Response(status) => status.as_str(),
        };
        self.metrics
            .record(self.verb, &self.resource, code, self.started.elapsed());
    }
}

/// Path segments that the API server treats as subresources of a namespace rather than as a
/// namespaced resource (`/api/v1/namespaces/{ns}/status` is the status of namespace `{ns}`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Derives the `(verb, resource)` labels of a request, following the API server's request
/// info rules (`k8s.io/apiserver/pkg/endpoints/request`):
///
/// | request | verb |
/// |---|---|
/// | `GET` on a collection | `list`, or `watch` with `watch=true`/`watch=1` |
/// | `GET` on a name | `get` (also with `watch=true`, as in the API server: kube watches one object with a `metadata.name` field selector on the collection) |
/// | `POST` | `create` |
/// | `PUT` | `update` |
/// | `PATCH` with content type `application/apply-patch+…` | `apply` (server-side apply) |
/// | other `PATCH` | `patch` |
/// | `DELETE` on a name / on a collection | `delete` / `deletecollection` |
///
/// `resource` is the plural resource (`configmaps`, `documents`), joined with its subresource
/// as `documents/status`. Paths that are not resources get a fixed label instead: `discovery`
/// for `/api`, `/apis` and group/version listings, the first segment for the well-known
/// `/version`, `/openapi/...`, `/healthz`, `/livez`, `/readyz`, and `other` for anything else, so
/// arbitrary paths cannot create new series.
pub fn request_info(
    method: &Method,
    uri: &Uri,
    content_type: Option<&str>,
) -> (&'static str, String) {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();

    // `/api/{version}/...` (core group) or `/apis/{group}/{version}/...`.
    let resource_segments = match segments.as_slice() {
        ["api", _version, rest @ ..] | ["apis", _, _version, rest @ ..] if !rest.is_empty() => rest,
        ["api" | "apis", ..] => return (non_resource_verb(method), "discovery".to_owned()),
        [first, ..] => {
            let resource = match *first {
                known @ ("version" | "openapi" | "healthz" | "livez" | "readyz") => known,
                _ => "other",
            };
            return (non_resource_verb(method), resource.to_owned());
        }
        [] => return (non_resource_verb(method), "other".to_owned()),
    };

    // Legacy `/api/v1/watch/...` and `/api/v1/proxy/...` put the verb in the path.
    let (special_verb, mut parts) = match resource_segments {
        ["watch", rest @ ..] if !rest.is_empty() => (Some("watch"), rest),
        ["proxy", rest @ ..] if !rest.is_empty() => (Some("proxy"), rest),
        _ => (None, resource_segments),
    };

    // `/namespaces/{ns}/{resource}/...` is a namespaced resource; `/namespaces/{ns}` and
    // `/namespaces/{ns}/status` are the namespace object itself.
    if let ["namespaces", _namespace, resource, ..] = parts
        && !NAMESPACE_SUBRESOURCES.contains(resource)
    {
        parts = &parts[2..];
    }

    let (resource, has_name, subresource) = match parts {
        [resource] => (*resource, false, None),
        [resource, _name] => (*resource, true, None),
        [resource, _name, subresource, ..] => (*resource, true, Some(*subresource)),
        [] => ("other", false, None),
    };
    let resource = match subresource {
        Some(subresource) => format!("{resource}/{subresource}"),
        None => resource.to_owned(),
    };

    let verb = match special_verb {
        Some(verb) => verb,
        None => resource_verb(method, uri, content_type, has_name),
    };
    (verb, resource)
}

/// The verb of a request on a resource path, per the table on [`request_info`].
fn resource_verb(
    method: &Method,
    uri: &Uri,
    content_type: Option<&str>,
    has_name: bool,
) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if has_name => "get",
        Method::GET | Method::HEAD if is_watch(uri) => "watch",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH if is_apply_patch(content_type) => "apply",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

/// The verb of a request on a non-resource path: the lowercase method, as the API server does.
fn non_resource_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

/// Whether the query string asks for a watch (`watch=true` or `watch=1`).
fn is_watch(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1"))
    })
}

/// Whether a PATCH is a server-side apply (`application/apply-patch+yaml`, or `+cbor` in newer
/// API servers); media types are case-insensitive and may carry parameters.
fn is_apply_patch(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|content_type| {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        media_type
            .to_ascii_lowercase()
            .starts_with("application/apply-patch")
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer as _, Service as _, ServiceExt as _};

    use super::*;
    use crate::metrics::Metrics;

    fn info(method: Method, uri: &str, content_type: Option<&str>) -> (&'static str, String) {
        let uri: Uri = uri.parse().expect("valid test uri");
        request_info(&method, &uri, content_type)
    }

    fn labels(verb: &'static str, resource: &str) -> (&'static str, String) {
        (verb, resource.to_owned())
    }

    #[test]
    fn getting_a_named_core_object_is_a_get_of_its_plural_resource() {
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces/default/configmaps/x", None),
            labels("get", "configmaps")
        );
    }

    #[test]
    fn getting_a_collection_is_a_list() {
        assert_eq!(
            info(Method::GET, "/apis/kube.rs/v1/documents", None),
            labels("list", "documents")
        );
        assert_eq!(
            info(
                Method::GET,
                "/apis/kube.rs/v1/namespaces/ns/documents?limit=500",
                None
            ),
            labels("list", "documents")
        );
    }

    #[test]
    fn getting_a_collection_with_watch_true_or_1_is_a_watch() {
        assert_eq!(
            info(Method::GET, "/apis/kube.rs/v1/documents?watch=true", None),
            labels("watch", "documents")
        );
        assert_eq!(
            info(
                Method::GET,
                "/apis/kube.rs/v1/namespaces/ns/documents?&watch=1&timeoutSeconds=290",
                None
            ),
            labels("watch", "documents")
        );
        assert_eq!(
            info(Method::GET, "/apis/kube.rs/v1/documents?watch=false", None),
            labels("list", "documents")
        );
    }

    #[test]
    fn the_legacy_watch_path_prefix_is_a_watch() {
        assert_eq!(
            info(Method::GET, "/api/v1/watch/namespaces/ns/pods", None),
            labels("watch", "pods")
        );
    }

    #[test]
    fn a_subresource_is_joined_to_its_resource() {
        assert_eq!(
            info(
                Method::PATCH,
                "/apis/kube.rs/v1/namespaces/ns/documents/d/status",
                Some("application/merge-patch+json")
            ),
            labels("patch", "documents/status")
        );
    }

    #[test]
    fn a_server_side_apply_patch_is_an_apply() {
        assert_eq!(
            info(
                Method::PATCH,
                "/apis/kube.rs/v1/namespaces/ns/documents/d/status?fieldManager=doc-controller",
                Some("application/apply-patch+yaml")
            ),
            labels("apply", "documents/status")
        );
        assert_eq!(
            info(
                Method::PATCH,
                "/api/v1/namespaces/ns/configmaps/x",
                Some("Application/Apply-Patch+YAML; charset=utf-8")
            ),
            labels("apply", "configmaps")
        );
    }

    #[test]
    fn creating_an_event_in_a_group_is_a_create_of_events() {
        assert_eq!(
            info(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/ns/events",
                None
            ),
            labels("create", "events")
        );
    }

    #[test]
    fn put_is_an_update() {
        assert_eq!(
            info(Method::PUT, "/api/v1/namespaces/ns/configmaps/index", None),
            labels("update", "configmaps")
        );
    }

    #[test]
    fn delete_on_a_name_is_a_delete_and_on_a_collection_a_deletecollection() {
        assert_eq!(
            info(Method::DELETE, "/api/v1/namespaces/ns/configmaps/x", None),
            labels("delete", "configmaps")
        );
        assert_eq!(
            info(Method::DELETE, "/api/v1/namespaces/ns/configmaps", None),
            labels("deletecollection", "configmaps")
        );
    }

    #[test]
    fn a_namespace_path_addresses_the_namespace_object_itself() {
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces/ns", None),
            labels("get", "namespaces")
        );
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces", None),
            labels("list", "namespaces")
        );
        assert_eq!(
            info(Method::PUT, "/api/v1/namespaces/ns/finalize", None),
            labels("update", "namespaces/finalize")
        );
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces/ns/status", None),
            labels("get", "namespaces/status")
        );
    }

    #[test]
    fn non_resource_paths_get_bounded_labels() {
        assert_eq!(
            info(Method::GET, "/version", None),
            labels("get", "version")
        );
        assert_eq!(
            info(Method::GET, "/openapi/v3/apis/kube.rs/v1", None),
            labels("get", "openapi")
        );
        assert_eq!(info(Method::GET, "/apis", None), labels("get", "discovery"));
        assert_eq!(
            info(Method::GET, "/api/v1", None),
            labels("get", "discovery")
        );
        assert_eq!(
            info(Method::GET, "/apis/kube.rs/v1", None),
            labels("get", "discovery")
        );
        assert_eq!(
            info(Method::GET, "/some/arbitrary/path-123", None),
            labels("get", "other")
        );
        assert_eq!(info(Method::GET, "/", None), labels("get", "other"));
    }

    /// The `/metrics` line of one API request series.
    fn requests(metrics: &Metrics, verb: &str, resource: &str, code: &str) -> Option<f64> {
        let series = format!(
            r#"doc_controller_api_requests_total{{code="{code}",resource="{resource}",verb="{verb}"}} "#
        );
        metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.parse().ok())
    }

    fn request(method: Method, uri: &str) -> Request<kube::client::Body> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(kube::client::Body::empty())
            .expect("valid test request")
    }

    #[tokio::test]
    async fn a_response_is_counted_with_its_status_code_and_timed() {
        let metrics = Metrics::new(&[]).expect("metrics");
        let service = ApiMetricsLayer::new(metrics.api()).layer(tower::service_fn(
            |_request: Request<kube::client::Body>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(StatusCode::CONFLICT)
                        .body(())
                        .expect("valid response"),
                )
            },
        ));

        let response = service
            .oneshot(request(
                Method::PUT,
                "/api/v1/namespaces/ns/configmaps/index",
            ))
            .await
            .expect("infallible");

        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(requests(&metrics, "update", "configmaps", "409"), Some(1.0));
        assert!(
            metrics.render().contains(
                r#"doc_controller_api_request_duration_seconds_count{resource="configmaps",verb="update"} 1"#
            ),
            "{}",
            metrics.render()
        );
    }

    #[tokio::test]
    async fn a_request_failing_without_a_response_is_counted_as_error() {
        let metrics = Metrics::new(&[]).expect("metrics");
        let service = ApiMetricsLayer::new(metrics.api()).layer(tower::service_fn(
            |_request: Request<kube::client::Body>| async {
                Err::<Response<()>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            },
        ));

        let result = service
            .oneshot(request(
                Method::GET,
                "/apis/kube.rs/v1/documents?watch=true",
            ))
            .await;

        assert!(result.is_err());
        assert_eq!(requests(&metrics, "watch", "documents", "error"), Some(1.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_deadline_is_counted_as_timeout() {
        let metrics = Metrics::new(&[]).expect("metrics");
        let health = crate::api_health::ApiHealthLayer::new(
            std::time::Duration::from_secs(1),
            crate::readiness::Readiness::new(),
        );
        let service = ApiMetricsLayer::new(metrics.api()).layer(health.layer(tower::service_fn(
            |_request: Request<kube::client::Body>| {
                std::future::pending::<Result<Response<()>, Infallible>>()
            },
        )));

        let result = service
            .oneshot(request(Method::GET, "/apis/kube.rs/v1/documents"))
            .await;

        assert!(result.is_err());
        assert_eq!(
            requests(&metrics, "list", "documents", "timeout"),
            Some(1.0)
        );
        assert_eq!(requests(&metrics, "list", "documents", "error"), None);
    }

    #[tokio::test]
    async fn a_request_dropped_before_its_response_is_counted_as_cancelled() {
        let metrics = Metrics::new(&[]).expect("metrics");
        let mut service = ApiMetricsLayer::new(metrics.api()).layer(tower::service_fn(
            |_request: Request<kube::client::Body>| {
                std::future::pending::<Result<Response<()>, Infallible>>()
            },
        ));

        let in_flight = service
            .ready()
            .await
            .expect("ready")
            .call(request(Method::GET, "/api/v1/namespaces/ns/configmaps/x"));
        drop(in_flight);

        assert_eq!(
            requests(&metrics, "get", "configmaps", "cancelled"),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn the_layer_fits_the_kube_client_builder_and_sees_real_requests() {
        let metrics = Metrics::new(&[]).expect("metrics");
        let api_server = tower::service_fn(|_request: Request<kube::client::Body>| async {
            let status = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(kube::client::Body::from(status.to_vec()))
                    .expect("valid response"),
            )
        });
        let client = kube::client::ClientBuilder::new(api_server, "default")
            .with_layer(&ApiMetricsLayer::new(metrics.api()))
            .build();
        let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "ns");

        let result = config_maps.get("x").await;

        assert!(result.is_err(), "the fake API server answers 404");
        assert_eq!(requests(&metrics, "get", "configmaps", "404"), Some(1.0));
    }
}
