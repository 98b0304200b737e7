//! What the election shows on `/metrics`: whether this process leads, how often that changed,
//! and the writes its gate stopped or let through without a lease.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The values of the `transition` label of `doc_controller_leader_transitions_total`.
pub const TRANSITIONS: [&str; 3] = ["acquired", "lost", "released"];

/// The election's metrics; cheap to clone (the collectors are reference counted).
#[derive(Clone, Debug)]
pub struct LeaderMetrics {
    leader: IntGauge,
    transitions_total: IntCounterVec,
    writes_refused_total: IntCounter,
    writes_without_lease_total: IntCounter,
}

impl LeaderMetrics {
    /// Creates the metrics, every series at 0, and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            leader: IntGauge::new(
                "doc_controller_leader",
                "1 while this process leads: it holds the Lease (or, with the no-leader-election toggle, writes without one), 0 while it is a standby.",
            )?,
            transitions_total: IntCounterVec::new(
                Opts::new(
                    "doc_controller_leader_transitions_total",
                    "Times this process became leader (acquired), stopped leading because it could not renew within the renew deadline or saw another holder (lost), or gave the Lease up on shutdown (released).",
                ),
                &["transition"],
            )?,
            writes_refused_total: IntCounter::new(
                "doc_controller_writes_refused_total",
                "Writes stopped in this process, before they were sent, because it did not hold a valid Lease (a lease lost while reconciles were in flight).",
            )?,
            writes_without_lease_total: IntCounter::new(
                "doc_controller_writes_without_lease_total",
                "Writes sent without holding the Lease (only with the no-leader-election toggle): every other replica may be writing the same objects.",
            )?,
        };
        registry.register(Box::new(metrics.leader.clone()))?;
        registry.register(Box::new(metrics.transitions_total.clone()))?;
        registry.register(Box::new(metrics.writes_refused_total.clone()))?;
        registry.register(Box::new(metrics.writes_without_lease_total.clone()))?;
        for transition in TRANSITIONS {
            metrics
                .transitions_total
                .with_label_values(&[transition])
                .reset();
        }
        Ok(metrics)
    }

    /// Sets `doc_controller_leader`.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Counts one transition, one of [`TRANSITIONS`].
    pub fn transition(&self, transition: &'static str) {
        self.transitions_total
            .with_label_values(&[transition])
            .inc();
    }

    /// Counts a write the gate refused.
    pub fn write_refused(&self) {
        self.writes_refused_total.inc();
    }

    /// Counts a write sent without a lease.
    pub fn write_without_lease(&self) {
        self.writes_without_lease_total.inc();
    }
}
