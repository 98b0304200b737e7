//! The outermost filter (`WithRequestInfo`): parses what the request asks for, once, and puts
//! the [`RequestInfo`] into its extensions for every filter and handler after it.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::http::request_info::RequestInfo;

/// The filter.
pub(crate) async fn layer(mut request: Request, next: Next) -> Response {
    let info = RequestInfo::parse(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    request.extensions_mut().insert(info);
    next.run(request).await
}
