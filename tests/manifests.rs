//! The manifests of `yaml/` are what they say they are: an API server accepts them, and the
//! Deployment, its PodDisruptionBudget and NetworkPolicy keep the invariants their comments state.
//!
//! # What checks what
//! | check | sandbox | real cluster (`DOC_CONTROLLER_E2E_KUBECONFIG`) |
//! |---|---|---|
//! | `kubectl apply --server-side --dry-run=server` of each file (schema, admission) | the kinds it serves: CRD, RBAC, Namespace, FlowSchemas, Documents | the same, and `yaml/deployment.yaml` in a namespace that enforces the restricted Pod Security Standard |
//! | typed parse and round trip (an unknown or mistyped field fails) | every object of a kind `k8s-openapi` or this crate defines | the same |
//! | the invariants (restricted standard, selectors, ports, resources, grace period) | pure, from the files | the same |
//! | `kubectl kustomize yaml/` puts everything in the restricted namespace | pure | the same |
//!
//! The sandbox serves no `apps/v1`, `policy/v1` or `networking.k8s.io/v1`, so only a real cluster
//! judges the Deployment, the PodDisruptionBudget and the NetworkPolicy with its own schema and
//! Pod Security admission; and it checks built-in kinds' fields less strictly than a real API
//! server (it accepts an unknown field of a ClusterRole), which the typed round trip covers
//! everywhere. The Prometheus Operator's kinds (`yaml/observability/`) are dry-run only where
//! their CRDs are installed; tests/observability.rs checks their content.

mod support;

use doc_controller::config::{Cli, Config, FileConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, PodTemplateSpec, SecurityContext};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::Env;
use support::deployed::{SERVICE_ACCOUNT, manifest};
use support::kubectl::Kubectl;

/// The Deployment, its PodDisruptionBudget and its NetworkPolicy.
const DEPLOYMENT: &str = "yaml/deployment.yaml";

/// The namespace example that enforces the restricted Pod Security Standard.
const NAMESPACE: &str = "yaml/namespace.yaml";

/// YAML files under `yaml/` that are not Kubernetes objects, and what checks them instead.
const NOT_OBJECTS: &[(&str, &str)] = &[
    (
        "yaml/kustomization.yaml",
        "kubectl's kustomize input: kustomize_installs_everything_into_the_restricted_namespace",
    ),
    (
        "yaml/observability/rules.yaml",
        "a Prometheus rules file: tests/observability.rs (promtool)",
    ),
    (
        "yaml/observability/tests.yaml",
        "promtool's unit tests of those rules: tests/observability.rs",
    ),
];

/// `(apiVersion, kind)` of the objects no Rust type here describes: the Prometheus Operator's
/// CRDs judge them, on a cluster that has them; tests/observability.rs checks what they say.
const OPERATOR_KINDS: &[(&str, &str)] = &[
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
];

// === the files ===

/// Every YAML file under `yaml/`, as a path from the repository root, sorted.
fn yaml_files() -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("yaml/ readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                let relative = path.strip_prefix(root).expect("under the repository");
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("yaml"), root, &mut files);
    files.sort();
    files
}

/// The YAML files of Kubernetes objects.
fn manifest_files() -> Vec<String> {
    yaml_files()
        .into_iter()
        .filter(|file| !NOT_OBJECTS.iter().any(|(other, _)| other == file))
        .collect()
}

fn kind_of(obj: &Value) -> (&str, &str) {
    (
        obj["apiVersion"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
    )
}

/// `kind/name` for messages.
fn named(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj["kind"].as_str().unwrap_or("?"),
        obj["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The one object of `kind` in `file`, parsed (and round-tripped) into its type.
fn the<K: DeserializeOwned + Serialize + k8s_openapi::Resource>(file: &str) -> K {
    let objects: Vec<Value> = manifest(file)
        .into_iter()
        .filter(|o| kind_of(o) == (K::API_VERSION, K::KIND))
        .collect();
    assert_eq!(objects.len(), 1, "{file}: one {}", K::KIND);
    round_trip(file, &objects[0])
}

// === typed parsing ===

/// Parses `obj` into `K` and back: a field `K` does not know (a typo, a wrong level) or a value of
/// the wrong type does not come back the same, which this reports by its path.
fn round_trip<K: DeserializeOwned + Serialize>(file: &str, obj: &Value) -> K {
    parse_unchanged(obj).unwrap_or_else(|e| panic!("{file}: {}: {e}", named(obj)))
}

/// `obj` as a `K`, or what did not survive the way there and back.
fn parse_unchanged<K: DeserializeOwned + Serialize>(obj: &Value) -> Result<K, String> {
    let typed: K =
        serde_json::from_value(obj.clone()).map_err(|e| format!("does not parse: {e}"))?;
    let back = serde_json::to_value(&typed).expect("a typed object serializes");
    let mut differences = Vec::new();
    differ(obj, &back, "", &mut differences);
    if differences.is_empty() {
        Ok(typed)
    } else {
        Err(format!(
            "fields its type does not know, or of the wrong type: {differences:?}"
        ))
    }
}

/// The paths where what was written did not come back from `parsed`. Fields the type adds (a
/// default it always writes, like a Document's `hide: false`) are not differences.
fn differ(written: &Value, parsed: &Value, path: &str, out: &mut Vec<String>) {
    match (written, parsed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let at = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => differ(value, other, &at, out),
                    None => out.push(format!("{at} (unknown)")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differ(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

/// Round-trips `obj` through the Rust type of its kind; false when there is none here.
fn round_trip_by_kind(file: &str, obj: &Value) -> bool {
    macro_rules! kinds {
        ($($ty:ty),* $(,)?) => {
            $(
                if kind_of(obj)
                    == (<$ty as k8s_openapi::Resource>::API_VERSION, <$ty as k8s_openapi::Resource>::KIND)
                {
                    round_trip::<$ty>(file, obj);
                    return true;
                }
            )*
        };
    }
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    kinds!(
        Namespace,
        ServiceAccount,
        Role,
        RoleBinding,
        ClusterRole,
        ClusterRoleBinding,
        FlowSchema,
        PriorityLevelConfiguration,
        CustomResourceDefinition,
        Deployment,
        PodDisruptionBudget,
        NetworkPolicy,
    );
    let document = <doc_controller::Document as kube::Resource>::api_version(&());
    if kind_of(obj) == (document.as_ref(), "Document") {
        round_trip::<doc_controller::Document>(file, obj);
        return true;
    }
    false
}

#[test]
fn every_yaml_file_is_a_manifest_of_named_objects_or_said_to_be_something_else() {
    let files = yaml_files();
    for (file, what) in NOT_OBJECTS {
        assert!(files.contains(&file.to_string()), "{file} ({what}) is gone");
    }
    let manifests = manifest_files();
    assert!(manifests.contains(&DEPLOYMENT.to_string()));
    assert!(manifests.contains(&NAMESPACE.to_string()));
    for file in manifests {
        let objects = manifest(&file);
        assert!(!objects.is_empty(), "{file}: no object");
        for obj in objects {
            let (api_version, kind) = kind_of(&obj);
            assert!(
                !api_version.is_empty() && !kind.is_empty() && obj["metadata"]["name"].is_string(),
                "{file}: an object without apiVersion, kind or name (if the file is not a \
                 manifest, add it to NOT_OBJECTS): {obj}"
            );
        }
    }
}

#[test]
fn every_object_parses_into_the_type_of_its_kind_and_back_unchanged() {
    let mut typed = 0;
    for file in manifest_files() {
        for obj in manifest(&file) {
            if round_trip_by_kind(&file, &obj) {
                typed += 1;
            } else {
                assert!(
                    OPERATOR_KINDS.contains(&kind_of(&obj)),
                    "{file}: no Rust type for {:?}: add it to round_trip_by_kind",
                    kind_of(&obj)
                );
            }
        }
    }
    assert!(typed >= 10, "only {typed} objects checked");
}

#[test]
fn a_misspelt_or_mistyped_field_does_not_round_trip() {
    let good = manifest(DEPLOYMENT)
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    parse_unchanged::<Deployment>(&good).expect("the shipped Deployment round-trips");
    let mut typo = good.clone();
    typo["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] =
        json!(true);
    let err = parse_unchanged::<Deployment>(&typo).expect_err("a misspelt field");
    assert!(err.contains("readOnlyRootFileSystem (unknown)"), "{err}");
    let mut mistyped = good;
    mistyped["spec"]["replicas"] = json!("2");
    parse_unchanged::<Deployment>(&mistyped).expect_err("a string for an integer");
}

// === server-side dry run ===

/// Whether `env`'s API server serves the kind of `obj`.
fn served(discovery: &Discovery, obj: &Value) -> bool {
    let (api_version, kind) = kind_of(obj);
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    discovery
        .resolve_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind))
        .is_some()
}

/// `kubectl apply --server-side --dry-run=server`: the API server decodes, defaults, validates
/// (field validation Strict) and admits each object, and stores nothing.
async fn dry_run_apply(kubectl: &Kubectl, file: &str, stdin: Option<&str>) {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = if stdin.is_some() { "-" } else { path.as_str() };
    let out = kubectl
        .run(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "--field-manager=doc-controller-manifests",
                "-f",
                source,
            ],
            stdin,
        )
        .await;
    assert!(out.success, "{file}: {}{}", out.stderr, out.stdout);
    // Deprecations and Pod Security violations are warnings, not errors.
    assert!(
        !out.stderr.contains("Warning"),
        "{file}: {}{}",
        out.stderr,
        out.stdout
    );
    assert!(out.stdout.contains("(server dry run)"), "{}", out.stdout);
}

#[tokio::test]
async fn every_manifest_of_kinds_the_api_server_serves_passes_a_server_side_dry_run_apply() {
    let env = Env::new().await;
    let discovery = Discovery::new(env.client.clone())
        .run()
        .await
        .expect("discovery");
    let kubectl = Kubectl::new(&env);
    let mut judged = Vec::new();
    for file in manifest_files() {
        if file == DEPLOYMENT {
            // the_deployment_passes_a_server_side_dry_run_in_a_restricted_namespace_on_a_real_cluster
            continue;
        }
        let objects = manifest(&file);
        let unserved: Vec<_> = objects.iter().filter(|o| !served(&discovery, o)).collect();
        if !unserved.is_empty() {
            for obj in &unserved {
                assert!(
                    OPERATOR_KINDS.contains(&kind_of(obj)),
                    "{file}: {} is of a kind this API server does not serve",
                    named(obj)
                );
            }
            println!("not served here, not judged: {file} (the Prometheus Operator's kinds)");
            continue;
        }
        dry_run_apply(&kubectl, &file, None).await;
        judged.push(file);
    }
    println!("judged by a server-side dry run: {judged:?}");
    for file in manifest_files() {
        if file != DEPLOYMENT && !file.starts_with("yaml/observability/") {
            assert!(judged.contains(&file), "{file} was not judged");
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(real_cluster),
    ignore = "the sandbox serves no apps/v1 Deployments, policy/v1 PodDisruptionBudgets or networking.k8s.io/v1 NetworkPolicies, and has no Pod Security admission: a real cluster (DOC_CONTROLLER_E2E_KUBECONFIG) judges yaml/deployment.yaml; the typed checks of this file run everywhere"
)]
async fn the_deployment_passes_a_server_side_dry_run_in_a_restricted_namespace_on_a_real_cluster() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    // The test's namespace gets the Pod Security labels of yaml/namespace.yaml, and the
    // ServiceAccount the Pod runs as (admission rejects a Pod whose ServiceAccount is missing).
    let example: Namespace = the(NAMESPACE);
    let labels = example.metadata.labels.expect("Pod Security labels");
    Api::<Namespace>::all(env.client.clone())
        .patch(
            ns.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": labels } })),
        )
        .await
        .expect("namespace labelled");
    support::deployed::install(&env, &ns).await;

    // The file as `kubectl apply` sends it, moved to the test's namespace: no error, and no
    // warning (a violation of the namespace's `warn: restricted` is one).
    let items: Vec<Value> = manifest(DEPLOYMENT)
        .into_iter()
        .map(|mut obj| {
            obj["metadata"]["namespace"] = json!(ns.name());
            obj
        })
        .collect();
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": items }).to_string();
    dry_run_apply(&Kubectl::new(&env), DEPLOYMENT, Some(&list)).await;

    // A Pod of the template, which `enforce: restricted` admits or rejects (a Deployment only
    // gets warnings; its ReplicaSet's Pods would be the ones rejected).
    let deployment: Deployment = the(DEPLOYMENT);
    let template = pod_template(&deployment);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("doc-controller-dry-run".into()),
            namespace: Some(ns.name().to_owned()),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    Api::<Pod>::namespaced(env.client.clone(), ns.name())
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod,
        )
        .await
        .expect("the restricted namespace admits a Pod of the Deployment's template");
}

// === the invariants ===

fn pod_template(deployment: &Deployment) -> &PodTemplateSpec {
    &deployment.spec.template
}

fn pod_spec(deployment: &Deployment) -> &PodSpec {
    pod_template(deployment).spec.as_ref().expect("a pod spec")
}

fn pod_labels(deployment: &Deployment) -> BTreeMap<String, String> {
    pod_template(deployment)
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// Whether `selector` selects an object with `labels` (`LabelSelectorAsSelector`).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("unknown selector operator {other}"),
        }
    });
    let empty = selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty);
    !empty && by_labels && by_expressions
}

/// What the restricted Pod Security Standard (and the baseline it includes) rejects in `spec`,
/// as Pod Security admission checks it (`k8s.io/pod-security-admission/policy/check_*.go`,
/// <https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted>).
fn restricted_violations(spec: &PodSpec) -> Vec<String> {
    let mut found = Vec::new();
    let pod = spec.security_context.clone().unwrap_or_default();
    // check_hostNamespaces
    for (name, on) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if on == Some(true) {
            found.push(format!("{name}: true"));
        }
    }
    // check_restrictedVolumes (includes baseline's check_hostPathVolumes)
    for volume in spec.volumes.iter().flatten() {
        let allowed = volume.config_map.is_some()
            || volume.csi.is_some()
            || volume.downward_api.is_some()
            || volume.empty_dir.is_some()
            || volume.ephemeral.is_some()
            || volume.persistent_volume_claim.is_some()
            || volume.projected.is_some()
            || volume.secret.is_some();
        if !allowed {
            found.push(format!("volume {} of a restricted type", volume.name));
        }
    }
    // check_sysctls: only the safe set; none is needed here.
    if pod.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
        found.push("sysctls".into());
    }
    let seccomp_ok = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
    let pod_seccomp = pod.seccomp_profile.as_ref().map(|p| p.type_.as_str());
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| (&c.name, c.security_context.clone(), c.ports.clone()))
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| (&c.name, c.security_context.clone(), c.ports.clone())),
        );
    for (name, context, ports) in containers {
        let c: SecurityContext = context.unwrap_or_default();
        // check_privileged
        if c.privileged == Some(true) {
            found.push(format!("{name}: privileged"));
        }
        // check_hostPorts
        if ports
            .iter()
            .flatten()
            .any(|p| p.host_port.unwrap_or(0) != 0)
        {
            found.push(format!("{name}: hostPort"));
        }
        // check_procMount
        if c.proc_mount.as_deref().is_some_and(|m| m != "Default") {
            found.push(format!("{name}: procMount"));
        }
        // check_allowPrivilegeEscalation
        if c.allow_privilege_escalation != Some(false) {
            found.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        // check_capabilities_restricted
        let caps = c.capabilities.clone().unwrap_or_default();
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            found.push(format!("{name}: capabilities do not drop ALL"));
        }
        if caps.add.iter().flatten().any(|a| a != "NET_BIND_SERVICE") {
            found.push(format!(
                "{name}: adds a capability other than NET_BIND_SERVICE"
            ));
        }
        // check_runAsNonRoot: the container's setting, else the Pod's, must be true.
        if c.run_as_non_root.or(pod.run_as_non_root) != Some(true) {
            found.push(format!("{name}: runAsNonRoot is not true"));
        }
        // check_runAsUser
        if c.run_as_user.or(pod.run_as_user) == Some(0) {
            found.push(format!("{name}: runAsUser 0"));
        }
        // check_seccompProfile_restricted
        let container_seccomp = c.seccomp_profile.as_ref().map(|p| p.type_.as_str());
        if !seccomp_ok(container_seccomp.or(pod_seccomp)) {
            found.push(format!(
                "{name}: no RuntimeDefault or Localhost seccomp profile"
            ));
        }
        // check_seLinuxOptions: no user or role, only the container types.
        if let Some(se) = c
            .se_linux_options
            .as_ref()
            .or(pod.se_linux_options.as_ref())
            && (se.user.is_some()
                || se.role.is_some()
                || se.type_.as_deref().is_some_and(|t| {
                    ![
                        "container_t",
                        "container_init_t",
                        "container_kvm_t",
                        "container_engine_t",
                    ]
                    .contains(&t)
                }))
        {
            found.push(format!("{name}: seLinuxOptions"));
        }
    }
    found
}

/// A change that breaks a Pod spec in one way.
type Breaks = fn(&mut PodSpec);

#[test]
fn the_restricted_check_rejects_what_the_standard_rejects() {
    let deployment: Deployment = the(DEPLOYMENT);
    let good = pod_spec(&deployment).clone();
    assert_eq!(restricted_violations(&good), Vec::<String>::new());
    let broken: [(&str, Breaks); 6] = [
        ("privileged", |s| {
            s.containers[0]
                .security_context
                .get_or_insert_default()
                .privileged = Some(true)
        }),
        ("capabilities", |s| {
            s.containers[0]
                .security_context
                .get_or_insert_default()
                .capabilities = None
        }),
        ("runAsNonRoot", |s| {
            s.security_context.get_or_insert_default().run_as_non_root = None
        }),
        ("runAsUser 0", |s| {
            s.containers[0]
                .security_context
                .get_or_insert_default()
                .run_as_user = Some(0)
        }),
        ("seccomp", |s| {
            s.security_context.get_or_insert_default().seccomp_profile = None
        }),
        ("allowPrivilegeEscalation", |s| {
            s.containers[0]
                .security_context
                .get_or_insert_default()
                .allow_privilege_escalation = None
        }),
    ];
    for (what, breaks) in broken {
        let mut spec = good.clone();
        breaks(&mut spec);
        assert!(
            !restricted_violations(&spec).is_empty(),
            "{what} went unnoticed"
        );
    }
}

#[test]
fn the_pods_meet_the_restricted_pod_security_standard_and_harden_beyond_it() {
    let deployment: Deployment = the(DEPLOYMENT);
    let spec = pod_spec(&deployment);
    assert_eq!(restricted_violations(spec), Vec::<String>::new());
    // Beyond the standard: a numeric non-root user and group set explicitly, a read-only root
    // filesystem, nothing privileged.
    let pod = spec
        .security_context
        .clone()
        .expect("a pod securityContext");
    assert!(pod.run_as_user.is_some_and(|u| u > 0), "{pod:?}");
    assert!(pod.run_as_group.is_some_and(|g| g > 0), "{pod:?}");
    for container in &spec.containers {
        let c = container
            .security_context
            .clone()
            .expect("a securityContext");
        assert_eq!(
            c.read_only_root_filesystem,
            Some(true),
            "{}",
            container.name
        );
        assert_eq!(c.privileged, Some(false), "{}", container.name);
    }
    // The namespace example enforces it.
    let namespace: Namespace = the(NAMESPACE);
    let labels = namespace.metadata.labels.unwrap_or_default();
    for mode in ["enforce", "warn", "audit"] {
        assert_eq!(
            labels
                .get(&format!("pod-security.kubernetes.io/{mode}"))
                .map(String::as_str),
            Some("restricted"),
            "{labels:?}"
        );
    }
}

#[test]
fn the_image_runs_as_the_pods_user_and_is_tagged_with_the_crate_version() {
    let deployment: Deployment = the(DEPLOYMENT);
    let spec = pod_spec(&deployment);
    let pod = spec
        .security_context
        .clone()
        .expect("a pod securityContext");
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile readable");
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    let expected = format!(
        "{}:{}",
        pod.run_as_user.expect("runAsUser"),
        pod.run_as_group.expect("runAsGroup")
    );
    assert_eq!(user.trim(), expected, "the Dockerfile's USER");
    let image = spec.containers[0].image.as_deref().expect("an image");
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{image}: tag it with the crate's version, as `just docker-build` does"
    );
}

#[test]
fn the_disruption_budget_and_the_network_policy_select_the_deployments_pods() {
    let deployment: Deployment = the(DEPLOYMENT);
    let labels = pod_labels(&deployment);
    let namespace = deployment.metadata.namespace.clone();
    let spec = &deployment.spec;
    assert!(
        selects(&spec.selector, &labels),
        "the Deployment's own selector"
    );

    let budget: PodDisruptionBudget = the(DEPLOYMENT);
    assert_eq!(budget.metadata.namespace, namespace);
    let budget = budget.spec.expect("a spec");
    assert!(selects(
        budget.selector.as_ref().expect("a selector"),
        &labels
    ));
    // One replica at a time, whatever the replica count (see the file's comment).
    assert_eq!(budget.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(budget.min_available, None);
    assert!(
        spec.replicas.is_some_and(|r| r >= 2),
        "a budget of one with fewer than two replicas blocks nothing or everything"
    );

    let policy: NetworkPolicy = the(DEPLOYMENT);
    assert_eq!(policy.metadata.namespace, namespace);
    let policy = policy.spec.expect("a spec");
    assert!(selects(
        policy.pod_selector.as_ref().expect("a podSelector"),
        &labels
    ));
    let types = policy.policy_types.clone().unwrap_or_default();
    assert!(
        types.contains(&"Ingress".into()) && types.contains(&"Egress".into()),
        "{types:?}"
    );
}

/// The port number `port` means in the Deployment's container (a name resolves to its
/// containerPort).
fn port_number(deployment: &Deployment, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            pod_spec(deployment)
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

/// The controller's configuration as the Deployment's flags give it, parsed by the controller's
/// own parser (an unknown or invalid flag fails here, as it would exit 2 in the Pod).
fn configured(deployment: &Deployment) -> Config {
    let container = &pod_spec(deployment).containers[0];
    assert!(
        container.command.is_none(),
        "the image's entrypoint is the binary"
    );
    let mut argv = vec!["doc-controller".to_string()];
    argv.extend(container.args.clone().unwrap_or_default());
    let cli = <Cli as clap::Parser>::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the Deployment's args {argv:?}: {e}"));
    Config::merge(cli, FileConfig::default()).expect("the Deployment's flags are valid")
}

#[test]
fn the_admin_port_is_the_same_in_the_flags_ports_probes_network_policy_and_scrape_configs() {
    let deployment: Deployment = the(DEPLOYMENT);
    let admin = i32::from(configured(&deployment).admin_addr.port());
    assert!(
        configured(&deployment).admin_addr.ip().is_unspecified(),
        "the kubelet and Prometheus reach the admin server on the Pod IP"
    );
    let container = &pod_spec(&deployment).containers[0];
    let admin_port = IntOrString::String("admin".into());
    assert_eq!(
        port_number(&deployment, &admin_port),
        admin,
        "containerPort"
    );
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("an HTTP probe of {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(port_number(&deployment, &get.port), admin, "{path} probe");
    }
    let annotations = pod_template(&deployment)
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert_eq!(
        annotations.get("prometheus.io/port"),
        Some(&admin.to_string())
    );

    let policy: NetworkPolicy = the(DEPLOYMENT);
    let policy = policy.spec.expect("a spec");
    let ingress = policy.ingress.clone().unwrap_or_default();
    assert_eq!(ingress.len(), 1, "one ingress rule: {ingress:?}");
    let ports = ingress[0].ports.clone().unwrap_or_default();
    assert_eq!(ports.len(), 1, "the admin port only: {ports:?}");
    assert_eq!(
        port_number(&deployment, ports[0].port.as_ref().expect("a port")),
        admin,
        "the NetworkPolicy's ingress port"
    );
    // Egress: the API server's ports (6443, or 443 where it is served on that), TCP; no DNS,
    // since an in-cluster kube client connects to KUBERNETES_SERVICE_HOST, an address.
    let mut egress: Vec<(Option<String>, i32)> = policy
        .egress
        .iter()
        .flatten()
        .flat_map(|rule| rule.ports.clone().unwrap_or_default())
        .map(|p| {
            let number = port_number(&deployment, p.port.as_ref().expect("a port"));
            (p.protocol, number)
        })
        .collect();
    egress.sort();
    let tcp = Some("TCP".to_string());
    assert_eq!(egress, vec![(tcp.clone(), 443), (tcp, 6443)]);

    for monitor in manifest("yaml/observability/podmonitor.yaml") {
        for endpoint in monitor["spec"]["podMetricsEndpoints"]
            .as_array()
            .expect("endpoints")
        {
            assert_eq!(
                endpoint["port"], "admin",
                "the PodMonitor scrapes the admin port"
            );
        }
    }
}

#[test]
fn requests_fit_within_limits_and_the_grace_period_outlasts_a_request_to_the_api_server() {
    let deployment: Deployment = the(DEPLOYMENT);
    for container in &pod_spec(&deployment).containers {
        let resources = container.resources.clone().expect("resources");
        let requests = resources.requests.unwrap_or_default();
        let limits = resources.limits.unwrap_or_default();
        for needed in ["cpu", "memory"] {
            assert!(requests.contains_key(needed), "a {needed} request");
        }
        assert!(limits.contains_key("memory"), "a memory limit");
        for (resource, limit) in &limits {
            let request = requests
                .get(resource)
                .unwrap_or_else(|| panic!("a {resource} limit without a request"));
            assert!(
                quantity(&request.0) <= quantity(&limit.0),
                "{resource}: request {} over limit {}",
                request.0,
                limit.0
            );
        }
    }
    // The shutdown it drains (see the file's comment): a reconcile waits at most --api-timeout
    // for one answer; the kubelet's SIGKILL must come later than that.
    let grace = pod_spec(&deployment)
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds");
    let api_timeout = configured(&deployment).api_timeout;
    assert!(
        u64::try_from(grace).is_ok_and(|g| g > api_timeout.as_secs()),
        "terminationGracePeriodSeconds {grace} is not longer than --api-timeout {api_timeout:?}"
    );
}

/// A quantity in base units, for the suffixes these manifests use (`m`, `Ki`, `Mi`, `Gi`).
fn quantity(text: &str) -> f64 {
    let (number, factor) = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
    ]
    .iter()
    .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
    .unwrap_or((text, 1.0));
    number
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("quantity {text}: {e}"))
        * factor
}

#[test]
fn two_replicas_spread_out_and_elect_a_leader_named_after_their_pod() {
    let deployment: Deployment = the(DEPLOYMENT);
    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let rolling = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .expect("a rolling update");
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::Int(0)),
        "a new standby is Ready before an old replica stops"
    );
    let labels = pod_labels(&deployment);
    let pod = pod_spec(&deployment);
    let spread = pod.topology_spread_constraints.clone().unwrap_or_default();
    for key in ["kubernetes.io/hostname", "topology.kubernetes.io/zone"] {
        let constraint = spread
            .iter()
            .find(|c| c.topology_key == key)
            .unwrap_or_else(|| panic!("a spread over {key}"));
        assert!(selects(
            constraint.label_selector.as_ref().expect("a selector"),
            &labels
        ));
    }
    let env = pod.containers[0].env.clone().unwrap_or_default();
    for (name, field) in [
        ("DOC_CONTROLLER_IDENTITY", "metadata.name"),
        ("DOC_CONTROLLER_LEASE_NAMESPACE", "metadata.namespace"),
    ] {
        let from = env
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(from, Some(field), "{name}");
    }
    assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
    let rbac_namespace = manifest("yaml/rbac.yaml")
        .into_iter()
        .find(|o| o["kind"] == "ServiceAccount")
        .and_then(|sa| sa["metadata"]["namespace"].as_str().map(str::to_string));
    assert_eq!(deployment.metadata.namespace, rbac_namespace);
}

// === kustomize ===

#[tokio::test]
async fn kustomize_installs_everything_into_the_restricted_namespace() {
    let rendered = Kubectl::offline()
        .ok(
            &["kustomize", &format!("{}/yaml", env!("CARGO_MANIFEST_DIR"))],
            None,
        )
        .await;
    let objects: Vec<Value> = serde_saphyr::from_multiple(&rendered).expect("kustomize output");
    let example: Namespace = the(NAMESPACE);
    let target = example.metadata.name.expect("a name");
    let kustomization = manifest("yaml/kustomization.yaml");
    let listed = kustomization[0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|file| manifest(&format!("yaml/{}", file.as_str().expect("a file"))).len())
        .sum::<usize>();
    assert_eq!(objects.len(), listed, "every object of the listed files");
    let cluster_scoped = [
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
    ];
    for obj in &objects {
        let kind = obj["kind"].as_str().unwrap_or_default();
        if cluster_scoped.contains(&kind) {
            assert!(obj["metadata"]["namespace"].is_null(), "{}", named(obj));
        } else {
            assert_eq!(
                obj["metadata"]["namespace"],
                target.as_str(),
                "{}",
                named(obj)
            );
        }
        for subject in obj["subjects"].as_array().into_iter().flatten() {
            if subject["kind"] == "ServiceAccount" {
                assert_eq!(subject["namespace"], target.as_str(), "{}", named(obj));
            }
        }
    }
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == target.as_str())
    );
}
