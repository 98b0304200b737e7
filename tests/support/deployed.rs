//! The controller's identity as the shipped Deployment has it: its ServiceAccount and the RBAC of
//! `yaml/rbac.yaml`, read from the same file a person applies with `kubectl`.
// region: fault-catalogue
//! Plus the manifests of `yaml/faults/` that a toggle needs for its symptom to show
//! (`Fault::cluster_setup`).
// endregion: fault-catalogue
//!
//! # One test, its own copy
//! Tests run in parallel, on one cluster too, so every test installs its own copy: the
//! ServiceAccount `doc-controller` lives in the test's namespace (not `default`), and cluster-scoped
//! objects (ClusterRoles, bindings, FlowSchemas, PriorityLevelConfigurations) get the namespace
//! as a suffix and an owner reference to the test's Namespace, so that the garbage collector
//! removes them with it. References between the objects (role refs, binding subjects, a
//! FlowSchema's priority level and subjects) are renamed to match. Nothing a test installs is
//! seen by another test.
// region: fault-catalogue
//!
//! # A namespace-only install
//! A setup that binds the shipped ClusterRole itself (`yaml/faults/forbidden-watch.yaml`, a
//! RoleBinding in one namespace) replaces the shipped ClusterRoleBinding, as that file's header
//! tells a person to do on a cluster.
// endregion: fault-catalogue

use super::{Env, TestNamespace};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The ServiceAccount's name, as in `yaml/rbac.yaml`.
pub const SERVICE_ACCOUNT: &str = "doc-controller";

/// The namespace `yaml/` puts the ServiceAccount in; a test's copy uses its own namespace.
const SHIPPED_NAMESPACE: &str = "default";

/// The shipped ClusterRole's name.
const SHIPPED_ROLE: &str = "doc-controller";

/// The field manager the harness applies manifests with.
const MANAGER: &str = "e2e-install";

/// What a test installed for its controller.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The test namespace, where the ServiceAccount lives.
    pub namespace: String,
    /// The controller's user name, `system:serviceaccount:<namespace>:doc-controller`.
    pub user: String,
}

/// Installs the shipped RBAC for `ns` (see the module docs).
pub async fn install(env: &Env, ns: &TestNamespace) -> Installed {
    for obj in manifest("yaml/rbac.yaml") {
        apply(env, ns, obj).await;
    }
    installed(ns)
}

// region: fault-catalogue
/// Installs the shipped RBAC for `ns`, with the setups of `faults` (see the module docs).
pub async fn install_for(
    env: &Env,
    ns: &TestNamespace,
    faults: &[doc_controller::fault::Fault],
) -> Installed {
    let setups: Vec<&str> = faults.iter().filter_map(|f| f.cluster_setup()).collect();
    install_files(env, ns, &setups).await
}
// endregion: fault-catalogue

/// The ServiceAccount and ClusterRole of `yaml/rbac.yaml` for `ns`, but no binding: the
/// controller's RBAC revoked (every request it makes is answered 403).
pub async fn install_revoked(env: &Env, ns: &TestNamespace) -> Installed {
    for obj in manifest("yaml/rbac.yaml") {
        if !obj["kind"].as_str().is_some_and(|k| k.ends_with("Binding")) {
            apply(env, ns, obj).await;
        }
    }
    installed(ns)
}

/// Deletes the bindings of `yaml/rbac.yaml` as installed for `ns`: the controller's RBAC revoked
/// while it runs (every request it starts from now on is answered 403). [`install`] restores them.
pub async fn revoke_bindings(env: &Env, ns: &TestNamespace) {
    for obj in manifest("yaml/rbac.yaml") {
        if obj["kind"].as_str().is_some_and(|k| k.ends_with("Binding")) {
            delete(env, ns, obj).await;
        }
    }
}

fn installed(ns: &TestNamespace) -> Installed {
    Installed {
        namespace: ns.name().to_owned(),
        user: user_of(ns),
    }
}

/// The user name the controller has in `ns`'s installation.
pub fn user_of(ns: &TestNamespace) -> String {
    format!("system:serviceaccount:{}:{SERVICE_ACCOUNT}", ns.name())
}

/// Installs the shipped RBAC for `ns`, plus the manifests `setups` (paths from the repository).
pub async fn install_files(env: &Env, ns: &TestNamespace, setups: &[&str]) -> Installed {
    let extra: Vec<Value> = setups.iter().flat_map(|file| manifest(file)).collect();
    let namespace_only = extra.iter().any(|obj| {
        obj["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))
            && obj["roleRef"]["name"] == SHIPPED_ROLE
    });
    let shipped = manifest("yaml/rbac.yaml").into_iter().filter(|obj| {
        !(namespace_only
            && obj["kind"] == "ClusterRoleBinding"
            && obj["metadata"]["name"] == SHIPPED_ROLE)
    });
    for obj in shipped.chain(extra) {
        apply(env, ns, obj).await;
    }
    installed(ns)
}

/// Deletes the manifests `setups` as [`install_files`] installed them for `ns` (a fault's setup
/// lifted while the controller runs); the shipped RBAC stays.
pub async fn uninstall_files(env: &Env, ns: &TestNamespace, setups: &[&str]) {
    for obj in setups.iter().flat_map(|file| manifest(file)) {
        delete(env, ns, obj).await;
    }
}

/// The objects of a YAML file of the repository.
pub fn manifest(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deletes one manifest object as installed for `ns`.
async fn delete(env: &Env, ns: &TestNamespace, mut obj: Value) {
    let (resource, namespaced) = resource_of(&obj);
    for_test(&mut obj, &resource, namespaced, ns);
    let name = obj["metadata"]["name"].as_str().expect("a named object");
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(env.client.clone(), ns.name(), &resource)
    } else {
        Api::all_with(env.client.clone(), &resource)
    };
    api.delete(name, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {} {name}: {e}", resource.kind));
}

/// Server-side applies one manifest object, made the test's own.
async fn apply(env: &Env, ns: &TestNamespace, mut obj: Value) {
    let (resource, namespaced) = resource_of(&obj);
    for_test(&mut obj, &resource, namespaced, ns);
    let name = obj["metadata"]["name"]
        .as_str()
        .expect("a named object")
        .to_string();
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(env.client.clone(), ns.name(), &resource)
    } else {
        Api::all_with(env.client.clone(), &resource)
    };
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {} {name}: {e}", resource.kind));
    if resource.kind == "FlowSchema" {
        in_effect(&api, &name).await;
    }
}

/// Waits until the API server's flow-control configuration has taken a FlowSchema in: its
/// config controller then sets the `Dangling` condition (false: its priority level exists).
/// Before that, requests are still classified by the old configuration.
async fn in_effect(api: &Api<DynamicObject>, name: &str) {
    super::eventually(&format!("FlowSchema {name} in effect"), || async {
        let schema = api.get(name).await.ok()?;
        let conditions = schema.data["status"]["conditions"].as_array()?.clone();
        conditions
            .iter()
            .any(|c| c["type"] == "Dangling" && c["status"] == "False")
            .then_some(())
    })
    .await;
}

/// The API resource of a manifest object, and whether it is namespaced.
fn resource_of(obj: &Value) -> (ApiResource, bool) {
    use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    match obj["kind"].as_str() {
        Some("ServiceAccount") => (ApiResource::erase::<ServiceAccount>(&()), true),
        Some("Role") => (ApiResource::erase::<Role>(&()), true),
        Some("RoleBinding") => (ApiResource::erase::<RoleBinding>(&()), true),
        Some("ClusterRole") => (ApiResource::erase::<ClusterRole>(&()), false),
        Some("ClusterRoleBinding") => (ApiResource::erase::<ClusterRoleBinding>(&()), false),
        Some("FlowSchema") => (ApiResource::erase::<FlowSchema>(&()), false),
        Some("PriorityLevelConfiguration") => {
            (ApiResource::erase::<PriorityLevelConfiguration>(&()), false)
        }
        // A new kind in yaml/ needs its renaming rules here, or tests would share it.
        other => panic!("the test harness does not know how to install {other:?}"),
    }
}

/// Makes a shipped object the test's own (see the module docs).
fn for_test(obj: &mut Value, resource: &ApiResource, namespaced: bool, ns: &TestNamespace) {
    let own = |name: &Value| {
        json!(format!(
            "{}-{}",
            name.as_str().unwrap_or_default(),
            ns.name()
        ))
    };
    if namespaced {
        obj["metadata"]["namespace"] = json!(ns.name());
    } else {
        obj["metadata"]["name"] = own(&obj["metadata"]["name"]);
        obj["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "Namespace", "name": ns.name(), "uid": ns.uid(),
        }]);
    }
    let service_accounts = |subjects: &mut Value| {
        for subject in subjects.as_array_mut().into_iter().flatten() {
            if subject["kind"] == "ServiceAccount" && subject["namespace"] == SHIPPED_NAMESPACE {
                subject["namespace"] = json!(ns.name());
            }
        }
    };
    match resource.kind.as_str() {
        "RoleBinding" | "ClusterRoleBinding" => {
            if obj["roleRef"]["kind"] == "ClusterRole" {
                obj["roleRef"]["name"] = own(&obj["roleRef"]["name"]);
            }
            service_accounts(&mut obj["subjects"]);
        }
        "FlowSchema" => {
            let level = &mut obj["spec"]["priorityLevelConfiguration"]["name"];
            *level = own(level);
            for rule in obj["spec"]["rules"].as_array_mut().into_iter().flatten() {
                for subject in rule["subjects"].as_array_mut().into_iter().flatten() {
                    let sa = &mut subject["serviceAccount"];
                    if sa["namespace"] == SHIPPED_NAMESPACE {
                        sa["namespace"] = json!(ns.name());
                    }
                }
            }
        }
        _ => {}
    }
}

/// A token of the installed ServiceAccount in a file, as the kubelet projects it into a Pod and
/// rotates it: client configurations name the file (`tokenFile`), never the token, exactly as
/// `kube::Config::infer()` does in-cluster.
pub struct TokenFile {
    dir: tempfile::TempDir,
    path: PathBuf,
    token: String,
}

pub use super::token_request::BoundTo;

impl TokenFile {
    /// Writes a fresh token (unbound) to a file of a new temporary directory.
    pub async fn new(env: &Env, installed: &Installed) -> TokenFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("token");
        let token = request_token(env, installed, None).await;
        std::fs::write(&path, &token).expect("token file written");
        TokenFile { dir, path, token }
    }

    /// Like [`TokenFile::new`], with a token bound to `bound`.
    pub async fn bound(env: &Env, installed: &Installed, bound: &BoundTo) -> TokenFile {
        let file = TokenFile::new(env, installed).await;
        let token = request_token(env, installed, Some(bound)).await;
        std::fs::write(&file.path, &token).expect("token file written");
        TokenFile { token, ..file }
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

    /// A kubeconfig file (beside the token) for the controller binary and kubectl: the cluster
    /// of `env`'s kubeconfig and this file's token.
    pub fn kubeconfig(&self, env: &Env) -> PathBuf {
        self.write_kubeconfig(env, "kubeconfig", |_| {})
    }

    /// Like [`TokenFile::kubeconfig`], with the API server reached through `proxy`.
    pub fn kubeconfig_through(&self, env: &Env, proxy: &super::proxy::Proxy) -> PathBuf {
        self.write_kubeconfig(env, "kubeconfig-proxied", |cluster| {
            let proxied = proxy.kube_config(&env.kube_config());
            cluster.server = Some(proxied.cluster_url.to_string());
            cluster.tls_server_name = proxied.tls_server_name;
        })
    }

    /// Writes the kubeconfig `file_name` beside the token, its cluster changed by `edit`.
    fn write_kubeconfig(
        &self,
        env: &Env,
        file_name: &str,
        edit: impl FnOnce(&mut kube::config::Cluster),
    ) -> PathBuf {
        use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedContext};
        let source = Kubeconfig::read_from(env.kubeconfig()).expect("kubeconfig readable");
        let cluster_name = source
            .contexts
            .iter()
            .find(|c| Some(&c.name) == source.current_context.as_ref())
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .expect("the kubeconfig has a current context");
        let mut cluster = source
            .clusters
            .into_iter()
            .find(|c| c.name == cluster_name)
            .expect("the current context's cluster");
        if let Some(c) = cluster.cluster.as_mut() {
            edit(c);
        }
        let kubeconfig = Kubeconfig {
            clusters: vec![cluster],
            auth_infos: vec![NamedAuthInfo {
                name: SERVICE_ACCOUNT.into(),
                auth_info: Some(AuthInfo {
                    token_file: Some(self.path.display().to_string()),
                    ..AuthInfo::default()
                }),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: SERVICE_ACCOUNT.into(),
                context: Some(Context {
                    cluster: cluster_name,
                    user: Some(SERVICE_ACCOUNT.into()),
                    ..Context::default()
                }),
                other: Default::default(),
            }],
            current_context: Some(SERVICE_ACCOUNT.into()),
            ..Kubeconfig::default()
        };
        let path = self.dir.path().join(file_name);
        // JSON is YAML: kubectl and kube read it as a kubeconfig.
        let text = serde_json::to_string(&kubeconfig).expect("kubeconfig serializes");
        std::fs::write(&path, text).expect("kubeconfig written");
        path
    }

    /// Replaces the token with a fresh one (bound to `bound`, if given), as the kubelet rotates
    /// it: written beside the file, then renamed over it, so a reader never sees half a token.
    /// Returns the replaced token.
    pub async fn rotate(
        &mut self,
        env: &Env,
        installed: &Installed,
        bound: Option<&BoundTo>,
    ) -> String {
        let fresh = request_token(env, installed, bound).await;
        let next = self.path.with_extension("next");
        std::fs::write(&next, &fresh).expect("next token written");
        std::fs::rename(&next, &self.path).expect("token file replaced");
        std::mem::replace(&mut self.token, fresh)
    }

    /// The token the file holds now.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// A token of the installed ServiceAccount from the TokenRequest API, valid 10 minutes (the
/// shortest lifetime a real API server grants), bound to `bound` when given.
async fn request_token(env: &Env, installed: &Installed, bound: Option<&BoundTo>) -> String {
    let request = super::token_request::token_request(600, bound);
    Api::<ServiceAccount>::namespaced(env.client.clone(), &installed.namespace)
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("TokenRequest answered")
        .status
        .and_then(|s| s.token)
        .expect("TokenRequest with a token")
}
