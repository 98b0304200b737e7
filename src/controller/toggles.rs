//! Failure toggles switched at run time from the `doc-controller-config` ConfigMap.
//!
//! Off unless the controller runs with `--live-faults` (the sandbox run and the demos switch it
//! on; `yaml/deployment.yaml` does not): whoever may write that ConfigMap could otherwise switch
//! on `crash-on-error` or `controller-down` in production.
//!
//! ```sh
//! kubectl create configmap doc-controller-config --from-literal=faults=no-predicate,status-timestamp
//! kubectl patch configmap doc-controller-config --type=merge -p '{"data":{"faults":""}}'
//! ```
//!
//! The ConfigMap lives in the controller's namespace (`--namespace`, else `POD_NAMESPACE`, else
//! `default`). RBAC decides who may flip toggles: whoever may patch that ConfigMap. Deleting it
//! returns to the toggles set at start.
//!
//! Nothing is silently ignored: toggles that only change with a restart are reported at WARN and
//! in `doc_controller_fault_restart_pending{fault}`; unknown names at WARN.
//!
//! A change shows at once: every switch on or off sends a tick on `changed`, which the controller
//! turns into a reconcile of every Document (`reconcile_all_on`). Without it a toggle switched on
//! would do nothing visible until some Document happened to change, and one switched off would
//! leave the last wrong write in place until the next resync.

use crate::fault::{Fault, LiveFaults, parse_list};
use crate::metrics::Metrics;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use prometheus::{IntGaugeVec, Opts};
use tokio::sync::mpsc;

/// Name of the ConfigMap holding the live toggles.
pub const CONFIG_MAP: &str = "doc-controller-config";

/// Key of the toggle list in the ConfigMap's data.
pub const KEY: &str = "faults";

/// The namespace the controller reads its live configuration from.
pub fn namespace(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".to_string())
}

/// Follows the ConfigMap and applies every change to `live`, with a tick on `changed` for each
/// change of the toggles in force. Runs until dropped.
pub async fn follow(
    api: Api<ConfigMap>,
    live: LiveFaults,
    gauges: Gauges,
    changed: mpsc::UnboundedSender<()>,
) {
    let wc = watcher::Config::default()
        .fields(&format!("metadata.name={CONFIG_MAP}"))
        .streaming_lists();
    // Whether the ConfigMap showed up in the current initial list; if not, it is gone.
    let mut listed = false;
    let mut events = std::pin::pin!(watcher(api, wc).default_backoff());
    while let Some(event) = events.next().await {
        let requested = match event {
            Ok(watcher::Event::Init) => {
                listed = false;
                continue;
            }
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                listed = true;
                Some(cm)
            }
            Ok(watcher::Event::InitDone) if listed => continue,
            Ok(watcher::Event::InitDone | watcher::Event::Delete(_)) => None,
            Err(error) => {
                tracing::warn!(%error, "cannot watch {CONFIG_MAP}, retrying");
                continue;
            }
        };
        if apply(requested.as_ref(), &live, &gauges) {
            // The controller outlives this task; a closed channel only means it is stopping.
            let _ = changed.send(());
        }
    }
}

/// Applies what the ConfigMap asks for; returns whether the toggles in force changed.
fn apply(cm: Option<&ConfigMap>, live: &LiveFaults, gauges: &Gauges) -> bool {
    let listed = cm.and_then(|cm| cm.data.as_ref()?.get(KEY));
    let requested = listed.map(|text| {
        let (faults, unknown) = parse_list(text);
        for name in unknown {
            tracing::warn!(toggle = name, "{CONFIG_MAP}: unknown fault toggle ignored");
        }
        faults
    });
    let change = live.request(requested.as_ref());
    for fault in &change.switched_on {
        tracing::warn!(toggle = %fault, "fault toggle switched ON at run time");
    }
    for fault in &change.switched_off {
        tracing::warn!(toggle = %fault, "fault toggle switched off at run time");
    }
    for fault in &change.need_restart {
        tracing::warn!(
            toggle = %fault,
            "fault toggle changes only with a restart; not applied (set it with --fault)"
        );
    }
    gauges.publish(live, &change.need_restart);
    !(change.switched_on.is_empty() && change.switched_off.is_empty())
}

/// `doc_controller_fault_active{fault}` and `doc_controller_fault_restart_pending{fault}`: the
/// toggles in force, and live changes waiting for a restart. Registered with the controller's
/// other metrics; the admin page reads the first.
#[derive(Clone)]
pub struct Gauges {
    active: IntGaugeVec,
    restart_pending: IntGaugeVec,
}

// === impl Gauges ===

impl Gauges {
    /// Creates both gauges and registers them in `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let active = IntGaugeVec::new(
            Opts::new(
                "doc_controller_fault_active",
                "1 for each failure toggle in force (see docs/faults.md), 0 otherwise.",
            ),
            &["fault"],
        )?;
        let restart_pending = IntGaugeVec::new(
            Opts::new(
                "doc_controller_fault_restart_pending",
                "1 for each toggle asked to change at run time that only changes with a restart.",
            ),
            &["fault"],
        )?;
        metrics.registry().register(Box::new(active.clone()))?;
        metrics
            .registry()
            .register(Box::new(restart_pending.clone()))?;
        Ok(Self {
            active,
            restart_pending,
        })
    }

    /// Sets both gauges for every toggle.
    pub fn publish(&self, live: &LiveFaults, need_restart: &[Fault]) {
        for &fault in Fault::ALL {
            self.set(
                fault.name(),
                live.is_on(fault),
                need_restart.contains(&fault),
            );
        }
    }

    /// Shows whether a failure toggle is in force, and whether a change of it waits for a
    /// restart.
    pub fn set(&self, fault: &str, active: bool, restart_pending: bool) {
        self.active
            .with_label_values(&[fault])
            .set(i64::from(active));
        self.restart_pending
            .with_label_values(&[fault])
            .set(i64::from(restart_pending));
    }
}
