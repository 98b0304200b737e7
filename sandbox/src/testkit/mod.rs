//! What tests around a sandbox (or a real cluster) need, so that every suite does not write
//! its own: where the tests run ([`TestCluster`]: a sandbox started for them, or the cluster
//! of a kubeconfig), a namespace per test deleted when it drops, even when the test panics
//! ([`TestNamespace`]), waiting on conditions with a timeout and a message saying what did not
//! happen ([`eventually`], [`Wait`], [`wait_for`]), and Prometheus metrics parsed into samples
//! a test can query ([`Metrics`]).
//!
//! Everything but [`TestCluster`]'s sandbox works against any cluster: the namespace guard and
//! the waits take a `kube::Client` (and the guard, to delete on drop, a `kube::Config`).
//!
//! ```
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::Api;
//! use kube_apiserver_sandbox::testkit::{Metrics, TestCluster, eventually};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The cluster of $MY_E2E_KUBECONFIG when it is set, else a sandbox for this test.
//! let cluster = TestCluster::from_env("MY_E2E_KUBECONFIG", |builder| builder).await?;
//! let ns = cluster.namespace("demo").await?; // goes when `ns` drops, even on a panic
//! let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), ns.name());
//! let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}}))?;
//! cms.create(&Default::default(), &cm).await?;
//! let uid = eventually("the ConfigMap to be readable", || async {
//!     cms.get_opt("x").await.ok().flatten()?.metadata.uid
//! })
//! .await;
//! assert!(!uid.is_empty());
//! if let Some(sandbox) = cluster.sandbox() {
//!     let metrics = Metrics::parse(&sandbox.metrics_text());
//!     assert!(metrics.sum("sandbox_apiserver_requests_total", &[("verb", "create")]) >= 1.0);
//! }
//! # Ok(()) }
//! ```

mod cluster;
mod metrics;
mod namespace;
mod teardown;
mod wait;

pub use cluster::TestCluster;
pub use metrics::{Metrics, Sample, http_get};
pub use namespace::{TestNamespace, unique_name};
pub use teardown::Teardown;
pub use wait::{DEFAULT_TIMEOUT, Outcome, TimedOut, Wait, WaitError, eventually, wait_for};

/// Why the testkit could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The sandbox did not start.
    #[error("starting the sandbox: {0}")]
    Sandbox(#[from] crate::Error),
    /// The kubeconfig of a real cluster could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// A request to the API server failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// What was waited for did not happen in time.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    /// An object could not be built from JSON.
    #[error("building an object: {0}")]
    Object(#[from] serde_json::Error),
    /// A plain HTTP request (a `/metrics` scrape) failed.
    #[error("{what}: {source}")]
    Http {
        /// What was asked.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}
