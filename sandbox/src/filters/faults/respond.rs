//! The answers of faults, worded like the real server's.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// Marks a response whose connection must be closed without sending it (the `drop` fault);
/// the listener turns it into a connection error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// The 429 of API Priority and Fairness / max-in-flight: `Retry-After` and the plain-text
/// body of `tooManyRequests` in `k8s.io/apiserver/pkg/server/filters` (the real server
/// answers throttling with `http.Error`, not with a `Status`).
pub(crate) fn too_many_requests(retry_after_seconds: u64) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "Too many requests, please try again later.\n",
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The `Status` of a forced 5xx, as `errors.NewInternalError`, `NewServiceUnavailable` and
/// `NewTimeoutError` build them.
pub(crate) fn server_error_status(code: u16, message: Option<&str>) -> (StatusCode, Value) {
    let base = |code: u16, reason: &str, message: String| {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        })
    };
    match code {
        503 => {
            let msg = message.unwrap_or("the server is currently unable to handle the request");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                base(503, "ServiceUnavailable", msg.to_owned()),
            )
        }
        504 => {
            let msg = message.unwrap_or("request did not complete within the allotted timeout");
            let mut status = base(504, "Timeout", format!("Timeout: {msg}"));
            status["details"] = json!({"retryAfterSeconds": 1});
            (StatusCode::GATEWAY_TIMEOUT, status)
        }
        _ => {
            let msg = message.unwrap_or("injected fault: etcdserver: request timed out");
            let mut status = base(
                500,
                "InternalError",
                format!("Internal error occurred: {msg}"),
            );
            status["details"] = json!({"causes": [{"message": msg}]});
            (StatusCode::INTERNAL_SERVER_ERROR, status)
        }
    }
}

/// The response of a forced 5xx.
pub(crate) fn server_error(code: u16, message: Option<&str>) -> Response {
    let (code, status) = server_error_status(code, message);
    let mut response = crate::http::respond::json_response(code, &status);
    if code != StatusCode::INTERNAL_SERVER_ERROR {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A response that closes the connection without answering.
pub(crate) fn dropped() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

/// The service error that makes hyper close a connection without answering (HTTP/1.1) or
/// reset the stream (HTTP/2).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub(crate) struct Dropped;

/// Turns responses marked [`DropConnection`] into [`Dropped`] errors.
fn drop_marked(result: Result<Response, std::convert::Infallible>) -> Result<Response, Dropped> {
    match result {
        Ok(response) if response.extensions().get::<DropConnection>().is_some() => Err(Dropped),
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// The router as the listener serves it: marked responses drop their connection.
pub(crate) type Droppable = tower::util::MapResult<
    axum::Router,
    fn(Result<Response, std::convert::Infallible>) -> Result<Response, Dropped>,
>;

/// Wraps the router so the `drop` fault can close connections.
pub(crate) fn droppable(router: axum::Router) -> Droppable {
    tower::util::MapResult::new(router, drop_marked as fn(_) -> _)
}

impl From<std::convert::Infallible> for Dropped {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
