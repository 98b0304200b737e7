//! Publishes Events (events.k8s.io/v1) with series, as kube's `Recorder` and client-go's event
//! broadcaster do, in memory bounded by the Events of the last 6 minutes and constant time per
//! Event.
//!
//! # Why not kube's `Recorder`
//! kube 5's `Recorder` keeps a clone of every Event it published for 6 minutes (its series
//! cache) and, on every publish, scans all of them to drop the expired ones (`retain` under a
//! write lock). A burst of N new Documents costs O(N²) in that scan, and the clones (names,
//! note, references, timestamps) stay until the next Event after the 6 minutes: after a burst of
//! 10,000 new Documents the controller held 102 MiB with it and 70.5 MiB with this recorder.
//!
//! # Expected flow
//! [`EventRecorder::publish`] builds the key of the Event. A key not published within the last
//! 6 minutes creates a new Event (`POST`); a key published within them is a repeat: the first
//! Event's `series` is patched with the new `count` and `lastObservedTime` (`PATCH`, a merge
//! patch of the series alone, as client-go's `createPatchBytesForSeries` sends).
//!
//! # Guarantees
//! * The key is kube's and client-go's (`getKey`): type, action, reason, reporting controller
//!   and instance (one per recorder), the regarding object (apiVersion, kind, namespace, name,
//!   uid) and the related one. The note is not part of it: a repeat keeps the first Event's note.
//! * An entry lives 6 minutes after its last occurrence, like kube's (`CACHE_TTL`) and
//!   client-go's `finishTime`.
//! * Per key only what the series patch needs is kept: the key itself, the first Event's
//!   timestamp (its name is derived from it), the count and the time of the last occurrence.
//!   Entries sit in a queue in the order they were last seen; each publish drops the expired
//!   ones from its front, so a publish costs O(1) amortized, whatever the number of entries.
//!
//! # What is lost compared with kube's `Recorder`
//! Nothing the API server ends up with: kube sends the whole cached Event as its merge patch,
//! whose fields other than `series` are the ones the server already has. If the patched Event
//! is gone (Events expire on the server after an hour, or someone deleted it), the repeat is
//! created as a new Event and its series starts again, where kube's `Recorder` returns the 404.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a published Event's key turns repeats into a series (kube's `CACHE_TTL`, client-go's
/// `finishTime`).
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// Publishes Events, turning repeats within [`SERIES_WINDOW`] into series. Cheap to clone; clones
/// share the series cache.
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    reporter: Reporter,
    series: Arc<Mutex<SeriesCache>>,
}

/// The Events of the last [`SERIES_WINDOW`], by key.
#[derive(Default)]
struct SeriesCache {
    entries: HashMap<Arc<str>, Series>,
    /// Keys in the order of their last occurrence; a key seen again is queued again, and its
    /// older place in the queue is skipped when it reaches the front.
    order: VecDeque<(Instant, Arc<str>)>,
}

/// What a repeat needs of the Event first published under a key.
#[derive(Debug, Clone, Copy)]
struct Series {
    /// The first Event's `eventTime` in nanoseconds since the epoch: its name's suffix.
    first: i128,
    /// Occurrences so far.
    count: i32,
    /// When it last occurred.
    last: Instant,
}

/// What to send for one publish.
enum Send {
    /// A new Event, whose `eventTime` (and name) is `first`.
    Create { first: i128 },
    /// The next count of the series of the Event named `name`.
    Repeat { name: String, count: i32 },
}

impl EventRecorder {
    /// A recorder publishing as `reporter`.
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            series: Arc::default(),
        }
    }

    /// Publishes `event` about `regarding`: a new Event, or the next count of its series.
    ///
    /// # Errors
    /// The API server's answer when it rejects the Event.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let key: Arc<str> = event_key(&self.reporter, event, regarding).into();
        let now = Instant::now();
        let send = self.lock().occurred(&key, now, regarding, &self.reporter);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        match send {
            Send::Repeat { name, count } => {
                let patch = serde_json::json!({
                    "series": {"count": count, "lastObservedTime": MicroTime(Timestamp::now())}
                });
                match events
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => Ok(()),
                    // The Event expired on the server (or was deleted): start afresh.
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        let fresh = self.lock().start(&key, now);
                        self.create(&events, event, regarding, fresh).await
                    }
                    Err(e) => Err(e),
                }
            }
            Send::Create { first } => self.create(&events, event, regarding, first).await,
        }
    }

    async fn create(
        &self,
        events: &Api<K8sEvent>,
        event: &Event,
        regarding: &ObjectReference,
        first: i128,
    ) -> Result<(), kube::Error> {
        let body = self.new_event(event, regarding, first);
        events
            .create(&PostParams::default(), &body)
            .await
            .map(|_| ())
    }

    /// The Event as created, named `<regarding>.<first in hex>` like kube's and client-go's.
    fn new_event(&self, event: &Event, regarding: &ObjectReference, first: i128) -> K8sEvent {
        let at = Timestamp::from_nanosecond(first).unwrap_or_else(|_| Timestamp::now());
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(at)),
            regarding: Some(regarding.clone()),
            note: event.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(event_name(regarding, &self.reporter, first)),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            related: event.secondary.clone(),
            ..K8sEvent::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SeriesCache> {
        self.series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// kube's `EventKey`, as one string: what makes two Events the same series.
fn event_key(reporter: &Reporter, event: &Event, regarding: &ObjectReference) -> String {
    let reference = |r: &ObjectReference| {
        [&r.api_version, &r.kind, &r.namespace, &r.name, &r.uid]
            .map(|f| f.as_deref().unwrap_or(""))
            .join("/")
    };
    format!(
        "{:?}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        event.type_,
        event.action,
        event.reason,
        reference(regarding),
        event.secondary.as_ref().map(reference).unwrap_or_default(),
        reporter.instance.as_deref().unwrap_or(""),
    )
}

/// Longest object name the API server accepts (a DNS subdomain): an Event's, and a Document's.
const MAX_NAME_LEN: usize = 253;

/// What follows the object's name in an Event's name: `.` and the first time in nanoseconds
/// since the epoch as hex (16 digits until the year 2554).
const NAME_SUFFIX_LEN: usize = 17;

/// `<regarding's name, or the controller>.<first in hex>`, as kube's `Recorder` and client-go
/// name Events, with the name cut so the whole fits [`MAX_NAME_LEN`]: a Document named with
/// more than 236 characters would otherwise get no Event at all (each create a 422), not even
/// the Warning of its invalid spec. The cut ends on a letter or digit, so the result stays a DNS
/// subdomain.
fn event_name(regarding: &ObjectReference, reporter: &Reporter, first: i128) -> String {
    let name = regarding.name.as_deref().unwrap_or(&reporter.controller);
    let cut = name
        .get(..MAX_NAME_LEN - NAME_SUFFIX_LEN)
        .unwrap_or(name)
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{cut}.{first:x}")
}

// === impl SeriesCache ===

impl SeriesCache {
    /// Records an occurrence of `key` at `now`, after dropping what expired; says what to send.
    fn occurred(
        &mut self,
        key: &Arc<str>,
        now: Instant,
        regarding: &ObjectReference,
        reporter: &Reporter,
    ) -> Send {
        self.expire(now);
        self.order.push_back((now, key.clone()));
        match self.entries.get_mut(key) {
            Some(series) => {
                series.count += 1;
                series.last = now;
                Send::Repeat {
                    name: event_name(regarding, reporter, series.first),
                    count: series.count,
                }
            }
            None => Send::Create {
                first: self.start(key, now),
            },
        }
    }

    /// A series of `key` starts at `now` (a first occurrence, or again after its Event was
    /// gone); returns its first time, which names its Event.
    fn start(&mut self, key: &Arc<str>, now: Instant) -> i128 {
        let first = Timestamp::now().as_nanosecond();
        self.entries.insert(
            key.clone(),
            Series {
                first,
                count: 1,
                last: now,
            },
        );
        first
    }

    /// Drops the keys last seen [`SERIES_WINDOW`] or more before `now`.
    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if now.duration_since(*at) < SERIES_WINDOW {
                break;
            }
            // Only the key's latest place in the queue expires it; older places are skipped.
            if self.entries.get(key).is_some_and(|s| s.last == *at) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regarding(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("kube.rs/v1".into()),
            kind: Some("Document".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    fn reporter() -> Reporter {
        Reporter {
            controller: "doc-controller".into(),
            instance: None,
        }
    }

    fn count(send: &Send) -> i32 {
        match send {
            Send::Create { .. } => 1,
            Send::Repeat { count, .. } => *count,
        }
    }

    #[test]
    fn event_names_fit_the_api_servers_limit_and_stay_dns_subdomains() {
        let first = 0x1234_5678_9abc_def0;
        let name = |n: &str| event_name(&regarding(n), &reporter(), first);
        assert_eq!(name("samuel"), "samuel.123456789abcdef0");
        assert_eq!(name(&"a".repeat(MAX_NAME_LEN)).len(), MAX_NAME_LEN);
        // A cut right after a dash or dot would end a label with it.
        let dashed = name(&format!("{}-.b{}", "a".repeat(234), "c".repeat(17)));
        assert!(dashed.len() <= MAX_NAME_LEN, "{dashed}");
        assert!(
            dashed.starts_with(&format!("{}.", "a".repeat(234))),
            "{dashed}"
        );
    }

    #[test]
    fn a_repeat_within_six_minutes_continues_the_series_of_the_first_event() {
        let mut cache = SeriesCache::default();
        let key: Arc<str> = "k".into();
        let start = Instant::now();
        let first = cache.occurred(&key, start, &regarding("a"), &reporter());
        assert!(matches!(first, Send::Create { .. }));
        let first_name = event_name(&regarding("a"), &reporter(), cache.entries[&key].first);
        let again = cache.occurred(
            &key,
            start + Duration::from_secs(300),
            &regarding("a"),
            &reporter(),
        );
        assert_eq!(count(&again), 2);
        assert!(matches!(again, Send::Repeat { ref name, .. } if *name == first_name));
        // Six minutes after the *last* occurrence, not the first.
        let third = cache.occurred(
            &key,
            start + Duration::from_secs(600),
            &regarding("a"),
            &reporter(),
        );
        assert_eq!(count(&third), 3);
    }

    #[test]
    fn an_entry_expires_six_minutes_after_its_last_occurrence_and_a_new_event_starts() {
        let mut cache = SeriesCache::default();
        let key: Arc<str> = "k".into();
        let start = Instant::now();
        cache.occurred(&key, start, &regarding("a"), &reporter());
        let later = cache.occurred(&key, start + SERIES_WINDOW, &regarding("a"), &reporter());
        assert!(matches!(later, Send::Create { .. }), "expired: a new Event");
        assert_eq!(cache.entries.len(), 1);
    }

    #[test]
    fn a_burst_leaves_nothing_behind_once_the_window_has_passed() {
        let mut cache = SeriesCache::default();
        let start = Instant::now();
        for i in 0..10_000 {
            let key: Arc<str> = format!("k{i}").into();
            cache.occurred(&key, start, &regarding("a"), &reporter());
        }
        assert_eq!(cache.entries.len(), 10_000);
        let key: Arc<str> = "next".into();
        cache.occurred(&key, start + SERIES_WINDOW, &regarding("a"), &reporter());
        assert_eq!(cache.entries.len(), 1);
        assert_eq!(cache.order.len(), 1);
    }

    #[test]
    fn the_key_is_kubes_event_key_without_the_note() {
        let key =
            |event: &Event, regarding: &ObjectReference| event_key(&reporter(), event, regarding);
        let event = |reason: &str, note: &str| Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Publish".into(),
            secondary: None,
        };
        let a = regarding("a");
        assert_eq!(
            key(&event("Published", "one"), &a),
            key(&event("Published", "two"), &a)
        );
        assert_ne!(
            key(&event("Published", "one"), &a),
            key(&event("Hidden", "one"), &a)
        );
        assert_ne!(
            key(&event("Published", "one"), &a),
            key(&event("Published", "one"), &regarding("b"))
        );
    }
}
