//! The election's decisions, without I/O: given the Lease record as this process last saw it and
//! when, may it take or keep the Lease, and with which record.
//!
//! # Time
//! Expiry is judged as client-go judges it: by *this process's* monotonic clock, from the moment
//! it first saw the record in its current state, plus the record's own `leaseDurationSeconds`.
//! `renewTime` and `acquireTime` are written for people and tools (`kubectl get lease`) and never
//! compared with this process's clock: another host's wall clock may be minutes off. Only the
//! *rate* at which clocks run matters, and the margin between the lease duration and the renew
//! deadline covers it (see [`super`]).

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use std::time::{Duration, Instant};

/// The Lease record as this process last saw it.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The record.
    pub spec: LeaseSpec,
    /// The resourceVersion it was read or written at: the precondition of the next write.
    pub resource_version: Option<String>,
    /// When this process first saw the record in this state (a renewal changes `renewTime`, so
    /// every renewal restarts it).
    pub since: Instant,
}

/// What to do about the Lease now.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Write this record over the observed resourceVersion: a renewal of this process's lease, or
    /// a takeover of a free or expired one.
    Write(LeaseSpec),
    /// Someone else's lease is valid for `remaining` more (as this process counts).
    Wait {
        /// The holder.
        holder: String,
        /// How long until this process may take it over, if it is not renewed.
        remaining: Duration,
    },
}

/// The holder of a record, if it has one (`""` is no holder, as client-go writes it).
pub fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity
        .as_deref()
        .filter(|holder| !holder.is_empty())
}

/// How long the observed record stays valid after `now`, by this process's clock; zero once
/// expired.
pub fn remaining(observed: &Observed, now: Instant) -> Duration {
    let seconds = observed.spec.lease_duration_seconds.unwrap_or(0).max(0);
    let valid_until = observed.since + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    valid_until.saturating_duration_since(now)
}

/// Decides what `me` does about the observed record.
///
/// `last_written` is the record this process last wrote, if any. A record held under `me` that
/// is not it was written by another process using the same identity (two replicas with one host
/// name): that holder is treated as anyone else, so at most one of the two writes. A fresh
/// process (nothing written yet) that finds its own name is the same Pod restarted, and takes its
/// lease back at once, as client-go does.
pub fn decide(
    observed: &Observed,
    me: &str,
    last_written: Option<&LeaseSpec>,
    lease_duration_seconds: i32,
    now: Instant,
    wall_now: MicroTime,
) -> Decision {
    let old = &observed.spec;
    let mine = holder(old) == Some(me) && last_written.is_none_or(|written| written == old);
    if mine {
        return Decision::Write(LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(lease_duration_seconds),
            renew_time: Some(wall_now),
            ..old.clone()
        });
    }
    let left = remaining(observed, now);
    if let Some(holder) = holder(old)
        && !left.is_zero()
    {
        return Decision::Wait {
            holder: holder.to_string(),
            remaining: left,
        };
    }
    Decision::Write(acquired(
        me,
        lease_duration_seconds,
        wall_now,
        old.lease_transitions.unwrap_or(0).saturating_add(1),
    ))
}

/// The record of a new term of `me`.
pub fn acquired(
    me: &str,
    lease_duration_seconds: i32,
    wall_now: MicroTime,
    transitions: i32,
) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(lease_duration_seconds),
        acquire_time: Some(wall_now.clone()),
        renew_time: Some(wall_now),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// The record that gives the Lease up, as client-go's `ReleaseOnCancel` writes it: no holder, a
/// duration of one second, the transitions kept. A standby takes it at its next look.
pub fn released(old: &LeaseSpec, wall_now: MicroTime) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(wall_now.clone()),
        renew_time: Some(wall_now),
        lease_transitions: old.lease_transitions,
        ..LeaseSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn micro(offset_seconds: i64) -> MicroTime {
        MicroTime(Timestamp::from_second(1_700_000_000 + offset_seconds).expect("a valid time"))
    }

    fn held_by(holder: &str, renewed: MicroTime) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(micro(0)),
            renew_time: Some(renewed),
            lease_transitions: Some(3),
            ..LeaseSpec::default()
        }
    }

    fn seen(spec: LeaseSpec, since: Instant) -> Observed {
        Observed {
            spec,
            resource_version: Some("7".into()),
            since,
        }
    }

    #[test]
    fn another_holders_lease_is_valid_for_its_duration_after_it_was_seen_to_change() {
        let t0 = Instant::now();
        let observed = seen(held_by("a", micro(100)), t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            decide(&observed, "b", None, 15, at(14), micro(0)),
            Decision::Wait {
                holder: "a".into(),
                remaining: Duration::from_secs(1)
            }
        );
        match decide(&observed, "b", None, 15, at(15), micro(9)) {
            Decision::Write(spec) => {
                assert_eq!(spec.holder_identity.as_deref(), Some("b"));
                assert_eq!(spec.lease_transitions, Some(4), "a transition counted");
                assert_eq!(spec.acquire_time, Some(micro(9)));
                assert_eq!(spec.renew_time, Some(micro(9)));
                assert_eq!(spec.lease_duration_seconds, Some(15));
            }
            other => panic!("expired, taken over: {other:?}"),
        }
    }

    #[test]
    fn clock_skew_does_not_matter_only_when_the_record_was_seen() {
        // The holder's clock is a day behind (or ahead): its renewTime says nothing to a standby,
        // which counts from when it saw the record change.
        let t0 = Instant::now();
        for skew in [-86_400, 86_400] {
            let observed = seen(held_by("a", micro(skew)), t0);
            assert!(
                matches!(
                    decide(
                        &observed,
                        "b",
                        None,
                        15,
                        t0 + Duration::from_secs(5),
                        micro(0)
                    ),
                    Decision::Wait { .. }
                ),
                "skew {skew}: still valid for 10 s"
            );
        }
    }

    #[test]
    fn the_holder_renews_keeping_its_acquire_time_and_transitions() {
        let t0 = Instant::now();
        let mine = held_by("a", micro(100));
        let observed = seen(mine.clone(), t0);
        // Even long after the duration: it is still its own record, nobody changed it.
        match decide(
            &observed,
            "a",
            Some(&mine),
            15,
            t0 + Duration::from_secs(60),
            micro(160),
        ) {
            Decision::Write(spec) => {
                assert_eq!(spec.renew_time, Some(micro(160)));
                assert_eq!(spec.acquire_time, Some(micro(0)));
                assert_eq!(spec.lease_transitions, Some(3));
            }
            other => panic!("renewed: {other:?}"),
        }
    }

    #[test]
    fn a_restarted_process_takes_its_own_lease_back_at_once() {
        let observed = seen(held_by("a", micro(100)), Instant::now());
        assert!(matches!(
            decide(&observed, "a", None, 15, Instant::now(), micro(101)),
            Decision::Write(spec) if spec.lease_transitions == Some(3)
        ));
    }

    #[test]
    fn a_record_under_its_own_name_that_it_did_not_write_is_someone_elses() {
        let t0 = Instant::now();
        let written = held_by("a", micro(100));
        let theirs = held_by("a", micro(101));
        let observed = seen(theirs, t0);
        assert!(matches!(
            decide(&observed, "a", Some(&written), 15, t0, micro(102)),
            Decision::Wait { holder, .. } if holder == "a"
        ));
    }

    #[test]
    fn a_released_lease_is_free_at_once_and_keeps_its_transitions() {
        let t0 = Instant::now();
        let released = released(&held_by("a", micro(100)), micro(101));
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.lease_transitions, Some(3));
        let observed = seen(released, t0);
        assert!(matches!(
            decide(&observed, "b", None, 15, t0, micro(102)),
            Decision::Write(spec) if spec.lease_transitions == Some(4)
        ));
        // client-go writes an empty holder instead of none: the same.
        let empty = LeaseSpec {
            holder_identity: Some(String::new()),
            ..held_by("x", micro(0))
        };
        assert_eq!(holder(&empty), None);
    }
}
