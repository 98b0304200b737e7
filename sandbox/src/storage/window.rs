//! The watch window of one resource, like the apiserver's watch cache
//! (`apiserver/pkg/storage/cacher/watch_cache.go`).
//!
//! A real apiserver does not serve watches from etcd's history but from a cyclic buffer per
//! resource type, filled by the cacher's reflector. That buffer starts empty at the
//! resourceVersion the cache was initialised at (`watchCache.Replace` sets
//! `listResourceVersion`): when the apiserver started for built-in kinds; when the CRD started
//! being served (or its spec or accepted names last changed, which rebuilds its storage) for
//! custom resources. Its capacity starts at 100 events and adapts (`resizeCacheLocked`): it
//! doubles, up to 100 × 1024, when the buffer is full and its oldest event is younger than
//! `eventFreshDuration` (75 s), and halves, down to 100, when it is full and the event a quarter
//! from the newest end is older than that.
//!
//! A watch from resourceVersion `rv` is answered from the buffer
//! (`getAllEventsSinceLocked`): `oldest` is `listResourceVersion + 1` while no event has been
//! evicted, else the first buffered event's revision; `rv < oldest - 1` is `410 Expired` with
//! `too old resource version: <rv> (<oldest - 1>)`. So a client resuming from an old
//! resourceVersion (`1`, or one from before its CRD existed) learns on the sandbox what it
//! meets on a cluster.
//!
//! The sandbox keeps at most `watch_history` events per window too (its etcd keeps no more),
//! so a small `watch_history` narrows every window.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Event;
use crate::meta::error::ApiError;

/// `eventFreshDuration`: how long the cache wants to keep events.
const EVENT_FRESH_DURATION: Duration = Duration::from_secs(75);
/// `defaultLowerBoundCapacity`.
const LOWER_BOUND_CAPACITY: usize = 100;
/// `defaultUpperBoundCapacity`.
const UPPER_BOUND_CAPACITY: usize = 100 * 1024;

/// One resource's buffer of recent events.
#[derive(Debug)]
pub(crate) struct Window {
    /// `listResourceVersion`: the revision the window was initialised at.
    init: u64,
    /// What the window was built for (a CRD's spec and accepted names); a different one
    /// rebuilds it, like the CRD handler tearing down and recreating the storage.
    origin: Option<Value>,
    /// The buffered events with the time they were recorded, oldest first.
    events: VecDeque<(Arc<Event>, Instant)>,
    capacity: usize,
    lower: usize,
    upper: usize,
    /// `removedEventSinceRelist`.
    evicted: bool,
}

impl Window {
    /// An empty window initialised at revision `init`; `limit` caps its capacity.
    pub(crate) fn new(init: u64, origin: Option<Value>, limit: usize) -> Self {
        let lower = LOWER_BOUND_CAPACITY.min(limit).max(1);
        Self {
            init,
            origin,
            events: VecDeque::new(),
            capacity: lower,
            lower,
            upper: UPPER_BOUND_CAPACITY.min(limit).max(1),
            evicted: false,
        }
    }

    /// Empties the window and initialises it again at `init` (a relist), keeping its origin.
    pub(crate) fn restart(&mut self, init: u64, limit: usize) {
        *self = Self::new(init, self.origin.take(), limit);
    }

    /// Whether the window was built for `origin`.
    pub(crate) fn serves(&self, origin: &Value) -> bool {
        self.origin.as_ref() == Some(origin)
    }

    /// Records an event (`watchCache.updateCache`), evicting the oldest when full.
    pub(crate) fn push(&mut self, event: Arc<Event>, now: Instant) {
        self.resize(now);
        if self.events.len() >= self.capacity {
            self.events.pop_front();
            self.evicted = true;
        }
        self.events.push_back((event, now));
    }

    /// `resizeCacheLocked`. Shrinking drops the oldest events without marking an eviction, as
    /// upstream's `doCacheResizeLocked` does.
    fn resize(&mut self, now: Instant) {
        if self.events.len() < self.capacity {
            return;
        }
        let age = |index: usize| {
            self.events
                .get(index)
                .map_or(Duration::ZERO, |(_, at)| now.saturating_duration_since(*at))
        };
        if age(0) < EVENT_FRESH_DURATION {
            self.capacity = (self.capacity * 2).min(self.upper);
            return;
        }
        if age(self.capacity - self.capacity / 4) > EVENT_FRESH_DURATION {
            let capacity = (self.capacity / 2).max(self.lower);
            while self.events.len() > capacity {
                self.events.pop_front();
            }
            self.capacity = capacity;
        }
    }

    /// The buffered events after `rv` (`getAllEventsSinceLocked`), or the 410 for a
    /// resourceVersion older than the window.
    pub(crate) fn since(&self, rv: u64) -> Result<impl Iterator<Item = &Arc<Event>>, ApiError> {
        let oldest = match self.events.front() {
            Some((first, _)) if self.evicted => first.revision,
            _ => self.init + 1,
        };
        if rv < oldest - 1 {
            return Err(ApiError::Expired(format!(
                "too old resource version: {rv} ({})",
                oldest - 1
            )));
        }
        Ok(self
            .events
            .iter()
            .map(|(event, _)| event)
            .filter(move |event| event.revision > rv))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap is a failed assertion in a test"
    )]

    use super::*;
    use crate::storage::EventType;
    use serde_json::json;

    fn event(revision: u64) -> Arc<Event> {
        Arc::new(Event {
            kind: EventType::Added,
            res: (String::new(), "configmaps".into()),
            object: Arc::new(json!({})),
            prev: None,
            revision,
            committed: std::time::Instant::now(),
        })
    }

    fn expired(window: &Window, rv: u64) -> String {
        window
            .since(rv)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_window_starts_at_its_initialisation_and_answers_410_before_it() {
        let mut window = Window::new(40, None, 10_000);
        assert_eq!(expired(&window, 1), "too old resource version: 1 (40)");
        assert_eq!(window.since(40).unwrap().count(), 0);
        window.push(event(41), Instant::now());
        assert_eq!(window.since(40).unwrap().count(), 1);
        assert_eq!(expired(&window, 39), "too old resource version: 39 (40)");
    }

    #[test]
    fn evicted_events_move_the_window_forward() {
        let mut window = Window::new(0, None, 2);
        let now = Instant::now();
        for revision in 1..=4 {
            window.push(event(revision), now);
        }
        let kept: Vec<u64> = window.since(2).unwrap().map(|e| e.revision).collect();
        assert_eq!(kept, [3, 4]);
        assert_eq!(expired(&window, 1), "too old resource version: 1 (2)");
    }

    #[test]
    fn a_full_window_of_fresh_events_doubles_and_one_of_stale_events_halves() {
        let mut window = Window::new(0, None, 10_000);
        let start = Instant::now();
        for revision in 1..=250 {
            window.push(event(revision), start);
        }
        assert_eq!(window.capacity, 400);
        assert!(window.since(0).is_ok());
        let later = start + Duration::from_secs(120);
        for revision in 251..=400 {
            window.push(event(revision), later);
        }
        // Full of events older than 75 s at the quarter mark: halves, down to 200.
        window.push(event(401), later + Duration::from_secs(100));
        assert_eq!(window.capacity, 200);
        assert_eq!(window.events.len(), 200);
    }
}
