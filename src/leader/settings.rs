//! The election's settings: which Lease, who this process is, and its three durations, with
//! client-go's defaults and client-go's checks.

use std::path::Path;
use std::time::Duration;

/// The Lease's name unless `--lease-name` says otherwise.
pub const DEFAULT_LEASE_NAME: &str = "doc-controller";

/// client-go's `LeaseDuration` default (kube-controller-manager, kube-scheduler and
/// controller-runtime all use it): how long a standby waits, after it last saw the Lease change,
/// before it takes the Lease over.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// client-go's `RenewDeadline` default: how long the leader keeps trying to renew before it stops
/// writing.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// client-go's `RetryPeriod` default: how often the leader renews and a standby looks again.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// client-go's `JitterFactor`: a standby waits between one and 2.2 retry periods before it looks
/// again, so that standbys started together do not ask in step.
pub const JITTER_FACTOR: f64 = 1.2;

/// Where a Pod finds its own namespace (the ServiceAccount's projected volume).
pub const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// How this process takes part in the election (flags `--lease-*`, `--renew-deadline`,
/// `--retry-period`, `--identity`; see [`crate::config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace; `None`: see [`Settings::lease_namespace`].
    pub lease_namespace: Option<String>,
    /// This process's holder identity; `None`: the host name (a Pod's name).
    pub identity: Option<String>,
    /// How long the Lease is valid after a standby last saw it change.
    pub lease_duration: Duration,
    /// How long the leader may fail to renew before it stops writing.
    pub renew_deadline: Duration,
    /// How often the leader renews, and (with jitter) a standby looks again.
    pub retry_period: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease_name: DEFAULT_LEASE_NAME.to_string(),
            lease_namespace: None,
            identity: None,
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }
}

/// Why this process cannot tell who it is.
#[derive(Debug, thiserror::Error)]
#[error("cannot read this host's name for the leader election identity ({0}); set --identity")]
pub struct NoIdentity(#[source] std::io::Error);

impl Settings {
    /// The checks client-go's `NewLeaderElector` makes, worded as one line each: a lease that
    /// outlives the renew deadline (the margin is what tolerates clock-rate skew and slow
    /// writes), and a renew deadline that leaves room for more than one jittered retry.
    pub fn check(&self) -> Result<(), String> {
        if self.lease_name.is_empty() {
            return Err("lease-name must not be empty".into());
        }
        if let Some(identity) = &self.identity
            && let Err(reason) = check_identity(identity)
        {
            return Err(reason);
        }
        for (name, value) in [
            ("lease-duration", self.lease_duration),
            ("renew-deadline", self.renew_deadline),
            ("retry-period", self.retry_period),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be longer than 0s"));
            }
        }
        // The Lease carries whole seconds (`leaseDurationSeconds`); a fraction would be cut off
        // there and every standby would wait less than this leader assumes.
        if self.lease_duration.subsec_nanos() != 0 {
            return Err(format!(
                "lease-duration must be a whole number of seconds, not {}",
                humantime::format_duration(self.lease_duration)
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "lease-duration ({}) must be longer than renew-deadline ({})",
                humantime::format_duration(self.lease_duration),
                humantime::format_duration(self.renew_deadline)
            ));
        }
        if self.renew_deadline <= self.retry_period.mul_f64(JITTER_FACTOR) {
            return Err(format!(
                "renew-deadline ({}) must be longer than retry-period ({}) × {JITTER_FACTOR}",
                humantime::format_duration(self.renew_deadline),
                humantime::format_duration(self.retry_period)
            ));
        }
        Ok(())
    }

    /// The Lease's namespace: `--lease-namespace`; else, in a Pod, the Pod's namespace (from the
    /// ServiceAccount volume, where the Deployment's Role grants the Lease); else the watched
    /// namespace; else `default`.
    pub fn lease_namespace(&self, watched: Option<&str>) -> String {
        self.lease_namespace_with(Path::new(POD_NAMESPACE_FILE), watched)
    }

    /// [`Settings::lease_namespace`] with the Pod's namespace read from `pod_namespace_file`.
    pub fn lease_namespace_with(&self, pod_namespace_file: &Path, watched: Option<&str>) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| {
                std::fs::read_to_string(pod_namespace_file)
                    .ok()
                    .map(|ns| ns.trim().to_string())
                    .filter(|ns| !ns.is_empty())
            })
            .or_else(|| watched.map(str::to_string))
            .unwrap_or_else(|| "default".to_string())
    }

    /// This process's identity: `--identity`, else the host name, which is the Pod's name in a
    /// Pod. Two processes with one identity would both believe they hold the Lease; the elector
    /// notices a record it did not write under its own name and backs off (see
    /// [`super::record`]), but give each process its own.
    pub fn identity(&self) -> Result<String, NoIdentity> {
        if let Some(identity) = &self.identity {
            return Ok(identity.clone());
        }
        let host = hostname::get().map_err(NoIdentity)?;
        Ok(host.to_string_lossy().into_owned())
    }

    /// The Lease's `leaseDurationSeconds`.
    pub fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// An identity goes into the Lease, Events' `reportingInstance` and the User-Agent header:
/// printable ASCII without spaces, as a Pod name or a host name is.
fn check_identity(identity: &str) -> Result<(), String> {
    if identity.is_empty() {
        return Err("identity must not be empty".into());
    }
    if identity.len() > 253 || !identity.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "identity {identity:?} must be at most 253 printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(lease: u64, renew: u64, retry_ms: u64) -> Settings {
        Settings {
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_millis(retry_ms),
            ..Settings::default()
        }
    }

    #[test]
    fn the_defaults_are_client_gos_and_pass_its_checks() {
        let defaults = Settings::default();
        assert_eq!(defaults.lease_duration, Duration::from_secs(15));
        assert_eq!(defaults.renew_deadline, Duration::from_secs(10));
        assert_eq!(defaults.retry_period, Duration::from_secs(2));
        assert_eq!(defaults.lease_name, "doc-controller");
        defaults.check().expect("valid");
    }

    #[test]
    fn the_durations_are_checked_as_client_go_checks_them() {
        let err = with(10, 10, 2000).check().expect_err("equal");
        assert_eq!(
            err,
            "lease-duration (10s) must be longer than renew-deadline (10s)"
        );
        let err = with(15, 2, 2000).check().expect_err("retry too long");
        assert_eq!(
            err,
            "renew-deadline (2s) must be longer than retry-period (2s) × 1.2"
        );
        // 1.2 × 2 s is 2.4 s: a renew deadline of 3 s leaves room.
        with(4, 3, 2000).check().expect("valid");
        let fraction = Settings {
            lease_duration: Duration::from_millis(15_500),
            ..Settings::default()
        };
        assert!(fraction.check().expect_err("fraction").contains("whole"));
        let zero = with(15, 10, 0).check().expect_err("zero retry");
        assert_eq!(zero, "retry-period must be longer than 0s");
    }

    #[test]
    fn an_identity_is_printable_ascii_without_spaces() {
        for bad in ["", "two words", "tab\there", "ünïcode"] {
            let settings = Settings {
                identity: Some(bad.into()),
                ..Settings::default()
            };
            assert!(settings.check().is_err(), "{bad:?}");
        }
        let settings = Settings {
            identity: Some("doc-controller-7d9f8-x2v4q".into()),
            ..Settings::default()
        };
        settings.check().expect("a Pod name");
        assert_eq!(
            settings.identity().expect("set"),
            "doc-controller-7d9f8-x2v4q"
        );
    }

    #[test]
    fn the_lease_namespace_is_the_flag_then_the_pods_then_the_watched_one_then_default() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pod_file = dir.path().join("namespace");
        let missing = dir.path().join("missing");
        let settings = Settings::default();
        assert_eq!(settings.lease_namespace_with(&missing, None), "default");
        assert_eq!(
            settings.lease_namespace_with(&missing, Some("team-a")),
            "team-a"
        );
        std::fs::write(&pod_file, "ops\n").expect("written");
        assert_eq!(
            settings.lease_namespace_with(&pod_file, Some("team-a")),
            "ops"
        );
        let flag = Settings {
            lease_namespace: Some("elsewhere".into()),
            ..Settings::default()
        };
        assert_eq!(
            flag.lease_namespace_with(&pod_file, Some("team-a")),
            "elsewhere"
        );
    }
}
