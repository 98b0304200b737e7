//! API Priority and Fairness (APF), configured like a real kube-apiserver by the
//! `flowcontrol.apiserver.k8s.io/v1` objects FlowSchema and PriorityLevelConfiguration
//! (<https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>).
//!
//! Every authenticated request (after impersonation, before authorization) is classified like
//! the `WithPriorityAndFairness` filter
//! (`k8s.io/apiserver/pkg/server/filters/priority-and-fairness.go`) classifies it: the first
//! matching FlowSchema by `matchingPrecedence` and name ([`rules`] matches, [`config`] orders)
//! picks a priority level; an `Exempt` level lets it through, a `Limited` one makes it take a
//! seat of the level's concurrency limit ([`dispatch`]) for as long as it executes, and
//! answers 429 when none is free (at once for `Reject`, after queueing for `Queue`).
//!
//! Mirrored from the real filter:
//! - the response headers `X-Kubernetes-PF-FlowSchema-UID` and
//!   `X-Kubernetes-PF-PriorityLevel-UID` on every classified response, 429 or not;
//! - the 429 itself: `http.Error`'s plain-text body "Too many requests, please try again
//!   later." with `Retry-After` from the per-level dropped-requests tracker ([`retry_after`]);
//! - watches hold their seat only while they initialize (here: until the handler has
//!   answered with the stream, i.e. after the initial events are queued), and other
//!   long-running requests (`proxy`, `exec`, `attach`, `log`, `portforward`) bypass APF, with
//!   no headers;
//! - the wait limit of a queued request: a quarter of its deadline (the `timeout` parameter,
//!   else the 60 s request timeout), at most one minute;
//! - the metrics `apiserver_flowcontrol_rejected_requests_total{flow_schema, priority_level,
//!   reason}`, `..._dispatched_requests_total`, `..._nominal_limit_seats` and
//!   `..._current_limit_seats` ([`metrics`]).
//!
//! The approximations are described in [`config`] (borrowing of idle levels only) and
//! [`dispatch`] (one seat per request, one queue per level). The objects a fresh server
//! creates, their defaults and validation are the registry's
//! (`crate::registry::flowcontrol`); the FlowSchemas' `Dangling` condition is kept by
//! `crate::controllers::flowcontrol`, as the config controller does.
//!
//! The filter also applies the sandbox's `throttle` and `maxInFlight` faults, which stand for
//! the same mechanism ([`layer`]).

mod config;
mod dispatch;
mod metrics;
mod retry_after;
mod rules;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use serde_json::Value;

use super::faults::throttle::InFlight;
use super::faults::{FaultAction, respond};
use super::{Gate, METRICS_PATH, attributes, is_control_path};

use crate::auth::attributes::Attributes;
use crate::meta::object::meta_str;
use crate::registry::flowcontrol::GROUP;
use crate::storage::{ResKey, Store};
use config::{Config, Limit};
use dispatch::{Dispatcher, Seat};

/// Header naming the uid of the FlowSchema that classified the request.
pub(crate) const FLOW_SCHEMA_UID_HEADER: &str = "X-Kubernetes-PF-FlowSchema-UID";
/// Header naming the uid of the priority level the request was assigned.
pub(crate) const PRIORITY_LEVEL_UID_HEADER: &str = "X-Kubernetes-PF-PriorityLevel-UID";
/// The server's total concurrency limit by default: kube-apiserver's
/// `--max-requests-inflight` (400) plus `--max-mutating-requests-inflight` (200).
pub(crate) const DEFAULT_SERVER_CONCURRENCY_LIMIT: u32 = 600;

/// The apiserver's default request timeout (`--request-timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest time a request may wait in a queue.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Subresources of long-running requests (kube-apiserver's `LongRunningFunc`).
const LONG_RUNNING_SUBRESOURCES: &[&str] = &["attach", "exec", "proxy", "log", "portforward"];

fn flow_schemas_res() -> ResKey {
    (GROUP.to_owned(), "flowschemas".to_owned())
}

fn priority_levels_res() -> ResKey {
    (GROUP.to_owned(), "prioritylevelconfigurations".to_owned())
}

/// The configuration computed for one state of the stored objects.
#[derive(Debug)]
struct Cached {
    /// The resourceVersions of the FlowSchemas, a 0, then those of the levels: every write
    /// of one of them changes this.
    fingerprint: Vec<u64>,
    config: Arc<Config>,
}

/// The APF state of a sandbox.
#[derive(Debug)]
pub(crate) struct Apf {
    server_cl: u32,
    cached: Mutex<Option<Cached>>,
    dispatcher: Dispatcher,
    dropped: retry_after::DroppedRequests,
    metrics: metrics::ApfMetrics,
}

impl Default for Apf {
    fn default() -> Self {
        Self::new(DEFAULT_SERVER_CONCURRENCY_LIMIT)
    }
}

/// The filter: classifies the request and holds its seat until the answer is ready (for a
/// watch, until its stream has started), then the `throttle` and `maxInFlight` faults; every
/// answer of a classified request carries the classification headers, 429s included. The
/// sandbox's controls are not classified; `/metrics` is not subject to faults.
pub(crate) async fn layer(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let attrs = attributes(&request);
    if is_control_path(&attrs.path) {
        return next.run(request).await;
    }
    let ticket = match gate
        .apf
        .admit(gate.store(), &attrs, attrs.query.get("timeout"))
        .await
    {
        Ok(ticket) => ticket,
        Err(rejection) => {
            gate.metrics.throttled(&attrs.user.name);
            return rejection.into_response();
        }
    };
    let in_flight = if attrs.path == METRICS_PATH {
        Vec::new()
    } else {
        match throttle(&gate, &attrs) {
            Ok(slots) => slots,
            Err(mut response) => {
                ticket.set_headers(&mut response);
                return *response;
            }
        }
    };
    let mut response = next.run(request).await;
    ticket.set_headers(&mut response);
    drop(in_flight);
    response
}

/// The throttle faults: a 429 when the user's bucket is empty or their concurrency share is
/// used up, else the in-flight slots to hold until the answer. `system:masters` is exempt,
/// as APF's `exempt` priority level and max-in-flight filter exempt it. (Boxed: responses
/// are large.)
fn throttle(gate: &Gate, attrs: &Attributes) -> Result<Vec<InFlight>, Box<Response>> {
    let mut in_flight = Vec::new();
    let user = &attrs.user;
    if user.is_superuser() {
        return Ok(in_flight);
    }
    let limiter = gate.faults.limiter();
    for (id, fault) in gate.faults.matching(attrs, FaultAction::is_throttle) {
        let wait = match fault.action {
            FaultAction::Throttle { qps, burst } => limiter.take(id, &user.name, qps, burst).err(),
            FaultAction::MaxInFlight { limit } => match limiter.enter(id, &user.name, limit) {
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

/// The FlowSchema and priority level a request was classified into.
#[derive(Debug, Clone, Default)]
struct Classification {
    flow_schema_uid: String,
    priority_level_uid: String,
}

impl Classification {
    fn set_headers(&self, response: &mut Response) {
        for (name, value) in [
            (PRIORITY_LEVEL_UID_HEADER, &self.priority_level_uid),
            (FLOW_SCHEMA_UID_HEADER, &self.flow_schema_uid),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
}

/// A request APF let through: its classification and, for a `Limited` level, its seat,
/// held until the ticket drops.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    classification: Option<Classification>,
    _seat: Option<Seat>,
}

impl Ticket {
    /// Adds the `X-Kubernetes-PF-*` headers, as the real filter does on every response of a
    /// classified request.
    pub(crate) fn set_headers(&self, response: &mut Response) {
        if let Some(c) = &self.classification {
            c.set_headers(response);
        }
    }
}

/// A request APF rejected.
#[derive(Debug)]
pub(crate) struct Rejection {
    classification: Classification,
    retry_after: u64,
}

impl Rejection {
    /// The real filter's 429.
    pub(crate) fn into_response(self) -> Response {
        let mut response = respond::too_many_requests(self.retry_after);
        self.classification.set_headers(&mut response);
        response
    }
}

/// A Go duration such as `30s`, `1m30s`, `500ms` (the `timeout` query parameter).
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match rest.get(..unit_len)? {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total += Duration::try_from_secs_f64(value * seconds).ok()?;
    }
    Some(total)
}

/// How long a request may wait in a queue (`getRequestWaitContext`).
fn wait_limit(attrs: &Attributes, timeout: Option<&str>) -> Duration {
    let deadline = if attrs.verb == "watch" {
        REQUEST_TIMEOUT
    } else {
        timeout
            .and_then(parse_go_duration)
            .filter(|t| !t.is_zero())
            .map_or(REQUEST_TIMEOUT, |t| t.min(REQUEST_TIMEOUT))
    };
    (deadline / 4).min(MAX_WAIT)
}

/// Whether the request is long-running but not a watch, which APF does not track.
fn long_running(attrs: &Attributes) -> bool {
    attrs.verb == "proxy"
        || (attrs.resource_request
            && LONG_RUNNING_SUBRESOURCES.contains(&attrs.subresource.as_str()))
        || (!attrs.resource_request && attrs.path.starts_with("/debug/pprof/"))
}

impl Apf {
    /// APF sharing `server_cl` seats among the priority levels.
    pub(crate) fn new(server_cl: u32) -> Self {
        Self {
            server_cl,
            cached: Mutex::new(None),
            dispatcher: Dispatcher::default(),
            dropped: retry_after::DroppedRequests::default(),
            metrics: metrics::ApfMetrics::default(),
        }
    }

    /// The configuration of the objects now stored, rebuilt when one of them changed (the
    /// real config controller follows them with informers; here a change applies to the
    /// next request; their `Dangling` condition is `crate::controllers::flowcontrol`'s).
    fn config(&self, store: &Store) -> Arc<Config> {
        let (schemas, _) = store.list(&flow_schemas_res(), None, None);
        let (levels, _) = store.list(&priority_levels_res(), None, None);
        let rv = |o: &Value| meta_str(o, "resourceVersion").parse::<u64>().unwrap_or(0);
        let fingerprint: Vec<u64> = schemas
            .iter()
            .map(|(_, o)| rv(o))
            .chain(std::iter::once(0))
            .chain(levels.iter().map(|(_, o)| rv(o)))
            .collect();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref()
            && c.fingerprint == fingerprint
        {
            return c.config.clone();
        }
        let schemas: Vec<Arc<Value>> = schemas.into_iter().map(|(_, o)| o).collect();
        let levels: Vec<Arc<Value>> = levels.into_iter().map(|(_, o)| o).collect();
        let config = Arc::new(Config::build(&schemas, &levels, self.server_cl));
        self.metrics.set_levels(config.levels());
        *cached = Some(Cached {
            fingerprint,
            config: config.clone(),
        });
        config
    }

    /// Classifies a request and takes a seat for it (waiting in a `Queue` level), or rejects
    /// it. `timeout` is the request's `timeout` query parameter.
    pub(crate) async fn admit(
        &self,
        store: &Store,
        attrs: &Attributes,
        timeout: Option<&str>,
    ) -> Result<Ticket, Rejection> {
        if long_running(attrs) && attrs.verb != "watch" {
            return Ok(Ticket::default());
        }
        let config = self.config(store);
        let Some((schema, level)) = config.classify(attrs) else {
            return Ok(Ticket::default());
        };
        let classification = Classification {
            flow_schema_uid: schema.uid.clone(),
            priority_level_uid: level.uid.clone(),
        };
        let seat = match level.limit {
            Limit::Exempt => None,
            Limit::Limited {
                current, response, ..
            } => {
                let flow = schema.flow(attrs);
                let waited = self
                    .dispatcher
                    .acquire(
                        &level.name,
                        current,
                        response,
                        &flow,
                        wait_limit(attrs, timeout),
                    )
                    .await;
                match waited {
                    Ok(seat) => Some(seat),
                    Err(reason) => {
                        self.metrics
                            .rejected(&schema.name, &level.name, reason.as_str());
                        self.dropped.record(&level.name);
                        return Err(Rejection {
                            classification,
                            retry_after: self.dropped.retry_after(&level.name),
                        });
                    }
                }
            }
        };
        self.metrics.dispatched(&schema.name, &level.name);
        Ok(Ticket {
            classification: Some(classification),
            _seat: seat,
        })
    }

    /// The APF metrics in Prometheus text format (the limit gauges as of the last request).
    pub(crate) fn metrics_text(&self, store: &Store) -> String {
        let _ = self.config(store);
        self.metrics.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn the_wait_limit_is_a_quarter_of_the_deadline() {
        let attrs = |verb: &str| {
            let mut a = Attributes::non_resource(crate::auth::UserInfo::admin(), verb, "/x");
            a.resource_request = true;
            a
        };
        assert_eq!(wait_limit(&attrs("get"), None), Duration::from_secs(15));
        assert_eq!(
            wait_limit(&attrs("get"), Some("8s")),
            Duration::from_secs(2)
        );
        assert_eq!(
            wait_limit(&attrs("get"), Some("10m")),
            Duration::from_secs(15)
        );
        assert_eq!(
            wait_limit(&attrs("watch"), Some("8s")),
            Duration::from_secs(15)
        );
    }
}
