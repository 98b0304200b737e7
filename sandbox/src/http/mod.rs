//! HTTP: what a request asks for ([`request_info`], parsed once), routing to discovery,
//! OpenAPI and the verbs ([`resources`]), decoding bodies ([`call`], [`protobuf`]), and
//! encoding answers ([`respond`], [`table`], [`watch`], [`discovery`]), where API errors become
//! `Status` responses. The filters (`crate::filters`) run around [`serve`].

pub(crate) mod call;
pub(crate) mod discovery;
pub(crate) mod protobuf;
pub(crate) mod request_info;
mod resources;
pub(crate) mod respond;
pub(crate) mod table;
mod watch;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use prometheus::IntCounterVec;

use crate::meta::error::ApiError;
use crate::verbs::ApiState;
use call::Call;
use request_info::{RequestInfo, Route};
use respond::{discovery_response, json_response};

/// What the HTTP layer serves from.
#[derive(Debug)]
pub(crate) struct HttpState {
    /// What the verbs act on.
    pub(crate) api: Arc<ApiState>,
    /// `host:port` the server listens on, reported by `/api`.
    pub(crate) addr: String,
    /// The BOOKMARK counter by resource (`sandbox_apiserver_watch_bookmarks_total`).
    pub(crate) bookmarks: IntCounterVec,
}

/// Answers one request (already through the filters), errors included.
pub(crate) async fn serve(state: &HttpState, info: &RequestInfo, call: Call) -> Response {
    match dispatch(state, info, call).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%error, "request failed");
            error.into_response()
        }
    }
}

async fn dispatch(state: &HttpState, info: &RequestInfo, call: Call) -> Result<Response, ApiError> {
    let ok = |v: serde_json::Value| Ok(json_response(StatusCode::OK, &v));
    let route = info.route();
    if !matches!(route, Route::Object(_)) && call.method != Method::GET {
        return Err(ApiError::MethodNotAllowed(
            "the server does not allow this method on the requested resource".into(),
        ));
    }
    let registry = &state.api.registry;
    match route {
        Route::Version => ok(discovery::version()),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions => Ok(discovery_response(&discovery::core_api_versions(
            &state.addr,
        ))),
        Route::Groups => Ok(discovery_response(&discovery::api_group_list(
            &registry.all(),
        ))),
        Route::Group(group) => discovery::api_group(&group, &registry.all())
            .map(|v| discovery_response(&v))
            .ok_or(ApiError::NotFoundPage),
        Route::Resources { group, version } => {
            discovery::api_resource_list(&group, &version, &registry.all())
                .map(|v| discovery_response(&v))
                .ok_or(ApiError::NotFoundPage)
        }
        Route::OpenApiV2 => Err(ApiError::NoRoute).inspect_err(|_| {
            tracing::debug!(served = discovery::OPENAPI_V2_SERVED, "openapi v2 asked");
        }),
        Route::OpenApiV3Root => ok(discovery::openapi_v3_root(&registry.all())),
        Route::OpenApiV3(path) => discovery::openapi_v3_group_version(&path, &registry.all())
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or(ApiError::NoRoute),
        Route::Object(target) => resources::handle(state, target, call).await,
        Route::Unknown => Err(ApiError::NotFoundPage),
    }
}
