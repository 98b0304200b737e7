//! What every demo needs: a sandbox, the controller installed as deployed (its ServiceAccount,
//! the shipped RBAC, the toggle's `yaml/faults/` manifest, a token file), Documents, controllers
//! (in-process or the binary), their logs, the sandbox's fault endpoint and live toggles.

use crate::table::{DocState, http_get, sum_metric};
pub use crate::token_request::BoundTo;
use crate::{note, para};
use doc_controller::config::Config;
use doc_controller::diagnosis::Settings;
use doc_controller::fault::{Fault, Faults};
use doc_controller::{App, AppError, Document, DocumentSpec};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::Scope;
use kube_apiserver_sandbox::testkit::Wait;
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};
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

/// The ServiceAccount every controller runs as (`yaml/rbac.yaml` creates it in [`NS`]).
pub const SERVICE_ACCOUNT: &str = "doc-controller";

/// The self-diagnosis of every demo controller: 1 s windows, so that a finding is raised and
/// cleared within a phase (a clear takes several quiet windows; a phase lasts 10-14 s, about one
/// default window), and Terminating past 5 s counts as stuck (the default minute is longer than
/// a demo's phase).
pub const DIAGNOSIS: Settings = Settings {
    window: Duration::from_secs(1),
    stuck_after: Duration::from_secs(5),
};

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

    /// Kept lines containing every one of `needles`, oldest first.
    pub fn matching(&self, needles: &[&str]) -> Vec<String> {
        self.lock()
            .lines
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
            .collect()
    }

    /// The last kept line containing `needle`, without its leading timestamp, cut to `max`
    /// characters.
    pub fn last_short(&self, needle: &str, max: usize) -> Option<String> {
        self.last(needle).map(|l| {
            let l = match l.split_once(' ') {
                Some((stamp, rest)) if stamp.len() > 20 && stamp.ends_with('Z') => rest.to_string(),
                _ => l,
            };
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

/// A sandbox with an admin client and the controller's identity, where one demo runs.
pub struct Demo {
    /// The API server.
    pub sandbox: kube_apiserver_sandbox::Sandbox,
    /// An admin client: the person at the keyboard (creating Documents, applying manifests,
    /// playing another writer), never the controller.
    pub client: kube::Client,
    /// Documents in [`NS`].
    pub docs: Api<Document>,
    /// Log lines of in-process controllers.
    pub logs: Logs,
    /// The identity every controller of the demo runs as: its ServiceAccount's token in a file.
    pub identity: TokenFile,
}

impl Demo {
    /// Starts a sandbox (with the Document CRD when `crd`) and installs the controller as
    /// deployed for `fault`'s demo (see [`deploy`]).
    pub async fn start(logs: &Logs, fault: Fault, crd: bool) -> Res<Demo> {
        Self::start_with(kube_apiserver_sandbox::Sandbox::builder(), logs, fault, crd).await
    }

    /// Like [`Demo::start`] with sandbox options.
    pub async fn start_with(
        builder: kube_apiserver_sandbox::SandboxBuilder,
        logs: &Logs,
        fault: Fault,
        crd: bool,
    ) -> Res<Demo> {
        let sandbox = builder.start().await?;
        let client = sandbox.client()?;
        println!(
            "sandbox   {} (in this process){}",
            sandbox.url(),
            if crd {
                ", Document CRD installed"
            } else {
                ", WITHOUT the Document CRD"
            }
        );
        if crd {
            doc_controller::document::install(client.clone(), Duration::from_secs(10)).await?;
        }
        deploy(&client, fault).await?;
        let token = request_token(&client, None).await?;
        let identity = TokenFile::write(&sandbox, token)?;
        para(
            "token",
            &format!(
                "kubectl create token {SERVICE_ACCOUNT} -n {NS} > token (a TokenRequest): every \
                 controller of this demo reads that file, as in a Pod"
            ),
        );
        Ok(Demo {
            docs: Api::namespaced(client.clone(), NS),
            client,
            sandbox,
            logs: logs.clone(),
            identity,
        })
    }

    /// The user name the controller has: `system:serviceaccount:<namespace>:<name>`.
    pub fn user() -> String {
        format!("system:serviceaccount:{NS}:{SERVICE_ACCOUNT}")
    }

    /// Installs the Document CRD (what `cargo run --bin crdgen | kubectl apply -f -` does).
    pub async fn install_crd(&self) -> Res {
        doc_controller::document::install(self.client.clone(), Duration::from_secs(10)).await?;
        Ok(())
    }

    /// Creates Documents `{prefix}-0` .. `{prefix}-{n-1}`, a few at a time.
    pub async fn create_docs(&self, prefix: &str, n: usize) -> Res {
        futures::stream::iter(0..n)
            .map(|i| {
                let doc = Document::new(
                    &format!("{prefix}-{i}"),
                    DocumentSpec {
                        title: format!("{prefix} {i}"),
                        content: format!("Document {i} of the {prefix} demo."),
                        hide: false,
                    },
                );
                let docs = self.docs.clone();
                async move { docs.create(&PostParams::default(), &doc).await.map(|_| ()) }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
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
        Wait::new("every Document to be Ready")
            .timeout(within)
            .interval(Duration::from_millis(100))
            .until(|| async {
                self.docs
                    .list(&ListParams::default())
                    .await
                    .is_ok_and(|l| l.items.iter().all(|d| DocState::Current.holds(d)))
            })
            .await?;
        Ok(())
    }

    /// A controller configuration with `faults` on, watching all namespaces, admin on port 0,
    /// following `doc-controller-config` (`--live-faults`), so that live toggles switch with
    /// [`Demo::set_live`], and the demos' short diagnosis windows ([`DIAGNOSIS`]).
    pub fn config(faults: &[Fault]) -> Config {
        Config {
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::new(faults.iter().copied()),
            live_faults: true,
            diagnosis: DIAGNOSIS,
            ..Config::default()
        }
    }

    /// Starts a controller in this process, as deployed: as the ServiceAccount, with the token
    /// file of [`Demo::identity`].
    pub async fn controller(&self, config: Config) -> Res<Controller> {
        self.controller_as(config, self.identity.kube_config(&self.sandbox))
            .await
    }

    /// Starts a controller in this process with the given client configuration (the
    /// ServiceAccount's, with changes: a read timeout, another token file).
    pub async fn controller_as(&self, config: Config, kube: kube::Config) -> Res<Controller> {
        let app = App::start(config, kube).await?;
        let admin = app.admin_addr()?;
        print_page(admin);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Ok(Controller {
            target: Target {
                admin,
                logs: self.logs.clone(),
                pid: None,
                findings: Arc::default(),
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
    /// `doc-controller-config` ConfigMap in [`NS`] with `faults` (as its owner, the person at
    /// the keyboard), then waits (up to 5 s) until `doc_controller_fault_active` of `target`
    /// shows exactly those live toggles on. The controller then reconciles every Document by
    /// itself: no Document needs touching for the symptom to show.
    pub async fn set_live(&self, target: &Target, faults: &[Fault]) -> Res {
        let list: Vec<&str> = faults.iter().map(|f| f.name()).collect();
        let list = list.join(",");
        let cms = Api::<ConfigMap>::namespaced(self.client.clone(), NS);
        let cmd = if cms.get_opt(LIVE_CONFIG).await?.is_some() {
            format!(
                "kubectl patch configmap {LIVE_CONFIG} --type=merge -p \
                 '{{\"data\":{{\"faults\":\"{list}\"}}}}'"
            )
        } else {
            format!("kubectl create configmap {LIVE_CONFIG} --from-literal=faults={list}")
        };
        let cm: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": LIVE_CONFIG, "namespace": NS },
            "data": { "faults": list }
        }))?;
        cms.patch(
            LIVE_CONFIG,
            &PatchParams::apply(MANAGER).force(),
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
        println!("  live      {cmd}");
        if confirmed {
            para(
                "",
                &format!(
                    "→ doc_controller_fault_active confirms after {} ms; no restart, no Document \
                     touched: the change itself reconciles every Document",
                    started.elapsed().as_millis()
                ),
            );
        } else {
            para(
                "",
                "→ NOT confirmed by doc_controller_fault_active within 5 s",
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

    /// Revokes the controller's RBAC as a person would: deletes the bindings of
    /// `yaml/rbac.yaml` (the ServiceAccount and its ClusterRole stay), so that every request the
    /// controller makes is answered 403.
    pub async fn revoke_rbac(&self) -> Res {
        for obj in manifest(RBAC)? {
            if is_binding(&obj) {
                let resolved = resolve(&self.client, obj).await?;
                resolved
                    .api
                    .delete(&resolved.name, &DeleteParams::default())
                    .await?;
                println!("rbac      {}", resolved.kubectl("delete"));
            }
        }
        Ok(())
    }

    /// Gives the controller its RBAC back: `kubectl apply -f yaml/rbac.yaml` again.
    pub async fn restore_rbac(&self) -> Res {
        apply_file(&self.client, RBAC).await?;
        note(&format!("kubectl apply -f {RBAC}: the binding is back"));
        Ok(())
    }
}

// --- the deployment ---------------------------------------------------------------------------

/// The shipped RBAC: the ServiceAccount, its ClusterRole and the ClusterRoleBinding.
const RBAC: &str = "yaml/rbac.yaml";

/// The ConfigMap of live toggles.
const LIVE_CONFIG: &str = "doc-controller-config";

/// The field manager of what the person at the keyboard applies.
const MANAGER: &str = "fault-demo";

/// Installs what the controller needs as the shipped Deployment runs it, for `fault`'s demo:
/// `yaml/rbac.yaml` (the ServiceAccount, the least-privilege ClusterRole and its binding) and the
/// toggle's `cluster_setup()` manifest, both applied verbatim from their files, as a person does
/// with `kubectl apply -f` (server-side here). A setup that binds the shipped ClusterRole itself
/// (the namespace-only install of `yaml/faults/forbidden-watch.yaml`) replaces the shipped
/// ClusterRoleBinding, as that file's header says to do: it is deleted before the file is
/// applied.
async fn deploy(client: &kube::Client, fault: Fault) -> Res {
    let setup = fault.cluster_setup();
    let role = manifest(RBAC)?
        .into_iter()
        .find(|obj| obj["kind"] == "ClusterRole")
        .and_then(|obj| obj["metadata"]["name"].as_str().map(str::to_string))
        .ok_or_else(|| format!("no ClusterRole in {RBAC}"))?;
    let namespace_only = match setup {
        Some(file) => manifest(file)?
            .iter()
            .any(|obj| is_binding(obj) && obj["roleRef"]["name"] == role.as_str()),
        None => false,
    };
    match setup {
        Some(file) if !namespace_only => {
            println!("cluster   kubectl apply -f {RBAC} -f {file}");
            let mut applied = apply_file(client, RBAC).await?;
            applied.extend(apply_file(client, file).await?);
            para("", &format!("applied: {}", applied.join(", ")));
        }
        Some(file) => {
            println!("cluster   kubectl apply -f {RBAC}");
            let mut applied = apply_file(client, RBAC).await?;
            for obj in manifest(RBAC)? {
                if obj["kind"] == "ClusterRoleBinding" && obj["roleRef"]["name"] == role.as_str() {
                    let resolved = resolve(client, obj).await?;
                    resolved
                        .api
                        .delete(&resolved.name, &DeleteParams::default())
                        .await?;
                    println!(
                        "          {}   # the file below replaces it",
                        resolved.kubectl("delete")
                    );
                    applied.retain(|a| *a != resolved.describe());
                }
            }
            println!("          kubectl apply -f {file}");
            applied.extend(apply_file(client, file).await?);
            para("", &format!("in place: {}", applied.join(", ")));
        }
        None => {
            println!("cluster   kubectl apply -f {RBAC}");
            let applied = apply_file(client, RBAC).await?;
            para("", &format!("applied: {}", applied.join(", ")));
        }
    }
    Ok(())
}

/// Whether a manifest object is a RoleBinding or ClusterRoleBinding.
fn is_binding(obj: &Value) -> bool {
    obj["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))
}

/// The objects of a YAML file of the repository, in order (empty documents left out).
fn manifest(file: &str) -> Res<Vec<Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let objects: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(objects.into_iter().filter(|o| !o.is_null()).collect())
}

/// A manifest object with the API it lives in, found through discovery.
struct Resolved {
    api: Api<DynamicObject>,
    kind: String,
    name: String,
    namespace: Option<String>,
    object: DynamicObject,
}

impl Resolved {
    /// `Kind name` or `Kind namespace/name`.
    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The kubectl command `verb` for this object.
    fn kubectl(&self, verb: &str) -> String {
        let namespace = self
            .namespace
            .as_ref()
            .map(|ns| format!(" -n {ns}"))
            .unwrap_or_default();
        format!(
            "kubectl {verb} {} {}{namespace}",
            self.kind.to_lowercase(),
            self.name
        )
    }
}

/// Resolves a manifest object's kind and scope with the API server's discovery, as kubectl does:
/// namespaced objects go to their namespace (or [`NS`]), cluster-scoped ones to the cluster.
async fn resolve(client: &kube::Client, value: Value) -> Res<Resolved> {
    let object: DynamicObject = serde_json::from_value(value)?;
    let types = object
        .types
        .clone()
        .ok_or("a manifest object without apiVersion and kind")?;
    let gvk = GroupVersionKind::try_from(&types)?;
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk).await?;
    let name = object
        .metadata
        .name
        .clone()
        .ok_or_else(|| format!("a {} without a name", gvk.kind))?;
    let (api, namespace) = match capabilities.scope {
        Scope::Namespaced => {
            let ns = object.metadata.namespace.clone().unwrap_or(NS.to_string());
            (
                Api::namespaced_with(client.clone(), &ns, &resource),
                Some(ns),
            )
        }
        Scope::Cluster => (Api::all_with(client.clone(), &resource), None),
    };
    Ok(Resolved {
        api,
        kind: resource.kind,
        name,
        namespace,
        object,
    })
}

/// Server-side applies the objects of `file`, verbatim; returns what it applied (`Kind name`). A
/// FlowSchema is waited for until the API server's flow control has taken it in (see
/// [`in_effect`]).
async fn apply_file(client: &kube::Client, file: &str) -> Res<Vec<String>> {
    let mut applied = Vec::new();
    for obj in manifest(file)? {
        let resolved = resolve(client, obj).await?;
        resolved
            .api
            .patch(
                &resolved.name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&resolved.object),
            )
            .await
            .map_err(|e| format!("{file}: applying {}: {e}", resolved.describe()))?;
        if resolved.kind == "FlowSchema" {
            in_effect(client, &resolved.name).await?;
        }
        applied.push(resolved.describe());
    }
    Ok(applied)
}

/// Waits until the API server's flow control has taken a FlowSchema in: its config controller
/// then sets the `Dangling` condition (false: the priority level exists). Until then requests
/// are still classified by the old configuration, and a demo would start unthrottled.
async fn in_effect(client: &kube::Client, name: &str) -> Res {
    use k8s_openapi::api::flowcontrol::v1::FlowSchema;
    let schemas: Api<FlowSchema> = Api::all(client.clone());
    let taken_in = |schema: Option<&FlowSchema>| {
        schema
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Dangling" && c.status.as_deref() == Some("False"))
            })
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        kube::runtime::wait::await_condition(schemas, name, taken_in),
    )
    .await
    .map_err(|_| format!("FlowSchema {name} not in effect within 10 s"))??;
    Ok(())
}

/// A token of the ServiceAccount from the TokenRequest API (1 h), bound to `bound` if given.
pub async fn request_token(client: &kube::Client, bound: Option<&BoundTo>) -> Res<String> {
    let request = crate::token_request::token_request(3600, bound);
    let answer = Api::<ServiceAccount>::namespaced(client.clone(), NS)
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?;
    Ok(answer
        .status
        .and_then(|s| s.token)
        .ok_or("TokenRequest without a token")?)
}

/// A ServiceAccount token in a file, as the kubelet projects it into a Pod (and rotates it),
/// with a kubeconfig naming the file (`tokenFile`) for the binary: the controller reads the
/// token as in a Pod, never a copy handed to it.
pub struct TokenFile {
    dir: tempfile::TempDir,
    path: PathBuf,
    kubeconfig: PathBuf,
}

impl TokenFile {
    /// Writes `token` to a file of a new temporary directory, with a kubeconfig beside it.
    pub fn write(sandbox: &kube_apiserver_sandbox::Sandbox, token: String) -> Res<TokenFile> {
        use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedContext};
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("token");
        std::fs::write(&path, token)?;
        let cluster = sandbox
            .kubeconfig()
            .clusters
            .into_iter()
            .next()
            .ok_or("the sandbox's kubeconfig has no cluster")?;
        let kubeconfig = Kubeconfig {
            auth_infos: vec![NamedAuthInfo {
                name: SERVICE_ACCOUNT.into(),
                auth_info: Some(AuthInfo {
                    token_file: Some(path.display().to_string()),
                    ..AuthInfo::default()
                }),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: SERVICE_ACCOUNT.into(),
                context: Some(Context {
                    cluster: cluster.name.clone(),
                    user: Some(SERVICE_ACCOUNT.into()),
                    ..Context::default()
                }),
                other: Default::default(),
            }],
            clusters: vec![cluster],
            current_context: Some(SERVICE_ACCOUNT.into()),
            ..Kubeconfig::default()
        };
        let kubeconfig_path = dir.path().join("kubeconfig");
        // JSON is YAML: kube reads it as a kubeconfig.
        std::fs::write(&kubeconfig_path, serde_json::to_string(&kubeconfig)?)?;
        Ok(TokenFile {
            dir,
            path,
            kubeconfig: kubeconfig_path,
        })
    }

    /// A fresh token bound to `bound` (if given) in a new file.
    pub async fn bound(demo: &Demo, bound: Option<&BoundTo>) -> Res<TokenFile> {
        let token = request_token(&demo.client, bound).await?;
        Self::write(&demo.sandbox, token)
    }

    /// A client configuration for an in-process controller that authenticates with whatever
    /// token the file holds when kube reads it, as `kube::Config::infer()` does in a Pod.
    pub fn kube_config(&self, sandbox: &kube_apiserver_sandbox::Sandbox) -> kube::Config {
        let mut config = sandbox.kube_config();
        config.auth_info = kube::config::AuthInfo {
            token_file: Some(self.path.display().to_string()),
            ..kube::config::AuthInfo::default()
        };
        config
    }

    /// The kubeconfig file for the binary (`KUBECONFIG`).
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// Replaces the token with a fresh one (bound to `bound`, if given), as the kubelet rotates
    /// it: written beside the file, then renamed over it, so a reader never sees half a token.
    /// Returns the replaced token.
    pub async fn rotate(&mut self, demo: &Demo, bound: Option<&BoundTo>) -> Res<String> {
        let fresh = request_token(&demo.client, bound).await?;
        let old = std::fs::read_to_string(&self.path)?;
        let next = self.dir.path().join("token.next");
        std::fs::write(&next, fresh)?;
        std::fs::rename(&next, &self.path)?;
        Ok(old)
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
    /// The process id, for a child process (its peak memory is read from `/proc`).
    pub pid: Option<u32>,
    /// The findings its `/diagnostics` showed raised at the last line of numbers, so that each
    /// one is printed once when raised and once when cleared.
    pub findings: Arc<Mutex<BTreeSet<String>>>,
}

/// Says where the controller's admin page is, to follow the demo in a browser.
fn print_page(admin: SocketAddr) {
    println!("page      http://{admin}/");
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
                let in_flight = http_get(self.target.admin, "/metrics")
                    .await
                    .map(|(_, body)| sum_metric(&body, "doc_controller_reconciles_in_flight", &[]))
                    .unwrap_or_default();
                if in_flight > 0.0 {
                    note(&format!(
                        "the controller did not finish its graceful shutdown within 10 s: \
                         {in_flight} reconciles were still in flight (their requests waiting for \
                         the API server). The demo aborts it."
                    ));
                } else {
                    note(
                        "the controller did not finish its graceful shutdown within 10 s: kube's \
                         reconcile runner waits for the Document cache's initial list before it \
                         can drain, and that list never came. The demo aborts it.",
                    );
                }
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
    /// Starts the binary against `demo`'s sandbox, as deployed (the ServiceAccount's token file),
    /// with these extra arguments and the default log filter.
    pub async fn spawn(demo: &Demo, args: &[&str]) -> Res<Child> {
        Self::spawn_with(demo, args, "info,kube=warn").await
    }

    /// Like [`Child::spawn`] with `RUST_LOG` set to `rust_log`.
    pub async fn spawn_with(demo: &Demo, args: &[&str], rust_log: &str) -> Res<Child> {
        // A free loopback port for the admin server, so its /metrics can be read.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = tokio::process::Command::new(controller_binary()?)
            .arg("--admin-addr")
            .arg(admin.to_string())
            // The demos' diagnosis settings, as for the in-process controllers (`Demo::config`).
            .arg(format!(
                "--diagnosis-window={}",
                humantime::format_duration(DIAGNOSIS.window)
            ))
            .arg(format!(
                "--stuck-after={}",
                humantime::format_duration(DIAGNOSIS.stuck_after)
            ))
            .args(args)
            .env("KUBECONFIG", demo.identity.kubeconfig())
            .env("RUST_LOG", rust_log)
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
        let pid = child.id();
        print_page(admin);
        let mut child = Child {
            target: Target {
                admin,
                logs,
                pid,
                findings: Arc::default(),
            },
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
