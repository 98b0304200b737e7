//! Whether this process may write now: the one piece of state the elector sets and everything
//! else reads (the reconciler, the client's write gate, readiness, the diagnosis, metrics).

use super::metrics::LeaderMetrics;
use crate::readiness::Readiness;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// This process's leadership; cheap to clone, all clones share it.
///
/// Leading is a matter of time, not of a flag: the elector records until when the lease it
/// renewed lets this process write (the moment the renewal was *sent* plus the renew deadline),
/// and [`Leadership::is_leading`] compares that with the monotonic clock on every call. A leader
/// whose elector is stuck (a hung API server, a starved task) stops writing at that moment all
/// the same.
#[derive(Clone, Debug)]
pub struct Leadership {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    identity: String,
    /// `namespace/name` of the Lease, for logs, readiness and the diagnosis.
    lease: (String, String),
    state: Mutex<State>,
    /// Signalled whenever the last write in flight completes.
    drained: Notify,
    /// True while leading.
    leading: watch::Sender<bool>,
    /// The number of terms this process has led (one more every time it became leader).
    terms: watch::Sender<u64>,
    /// Who leads, as this process last saw it: itself, the holder of a valid Lease, or `None`
    /// (nobody, or the Lease cannot be read).
    leader: Mutex<Option<String>>,
    metrics: LeaderMetrics,
    readiness: Readiness,
}

#[derive(Debug, Default)]
struct State {
    /// Until when this process may write; `None`: a standby.
    valid_until: Option<Instant>,
    /// Writes let through whose answer has not come yet.
    in_flight: usize,
    // region: fault-catalogue
    /// The process takes part in no election (`no-leader-election`): it leads, always.
    outside_election: bool,
    // endregion: fault-catalogue
}

impl State {
    /// Whether a write may leave now: before the term's time runs out.
    fn may_write(&self) -> bool {
        // FAULT(no-leader-election): outside the election, at any time, whatever the Lease says.
        if self.outside_election {
            return true;
        }
        self.valid_until.is_some_and(|t| Instant::now() < t)
    }
}

/// A write let through the gate; the gate holds it until the write's answer arrives.
#[derive(Debug)]
pub struct WriteGuard {
    leadership: Leadership,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut state = self.leadership.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            self.leadership.inner.drained.notify_waiters();
        }
    }
}

/// A write this process may not send: it does not hold a valid Lease.
#[derive(Debug, thiserror::Error)]
#[error(
    "write refused: {identity} does not hold the Lease {lease} (a standby, or its lease lapsed); the leader writes"
)]
pub struct NotLeading {
    /// This process's identity.
    pub identity: String,
    /// `namespace/name` of the Lease.
    pub lease: String,
}

impl NotLeading {
    /// Whether `error`, or any error it wraps, is a [`NotLeading`].
    pub fn is_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut current = Some(error);
        while let Some(error) = current {
            if error.is::<NotLeading>() {
                return true;
            }
            current = error.source();
        }
        false
    }
}

impl Leadership {
    /// A process that takes part in the election: a standby until the elector acquires the
    /// Lease `namespace/name`.
    pub fn elected(
        identity: String,
        lease: (String, String),
        metrics: LeaderMetrics,
        readiness: Readiness,
    ) -> Self {
        let leadership = Self::new(identity, lease, metrics, readiness);
        leadership.say("standby: waiting for the Lease");
        leadership
    }

    // region: fault-catalogue
    /// A process that takes part in no election (the `no-leader-election` toggle): it leads,
    /// always, whatever the Lease says, and every one of its writes is counted as a write
    /// without a lease.
    pub fn unelected(
        identity: String,
        lease: (String, String),
        metrics: LeaderMetrics,
        readiness: Readiness,
    ) -> Self {
        let leadership = Self::new(identity, lease, metrics, readiness);
        leadership.state().outside_election = true;
        leadership.inner.leading.send_replace(true);
        leadership.inner.terms.send_replace(1);
        *leadership.leader() = Some(leadership.identity().to_string());
        leadership.inner.metrics.set_leader(true);
        leadership.say(&format!(
            "leader without election: {} writes without holding the Lease (fault toggle no-leader-election)",
            leadership.identity()
        ));
        leadership
    }

    /// Whether this process takes part in no election ([`Leadership::unelected`]).
    pub fn is_outside_election(&self) -> bool {
        self.state().outside_election
    }
    // endregion: fault-catalogue

    fn new(
        identity: String,
        lease: (String, String),
        metrics: LeaderMetrics,
        readiness: Readiness,
    ) -> Self {
        metrics.set_leader(false);
        Self {
            inner: Arc::new(Inner {
                identity,
                lease,
                state: Mutex::new(State::default()),
                drained: Notify::new(),
                leading: watch::channel(false).0,
                terms: watch::channel(0).0,
                leader: Mutex::new(None),
                metrics,
                readiness,
            }),
        }
    }

    /// This process's holder identity.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The Lease's namespace and name.
    pub fn lease(&self) -> (&str, &str) {
        (&self.inner.lease.0, &self.inner.lease.1)
    }

    /// Who leads as this process last saw it: its own identity while it leads, another
    /// replica's while that one holds a valid Lease, `None` when nobody does or the Lease cannot
    /// be read (then no replica may be reconciling at all).
    pub fn current_leader(&self) -> Option<String> {
        self.leader().clone()
    }

    /// Whether this process may reconcile and write now.
    pub fn is_leading(&self) -> bool {
        self.state().may_write()
    }

    /// True while leading.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.leading.subscribe()
    }

    /// The number of terms led so far; it changes at the start of every term, in which every
    /// Document is reconciled again. A term under way when this is called counts as a change.
    pub fn terms(&self) -> watch::Receiver<u64> {
        let mut terms = self.inner.terms.subscribe();
        if *terms.borrow() > 0 {
            terms.mark_changed();
        }
        terms
    }

    /// Lets one write through, or refuses it when this process does not lead. The check and
    /// the count of writes in flight happen under one lock, so [`Leadership::step_down`] cannot
    /// miss a write that passed just before it.
    pub fn admit_write(&self) -> Result<WriteGuard, NotLeading> {
        let mut state = self.state();
        if state.may_write() {
            state.in_flight += 1;
            // region: fault-catalogue
            if state.outside_election {
                self.inner.metrics.write_without_lease();
            }
            // endregion: fault-catalogue
            return Ok(WriteGuard {
                leadership: self.clone(),
            });
        }
        drop(state);
        self.inner.metrics.write_refused();
        Err(NotLeading {
            identity: self.inner.identity.clone(),
            lease: format!("{}/{}", self.inner.lease.0, self.inner.lease.1),
        })
    }

    /// The elector renewed (or acquired) the Lease: writes are allowed until `valid_until`.
    pub(super) fn renewed(&self, valid_until: Instant, transitions: Option<i32>) {
        self.state().valid_until = Some(valid_until);
        *self.leader() = Some(self.identity().to_string());
        if !self.inner.leading.send_replace(true) {
            self.inner.terms.send_modify(|terms| *terms += 1);
            self.inner.metrics.set_leader(true);
            self.inner.metrics.transition("acquired");
            let (namespace, name) = self.lease();
            tracing::info!(
                identity = self.identity(),
                lease = %format!("{namespace}/{name}"),
                lease_transitions = transitions.unwrap_or_default(),
                "became leader: reconciling every Document"
            );
            self.say(&format!("leader: {}", self.identity()));
        }
    }

    /// The elector saw that `holder` (`None`: nobody, or the Lease could not be read) holds the
    /// Lease while this process does not.
    pub(super) fn observed_holder(&self, holder: Option<&str>) {
        *self.leader() = holder.map(str::to_string);
        self.say(&match holder {
            Some(holder) => format!("standby: the leader is {holder}"),
            None => "standby: the Lease is free".to_string(),
        });
    }

    /// The elector cannot read or take the Lease (`error`): who leads is unknown, perhaps
    /// nobody.
    pub(super) fn lease_unknown(&self, error: &str) {
        *self.leader() = None;
        self.say(&format!("standby: cannot read or take the Lease: {error}"));
    }

    /// Ends this term if its time has run out without a renewal; returns whether it did.
    pub(super) fn expire_if_due(&self) -> bool {
        let lapsed = self
            .state()
            .valid_until
            .is_some_and(|t| Instant::now() >= t);
        if lapsed {
            self.stop(
                "lost",
                "could not renew the Lease within the renew deadline",
            );
        }
        lapsed
    }

    /// How long this term has left, if this process leads.
    pub(super) fn time_left(&self) -> Option<Duration> {
        self.state()
            .valid_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Stops leading now (`transition`: `lost` or `released`), saying why.
    pub(super) fn stop(&self, transition: &'static str, why: &str) {
        self.state().valid_until = None;
        *self.leader() = None;
        if self.inner.leading.send_replace(false) {
            self.inner.metrics.set_leader(false);
            self.inner.metrics.transition(transition);
            let (namespace, name) = self.lease();
            if transition == "released" {
                tracing::info!(identity = self.identity(), lease = %format!("{namespace}/{name}"), "stopped leading: {why}");
            } else {
                tracing::warn!(identity = self.identity(), lease = %format!("{namespace}/{name}"), "stopped leading: {why}");
            }
            self.say("standby: stopped leading");
        }
    }

    /// Stops letting writes through and waits, at most `within`, until every write already let
    /// through has been answered: after that, nothing this process sent can still land. Returns
    /// whether they all were.
    pub(super) async fn step_down(&self, within: Duration) -> bool {
        self.state().valid_until = None;
        let drained = async {
            loop {
                let notified = self.inner.drained.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.state().in_flight == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, drained).await.is_ok()
    }

    /// A process that leads for the next hour, for tests of what a leader does.
    #[cfg(test)]
    pub(crate) fn leading_for_tests() -> Self {
        let metrics = LeaderMetrics::new(&prometheus::Registry::new()).expect("metrics register");
        let leadership = Self::elected(
            "test".into(),
            ("default".into(), "doc-controller".into()),
            metrics,
            Readiness::new(),
        );
        leadership.renewed(Instant::now() + Duration::from_secs(3600), None);
        leadership
    }

    fn say(&self, line: &str) {
        self.inner.readiness.set_leader_line(line);
    }

    fn leader(&self) -> MutexGuard<'_, Option<String>> {
        self.inner
            .leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `make` (`Leadership::elected`, ...) gives for identity `a`, its readiness and its
    /// metrics.
    fn leadership(
        make: fn(String, (String, String), LeaderMetrics, Readiness) -> Leadership,
    ) -> (Leadership, Readiness, prometheus::Registry) {
        let registry = prometheus::Registry::new();
        let metrics = LeaderMetrics::new(&registry).expect("metrics");
        let readiness = Readiness::new();
        let lease = ("ops".to_string(), "doc-controller".to_string());
        let leadership = make("a".into(), lease, metrics, readiness.clone());
        (leadership, readiness, registry)
    }

    fn value(registry: &prometheus::Registry, name: &str) -> f64 {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .map(|m| {
                if m.get_gauge().has_value() {
                    m.get_gauge().value()
                } else {
                    m.get_counter().value()
                }
            })
            .sum()
    }

    #[tokio::test]
    async fn a_standby_refuses_writes_and_a_leader_lets_them_through_until_its_deadline() {
        let (leadership, readiness, registry) = leadership(Leadership::elected);
        assert!(!leadership.is_leading());
        assert!(leadership.admit_write().is_err());
        assert_eq!(value(&registry, "doc_controller_writes_refused_total"), 1.0);
        assert_eq!(
            readiness.leader_line().as_deref(),
            Some("standby: waiting for the Lease")
        );

        let mut terms = leadership.subscribe();
        leadership.renewed(Instant::now() + Duration::from_millis(200), Some(1));
        assert!(terms.has_changed().expect("open") && *terms.borrow_and_update());
        assert!(leadership.is_leading());
        let write = leadership.admit_write().expect("a leader writes");
        assert_eq!(value(&registry, "doc_controller_leader"), 1.0);
        assert_eq!(readiness.leader_line().as_deref(), Some("leader: a"));
        drop(write);

        // No renewal: the deadline passes and the gate closes by itself, before the elector
        // notices.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!leadership.is_leading());
        let refused = leadership.admit_write().expect_err("lapsed");
        assert_eq!(
            refused.to_string(),
            "write refused: a does not hold the Lease ops/doc-controller (a standby, or its lease lapsed); the leader writes"
        );
        assert!(
            leadership.expire_if_due(),
            "the elector notices at its next look"
        );
        assert!(!*terms.borrow_and_update());
        assert_eq!(value(&registry, "doc_controller_leader"), 0.0);
    }

    #[tokio::test]
    async fn stepping_down_waits_for_the_writes_in_flight() {
        let (leadership, _, _) = leadership(Leadership::elected);
        leadership.renewed(Instant::now() + Duration::from_secs(10), None);
        let write = leadership.admit_write().expect("leading");
        let stepping = tokio::spawn({
            let leadership = leadership.clone();
            async move { leadership.step_down(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!stepping.is_finished(), "waits for the write in flight");
        assert!(
            leadership.admit_write().is_err(),
            "no new write once stepping down"
        );
        drop(write);
        assert!(stepping.await.expect("no panic"), "drained");
    }

    // region: fault-catalogue
    #[tokio::test]
    async fn without_an_election_every_write_passes_and_is_counted() {
        let (leadership, readiness, registry) = leadership(Leadership::unelected);
        assert!(leadership.is_leading());
        assert!(*leadership.subscribe().borrow());
        drop(leadership.admit_write().expect("passes"));
        drop(leadership.admit_write().expect("passes"));
        assert_eq!(
            value(&registry, "doc_controller_writes_without_lease_total"),
            2.0
        );
        assert!(
            readiness
                .leader_line()
                .is_some_and(|l| l.contains("no-leader-election"))
        );
    }
    // endregion: fault-catalogue
}
