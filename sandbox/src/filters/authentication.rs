//! Authentication (`WithAuthentication`): the bearer token names the user, the static admin
//! token `admin` in `system:masters`, a ServiceAccount token its ServiceAccount
//! (`crate::auth::tokens`); anything else is `401 Unauthorized`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;

use super::{Gate, answered_to};
use crate::auth::UserInfo;
use crate::meta::error::ApiError;

/// The filter.
pub(crate) async fn layer(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(user) = authenticate(&gate, request.headers()) else {
        return ApiError::Unauthorized.into_response();
    };
    request.extensions_mut().insert(user.clone());
    let mut response = next.run(request).await;
    answered_to(&mut response, &user);
    response
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The user of the request's bearer token.
fn authenticate(gate: &Gate, headers: &http::HeaderMap) -> Option<UserInfo> {
    let token = bearer(headers)?;
    if token == gate.admin_token {
        return Some(UserInfo::admin());
    }
    gate.tokens.authenticate(gate.store(), token)
}
