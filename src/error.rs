//! Errors of a reconcile, and what each kind means for retrying.
//!
//! Every variant maps to a fixed metric label ([`Error::metric_label`]), so
//! `doc_controller_reconcile_errors_total{reason=...}` has a bounded set of series that all exist
//! from the start, and to a retry policy ([`Error::retry_class`]) used by `error_policy`: a conflict
//! is retried at once, a throttled or failing API server is given room, a permission problem waits
//! for a human.

use std::time::Duration;

/// What can go wrong while reconciling a Document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("{action}: {source}")]
    Kube {
        /// What the controller was doing, e.g. "apply ConfigMap document-samuel".
        action: String,
        /// The client's error, with the API server's Status when there was one.
        #[source]
        source: kube::Error,
    },

    /// Writing the namespace's `documents-index` failed; every reconcile in the batch sees it.
    #[error("update of index {namespace}/documents-index: {message}")]
    Index {
        /// The namespace whose index failed.
        namespace: String,
        /// The underlying failure.
        message: String,
        /// Its retry class, taken from the API error.
        class: RetryClass,
    },

    /// The namespace's `documents-index` has no room for this Document's entry: a ConfigMap's
    /// values may hold 1 MiB. The Document is published, only not listed; its status says so.
    #[error(
        "namespace {namespace}'s documents-index is full (a ConfigMap holds at most 1 MiB): \
         {document} is published but not listed; delete Documents or spread them over namespaces"
    )]
    IndexFull {
        /// The namespace whose index is full.
        namespace: String,
        /// The Document left out.
        document: String,
    },

    /// The Document has no namespace; the API server never sends one like that.
    #[error("document {0} has no namespace")]
    MissingNamespace(String),

    // region: fault-catalogue
    /// The cleanup of a deleted Document failed on purpose (toggle `cleanup-fails`).
    #[error("cleanup failed (fault toggle cleanup-fails is on)")]
    InjectedCleanupFailure,
    // endregion: fault-catalogue
}

/// How soon a failed reconcile should be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Someone else wrote first (409): retry quickly with fresh data.
    Conflict,
    /// The API server asked us to slow down (429) or is failing (5xx, timeouts, connection).
    Transient,
    /// A permission or configuration problem (401, 403, 404 of a type, 422): retrying soon will not
    /// help; retry slowly so the fix is picked up without a restart.
    Persistent,
    /// This replica does not lead (its lease ran out mid-reconcile): the write was refused before
    /// it was sent ([`crate::leader::NotLeading`]). Not retried: the leader reconciles.
    NotLeading,
}

impl RetryClass {
    /// First delay of the exponential backoff for this class.
    pub fn base_delay(self) -> Duration {
        match self {
            RetryClass::Conflict => Duration::from_millis(100),
            RetryClass::Transient => Duration::from_millis(500),
            RetryClass::Persistent | RetryClass::NotLeading => Duration::from_secs(5),
        }
    }

    /// Upper bound of the backoff for this class.
    pub fn max_delay(self) -> Duration {
        match self {
            RetryClass::Conflict => Duration::from_secs(5),
            RetryClass::Transient => Duration::from_secs(60),
            RetryClass::Persistent | RetryClass::NotLeading => Duration::from_secs(300),
        }
    }

    /// Classifies a client error by what the API server said, if anything.
    pub fn of(err: &kube::Error) -> Self {
        if crate::leader::NotLeading::is_in(err) {
            return RetryClass::NotLeading;
        }
        match err {
            kube::Error::Api(status) => match status.code {
                409 => RetryClass::Conflict,
                429 | 500..=599 => RetryClass::Transient,
                _ => RetryClass::Persistent,
            },
            // Connection refused, TLS handshake, timeouts: the API server may come back.
            _ => RetryClass::Transient,
        }
    }
}

impl Error {
    /// Every value [`Error::metric_label`] can return, so metrics can start each series at zero.
    pub const ALL_LABELS: &'static [&'static str] = &[
        "conflict",
        "throttled",
        "server_error",
        "forbidden",
        "unauthorized",
        "not_found",
        "invalid",
        "api_other",
        "connection",
        "index",
        "index_full",
        "missing_namespace",
        "not_leading",
        // region: fault-catalogue
        "injected_cleanup_failure",
        // endregion: fault-catalogue
    ];

    /// Wraps a client error with what the controller was doing.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }

    /// A fixed, low-cardinality label for `doc_controller_reconcile_errors_total{reason}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => kube_label(source),
            Error::Index {
                class: RetryClass::NotLeading,
                ..
            } => "not_leading",
            Error::Index { .. } => "index",
            Error::IndexFull { .. } => "index_full",
            Error::MissingNamespace(_) => "missing_namespace",
            // region: fault-catalogue
            Error::InjectedCleanupFailure => "injected_cleanup_failure",
            // endregion: fault-catalogue
        }
    }

    /// How soon to retry after this error.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Kube { source, .. } => RetryClass::of(source),
            Error::Index { class, .. } => *class,
            // Room is made by deleting Documents: retry slowly, so it is found without a restart.
            Error::IndexFull { .. } | Error::MissingNamespace(_) => RetryClass::Persistent,
            // region: fault-catalogue
            Error::InjectedCleanupFailure => RetryClass::Transient,
            // endregion: fault-catalogue
        }
    }
}

fn kube_label(err: &kube::Error) -> &'static str {
    if crate::leader::NotLeading::is_in(err) {
        return "not_leading";
    }
    match err {
        kube::Error::Api(status) => match status.code {
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            429 => "throttled",
            500..=599 => "server_error",
            _ => "api_other",
        },
        _ => "connection",
    }
}

/// Exponential backoff: `base * 2^(failures-1)`, capped at the class's maximum.
pub fn backoff_delay(class: RetryClass, consecutive_failures: u32) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    class
        .base_delay()
        .saturating_mul(1 << exponent)
        .min(class.max_delay())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        let status = Status::failure("boom", "Reason").with_code(code);
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn every_label_is_listed_for_metrics() {
        for code in [401, 403, 404, 409, 418, 422, 429, 503] {
            let label = Error::kube("x", api(code)).metric_label();
            assert!(Error::ALL_LABELS.contains(&label), "{label}");
        }
        let missing = Error::MissingNamespace("x".into());
        assert!(Error::ALL_LABELS.contains(&missing.metric_label()));
        // region: fault-catalogue
        let injected = Error::InjectedCleanupFailure;
        assert!(Error::ALL_LABELS.contains(&injected.metric_label()));
        // endregion: fault-catalogue
    }

    #[test]
    fn a_write_refused_for_want_of_the_lease_is_not_leading_and_not_retried() {
        let refused = kube::Error::Service(Box::new(crate::leader::NotLeading {
            identity: "a".into(),
            lease: "ns/doc-controller".into(),
        }));
        assert_eq!(RetryClass::of(&refused), RetryClass::NotLeading);
        let error = Error::kube("apply ConfigMap document-samuel", refused);
        assert_eq!(error.metric_label(), "not_leading");
        assert!(Error::ALL_LABELS.contains(&error.metric_label()));
        let index = Error::Index {
            namespace: "ns".into(),
            message: "refused".into(),
            class: RetryClass::NotLeading,
        };
        assert_eq!(index.metric_label(), "not_leading");
    }

    #[test]
    fn conflicts_retry_fast_and_permission_errors_slowly() {
        assert_eq!(RetryClass::of(&api(409)), RetryClass::Conflict);
        assert_eq!(RetryClass::of(&api(429)), RetryClass::Transient);
        assert_eq!(RetryClass::of(&api(503)), RetryClass::Transient);
        assert_eq!(RetryClass::of(&api(403)), RetryClass::Persistent);
        assert!(backoff_delay(RetryClass::Conflict, 1) < backoff_delay(RetryClass::Persistent, 1));
    }

    #[test]
    fn backoff_doubles_and_stops_at_the_cap() {
        let c = RetryClass::Transient;
        assert_eq!(backoff_delay(c, 1), Duration::from_millis(500));
        assert_eq!(backoff_delay(c, 2), Duration::from_millis(1000));
        assert_eq!(backoff_delay(c, 3), Duration::from_millis(2000));
        assert_eq!(backoff_delay(c, 40), c.max_delay());
    }
}
