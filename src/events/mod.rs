//! Kubernetes Events about Documents, published through an [`EventRecorder`] (events.k8s.io/v1).
//!
//! Events follow status transitions, not reconciles: the reconciler publishes one only when the
//! `Ready` condition's reason changes (or an invalid spec's message), so an invalid Document gets one Warning and not
//! one per retry, and a quiet cluster stays quiet. The one [`EventRecorder`] lives in the
//! reconcile context because its series cache is per recorder; repeated events become a series
//! there ([`recorder`] says why it is not kube's `Recorder`).
//!
//! Events are best effort: failing to publish one is logged and counted, never a reconcile error.

use crate::document::status::{READY, reason};
use crate::document::{Document, DocumentStatus};
use kube::Resource;
use kube::runtime::events::{Event, EventType};

pub mod recorder;

pub use recorder::EventRecorder;

/// An event the controller publishes about a Document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentEvent {
    /// The Document is (again) published as this ConfigMap.
    Published {
        /// The ConfigMap's name.
        config_map: String,
    },
    /// The Document was hidden: its ConfigMap and index entry are gone.
    Hidden,
    /// The spec cannot be published (Warning).
    InvalidSpec {
        /// Why, as in the `Ready` condition.
        message: String,
    },
    /// The Document's index entry was removed and its finalizer is about to be released.
    Deleted,
    /// The Document is published but its namespace's index is full (Warning).
    IndexFull {
        /// Why and the fix, as in the `Ready` condition.
        message: String,
    },
}

impl DocumentEvent {
    /// The event for a status about to be written, if the `Ready` condition changes reason (or,
    /// for `InvalidSpec`, message) compared to what the Document has now.
    pub fn for_transition(doc: &Document, desired: &DocumentStatus) -> Option<Self> {
        let new = desired.conditions.iter().find(|c| c.type_ == READY)?;
        // A new reason is news; for InvalidSpec so is a new message (another problem).
        if let Some(old) = doc.ready_condition()
            && old.reason == new.reason
            && (new.reason != reason::INVALID_SPEC || old.message == new.message)
        {
            return None;
        }
        match new.reason.as_str() {
            reason::PUBLISHED => Some(DocumentEvent::Published {
                config_map: desired.config_map.clone().unwrap_or_default(),
            }),
            reason::HIDDEN => Some(DocumentEvent::Hidden),
            reason::INVALID_SPEC => Some(DocumentEvent::InvalidSpec {
                message: new.message.clone(),
            }),
            reason::INDEX_FULL => Some(DocumentEvent::IndexFull {
                message: new.message.clone(),
            }),
            _ => None,
        }
    }

    /// The `reason` field, shown by `kubectl describe` and `kubectl get events`.
    pub fn reason(&self) -> &'static str {
        match self {
            DocumentEvent::Published { .. } => "Published",
            DocumentEvent::Hidden => "Hidden",
            DocumentEvent::InvalidSpec { .. } => "InvalidSpec",
            DocumentEvent::Deleted => "Deleted",
            DocumentEvent::IndexFull { .. } => "IndexFull",
        }
    }

    fn to_event(&self) -> Event {
        let (type_, note, action) = match self {
            DocumentEvent::Published { config_map } => (
                EventType::Normal,
                format!("Published as ConfigMap {config_map}"),
                "Publish",
            ),
            DocumentEvent::Hidden => (
                EventType::Normal,
                "Hidden: ConfigMap and index entry removed".to_string(),
                "Hide",
            ),
            DocumentEvent::InvalidSpec { message } => {
                (EventType::Warning, message.clone(), "Validate")
            }
            DocumentEvent::Deleted => (
                EventType::Normal,
                "Index entry removed, finalizer released".to_string(),
                "Delete",
            ),
            DocumentEvent::IndexFull { message } => (EventType::Warning, message.clone(), "Index"),
        };
        Event {
            type_,
            reason: self.reason().to_string(),
            note: Some(truncate(note, MAX_NOTE_CHARS)),
            action: action.to_string(),
            secondary: None,
        }
    }
}

/// The API server rejects an event whose note is longer than this (events.k8s.io validation).
pub(crate) const MAX_NOTE_CHARS: usize = 1024;

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub(crate) fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Publishes `event` about `doc`. Failures are logged and do not fail the reconcile.
pub async fn publish(recorder: &EventRecorder, doc: &Document, event: &DocumentEvent) {
    let reference = doc.object_ref(&());
    if let Err(error) = recorder.publish(&event.to_event(), &reference).await {
        tracing::warn!(%error, reason = event.reason(), "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentSpec;
    use crate::document::status::{Outcome, desired_status};
    use crate::document::validation::InvalidSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn now() -> Time {
        Time("2024-01-01T00:00:00Z".parse().expect("timestamp"))
    }

    fn doc() -> Document {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "t".into(),
                ..Default::default()
            },
        );
        d.metadata.generation = Some(1);
        d
    }

    fn invalid(bytes: usize) -> Outcome {
        Outcome::Invalid {
            reason: InvalidSpec::ContentTooLarge { bytes },
            published: None,
        }
    }

    #[test]
    fn first_publication_is_announced_once() {
        let mut d = doc();
        let published = Outcome::Published {
            config_map: "document-samuel".into(),
        };
        let s = desired_status(&d, &published, &now());
        assert_eq!(
            DocumentEvent::for_transition(&d, &s),
            Some(DocumentEvent::Published {
                config_map: "document-samuel".into()
            })
        );
        d.status = Some(s.clone());
        assert_eq!(DocumentEvent::for_transition(&d, &s), None);
    }

    #[test]
    fn invalid_spec_warns_once_per_distinct_problem() {
        let mut d = doc();
        let first = desired_status(&d, &invalid(1), &now());
        let event = DocumentEvent::for_transition(&d, &first).expect("warning");
        assert_eq!(event.to_event().type_, EventType::Warning);
        d.status = Some(first);
        let same = desired_status(&d, &invalid(1), &now());
        assert_eq!(DocumentEvent::for_transition(&d, &same), None);
        let other = desired_status(&d, &invalid(2), &now());
        assert!(DocumentEvent::for_transition(&d, &other).is_some());
    }

    #[test]
    fn notes_are_cut_to_what_the_api_server_accepts() {
        let long = DocumentEvent::InvalidSpec {
            message: "x".repeat(5000),
        };
        let note = long.to_event().note.expect("note");
        assert_eq!(note.chars().count(), MAX_NOTE_CHARS);
        assert!(note.ends_with('…'));
    }

    #[test]
    fn hiding_is_announced() {
        let mut d = doc();
        let published = Outcome::Published {
            config_map: "document-samuel".into(),
        };
        d.status = Some(desired_status(&d, &published, &now()));
        let hidden = desired_status(&d, &Outcome::Hidden, &now());
        assert_eq!(
            DocumentEvent::for_transition(&d, &hidden),
            Some(DocumentEvent::Hidden)
        );
    }
}
