//! The desired status of a Document, computed without I/O.
//!
//! The reconciler decides what happened ([`Outcome`]) and this module turns it into the status that
//! should be on the object. Because the result depends only on the Document, the outcome and the
//! current status, reconciling an unchanged Document yields the same status again, and
//! [`needs_write`] tells the reconciler to send nothing. That is what keeps a controller from
//! triggering itself (the guide's "Reconciler infinite loop" with non-deterministic status).
//!
//! `lastTransitionTime` is the one timestamp: it is set to `now` only when the condition's status
//! changes, as the Kubernetes API conventions ask, and carried over otherwise.

use crate::document::validation::InvalidSpec;
use crate::document::{Document, DocumentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sha2::{Digest, Sha256};

/// The type of the condition that summarises a Document.
pub const READY: &str = "Ready";

/// Condition reasons, `PascalCase` as the API conventions ask.
pub mod reason {
    /// The Document is published as a ConfigMap and listed in the index.
    pub const PUBLISHED: &str = "Published";
    /// The Document is hidden: no ConfigMap, no index entry.
    pub const HIDDEN: &str = "Hidden";
    /// The controller cannot publish this spec; see the message.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Published, but the namespace's index has no room to list it; see the message.
    pub const INDEX_FULL: &str = "IndexFull";
}

/// What the reconciler achieved for a Document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The ConfigMap with this name holds the document and the index lists it.
    Published {
        /// Name of the published ConfigMap.
        config_map: String,
    },
    /// The document is hidden and nothing of it is published.
    Hidden,
    /// The spec cannot be published. What was published before stays as it was (bad input loses
    /// nothing), so the status still names it.
    Invalid {
        /// Why the spec cannot be published.
        reason: InvalidSpec,
        /// The ConfigMap still holding the last valid version, if any.
        published: Option<String>,
    },
    /// The ConfigMap holds the document, but the namespace's index is full and does not list it.
    NotListed {
        /// Name of the published ConfigMap.
        config_map: String,
        /// Why, with the fix ([`crate::error::Error::IndexFull`]).
        why: String,
    },
}

/// Computes the status the Document should have after `outcome`.
///
/// `now` is used only if the `Ready` condition changes status; pass the current time.
pub fn desired_status(doc: &Document, outcome: &Outcome, now: &Time) -> DocumentStatus {
    let generation = doc.metadata.generation;
    let (status, reason, message, config_map) = match outcome {
        Outcome::Published { config_map } => (
            "True",
            reason::PUBLISHED,
            format!("published as ConfigMap {config_map}"),
            Some(config_map.clone()),
        ),
        Outcome::Hidden => (
            "True",
            reason::HIDDEN,
            "hidden: the ConfigMap and index entry are removed".to_string(),
            None,
        ),
        Outcome::Invalid { reason, published } => (
            "False",
            reason::INVALID_SPEC,
            reason.to_string(),
            published.clone(),
        ),
        Outcome::NotListed { config_map, why } => (
            "False",
            reason::INDEX_FULL,
            why.clone(),
            Some(config_map.clone()),
        ),
    };
    let previous = doc.ready_condition();
    let ready = Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: transition_time(previous, status, now),
    };
    DocumentStatus {
        observed_generation: generation,
        conditions: vec![ready],
        hidden: matches!(outcome, Outcome::Hidden),
        config_map,
        content_digest: Some(content_digest(doc)),
        word_count: doc.spec.content.split_whitespace().count() as u64,
    }
}

// region: fault-catalogue
/// The wrong way of `status-timestamp` (the branch point is in `reconcile::write_status`):
/// "reconciled at <now>" appended to the `Ready` message makes every computed status differ from
/// the last one.
pub fn with_reconcile_time(mut status: DocumentStatus, now: &Time) -> DocumentStatus {
    for condition in &mut status.conditions {
        condition.message = format!("{} (reconciled at {})", condition.message, now.0);
    }
    status
}
// endregion: fault-catalogue

/// Keeps the previous transition time unless the condition's status changes.
fn transition_time(previous: Option<&Condition>, status: &str, now: &Time) -> Time {
    match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now.clone(),
    }
}

/// `sha256:<hex>` of title and content, separated so that moving text between them changes it.
pub fn content_digest(doc: &Document) -> String {
    let mut hasher = Sha256::new();
    hasher.update(doc.spec.title.as_bytes());
    hasher.update([0u8]);
    hasher.update(doc.spec.content.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Whether `desired` differs from what is on the object, i.e. whether a status write is needed.
pub fn needs_write(doc: &Document, desired: &DocumentStatus) -> bool {
    doc.status.as_ref() != Some(desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentSpec;

    fn time(s: &str) -> Time {
        Time(s.parse().expect("valid timestamp"))
    }

    fn doc(generation: i64) -> Document {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "Samuel".into(),
                content: "two words".into(),
                hide: false,
            },
        );
        d.metadata.namespace = Some("default".into());
        d.metadata.generation = Some(generation);
        d
    }

    fn invalid(bytes: usize) -> Outcome {
        Outcome::Invalid {
            reason: InvalidSpec::ContentTooLarge { bytes },
            published: None,
        }
    }

    fn published() -> Outcome {
        Outcome::Published {
            config_map: "document-samuel".into(),
        }
    }

    #[test]
    fn published_document_is_ready_with_observed_generation_digest_and_word_count() {
        let d = doc(3);
        let s = desired_status(&d, &published(), &time("2024-01-01T00:00:00Z"));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.config_map.as_deref(), Some("document-samuel"));
        assert_eq!(s.word_count, 2);
        assert!(!s.hidden);
        let ready = &s.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Published")
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert!(
            s.content_digest
                .as_deref()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
    }

    #[test]
    fn reconciling_an_unchanged_document_later_needs_no_write() {
        let mut d = doc(1);
        d.status = Some(desired_status(
            &d,
            &published(),
            &time("2024-01-01T00:00:00Z"),
        ));
        let again = desired_status(&d, &published(), &time("2030-06-01T12:00:00Z"));
        assert!(!needs_write(&d, &again));
    }

    // region: fault-catalogue
    #[test]
    fn with_status_timestamp_on_every_reconcile_needs_a_write() {
        let stamped = |d: &Document, now: &str| {
            with_reconcile_time(desired_status(d, &published(), &time(now)), &time(now))
        };
        let mut d = doc(1);
        d.status = Some(stamped(&d, "2024-01-01T00:00:00Z"));
        assert!(needs_write(&d, &stamped(&d, "2024-01-01T00:00:01Z")));
    }
    // endregion: fault-catalogue

    #[test]
    fn transition_time_moves_only_when_the_condition_status_changes() {
        let mut d = doc(1);
        d.status = Some(desired_status(
            &d,
            &published(),
            &time("2024-01-01T00:00:00Z"),
        ));

        // Published -> Hidden keeps Ready=True: same transition time, though the reason changes.
        let hidden = desired_status(&d, &Outcome::Hidden, &time("2025-01-01T00:00:00Z"));
        assert_eq!(hidden.conditions[0].reason, "Hidden");
        assert_eq!(
            hidden.conditions[0].last_transition_time,
            time("2024-01-01T00:00:00Z")
        );

        // True -> False is a transition.
        let invalid = invalid(1);
        let s = desired_status(&d, &invalid, &time("2026-01-01T00:00:00Z"));
        assert_eq!(s.conditions[0].status, "False");
        assert_eq!(
            s.conditions[0].last_transition_time,
            time("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_new_generation_needs_a_write_even_with_the_same_outcome() {
        let mut d = doc(1);
        d.status = Some(desired_status(
            &d,
            &published(),
            &time("2024-01-01T00:00:00Z"),
        ));
        d.metadata.generation = Some(2);
        let s = desired_status(&d, &published(), &time("2024-01-02T00:00:00Z"));
        assert!(needs_write(&d, &s));
        assert_eq!(
            s.conditions[0].last_transition_time,
            time("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn digest_tells_title_from_content() {
        let mut a = doc(1);
        a.spec.title = "ab".into();
        a.spec.content = "c".into();
        let mut b = doc(1);
        b.spec.title = "a".into();
        b.spec.content = "bc".into();
        assert_ne!(content_digest(&a), content_digest(&b));
    }
}
