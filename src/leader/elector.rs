//! The election loop: client-go's `tryAcquireOrRenew`, `acquire`, `renew` and `release`, on a
//! `coordination.k8s.io/v1` Lease, with its I/O; the decisions are in [`super::record`].
//!
//! Every write of the Lease is an update (`PUT`) over the resourceVersion this process last
//! saw, so of two processes that decide at the same moment to take a free Lease, the API server
//! lets exactly one through and answers the other `409 Conflict`.

use super::leadership::Leadership;
use super::record::{self, Decision, Observed};
use super::settings::{JITTER_FACTOR, Settings};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The election, running; [`Election::resign`] ends it.
pub struct Election {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Elector>,
}

/// What one attempt found.
#[derive(Debug)]
enum Attempt {
    /// This process holds the Lease; the write that said so was sent at `sent`.
    Held {
        sent: Instant,
        transitions: Option<i32>,
    },
    /// Someone else holds it (`None`: it is free but another process wrote first).
    Waiting { holder: Option<String> },
}

/// The elector's own state: what it last saw of the Lease and what it last wrote.
struct Elector {
    api: Api<Lease>,
    name: String,
    settings: Settings,
    leadership: Leadership,
    observed: Option<Observed>,
    /// The Lease's metadata as last seen (labels and annotations others set are kept on update).
    metadata: ObjectMeta,
    /// The record this process last wrote, as the API server returned it.
    last_written: Option<LeaseSpec>,
    /// The last holder reported, to log each new one once.
    reported_holder: Option<Option<String>>,
    /// The last failure logged, to log each new one once.
    last_error: Option<String>,
}

impl Election {
    /// Starts taking part in the election for the Lease `namespace/name` of `settings` through
    /// `client` (which must not be the gated client: a standby writes the Lease to acquire it).
    pub fn start(client: kube::Client, settings: Settings, leadership: Leadership) -> Self {
        let (namespace, name) = leadership.lease();
        let api = Api::namespaced(client, namespace);
        let name = name.to_string();
        tracing::info!(
            identity = leadership.identity(),
            lease = %format!("{namespace}/{name}"),
            lease_duration = %humantime::format_duration(settings.lease_duration),
            renew_deadline = %humantime::format_duration(settings.renew_deadline),
            retry_period = %humantime::format_duration(settings.retry_period),
            "taking part in the leader election"
        );
        let elector = Elector {
            api,
            name,
            settings,
            leadership,
            observed: None,
            metadata: ObjectMeta::default(),
            last_written: None,
            reported_holder: None,
            last_error: None,
        };
        let (stop, stopped) = oneshot::channel();
        Self {
            stop,
            task: tokio::spawn(elector.run(stopped)),
        }
    }

    /// Leaves the election: stops writing (waiting, at most `within`, for the writes in flight to
    /// be answered), then gives the Lease up if this process holds it, so that a standby takes
    /// over at its next look instead of after a lease duration. Call it once nothing is left to
    /// write: client-go's `ReleaseOnCancel` has the same rule.
    pub async fn resign(self, within: Duration) {
        let _ = self.stop.send(());
        let Ok(mut elector) = self.task.await else {
            return;
        };
        let drained = elector.leadership.step_down(within).await;
        if !drained {
            tracing::warn!(
                "writes still unanswered after {}; not releasing the Lease, it expires by itself",
                humantime::format_duration(within)
            );
            elector
                .leadership
                .stop("lost", "shutting down with writes unanswered");
            return;
        }
        match tokio::time::timeout(within, elector.release()).await {
            Ok(Ok(true)) => elector
                .leadership
                .stop("released", "released the Lease for a standby to take over"),
            Ok(Ok(false)) => elector.leadership.stop("lost", "shutting down"),
            Ok(Err(error)) => {
                elector.leadership.stop("lost", "shutting down");
                tracing::warn!(%error, "could not release the Lease; it expires by itself");
            }
            Err(_) => {
                elector.leadership.stop("lost", "shutting down");
                tracing::warn!("releasing the Lease took too long; it expires by itself");
            }
        }
    }
}

// === impl Elector ===

impl Elector {
    /// client-go's `acquire` then `renew`, in one loop that goes on after a lost term: this
    /// process keeps its caches and becomes a standby again.
    async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Self {
        let leadership = self.leadership.clone();
        let renew_deadline = self.settings.renew_deadline;
        loop {
            leadership.expire_if_due();
            // Not cancelled by `stop`: a renewal cut off mid-flight may still land, and the
            // release needs to know what it wrote.
            let attempt = {
                let attempt = tokio::time::timeout(renew_deadline, self.try_acquire_or_renew());
                tokio::pin!(attempt);
                // A renewal that hangs past the term's end: the term ends on time all the same
                // (the gate closed by itself; this says so in the metrics, logs and readiness).
                loop {
                    match leadership.time_left() {
                        Some(left) => tokio::select! {
                            attempt = &mut attempt => break attempt,
                            () = tokio::time::sleep(left) => {
                                leadership.expire_if_due();
                            }
                        },
                        None => break (&mut attempt).await,
                    }
                }
            };
            let attempt = attempt.unwrap_or(Err(AttemptError::TimedOut(renew_deadline)));
            let wait = self.after(attempt);
            tokio::select! {
                _ = &mut stop => return self,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Applies one attempt's outcome to the leadership; returns how long to wait before the next.
    fn after(&mut self, attempt: Result<Attempt, AttemptError>) -> Duration {
        match attempt {
            Ok(Attempt::Held { sent, transitions }) => {
                self.recovered();
                self.leadership
                    .renewed(sent + self.settings.renew_deadline, transitions);
                self.settings.retry_period
            }
            Ok(Attempt::Waiting { holder }) => {
                self.recovered();
                if self.leadership.time_left().is_some() {
                    let who = holder.as_deref().unwrap_or("another process");
                    self.leadership
                        .stop("lost", &format!("the Lease is held by {who}"));
                }
                self.report_holder(holder);
                self.jittered_retry()
            }
            Err(error) => {
                let message = error.to_string();
                match self.leadership.time_left() {
                    Some(left) => {
                        if self.last_error.as_deref() != Some(&message) {
                            tracing::warn!(
                                error = %message,
                                stops_writing_in = %humantime::format_duration(round(left)),
                                "cannot renew the Lease, retrying"
                            );
                        }
                        self.last_error = Some(message);
                        // Wake at the deadline at the latest, to step down on time.
                        self.settings.retry_period.min(left)
                    }
                    None => {
                        if self.last_error.as_deref() != Some(&message) {
                            tracing::warn!(error = %message, "cannot read or take the Lease, retrying");
                            self.leadership.lease_unknown(&message);
                            self.reported_holder = None;
                        }
                        self.last_error = Some(message);
                        self.jittered_retry()
                    }
                }
            }
        }
    }

    fn recovered(&mut self) {
        if self.last_error.take().is_some() {
            tracing::info!("the Lease answers again");
        }
    }

    fn report_holder(&mut self, holder: Option<String>) {
        if self.reported_holder.as_ref() != Some(&holder) {
            match &holder {
                // A record under this name that this process did not write (`record::decide`).
                Some(holder) if holder == self.leadership.identity() => tracing::error!(
                    identity = %holder,
                    "another process holds the Lease under this process's identity: give every \
                     replica its own --identity (the Pod's name); this one waits as a standby"
                ),
                Some(holder) => tracing::info!(leader = %holder, "standby: the leader is {holder}"),
                None => tracing::info!("standby: the Lease is free"),
            }
            self.leadership.observed_holder(holder.as_deref());
            self.reported_holder = Some(holder);
        }
    }

    /// client-go's `wait.JitterUntil(retryPeriod, JitterFactor)`: between one and 2.2 periods.
    fn jittered_retry(&self) -> Duration {
        self.settings
            .retry_period
            .mul_f64(1.0 + fastrand::f64() * JITTER_FACTOR)
    }

    /// client-go's `tryAcquireOrRenew`: renew over the record last written if this process
    /// holds it (the fast path, one request), else read the Lease and decide.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, AttemptError> {
        let me = self.leadership.identity().to_string();
        let duration = self.settings.lease_duration_seconds();
        let renewal = match &self.observed {
            Some(observed)
                if self.leadership.time_left().is_some()
                    && self.last_written.as_ref() == Some(&observed.spec) =>
            {
                Some(LeaseSpec {
                    renew_time: Some(now()),
                    lease_duration_seconds: Some(duration),
                    ..observed.spec.clone()
                })
            }
            _ => None,
        };
        if let Some(renewal) = renewal {
            let sent = Instant::now();
            match self.write(renewal).await {
                Ok(transitions) => return Ok(Attempt::Held { sent, transitions }),
                // Someone changed it: read it and decide again.
                Err(AttemptError::Api(kube::Error::Api(status))) if status.code == 409 => {}
                Err(error) => return Err(error),
            }
        }
        let lease = match self.api.get_opt(&self.name).await? {
            Some(lease) => lease,
            None => return self.create(&me, duration).await,
        };
        self.observe(lease);
        let Some(observed) = &self.observed else {
            return Err(AttemptError::NoRecord);
        };
        match record::decide(
            observed,
            &me,
            self.last_written.as_ref(),
            duration,
            Instant::now(),
            now(),
        ) {
            Decision::Wait { holder, .. } => Ok(Attempt::Waiting {
                holder: Some(holder),
            }),
            Decision::Write(spec) => {
                let sent = Instant::now();
                match self.write(spec).await {
                    Ok(transitions) => Ok(Attempt::Held { sent, transitions }),
                    Err(AttemptError::Api(kube::Error::Api(status))) if status.code == 409 => {
                        Ok(Attempt::Waiting { holder: None })
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// Creates the Lease, held by this process: the first replica ever started.
    async fn create(&mut self, me: &str, duration: i32) -> Result<Attempt, AttemptError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/name".to_string(),
                        crate::crd::CONTROLLER_NAME.to_string(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(record::acquired(me, duration, now(), 0)),
        };
        let sent = Instant::now();
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                let transitions = self.written(created);
                Ok(Attempt::Held { sent, transitions })
            }
            // Another replica created it first; the next attempt reads it.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(Attempt::Waiting { holder: None })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Updates the Lease to `spec` over the observed resourceVersion.
    async fn write(&mut self, spec: LeaseSpec) -> Result<Option<i32>, AttemptError> {
        let observed = self.observed.as_ref().ok_or(AttemptError::NoRecord)?;
        let lease = Lease {
            metadata: ObjectMeta {
                resource_version: observed.resource_version.clone(),
                ..self.metadata.clone()
            },
            spec: Some(spec),
        };
        let written = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(self.written(written))
    }

    /// Records a Lease this process wrote, as the API server returned it.
    fn written(&mut self, lease: Lease) -> Option<i32> {
        self.observe(lease);
        let spec = self.observed.as_ref().map(|o| o.spec.clone());
        let transitions = spec.as_ref().and_then(|s| s.lease_transitions);
        self.last_written = spec;
        transitions
    }

    /// Records what the Lease looks like now; the clock of its expiry restarts only when the
    /// record changed.
    fn observe(&mut self, lease: Lease) {
        let spec = lease.spec.unwrap_or_default();
        let resource_version = lease.metadata.resource_version.clone();
        self.metadata = lease.metadata;
        match &mut self.observed {
            Some(observed) if observed.spec == spec => {
                observed.resource_version = resource_version;
            }
            _ => {
                self.observed = Some(Observed {
                    spec,
                    resource_version,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Writes the released record if the Lease is still this process's; returns whether it did.
    async fn release(&mut self) -> Result<bool, AttemptError> {
        let me = self.leadership.identity();
        let Some(observed) = &self.observed else {
            return Ok(false);
        };
        if record::holder(&observed.spec) != Some(me)
            || self.last_written.as_ref() != Some(&observed.spec)
        {
            return Ok(false);
        }
        let released = record::released(&observed.spec, now());
        self.write(released).await?;
        Ok(true)
    }
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// The API server answered with an error, or could not be reached.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The attempt did not finish within the renew deadline.
    #[error("no answer within the renew deadline ({})", humantime::format_duration(*.0))]
    TimedOut(Duration),
    /// A write without a record read first (cannot happen: every write follows a read).
    #[error("no Lease record read yet")]
    NoRecord,
}

/// The wall-clock time written into `acquireTime` and `renewTime`, for people and tools only.
fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// A duration to the millisecond, for a log line.
fn round(duration: Duration) -> Duration {
    Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
