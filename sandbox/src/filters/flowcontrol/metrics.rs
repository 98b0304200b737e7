//! The API Priority and Fairness metrics, under the real server's names and labels
//! (`k8s.io/apiserver/pkg/util/flowcontrol/metrics`), unlike the sandbox's own `sandbox_`
//! families: they describe the same mechanism, so a test can read them on either target.

use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use super::config::{Level, Limit};

/// The APF metric families.
#[derive(Debug, Clone)]
pub(crate) struct ApfMetrics {
    registry: Registry,
    rejected: IntCounterVec,
    dispatched: IntCounterVec,
    nominal: IntGaugeVec,
    current: IntGaugeVec,
}

impl Default for ApfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApfMetrics {
    /// Registers the families in a fresh registry.
    ///
    /// # Panics
    /// Never: the names and labels are static and valid, and the registry is fresh.
    #[allow(
        clippy::expect_used,
        reason = "static metric definitions in a fresh registry cannot fail"
    )]
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["priority_level"]).expect("valid metric")
        };
        let rejected = counter(
            "apiserver_flowcontrol_rejected_requests_total",
            "Number of requests rejected by API Priority and Fairness subsystem",
            &["flow_schema", "priority_level", "reason"],
        );
        let dispatched = counter(
            "apiserver_flowcontrol_dispatched_requests_total",
            "Number of requests executed by API Priority and Fairness subsystem",
            &["flow_schema", "priority_level"],
        );
        let nominal = gauge(
            "apiserver_flowcontrol_nominal_limit_seats",
            "Nominal number of execution seats configured for each priority level",
        );
        let current = gauge(
            "apiserver_flowcontrol_current_limit_seats",
            "current derived number of execution seats available to each priority level",
        );
        for collector in [
            Box::new(rejected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(dispatched.clone()),
            Box::new(nominal.clone()),
            Box::new(current.clone()),
        ] {
            registry.register(collector).expect("fresh registry");
        }
        Self {
            registry,
            rejected,
            dispatched,
            nominal,
            current,
        }
    }

    /// Counts a rejected request.
    pub(crate) fn rejected(&self, flow_schema: &str, priority_level: &str, reason: &str) {
        self.rejected
            .with_label_values(&[flow_schema, priority_level, reason])
            .inc();
    }

    /// Counts a dispatched request.
    pub(crate) fn dispatched(&self, flow_schema: &str, priority_level: &str) {
        self.dispatched
            .with_label_values(&[flow_schema, priority_level])
            .inc();
    }

    /// Sets the limit gauges to the levels now in effect.
    pub(crate) fn set_levels<'a>(&self, levels: impl Iterator<Item = &'a Level>) {
        self.nominal.reset();
        self.current.reset();
        for level in levels {
            let (nominal, current) = match level.limit {
                Limit::Exempt => (0, 0),
                Limit::Limited {
                    nominal, current, ..
                } => (nominal, current),
            };
            self.nominal
                .with_label_values(&[&level.name])
                .set(i64::from(nominal));
            self.current
                .with_label_values(&[&level.name])
                .set(i64::from(current));
        }
    }

    /// The Prometheus text exposition of the families.
    pub(crate) fn text(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which these are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
