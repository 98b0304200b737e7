//! The `Retry-After` of APF's 429s, per priority level, as `droppedRequestsTracker`
//! (`k8s.io/apiserver/pkg/util/flowcontrol/dropped_requests_tracker.go`) derives it: 1 s to
//! start with; doubled (to 32 s at most, at most once per current value) while a level drops
//! at least 3 × that many requests within that many seconds, and lowered by one second at a
//! time once it drops fewer than that many. The count is by whole Unix seconds and is
//! re-evaluated when a request is dropped in a new second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest `Retry-After`.
const MAX_RETRY_AFTER: i64 = 32;

#[derive(Debug)]
struct Stats {
    /// Dropped requests of past seconds: (second, count).
    history: Vec<(i64, i64)>,
    current_second: i64,
    current_count: i64,
    retry_after: i64,
    raised_at: i64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            history: Vec::new(),
            current_second: 0,
            current_count: 0,
            retry_after: 1,
            raised_at: 0,
        }
    }
}

impl Stats {
    fn record(&mut self, now: i64) {
        if self.current_second == now {
            self.current_count += 1;
            return;
        }
        let last = self.current_second;
        self.history.push((last, self.current_count));
        let keep = (2 * self.retry_after).min(MAX_RETRY_AFTER);
        self.history.retain(|(second, _)| last - second <= keep);
        self.current_second = now;
        self.current_count = 1;
        let dropped: i64 = self
            .history
            .iter()
            .filter(|(second, _)| now - second <= self.retry_after && *second < now)
            .map(|(_, count)| count)
            .sum();
        if now - self.raised_at >= self.retry_after && dropped >= 3 * self.retry_after {
            self.retry_after = (self.retry_after * 2).min(MAX_RETRY_AFTER);
            self.raised_at = now;
        } else if dropped < self.retry_after && self.retry_after > 1 {
            self.retry_after -= 1;
        }
    }
}

/// Dropped requests by priority level.
#[derive(Debug, Default)]
pub(crate) struct DroppedRequests {
    levels: Mutex<HashMap<String, Stats>>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

impl DroppedRequests {
    /// Counts a request of `level` dropped now.
    pub(crate) fn record(&self, level: &str) {
        self.record_at(level, unix_now());
    }

    fn record_at(&self, level: &str, now: i64) {
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        levels.entry(level.to_owned()).or_default().record(now);
    }

    /// The `Retry-After` seconds for a request of `level` dropped now.
    pub(crate) fn retry_after(&self, level: &str) -> u64 {
        let levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        let seconds = levels.get(level).map_or(1, |s| s.retry_after);
        u64::try_from(seconds).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_doubles_under_sustained_drops_and_decays_when_they_stop() {
        let d = DroppedRequests::default();
        let t0 = 1_000_000;
        assert_eq!(d.retry_after("l"), 1);
        for _ in 0..5 {
            d.record_at("l", t0);
        }
        // The next second sees 5 ≥ 3 × 1 dropped in the last second: 2 s.
        d.record_at("l", t0 + 1);
        assert_eq!(d.retry_after("l"), 2);
        for _ in 0..10 {
            d.record_at("l", t0 + 2);
        }
        // 1 + 10 dropped within 2 s ≥ 3 × 2: 4 s.
        d.record_at("l", t0 + 3);
        assert_eq!(d.retry_after("l"), 4);
        // Quiet for a while: one drop much later finds fewer than 4 and lowers it by one.
        d.record_at("l", t0 + 100);
        assert_eq!(d.retry_after("l"), 3);
        assert_eq!(d.retry_after("other"), 1);
    }
}
