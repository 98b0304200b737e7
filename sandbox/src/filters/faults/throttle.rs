//! Per-user throttling for the `throttle` and `maxInFlight` faults: a token bucket (rate
//! and burst) and a concurrency count, each kept per fault and user like API Priority and
//! Fairness gives each flow its own share
//! (<https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::FaultId;

type Key = (FaultId, String);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets and in-flight counts of the throttle faults.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: Mutex<HashMap<Key, Bucket>>,
    in_flight: Arc<Mutex<HashMap<Key, u32>>>,
}

/// A request counted as in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    counts: Arc<Mutex<HashMap<Key, u32>>>,
    key: Key,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Limiter {
    /// Takes a token from the user's bucket of fault `id`; `Err(wait)` when empty, with
    /// how long until the next token.
    pub(crate) fn take(
        &self,
        id: FaultId,
        user: &str,
        qps: f64,
        burst: u32,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let capacity = f64::from(burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry((id, user.to_owned())).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * qps.max(0.0)).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if qps > 0.0 {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / qps))
        } else {
            Err(Duration::from_secs(1))
        }
    }

    /// Counts a request of the user in flight under fault `id`, unless `limit` are already.
    pub(crate) fn enter(&self, id: FaultId, user: &str, limit: u32) -> Option<InFlight> {
        let key = (id, user.to_owned());
        let mut counts = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(InFlight {
            counts: self.in_flight.clone(),
            key,
        })
    }

    /// Drops the state of a removed fault.
    pub(crate) fn forget(&self, id: FaultId) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _), _| *i != id);
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _), _| *i != id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_bucket_allows_the_burst_then_asks_to_wait_for_the_next_token() {
        let limiter = Limiter::default();
        assert!(limiter.take(1, "u", 1.0, 2).is_ok());
        assert!(limiter.take(1, "u", 1.0, 2).is_ok());
        let wait = limiter.take(1, "u", 1.0, 2).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(
            limiter.take(1, "other", 1.0, 2).is_ok(),
            "users have their own buckets"
        );
    }

    #[test]
    fn in_flight_slots_are_returned_when_the_request_ends() {
        let limiter = Limiter::default();
        let first = limiter.enter(1, "u", 1);
        assert!(first.is_some());
        assert!(limiter.enter(1, "u", 1).is_none());
        drop(first);
        assert!(limiter.enter(1, "u", 1).is_some());
    }
}
