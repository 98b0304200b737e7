//! One controller process: client, metrics, admin server, preflight, controller, shutdown.
//!
//! [`App::start`] does everything that can fail fast (bind the admin port, build the client with
//! its metrics layer); [`App::run`] then checks the CRD, starts the watches and reconciles until the
//! shutdown future resolves. The binary, the tests and the sandbox example all go through it.
//!
//! # Replicas
//! Every process takes part in the leader election ([`crate::leader`]) once the preflight passed:
//! its watches run either way, but it reconciles and writes only while it holds the Lease. The
//! controller's client carries the write gate that enforces it; the election has a client of its
//! own, without the gate.
//!
//! # Shutdown
//! When `shutdown` resolves, readiness turns false, the controller stops taking new work, in-flight
//! reconciles finish (kube-runtime's graceful shutdown), the Lease is released once every write
//! let through has been answered (a standby takes over at its next look), and the admin server
//! stops last so that metrics can be scraped until the end.

use crate::CONTROLLER_NAME;
use crate::admin;
use crate::api_health::ApiHealthLayer;
use crate::client_metrics::ApiMetricsLayer;
use crate::config::Config;
use crate::controller;
use crate::diagnosis::Doctor;
use crate::document::Document;
use crate::error::Error;
use crate::leader::{Election, LeaderMetrics, Leadership, WriteGateLayer};
use crate::metrics::Metrics;
use crate::preflight::{self, PreflightError};
use crate::readiness::Readiness;
use futures::FutureExt;
use kube::Api;
use kube::client::ClientBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
// region: fault-catalogue
use crate::fault::{Fault, LiveFaults};
// endregion: fault-catalogue

/// Why the controller could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The admin server's address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured admin address.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// The metrics registry rejected a metric (a programming error, caught at start).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The Kubernetes client could not be built from the kubeconfig or in-cluster config.
    #[error("kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The Document CRD is not installed or not readable.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The admin server failed while running.
    #[error("admin server: {0}")]
    Admin(#[source] std::io::Error),
    /// This process cannot tell its identity for the leader election.
    #[error(transparent)]
    Identity(#[from] crate::leader::settings::NoIdentity),
    /// The identity cannot be sent as a User-Agent header (the configuration checks it; a
    /// caller building a `Config` by hand may not).
    #[error("identity {0:?} cannot be sent in a User-Agent header")]
    UserAgent(String),
    // region: fault-catalogue
    /// The client's credentials could not be prepared (`static-credentials` reads the token file).
    #[error("kubernetes client credentials: {0}")]
    Credentials(#[from] crate::credentials::CredentialsError),
    // endregion: fault-catalogue
}

/// The two clients of one process: the controller's, whose writes pass only while this process
/// leads, and the election's, which writes the Lease whether it leads or not.
struct Clients {
    client: kube::Client,
    lease_client: kube::Client,
}

/// The client stack of the controller: kube's own (with the configured credentials), and
/// around it, innermost first, a buffer, the API deadline and reachability, the request metrics,
/// the write gate (`gate`, for the controller's client), and kube's retry policy outermost, so
/// every attempt is gated and counted.
fn instrumented_client(
    kube_config: kube::Config,
    config: &Config,
    readiness: &Readiness,
    metrics: &Metrics,
    gate: Option<WriteGateLayer>,
) -> Result<kube::Client, AppError> {
    // kube retries 429/503/504 inside its own stack, where the metrics layer would only see the
    // final answer: move the same retry policy outside the metrics layer, so every attempt,
    // throttled ones included, shows in doc_controller_api_requests_total.
    let mut kube_config = kube_config;
    let retry = kube_config.default_retry;
    kube_config.default_retry = false;
    let client = ClientBuilder::try_from(kube_config)
        .map_err(AppError::Client)?
        // Retrying needs a service it can clone; kube's stack is boxed, a buffer shares it.
        .with_layer(&tower::buffer::BufferLayer::new(1024));
    // FAULT(api-unreachable): requests are swallowed on their way out of the process and
    // never answered, as when a NetworkPolicy drops the traffic to the API server.
    // Restart-only: a live "off" would have to come through the API it cannot reach.
    // Fix: the deadline below turns the silence into logged, counted, backed-off errors
    // and a /readyz that says why; then allow egress to the API server.
    let client = client.with_layer(&tower::util::option_layer(
        config
            .faults
            .is_on(Fault::ApiUnreachable)
            .then_some(crate::api_health::Unreachable),
    ));
    Ok(client
        // Every request gets a deadline for its response head (watches are not cut), and
        // tells readiness whether the API server answered.
        .with_layer(&ApiHealthLayer::new(config.api_timeout, readiness.clone()))
        .with_layer(&ApiMetricsLayer::new(metrics.api()))
        // A write leaves the process only while it leads (see `leader::gate`); a refused write
        // was never sent, so it is not counted as a request.
        .with_layer(&tower::util::option_layer(gate))
        .with_layer(&tower::util::option_layer(retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        })))
        .build())
}

/// A started, not yet running, controller process.
pub struct App {
    config: Config,
    client: kube::Client,
    /// The same client without the write gate, for the Lease: a standby writes it to take it.
    lease_client: kube::Client,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    doctor: Doctor,
    listener: tokio::net::TcpListener,
}

impl App {
    /// Binds the admin address and builds the instrumented clients.
    pub async fn start(config: Config, kube_config: kube::Config) -> Result<Self, AppError> {
        let metrics = Arc::new(Metrics::new(Error::ALL_LABELS)?);
        let listener = tokio::net::TcpListener::bind(config.admin_addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.admin_addr,
                source,
            })?;
        let readiness = Readiness::new();
        let identity = config.leader_election.identity()?;
        let leadership = crate::leader::leadership(
            &config,
            identity.clone(),
            LeaderMetrics::new(metrics.registry())?,
            readiness.clone(),
        );
        // Credentials stay kube's to refresh: a token file is re-read, exec plugins run again.
        // FAULT(static-credentials): the token is read once at start and the file forgotten, so
        // the kubelet's rotations are never seen: 401 Unauthorized once the copied token expires.
        // Fix: keep `token_file` in the config (`Config::infer()` does) and let kube re-read it;
        // `credentials` says how kube does.
        let kube_config = if config.faults.is_on(Fault::StaticCredentials) {
            crate::credentials::read_token_once(kube_config)?
        } else {
            kube_config
        };
        // Every request names this process, so the API server (its audit log, `managedFields`
        // of non-apply writes) can tell the replicas apart; the part before `/` stays the field
        // manager kube-apiserver derives from it.
        let user_agent = format!(
            "{}/{} ({identity})",
            CONTROLLER_NAME,
            env!("CARGO_PKG_VERSION")
        );
        let mut kube_config = kube_config;
        kube_config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_str(&user_agent).map_err(|_| AppError::UserAgent(identity))?,
        ));
        let client = instrumented_client(
            kube_config.clone(),
            &config,
            &readiness,
            &metrics,
            Some(WriteGateLayer::new(leadership.clone())),
        )?;
        let lease_client = instrumented_client(kube_config, &config, &readiness, &metrics, None)?;
        let doctor = Doctor::new(metrics.clone(), config.diagnosis, config.namespace.clone());
        Ok(Self {
            config,
            client,
            lease_client,
            leadership,
            metrics,
            readiness,
            doctor,
            listener,
        })
    }

    /// The address the admin server listens on (useful with port 0).
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The instrumented client the controller uses.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Runs until `shutdown` resolves. Returns an error if the preflight fails or the admin server
    /// dies; in-flight reconciles finish before it returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let App {
            config,
            client,
            lease_client,
            leadership,
            metrics,
            readiness,
            doctor,
            listener,
        } = self;
        let shutdown = shutdown.boxed().shared();

        // The admin server answers /healthz from the start, so a slow preflight is not a restart.
        let (admin_stop_tx, admin_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let admin = tokio::spawn(admin::serve(
            listener,
            metrics.clone(),
            readiness.clone(),
            doctor.subscribe(),
            async move {
                let _ = admin_stop_rx.await;
            },
        ));

        // Readiness turns false the moment shutdown begins, while in-flight reconciles drain.
        let draining = readiness.clone();
        let mark_draining =
            tokio::spawn(shutdown.clone().map(move |()| draining.set_shutting_down()));
        // The doctor runs from the start: some symptoms (an API server that does not answer)
        // show before the preflight has passed. It goes with the controller.
        let diagnosis = tokio::spawn(doctor.clone().run(
            client.clone(),
            readiness.clone(),
            leadership.clone(),
        ));
        let clients = Clients {
            client,
            lease_client,
        };
        let result = Self::control(
            config, clients, leadership, metrics, doctor, &readiness, shutdown,
        )
        .await;
        diagnosis.abort();
        mark_draining.abort();
        readiness.set_shutting_down();
        let _ = admin_stop_tx.send(());
        let admin_result = admin.await;
        result?;
        match admin_result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Admin(e)),
            Err(join) => Err(AppError::Admin(std::io::Error::other(join))),
        }
    }

    /// Preflight, then the election and the controller; the Lease is released once the
    /// controller has drained, whatever ended it.
    async fn control(
        config: Config,
        clients: Clients,
        leadership: Leadership,
        metrics: Arc<Metrics>,
        doctor: Doctor,
        readiness: &Readiness,
        shutdown: futures::future::Shared<futures::future::BoxFuture<'static, ()>>,
    ) -> Result<(), AppError> {
        let Clients {
            client,
            lease_client,
        } = clients;
        // region: fault-catalogue
        // The toggles in force are on /metrics (and the admin page) from the start, whatever
        // becomes of the preflight and the controller.
        let faults = LiveFaults::new(config.faults.clone());
        let gauges = controller::toggles::Gauges::register(&metrics)?;
        gauges.publish(&faults, &[]);
        // Said before the preflight: some toggles (api-unreachable) keep it from ever passing.
        if !config.faults.is_empty() {
            tracing::warn!(
                faults = %config.faults,
                "failure toggles are ON: this controller misbehaves on purpose (see docs/faults.md)"
            );
        }
        // endregion: fault-catalogue
        if !Self::preflight(&config, &client, shutdown.clone()).await? {
            return Ok(());
        }
        readiness.set_preflight_passed();

        let elector = leadership.clone();
        // The controller, until shutdown (not started before it is awaited, below).
        let controller = async {
            // FAULT(controller-down): the process is up, `/healthz` answers and metrics are
            // served, but nothing reconciles: deleted Documents stay Terminating until a
            // controller runs again. Fix: run the controller (and alert when reconciles stop, not
            // only on liveness).
            if config.faults.is_on(Fault::ControllerDown) {
                tracing::warn!("controller-down: not starting the controller");
                shutdown.await;
                return;
            }
            tracing::info!(
                namespace = config.namespace.as_deref().unwrap_or("<all>"),
                concurrency = config.concurrency,
                "starting controller"
            );
            // region: fault-catalogue
            if config.live_faults {
                tracing::info!(
                    config_map = controller::toggles::CONFIG_MAP,
                    "following live failure toggles"
                );
            }
            // endregion: fault-catalogue

            let (synced, run) = controller::build(
                client,
                config.clone(),
                leadership,
                metrics,
                doctor,
                shutdown.clone(),
                // region: fault-catalogue
                (faults, gauges),
                // endregion: fault-catalogue
            );
            let ready = readiness.clone();
            let (mut documents, mut config_maps) = (synced.documents, synced.config_maps);
            let wait_ready = async move {
                let synced = |s: &bool| *s;
                if documents.wait_for(synced).await.is_ok()
                    && config_maps.wait_for(synced).await.is_ok()
                {
                    ready.set_stores_ready();
                    tracing::info!("caches synced, ready");
                }
            };
            // Readiness waits for the caches, but never holds up shutdown.
            let wait_ready = tokio::spawn(wait_ready);
            run.await;
            wait_ready.abort();
            tracing::info!("controller stopped");
        };
        // FAULT(no-leader-election): outside the election no elector runs: nothing asks for the
        // Lease, nothing releases it, and the controller writes all the same.
        if elector.is_outside_election() {
            controller.await;
            return Ok(());
        }
        // A replica that cannot see the CRD does not stand for leader; one that can, does, even
        // before its caches are synced: a new leader reconciles once they are.
        let election = Election::start(lease_client, config.leader_election.clone(), elector);
        // Whatever ends the controller, the Lease is released after it (see `leader`).
        controller.await;
        election.resign(config.api_timeout).await;
        Ok(())
    }

    /// Waits until the Document CRD is served (retried while the API server does not answer);
    /// `false` when shutdown came first.
    async fn preflight(
        config: &Config,
        client: &kube::Client,
        shutdown: impl Future<Output = ()>,
    ) -> Result<bool, PreflightError> {
        // FAULT(skip-preflight): without this check a missing CRD is an endless series of 404
        // watch retries. Fix: one LIST up front, and a clear exit with the install command.
        if config.faults.is_on(Fault::SkipPreflight) {
            return Ok(true);
        }
        // The configured scope, not the watch's: `forbidden-watch` is to show up as watch errors.
        let docs: Api<Document> = controller::watches::scoped(client, config.namespace.as_deref());
        tokio::select! {
            checked = preflight::wait_for_crd(&docs) => checked.map(|()| true),
            () = shutdown => Ok(false),
        }
    }
}
