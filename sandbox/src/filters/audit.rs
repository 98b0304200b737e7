//! Who wrote what, and when (`WithAudit`): a log of the writes the sandbox answered, like
//! kube-apiserver's audit log at level `Metadata` for the mutating verbs
//! (`k8s.io/apiserver/pkg/endpoints/filters/audit.go`, stage `ResponseComplete`): the user and
//! the `User-Agent` (`user.username`, `userAgent`), the verb and the object (`objectRef`), the
//! answer's code (`responseStatus.code`) and when the request was received and answered
//! (`requestReceivedTimestamp`, `stageTimestamp`).
//!
//! The filter sits where `DefaultBuildHandlerChain` puts `WithAudit`: right after
//! authentication, around impersonation, API Priority and Fairness, authorization and the
//! faults, so the writes those refuse are logged too, with their codes (429, 403, a fault's
//! 5xx). The user is the one the request was answered to, after impersonation (a real entry
//! has both, `user` and `impersonatedUser`).
//!
//! Tests read it through `Sandbox::audit`, to tell which client wrote each object (two
//! replicas of a controller run as one ServiceAccount and differ only in their `User-Agent`).
//!
//! Approximated: requests that fail authentication (401) are not logged (kube-apiserver logs
//! them from `WithFailedAuthenticationAudit`); a `create`'s `name` is empty, as the request's
//! path has none (a real audit log fills it from the object); the log keeps the last [`KEPT`]
//! entries.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header;

use super::Gate;
use crate::auth::UserInfo;
use crate::http::request_info::RequestInfo;

/// Most entries kept; older ones are dropped (a sandbox may run for hours).
const KEPT: usize = 200_000;

/// The verbs that write.
const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// The filter.
pub(crate) async fn layer(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let info = super::request_info(&request);
    let authenticated = super::user(&request);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    // The impersonated user, when impersonation answered for one; else the authenticated one.
    let user = response
        .extensions()
        .get::<UserInfo>()
        .unwrap_or(&authenticated);
    gate.audit.record(
        &user.name,
        &info,
        &user_agent,
        started.elapsed(),
        response.status().as_u16(),
    );
    response
}

/// One write the sandbox answered ([`Sandbox::audit`](crate::Sandbox::audit)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
/// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(sandbox.client()?, "default");
/// let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}}))?;
/// cms.create(&Default::default(), &cm).await?;
/// cms.get("x").await?; // a read: not logged
/// let created = cms.create(&Default::default(), &cm).await; // 409: logged, not succeeded
/// assert!(created.is_err());
/// let log = sandbox.audit();
/// let writes: Vec<_> = log.iter().filter(|e| e.resource == "configmaps").collect();
/// assert_eq!(writes.len(), 2);
/// assert_eq!((writes[0].verb.as_str(), writes[0].user.as_str()), ("create", "admin"));
/// assert!(writes[0].succeeded() && !writes[1].succeeded());
/// assert_eq!(writes[1].code, 409);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its place in the log: entries are numbered in the order they were answered.
    pub seq: u64,
    /// When the request arrived.
    pub received: SystemTime,
    /// When it was answered.
    pub answered: SystemTime,
    /// The user it was authenticated (or impersonated) as.
    pub user: String,
    /// Its `User-Agent` header ("" without one).
    pub user_agent: String,
    /// `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// The API group ("" for core).
    pub api_group: String,
    /// The resource, e.g. `configmaps`.
    pub resource: String,
    /// The subresource, e.g. `status` ("" for none).
    pub subresource: String,
    /// The namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// The object's name ("" for a create).
    pub name: String,
    /// The HTTP status code of the answer.
    pub code: u16,
}

impl AuditEntry {
    /// Whether the API server accepted the write (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// The log; every request appends to it.
#[derive(Debug, Default)]
pub(crate) struct AuditLog {
    entries: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    next: u64,
    kept: VecDeque<AuditEntry>,
}

impl AuditLog {
    /// Records the answer `code` to a request of `user` asking `info`, received `elapsed`
    /// ago, if it was a write.
    pub(crate) fn record(
        &self,
        user: &str,
        info: &RequestInfo,
        user_agent: &str,
        elapsed: Duration,
        code: u16,
    ) {
        if !info.resource_request || !WRITE_VERBS.contains(&info.verb.as_str()) {
            return;
        }
        let answered = SystemTime::now();
        let mut log = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = log.next;
        log.next += 1;
        if log.kept.len() == KEPT {
            log.kept.pop_front();
        }
        log.kept.push_back(AuditEntry {
            seq,
            received: answered.checked_sub(elapsed).unwrap_or(answered),
            answered,
            user: user.to_owned(),
            user_agent: user_agent.to_owned(),
            verb: info.verb.clone(),
            api_group: info.api_group.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            code,
        });
    }

    /// Every entry kept, oldest first.
    pub(crate) fn entries(&self) -> Vec<AuditEntry> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kept
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "system:serviceaccount:ns:doc-controller";

    fn info(verb: &str, resource_request: bool) -> RequestInfo {
        if resource_request {
            RequestInfo::resource(verb, "", "configmaps", "", "ns", "index")
        } else {
            RequestInfo::non_resource(verb, "/metrics")
        }
    }

    #[test]
    fn writes_are_logged_in_order_with_who_and_reads_are_not() {
        let log = AuditLog::default();
        log.record(USER, &info("get", true), "a", Duration::ZERO, 200);
        let (a, b) = ("doc-controller/0.1.0 (a)", "doc-controller/0.1.0 (b)");
        log.record(USER, &info("patch", true), a, Duration::ZERO, 200);
        log.record(USER, &info("post", false), "a", Duration::ZERO, 200);
        log.record(USER, &info("update", true), b, Duration::ZERO, 409);
        let entries = log.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].verb, "patch");
        assert_eq!(entries[0].user_agent, "doc-controller/0.1.0 (a)");
        assert_eq!(entries[0].user, USER);
        assert_eq!(entries[0].name, "index");
        assert!(entries[0].succeeded());
        assert_eq!(entries[1].seq, entries[0].seq + 1);
        assert!(!entries[1].succeeded());
        assert!(entries[1].received <= entries[1].answered);
    }
}
