//! What every demo needs: a sandbox, Documents, controllers (in-process or the binary), their
//! logs, the sandbox's fault endpoint, live toggles and RBAC.

use crate::table::{DocState, http_get, sum_metric};
use doc_controller::config::Config;
use doc_controller::fault::{Fault, Faults};
use doc_controller::{App, AppError, Document, DocumentSpec};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Any error a demo step can end with.
pub type Res<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How often a line of numbers is printed.
pub const TICK: Duration = Duration::from_secs(2);

/// The namespace the demos put their Documents in.
pub const NS: &str = "default";

/// The ServiceAccount the RBAC-bound controllers run as (as in `yaml/rbac.yaml`).
pub const SERVICE_ACCOUNT: &str = "doc-controller";

// --- logs -------------------------------------------------------------------------------------

/// Log lines captured from a controller (in-process through `tracing`, or a child's output).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<LogBuf>>);

#[derive(Default)]
struct LogBuf {
    total: u64,
    warn: u64,
    lines: VecDeque<String>,
}

/// Most log lines kept for searching; older ones are only counted.
const KEPT_LINES: usize = 5_000;

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogBuf> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one line (ANSI colours removed).
    pub fn push(&self, line: &str) {
        let line = strip_ansi(line.trim_end());
        if line.is_empty() {
            return;
        }
        let mut buf = self.lock();
        buf.total += 1;
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            buf.warn += 1;
        }
        if buf.lines.len() == KEPT_LINES {
            buf.lines.pop_front();
        }
        buf.lines.push_back(line);
    }

    /// Forgets every line (between demos).
    pub fn clear(&self) {
        *self.lock() = LogBuf::default();
    }

    /// WARN and ERROR lines so far.
    pub fn warnings(&self) -> u64 {
        self.lock().warn
    }

    /// Kept lines containing `needle`.
    pub fn count(&self, needle: &str) -> u64 {
        self.lock()
            .lines
            .iter()
            .filter(|l| l.contains(needle))
            .count() as u64
    }

    /// The last kept line containing `needle`, cut to `max` characters.
    pub fn last_short(&self, needle: &str, max: usize) -> Option<String> {
        self.last(needle).map(|l| {
            if l.chars().count() > max {
                let cut: String = l.chars().take(max).collect();
                format!("{cut} …")
            } else {
                l
            }
        })
    }

    /// The last kept line containing `needle`.
    pub fn last(&self, needle: &str) -> Option<String> {
        self.lock()
            .lines
            .iter()
            .rev()
            .find(|l| l.contains(needle))
            .cloned()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A `tracing` writer that hands each formatted event to [`Logs`].
pub struct LogWriter {
    logs: Logs,
    buf: Vec<u8>,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        for line in String::from_utf8_lossy(&self.buf).lines() {
            self.logs.push(line);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter {
            logs: self.clone(),
            buf: Vec::new(),
        }
    }
}

// --- the sandbox ------------------------------------------------------------------------------

/// A sandbox with an admin client, where one demo runs.
pub struct Demo {
    /// The API server.
    pub sandbox: sandbox::Sandbox,
    /// An admin client (not the controller's).
    pub client: kube::Client,
    /// Documents in [`NS`].
    pub docs: Api<Document>,
    /// Log lines of in-process controllers.
    pub logs: Logs,
}

impl Demo {
    /// Starts a sandbox (with the Document CRD when `crd`).
    pub async fn start(logs: &Logs, crd: bool) -> Res<Demo> {
        Self::start_with(sandbox::Sandbox::builder(), logs, crd).await
    }

    /// Like [`Demo::start`] with sandbox options.
    pub async fn start_with(builder: sandbox::SandboxBuilder, logs: &Logs, crd: bool) -> Res<Demo> {
        let sandbox = builder.start().await?;
        let client = sandbox.client()?;
        let demo = Demo {
            docs: Api::namespaced(client.clone(), NS),
            client,
            sandbox,
            logs: logs.clone(),
        };
        println!(
            "sandbox   {} (in this process){}",
            demo.sandbox.url(),
            if crd {
                ", Document CRD installed"
            } else {
                ", WITHOUT the Document CRD"
            }
        );
        if crd {
            demo.install_crd().await?;
        }
        Ok(demo)
    }

    /// Installs the Document CRD (what `cargo run --bin crdgen | kubectl apply -f -` does).
    pub async fn install_crd(&self) -> Res {
        doc_controller::crd::install(self.client.clone(), Duration::from_secs(10)).await?;
        Ok(())
    }

    /// Creates Documents `{prefix}-0` .. `{prefix}-{n-1}`.
    pub async fn create_docs(&self, prefix: &str, n: usize) -> Res {
        for i in 0..n {
            let doc = Document::new(
                &format!("{prefix}-{i}"),
                DocumentSpec {
                    title: format!("{prefix} {i}"),
                    content: format!("Document {i} of the {prefix} demo."),
                    hide: false,
                },
            );
            self.docs.create(&PostParams::default(), &doc).await?;
        }
        Ok(())
    }

    /// Merge-patches the spec of the Document `name`.
    pub async fn set_spec(&self, name: &str, spec: Value) -> Res {
        self.docs
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await?;
        Ok(())
    }

    /// Sets a label on the Document `name` (a change that leaves the spec alone).
    pub async fn label(&self, name: &str, key: &str, value: &str) -> Res {
        self.docs
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "labels": { key: value } } })),
            )
            .await?;
        Ok(())
    }

    /// Deletes the Document `name` (it stays Terminating while its finalizer is on).
    pub async fn delete(&self, name: &str) -> Res {
        self.docs.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }

    /// Waits until every Document of [`NS`] is Ready for its current generation.
    pub async fn wait_all_ready(&self, within: Duration) -> Res {
        let deadline = Instant::now() + within;
        loop {
            let docs = self.docs.list(&ListParams::default()).await?.items;
            if docs.iter().all(|d| DocState::Current.holds(d)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("Documents not Ready within {within:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A controller configuration with `faults` on, watching all namespaces, admin on port 0.
    pub fn config(faults: &[Fault]) -> Config {
        Config {
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::new(faults.iter().copied()),
            ..Config::default()
        }
    }

    /// Starts a controller in this process, as the sandbox admin.
    pub async fn controller(&self, config: Config) -> Res<Controller> {
        self.controller_as(config, self.sandbox.kube_config()).await
    }

    /// Starts a controller in this process with the given client configuration.
    pub async fn controller_as(&self, config: Config, kube: kube::Config) -> Res<Controller> {
        let app = App::start(config, kube).await?;
        let admin = app.admin_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Ok(Controller {
            target: Target {
                admin,
                logs: self.logs.clone(),
            },
            stop: Some(stop),
            task,
        })
    }

    /// Sets a server-side fault through the sandbox's admin endpoint; returns its id.
    pub async fn server_fault(&self, fault: Value) -> Res<u64> {
        let request = http::Request::post("/sandbox/faults")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&fault)?)?;
        let answer: Value = serde_json::from_str(&self.client.request_text(request).await?)?;
        answer
            .pointer("/ids/0")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("unexpected answer from /sandbox/faults: {answer}").into())
    }

    /// Switches live toggles on a running controller: server-side applies the
    /// `doc-controller-config` ConfigMap in [`NS`] with `faults`, then waits (up to 5 s) until
    /// `doc_controller_fault_active` of `target` shows exactly those live toggles on.
    pub async fn set_live(&self, target: &Target, faults: &[Fault]) -> Res {
        let list: Vec<&str> = faults.iter().map(|f| f.name()).collect();
        let list = list.join(",");
        let cm: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "doc-controller-config", "namespace": NS },
            "data": { "faults": list }
        }))?;
        Api::<ConfigMap>::namespaced(self.client.clone(), NS)
            .patch(
                "doc-controller-config",
                &PatchParams::apply("fault-demo").force(),
                &Patch::Apply(&cm),
            )
            .await?;
        let started = Instant::now();
        let confirmed = loop {
            let text = http_get(target.admin, "/metrics")
                .await
                .map(|(_, body)| body)
                .unwrap_or_default();
            let all = Fault::ALL.iter().filter(|f| f.is_live()).all(|f| {
                let label = format!("fault=\"{}\"", f.name());
                let on = sum_metric(&text, "doc_controller_fault_active", &[&label]) == 1.0;
                on == faults.contains(f)
            });
            if all || started.elapsed() > Duration::from_secs(5) {
                break all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let cmd = format!(
            "kubectl patch configmap doc-controller-config --type=merge -p \
             '{{\"data\":{{\"faults\":\"{list}\"}}}}'"
        );
        if confirmed {
            println!(
                "  live      {cmd}\n            → doc_controller_fault_active confirms after {} ms, \
                 no restart",
                started.elapsed().as_millis()
            );
        } else {
            println!(
                "  live      {cmd}\n            → NOT confirmed by doc_controller_fault_active \
                 within 5 s"
            );
        }
        Ok(())
    }

    /// Removes every server-side fault.
    pub async fn clear_server_faults(&self) -> Res {
        let request = http::Request::delete("/sandbox/faults").body(Vec::new())?;
        self.client.request_text(request).await?;
        Ok(())
    }

    /// Creates the ServiceAccount and the ClusterRole of `yaml/rbac.yaml`, binds the role
    /// cluster-wide (`cluster`) or in [`NS`] only, and returns a client configuration
    /// authenticating with a token of the ServiceAccount (TokenRequest).
    pub async fn service_account(&self, cluster: bool) -> Res<kube::Config> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml/rbac.yaml");
        let text = std::fs::read_to_string(path)?;
        let mut role = None;
        for part in text.split("\n---") {
            let v: Value = match serde_saphyr::from_str(part) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v["kind"] == "ClusterRole" {
                role = Some(serde_json::from_value::<ClusterRole>(v)?);
            }
        }
        let role = role.ok_or("no ClusterRole in yaml/rbac.yaml")?;
        let pp = PostParams::default();
        let sa: ServiceAccount = serde_json::from_value(json!({
            "metadata": { "name": SERVICE_ACCOUNT, "namespace": NS }
        }))?;
        Api::<ServiceAccount>::namespaced(self.client.clone(), NS)
            .create(&pp, &sa)
            .await?;
        Api::<ClusterRole>::all(self.client.clone())
            .create(&pp, &role)
            .await?;
        let binding = json!({
            "metadata": { "name": SERVICE_ACCOUNT },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": SERVICE_ACCOUNT },
            "subjects": [{ "kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NS }]
        });
        if cluster {
            Api::<ClusterRoleBinding>::all(self.client.clone())
                .create(&pp, &serde_json::from_value(binding)?)
                .await?;
        } else {
            let mut binding = binding;
            binding["metadata"]["namespace"] = json!(NS);
            Api::<RoleBinding>::namespaced(self.client.clone(), NS)
                .create(&pp, &serde_json::from_value(binding)?)
                .await?;
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let answer = Api::<ServiceAccount>::namespaced(self.client.clone(), NS)
            .create_token_request(SERVICE_ACCOUNT, &pp, &request)
            .await?;
        let token = answer
            .status
            .and_then(|s| s.token)
            .ok_or("TokenRequest without a token")?;
        let mut config = self.sandbox.kube_config();
        config.auth_info.token = Some(token.into());
        Ok(config)
    }
}

// --- controllers ------------------------------------------------------------------------------

/// Where numbers are read from: a controller's admin server and its log lines.
#[derive(Clone)]
pub struct Target {
    /// The admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin: SocketAddr,
    /// Its log lines.
    pub logs: Logs,
}

/// A controller running in this process through [`App::run`].
pub struct Controller {
    /// Where to read its numbers.
    pub target: Target,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), AppError>>,
}

impl Controller {
    /// Resolves `App::run`'s shutdown future and waits for in-flight reconciles to finish.
    pub async fn stop(mut self) -> Res {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(joined) => Ok(joined??),
            Err(_) => {
                crate::note(
                    "the controller did not finish its graceful shutdown within 10 s: kube's \
                     reconcile runner waits for the Document cache's initial list before it \
                     can drain, and that list never came. The demo aborts it.",
                );
                self.task.abort();
                Ok(())
            }
        }
    }

    /// How the controller ended, if it ends within `within`.
    pub async fn ended_within(&mut self, within: Duration) -> Option<Result<(), String>> {
        match tokio::time::timeout(within, &mut self.task).await {
            Ok(Ok(result)) => Some(result.map_err(|e| e.to_string())),
            Ok(Err(join)) => Some(Err(join.to_string())),
            Err(_) => None,
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `doc-controller` binary as a child process, with its output captured.
pub struct Child {
    /// Where to read its numbers.
    pub target: Target,
    child: tokio::process::Child,
}

/// The `doc-controller` binary next to this example (`target/<profile>/doc-controller`).
pub fn controller_binary() -> Res<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot locate the target directory")?;
    let bin = dir.join(format!("doc-controller{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: run `cargo build --bin doc-controller` first (`just demo` does)",
            bin.display()
        )
        .into())
    }
}

impl Child {
    /// Starts the binary against `demo`'s sandbox with these extra arguments.
    pub async fn spawn(demo: &Demo, args: &[&str]) -> Res<Child> {
        // A free loopback port for the admin server, so its /metrics can be read.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = tokio::process::Command::new(controller_binary()?)
            .arg("--admin-addr")
            .arg(admin.to_string())
            .args(args)
            .env("KUBECONFIG", demo.sandbox.kubeconfig_path())
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let logs = Logs::default();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, logs.clone()));
        }
        let mut child = Child {
            target: Target { admin, logs },
            child,
        };
        // Wait for the admin server, or an early exit.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(admin).await.is_ok()
                || !matches!(child.child.try_wait(), Ok(None))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(child)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit code, if the process ends within `within`.
    pub async fn exited_within(&mut self, within: Duration) -> Option<Option<i32>> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.code()),
            Ok(Err(_)) => Some(None),
            Err(_) => None,
        }
    }

    /// Stops the process gracefully (SIGTERM to its pid), killing it after 10 s; returns the
    /// exit code.
    pub async fn stop(mut self) -> Res<Option<i32>> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match self.exited_within(Duration::from_secs(10)).await {
            Some(code) => Ok(code),
            None => {
                self.child.kill().await?;
                Ok(None)
            }
        }
    }
}

async fn pump(stream: impl tokio::io::AsyncRead + Unpin, logs: Logs) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.push(&line);
    }
}
