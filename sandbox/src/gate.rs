//! The request pipeline around the API handlers, in the order of kube-apiserver's filter
//! chain (`DefaultBuildHandlerChain`): authentication, impersonation, throttling (APF),
//! authorization; then the injected faults, and metrics when the answer leaves.
//!
//! [`admit`] runs before the handlers and either lets the request through as an
//! [`Admission`] or answers it (401, 403, 429, a fault); [`Admission::intercept`] serves the
//! endpoints that need the caller's identity (TokenRequest, access reviews, `/metrics`,
//! `/sandbox/*`); [`Admission::finish`] records metrics and keeps open watches counted.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::request::Parts;
use http::{Method, StatusCode, header};

use crate::auth::attributes::Attributes;
use crate::auth::rbac::{self, Decision};
use crate::auth::tokens::TokenStore;
use crate::auth::{UserInfo, forbidden, impersonation};
use crate::faults::{FaultAction, Faults, respond, throttle::InFlight};
use crate::http::{AppState, Call, json_response};
use crate::server_metrics::ServerMetrics;
use crate::status::ApiError;

/// Prefix of the sandbox's own admin endpoints.
pub const ADMIN_PREFIX: &str = "/sandbox";
/// Path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// Identity, fault and metrics state shared by all requests.
#[derive(Debug, Default)]
pub struct Gate {
    /// Issued ServiceAccount tokens.
    pub tokens: TokenStore,
    /// Injected faults.
    pub faults: Faults,
    /// The sandbox's own metrics.
    pub metrics: ServerMetrics,
}

impl Gate {
    /// A gate with these faults set.
    pub fn with_faults(faults: Vec<crate::faults::Fault>) -> Self {
        let gate = Self::default();
        for fault in faults {
            gate.faults.set(fault);
        }
        gate
    }
}

/// A request let through, carrying what the rest of the pipeline needs.
#[derive(Debug)]
pub struct Admission {
    attrs: Attributes,
    started: Instant,
    _in_flight: Vec<InFlight>,
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The user of the request's bearer token.
fn authenticate(state: &AppState, headers: &http::HeaderMap) -> Option<UserInfo> {
    let token = bearer(headers)?;
    if token == state.token {
        return Some(UserInfo::admin());
    }
    state.gate.tokens.authenticate(&state.store, token)
}

/// Whether a path is one of the sandbox's own endpoints, which faults never touch (so a
/// hang can always be cleared).
fn is_admin_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/sandbox/") || path == METRICS_PATH
}

/// Authenticates, impersonates, throttles, authorizes and applies faults.
pub async fn admit(state: &Arc<AppState>, parts: &Parts) -> Result<Admission, Response> {
    let started = Instant::now();
    let gate = &state.gate;
    let query = crate::request::Query::parse(parts.uri.query());
    let path = parts.uri.path();
    let anonymous = UserInfo {
        name: String::new(),
        groups: Vec::new(),
    };
    let mut attrs = Attributes::of_request(anonymous, &parts.method, path, &query);
    let reject = |attrs: &Attributes, response: Response| -> Result<Admission, Response> {
        record(gate, attrs, response.status().as_u16(), started);
        Err(response)
    };
    let Some(requester) = authenticate(state, &parts.headers) else {
        return reject(&attrs, ApiError::Unauthorized.into_response());
    };
    attrs.user = requester.clone();
    let authorize = |a: &Attributes| rbac::authorize(&state.store, a);
    match impersonation::impersonate(&parts.headers, &requester, authorize) {
        Ok(Some(user)) => attrs.user = user,
        Ok(None) => {}
        Err(response) => return reject(&attrs, response),
    }
    if path == ADMIN_PREFIX || path.starts_with("/sandbox/") {
        // The fault controls are the sandbox operator's: `system:masters` only.
        if !attrs.user.is_superuser() {
            return reject(&attrs, forbidden::response(&attrs, ""));
        }
        return Ok(Admission {
            attrs,
            started,
            _in_flight: Vec::new(),
        });
    }
    let faults = if is_admin_path(path) {
        Vec::new()
    } else {
        gate.faults.matching(&attrs)
    };
    let mut in_flight = Vec::new();
    if !attrs.user.is_superuser() {
        for (id, fault) in &faults {
            let verdict = match fault.action {
                FaultAction::Throttle { qps, burst } => gate
                    .faults
                    .limiter()
                    .take(*id, &attrs.user.name, qps, burst)
                    .err(),
                FaultAction::MaxInFlight { limit } => {
                    match gate.faults.limiter().enter(*id, &attrs.user.name, limit) {
                        Some(slot) => {
                            in_flight.push(slot);
                            None
                        }
                        None => Some(Duration::from_secs(1)),
                    }
                }
                _ => None,
            };
            if let Some(wait) = verdict {
                gate.metrics.throttled(&attrs.user.name);
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return reject(&attrs, respond::too_many_requests(seconds));
            }
        }
    }
    if let Decision::Deny(reason) = authorize(&attrs) {
        return reject(&attrs, forbidden::response(&attrs, &reason));
    }
    for (id, fault) in &faults {
        match &fault.action {
            FaultAction::Latency { millis } => {
                tokio::time::sleep(Duration::from_millis(*millis)).await;
            }
            FaultAction::Hang => gate.faults.until_removed(*id).await,
            FaultAction::Drop => return reject(&attrs, respond::dropped()),
            FaultAction::Error { code, message } => {
                return reject(&attrs, respond::server_error(*code, message.as_deref()));
            }
            _ => {}
        }
    }
    Ok(Admission {
        attrs,
        started,
        _in_flight: in_flight,
    })
}

fn metric_resource(attrs: &Attributes) -> String {
    if attrs.resource_request {
        attrs.combined_resource()
    } else {
        String::new()
    }
}

fn record(gate: &Gate, attrs: &Attributes, code: u16, started: Instant) {
    gate.metrics.observe(
        &attrs.verb,
        &metric_resource(attrs),
        &attrs.user.name,
        code,
        started.elapsed(),
    );
}

impl Admission {
    /// Serves the endpoints that depend on the caller's identity, or `None` to let the
    /// normal handlers answer.
    pub fn intercept(&self, state: &Arc<AppState>, call: &Call) -> Option<Response> {
        let attrs = &self.attrs;
        if attrs.path == ADMIN_PREFIX || attrs.path.starts_with("/sandbox/") {
            return Some(crate::admin::handle(
                state,
                &call.method,
                &attrs.path,
                &call.body,
            ));
        }
        if !attrs.resource_request {
            return (attrs.path == METRICS_PATH && call.method == Method::GET).then(|| {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    state.gate.metrics.text(),
                )
                    .into_response()
            });
        }
        if call.method != Method::POST {
            return None;
        }
        let created = |result: Result<serde_json::Value, ApiError>| match result {
            Ok(v) => json_response(StatusCode::CREATED, &v),
            Err(e) => e.into_response(),
        };
        match (
            attrs.api_group.as_str(),
            attrs.resource.as_str(),
            attrs.subresource.as_str(),
        ) {
            ("", "serviceaccounts", "token") if !attrs.name.is_empty() => {
                Some(created(crate::auth::tokens::token_request(
                    &state.gate.tokens,
                    &state.store,
                    &attrs.namespace,
                    &attrs.name,
                    &call.body,
                )))
            }
            ("authorization.k8s.io", "selfsubjectaccessreviews", "")
            | ("authentication.k8s.io", "selfsubjectreviews", "")
                if attrs.name.is_empty() =>
            {
                let authorize = |a: &Attributes| rbac::authorize(&state.store, a);
                crate::reviews::answer_as(
                    &attrs.user,
                    authorize,
                    &attrs.api_group,
                    &attrs.resource,
                    &call.content_type(),
                    &call.body,
                )
                .map(created)
            }
            _ => None,
        }
    }

    /// Records the answer in the metrics; a successful watch stays counted as open until
    /// its stream ends.
    pub fn finish(self, state: &AppState, response: Response) -> Response {
        let code = response.status().as_u16();
        record(&state.gate, &self.attrs, code, self.started);
        if self.attrs.verb == "watch" && response.status().is_success() {
            return count_watch(&state.gate.metrics, &metric_resource(&self.attrs), response);
        }
        response
    }
}

/// Keeps compacting the watch history for `compactEvery` faults while the sandbox lives.
pub fn spawn_compactor(state: Weak<AppState>) {
    tokio::spawn(async move {
        let mut last: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let Some(state) = state.upgrade() else { return };
            let now = Instant::now();
            let mut due = false;
            let faults = state.gate.faults.list();
            last.retain(|id, _| faults.iter().any(|(i, _)| i == id));
            for (id, fault) in faults {
                if let FaultAction::CompactEvery { seconds } = fault.action {
                    let period = Duration::from_secs_f64(seconds.max(0.05));
                    let since = *last.entry(id).or_insert(now);
                    if now.duration_since(since) >= period {
                        last.insert(id, now);
                        due = true;
                    }
                }
            }
            if due {
                state.store.compact();
            }
        }
    });
}

/// Wraps a watch response body so the open-watch gauge drops when the stream ends.
fn count_watch(metrics: &ServerMetrics, resource: &str, response: Response) -> Response {
    let guard = metrics.watch_opened(resource);
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
