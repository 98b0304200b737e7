//! Server-side fault injection: throttling, latency, hanging and dropped connections,
//! forced 5xx answers and scheduled watch-history compaction, each scoped by user, verb,
//! resource and namespace.
//!
//! Faults are set at start ([`crate::SandboxBuilder::fault`], the `kube-apiserver-sandbox` binary's
//! `--fault`/`--fault-file`), at run time through the admin endpoint `/sandbox/faults`, and
//! from tests through [`Faults`] (`sandbox.faults()`). They model what a controller meets on
//! a real, busy cluster: API Priority and Fairness rejecting with 429
//! (<https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>), slow or
//! unavailable etcd (5xx, latency), load balancers cutting connections, and etcd compaction
//! invalidating old resourceVersions (410 Gone on a resumed watch).
//!
//! A fault file (`kube-apiserver-sandbox --fault-file faults.yaml`, [`crate::SandboxBuilder::fault_file`])
//! or admin request body (`POST /sandbox/faults`):
//!
//! ```yaml
//! faults:
//! - {type: throttle, qps: 5, burst: 10}                  # every user but system:masters
//! - {type: latency, millis: 200, verbs: [patch], resources: [documents/status]}
//! - {type: error, code: 503, probability: 0.1, user: "system:serviceaccount:default:doc-controller"}
//! - {type: hang, verbs: [watch], resources: [configmaps]}
//! - {type: drop, namespace: kube-public}
//! - {type: maxInFlight, limit: 2}
//! - {type: compactEvery, seconds: 30}
//! ```
//!
//! The `throttle` and `maxInFlight` faults are a shortcut of the sandbox. The faithful way
//! to throttle a client, which works on a real cluster too, is the API Priority and Fairness
//! configuration itself: a FlowSchema matching the client and a `Limited`
//! PriorityLevelConfiguration with `limitResponse: {type: Reject}` and small
//! `nominalConcurrencyShares` (see `yaml/throttling.yaml`), which the sandbox enforces
//! like kube-apiserver. Both count in `sandbox_apiserver_throttled_requests_total`.
//!
//! Note that kube-rs clients retry 429, 503 and 504 by default (honouring `Retry-After`),
//! so a controller rides through short bursts of them; set `kube::Config::default_retry`
//! to `false` to see them directly.

pub(crate) mod respond;
pub(crate) mod throttle;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{Gate, METRICS_PATH, attributes, is_control_path};
use crate::auth::attributes::Attributes;
use crate::verbs::ApiState;

/// The filter: after authorization, like a slow or failing storage layer, the request faults
/// (latency, hang until removed, drop, or a 5xx answer); a watch that starts stays open until
/// [`Faults::close_watches`]. Neither the sandbox's controls nor `/metrics` get faults.
pub(crate) async fn layer(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let attrs = attributes(&request);
    if is_control_path(&attrs.path) || attrs.path == METRICS_PATH {
        return next.run(request).await;
    }
    for (id, fault) in gate.faults.matching(&attrs, |a| !a.is_throttle()) {
        let count = |name: &str| gate.metrics.injected(name);
        match &fault.action {
            FaultAction::Latency { millis } => {
                count("latency");
                tokio::time::sleep(Duration::from_millis(*millis)).await;
            }
            FaultAction::Hang => {
                count("hang");
                gate.faults.until_removed(id).await;
            }
            FaultAction::Drop => {
                count("drop");
                return respond::dropped();
            }
            FaultAction::Error { code, message } => {
                count("error");
                return respond::server_error(*code, message.as_deref());
            }
            FaultAction::Throttle { .. }
            | FaultAction::MaxInFlight { .. }
            | FaultAction::CompactEvery { .. } => {}
        }
    }
    let response = next.run(request).await;
    if attrs.verb == "watch" && response.status().is_success() {
        return closable(&gate.faults, response);
    }
    response
}

/// Wraps a watch response body so [`Faults::close_watches`] can end it.
fn closable(faults: &Faults, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().take_until(faults.watches_closed());
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Keeps compacting the store for `compactEvery` faults while the sandbox lives.
pub(crate) fn spawn_compactor(
    faults: Faults,
    store: Weak<ApiState>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let Some(api) = store.upgrade() else { return };
            let now = Instant::now();
            let mut due = false;
            let set = faults.list();
            last.retain(|id, _| set.iter().any(|(i, _)| i == id));
            for (id, fault) in set {
                if let FaultAction::CompactEvery { seconds } = fault.action {
                    let period = Duration::from_secs_f64(seconds.max(0.05));
                    let since = *last.entry(id).or_insert(now);
                    if now.duration_since(since) >= period {
                        last.insert(id, now);
                        due = true;
                    }
                }
            }
            if due {
                api.store.compact();
            }
        }
    })
}

/// Identifies a fault that is set, for [`Faults::remove`] (see its example).
pub type FaultId = u64;

/// One fault: what to do ([`FaultAction`]) to which requests (the scope fields; empty or
/// absent fields match everything).
///
/// In YAML/JSON (fault file, admin endpoint) the action's `type` and fields sit next to the
/// scope: `{"type": "error", "code": 503, "verbs": ["patch"], "resources": ["documents"]}`.
///
/// ```
/// use std::time::Duration;
/// use kube_apiserver_sandbox::{Fault, parse_faults};
///
/// let slow_status = Fault::latency(Duration::from_millis(200))
///     .for_user("system:serviceaccount:default:doc-controller")
///     .for_verbs(["patch"])
///     .for_resources(["documents/status"])
///     .with_probability(0.5);
/// let same = parse_faults(
///     "{type: latency, millis: 200, user: 'system:serviceaccount:default:doc-controller', \
///       verbs: [patch], resources: [documents/status], probability: 0.5}",
/// )?;
/// assert_eq!(same, [slow_status]);
/// # Ok::<(), kube_apiserver_sandbox::FaultFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Only requests of this user name (after impersonation), e.g.
    /// `system:serviceaccount:default:doc-controller`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Only these verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// Only these resources, named like in RBAC rules: `*`, a plural (`documents`, in any
    /// group; not its subresources), `resource/subresource` (`documents/status`,
    /// `*/status`), optionally group-qualified (`documents.kube.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Only requests in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Fraction of matching requests affected (0.0–1.0); absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// What happens to matching requests.
    #[serde(flatten)]
    pub action: FaultAction,
}

/// What a fault does; in YAML/JSON its `type` and fields.
///
/// ```
/// use kube_apiserver_sandbox::{Fault, FaultAction};
/// let fault = Fault::throttle(5.0, 10);
/// assert_eq!(fault.action, FaultAction::Throttle { qps: 5.0, burst: 10 });
/// let json = serde_json::to_value(&fault)?;
/// assert_eq!(json, serde_json::json!({"type": "throttle", "qps": 5.0, "burst": 10}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FaultAction {
    /// Delay matching requests (before they are served) by `millis`.
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Answer with this 5xx code (500, 503 or 504; others are treated as 500) and a
    /// `Status` body, without serving the request.
    Error {
        /// HTTP code.
        code: u16,
        /// Message; a default like the apiserver's is used when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Accept the request and never answer until the fault is removed, then serve it.
    Hang,
    /// Close the connection without any response.
    Drop,
    /// Token-bucket rate limit per user: 429 with `Retry-After` beyond `qps` requests per
    /// second after a `burst`. Members of `system:masters` are exempt, as under APF. (A real
    /// server limits concurrency, not rate: for the faithful mechanism use FlowSchema and
    /// PriorityLevelConfiguration objects.)
    Throttle {
        /// Sustained requests per second.
        qps: f64,
        /// Bucket size.
        burst: u32,
    },
    /// Concurrency share per user: 429 when more than `limit` requests of the user are in
    /// flight (watches count until their response starts). `system:masters` is exempt. The
    /// same effect as a `Limited`, `Reject` priority level with `limit` seats, which the
    /// sandbox also enforces from FlowSchema and PriorityLevelConfiguration objects, as a
    /// real server does.
    MaxInFlight {
        /// Concurrent requests allowed.
        limit: u32,
    },
    /// Compact the watch history every `seconds`, so resumed watches get 410 Gone.
    CompactEvery {
        /// Period in seconds.
        seconds: f64,
    },
}

impl FaultAction {
    /// Whether the action is a throttle (`throttle`, `maxInFlight`), which the flowcontrol
    /// filter applies before authorization, rather than a fault of the faults filter.
    pub(crate) fn is_throttle(&self) -> bool {
        matches!(self, Self::Throttle { .. } | Self::MaxInFlight { .. })
    }
}

impl Fault {
    fn new(action: FaultAction) -> Self {
        Self {
            user: None,
            verbs: Vec::new(),
            resources: Vec::new(),
            namespace: None,
            probability: None,
            action,
        }
    }

    /// Delays matching requests.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder()
    ///     .fault(Fault::latency(std::time::Duration::from_millis(300)).for_verbs(["list"]))
    ///     .start()
    ///     .await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let started = std::time::Instant::now();
    /// cms.list(&Default::default()).await?;
    /// assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    /// # Ok(()) }
    /// ```
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultAction::Latency {
            millis: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Answers matching requests with a 5xx `Status`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::error(503).for_verbs(["list"])).start().await?;
    /// let mut config = sandbox.kube_config();
    /// config.default_retry = false; // kube-rs retries 429, 503 and 504 otherwise
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(kube::Client::try_from(config)?);
    /// let refused = cms.list(&Default::default()).await.unwrap_err();
    /// assert!(matches!(refused, kube::Error::Api(s) if s.code == 503));
    /// assert!(cms.get_opt("absent").await?.is_none()); // a get is not a list
    /// # Ok(()) }
    /// ```
    pub fn error(code: u16) -> Self {
        Self::new(FaultAction::Error {
            code,
            message: None,
        })
    }

    /// Never answers matching requests while the fault is set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// use std::time::Duration;
    /// let sandbox = Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let hang = sandbox.faults().set(Fault::hang().for_verbs(["list"]));
    /// let params = kube::api::ListParams::default();
    /// assert!(tokio::time::timeout(Duration::from_millis(200), cms.list(&params)).await.is_err());
    /// sandbox.faults().remove(hang); // hanging requests are served now
    /// cms.list(&Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn hang() -> Self {
        Self::new(FaultAction::Hang)
    }

    /// Closes the connection of matching requests without a response.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::drop_connection().for_verbs(["list"])).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let dropped = cms.list(&Default::default()).await.unwrap_err();
    /// assert!(!matches!(dropped, kube::Error::Api(_))); // no Status: the connection went
    /// # Ok(()) }
    /// ```
    pub fn drop_connection() -> Self {
        Self::new(FaultAction::Drop)
    }

    /// Rate-limits each user to `qps` with `burst`, answering 429.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// # use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    /// let sandbox = Sandbox::builder().fault(Fault::throttle(0.1, 1)).start().await?;
    /// // jane may do anything (a binding to `cluster-admin`), but is not in `system:masters`.
    /// let jane = serde_json::from_value(serde_json::json!({
    ///     "metadata": {"name": "jane"},
    ///     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    ///     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}],
    /// }))?;
    /// kube::Api::<ClusterRoleBinding>::all(sandbox.client()?).create(&Default::default(), &jane).await?;
    /// let mut as_jane = sandbox.kube_config_impersonating("jane");
    /// as_jane.default_retry = false; // kube-rs retries 429, 503 and 504 otherwise
    /// let jane = kube::Client::try_from(as_jane)?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(jane);
    /// cms.list(&Default::default()).await?; // the burst
    /// let second = cms.list(&Default::default()).await.unwrap_err();
    /// assert!(matches!(second, kube::Error::Api(s) if s.code == 429));
    /// let admin: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// admin.list(&Default::default()).await?; // `system:masters` is exempt
    /// # Ok(()) }
    /// ```
    pub fn throttle(qps: f64, burst: u32) -> Self {
        Self::new(FaultAction::Throttle { qps, burst })
    }

    /// Limits each user to `limit` concurrent requests, answering 429. A sandbox-only
    /// shortcut; APF objects (a FlowSchema and a `Limited` PriorityLevelConfiguration) do the
    /// same on a real cluster and on the sandbox.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// use std::time::Duration;
    /// # use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    /// let sandbox = Sandbox::builder().fault(Fault::max_in_flight(1)).start().await?;
    /// sandbox.faults().set(Fault::hang().for_verbs(["list"]));
    /// // jane may do anything (a binding to `cluster-admin`), but is not in `system:masters`.
    /// let jane = serde_json::from_value(serde_json::json!({
    ///     "metadata": {"name": "jane"},
    ///     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    ///     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}],
    /// }))?;
    /// kube::Api::<ClusterRoleBinding>::all(sandbox.client()?).create(&Default::default(), &jane).await?;
    /// let mut as_jane = sandbox.kube_config_impersonating("jane");
    /// as_jane.default_retry = false; // kube-rs retries 429, 503 and 504 otherwise
    /// let jane = kube::Client::try_from(as_jane)?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(jane);
    /// let params = kube::api::ListParams::default();
    /// let (hung, second) = tokio::join!(
    ///     tokio::time::timeout(Duration::from_millis(300), cms.list(&params)),
    ///     async {
    ///         tokio::time::sleep(Duration::from_millis(100)).await; // the first is in flight
    ///         cms.get_opt("x").await
    ///     },
    /// );
    /// assert!(hung.is_err(), "the first list hangs, holding jane's one seat");
    /// assert!(matches!(second.unwrap_err(), kube::Error::Api(s) if s.code == 429));
    /// # Ok(()) }
    /// ```
    pub fn max_in_flight(limit: u32) -> Self {
        Self::new(FaultAction::MaxInFlight { limit })
    }

    /// Compacts the watch history periodically.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// use kube::api::{ListParams, VersionMatch};
    /// use kube_apiserver_sandbox::testkit::eventually;
    /// let every = std::time::Duration::from_millis(100);
    /// let sandbox = Sandbox::builder().fault(Fault::compact_every(every)).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let old = ListParams::default().at(&sandbox.revision().to_string()).matching(VersionMatch::Exact);
    /// eventually("the history to be compacted", || async {
    ///     matches!(cms.list(&old).await, Err(kube::Error::Api(s)) if s.code == 410)
    /// })
    /// .await;
    /// # Ok(()) }
    /// ```
    pub fn compact_every(period: Duration) -> Self {
        Self::new(FaultAction::CompactEvery {
            seconds: period.as_secs_f64(),
        })
    }

    /// Scopes the fault to one user.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// # use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    /// let sandbox = Sandbox::builder().fault(Fault::error(500).for_user("jane")).start().await?;
    /// // jane may do anything (a binding to `cluster-admin`), but is not in `system:masters`.
    /// let jane = serde_json::from_value(serde_json::json!({
    ///     "metadata": {"name": "jane"},
    ///     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    ///     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}],
    /// }))?;
    /// kube::Api::<ClusterRoleBinding>::all(sandbox.client()?).create(&Default::default(), &jane).await?;
    /// let mut as_jane = sandbox.kube_config_impersonating("jane");
    /// as_jane.default_retry = false; // kube-rs retries 429, 503 and 504 otherwise
    /// let jane = kube::Client::try_from(as_jane)?;
    /// let as_jane: kube::Api<ConfigMap> = kube::Api::default_namespaced(jane);
    /// let failed = as_jane.get_opt("x").await.unwrap_err();
    /// assert!(matches!(failed, kube::Error::Api(s) if s.code == 500));
    /// let as_admin: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(as_admin.get_opt("x").await?.is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn for_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Scopes the fault to some verbs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::error(500).for_verbs(["create"])).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let cm: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}}))?;
    /// assert!(cms.create(&Default::default(), &cm).await.is_err());
    /// assert!(cms.get_opt("x").await?.is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn for_verbs<S: Into<String>>(mut self, verbs: impl IntoIterator<Item = S>) -> Self {
        self.verbs = verbs.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes the fault to some resources.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// use k8s_openapi::api::core::v1::Secret;
    /// let sandbox = Sandbox::builder()
    ///     .fault(Fault::error(500).for_resources(["secrets", "*/status"]))
    ///     .start()
    ///     .await?;
    /// let secrets: kube::Api<Secret> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(secrets.get_opt("x").await.is_err());
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(cms.get_opt("x").await?.is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn for_resources<S: Into<String>>(
        mut self,
        resources: impl IntoIterator<Item = S>,
    ) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes the fault to one namespace.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::error(500).in_namespace("kube-system")).start().await?;
    /// let system: kube::Api<ConfigMap> = kube::Api::namespaced(sandbox.client()?, "kube-system");
    /// assert!(system.get_opt("x").await.is_err());
    /// let default: kube::Api<ConfigMap> = kube::Api::namespaced(sandbox.client()?, "default");
    /// assert!(default.get_opt("x").await?.is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Affects only this fraction of matching requests.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let never = Fault::error(503).with_probability(0.0);
    /// let sandbox = Sandbox::builder().fault(never).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// for _ in 0..10 {
    ///     cms.get_opt("x").await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_probability(mut self, probability: f64) -> Self {
        self.probability = Some(probability);
        self
    }

    /// Whether the scope covers a request (the probability is not rolled here).
    pub(crate) fn matches(&self, attrs: &Attributes) -> bool {
        let user_ok = self.user.as_deref().is_none_or(|u| u == attrs.user.name);
        let verb_ok =
            self.verbs.is_empty() || self.verbs.iter().any(|v| v == "*" || *v == attrs.verb);
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|n| n == attrs.namespace);
        let resource_ok = self.resources.is_empty()
            || (attrs.resource_request
                && self.resources.iter().any(|r| resource_matches(r, attrs)));
        user_ok && verb_ok && ns_ok && resource_ok
    }

    /// Rolls the fault's probability.
    fn fires(&self) -> bool {
        match self.probability {
            None => true,
            Some(p) => {
                // uuid v4 is 122 random bits; the top 53 make a uniform float in [0, 1).
                let bits = uuid::Uuid::new_v4().as_u128() >> 75;
                #[allow(clippy::cast_precision_loss)]
                let roll = bits as f64 / (1u64 << 53) as f64;
                roll < p
            }
        }
    }
}

/// Whether a resource pattern of a fault covers the request, with RBAC's conventions:
/// `*` is everything, `documents` only the resource itself, `documents/status` (or
/// `*/status`, `documents/*`) its subresource; `documents.kube.rs` pins the API group.
fn resource_matches(pattern: &str, attrs: &Attributes) -> bool {
    if pattern == "*" {
        return true;
    }
    let (resource, subresource) = pattern.split_once('/').unwrap_or((pattern, ""));
    let (plural, group) = match resource.split_once('.') {
        Some((plural, group)) => (plural, Some(group)),
        None => (resource, None),
    };
    (plural == "*" || plural == attrs.resource)
        && (subresource == attrs.subresource
            || (subresource == "*" && !attrs.subresource.is_empty()))
        && group.is_none_or(|g| g == attrs.api_group)
}

/// Errors reading a fault file.
#[derive(Debug, thiserror::Error)]
pub enum FaultFileError {
    /// The file could not be read.
    #[error("reading fault file {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The content is not a fault list.
    #[error("parsing faults: {}", .0.without_snippet())]
    Parse(#[from] serde_saphyr::Error),
}

/// A fault file or admin request body: a list of faults, `{faults: [...]}`, or one fault.
#[derive(Deserialize)]
#[serde(untagged)]
enum FaultDoc {
    List(Vec<Fault>),
    Wrapped { faults: Vec<Fault> },
    One(Fault),
}

/// Parses YAML or JSON holding faults (a list, `{faults: [...]}` or a single fault).
///
/// ```
/// use kube_apiserver_sandbox::{Fault, parse_faults};
/// let yaml = "faults:\n- {type: error, code: 503, verbs: [patch]}\n- {type: drop, namespace: a}\n";
/// assert_eq!(
///     parse_faults(yaml)?,
///     [Fault::error(503).for_verbs(["patch"]), Fault::drop_connection().in_namespace("a")],
/// );
/// let bad = parse_faults("{type: flood}").unwrap_err();
/// assert!(bad.to_string().starts_with("parsing faults:"), "{bad}");
/// # Ok::<(), kube_apiserver_sandbox::FaultFileError>(())
/// ```
///
/// # Errors
///
/// [`FaultFileError::Parse`] when the text is not faults.
pub fn parse_faults(text: &str) -> Result<Vec<Fault>, FaultFileError> {
    Ok(match serde_saphyr::from_str::<FaultDoc>(text)? {
        FaultDoc::List(list) | FaultDoc::Wrapped { faults: list } => list,
        FaultDoc::One(fault) => vec![fault],
    })
}

/// Reads a fault file (what `--fault-file` and [`SandboxBuilder::fault_file`] read).
///
/// ```
/// use kube_apiserver_sandbox::{Fault, read_fault_file};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("faults.yaml");
/// std::fs::write(&path, "- {type: latency, millis: 50, verbs: [get]}\n")?;
/// let latency = Fault::latency(std::time::Duration::from_millis(50)).for_verbs(["get"]);
/// assert_eq!(read_fault_file(&path)?, [latency]);
/// assert!(read_fault_file(&dir.path().join("absent.yaml")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`FaultFileError::Read`] when the file cannot be read, [`FaultFileError::Parse`] when it
/// holds no faults.
///
/// [`SandboxBuilder::fault_file`]: crate::SandboxBuilder::fault_file
pub fn read_fault_file(path: &std::path::Path) -> Result<Vec<Fault>, FaultFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FaultFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_faults(&text)
}

/// The faults currently set; cheap to clone, shared with the server ([`Sandbox::faults`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kube_apiserver_sandbox::{Fault, Sandbox};
/// let sandbox = Sandbox::start().await?;
/// let faults = sandbox.faults();
/// let hang = faults.set(Fault::hang().for_verbs(["watch"]));
/// faults.set(Fault::drop_connection().in_namespace("kube-public"));
/// assert_eq!(faults.list().len(), 2);
/// assert!(faults.remove(hang));
/// faults.clear();
/// assert!(faults.list().is_empty());
/// # Ok(()) }
/// ```
///
/// [`Sandbox::faults`]: crate::Sandbox::faults
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    active: Mutex<Vec<(FaultId, Fault)>>,
    next: AtomicU64,
    /// Bumped on every change, so hanging requests re-check whether their fault is gone.
    changed: tokio::sync::watch::Sender<u64>,
    /// Bumped to end every open watch stream.
    close_watches: tokio::sync::watch::Sender<u64>,
    throttle: throttle::Limiter,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                active: Mutex::new(Vec::new()),
                next: AtomicU64::new(1),
                changed: tokio::sync::watch::Sender::new(0),
                close_watches: tokio::sync::watch::Sender::new(0),
                throttle: throttle::Limiter::default(),
            }),
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(FaultId, Fault)>> {
        self.inner.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    /// Sets a fault; returns its id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let id = sandbox.faults().set(Fault::error(500));
    /// assert!(matches!(cms.get_opt("x").await, Err(kube::Error::Api(s)) if s.code == 500));
    /// assert_eq!(sandbox.faults().list()[0].0, id);
    /// # Ok(()) }
    /// ```
    pub fn set(&self, fault: Fault) -> FaultId {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push((id, fault));
        self.bump();
        id
    }

    /// Removes one fault; false if it was not set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let id = sandbox.faults().set(Fault::error(500));
    /// assert!(cms.get_opt("x").await.is_err());
    /// assert!(sandbox.faults().remove(id));
    /// assert!(cms.get_opt("x").await?.is_none());
    /// assert!(!sandbox.faults().remove(id), "already gone");
    /// # Ok(()) }
    /// ```
    pub fn remove(&self, id: FaultId) -> bool {
        let removed = {
            let mut active = self.lock();
            let before = active.len();
            active.retain(|(i, _)| *i != id);
            active.len() != before
        };
        self.inner.throttle.forget(id);
        self.bump();
        removed
    }

    /// Removes every fault (hanging requests are then served).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// sandbox.faults().set(Fault::error(503).for_verbs(["list"]));
    /// sandbox.faults().set(Fault::hang().for_verbs(["get"]));
    /// sandbox.faults().clear();
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(cms.get_opt("x").await?.is_none());
    /// cms.list(&Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn clear(&self) {
        let ids: Vec<FaultId> = self.lock().drain(..).map(|(id, _)| id).collect();
        for id in ids {
            self.inner.throttle.forget(id);
        }
        self.bump();
    }

    /// Ends every open watch stream now, as an apiserver restart or a load balancer's idle
    /// timeout does; clients re-watch from their last resourceVersion.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// use futures::StreamExt;
    /// use kube::api::WatchParams;
    /// let sandbox = Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let rv = sandbox.revision().to_string();
    /// let mut events = cms.watch(&WatchParams::default(), &rv).await?.boxed();
    /// sandbox.faults().close_watches();
    /// assert!(events.next().await.is_none(), "the stream ended; a client re-watches from `rv`");
    /// # Ok(()) }
    /// ```
    pub fn close_watches(&self) {
        self.inner.close_watches.send_modify(|v| *v += 1);
    }

    /// Resolves at the next [`Faults::close_watches`].
    pub(crate) fn watches_closed(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut rx = self.inner.close_watches.subscribe();
        async move {
            let _ = rx.changed().await;
        }
    }

    /// The faults set, with their ids.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::error(503).for_verbs(["patch"])).start().await?;
    /// let set = sandbox.faults().list();
    /// assert_eq!(set.len(), 1);
    /// assert_eq!(set[0].1, Fault::error(503).for_verbs(["patch"]));
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> Vec<(FaultId, Fault)> {
        self.lock().clone()
    }

    fn contains(&self, id: FaultId) -> bool {
        self.lock().iter().any(|(i, _)| *i == id)
    }

    /// The faults whose action `kind` picks, whose scope covers `attrs` and whose
    /// probability fires.
    pub(crate) fn matching(
        &self,
        attrs: &Attributes,
        kind: impl Fn(&FaultAction) -> bool,
    ) -> Vec<(FaultId, Fault)> {
        self.lock()
            .iter()
            .filter(|(_, f)| kind(&f.action) && f.matches(attrs) && f.fires())
            .cloned()
            .collect()
    }

    /// The rate limiter of throttle faults.
    pub(crate) fn limiter(&self) -> &throttle::Limiter {
        &self.inner.throttle
    }

    /// Waits until fault `id` is removed.
    pub(crate) async fn until_removed(&self, id: FaultId) {
        let mut rx = self.inner.changed.subscribe();
        while self.contains(id) {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn attrs(group: &str, resource: &str, subresource: &str) -> Attributes {
        Attributes::resource(
            UserInfo::admin(),
            "patch",
            group,
            resource,
            subresource,
            "default",
            "x",
        )
    }

    #[test]
    fn resource_patterns_follow_rbac_conventions() {
        let main = attrs("kube.rs", "documents", "");
        let status = attrs("kube.rs", "documents", "status");
        assert!(resource_matches("documents", &main) && !resource_matches("documents", &status));
        assert!(resource_matches("documents/status", &status));
        assert!(resource_matches("*/status", &status) && !resource_matches("*/status", &main));
        assert!(resource_matches("documents.kube.rs", &main));
        assert!(!resource_matches("documents.example.com", &main));
        assert!(resource_matches("*", &status));
    }

    #[test]
    fn a_probability_of_zero_never_fires_and_none_always_does() {
        let never = Fault::error(500).with_probability(0.0);
        assert!((0..100).all(|_| !never.fires()));
        assert!((0..100).all(|_| Fault::error(500).fires()));
        let half = Fault::error(500).with_probability(0.5);
        let fired = (0..1000).filter(|_| half.fires()).count();
        assert!((350..650).contains(&fired), "{fired}");
    }

    #[test]
    fn faults_parse_from_yaml_lists_wrapped_lists_and_single_faults() {
        let one = parse_faults("{type: error, code: 503, verbs: [patch]}").unwrap_or_default();
        assert_eq!(one, vec![Fault::error(503).for_verbs(["patch"])]);
        let wrapped = parse_faults("faults: [{type: hang}, {type: drop}]").unwrap_or_default();
        assert_eq!(wrapped, vec![Fault::hang(), Fault::drop_connection()]);
        assert!(parse_faults("{type: explode}").is_err());
    }
}
