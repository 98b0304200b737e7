//! [`TestCluster`]: where a test runs.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{Teardown, TestNamespace, TestkitError};
use crate::{Sandbox, SandboxBuilder};

/// Where tests run: a sandbox started for them, or the current context of a kubeconfig (a
/// real cluster, whose user needs the rights the tests use).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kube_apiserver_sandbox::testkit::TestCluster;
/// let cluster = TestCluster::start(kube_apiserver_sandbox::Sandbox::builder().watch_history(100)).await?;
/// assert!(cluster.is_sandbox());
/// let version = cluster.client().apiserver_version().await?;
/// assert_eq!(version.major, "1");
/// # Ok(()) }
/// ```
pub struct TestCluster {
    sandbox: Option<Sandbox>,
    kubeconfig: PathBuf,
    config: kube::Config,
    client: kube::Client,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("sandbox", &self.sandbox)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl TestCluster {
    /// A sandbox with `builder`'s options, started on the current runtime.
    ///
    /// # Errors
    ///
    /// When the sandbox does not start or no client can be built for it.
    pub async fn start(builder: SandboxBuilder) -> Result<Self, TestkitError> {
        let sandbox = builder.start().await?;
        let client = sandbox.client()?;
        Ok(Self {
            kubeconfig: sandbox.kubeconfig_path().to_path_buf(),
            config: sandbox.kube_config(),
            sandbox: Some(sandbox),
            client,
        })
    }

    /// The current context of the kubeconfig at `path`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestCluster;
    /// let sandbox = Sandbox::start().await?;
    /// // Any kubeconfig: here the sandbox's own, as a real cluster's would be used.
    /// let cluster = TestCluster::from_kubeconfig(sandbox.kubeconfig_path()).await?;
    /// assert!(!cluster.is_sandbox());
    /// cluster.client().apiserver_version().await?;
    /// assert!(TestCluster::from_kubeconfig("/absent/kubeconfig").await.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the kubeconfig cannot be read or used, or no client can be built from it.
    pub async fn from_kubeconfig(path: impl Into<PathBuf>) -> Result<Self, TestkitError> {
        let kubeconfig = path.into();
        let invalid = |source| TestkitError::Kubeconfig {
            path: kubeconfig.display().to_string(),
            source,
        };
        let raw = Kubeconfig::read_from(&kubeconfig).map_err(invalid)?;
        let config = kube::Config::from_custom_kubeconfig(raw, &KubeConfigOptions::default())
            .await
            .map_err(invalid)?;
        let client = kube::Client::try_from(config.clone())?;
        Ok(Self {
            sandbox: None,
            kubeconfig,
            config,
            client,
        })
    }

    /// The cluster of the kubeconfig the environment variable `var` names, when it is set and
    /// not empty; else a sandbox started from the builder `configure` returns (the options a
    /// real cluster has fixed, such as its watch history, are then ignored).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestCluster;
    /// // Unset here: a sandbox with the options of the closure.
    /// let cluster = TestCluster::from_env("SOME_UNSET_VARIABLE", |b| b.watch_history(100)).await?;
    /// assert!(cluster.is_sandbox() && cluster.sandbox().is_some());
    /// let read = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path())?;
    /// assert_eq!(read.current_context.as_deref(), Some("sandbox"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`TestCluster::from_kubeconfig`] and [`TestCluster::start`].
    pub async fn from_env(
        var: &str,
        configure: impl FnOnce(SandboxBuilder) -> SandboxBuilder,
    ) -> Result<Self, TestkitError> {
        match std::env::var_os(var).filter(|path| !path.is_empty()) {
            Some(path) => Self::from_kubeconfig(path).await,
            None => Self::start(configure(Sandbox::builder())).await,
        }
    }

    /// A client with the kubeconfig's (or the sandbox admin's) credentials.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The client configuration, to build clients with other settings or credentials.
    pub fn kube_config(&self) -> kube::Config {
        self.config.clone()
    }

    /// The kubeconfig file, for `kubectl --kubeconfig` and binaries (`KUBECONFIG`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The sandbox, for what only it can do (its faults, its revision, compaction); `None`
    /// on a real cluster.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Whether the tests run on a sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// A fresh namespace `<prefix>-<8 hex digits>` for one test. On a real cluster it is
    /// deleted when the guard drops; a sandbox is discarded with everything in it when the
    /// `TestCluster` drops (its server runs on the test's runtime, which is blocked while the
    /// guard drops, so it could not answer a delete then).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestCluster;
    /// use k8s_openapi::api::core::v1::Namespace;
    /// let cluster = TestCluster::start(Sandbox::builder()).await?;
    /// let ns = cluster.namespace("e2e").await?;
    /// let namespaces: kube::Api<Namespace> = kube::Api::all(cluster.client());
    /// assert!(namespaces.get_opt(ns.name()).await?.is_some());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the namespace cannot be created.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace, TestkitError> {
        let ns = TestNamespace::create(&self.client, prefix).await?;
        Ok(if self.is_sandbox() {
            ns
        } else {
            ns.delete_on_drop(self.kube_config())
        })
    }

    /// `work` to do with a fresh client when the returned guard drops, on a real cluster only
    /// (a sandbox is discarded with everything in it): deleting the cluster-scoped objects a
    /// test made.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestCluster;
    /// use k8s_openapi::api::rbac::v1::ClusterRole;
    /// let cluster = TestCluster::start(Sandbox::builder()).await?;
    /// let roles: kube::Api<ClusterRole> = kube::Api::all(cluster.client());
    /// let role = serde_json::from_value(serde_json::json!({"metadata": {"name": "e2e-reader"}}))?;
    /// roles.create(&Default::default(), &role).await?;
    /// // Deletes the ClusterRole when `_cleanup` drops, on a real cluster, pass or fail.
    /// let _cleanup = cluster.teardown(|client| async move {
    ///     let _ = kube::Api::<ClusterRole>::all(client).delete("e2e-reader", &Default::default()).await;
    /// });
    /// # Ok(()) }
    /// ```
    pub fn teardown<F, Fut>(&self, work: F) -> Teardown
    where
        F: FnOnce(kube::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if self.is_sandbox() {
            Teardown::none()
        } else {
            Teardown::new(self.kube_config(), work)
        }
    }
}
