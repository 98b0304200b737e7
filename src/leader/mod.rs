//! Leader election on a `coordination.k8s.io/v1` Lease, and standby replicas.
//!
//! Run two or three replicas: one leads (reconciles and writes), the others are standbys with
//! warm caches, ready to take over within a couple of seconds when the leader shuts down, or
//! within a lease duration when it dies or is cut off.
//!
//! # Why written here
//! No maintained crate fits kube 5 and client-go's semantics (checked on crates.io and docs.rs):
//! `kube-lease-manager` 0.13 is on kube 5, but judges expiry from the holder's `renewTime`
//! against the local wall clock (so a skewed clock makes two leaders), writes with server-side
//! apply and strategic merge patches without resourceVersion preconditions, counts
//! `leaseTransitions` in a second write, and has no renew deadline; `kube-leader-election` 0.44
//! is on kube 4, kubert 0.25's lease module on kube 1.1, `kube-coordinate` on kube 2. So it is a
//! few hundred lines modelled on client-go's `tools/leaderelection`: [`record`] decides (pure,
//! tested with numbers), [`elector`] asks and writes, [`gate`] enforces, [`leadership`] is the
//! state they share.
//!
//! # Expected flow
//! 1. At start (after the CRD preflight) the process is a standby: its watches fill the caches,
//!    `/readyz` turns 200, reconciles return at once without a request, and the client's
//!    [`gate`] refuses every write before it leaves the process.
//! 2. The elector reads the Lease every retry period (with client-go's jitter: 1 to 2.2
//!    periods). A Lease that is missing, free, or unchanged for its `leaseDurationSeconds` *as
//!    this process counts* is taken with an update over the resourceVersion just read: of two
//!    standbys trying at once, the API server lets one through and answers the other 409.
//! 3. Leading, it renews every retry period (an update over the record it last wrote) and
//!    reconciles every Document once, as on a start, then on every change as usual.
//! 4. On SIGTERM: readiness turns false, the controller stops taking work and drains its
//!    reconciles, the gate closes and waits until every write let through has been answered,
//!    and then the Lease is released (no holder, `leaseDurationSeconds: 1`, as client-go's
//!    `ReleaseOnCancel` writes it): a standby takes over at its next look.
//!
//! # Guarantees
//! * **No write after the lease could have expired elsewhere.** A write passes the gate only
//!   before *the moment the last successful renewal was sent* plus the renew deadline, measured
//!   on this process's monotonic clock ([`Leadership::is_leading`]; no flag to forget to clear).
//!   Another process may take over only a lease duration after it *saw* that renewal, which it
//!   cannot see before it was sent. The difference, lease duration minus renew deadline (5 s with
//!   the defaults), is the tolerance for clocks running at different rates (a ratio of 15:10,
//!   client-go's reasoning) and for a write's way to the API server. Wall clocks are never
//!   compared: skew between hosts does not matter ([`record`]).
//! * **A leader that cannot renew stops writing in time.** It keeps trying until the renew
//!   deadline; reconciles in flight then are not cancelled, but each write they attempt is
//!   refused before it is sent ([`NotLeading`]), so they fail, and `error_policy` does not retry
//!   them here: the new leader reconciles every Document when it takes over. When the API server
//!   answers again and the Lease is still this process's record, it renews and leads again;
//!   otherwise it stays a standby with warm caches (no restart).
//! * **A standby writes nothing**: no status, ConfigMap, index entry or Event (the diagnosis
//!   skips its Events too); the gate would refuse them anyway.
//! * **A released Lease is taken within one jittered retry period** (2 to 4.4 s by default), not
//!   a lease duration.
//!
//! # Readiness
//! A standby is Ready (`/readyz` 200 once its caches are synced): readiness says "this replica
//! can do its job", and a standby's job is to be ready to lead. The Deployment's rolling update
//! waits for new Pods to be Ready before it stops old ones, and a PodDisruptionBudget counts
//! Ready Pods; an unready standby would stall every rollout and make every voluntary eviction
//! look like an outage. No traffic is routed by readiness (a Service, if any, is for scraping
//! metrics). The body's last line says who leads: `leader: <identity>`,
//! `standby: the leader is <identity>`. Whether *anyone* leads is an alert on
//! `doc_controller_leader` summed over the replicas, not a probe.
//!
//! # Caveats
//! * A Lease is not a fence (client-go says the same). Every write *leaves* within the term, but
//!   one already sent when the leader was cut off can be held in the network (a stalled proxy,
//!   TCP retransmissions once a partition heals) and land after the new leader started: the
//!   margin covers a write's way only as long as the network delivers or drops it in time. The
//!   API deadline (`--api-timeout`) bounds how long this process waits for an answer, not how long
//!   the network holds the request. The writes are idempotent (server-side apply of what the
//!   spec said), so a late one repeats what the new leader writes, or, if the Document changed
//!   meanwhile, is seen by the new leader's watches and repaired. The diagnosis sends no Event
//!   while the API server does not answer, so a partition itself produces none.
//! * Identities must be unique. Two processes with one identity (two local runs on one host
//!   with the default, the host name) would both believe they lead; the elector treats a record
//!   under its own name that it did not write as someone else's, so one of them backs off
//!   ([`record::decide`]).
//! * The toggle `no-leader-election` switches all of this off ([`leadership`]): every replica
//!   reconciles and writes.

pub mod elector;
pub mod gate;
pub mod leadership;
pub mod metrics;
pub mod record;
pub mod settings;

pub use elector::Election;
pub use gate::WriteGateLayer;
pub use leadership::{Leadership, NotLeading};
pub use metrics::LeaderMetrics;
pub use settings::Settings;

use crate::config::Config;
use crate::fault::Fault;
use crate::readiness::Readiness;

/// This process's leadership for `config`: a standby that takes part in the election for the
/// Lease, the right way; `identity` is resolved by the caller ([`Settings::identity`]).
pub fn leadership(
    config: &Config,
    identity: String,
    metrics: LeaderMetrics,
    readiness: Readiness,
) -> Leadership {
    let settings = &config.leader_election;
    let lease = (
        settings.lease_namespace(config.namespace.as_deref()),
        settings.lease_name.clone(),
    );
    // FAULT(no-leader-election): no election: every replica reconciles and writes at once, each
    // unaware of the others; with two replicas every Event is published twice (two
    // `reportingInstance`s) and the same writes race. Fix: take part in the election, and write
    // only while holding the Lease (the write gate).
    if config.faults.is_on(Fault::NoLeaderElection) {
        return Leadership::unelected(identity, lease, metrics, readiness);
    }
    Leadership::elected(identity, lease, metrics, readiness)
}
