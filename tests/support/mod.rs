//! The end-to-end harness: an API server (the embedded sandbox, or a real cluster), a namespace per
//! test, and the controller running in-process against it.
//!
//! # As deployed
//! [`Controller::start`] runs the controller as the shipped Deployment does: as its ServiceAccount,
//! authenticated by a token file, with the RBAC of `yaml/rbac.yaml` ([`deployed`]).
// region: fault-catalogue
//! And with the `yaml/faults/` manifests its toggles need: a toggle's symptom is the one a person
//! sees on a cluster, not one an admin's credentials would hide.
// endregion: fault-catalogue
//!
//! # Real clusters
//! Set `DOC_CONTROLLER_E2E_KUBECONFIG=/path/to/kubeconfig` and the same tests run against that
//! cluster's current context instead of the sandbox (the user needs cluster-admin rights). Each
//! test works in its own namespace (`e2e-<random>`), deleted when the test ends, pass or fail;
//! what it installs cluster-wide is owned by that namespace and goes with it. The CRD is
//! server-side applied and left installed. Tests that can only check something on the sandbox are
//! ignored there, with their reason (`cfg(real_cluster)`, set by `build.rs`).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod deployed;
pub mod kubectl;
pub mod proxy;
pub mod token_request;

use doc_controller::config::Config;
use doc_controller::diagnosis::report::Diagnostics;
use doc_controller::diagnosis::{Finding, Settings};
use doc_controller::{App, AppError, Document, DocumentSpec};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{Condition, await_condition};
use kube_apiserver_sandbox::testkit::{self, Metrics, TestCluster};
pub use kube_apiserver_sandbox::testkit::{TestNamespace, eventually};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
// region: fault-catalogue
use doc_controller::fault::Fault;
// endregion: fault-catalogue

/// The environment variable naming a kubeconfig to run the e2e suite against.
pub const KUBECONFIG_ENV: &str = "DOC_CONTROLLER_E2E_KUBECONFIG";

/// How long any single expectation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the tests run: the sandbox, started for this test, or a real cluster (the testkit's
/// [`TestCluster`]).
pub struct Env {
    cluster: TestCluster,
    /// An admin client, not the controller's.
    pub client: kube::Client,
}

impl Env {
    /// Connects to the cluster named by [`KUBECONFIG_ENV`], or starts a sandbox; installs the CRD.
    pub async fn new() -> Env {
        let env = Self::without_crd().await;
        doc_controller::document::install(env.client.clone(), TIMEOUT)
            .await
            .expect("CRD installs");
        env
    }

    /// Like [`Env::new`], with sandbox options (ignored on a real cluster).
    pub async fn with_sandbox(
        options: impl FnOnce(
            kube_apiserver_sandbox::SandboxBuilder,
        ) -> kube_apiserver_sandbox::SandboxBuilder,
    ) -> Env {
        let env = Self::connect(options).await;
        doc_controller::document::install(env.client.clone(), TIMEOUT)
            .await
            .expect("CRD installs");
        env
    }

    /// Like [`Env::new`] but without installing the CRD (on a real cluster it may be there).
    pub async fn without_crd() -> Env {
        Self::connect(|b| b).await
    }

    /// The embedded sandbox, for server-side faults; `None` on a real cluster.
    pub fn sandbox(&self) -> Option<&kube_apiserver_sandbox::Sandbox> {
        self.cluster.sandbox()
    }

    async fn connect(
        options: impl FnOnce(
            kube_apiserver_sandbox::SandboxBuilder,
        ) -> kube_apiserver_sandbox::SandboxBuilder,
    ) -> Env {
        let cluster = TestCluster::from_env(KUBECONFIG_ENV, options)
            .await
            .unwrap_or_else(|e| panic!("the sandbox, or the cluster of {KUBECONFIG_ENV}: {e}"));
        Env {
            client: cluster.client(),
            cluster,
        }
    }

    /// Whether this run is on the embedded sandbox (some checks need to control the server).
    pub fn is_sandbox(&self) -> bool {
        self.cluster.is_sandbox()
    }

    /// The kubeconfig for `kubectl --kubeconfig` and the controller binary.
    pub fn kubeconfig(&self) -> &Path {
        self.cluster.kubeconfig_path()
    }

    /// Client configuration for an in-process controller.
    pub fn kube_config(&self) -> kube::Config {
        self.cluster.kube_config()
    }

    /// A fresh namespace `e2e-<random>` for one test, deleted on a real cluster when the
    /// returned guard drops, pass or fail: the Documents still holding the stopped
    /// controller's finalizer are released first ([`release_documents`]).
    pub async fn namespace(&self) -> TestNamespace {
        self.cluster
            .namespace("e2e")
            .await
            .expect("namespace created")
            .before_delete(release_documents)
    }
}

/// Releases the finalizers of the Documents of a test namespace about to be deleted on a real
/// cluster. The controller has stopped by now, so Documents still holding its finalizer would
/// keep the namespace Terminating for ever (what the guide's emergency release does).
async fn release_documents(client: kube::Client, name: String) {
    let docs: Api<Document> = Api::namespaced(client, &name);
    if let Ok(list) = docs.list(&ListParams::default()).await {
        let release = Patch::Merge(serde_json::json!({ "metadata": { "finalizers": null } }));
        for doc in list
            .items
            .iter()
            .filter(|d| d.metadata.finalizers.is_some())
        {
            let doc_name = doc.metadata.name.as_deref().unwrap_or_default();
            let _ = docs
                .patch(doc_name, &PatchParams::default(), &release)
                .await;
        }
    }
}

/// A controller running in-process, scoped to one namespace.
pub struct Controller {
    admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), AppError>>,
    /// The identity it runs as, when started as deployed (the token file must outlive it).
    identity: Option<(deployed::Installed, deployed::TokenFile)>,
}

impl Controller {
    /// Starts the controller for `ns` with `config` (its namespace and admin address are
    /// overridden), as deployed: as its ServiceAccount with the shipped RBAC (see [`deployed`]).
    pub async fn start(env: &Env, ns: &TestNamespace, config: Config) -> Controller {
        // region: fault-catalogue
        // With the setups of the toggles `config` switches on.
        if !config.faults.is_empty() {
            return Self::start_with(env, ns, config, &[], None).await;
        }
        // endregion: fault-catalogue
        let installed = deployed::install(env, ns).await;
        let token = deployed::TokenFile::new(env, &installed).await;
        let mut controller = Self::start_as(token.kube_config(env), ns.name(), config).await;
        controller.identity = Some((installed, token));
        controller
    }

    // region: fault-catalogue
    /// Like [`Controller::start`], with the setups of the toggles `config` switches on and of
    /// `setups_of` installed too (an "off" test that shows the right way under the conditions of
    /// the wrong way's symptom), reaching the API server through `proxy` when given.
    pub async fn start_with(
        env: &Env,
        ns: &TestNamespace,
        config: Config,
        setups_of: &[Fault],
        proxy: Option<&proxy::Proxy>,
    ) -> Controller {
        let mut faults: Vec<_> = config.faults.iter().collect();
        faults.extend(setups_of.iter().filter(|f| !config.faults.is_on(**f)));
        let installed = deployed::install_for(env, ns, &faults).await;
        let token = deployed::TokenFile::new(env, &installed).await;
        let kube_config = match proxy {
            Some(proxy) => proxy.kube_config(&token.kube_config(env)),
            None => token.kube_config(env),
        };
        let mut controller = Self::start_as(kube_config, ns.name(), config).await;
        controller.identity = Some((installed, token));
        controller
    }
    // endregion: fault-catalogue

    /// Like [`Controller::start`], with a client configuration of the test's choosing (a token
    /// file the test rotates, for instance); installs nothing.
    pub async fn start_as(
        kube_config: kube::Config,
        namespace: &str,
        config: Config,
    ) -> Controller {
        // Half-second diagnosis windows, unless the test chose its own: findings show (and, in
        // the tests that expect none, fail to show) within seconds.
        let diagnosis = if config.diagnosis == Settings::default() {
            DIAGNOSIS
        } else {
            config.diagnosis
        };
        let config = Config {
            namespace: Some(namespace.to_string()),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            diagnosis,
            ..config
        };
        let app = App::start(config, kube_config)
            .await
            .expect("controller starts");
        let admin = app.admin_addr().expect("admin address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Controller {
            admin,
            stop: Some(stop),
            task,
            identity: None,
        }
    }

    /// Waits until exactly the `expected` findings are raised, and checks that no other was
    /// raised at any time.
    pub async fn expect_findings(&self, expected: &[Finding]) {
        expect_findings(self.admin, expected).await;
    }

    /// Waits a few diagnosis windows (the positive control: the doctor evaluates), then checks
    /// that no finding was raised at any time.
    pub async fn expect_no_findings(&self) {
        expect_findings(self.admin, &[]).await;
    }

    /// Waits until `finding` is cleared.
    pub async fn wait_cleared(&self, finding: Finding) {
        eventually(&format!("{finding} cleared"), || async {
            let report = diagnostics(self.admin).await;
            (!report.active().any(|f| f.finding == finding.name())).then_some(())
        })
        .await;
    }

    /// The user the controller authenticates as, when started as deployed.
    pub fn user(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .map(|(installed, _)| installed.user.as_str())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await.1
    }

    /// Documents its watch has delivered so far, in the initial list or as changes, before any
    /// predicate: the positive control of a test that shows a change is *not* reconciled.
    pub async fn documents_seen(&self) -> f64 {
        let metrics = self.metrics().await;
        ["apply", "init_apply"]
            .iter()
            .map(|event| {
                sum_metric(
                    &metrics,
                    "doc_controller_watch_events_total",
                    &[("resource", "documents"), ("event", event)],
                )
            })
            .sum()
    }

    /// The sum of all series of `name` with every label of `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sum_metric(&self.metrics().await, name, labels)
    }

    /// The status code of `/healthz`.
    pub async fn healthz(&self) -> u16 {
        http_get(self.admin, "/healthz").await.0
    }

    /// Its admin server's address, for clients other than [`http_get`] (a browser).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// How the controller ended, if it ends within `within`; `None` if it is still running.
    pub async fn finished_within(&mut self, within: Duration) -> Option<Result<(), AppError>> {
        match tokio::time::timeout(within, &mut self.task).await {
            Ok(joined) => Some(joined.expect("controller task did not panic")),
            Err(_) => None,
        }
    }

    /// The status code of `/readyz`.
    pub async fn readyz(&self) -> u16 {
        http_get(self.admin, "/readyz").await.0
    }

    /// The status code and body (the reasons when not ready) of `/readyz`.
    pub async fn readyz_with_reasons(&self) -> (u16, String) {
        http_get(self.admin, "/readyz").await
    }

    /// Stops the controller gracefully and returns how it ended.
    pub async fn stop(mut self) -> Result<(), AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(TIMEOUT, &mut self.task)
            .await
            .expect("controller stops within the timeout")
            .expect("controller task did not panic")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The diagnosis settings of the tests: half-second windows, Terminating past 2 s is stuck.
pub const DIAGNOSIS: Settings = Settings {
    window: Duration::from_millis(500),
    stuck_after: Duration::from_secs(2),
};

/// The `/diagnostics` report of the controller whose admin server is at `admin`.
pub async fn diagnostics(admin: SocketAddr) -> Diagnostics {
    let (code, body) = http_get(admin, "/diagnostics").await;
    assert_eq!(code, 200, "/diagnostics: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/diagnostics: {e}: {body}"))
}

/// Waits until every finding of `expected` has been raised (with none expected: until the doctor
/// has evaluated a few more windows), then checks that no other finding was raised at any time.
/// "Has been raised", not "is raised now": a symptom of a few windows (blocking reconciles while
/// Documents converge) may have cleared again by the time the test looks.
pub async fn expect_findings(admin: SocketAddr, expected: &[Finding]) {
    let names: Vec<&str> = expected.iter().map(|f| f.name()).collect();
    let start = diagnostics(admin).await.windows;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let report = loop {
        let report = diagnostics(admin).await;
        let raised = |name: &&str| {
            report
                .findings
                .iter()
                .any(|f| f.finding == *name && f.raised > 0)
        };
        // Positive control for "none": the doctor keeps evaluating (3 windows more).
        if names.iter().all(raised) && report.windows >= start + 3 {
            break report;
        }
        let summary: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.raised > 0 || f.active)
            .map(|f| format!("{} (raised {}, active {})", f.finding, f.raised, f.active))
            .collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the findings {names:?} after {} windows; raised: {summary:?}",
            report.windows
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unrelated: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.raised > 0 && !names.contains(&f.finding.as_str()))
        .map(|f| format!("{} ({}; {})", f.finding, f.symptom, f.evidence.join("; ")))
        .collect();
    assert!(
        unrelated.is_empty(),
        "unrelated findings raised: {unrelated:#?}"
    );
}

/// The sum of the samples of `name` with every label of `labels`, in a `/metrics` text.
pub fn sum_metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    Metrics::parse(text).sum(name, labels)
}

/// A Document in the shape tests need.
pub fn doc(name: &str, title: &str, content: &str) -> Document {
    Document::new(
        name,
        DocumentSpec {
            title: title.into(),
            content: content.into(),
            hide: false,
        },
    )
}

/// Ready with the given reason, for the Document's current generation.
pub fn ready_as(reason: &'static str) -> impl Fn(Option<&Document>) -> bool {
    move |d: Option<&Document>| {
        d.is_some_and(|d| {
            let generation = d.metadata.generation;
            d.status.as_ref().is_some_and(|s| {
                s.observed_generation == generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.reason == reason)
            })
        })
    }
}

pub async fn create(api: &Api<Document>, d: &Document) -> Document {
    api.create(&PostParams::default(), d)
        .await
        .expect("document created")
}

pub async fn set_spec(api: &Api<Document>, name: &str, spec: serde_json::Value) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
    .expect("document patched");
}

/// Creates Documents `doc-0` .. `doc-{n-1}` and waits until all are Ready.
pub async fn converge(api: &Api<Document>, n: usize) {
    for i in 0..n {
        create(
            api,
            &doc(&format!("doc-{i}"), &format!("Doc {i}"), "some words"),
        )
        .await;
    }
    for i in 0..n {
        wait_for(api, &format!("doc-{i}"), ready_as("Published")).await;
    }
}

/// Waits until `condition` holds for the named Document, or fails the test.
pub async fn wait_for(
    api: &Api<Document>,
    name: &str,
    condition: impl Condition<Document>,
) -> Document {
    testkit::wait_for(api, name, condition, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("Document {name}: {e}"))
}

/// Deletes the named Document and waits until it is gone (its finalizer released), or fails
/// the test.
pub async fn delete_and_wait(api: &Api<Document>, name: &str) {
    let uid = api
        .get(name)
        .await
        .expect("document exists")
        .metadata
        .uid
        .expect("uid");
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete accepted");
    tokio::time::timeout(
        TIMEOUT,
        await_condition(
            api.clone(),
            name,
            kube::runtime::wait::conditions::is_deleted(&uid),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("Document {name} still there: finalizer not released"))
    .expect("watch works");
}

/// A plain HTTP GET of the admin server; status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    testkit::http_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("admin server: {e}"))
}

/// The `doc-controller` binary as a child process, as deployed (its ServiceAccount's token file,
/// the shipped RBAC), with its log output captured: for what only a process shows (exit codes,
/// its own log lines, its own memory).
pub struct Binary {
    child: tokio::process::Child,
    admin: SocketAddr,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    /// The tasks copying stdout and stderr into `logs`; they end with the process's output.
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// Keeps the token file and kubeconfig alive while the process runs.
    _identity: Option<(deployed::Installed, deployed::TokenFile)>,
}

impl Binary {
    /// Starts the binary for `ns` as deployed, with environment variables `envs` (e.g.
    /// `RUST_LOG`).
    pub async fn start(env: &Env, ns: &TestNamespace, envs: &[(&str, &str)]) -> Binary {
        let installed = deployed::install(env, ns).await;
        let token = deployed::TokenFile::new(env, &installed).await;
        let kubeconfig = token.kubeconfig(env);
        let mut binary = Self::spawn(&kubeconfig, &Self::args(ns), envs).await;
        binary._identity = Some((installed, token));
        binary
    }

    /// The flags every test run gets: its namespace, and the tests' diagnosis settings.
    fn args(ns: &TestNamespace) -> Vec<String> {
        vec![
            "--namespace".to_string(),
            ns.name().to_owned(),
            format!(
                "--diagnosis-window={}",
                humantime::format_duration(DIAGNOSIS.window)
            ),
            format!(
                "--stuck-after={}",
                humantime::format_duration(DIAGNOSIS.stuck_after)
            ),
        ]
    }

    // region: fault-catalogue
    /// Like [`Binary::start`], with the setups of `faults` installed and the toggles on.
    pub async fn start_with_faults(
        env: &Env,
        ns: &TestNamespace,
        faults: &[Fault],
        envs: &[(&str, &str)],
    ) -> Binary {
        let installed = deployed::install_for(env, ns, faults).await;
        Self::start_installed(env, ns, installed, faults, envs).await
    }

    /// Like [`Binary::start_with_faults`] for an identity installed by the caller (e.g. with the
    /// binding revoked, [`deployed::install_revoked`]).
    pub async fn start_installed(
        env: &Env,
        ns: &TestNamespace,
        installed: deployed::Installed,
        faults: &[Fault],
        envs: &[(&str, &str)],
    ) -> Binary {
        Self::start_with(env, ns, installed, faults, envs, &[], None).await
    }

    /// [`Binary::start_as`] with the toggles `faults` on.
    pub async fn start_with(
        env: &Env,
        ns: &TestNamespace,
        installed: deployed::Installed,
        faults: &[Fault],
        envs: &[(&str, &str)],
        args: &[&str],
        proxy: Option<&proxy::Proxy>,
    ) -> Binary {
        let mut all: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        all.extend(faults.iter().map(|fault| format!("--fault={fault}")));
        Self::start_as(env, ns, installed, envs, &all, proxy).await
    }
    // endregion: fault-catalogue

    /// The most general start: an identity installed by the caller, extra `args`, and the API
    /// server reached through `proxy` when given.
    pub async fn start_as(
        env: &Env,
        ns: &TestNamespace,
        installed: deployed::Installed,
        envs: &[(&str, &str)],
        args: &[String],
        proxy: Option<&proxy::Proxy>,
    ) -> Binary {
        let token = deployed::TokenFile::new(env, &installed).await;
        let kubeconfig = match proxy {
            Some(proxy) => token.kubeconfig_through(env, proxy),
            None => token.kubeconfig(env),
        };
        let mut all = Self::args(ns);
        all.extend(args.iter().cloned());
        let mut binary = Self::spawn(&kubeconfig, &all, envs).await;
        binary._identity = Some((installed, token));
        binary
    }

    /// Starts the binary with `kubeconfig` and `args` (an admin port is added).
    pub async fn spawn(kubeconfig: &Path, args: &[String], envs: &[(&str, &str)]) -> Binary {
        // A free loopback port for the admin server, so that /metrics and /readyz can be read.
        let admin = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_doc-controller"));
        command
            .arg("--admin-addr")
            .arg(admin.to_string())
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            // With feature `console`, every process would serve tokio-console on 127.0.0.1:6669;
            // the second of two at once has its console thread panic on the taken port.
            .env("TOKIO_CONSOLE_BIND", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("controller binary starts");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        for output in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            readers.push(tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(output).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut all = logs
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    all.push_str(&line);
                    all.push('\n');
                }
            }));
        }
        let mut binary = Binary {
            child,
            admin,
            logs,
            readers,
            _identity: None,
        };
        // The admin server is up once it accepts a connection; or the process ended before.
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while tokio::net::TcpStream::connect(admin).await.is_err()
            && matches!(binary.child.try_wait(), Ok(None))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the binary's admin server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        binary
    }

    /// The log output so far.
    pub fn logs(&self) -> String {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until a log line satisfies `line`; returns it.
    pub async fn wait_for_log(&self, what: &str, line: impl Fn(&str) -> bool) -> String {
        eventually(what, || async {
            self.logs().lines().find(|l| line(l)).map(str::to_string)
        })
        .await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        eventually("the controller binary to be ready", || async {
            let ready = tokio::net::TcpStream::connect(self.admin).await.is_ok()
                && http_get(self.admin, "/readyz").await.0 == 200;
            ready.then_some(())
        })
        .await;
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await.1
    }

    /// See [`Controller::expect_findings`].
    pub async fn expect_findings(&self, expected: &[Finding]) {
        expect_findings(self.admin, expected).await;
    }

    /// The exit code, if the process ends within `within` (`Some(None)`: killed by a signal).
    /// Once it has ended, [`Binary::logs`] holds all of its output.
    pub async fn exited_within(&mut self, within: Duration) -> Option<Option<i32>> {
        let status = tokio::time::timeout(within, self.child.wait()).await.ok()?;
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(TIMEOUT, reader).await;
        }
        Some(status.expect("wait for the child").code())
    }

    /// Its admin server's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The sum of the series of `name` with every label of `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sum_metric(&self.metrics().await, name, labels)
    }

    /// The status code and body of `/readyz`.
    pub async fn readyz(&self) -> (u16, String) {
        http_get(self.admin, "/readyz").await
    }

    /// Sends SIGTERM and returns at once; [`Binary::exited_within`] waits for the exit.
    pub async fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
    }

    /// Kills the process (SIGKILL: no shutdown, no release of anything) and waits for it;
    /// returns its log output.
    pub async fn kill(mut self) -> String {
        let _ = self.child.kill().await;
        let _ = self.exited_within(TIMEOUT).await;
        self.logs()
    }

    /// Stops the process gracefully (SIGTERM), killing it if it has not ended within the
    /// timeout; returns the exit code (`None` if it had to be killed) and the whole log output.
    pub async fn stop(mut self) -> (Option<i32>, String) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let code = match self.exited_within(TIMEOUT).await {
            Some(code) => code,
            None => {
                let _ = self.child.kill().await;
                self.exited_within(TIMEOUT).await.flatten()
            }
        };
        (code, self.logs())
    }
}
