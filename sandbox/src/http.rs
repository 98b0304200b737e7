//! The single request entry point: authentication, routing and response encoding.
//!
//! Every request passes through [`entry`], which runs the pipeline of [`crate::gate`]
//! (authentication, impersonation, throttling, authorization, faults, metrics) around routing.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;
use tokio_stream::StreamExt as _;

use crate::registry::Registry;
use crate::request::{Query, Route, parse_path};
use crate::status::ApiError;
use crate::store::Store;

/// Largest request body accepted, like the apiserver's 3 MiB object limit plus slack.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// State shared by all requests.
#[derive(Debug)]
pub struct AppState {
    /// The objects.
    pub store: Store,
    /// The served resources.
    pub registry: Registry,
    /// `host:port` the server listens on, reported by `/api`.
    pub addr: String,
    /// The admin bearer token.
    pub token: String,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// What a real API server with etcd adds to writes, reads and watch delivery.
    pub latency: crate::latency::LatencyModel,
    /// Authentication, authorization, faults and metrics (see [`crate::gate`]).
    pub gate: crate::gate::Gate,
}

/// The axum router: everything goes to [`entry`].
pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new().fallback(entry).with_state(state)
}

/// A JSON response with the given code.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A discovery document, with the content type that keeps clients on legacy discovery.
fn discovery_response(body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let content_type = crate::discovery::DISCOVERY_CONTENT_TYPE;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

/// What the client sent, in the form handlers need.
#[derive(Debug)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Parsed query.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: bytes::Bytes,
}

impl Call {
    /// The `Content-Type` without parameters.
    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }

    /// The `Accept` header.
    pub fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether the client asked for `meta.k8s.io` Table output.
    pub fn wants_table(&self) -> bool {
        crate::table::accepts_table(self.accept())
    }

    /// Whether the client asked for `PartialObjectMetadata` (kube-rs metadata watchers).
    pub fn wants_metadata_only(&self) -> bool {
        let accept = self.accept();
        accept.contains("as=PartialObjectMetadata") && !self.wants_table()
    }

    /// The `includeObject` option of Table output; 400 for unknown values.
    pub fn include_object(&self) -> Result<crate::table::IncludeObject, ApiError> {
        crate::table::IncludeObject::from_query(self.query.get("includeObject"))
            .map_err(ApiError::BadRequest)
    }

    /// The field manager of a write: `fieldManager`, else derived from the User-Agent like
    /// the apiserver's `prefixFromUserAgent` (the part before the first `/`).
    pub fn field_manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager") {
            return m.to_owned();
        }
        let ua = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        ua.split('/')
            .next()
            .unwrap_or(ua)
            .chars()
            .take(128)
            .collect()
    }
}

/// Authenticates and routes one request.
async fn entry(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let admission = match crate::gate::admit(&state, &parts).await {
        Ok(admission) => admission,
        Err(response) => return response,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::BadRequest(format!("reading body: {e}")).into_response(),
    };
    let call = Call {
        method: parts.method,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    let route = parse_path(parts.uri.path(), &state.registry);
    let method = call.method.clone();
    let response = match admission.intercept(&state, &call) {
        Some(response) => response,
        None => match dispatch(&state, route, call).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "request failed");
                error.into_response()
            }
        },
    };
    let response = admission.finish(&state, response);
    tracing::debug!(%method, uri = %parts.uri, status = response.status().as_u16(), "request");
    response
}

async fn dispatch(state: &Arc<AppState>, route: Route, call: Call) -> Result<Response, ApiError> {
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    if !matches!(route, Route::Object(_)) && call.method != Method::GET {
        return Err(ApiError::MethodNotAllowed(
            "the server does not allow this method on the requested resource".into(),
        ));
    }
    match route {
        Route::Version => ok(crate::discovery::version()),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions => Ok(discovery_response(&crate::discovery::core_api_versions(
            &state.addr,
        ))),
        Route::Groups => Ok(discovery_response(&crate::discovery::api_group_list(
            &state.registry.all(),
        ))),
        Route::Group(group) => crate::discovery::api_group(&group, &state.registry.all())
            .map(|v| discovery_response(&v))
            .ok_or(ApiError::NotFoundPage),
        Route::Resources { group, version } => {
            crate::discovery::api_resource_list(&group, &version, &state.registry.all())
                .map(|v| discovery_response(&v))
                .ok_or(ApiError::NotFoundPage)
        }
        Route::OpenApiV2 => Err(ApiError::NoRoute).inspect_err(|_| {
            tracing::debug!(
                served = crate::discovery::OPENAPI_V2_SERVED,
                "openapi v2 asked"
            );
        }),
        Route::OpenApiV3Root => ok(crate::discovery::openapi_v3_root(&state.registry.all())),
        Route::OpenApiV3(path) => {
            crate::discovery::openapi_v3_group_version(&path, &state.registry.all())
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or(ApiError::NoRoute)
        }
        Route::Object(target) => crate::api::handle(state, target, call).await,
        Route::Unknown => Err(ApiError::NotFoundPage),
    }
}

/// Builds a streaming response (watch) from a channel of already-encoded lines.
pub fn stream_response(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Response {
    let stream =
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
