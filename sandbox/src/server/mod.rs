//! The top of the crate: the [`Sandbox`] and its [`SandboxBuilder`], which put the layers
//! together (the store and registry the verbs act on, the controllers, the HTTP handlers
//! behind the filter chain, the HTTPS listener), and what only the server has: its TLS
//! material ([`tls`]), its kubeconfig ([`kubeconfig`]), the sandbox's own controls
//! ([`admin`]), the Rust API of identities, faults and metrics ([`access`]), and restarts
//! of the API server on demand ([`restart`]).

mod access;
mod admin;
pub(crate) mod kubeconfig;
mod listener;
mod restart;
mod sandbox;
mod seed;
pub(crate) mod tls;

pub use sandbox::{Error, Sandbox, SandboxBuilder};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::Method;

use crate::auth::{UserInfo, reviews, token_request};
use crate::filters::{self, Gate, METRICS_PATH, is_control_path};
use crate::http::call::{Call, read_body};
use crate::http::request_info::RequestInfo;
use crate::http::respond::json_response;
use crate::http::{self as http_layer, HttpState};
use crate::meta::error::ApiError;

/// What the handlers serve from.
#[derive(Debug)]
struct Server {
    http: HttpState,
    gate: Arc<Gate>,
}

/// The handler behind the filter chain: the sandbox's controls, `/metrics`, the APIs that
/// answer for the requesting user (TokenRequest, the reviews), and everything else through
/// the HTTP layer.
async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let info = filters::request_info(&request);
    let user = filters::user(&request);
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let call = Call {
        method: parts.method,
        query: info.query.clone(),
        headers: parts.headers,
        body,
    };
    let method = call.method.clone();
    let response = match for_the_user(&server, &info, &user, &call) {
        Some(response) => response,
        None => http_layer::serve(&server.http, &info, call).await,
    };
    tracing::debug!(%method, uri = %parts.uri, status = response.status().as_u16(), "request");
    response
}

/// The endpoints that depend on who asks, or `None` for the HTTP layer to answer.
fn for_the_user(
    server: &Server,
    info: &RequestInfo,
    user: &UserInfo,
    call: &Call,
) -> Option<Response> {
    let gate = &server.gate;
    if is_control_path(&info.path) {
        return Some(admin::handle(gate, &call.method, &info.path, &call.body));
    }
    if !info.resource_request {
        return (info.path == METRICS_PATH && call.method == Method::GET).then(|| {
            (
                http::StatusCode::OK,
                [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                gate.metrics_text(),
            )
                .into_response()
        });
    }
    if call.method != Method::POST {
        return None;
    }
    let created = |result: Result<serde_json::Value, ApiError>| match result {
        Ok(v) => json_response(http::StatusCode::CREATED, &v),
        Err(e) => e.into_response(),
    };
    match (
        info.api_group.as_str(),
        info.resource.as_str(),
        info.subresource.as_str(),
    ) {
        ("", "serviceaccounts", "token") if !info.name.is_empty() => {
            Some(created(token_request::token_request(
                &gate.tokens,
                gate.store(),
                &info.namespace,
                &info.name,
                &call.content_type(),
                &call.body,
            )))
        }
        (group, resource, "")
            if info.name.is_empty() && crate::registry::is_review(group, resource) =>
        {
            reviews::answer_as(
                user,
                gate.store(),
                group,
                resource,
                &call.content_type(),
                &call.body,
            )
            .map(created)
        }
        _ => None,
    }
}
