//! The top of the crate: the [`Sandbox`] and its [`SandboxBuilder`], which put the layers
//! together (the store and registry the verbs act on, the controllers, the HTTP handlers
//! behind the filter chain, the HTTPS listener), and what only the server has: its TLS
//! material ([`tls`]), its kubeconfig ([`kubeconfig`]), the sandbox's own controls
//! ([`admin`]) and the Rust API of identities, faults and metrics ([`access`]).

mod access;
mod admin;
pub(crate) mod kubeconfig;
mod listener;
mod seed;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::Method;
use tokio::task::JoinHandle;

use crate::auth::tokens::{TokenError, TokenStore};
use crate::auth::{UserInfo, reviews, token_request};
use crate::controllers;
use crate::filters::faults::{self, Fault, Faults};
use crate::filters::flowcontrol::{Apf, DEFAULT_SERVER_CONCURRENCY_LIMIT};
use crate::filters::metrics::ServerMetrics;
use crate::filters::{self, Gate, METRICS_PATH, is_control_path};
use crate::http::call::{Call, read_body};
use crate::http::request_info::RequestInfo;
use crate::http::respond::json_response;
use crate::http::{self as http_layer, HttpState};
use crate::meta::error::ApiError;
use crate::registry::Registry;
use crate::storage::Store;
use crate::verbs::ApiState;
use kubeconfig::KubeconfigError;
use tls::TlsError;

/// What the handlers serve from.
#[derive(Debug)]
struct Server {
    http: HttpState,
    gate: Arc<Gate>,
}

/// The handler behind the filter chain: the sandbox's controls, `/metrics`, the APIs that
/// answer for the requesting user (TokenRequest, the reviews), and everything else through
/// the HTTP layer.
async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let info = filters::request_info(&request);
    let user = filters::user(&request);
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let call = Call {
        method: parts.method,
        query: info.query.clone(),
        headers: parts.headers,
        body,
    };
    let method = call.method.clone();
    let response = match for_the_user(&server, &info, &user, &call) {
        Some(response) => response,
        None => http_layer::serve(&server.http, &info, call).await,
    };
    tracing::debug!(%method, uri = %parts.uri, status = response.status().as_u16(), "request");
    response
}

/// The endpoints that depend on who asks, or `None` for the HTTP layer to answer.
fn for_the_user(
    server: &Server,
    info: &RequestInfo,
    user: &UserInfo,
    call: &Call,
) -> Option<Response> {
    let gate = &server.gate;
    if is_control_path(&info.path) {
        return Some(admin::handle(gate, &call.method, &info.path, &call.body));
    }
    if !info.resource_request {
        return (info.path == METRICS_PATH && call.method == Method::GET).then(|| {
            (
                http::StatusCode::OK,
                [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                gate.metrics_text(),
            )
                .into_response()
        });
    }
    if call.method != Method::POST {
        return None;
    }
    let created = |result: Result<serde_json::Value, ApiError>| match result {
        Ok(v) => json_response(http::StatusCode::CREATED, &v),
        Err(e) => e.into_response(),
    };
    match (
        info.api_group.as_str(),
        info.resource.as_str(),
        info.subresource.as_str(),
    ) {
        ("", "serviceaccounts", "token") if !info.name.is_empty() => {
            Some(created(token_request::token_request(
                &gate.tokens,
                gate.store(),
                &info.namespace,
                &info.name,
                &call.content_type(),
                &call.body,
            )))
        }
        (group, resource, "")
            if info.name.is_empty() && crate::registry::is_review(group, resource) =>
        {
            reviews::answer_as(
                user,
                gate.store(),
                group,
                resource,
                &call.content_type(),
                &call.body,
            )
            .map(created)
        }
        _ => None,
    }
}

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
        let config = kubeconfig::kubeconfig(&url, &material.ca_pem, kubeconfig::ADMIN, &token);
        kubeconfig::write(&kubeconfig_path, &config)?;
        if let Some(extra) = &self.kubeconfig {
            kubeconfig::write(extra, &config)?;
        }
        let api = Arc::new(ApiState {
            store: Store::new(self.watch_history),
            registry: Registry::with_builtins(),
            bookmark_interval: self.bookmark_interval,
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
        })
    }
}

/// A running sandbox API server. Dropping it stops the server and deletes its temporary
/// directory (and with it the kubeconfig file).
#[derive(Debug)]
pub struct Sandbox {
    url: String,
    token: String,
    ca_pem: String,
    ca_der: Vec<u8>,
    kubeconfig_path: PathBuf,
    _dir: tempfile::TempDir,
    server: Arc<Server>,
    /// The listener, the controllers, the compactor of `compactEvery` faults.
    tasks: Vec<JoinHandle<()>>,
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
        self.server.gate.store().revision()
    }

    /// Compacts etcd past every revision handed out so far and restarts every watch window
    /// after them (as if the apiserver restarted), so watches, exact lists and continue tokens
    /// from any resourceVersion handed out so far get 410 Expired.
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
