//! Enforcement: the seats of each `Limited` priority level, taken by a request while it
//! executes, and the queues of `limitResponse: Queue` levels
//! (`k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset`).
//!
//! Mirrored: a `Reject` level answers at once when its current limit is reached (reason
//! `concurrency-limit`); a `Queue` level lets the request wait and rejects it when its queue is
//! full (`queue-full`) or its wait limit passes (`time-out`).
//!
//! Approximated: every request takes one seat (the real work estimator gives big lists more
//! and mutating requests extra final seats while their watch events are sent, 10 at most);
//! queues are not shuffle-sharded and served by fair queuing but modelled as one line per
//! level in which a flow may hold `handSize × queueLengthLimit` requests and the level
//! `queues × queueLengthLimit`, woken in no particular order when a seat frees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::config::LimitResponse;

/// Why a request was not dispatched: the `reason` label of
/// `apiserver_flowcontrol_rejected_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A `Reject` level was full.
    ConcurrencyLimit,
    /// The request's queue was full.
    QueueFull,
    /// The request waited longer than its wait limit.
    TimeOut,
}

impl Reason {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ConcurrencyLimit => "concurrency-limit",
            Self::QueueFull => "queue-full",
            Self::TimeOut => "time-out",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    executing: u32,
    waiting: u32,
    waiting_by_flow: HashMap<String, u32>,
}

/// The seats and queue of one priority level (kept by name across configuration changes,
/// as the real controller keeps a level's queue set).
#[derive(Debug, Default)]
struct LevelSeats {
    counts: Mutex<Counts>,
    freed: Notify,
}

impl LevelSeats {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A seat held until dropped.
#[derive(Debug)]
pub(crate) struct Seat {
    level: Arc<LevelSeats>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        {
            let mut counts = self.level.lock();
            counts.executing = counts.executing.saturating_sub(1);
        }
        self.level.freed.notify_waiters();
    }
}

/// Leaves the queue when dropped (dispatched, timed out or cancelled).
struct Waiting<'a> {
    level: &'a LevelSeats,
    flow: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut counts = self.level.lock();
        counts.waiting = counts.waiting.saturating_sub(1);
        if let Some(n) = counts.waiting_by_flow.get_mut(self.flow) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.waiting_by_flow.remove(self.flow);
            }
        }
    }
}

/// The seats of every priority level.
#[derive(Debug, Default)]
pub(crate) struct Dispatcher {
    levels: Mutex<HashMap<String, Arc<LevelSeats>>>,
}

impl Dispatcher {
    fn level(&self, name: &str) -> Arc<LevelSeats> {
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        levels.entry(name.to_owned()).or_default().clone()
    }

    /// Takes a seat of level `name` with `limit` seats for a request of `flow`, waiting up to
    /// `wait_limit` in a `Queue` level.
    pub(crate) async fn acquire(
        &self,
        name: &str,
        limit: u32,
        response: LimitResponse,
        flow: &str,
        wait_limit: Duration,
    ) -> Result<Seat, Reason> {
        let level = self.level(name);
        let try_take = |counts: &mut Counts| {
            (counts.executing < limit).then(|| {
                counts.executing += 1;
                Seat {
                    level: level.clone(),
                }
            })
        };
        let (hand_size, queues, length) = match response {
            LimitResponse::Reject => {
                return try_take(&mut level.lock()).ok_or(Reason::ConcurrencyLimit);
            }
            LimitResponse::Queue {
                queues,
                hand_size,
                queue_length_limit,
            } => (hand_size, queues, queue_length_limit),
        };
        {
            let mut counts = level.lock();
            if counts.waiting == 0
                && let Some(seat) = try_take(&mut counts)
            {
                return Ok(seat);
            }
            let flow_waiting = counts.waiting_by_flow.get(flow).copied().unwrap_or(0);
            if flow_waiting >= hand_size.saturating_mul(length)
                || counts.waiting >= queues.saturating_mul(length)
            {
                return Err(Reason::QueueFull);
            }
            counts.waiting += 1;
            *counts.waiting_by_flow.entry(flow.to_owned()).or_insert(0) += 1;
        }
        let _waiting = Waiting {
            level: &level,
            flow,
        };
        let deadline = tokio::time::Instant::now() + wait_limit;
        loop {
            let freed = level.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a seat freed in between is not missed.
            freed.as_mut().enable();
            if let Some(seat) = try_take(&mut level.lock()) {
                return Ok(seat);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Reason::TimeOut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const QUEUE: LimitResponse = LimitResponse::Queue {
        queues: 2,
        hand_size: 1,
        queue_length_limit: 1,
    };
    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_reject_level_answers_at_once_when_its_seats_are_taken() {
        let d = Dispatcher::default();
        let a = d
            .acquire("l", 2, LimitResponse::Reject, "f", WAIT)
            .await
            .unwrap();
        let _b = d
            .acquire("l", 2, LimitResponse::Reject, "f", WAIT)
            .await
            .unwrap();
        let third = d.acquire("l", 2, LimitResponse::Reject, "f", WAIT).await;
        assert_eq!(third.err(), Some(Reason::ConcurrencyLimit));
        drop(a);
        assert!(
            d.acquire("l", 2, LimitResponse::Reject, "f", WAIT)
                .await
                .is_ok()
        );
        assert!(
            d.acquire("other", 1, LimitResponse::Reject, "f", WAIT)
                .await
                .is_ok(),
            "levels have their own seats"
        );
    }

    #[tokio::test]
    async fn a_queue_level_waits_for_a_seat_and_rejects_a_full_queue() {
        let d = Arc::new(Dispatcher::default());
        let first = d.acquire("q", 1, QUEUE, "f", WAIT).await.unwrap();
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move { d.acquire("q", 1, QUEUE, "f", WAIT).await.map(drop) })
        };
        while d.level("q").lock().waiting == 0 {
            tokio::task::yield_now().await;
        }
        // The flow's one queue slot is taken by the waiter.
        let full = d.acquire("q", 1, QUEUE, "f", WAIT).await;
        assert_eq!(full.err(), Some(Reason::QueueFull));
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_queued_request_times_out() {
        let d = Dispatcher::default();
        let _held = d.acquire("q", 1, QUEUE, "f", WAIT).await.unwrap();
        let late = d
            .acquire("q", 1, QUEUE, "g", Duration::from_millis(20))
            .await;
        assert_eq!(late.err(), Some(Reason::TimeOut));
    }
}
