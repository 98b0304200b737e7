//! [`Sandbox`] and [`SandboxBuilder`]: a server started on the current tokio runtime, and how
//! to reach it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::kubeconfig::{self, KubeconfigError};
use super::tls::{self, TlsError};
use super::{Server, handle, listener, restart, seed};
use crate::auth::tokens::{TokenError, TokenStore};
use crate::controllers;
use crate::filters::audit::AuditLog;
use crate::filters::faults::{self, Fault, Faults};
use crate::filters::flowcontrol::{Apf, DEFAULT_SERVER_CONCURRENCY_LIMIT};
use crate::filters::metrics::ServerMetrics;
use crate::filters::{self, Gate};
use crate::http::HttpState;
use crate::registry::Registry;
use crate::storage::Store;
use crate::storage::latency::LatencyModel;
use crate::verbs::ApiState;

/// Why a sandbox did not start, or could not hand out a client or a token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding or inspecting the listener failed.
    #[error("listening on 127.0.0.1:{port}: {source}")]
    Listen {
        /// Requested port (0 for any).
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// Creating the temporary directory failed.
    #[error("creating temporary directory: {0}")]
    TempDir(std::io::Error),
    /// TLS material could not be generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Client configuration could not be produced.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The kube client could not be built.
    #[error("building kube client: {0}")]
    Client(#[from] kube::Error),
    /// A ServiceAccount token could not be issued.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Options for a sandbox; see [`Sandbox::builder`].
///
/// ```
/// use std::time::Duration;
/// use kube_apiserver_sandbox::{Fault, Sandbox};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = Sandbox::builder()
///     .watch_history(1_000)
///     .bookmark_interval(Duration::from_secs(1))
///     .fault(Fault::error(503).for_verbs(["delete"]))
///     .start()
///     .await?;
/// assert_eq!(sandbox.faults().list().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    pub(super) port: u16,
    pub(super) watch_history: usize,
    pub(super) bookmark_interval: Duration,
    pub(super) kubeconfig: Option<PathBuf>,
    pub(super) faults: Vec<Fault>,
    pub(super) server_concurrency_limit: u32,
    pub(super) latency: LatencyModel,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            port: 0,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            kubeconfig: None,
            faults: Vec::new(),
            server_concurrency_limit: DEFAULT_SERVER_CONCURRENCY_LIMIT,
            latency: LatencyModel::NONE,
        }
    }
}

impl SandboxBuilder {
    /// Port to listen on (127.0.0.1); 0, the default, picks a free one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let sandbox = Sandbox::builder().port(free).start().await?;
    /// assert_eq!(sandbox.url(), format!("https://127.0.0.1:{free}"));
    /// # Ok(()) }
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How many changes the sandbox's etcd keeps (default 10,000): exact lists and continue
    /// tokens from before the oldest answer 410 Expired, as after an etcd compaction. Each
    /// resource's watch window (the apiserver's watch cache, 100 to 102,400 events sized by
    /// their age) holds no more than this either, so watches resuming from older
    /// resourceVersions answer 410 Expired too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// use kube::api::{ListParams, VersionMatch};
    /// let sandbox = Sandbox::builder().watch_history(2).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let first = sandbox.revision().to_string();
    /// for name in ["a", "b", "c"] {
    ///     let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    ///     cms.create(&Default::default(), &cm).await?;
    /// }
    /// let exact = ListParams::default().at(&first).matching(VersionMatch::Exact);
    /// let expired = cms.list(&exact).await.unwrap_err(); // 3 changes since, 2 kept
    /// assert!(matches!(expired, kube::Error::Api(s) if s.code == 410));
    /// # Ok(()) }
    /// ```
    pub fn watch_history(mut self, events: usize) -> Self {
        self.watch_history = events.max(1);
        self
    }

    /// How often watches asking for bookmarks receive one (default 5 s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// use futures::StreamExt;
    /// use kube::api::{WatchEvent, WatchParams};
    /// let every = std::time::Duration::from_millis(100);
    /// let sandbox = Sandbox::builder().bookmark_interval(every).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let rv = sandbox.revision().to_string();
    /// let mut events = cms.watch(&WatchParams::default(), &rv).await?.boxed(); // asks for bookmarks
    /// assert!(matches!(events.next().await, Some(Ok(WatchEvent::Bookmark(_)))));
    /// # Ok(()) }
    /// ```
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Delays writes, reads and watch events the way a real API server with etcd does
    /// ([`LatencyModel`]); none by default.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// use kube_apiserver_sandbox::LatencyModel;
    /// let writes = LatencyModel { write: std::time::Duration::from_millis(50), ..LatencyModel::NONE };
    /// let sandbox = Sandbox::builder().latency(writes).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}}))?;
    /// let started = std::time::Instant::now();
    /// cms.create(&Default::default(), &cm).await?;
    /// assert!(started.elapsed() >= writes.write);
    /// # Ok(()) }
    /// ```
    pub fn latency(mut self, model: LatencyModel) -> Self {
        self.latency = model;
        self
    }

    /// Also write the kubeconfig to this path (besides the one in the temporary directory).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sandbox.kubeconfig"); // e.g. for `kubectl --kubeconfig`
    /// let sandbox = Sandbox::builder().kubeconfig_path(&path).start().await?;
    /// let written = kube::config::Kubeconfig::read_from(&path)?;
    /// assert_eq!(written.current_context.as_deref(), Some("sandbox"));
    /// assert_ne!(path, sandbox.kubeconfig_path());
    /// # Ok(()) }
    /// ```
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Starts the server on the current tokio runtime: TLS material, a kubeconfig, the
    /// objects a fresh cluster has (namespaces, API Priority and Fairness), its controllers,
    /// and the listener on 127.0.0.1.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let sandbox = Sandbox::builder().watch_history(100).start().await?;
    /// let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(sandbox.client()?);
    /// let names: Vec<_> = namespaces.list(&Default::default()).await?.items.into_iter()
    ///     .filter_map(|ns| ns.metadata.name)
    ///     .collect();
    /// assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the port cannot be bound, or the temporary directory, the TLS material or the
    /// kubeconfig cannot be made ([`Error`]).
    pub async fn start(self) -> Result<Sandbox, Error> {
        let material = tls::generate()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|source| Error::Listen {
                port: self.port,
                source,
            })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| Error::Listen {
            port: self.port,
            source,
        })?;
        let url = format!("https://{addr}");
        let token = uuid::Uuid::new_v4().simple().to_string();
        let dir = tempfile::Builder::new()
            .prefix("sandbox-")
            .tempdir()
            .map_err(Error::TempDir)?;
        let kubeconfig_path = dir.path().join("kubeconfig");
        let config = kubeconfig::kubeconfig(&url, &material.ca_pem, kubeconfig::ADMIN, &token);
        kubeconfig::write(&kubeconfig_path, &config)?;
        if let Some(extra) = &self.kubeconfig {
            kubeconfig::write(extra, &config)?;
        }
        let api = Arc::new(ApiState {
            store: Store::new(self.watch_history),
            registry: Registry::with_builtins(),
            bookmark_interval: self.bookmark_interval,
            latency: self.latency,
        });
        let faults = Faults::default();
        for fault in self.faults {
            faults.set(fault);
        }
        let metrics = ServerMetrics::new();
        let gate = Arc::new(Gate {
            api: api.clone(),
            admin_token: token.clone(),
            tokens: TokenStore::default(),
            faults: faults.clone(),
            metrics: metrics.clone(),
            apf: Apf::new(self.server_concurrency_limit),
            audit: AuditLog::default(),
        });
        let server = Arc::new(Server {
            http: HttpState {
                api: api.clone(),
                addr: addr.to_string(),
                bookmarks: metrics.bookmarks(),
            },
            gate: gate.clone(),
        });
        seed::seed(&api);
        api.store.started();
        let (restarts, restart_requests) = restart::channel();
        let tasks = vec![
            controllers::spawn(&api),
            faults::spawn_compactor(faults, Arc::downgrade(&api)),
            tokio::spawn(listener::serve(
                listener,
                material.server_config.clone(),
                filters::around(
                    axum::Router::new()
                        .fallback(handle)
                        .with_state(server.clone()),
                    &gate,
                ),
                api.clone(),
                restart_requests,
            )),
        ];
        Ok(Sandbox {
            url,
            token,
            ca_pem: material.ca_pem,
            ca_der: material.ca_der,
            kubeconfig_path,
            _dir: dir,
            server,
            tasks,
            restarts,
        })
    }
}

/// A running sandbox API server. Dropping it stops the server, its controllers and every open
/// connection, and deletes its temporary directory (and with it the kubeconfig file).
///
/// It runs on the tokio runtime it was started on, so it lives as long as the test (or the
/// program) that started it; kube-rs clients, `kubectl` and controller binaries reach it
/// through [`Sandbox::client`], [`Sandbox::kube_config`] or [`Sandbox::kubeconfig_path`].
///
/// ```
/// use k8s_openapi::api::core::v1::Namespace;
/// use kube::Api;
/// use kube_apiserver_sandbox::Sandbox;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = Sandbox::start().await?;
/// let namespaces: Api<Namespace> = Api::all(sandbox.client()?);
/// let default = namespaces.get("default").await?;
/// assert_eq!(default.status.and_then(|s| s.phase).as_deref(), Some("Active"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Sandbox {
    pub(super) url: String,
    pub(super) token: String,
    pub(super) ca_pem: String,
    pub(super) ca_der: Vec<u8>,
    pub(super) kubeconfig_path: PathBuf,
    pub(super) _dir: tempfile::TempDir,
    pub(super) server: Arc<Server>,
    /// The listener, the controllers, the compactor of `compactEvery` faults.
    pub(super) tasks: Vec<JoinHandle<()>>,
    /// Where [`Sandbox::restart`] asks the accept loop for a restart.
    pub(super) restarts: restart::Restarts,
}

impl Sandbox {
    /// Starts a sandbox with default options on a free port of 127.0.0.1, on the current
    /// tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let sandbox = Sandbox::start().await?;
    /// assert!(sandbox.url().starts_with("https://127.0.0.1:"));
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(cms.list(&Default::default()).await?.items.is_empty());
    /// drop(sandbox); // stops the server and removes its files
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`SandboxBuilder::start`].
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// A builder for non-default options.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let sandbox = Sandbox::builder().watch_history(1_000).start().await?;
    /// sandbox.client()?.apiserver_version().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// A `kube::Config` that connects to this sandbox (CA and admin token included), to build
    /// clients with settings of their own.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let mut config = sandbox.kube_config();
    /// config.read_timeout = Some(std::time::Duration::from_secs(5));
    /// let client = kube::Client::try_from(config)?;
    /// assert_eq!(client.apiserver_version().await?.minor, "32");
    /// # Ok(()) }
    /// ```
    pub fn kube_config(&self) -> kube::Config {
        // Cannot fail: the URL is `https://127.0.0.1:PORT` and the auth info is a plain token.
        kubeconfig::kube_config(&self.url, &self.ca_der, &self.token)
            .expect("the sandbox URL and token always form a valid config")
    }

    /// A `kube::Client` of the admin (`system:masters`) connected to this sandbox.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// use kube::api::{Api, PostParams};
    /// let sandbox = Sandbox::start().await?;
    /// let cms: Api<ConfigMap> = Api::namespaced(sandbox.client()?, "kube-system");
    /// let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "admin-may"}}))?;
    /// cms.create(&PostParams::default(), &cm).await?; // the admin may do anything
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Client`] when kube cannot build the client (its TLS stack).
    pub fn client(&self) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.kube_config())?)
    }

    /// Path of a kubeconfig file for `kubectl --kubeconfig` or a controller binary
    /// (`KUBECONFIG`); it is removed when the sandbox drops.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let read = kube::config::Kubeconfig::read_from(sandbox.kubeconfig_path())?;
    /// assert_eq!(read.current_context.as_deref(), Some("sandbox"));
    /// # Ok(()) }
    /// ```
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The kubeconfig of [`Sandbox::kubeconfig_path`] as kube's typed value, to derive
    /// others from (another user, a token file).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let kubeconfig = sandbox.kubeconfig();
    /// let server = kubeconfig.clusters[0].cluster.as_ref().and_then(|c| c.server.clone());
    /// assert_eq!(server.as_deref(), Some(sandbox.url()));
    /// # Ok(()) }
    /// ```
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        kubeconfig::kubeconfig(&self.url, &self.ca_pem, kubeconfig::ADMIN, &self.token)
    }

    /// `https://127.0.0.1:PORT`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let sandbox = Sandbox::start().await?;
    /// let url: http::Uri = sandbox.url().parse()?;
    /// assert_eq!((url.scheme_str(), url.host()), (Some("https"), Some("127.0.0.1")));
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin bearer token (user `admin`, group `system:masters`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::ConfigMap;
    /// # use kube_apiserver_sandbox::Sandbox;
    /// let sandbox = Sandbox::start().await?;
    /// let admin = kube::Client::try_from(sandbox.kube_config_for_token(sandbox.token()))?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(admin, "kube-system");
    /// cms.list(&Default::default()).await?; // `system:masters` may do anything
    /// # Ok(()) }
    /// ```
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The current global revision (the latest resourceVersion).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let before = sandbox.revision();
    /// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(sandbox.client()?, "default");
    /// let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}}))?;
    /// cms.create(&Default::default(), &cm).await?;
    /// assert_eq!(sandbox.revision(), before + 1);
    /// # Ok(()) }
    /// ```
    pub fn revision(&self) -> u64 {
        self.server.gate.store().revision()
    }

    /// Compacts etcd past every revision handed out so far and restarts every watch window
    /// after them, so watches, exact lists and continue tokens from any resourceVersion handed
    /// out so far get 410 Expired. Stricter than [`Sandbox::restart`], which rebuilds the
    /// watch windows but leaves etcd's history alone, as a real restart does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::{ListParams, VersionMatch};
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(sandbox.client()?, "default");
    /// let old = sandbox.revision().to_string();
    /// sandbox.compact_history();
    /// let exact = ListParams::default().at(&old).matching(VersionMatch::Exact);
    /// let gone = cms.list(&exact).await.unwrap_err();
    /// assert!(matches!(gone, kube::Error::Api(s) if s.code == 410));
    /// # Ok(()) }
    /// ```
    pub fn compact_history(&self) {
        self.server.gate.store().compact();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
