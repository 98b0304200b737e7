//! Authentication, RBAC and impersonation, checked against what kube-apiserver does:
//! ServiceAccount tokens, Role/ClusterRole rules (verbs, groups, resources, subresources,
//! resource names, wildcards, non-resource URLs), binding scope, the exact 403 wording,
//! impersonation headers, access reviews and `kubectl auth can-i`.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{api_error, document, documents, install_crd};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchParams};
use sandbox::Sandbox;
use serde_json::{Value, json};

const CONTROLLER: &str = "system:serviceaccount:default:doc-controller";

async fn start() -> (Sandbox, kube::Client) {
    let sb = Sandbox::start().await.unwrap();
    let admin = sb.client().unwrap();
    install_crd(&admin).await;
    (sb, admin)
}

/// A client of the admin that impersonates `user` (and `groups`).
fn as_user(sb: &Sandbox, user: &str, groups: &[&str]) -> kube::Client {
    let mut config = sb.kube_config();
    config.auth_info.impersonate = Some(user.to_owned());
    if !groups.is_empty() {
        config.auth_info.impersonate_groups =
            Some(groups.iter().map(|g| (*g).to_owned()).collect());
    }
    kube::Client::try_from(config).unwrap()
}

/// Creates the objects of a multi-document YAML text (RBAC kinds and ServiceAccounts).
async fn apply(client: &kube::Client, yaml: &str) {
    use serde::Deserialize;
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v = Value::deserialize(doc).unwrap();
        if v.is_null() {
            continue;
        }
        let ns = v["metadata"]["namespace"].as_str().unwrap_or("default");
        let pp = PostParams::default();
        let c = client.clone();
        match v["kind"].as_str().unwrap() {
            "ServiceAccount" => drop(
                Api::<ServiceAccount>::namespaced(c, ns)
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "Role" => drop(
                Api::<Role>::namespaced(c, ns)
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "RoleBinding" => drop(
                Api::<RoleBinding>::namespaced(c, ns)
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "ClusterRole" => drop(
                Api::<ClusterRole>::all(c)
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            "ClusterRoleBinding" => drop(
                Api::<ClusterRoleBinding>::all(c)
                    .create(&pp, &serde_json::from_value(v).unwrap())
                    .await
                    .unwrap(),
            ),
            other => panic!("unexpected kind {other}"),
        }
    }
}

/// Grants `user` the `rules` through a ClusterRole and a ClusterRoleBinding named `name`.
async fn grant_cluster(client: &kube::Client, name: &str, subject: Value, rules: Value) {
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": rules});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name}, "subjects": [subject],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}});
    apply(
        client,
        &format!(
            "{}\n---\n{}",
            serde_json::to_string(&role).unwrap(),
            serde_json::to_string(&binding).unwrap()
        ),
    )
    .await;
}

fn user_subject(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

/// `kubectl auth can-i` through the Rust API: a SelfSubjectAccessReview as `client`.
async fn can(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: Some(namespace.into()).filter(|n: &String| !n.is_empty()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap().allowed
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    let status = api_error(result);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    status.message
}

#[tokio::test]
async fn the_project_rbac_yaml_lets_the_controller_service_account_do_exactly_its_job() {
    let (sb, admin) = start().await;
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../yaml/rbac.yaml"),
    )
    .unwrap();
    apply(&admin, &yaml).await;
    documents(&admin, "default")
        .create(&PostParams::default(), &document("samuel", "Samuel"))
        .await
        .unwrap();
    let token = sb
        .service_account_token("default", "doc-controller", Duration::from_secs(600))
        .unwrap();
    let sa = kube::Client::try_from(sb.kube_config_for_token(&token)).unwrap();

    for (verb, group, resource) in [
        ("list", "kube.rs", "documents"),
        ("watch", "kube.rs", "documents"),
        ("patch", "kube.rs", "documents"),
        ("patch", "kube.rs", "documents/status"),
        ("list", "", "configmaps"),
        ("watch", "", "configmaps"),
        ("patch", "", "configmaps"),
        ("create", "", "configmaps"),
        ("delete", "", "configmaps"),
        ("create", "events.k8s.io", "events"),
        ("patch", "events.k8s.io", "events"),
    ] {
        assert!(
            can(&sa, verb, group, resource, "default").await,
            "{verb} {resource}"
        );
    }
    for (verb, group, resource) in [
        ("delete", "kube.rs", "documents"),
        ("update", "kube.rs", "documents"),
        ("get", "", "secrets"),
        ("create", "", "events"),
    ] {
        assert!(
            !can(&sa, verb, group, resource, "default").await,
            "{verb} {resource}"
        );
    }

    // The real requests agree with the reviews.
    let docs = documents(&sa, "default");
    docs.list(&ListParams::default()).await.unwrap();
    let patch = Patch::Merge(json!({"metadata": {"labels": {"seen": "yes"}}}));
    docs.patch("samuel", &PatchParams::default(), &patch)
        .await
        .unwrap();
    Api::<ConfigMap>::all(sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        forbidden(docs.delete("samuel", &Default::default()).await),
        format!(
            "documents.kube.rs \"samuel\" is forbidden: User \"{CONTROLLER}\" cannot delete \
             resource \"documents\" in API group \"kube.rs\" in the namespace \"default\""
        )
    );
    assert_eq!(
        forbidden(
            Api::<Secret>::namespaced(sa.clone(), "default")
                .get("x")
                .await
        ),
        format!(
            "secrets \"x\" is forbidden: User \"{CONTROLLER}\" cannot get resource \"secrets\" \
             in API group \"\" in the namespace \"default\""
        )
    );
}

#[tokio::test]
async fn forbidden_answers_carry_name_group_and_resource_in_the_details() {
    let (sb, _admin) = start().await;
    let bob = as_user(&sb, "bob", &[]);
    let status = api_error(
        documents(&bob, "default")
            .patch(
                "samuel",
                &PatchParams::apply("bob"),
                &Patch::Apply(json!({"apiVersion": "kube.rs/v1", "kind": "Document"})),
            )
            .await,
    );
    assert_eq!(status.code, 403);
    let details = status.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("samuel", "kube.rs", "documents")
    );
    assert_eq!(
        status.message,
        "documents.kube.rs \"samuel\" is forbidden: User \"bob\" cannot patch resource \
         \"documents\" in API group \"kube.rs\" in the namespace \"default\""
    );
}

#[tokio::test]
async fn a_watch_at_cluster_scope_is_refused_before_the_stream_starts() {
    let (sb, _admin) = start().await;
    let bob = as_user(&sb, "bob", &[]);
    let all = Api::<kube::api::DynamicObject>::all_with(bob, &common::document_resource());
    let message = forbidden(all.watch(&WatchParams::default(), "0").await.map(|_| ()));
    assert_eq!(
        message,
        "documents.kube.rs is forbidden: User \"bob\" cannot watch resource \"documents\" in API \
         group \"kube.rs\" at the cluster scope"
    );
}

#[tokio::test]
async fn a_clusterrolebinding_grants_its_clusterrole_in_every_namespace() {
    let (sb, admin) = start().await;
    grant_cluster(
        &admin,
        "cm-reader",
        user_subject("alice"),
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    )
    .await;
    let alice = as_user(&sb, "alice", &[]);
    Api::<ConfigMap>::namespaced(alice.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap();
    Api::<ConfigMap>::all(alice.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let message = forbidden(
        Api::<ConfigMap>::namespaced(alice, "default")
            .create(&PostParams::default(), &common::configmap("c", json!({})))
            .await,
    );
    assert!(
        message.ends_with(
            "cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_role_and_its_rolebinding_grant_only_inside_their_namespace() {
    let (sb, admin) = start().await;
    apply(
        &admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-writer, namespace: default}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cm-writer, namespace: default}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: carol}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-writer}
"#,
    )
    .await;
    let carol = as_user(&sb, "carol", &[]);
    Api::<ConfigMap>::namespaced(carol.clone(), "default")
        .create(&PostParams::default(), &common::configmap("c", json!({})))
        .await
        .unwrap();
    forbidden(
        Api::<ConfigMap>::namespaced(carol.clone(), "kube-system")
            .list(&ListParams::default())
            .await,
    );
    let message = forbidden(
        Api::<ConfigMap>::all(carol)
            .list(&ListParams::default())
            .await,
    );
    assert!(message.ends_with("at the cluster scope"), "{message}");
}

#[tokio::test]
async fn a_rolebinding_to_a_clusterrole_grants_it_only_in_the_binding_namespace() {
    let (sb, admin) = start().await;
    apply(
        &admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: doc-reader}
rules:
- apiGroups: [kube.rs]
  resources: [documents]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: doc-reader, namespace: kube-public}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: readers}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: doc-reader}
"#,
    )
    .await;
    let dave = as_user(&sb, "dave", &["readers"]);
    documents(&dave, "kube-public")
        .list(&ListParams::default())
        .await
        .unwrap();
    forbidden(
        documents(&dave, "default")
            .list(&ListParams::default())
            .await,
    );
}

#[tokio::test]
async fn resource_names_restrict_a_rule_to_the_named_objects() {
    let (sb, admin) = start().await;
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), "default");
    for name in ["index", "other"] {
        cms.create(&PostParams::default(), &common::configmap(name, json!({})))
            .await
            .unwrap();
    }
    grant_cluster(
        &admin,
        "index-only",
        user_subject("erin"),
        json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["index"], "verbs": ["get", "watch", "list"]}]),
    )
    .await;
    let erin = Api::<ConfigMap>::namespaced(as_user(&sb, "erin", &[]), "default");
    erin.get("index").await.unwrap();
    assert_eq!(
        forbidden(erin.get("other").await),
        "configmaps \"other\" is forbidden: User \"erin\" cannot get resource \"configmaps\" in \
         API group \"\" in the namespace \"default\""
    );
    // A list of everything names no object, so resourceNames do not cover it ...
    forbidden(erin.list(&ListParams::default()).await);
    // ... but a list pinned to the name by a field selector does, as `RequestInfo` sets it.
    erin.list(&ListParams::default().fields("metadata.name=index"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_subresource_rule_covers_the_subresource_but_not_the_resource() {
    let (sb, admin) = start().await;
    documents(&admin, "default")
        .create(&PostParams::default(), &document("samuel", "Samuel"))
        .await
        .unwrap();
    grant_cluster(
        &admin,
        "status-writer",
        user_subject("frank"),
        json!([{"apiGroups": ["kube.rs"], "resources": ["documents/status"], "verbs": ["patch"]}]),
    )
    .await;
    let frank = documents(&as_user(&sb, "frank", &[]), "default");
    let patch = Patch::Merge(json!({"status": {"hidden": true}}));
    frank
        .patch_status("samuel", &PatchParams::default(), &patch)
        .await
        .unwrap();
    let message = forbidden(frank.patch("samuel", &PatchParams::default(), &patch).await);
    assert!(message.contains("cannot patch resource \"documents\" in API group \"kube.rs\""));

    let grace = documents(&as_user(&sb, "grace", &[]), "default");
    let message = forbidden(
        grace
            .patch_status("samuel", &PatchParams::default(), &patch)
            .await,
    );
    assert!(
        message.contains("cannot patch resource \"documents/status\" in API group \"kube.rs\""),
        "{message}"
    );
}

#[tokio::test]
async fn wildcards_cover_every_verb_group_and_resource_including_subresources() {
    let (sb, admin) = start().await;
    grant_cluster(
        &admin,
        "everything",
        user_subject("heidi"),
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    )
    .await;
    let heidi = as_user(&sb, "heidi", &[]);
    for (verb, group, resource) in [
        ("delete", "kube.rs", "documents"),
        ("deletecollection", "", "configmaps"),
        ("update", "kube.rs", "documents/status"),
        ("impersonate", "", "users"),
    ] {
        assert!(can(&heidi, verb, group, resource, "default").await);
    }
    grant_cluster(
        &admin,
        "all-status",
        user_subject("ivan"),
        json!([{"apiGroups": ["kube.rs"], "resources": ["*/status"], "verbs": ["get"]}]),
    )
    .await;
    let ivan = as_user(&sb, "ivan", &[]);
    assert!(can(&ivan, "get", "kube.rs", "documents/status", "default").await);
    assert!(!can(&ivan, "get", "kube.rs", "documents", "default").await);
}

#[tokio::test]
async fn non_resource_urls_grant_paths_and_discovery_is_open_to_every_user() {
    let (sb, admin) = start().await;
    let judy = as_user(&sb, "judy", &[]);
    // Discovery and /version are allowed by the default system:discovery role.
    judy.apiserver_version().await.unwrap();
    judy.list_api_groups().await.unwrap();
    let get_metrics = |client: kube::Client| async move {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        client.request_text(request).await
    };
    let status = api_error(get_metrics(judy.clone()).await);
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "forbidden: User \"judy\" cannot get path \"/metrics\""
    );
    grant_cluster(
        &admin,
        "metrics-reader",
        user_subject("judy"),
        json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
    )
    .await;
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some("/metrics".into()),
                verb: Some("get".into()),
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(judy.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    let status = answer.status.unwrap();
    assert!(status.allowed);
    assert_eq!(
        status.reason.as_deref(),
        Some(
            "RBAC: allowed by ClusterRoleBinding \"metrics-reader\" of ClusterRole \"metrics-reader\" to User \"judy\""
        )
    );
    let text = get_metrics(judy).await.unwrap();
    assert!(text.contains("sandbox_apiserver_requests_total"));
}

#[tokio::test]
async fn the_default_cluster_admin_role_can_be_bound_like_on_a_real_cluster() {
    let (sb, admin) = start().await;
    apply(
        &admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: admins, namespace: kube-public}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: oscar}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
"#,
    )
    .await;
    let oscar = as_user(&sb, "oscar", &[]);
    assert!(can(&oscar, "delete", "kube.rs", "documents", "kube-public").await);
    assert!(!can(&oscar, "delete", "kube.rs", "documents", "default").await);
}

#[tokio::test]
async fn a_binding_to_a_missing_role_explains_itself_in_the_403() {
    let (sb, admin) = start().await;
    apply(
        &admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: mallory}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: not-there}
"#,
    )
    .await;
    let message = forbidden(
        Api::<ConfigMap>::all(as_user(&sb, "mallory", &[]))
            .list(&ListParams::default())
            .await,
    );
    assert!(
        message.ends_with(
            "at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io \"not-there\" not found"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn impersonating_needs_the_impersonate_verb_on_users_groups_or_serviceaccounts() {
    let (sb, admin) = start().await;
    apply(
        &admin,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: doc-controller, namespace: default}\n",
    )
    .await;
    let token = sb
        .service_account_token("default", "doc-controller", Duration::from_secs(600))
        .unwrap();
    let mut config = sb.kube_config_for_token(&token);
    config.auth_info.impersonate = Some("bob".into());
    let sa_as_bob = kube::Client::try_from(config.clone()).unwrap();
    let message = forbidden(sa_as_bob.apiserver_version().await);
    assert_eq!(
        message,
        format!(
            "users \"bob\" is forbidden: User \"{CONTROLLER}\" cannot impersonate resource \
             \"users\" in API group \"\" at the cluster scope"
        )
    );
    grant_cluster(
        &admin,
        "impersonate-bob",
        json!({"kind": "ServiceAccount", "name": "doc-controller", "namespace": "default"}),
        json!([{"apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"], "verbs": ["impersonate"]}]),
    )
    .await;
    sa_as_bob.apiserver_version().await.unwrap();
    // Groups are checked one by one.
    config.auth_info.impersonate_groups = Some(vec!["system:masters".into()]);
    let message = forbidden(
        kube::Client::try_from(config)
            .unwrap()
            .apiserver_version()
            .await,
    );
    assert!(
        message.starts_with("groups \"system:masters\" is forbidden"),
        "{message}"
    );
}

#[tokio::test]
async fn the_admin_runs_as_the_controller_service_account_by_impersonation() {
    let (sb, admin) = start().await;
    let controller = as_user(&sb, CONTROLLER, &[]);
    let message = forbidden(
        documents(&controller, "default")
            .list(&ListParams::default())
            .await,
    );
    assert!(
        message.contains(&format!("User \"{CONTROLLER}\"")),
        "{message}"
    );
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../yaml/rbac.yaml"),
    )
    .unwrap();
    apply(&admin, &yaml).await;
    documents(&controller, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    // The impersonated ServiceAccount has its ServiceAccount groups.
    let review: Value = serde_json::from_str(
        &controller
            .request_text(
                http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})).unwrap())
                    .unwrap(),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], CONTROLLER);
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
}

#[tokio::test]
async fn the_token_request_api_issues_tokens_for_existing_service_accounts_only() {
    let (sb, admin) = start().await;
    let post = |name: &str, seconds: i64| {
        http::Request::post(format!(
            "/api/v1/namespaces/default/serviceaccounts/{name}/token"
        ))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}))
                .unwrap(),
        )
        .unwrap()
    };
    let status = api_error(admin.request_text(post("robot", 3600)).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "serviceaccounts \"robot\" not found")
    );
    apply(
        &admin,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot, namespace: default}\n",
    )
    .await;
    let status = api_error(admin.request_text(post("robot", 60)).await);
    assert_eq!(status.code, 422);
    let answer: Value =
        serde_json::from_str(&admin.request_text(post("robot", 3600)).await.unwrap()).unwrap();
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600);
    let token = answer["status"]["token"].as_str().unwrap();
    assert!(
        answer["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // The token works: it is the ServiceAccount, which may not list configmaps yet.
    let robot = kube::Client::try_from(sb.kube_config_for_token(token)).unwrap();
    robot.apiserver_version().await.unwrap();
    let message = forbidden(
        Api::<ConfigMap>::all(robot.clone())
            .list(&ListParams::default())
            .await,
    );
    assert!(message.contains("User \"system:serviceaccount:default:robot\""));
    // Deleting the ServiceAccount invalidates its tokens, like the uid bound into real ones.
    Api::<ServiceAccount>::namespaced(admin, "default")
        .delete("robot", &Default::default())
        .await
        .unwrap();
    assert_eq!(api_error(robot.apiserver_version().await).code, 401);
}

/// `kubectl auth can-i` as the controller (impersonated with `--as`) agrees with the
/// sandbox's decisions.
#[tokio::test]
async fn kubectl_auth_can_i_agrees_with_the_sandbox() {
    let Some(kubectl) = kubectl_binary() else {
        return;
    };
    let (sb, admin) = start().await;
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../yaml/rbac.yaml"),
    )
    .unwrap();
    apply(&admin, &yaml).await;
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = sb.kubeconfig_path().to_owned();
    let ask = |args: Vec<String>| {
        let kubectl = kubectl.clone();
        let kubeconfig = kubeconfig.clone();
        let home = home.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(kubectl)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg("--cache-dir")
                .arg(home.join("cache"))
                .args(["auth", "can-i"])
                .args(&args)
                .args(["--as", CONTROLLER])
                .env("HOME", &home)
                .env_remove("KUBECONFIG")
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        })
    };
    let controller = as_user(&sb, CONTROLLER, &[]);
    for (verb, resource, group, plural, expected) in [
        ("patch", "documents.kube.rs", "kube.rs", "documents", "yes"),
        (
            "patch",
            "documents.kube.rs/status",
            "kube.rs",
            "documents/status",
            "yes",
        ),
        ("delete", "documents.kube.rs", "kube.rs", "documents", "no"),
        ("create", "configmaps", "", "configmaps", "yes"),
        ("get", "secrets", "", "secrets", "no"),
    ] {
        let (out, err) = ask(vec![
            verb.to_owned(),
            resource.to_owned(),
            "-n".into(),
            "default".into(),
        ])
        .await
        .unwrap();
        assert_eq!(out, expected, "{verb} {resource}: {err}");
        assert_eq!(
            can(&controller, verb, group, plural, "default").await,
            expected == "yes"
        );
    }
}

/// `kubectl auth can-i --list` (a SelfSubjectRulesReview) shows the controller's rules, and
/// `kubectl create token` (a protobuf TokenRequest) issues a token that authenticates.
#[tokio::test]
async fn kubectl_lists_the_controller_rules_and_creates_tokens() {
    let Some(kubectl) = kubectl_binary() else {
        return;
    };
    let (sb, admin) = start().await;
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../yaml/rbac.yaml"),
    )
    .unwrap();
    apply(&admin, &yaml).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&kubectl);
        cmd.arg("--kubeconfig")
            .arg(sb.kubeconfig_path())
            .arg("--cache-dir")
            .arg(home.path().join("cache"))
            .args(args)
            .env("HOME", home.path())
            .env_remove("KUBECONFIG");
        tokio::task::spawn_blocking(move || {
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        })
    };
    let list = run(&[
        "auth", "can-i", "--list", "-n", "default", "--as", CONTROLLER,
    ])
    .await
    .unwrap();
    let documents_line = list
        .lines()
        .find(|l| l.starts_with("documents.kube.rs "))
        .unwrap();
    assert!(documents_line.ends_with("[list watch patch]"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("documents.kube.rs/status ") && l.ends_with("[patch]"))
    );
    // A kubeconfig of the ServiceAccount makes kubectl that ServiceAccount.
    let path = sb
        .kubeconfig_for_service_account("default", "doc-controller", Duration::from_secs(600))
        .unwrap();
    let whoami = run(&[
        "--kubeconfig",
        path.to_str().unwrap(),
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .await
    .unwrap();
    assert_eq!(whoami, CONTROLLER);
    let token = run(&["create", "token", "doc-controller", "--duration=10m"])
        .await
        .unwrap();
    let sa = kube::Client::try_from(sb.kube_config_for_token(token.trim())).unwrap();
    assert!(can(&sa, "watch", "kube.rs", "documents", "default").await);
}

fn kubectl_binary() -> Option<String> {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    let ok = std::process::Command::new(&bin)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("kubectl not found: skipping");
    }
    ok.then_some(bin)
}
