//! What the suite measures, from the controller's own `/metrics`, and the bounds it holds the
//! figures to: each derived from a backoff the controller (or kube) is built with, never a
//! wall-clock guess.
//!
//! Every request of the controller is counted in `doc_controller_api_requests_total`, failed
//! ones too (`code="error"`: no connection; `"429"`, `"403"`: refused), each attempt of kube's
//! client retries included (the retry layer sits outside the metrics layer, see `App::start`).
//! A case samples it before and after a fault; the difference over the time between is the
//! request rate during the fault.

use crate::support::Binary;
use doc_controller::error::RetryClass;
use kube_apiserver_sandbox::testkit::Metrics;
use std::time::Duration;
use tokio::time::Instant;

/// kube's `DefaultBackoff` for watches (`WatchStreamExt::default_backoff`): 800 ms, doubling, at
/// most 30 s. Its jitter only adds to each delay, so these nominal delays are the shortest
/// possible: a bound on attempts computed from them holds with jitter too.
pub const WATCH_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(800), Duration::from_secs(30));

/// The shortest `Retry-After` of a 429: whole seconds, at least 1 (the sandbox's throttling
/// and API Priority and Fairness alike). kube's client waits at least that long before it
/// sends a rejected request again.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How often kube's client sends one request at most (`RetryPolicy::server_retry`: 15 retries
/// of 429, 503 and 504), so a request is rejected at most this many times before it fails.
pub const CLIENT_ATTEMPTS: u32 = 16;

/// Requesters of the controller besides its reconciles and watches, each one request at a
/// time: the index writer (one batched write in flight) and the self-diagnosis (one LIST per
/// window, and the Events of its findings).
pub const BACKGROUND_REQUESTERS: u32 = 2;

/// The controller's `/metrics` at one moment.
pub struct Sample {
    /// When it was read.
    pub at: Instant,
    metrics: Metrics,
}

impl Sample {
    /// Reads the binary's `/metrics` now.
    pub async fn of(binary: &Binary) -> Sample {
        let metrics = Metrics::parse(&binary.metrics().await);
        Sample {
            at: Instant::now(),
            metrics,
        }
    }

    /// The sum of the series of `name` with all of `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics.sum(name, labels)
    }

    /// Every request sent to the API server so far, answered or not.
    pub fn requests(&self) -> f64 {
        self.get("doc_controller_api_requests_total", &[])
    }

    /// Reconciles so far, whatever their result.
    pub fn reconciles(&self) -> f64 {
        self.get("doc_controller_reconcile_total", &[])
    }

    /// How many watches the controller keeps (one series of `doc_controller_open_watches` per
    /// watched resource).
    pub fn watches(&self) -> u32 {
        let count = self
            .metrics
            .samples()
            .iter()
            .filter(|s| s.name == "doc_controller_open_watches")
            .count();
        u32::try_from(count).expect("a handful of watches")
    }
}

/// What changed between two samples.
pub struct Interval {
    /// The first sample.
    pub before: Sample,
    /// The second.
    pub after: Sample,
}

impl Interval {
    /// Its length.
    pub fn duration(&self) -> Duration {
        self.after.at - self.before.at
    }

    /// How much `metric` (with `labels`) grew.
    pub fn delta(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.get(metric, labels) - self.before.get(metric, labels)
    }

    /// Requests sent during the interval.
    pub fn requests(&self) -> f64 {
        self.after.requests() - self.before.requests()
    }

    /// Requests answered (or not) with `code` during the interval.
    pub fn requests_with(&self, code: &str) -> f64 {
        self.delta("doc_controller_api_requests_total", &[("code", code)])
    }

    /// Reconciles during the interval.
    pub fn reconciles(&self) -> f64 {
        self.after.reconciles() - self.before.reconciles()
    }

    /// `count` per second of the interval.
    pub fn per_second(&self, count: f64) -> f64 {
        count / self.duration().as_secs_f64()
    }
}

/// How many attempts one caller makes within `window` at most, if it tries once at the start
/// and then waits `first`, twice that, and so on up to `cap`, between attempts.
pub fn attempts_within(first: Duration, cap: Duration, window: Duration) -> u32 {
    let (mut elapsed, mut delay, mut attempts) = (Duration::ZERO, first, 1);
    loop {
        elapsed += delay;
        if elapsed > window {
            return attempts;
        }
        attempts += 1;
        delay = (delay * 2).min(cap);
    }
}

/// Attempts one Document's reconciles make within `window` when each fails with an error of
/// `class` (`error_policy`'s exponential backoff per Document).
pub fn reconcile_attempts(class: RetryClass, window: Duration) -> u32 {
    attempts_within(class.base_delay(), class.max_delay(), window)
}

/// Attempts one watch makes within `window` while each fails: the re-watch right after the
/// stream ended (no backoff: an ended stream is no error), then kube's [`WATCH_BACKOFF`].
pub fn watch_attempts(window: Duration) -> u32 {
    1 + attempts_within(WATCH_BACKOFF.0, WATCH_BACKOFF.1, window)
}

/// The most requests the controller sends in `window` while every request fails without being
/// retried by kube's client (refused connections, 403s), if every path backs off as built:
/// each of `documents` Documents retries its reconcile with `class`'s backoff (a reconcile ends
/// at its first failed request), each watch with kube's backoff, and the self-diagnosis lists
/// at most once per `diagnosis_window` and publishes at most one Event per finding.
pub fn failing_requests_bound(
    documents: usize,
    class: RetryClass,
    watches: u32,
    diagnosis_window: Duration,
    window: Duration,
) -> f64 {
    let reconciles = documents as f64 * f64::from(reconcile_attempts(class, window));
    let watches = f64::from(watches * watch_attempts(window));
    let diagnosis = (window.as_secs_f64() / diagnosis_window.as_secs_f64()).ceil() + 1.0;
    let findings = doc_controller::diagnosis::Finding::ALL.len() as f64;
    reconciles + watches + diagnosis + findings
}

/// The most 429s the controller receives in `window` if kube's client honours `Retry-After`:
/// each of `requesters` (reconciles running at once, watches, background tasks) has one
/// request in flight at a time, and after each 429 it waits [`MIN_RETRY_AFTER`] at least,
/// except after the last of a request's [`CLIENT_ATTEMPTS`], when the request fails and its
/// requester may start the next one at once.
pub fn rejected_requests_bound(requesters: u32, window: Duration) -> f64 {
    let waits = window.as_secs_f64() / MIN_RETRY_AFTER.as_secs_f64();
    let per_requester = waits * f64::from(CLIENT_ATTEMPTS) / f64::from(CLIENT_ATTEMPTS - 1) + 1.0;
    f64::from(requesters) * per_requester
}

/// One figure of a case, printed for the README (`-- --nocapture` shows them).
pub fn figure(case: &str, what: &str, value: impl std::fmt::Display) {
    println!("figure | {case} | {what} | {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_count_the_first_and_every_retry_within_the_window() {
        let s = Duration::from_secs;
        // Retries at 0.5, 1.5, 3.5, 7.5 s.
        assert_eq!(attempts_within(Duration::from_millis(500), s(60), s(5)), 4);
        assert_eq!(attempts_within(Duration::from_millis(500), s(60), s(0)), 1);
        // Capped at 1 s: retries at 1, 2, 3, 4, 5 s.
        assert_eq!(attempts_within(s(1), s(1), s(5)), 6);
    }
}
