//! Who wrote what, and when: a log of the writes the sandbox answered, like kube-apiserver's
//! audit log at level `Metadata` for the mutating verbs (`k8s.io/apiserver/pkg/audit`, stage
//! `ResponseComplete`): the user and the `User-Agent` (`user.username`, `userAgent`), the verb
//! and the object (`objectRef`), the answer's code (`responseStatus.code`) and when the request
//! was received and answered (`requestReceivedTimestamp`, `stageTimestamp`).
//!
//! Tests read it through [`crate::Sandbox::audit`], to tell which client wrote each object (two
//! replicas of a controller run as one ServiceAccount and differ only in their `User-Agent`).
//!
//! Approximated: only requests that passed authentication, authorization and the faults are
//! logged (a real audit log has the rejected ones too); a `create`'s `name` is empty, as the
//! request's path has none (a real audit log fills it from the object); the log keeps the last
//! [`KEPT`] entries.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::auth::attributes::Attributes;

/// Most entries kept; older ones are dropped (a sandbox may run for hours).
pub const KEPT: usize = 200_000;

/// The verbs that write.
const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// One write the sandbox answered.
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

/// The log; cheap to share, every request appends to it.
#[derive(Debug, Default)]
pub struct AuditLog {
    entries: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    next: u64,
    kept: VecDeque<AuditEntry>,
}

impl AuditLog {
    /// Records the answer `code` to a request with these attributes, received `elapsed` ago, if
    /// it was a write.
    pub fn record(&self, attrs: &Attributes, user_agent: &str, elapsed: Duration, code: u16) {
        if !attrs.resource_request || !WRITE_VERBS.contains(&attrs.verb.as_str()) {
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
            user: attrs.user.name.clone(),
            user_agent: user_agent.to_owned(),
            verb: attrs.verb.clone(),
            api_group: attrs.api_group.clone(),
            resource: attrs.resource.clone(),
            subresource: attrs.subresource.clone(),
            namespace: attrs.namespace.clone(),
            name: attrs.name.clone(),
            code,
        });
    }

    /// Every entry kept, oldest first.
    pub fn entries(&self) -> Vec<AuditEntry> {
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
    use crate::auth::UserInfo;

    fn attrs(verb: &str, resource_request: bool) -> Attributes {
        let user = UserInfo {
            name: "system:serviceaccount:ns:doc-controller".into(),
            groups: Vec::new(),
        };
        if resource_request {
            Attributes::resource(user, verb, "", "configmaps", "", "ns", "index")
        } else {
            Attributes::non_resource(user, verb, "/metrics")
        }
    }

    #[test]
    fn writes_are_logged_in_order_with_who_and_reads_are_not() {
        let log = AuditLog::default();
        log.record(&attrs("get", true), "a", Duration::ZERO, 200);
        log.record(
            &attrs("patch", true),
            "doc-controller/0.1.0 (a)",
            Duration::ZERO,
            200,
        );
        log.record(&attrs("post", false), "a", Duration::ZERO, 200);
        log.record(
            &attrs("update", true),
            "doc-controller/0.1.0 (b)",
            Duration::ZERO,
            409,
        );
        let entries = log.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].verb, "patch");
        assert_eq!(entries[0].user_agent, "doc-controller/0.1.0 (a)");
        assert_eq!(entries[0].name, "index");
        assert!(entries[0].succeeded());
        assert_eq!(entries[1].seq, entries[0].seq + 1);
        assert!(!entries[1].succeeded());
        assert!(entries[1].received <= entries[1].answered);
    }
}
