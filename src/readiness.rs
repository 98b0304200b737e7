//! Whether this replica is doing its job, for `/readyz` (see [`crate::admin`]): the flags the
//! controller sets as it starts, runs and stops, and the API server's reachability that
//! [`crate::api_health`] reports. A standby is ready: it is doing its job, being ready to lead
//! ([`crate::leader`]); who leads is reported beside readiness, not as a condition of it.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

/// The readiness state, shared between the controller (which sets the flags) and `/readyz`.
///
/// Cloning is cheap and all clones share the same flags. Preflight and stores only ever go from
/// false to true: a replica that was ready and then gets watch errors stays ready (the watcher
/// retries), and shutting down is final. The API server's reachability is the one condition that
/// comes and goes: set by a request that got no answer (a timeout or a connection error), cleared
/// by the next answer of any status, so `/readyz` tells "the API server cannot be reached from
/// here" (a NetworkPolicy, an outage) apart from everything else.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    flags: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    preflight_passed: AtomicBool,
    stores_ready: AtomicBool,
    shutting_down: AtomicBool,
    /// The last error of a request that got no answer, until the next answer.
    api_unreachable: Mutex<Option<String>>,
    /// Who leads, as the leader election last said (see [`crate::leader`]); not a condition of
    /// readiness: a standby is ready.
    leader: Mutex<Option<String>>,
}

impl Readiness {
    /// Not ready: preflight has not passed and the stores are not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the preflight checks (CRD installed, permissions granted) passed.
    pub fn set_preflight_passed(&self) {
        self.flags.preflight_passed.store(true, Ordering::Relaxed);
    }

    /// Whether the preflight checks passed.
    pub fn preflight_passed(&self) -> bool {
        self.flags.preflight_passed.load(Ordering::Relaxed)
    }

    /// Records that every reflector store has received its initial list.
    pub fn set_stores_ready(&self) {
        self.flags.stores_ready.store(true, Ordering::Relaxed);
    }

    /// Records that shutdown has begun; `/readyz` answers 503 from now on.
    pub fn set_shutting_down(&self) {
        self.flags.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Records that a request to the API server got no answer, and why (the timeout or
    /// connection error); `/readyz` answers 503 until [`Readiness::set_api_reachable`].
    pub fn set_api_unreachable(&self, error: impl Into<String>) {
        *self.api_unreachable() = Some(error.into());
    }

    /// Records that the API server answered a request (with any status).
    pub fn set_api_reachable(&self) {
        let mut unreachable = self.api_unreachable();
        if unreachable.is_some() {
            *unreachable = None;
        }
    }

    /// Why the API server counts as unreachable now, if it does.
    pub fn unreachable_reason(&self) -> Option<String> {
        self.api_unreachable().clone()
    }

    fn api_unreachable(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.flags
            .api_unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records who leads, for the last line of `/readyz`'s body (`leader: <identity>`,
    /// `standby: the leader is <identity>`).
    pub fn set_leader_line(&self, line: &str) {
        *self
            .flags
            .leader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(line.to_owned());
    }

    /// Who leads, as last recorded; `None` before the election started.
    pub fn leader_line(&self) -> Option<String> {
        self.flags
            .leader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether this replica is ready: preflight passed, stores ready, the API server answering,
    /// and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.reasons_not_ready().is_empty()
    }

    /// Why this replica is not ready, in the order the conditions are normally met; empty when
    /// it is ready.
    pub fn reasons_not_ready(&self) -> Vec<String> {
        let flags = &self.flags;
        let mut reasons = Vec::new();
        if !flags.preflight_passed.load(Ordering::Relaxed) {
            reasons.push("preflight checks have not passed".to_owned());
        }
        if !flags.stores_ready.load(Ordering::Relaxed) {
            reasons.push("stores have not received their initial list".to_owned());
        }
        if let Some(error) = self.api_unreachable().as_deref() {
            reasons.push(format!("API server unreachable: {error}"));
        }
        if flags.shutting_down.load(Ordering::Relaxed) {
            reasons.push("shutting down".to_owned());
        }
        reasons
    }
}
