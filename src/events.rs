//! Kubernetes Events about Documents, published through kube's [`Recorder`] (events.k8s.io/v1).
//!
//! Events follow status transitions, not reconciles: the reconciler publishes one only when the
//! `Ready` condition's reason changes (or an invalid spec's message), so an invalid Document gets one Warning and not
//! one per retry, and a quiet cluster stays quiet. The one [`Publisher`] (and its [`Recorder`])
//! lives in the reconcile context because the Recorder's deduplication cache is per recorder;
//! repeated events become a series there.
//!
//! # Names too long for the Recorder
//! kube's Recorder names an Event after its object: `<name>.<nanoseconds as 16 hex digits>`. A
//! Document name can have up to 253 characters, and so can an Event's, so for a Document named
//! with more than 236 the Recorder's Event is rejected (422) and the Document gets none, not even
//! the Warning of an invalid spec (a name over 244 characters *is* an invalid spec, see
//! `validation`). Those Events are created directly instead, named after the Document's name cut
//! to fit ([`event_name`]); everything else about them is what the Recorder would send.
//!
//! Events are best effort: failing to publish one is logged and counted, never a reconcile error.

use crate::crd::{Document, DocumentStatus};
use crate::status::{READY, reason};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};

/// Longest object name the API server accepts (a DNS subdomain), an Event's too.
const MAX_NAME_LEN: usize = 253;

/// What kube's Recorder appends to the object's name to name an Event: `.` and the time in
/// nanoseconds since the epoch as hex (16 digits until the year 2554).
const RECORDER_SUFFIX_LEN: usize = 17;

/// Publishes the controller's Events: through kube's [`Recorder`], or directly for a Document
/// whose name is too long for the Recorder's Event names (see the [module docs](self)).
#[derive(Clone)]
pub struct Publisher {
    recorder: Recorder,
    client: kube::Client,
    reporter: Reporter,
}

impl Publisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            client,
            reporter,
        }
    }

    /// Creates `event` about `reference` as the Recorder would, but named by [`event_name`].
    async fn create_fitting(
        &self,
        event: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = k8s_openapi::jiff::Timestamp::now();
        let name = event_name(
            reference.name.as_deref().unwrap_or_default(),
            now.as_nanosecond(),
        );
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let k8s_event = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..K8sEvent::default()
        };
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &k8s_event)
            .await
            .map(|_| ())
    }
}

/// The name of an Event about the object `name` at `nanos`: the Recorder's
/// `<name>.<nanos as hex>`, with `name` cut so the whole fits the API server's limit, and the cut
/// ending on a letter or digit so the result stays a DNS subdomain.
pub fn event_name(name: &str, nanos: i128) -> String {
    let keep = MAX_NAME_LEN - RECORDER_SUFFIX_LEN;
    let cut = name
        .get(..keep)
        .unwrap_or(name)
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{cut}.{nanos:x}")
}

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
pub async fn publish(publisher: &Publisher, doc: &Document, event: &DocumentEvent) {
    let reference = doc.object_ref(&());
    let event_ = event.to_event();
    let published = if doc.name_any().len() + RECORDER_SUFFIX_LEN <= MAX_NAME_LEN {
        publisher.recorder.publish(&event_, &reference).await
    } else {
        publisher.create_fitting(&event_, &reference).await
    };
    if let Err(error) = published {
        tracing::warn!(%error, reason = event.reason(), "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DocumentSpec;
    use crate::fault::Faults;
    use crate::status::{Outcome, desired_status};
    use crate::validation::InvalidSpec;
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
        let s = desired_status(&d, &published, &now(), &Faults::default());
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
        let first = desired_status(&d, &invalid(1), &now(), &Faults::default());
        let event = DocumentEvent::for_transition(&d, &first).expect("warning");
        assert_eq!(event.to_event().type_, EventType::Warning);
        d.status = Some(first);
        let same = desired_status(&d, &invalid(1), &now(), &Faults::default());
        assert_eq!(DocumentEvent::for_transition(&d, &same), None);
        let other = desired_status(&d, &invalid(2), &now(), &Faults::default());
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
    fn event_names_fit_the_api_servers_limit_and_stay_dns_subdomains() {
        let nanos = 0x1234_5678_9abc_def0;
        assert_eq!(event_name("samuel", nanos), "samuel.123456789abcdef0");
        let longest = "a".repeat(MAX_NAME_LEN);
        assert_eq!(event_name(&longest, nanos).len(), MAX_NAME_LEN);
        // A cut right after a dash or dot would end a label with it.
        let dashed = format!("{}-.b{}", "a".repeat(234), "c".repeat(17));
        let name = event_name(&dashed, nanos);
        assert!(name.len() <= MAX_NAME_LEN, "{name}");
        assert!(name.starts_with(&format!("{}.", "a".repeat(234))), "{name}");
    }

    #[test]
    fn hiding_is_announced() {
        let mut d = doc();
        let published = Outcome::Published {
            config_map: "document-samuel".into(),
        };
        d.status = Some(desired_status(&d, &published, &now(), &Faults::default()));
        let hidden = desired_status(&d, &Outcome::Hidden, &now(), &Faults::default());
        assert_eq!(
            DocumentEvent::for_transition(&d, &hidden),
            Some(DocumentEvent::Hidden)
        );
    }
}
