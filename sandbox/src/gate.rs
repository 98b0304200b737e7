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
use crate::faults::{Fault, FaultAction, FaultId, Faults, respond, throttle::InFlight};
use crate::flowcontrol::{Apf, Ticket};
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
    /// API Priority and Fairness, configured by the stored flowcontrol objects.
    pub apf: Apf,
    /// The writes answered, with who sent them (see [`crate::audit`]).
    pub audit: crate::audit::AuditLog,
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

    /// The same gate sharing `seats` among the APF priority levels.
    pub fn with_server_concurrency_limit(mut self, seats: u32) -> Self {
        self.apf = Apf::new(seats);
        self
    }

    /// The sandbox's metrics followed by the APF ones.
    pub fn metrics_text(&self, store: &crate::store::Store) -> String {
        let mut text = self.metrics.text();
        text.push_str(&self.apf.metrics_text(store));
        text
    }
}

/// A request let through, carrying what the rest of the pipeline needs.
#[derive(Debug)]
pub struct Admission {
    attrs: Attributes,
    /// The `User-Agent` header, for the audit log.
    user_agent: String,
    started: Instant,
    _in_flight: Vec<InFlight>,
    /// The APF classification and seat, released when the answer is ready.
    apf: Ticket,
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

/// Whether a path is one of the sandbox's fault controls (`/sandbox/...`).
fn is_control_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/sandbox/")
}

/// Authenticates, impersonates, throttles, authorizes and applies faults, in the order of
/// the apiserver's filters; an `Err` is the answer (already counted in the metrics).
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
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let reject = |attrs: &Attributes, response: Response| -> Response {
        record(gate, attrs, response.status().as_u16(), started);
        response
    };
    let Some(requester) = authenticate(state, &parts.headers) else {
        return Err(reject(&attrs, ApiError::Unauthorized.into_response()));
    };
    attrs.user = requester.clone();
    let authorize = |a: &Attributes| rbac::authorize(&state.store, a);
    match impersonation::impersonate(&parts.headers, &requester, authorize) {
        Ok(Some(user)) => attrs.user = user,
        Ok(None) => {}
        Err(response) => return Err(reject(&attrs, *response)),
    }
    if is_control_path(path) {
        // The fault controls are the sandbox operator's: `system:masters` only, and never
        // subject to faults, so a hang can always be cleared.
        if !attrs.user.is_superuser() {
            return Err(reject(&attrs, forbidden::response(&attrs, "")));
        }
        return Ok(Admission {
            attrs,
            user_agent,
            started,
            _in_flight: Vec::new(),
            apf: Ticket::default(),
        });
    }
    // API Priority and Fairness, as its filter sits between impersonation and authorization;
    // from here on every answer carries the classification headers.
    let ticket = match gate
        .apf
        .admit(&state.store, &attrs, query.get("timeout"))
        .await
    {
        Ok(ticket) => ticket,
        Err(rejection) => {
            gate.metrics.throttled(&attrs.user.name);
            return Err(reject(&attrs, rejection.into_response()));
        }
    };
    let reject = |attrs: &Attributes, mut response: Response| -> Response {
        ticket.set_headers(&mut response);
        reject(attrs, response)
    };
    // Scraping metrics is not subject to faults either (it still needs RBAC).
    let faults = if path == METRICS_PATH {
        Vec::new()
    } else {
        gate.faults.matching(&attrs)
    };
    let in_flight = throttle(gate, &faults, &attrs.user).map_err(|r| reject(&attrs, *r))?;
    if let Decision::Deny(reason) = authorize(&attrs) {
        return Err(reject(&attrs, forbidden::response(&attrs, &reason)));
    }
    apply_faults(gate, &faults)
        .await
        .map_err(|r| reject(&attrs, r))?;
    Ok(Admission {
        attrs,
        user_agent,
        started,
        _in_flight: in_flight,
        apf: ticket,
    })
}

/// The throttle faults: a 429 when the user's bucket is empty or their concurrency share is
/// used up, else the in-flight slots to hold until the answer. `system:masters` is exempt,
/// as APF's `exempt` priority level and max-in-flight filter exempt it. (Boxed: responses
/// are large.)
fn throttle(
    gate: &Gate,
    faults: &[(FaultId, Fault)],
    user: &UserInfo,
) -> Result<Vec<InFlight>, Box<Response>> {
    let mut in_flight = Vec::new();
    if user.is_superuser() {
        return Ok(in_flight);
    }
    let limiter = gate.faults.limiter();
    for (id, fault) in faults {
        let wait = match fault.action {
            FaultAction::Throttle { qps, burst } => limiter.take(*id, &user.name, qps, burst).err(),
            FaultAction::MaxInFlight { limit } => match limiter.enter(*id, &user.name, limit) {
                Some(slot) => {
                    in_flight.push(slot);
                    None
                }
                None => Some(Duration::from_secs(1)),
            },
            _ => None,
        };
        if let Some(wait) = wait {
            gate.metrics.throttled(&user.name);
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(Box::new(respond::too_many_requests(seconds)));
        }
    }
    Ok(in_flight)
}

/// The request faults, after authorization like a slow or failing storage layer: latency,
/// hang until removed, drop, or a 5xx answer.
async fn apply_faults(gate: &Gate, faults: &[(FaultId, Fault)]) -> Result<(), Response> {
    for (id, fault) in faults {
        let count = |name: &str| gate.metrics.injected(name);
        match &fault.action {
            FaultAction::Latency { millis } => {
                count("latency");
                tokio::time::sleep(Duration::from_millis(*millis)).await;
            }
            FaultAction::Hang => {
                count("hang");
                gate.faults.until_removed(*id).await;
            }
            FaultAction::Drop => {
                count("drop");
                return Err(respond::dropped());
            }
            FaultAction::Error { code, message } => {
                count("error");
                return Err(respond::server_error(*code, message.as_deref()));
            }
            FaultAction::Throttle { .. }
            | FaultAction::MaxInFlight { .. }
            | FaultAction::CompactEvery { .. } => {}
        }
    }
    Ok(())
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
        if is_control_path(&attrs.path) {
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
                    state.gate.metrics_text(&state.store),
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
                    &call.content_type(),
                    &call.body,
                )))
            }
            (
                "authorization.k8s.io",
                "selfsubjectaccessreviews" | "selfsubjectrulesreviews",
                "",
            )
            | ("authentication.k8s.io", "selfsubjectreviews", "")
                if attrs.name.is_empty() =>
            {
                crate::reviews::answer_as(
                    &attrs.user,
                    &state.store,
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
    pub fn finish(self, state: &AppState, mut response: Response) -> Response {
        self.apf.set_headers(&mut response);
        let code = response.status().as_u16();
        record(&state.gate, &self.attrs, code, self.started);
        state
            .gate
            .audit
            .record(&self.attrs, &self.user_agent, self.started.elapsed(), code);
        if self.attrs.verb == "watch" && response.status().is_success() {
            return count_watch(&state.gate, &metric_resource(&self.attrs), response);
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

/// Wraps a watch response body so the open-watch gauge drops when the stream ends, and so
/// [`Faults::close_watches`] can end it.
fn count_watch(gate: &Gate, resource: &str, response: Response) -> Response {
    let guard = gate.metrics.watch_opened(resource);
    let (parts, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .take_until(gate.faults.watches_closed())
        .map(move |chunk| {
            let _ = &guard;
            chunk
        });
    Response::from_parts(parts, Body::from_stream(stream))
}
