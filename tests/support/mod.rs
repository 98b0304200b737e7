//! The end-to-end harness: an API server (the embedded sandbox, or a real cluster), a namespace per
//! test, and the controller running in-process against it.
//!
//! # Real clusters
//! Set `DOC_CONTROLLER_E2E_KUBECONFIG=/path/to/kubeconfig` and the same tests run against that
//! cluster's current context instead of the sandbox. Each test works in its own namespace
//! (`e2e-<random>`), deleted when the test ends, pass or fail. The CRD is server-side applied.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use doc_controller::config::Config;
use doc_controller::{App, AppError, Document, DocumentSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kube::api::{Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{Condition, await_condition};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable naming a kubeconfig to run the e2e suite against.
pub const KUBECONFIG_ENV: &str = "DOC_CONTROLLER_E2E_KUBECONFIG";

/// How long any single expectation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the tests run: the sandbox, started for this test, or a real cluster.
pub struct Env {
    sandbox: Option<sandbox::Sandbox>,
    kubeconfig: PathBuf,
    kube_config: kube::Config,
    /// An admin client, not the controller's.
    pub client: kube::Client,
}

impl Env {
    /// Connects to the cluster named by [`KUBECONFIG_ENV`], or starts a sandbox; installs the CRD.
    pub async fn new() -> Env {
        let env = Self::without_crd().await;
        doc_controller::crd::install(env.client.clone(), TIMEOUT)
            .await
            .expect("CRD installs");
        env
    }

    /// Like [`Env::new`], with sandbox options (ignored on a real cluster).
    pub async fn with_sandbox(
        options: impl FnOnce(sandbox::SandboxBuilder) -> sandbox::SandboxBuilder,
    ) -> Env {
        let env = Self::connect(options).await;
        doc_controller::crd::install(env.client.clone(), TIMEOUT)
            .await
            .expect("CRD installs");
        env
    }

    /// Like [`Env::new`] but without installing the CRD (on a real cluster it may be there).
    pub async fn without_crd() -> Env {
        Self::connect(|b| b).await
    }

    /// The embedded sandbox, for server-side faults; `None` on a real cluster.
    pub fn sandbox(&self) -> Option<&sandbox::Sandbox> {
        self.sandbox.as_ref()
    }

    async fn connect(
        options: impl FnOnce(sandbox::SandboxBuilder) -> sandbox::SandboxBuilder,
    ) -> Env {
        match std::env::var_os(KUBECONFIG_ENV) {
            Some(path) => {
                let kubeconfig = PathBuf::from(path);
                let raw = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig readable");
                let kube_config =
                    kube::Config::from_custom_kubeconfig(raw, &KubeConfigOptions::default())
                        .await
                        .expect("kubeconfig valid");
                let client = kube::Client::try_from(kube_config.clone()).expect("client");
                Env {
                    sandbox: None,
                    kubeconfig,
                    kube_config,
                    client,
                }
            }
            None => {
                let sandbox = options(sandbox::Sandbox::builder())
                    .start()
                    .await
                    .expect("sandbox starts");
                let client = sandbox.client().expect("client");
                Env {
                    kubeconfig: sandbox.kubeconfig_path().to_path_buf(),
                    kube_config: sandbox.kube_config(),
                    sandbox: Some(sandbox),
                    client,
                }
            }
        }
    }

    /// Whether this run is on the embedded sandbox (some checks need to control the server).
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The kubeconfig for `kubectl --kubeconfig` and the controller binary.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Client configuration for an in-process controller.
    pub fn kube_config(&self) -> kube::Config {
        self.kube_config.clone()
    }

    /// A fresh namespace for one test, deleted when the returned guard drops.
    pub async fn namespace(&self) -> TestNamespace {
        let name = format!("e2e-{:08x}", rand_u32());
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))
        .expect("namespace object");
        api.create(&PostParams::default(), &ns)
            .await
            .expect("namespace created");
        TestNamespace {
            name,
            // The in-process sandbox runs on the test's runtime, which is blocked while the
            // guard drops; it is discarded with everything in it when the test ends anyway.
            cleanup: (!self.is_sandbox()).then(|| self.kube_config.clone()),
        }
    }
}

/// A namespace owned by one test. Dropping it deletes it (and with it everything in it).
pub struct TestNamespace {
    /// The namespace's name.
    pub name: String,
    /// How to reach a real cluster to delete the namespace; `None` on the sandbox.
    cleanup: Option<kube::Config>,
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let Some(kube_config) = self.cleanup.take() else {
            return;
        };
        let name = self.name.clone();
        // Drop cannot await; the deletion is sent from a helper thread with its own runtime and
        // its own client (the test's client lives on the test's runtime, blocked right here), so
        // that cleanup happens even when the test panicked.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(async {
                    let Ok(client) = kube::Client::try_from(kube_config) else {
                        return Ok(None);
                    };
                    let api: Api<Namespace> = Api::all(client);
                    tokio::time::timeout(
                        Duration::from_secs(10),
                        api.delete(&name, &DeleteParams::background()),
                    )
                    .await
                    .map(|r| r.ok().map(|_| ()))
                });
            }
        })
        .join();
    }
}

/// A controller running in-process, scoped to one namespace.
pub struct Controller {
    admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), AppError>>,
}

impl Controller {
    /// Starts the controller for `namespace` with `config` (its namespace and admin address are
    /// overridden).
    pub async fn start(env: &Env, namespace: &str, config: Config) -> Controller {
        Self::start_as(env.kube_config(), namespace, config).await
    }

    /// Like [`Controller::start`], with its own client configuration (e.g. impersonating the
    /// controller's ServiceAccount).
    pub async fn start_as(
        kube_config: kube::Config,
        namespace: &str,
        config: Config,
    ) -> Controller {
        let config = Config {
            namespace: Some(namespace.to_string()),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
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
        }
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await.1
    }

    /// The sum of all series of `name` whose labels contain every `label="value"` in `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        sum_metric(&self.metrics().await, name, labels)
    }

    /// The status code of `/healthz`.
    pub async fn healthz(&self) -> u16 {
        http_get(self.admin, "/healthz").await.0
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

/// Sums the samples of `name` (exact metric name) whose label set contains all of `labels`.
pub fn sum_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, label_part) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|want| label_part.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// The user the controller runs as in-cluster (yaml/rbac.yaml).
pub const CONTROLLER_SERVICE_ACCOUNT: &str = "system:serviceaccount:default:doc-controller";

/// Server-side applies the objects of yaml/rbac.yaml; with `cluster_wide` false, the
/// ClusterRoleBinding is replaced by a RoleBinding in `namespace` only.
pub async fn apply_shipped_rbac(env: &Env, cluster_wide: bool, namespace: &str) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/rbac.yaml"))
        .expect("yaml/rbac.yaml readable");
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).expect("yaml/rbac.yaml parses");
    let apply = PatchParams::apply("e2e-rbac").force();
    for obj in docs {
        let name = obj["metadata"]["name"].as_str().expect("named").to_string();
        match obj["kind"].as_str() {
            Some("ServiceAccount") => {
                let api: Api<ServiceAccount> = Api::namespaced(env.client.clone(), "default");
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("sa");
            }
            Some("ClusterRole") => {
                let api: Api<ClusterRole> = Api::all(env.client.clone());
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("role");
            }
            Some("ClusterRoleBinding") if cluster_wide => {
                let api: Api<ClusterRoleBinding> = Api::all(env.client.clone());
                api.patch(&name, &apply, &Patch::Apply(&obj))
                    .await
                    .expect("binding");
            }
            Some("ClusterRoleBinding") => {
                let mut binding = obj.clone();
                binding["kind"] = json!("RoleBinding");
                binding["metadata"]["namespace"] = json!(namespace);
                let api: Api<RoleBinding> = Api::namespaced(env.client.clone(), namespace);
                api.patch(&name, &apply, &Patch::Apply(&binding))
                    .await
                    .expect("namespaced binding");
            }
            other => panic!("unexpected kind {other:?} in yaml/rbac.yaml"),
        }
    }
}

/// The controller's client configuration, acting as its ServiceAccount.
pub fn as_service_account(env: &Env) -> kube::Config {
    let mut config = env.kube_config();
    config.auth_info.impersonate = Some(CONTROLLER_SERVICE_ACCOUNT.to_string());
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".to_string(),
        "system:serviceaccounts:default".to_string(),
    ]);
    config
}

/// A token of the controller's ServiceAccount in a file, as the kubelet projects it into a Pod
/// and rotates it: the controller's client configuration names the file (`tokenFile`), never the
/// token, exactly as `kube::Config::infer()` does in-cluster.
pub struct ServiceAccountTokenFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    token: String,
}

impl ServiceAccountTokenFile {
    /// Writes a fresh token of the controller's ServiceAccount (which must exist, e.g. through
    /// [`apply_shipped_rbac`]) to a file of a new temporary directory.
    pub async fn new(env: &Env) -> ServiceAccountTokenFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("token");
        let token = request_service_account_token(env).await;
        std::fs::write(&path, &token).expect("token file written");
        ServiceAccountTokenFile {
            _dir: dir,
            path,
            token,
        }
    }

    /// A client configuration for `env`'s API server that authenticates with whatever token the
    /// file holds when kube reads it.
    pub fn kube_config(&self, env: &Env) -> kube::Config {
        let mut config = env.kube_config();
        config.auth_info = kube::config::AuthInfo {
            token_file: Some(self.path.display().to_string()),
            ..kube::config::AuthInfo::default()
        };
        config
    }

    /// Replaces the token with a fresh one, as the kubelet rotates it (written beside the file,
    /// then renamed over it, so a reader never sees half a token); returns the replaced token.
    pub async fn rotate(&mut self, env: &Env) -> String {
        let fresh = request_service_account_token(env).await;
        let next = self.path.with_extension("next");
        std::fs::write(&next, &fresh).expect("next token written");
        std::fs::rename(&next, &self.path).expect("token file replaced");
        std::mem::replace(&mut self.token, fresh)
    }
}

/// A token of the controller's ServiceAccount from the TokenRequest API, valid 10 minutes (the
/// shortest lifetime the API server grants).
pub async fn request_service_account_token(env: &Env) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    let (namespace, name) = CONTROLLER_SERVICE_ACCOUNT
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .expect("a ServiceAccount user name");
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    Api::<ServiceAccount>::namespaced(env.client.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("TokenRequest answered")
        .status
        .and_then(|s| s.token)
        .expect("TokenRequest with a token")
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

/// Waits until `condition` holds for the named Document, or fails the test.
pub async fn wait_for(
    api: &Api<Document>,
    name: &str,
    condition: impl Condition<Document>,
) -> Document {
    tokio::time::timeout(TIMEOUT, await_condition(api.clone(), name, condition))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for Document {name}"))
        .expect("watch works")
        .unwrap_or_else(|| panic!("Document {name} is gone"))
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

/// Polls `check` until it returns `Some`, or fails the test with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal HTTP/1.0 GET, enough for the admin server; returns status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin server reachable");
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}
