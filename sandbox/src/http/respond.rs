//! Responses at the edge: JSON bodies, discovery documents, `Warning` headers, and the mapping
//! of an [`ApiError`] to its `Status` response (or the plain-text 404 page of paths no API
//! group claims), like `pkg/endpoints/handlers/responsewriters`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::meta::error::ApiError;

/// A JSON response with the given code.
pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A discovery document, with the content type that keeps clients on legacy discovery.
pub(crate) fn discovery_response(body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let content_type = super::discovery::DISCOVERY_CONTENT_TYPE;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

/// Adds one `Warning: 299 - "<text>"` header per warning.
pub(crate) fn add_warnings(response: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::NotFoundPage = self {
            // Clients make up "the server could not find the requested resource" themselves.
            return (
                StatusCode::NOT_FOUND,
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                "404 page not found\n",
            )
                .into_response();
        }
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.to_status())
    }
}
