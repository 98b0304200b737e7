//! `sandbox`: an in-memory Kubernetes API server for tests, examples and demos.
//!
//! It speaks the real API over HTTPS with a bearer token, so kube-rs and kubectl talk to it
//! unchanged: CRUD with optimistic concurrency, finalizers and `generation`, list with
//! selectors and paging, watch with history replay, bookmarks and streaming lists,
//! CustomResourceDefinitions with schema validation, patches (merge, JSON, strategic,
//! server-side apply), and background garbage collection.
//!
//! # What mirrors the real kube-apiserver, and what is approximated
//!
//! Mirrored: one global revision stamped into `resourceVersion`; no-op writes that keep it;
//! `409 Conflict` on stale updates; `generation` for custom resources and CRDs; status
//! subresource isolation; finalizers, `deletionTimestamp`, and foreground/orphan/background
//! propagation; namespace termination; the CRD cleanup finalizer; Status bodies worded like
//! the real ones, with the fields a real Status carries; consistent paging snapshots within
//! etcd's history and the list semantics of `resourceVersion`/`resourceVersionMatch`; a watch
//! window per resource like the watch cache's (`410 Expired` for a resourceVersion older than
//! it, such as `1`), and `410 Expired` for compacted exact lists and continue tokens; watch
//! bookmarks and streaming lists (the default for watches from `0` in 1.32); JSON patches as
//! evanphx/json-patch v4 applies them;
//! schema validation, pruning, defaulting and `fieldValidation`; managedFields and
//! server-side apply conflicts; protobuf request bodies for the built-in kinds kubectl's
//! typed commands create; bearer-token users (the admin in `system:masters`, ServiceAccount
//! tokens from the TokenRequest API that expire into 401), RBAC with the real 403 wording,
//! impersonation headers and access reviews that agree with the enforced decisions; tokens
//! bound to a Secret that stop working when it is deleted; API Priority and Fairness
//! configured by FlowSchema and PriorityLevelConfiguration objects (the defaults of a fresh
//! 1.32 server seeded), with its 429s, headers and metrics (see `flowcontrol`).
//!
//! Server-side faults (throttling 429, latency, hanging and dropped connections, forced 5xx,
//! scheduled compaction, credential expiry) are set through [`SandboxBuilder::fault`],
//! [`Sandbox::faults`] or the admin endpoint `/sandbox/faults`; the sandbox's own metrics
//! are at `/metrics` and [`Sandbox::metrics_text`]; who wrote what, with the `User-Agent`, is in
//! [`Sandbox::audit`]. [`Sandbox::restart`] restarts the API server: connections and watches
//! cut, connections refused for a while, then the same objects served on the same port from
//! watch caches rebuilt at the current revision.
//!
//! Approximated: no admission webhooks or CEL validation; no RBAC escalation checks or
//! aggregated ClusterRoles; ServiceAccount tokens are opaque, not JWTs; no
//! aggregated discovery; watchers that fall behind are closed (as the watch cache does) but
//! writers never wait; CRD version conversion only rewrites `apiVersion`; only the built-in
//! kinds configmaps, events (core/v1 and events.k8s.io/v1, two versions of one stored
//! resource), leases, namespaces, secrets, serviceaccounts, flowschemas,
//! prioritylevelconfigurations and customresourcedefinitions are served (plus the
//! self-subject reviews); etcd's history is bounded by a count of changes (`watch_history`),
//! not compacted every 5 minutes; bookmarks come every 5 s by default, not about once a
//! minute; Go decoders' own wording of unparsable bodies is serde's.
//!
//! Every request goes through one entry point (`http::entry`), which runs the
//! authentication, authorization and fault pipeline of `gate` around the handlers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sb = sandbox::Sandbox::start().await?;
//! let client = sb.client()?;
//! // ... use client; `kubectl --kubeconfig <sb.kubeconfig_path()>` works too.
//! drop(sb); // stops the server and removes its temporary directory
//! # Ok(()) }
//! ```

mod access;
mod adapters;
mod admin;
mod api;
mod audit;
mod auth;
mod crd;
mod discovery;
mod events;
mod faults;
mod fieldvalidation;
mod flowcontrol;
mod gate;
mod gc;
mod govalue;
mod http;
mod jsonpatch;
mod kubeconfig;
mod latency;
mod objects;
mod patch;
mod protobuf;
mod registry;
mod request;
mod restart;
mod reviews;
mod schema;
mod secrets;
mod selector;
mod server;
mod server_metrics;
mod ssa;
mod status;
mod store;
mod table;
mod tls;
mod watch;
mod watchcache;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

pub use audit::AuditEntry;
pub use auth::tokens::TokenError;
pub use faults::{
    Fault, FaultAction, FaultFileError, FaultId, Faults, parse_faults, read_fault_file,
};
pub use kubeconfig::KubeconfigError;
pub use latency::LatencyModel;
pub use tls::TlsError;

/// Errors starting a sandbox.
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
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    port: u16,
    watch_history: usize,
    bookmark_interval: Duration,
    kubeconfig: Option<PathBuf>,
    faults: Vec<Fault>,
    server_concurrency_limit: u32,
    latency: LatencyModel,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            port: 0,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            kubeconfig: None,
            faults: Vec::new(),
            server_concurrency_limit: flowcontrol::DEFAULT_SERVER_CONCURRENCY_LIMIT,
            latency: LatencyModel::NONE,
        }
    }
}

impl SandboxBuilder {
    /// Port to listen on (127.0.0.1); 0, the default, picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How many changes the sandbox's etcd keeps (default 10,000): exact lists and continue
    /// tokens from before the oldest answer 410 Expired, as after an etcd compaction. Each
    /// resource's watch window (the apiserver's watch cache, 100 to 102,400 events sized by
    /// their age) holds no more than this either, so watches resuming from older
    /// resourceVersions answer 410 Expired too.
    pub fn watch_history(mut self, events: usize) -> Self {
        self.watch_history = events.max(1);
        self
    }

    /// How often watches asking for bookmarks receive one (default 5 s).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Delays writes, reads and watch events the way a real API server with etcd does
    /// ([`LatencyModel`]); none by default.
    pub fn latency(mut self, model: LatencyModel) -> Self {
        self.latency = model;
        self
    }

    /// Also write the kubeconfig to this path (besides the one in the temporary directory).
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Starts the server on the current tokio runtime.
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
        kubeconfig::write(&kubeconfig_path, &url, &material.ca_pem, &token)?;
        if let Some(extra) = &self.kubeconfig {
            kubeconfig::write(extra, &url, &material.ca_pem, &token)?;
        }
        let state = Arc::new(http::AppState {
            store: store::Store::new(self.watch_history),
            registry: registry::Registry::with_builtins(),
            addr: addr.to_string(),
            token: token.clone(),
            bookmark_interval: self.bookmark_interval,
            latency: self.latency,
            gate: gate::Gate::with_faults(self.faults)
                .with_server_concurrency_limit(self.server_concurrency_limit),
        });
        seed(&state);
        state.store.started();
        gate::spawn_compactor(Arc::downgrade(&state));
        let (restarts, restart_requests) = restart::channel();
        let task = tokio::spawn(server::serve(
            listener,
            material.server_config.clone(),
            state.clone(),
            restart_requests,
        ));
        Ok(Sandbox {
            url,
            token,
            ca_der: material.ca_der,
            kubeconfig_path,
            _dir: dir,
            state,
            task,
            restarts,
        })
    }
}

/// The namespaces and API Priority and Fairness objects every cluster starts with.
fn seed(state: &http::AppState) {
    flowcontrol::bootstrap::seed(state);
    let res = (String::new(), "namespaces".to_owned());
    let Some(info) = state.registry.lookup("", "v1", "namespaces") else {
        return;
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if objects::prepare_create(&info, &mut obj).is_ok() {
            let _ = state
                .store
                .write(&res, &(String::new(), name.to_owned()), |_, _| {
                    Ok(store::WriteOp::Put(obj))
                });
        }
    }
}

/// A running sandbox API server. Dropping it stops the server and deletes its temporary
/// directory (and with it the kubeconfig file).
#[derive(Debug)]
pub struct Sandbox {
    url: String,
    token: String,
    ca_der: Vec<u8>,
    kubeconfig_path: PathBuf,
    _dir: tempfile::TempDir,
    state: Arc<http::AppState>,
    task: JoinHandle<()>,
    /// Where [`Sandbox::restart`] asks the accept loop for a restart.
    restarts: restart::Restarts,
}

impl Sandbox {
    /// Starts a sandbox with default options on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// A builder for non-default options.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// A `kube::Config` that connects to this sandbox (CA and admin token included).
    pub fn kube_config(&self) -> kube::Config {
        // Cannot fail: the URL is `https://127.0.0.1:PORT` and the auth info is a plain token.
        kubeconfig::kube_config(&self.url, &self.ca_der, &self.token)
            .expect("the sandbox URL and token always form a valid config")
    }

    /// A `kube::Client` connected to this sandbox.
    pub fn client(&self) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.kube_config())?)
    }

    /// Path of a kubeconfig file for `kubectl --kubeconfig`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin bearer token (user `admin`, group `system:masters`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The current global revision (the latest resourceVersion).
    pub fn revision(&self) -> u64 {
        self.state.store.revision()
    }

    /// Compacts etcd past every revision handed out so far and restarts every watch window
    /// after them, so watches, exact lists and continue tokens from any resourceVersion handed
    /// out so far get 410 Expired. Stricter than [`Sandbox::restart`], which rebuilds the
    /// watch windows but leaves etcd's history alone, as a real restart does.
    pub fn compact_history(&self) {
        self.state.store.compact();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}
