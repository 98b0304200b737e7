//! Authentication, RBAC and impersonation, checked against what kube-apiserver does:
//! ServiceAccount tokens, Role/ClusterRole rules (verbs, groups, resources, subresources,
//! resource names, wildcards, non-resource URLs), binding scope, the exact 403 wording,
//! impersonation headers, access reviews and `kubectl auth can-i`.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`). On a real cluster:
//! - made-up users and groups (`alice-<namespace>`, ...) are impersonated from the kubeconfig's
//!   user (a cluster admin may `impersonate`); real ServiceAccounts are created in the test's
//!   namespace and authenticate with TokenRequest tokens (at least 600 s, a cluster's minimum);
//! - Roles and RoleBindings live in the test's namespace, deleted with it; ClusterRoles and
//!   ClusterRoleBindings get unique names (`<name>-<namespace>`) and are deleted when the test
//!   ends, pass or fail;
//! - the tests that install the project's `yaml/rbac.yaml` apply exactly what a user installs
//!   (ServiceAccount `default/doc-controller`, ClusterRole and ClusterRoleBinding
//!   `doc-controller`) and leave it installed;
//! - a cluster's authorizer and token authenticator work from caches, so a check right after a
//!   grant or a deletion waits until it takes effect (the sandbox's answer at once).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    FIELD_MANAGER, Target, Teardown, TestNamespace, api_error, document, documents, eventually,
};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview,
    SelfSubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::{Value, json};

/// The project's ServiceAccount of `yaml/rbac.yaml` as a user.
const CONTROLLER: &str = "system:serviceaccount:default:doc-controller";

/// The text of the project's `yaml/rbac.yaml`.
fn project_rbac_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../yaml/rbac.yaml"))
        .unwrap()
}

/// One test's world: where it runs, its namespace and the admin's client.
struct Ctx {
    target: Target,
    ns: TestNamespace,
    admin: kube::Client,
}

/// Connects to the target, installs the Document CRD and creates the test's namespace.
async fn start() -> Ctx {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let admin = target.client();
    Ctx { target, ns, admin }
}

impl Ctx {
    /// `<base>-<namespace>`: a made-up user or group, or a cluster-scoped object, of this test
    /// alone (so that nothing granted by another test, or left by an aborted run, applies).
    fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.ns.name())
    }

    /// A client of the admin that impersonates `user` (and `groups`).
    fn as_user(&self, user: &str, groups: &[&str]) -> kube::Client {
        let mut config = self.target.kube_config();
        config.auth_info.impersonate = Some(user.to_owned());
        if !groups.is_empty() {
            config.auth_info.impersonate_groups =
                Some(groups.iter().map(|g| (*g).to_owned()).collect());
        }
        kube::Client::try_from(config).unwrap()
    }

    /// The target's connection with `token` as the only credential.
    fn config_for_token(&self, token: &str) -> kube::Config {
        let mut config = self.target.kube_config();
        // AuthInfo's token is a secrecy::SecretString; deserializing avoids depending on it.
        config.auth_info = serde_json::from_value(json!({ "token": token })).unwrap();
        config
    }

    fn client_for_token(&self, token: &str) -> kube::Client {
        kube::Client::try_from(self.config_for_token(token)).unwrap()
    }

    /// A TokenRequest token for the ServiceAccount, valid for 600 s (a real cluster's minimum).
    async fn token(&self, namespace: &str, name: &str) -> String {
        let answer = self
            .admin
            .request_text(token_request(namespace, name, 600))
            .await
            .unwrap_or_else(|e| panic!("a token for {namespace}/{name}: {e}"));
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answer["status"]["token"].as_str().unwrap().to_owned()
    }

    /// Creates a ServiceAccount in the test's namespace.
    async fn create_service_account(&self, name: &str) {
        apply(
            &self.admin,
            vec![json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": &*self.ns}})],
        )
        .await;
    }

    /// Grants `subject` the `rules` in the test's namespace through a Role and a RoleBinding
    /// named `name` (deleted with the namespace).
    async fn grant(&self, name: &str, subject: Value, rules: Value) {
        let ns: &str = &self.ns;
        apply(
            &self.admin,
            vec![
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": name, "namespace": ns}, "rules": rules}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": name, "namespace": ns}, "subjects": [subject],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}}),
            ],
        )
        .await;
    }

    /// Grants `subject` the `rules` through a ClusterRole and a ClusterRoleBinding named
    /// [`Ctx::name`]`(base)`, returned with the guard that deletes both on a real cluster.
    async fn grant_cluster(&self, base: &str, subject: Value, rules: Value) -> (String, Teardown) {
        let name = self.name(base);
        let cleanup = self.delete_on_drop(&name);
        apply(
            &self.admin,
            vec![
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": name}, "rules": rules}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": name}, "subjects": [subject],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}}),
            ],
        )
        .await;
        (name, cleanup)
    }

    /// On a real cluster, deletes the ClusterRoleBinding and the ClusterRole `name` (whichever
    /// exist) when the guard drops, pass or fail.
    fn delete_on_drop(&self, name: &str) -> Teardown {
        let name = name.to_owned();
        self.target.teardown(move |client| async move {
            let dp = DeleteParams::default();
            let _ = Api::<ClusterRoleBinding>::all(client.clone())
                .delete(&name, &dp)
                .await;
            let _ = Api::<ClusterRole>::all(client).delete(&name, &dp).await;
        })
    }
}

/// The documents of a multi-document YAML text.
fn yaml_docs(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).expect("the YAML parses");
    docs.into_iter().filter(|v| !v.is_null()).collect()
}

/// The project's `yaml/rbac.yaml` for a ServiceAccount `doc-controller` of `namespace`, with
/// the ClusterRole and ClusterRoleBinding named `name` (the Lease's Role and RoleBinding in
/// `namespace`).
fn project_rbac_in(namespace: &str, name: &str) -> Vec<Value> {
    let mut docs = yaml_docs(&project_rbac_yaml());
    for doc in &mut docs {
        match doc["kind"].as_str().unwrap() {
            "ServiceAccount" | "Role" => doc["metadata"]["namespace"] = json!(namespace),
            "RoleBinding" => {
                doc["metadata"]["namespace"] = json!(namespace);
                for subject in doc["subjects"].as_array_mut().unwrap() {
                    subject["namespace"] = json!(namespace);
                }
            }
            "ClusterRole" => doc["metadata"]["name"] = json!(name),
            "ClusterRoleBinding" => {
                doc["metadata"]["name"] = json!(name);
                doc["roleRef"]["name"] = json!(name);
                for subject in doc["subjects"].as_array_mut().unwrap() {
                    subject["namespace"] = json!(namespace);
                }
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    docs
}

/// Server-side applies (forced, so idempotent) RBAC objects and ServiceAccounts; namespaced
/// ones without a namespace go to `default`.
async fn apply(client: &kube::Client, docs: Vec<Value>) {
    async fn ssa<K>(api: Api<K>, object: Value)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("{} {name} applies: {e}", object["kind"]));
    }
    for v in docs {
        let ns = v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let c = client.clone();
        match v["kind"].as_str().unwrap() {
            "ServiceAccount" => ssa(Api::<ServiceAccount>::namespaced(c, &ns), v).await,
            "Role" => ssa(Api::<Role>::namespaced(c, &ns), v).await,
            "RoleBinding" => ssa(Api::<RoleBinding>::namespaced(c, &ns), v).await,
            "ClusterRole" => ssa(Api::<ClusterRole>::all(c), v).await,
            "ClusterRoleBinding" => ssa(Api::<ClusterRoleBinding>::all(c), v).await,
            other => panic!("unexpected kind {other}"),
        }
    }
}

fn user_subject(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

/// A TokenRequest for the ServiceAccount `namespace/name`.
fn token_request(namespace: &str, name: &str, seconds: i64) -> http::Request<Vec<u8>> {
    http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    ))
    .header("content-type", "application/json")
    .body(
        serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}))
            .unwrap(),
    )
    .unwrap()
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

/// Waits until `client` may do this: a real cluster's authorizer sees a new grant a moment
/// later.
async fn until_can(client: &kube::Client, verb: &str, group: &str, resource: &str, ns: &str) {
    eventually(&format!("{verb} {resource} in {ns:?} allowed"), || {
        can(client, verb, group, resource, ns)
    })
    .await;
}

/// A SelfSubjectAccessReview of `get` on a non-resource path as `client`.
async fn review_get_path(client: &kube::Client, path: &str) -> SubjectAccessReviewStatus {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.into()),
                verb: Some("get".into()),
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap()
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    let status = api_error(result);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    status.message
}

/// The RBAC authorizer (`plugin/pkg/auth/authorizer/rbac` `RBACAuthorizer.Authorize`) with the
/// project's ClusterRole and bindings; denials are `responsewriters.ForbiddenStatusError`.
#[tokio::test]
async fn the_project_rbac_yaml_lets_the_controller_service_account_do_exactly_its_job() {
    let ctx = start().await;
    let (admin, ns): (&kube::Client, &str) = (&ctx.admin, &ctx.ns);
    // On a real cluster these are exactly the objects a user installs, so they are left
    // installed (shared, user-facing RBAC is never deleted by the suite).
    apply(admin, yaml_docs(&project_rbac_yaml())).await;
    documents(admin, ns)
        .create(&PostParams::default(), &document("samuel", "Samuel"))
        .await
        .unwrap();
    let sa = ctx.client_for_token(&ctx.token("default", "doc-controller").await);
    until_can(&sa, "list", "kube.rs", "documents", ns).await;

    for (verb, group, resource) in [
        ("list", "kube.rs", "documents"),
        ("watch", "kube.rs", "documents"),
        ("get", "kube.rs", "documents"),
        ("update", "kube.rs", "documents"),
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
            can(&sa, verb, group, resource, ns).await,
            "{verb} {resource}"
        );
    }
    for (verb, group, resource) in [
        ("delete", "kube.rs", "documents"),
        ("patch", "kube.rs", "documents"),
        ("get", "", "secrets"),
        ("create", "", "events"),
    ] {
        assert!(
            !can(&sa, verb, group, resource, ns).await,
            "{verb} {resource}"
        );
    }

    // The real requests agree with the reviews.
    let docs = documents(&sa, ns);
    docs.list(&ListParams::default()).await.unwrap();
    let mut samuel = docs.get("samuel").await.unwrap();
    samuel.metadata.labels = Some([("seen".to_string(), "yes".to_string())].into());
    docs.replace("samuel", &PostParams::default(), &samuel)
        .await
        .unwrap();
    // The troubleshooting guide's example: a write the RBAC does not grant.
    let patch = Patch::Merge(json!({"metadata": {"labels": {"seen": "twice"}}}));
    assert_eq!(
        forbidden(docs.patch("samuel", &PatchParams::default(), &patch).await),
        format!(
            "documents.kube.rs \"samuel\" is forbidden: User \"{CONTROLLER}\" cannot patch \
             resource \"documents\" in API group \"kube.rs\" in the namespace \"{ns}\""
        )
    );
    Api::<ConfigMap>::all(sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        forbidden(docs.delete("samuel", &Default::default()).await),
        format!(
            "documents.kube.rs \"samuel\" is forbidden: User \"{CONTROLLER}\" cannot delete \
             resource \"documents\" in API group \"kube.rs\" in the namespace \"{ns}\""
        )
    );
    assert_eq!(
        forbidden(Api::<Secret>::namespaced(sa.clone(), ns).get("x").await),
        format!(
            "secrets \"x\" is forbidden: User \"{CONTROLLER}\" cannot get resource \"secrets\" \
             in API group \"\" in the namespace \"{ns}\""
        )
    );
}

/// `responsewriters.ForbiddenStatusError`: `forbiddenMessage` wrapped in `errors.NewForbidden`,
/// whose details carry name, group and the plural resource as `kind`.
#[tokio::test]
async fn forbidden_answers_carry_name_group_and_resource_in_the_details() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let bob = ctx.name("bob");
    let status = api_error(
        documents(&ctx.as_user(&bob, &[]), ns)
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
        format!(
            "documents.kube.rs \"samuel\" is forbidden: User \"{bob}\" cannot patch resource \
             \"documents\" in API group \"kube.rs\" in the namespace \"{ns}\""
        )
    );
}

/// Authorization runs in the handler chain (`filters.WithAuthorization`) before any watch
/// stream: a plain 403 answer, worded `at the cluster scope`.
#[tokio::test]
async fn a_watch_at_cluster_scope_is_refused_before_the_stream_starts() {
    let ctx = start().await;
    let bob = ctx.name("bob");
    let all = Api::<kube::api::DynamicObject>::all_with(
        ctx.as_user(&bob, &[]),
        &common::document_resource(),
    );
    let message = forbidden(all.watch(&WatchParams::default(), "0").await.map(|_| ()));
    assert_eq!(
        message,
        format!(
            "documents.kube.rs is forbidden: User \"{bob}\" cannot watch resource \"documents\" \
             in API group \"kube.rs\" at the cluster scope"
        )
    );
}

/// `RBACAuthorizer` visits ClusterRoleBindings for every namespace (`VisitRulesFor`).
#[tokio::test]
async fn a_clusterrolebinding_grants_its_clusterrole_in_every_namespace() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let alice_name = ctx.name("alice");
    let (_, _cleanup) = ctx
        .grant_cluster(
            "cm-reader",
            user_subject(&alice_name),
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
        )
        .await;
    let alice = ctx.as_user(&alice_name, &[]);
    until_can(&alice, "list", "", "configmaps", "").await;
    Api::<ConfigMap>::namespaced(alice.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap();
    Api::<ConfigMap>::all(alice.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let message = forbidden(
        Api::<ConfigMap>::namespaced(alice, ns)
            .create(&PostParams::default(), &common::configmap("c", json!({})))
            .await,
    );
    assert!(
        message.ends_with(&format!(
            "cannot create resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        )),
        "{message}"
    );
}

/// RoleBindings only apply in their own namespace (`VisitRulesFor` with the request's namespace).
#[tokio::test]
async fn a_role_and_its_rolebinding_grant_only_inside_their_namespace() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let carol_name = ctx.name("carol");
    ctx.grant(
        "cm-writer",
        user_subject(&carol_name),
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "list"]}]),
    )
    .await;
    let carol = ctx.as_user(&carol_name, &[]);
    until_can(&carol, "create", "", "configmaps", ns).await;
    Api::<ConfigMap>::namespaced(carol.clone(), ns)
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

/// A RoleBinding to a ClusterRole grants its rules in the binding's namespace only.
#[tokio::test]
async fn a_rolebinding_to_a_clusterrole_grants_it_only_in_the_binding_namespace() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let role = ctx.name("doc-reader");
    let _cleanup = ctx.delete_on_drop(&role);
    let readers = ctx.name("readers");
    apply(
        &ctx.admin,
        vec![
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": ["kube.rs"], "resources": ["documents"], "verbs": ["list"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "doc-reader", "namespace": ns},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": readers}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}),
        ],
    )
    .await;
    let dave = ctx.as_user(&ctx.name("dave"), &[&readers]);
    until_can(&dave, "list", "kube.rs", "documents", ns).await;
    documents(&dave, ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    forbidden(
        documents(&dave, "default")
            .list(&ListParams::default())
            .await,
    );
}

/// `resourceNames` (`rbac.ResourceNameMatches`): they match gets of the named objects, never lists.
#[tokio::test]
async fn resource_names_restrict_a_rule_to_the_named_objects() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let cms = Api::<ConfigMap>::namespaced(ctx.admin.clone(), ns);
    for name in ["index", "other"] {
        cms.create(&PostParams::default(), &common::configmap(name, json!({})))
            .await
            .unwrap();
    }
    let erin_name = ctx.name("erin");
    ctx.grant(
        "index-only",
        user_subject(&erin_name),
        json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["index"], "verbs": ["get", "watch", "list"]}]),
    )
    .await;
    let erin = Api::<ConfigMap>::namespaced(ctx.as_user(&erin_name, &[]), ns);
    eventually("erin may get index", || async {
        erin.get("index").await.is_ok()
    })
    .await;
    erin.get("index").await.unwrap();
    assert_eq!(
        forbidden(erin.get("other").await),
        format!(
            "configmaps \"other\" is forbidden: User \"{erin_name}\" cannot get resource \
             \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        )
    );
    // A list of everything names no object, so resourceNames do not cover it ...
    forbidden(erin.list(&ListParams::default()).await);
    // ... but a list pinned to the name by a field selector does, as `RequestInfo` sets it.
    erin.list(&ListParams::default().fields("metadata.name=index"))
        .await
        .unwrap();
}

/// `documents/status` and `documents` are separate resources to the authorizer
/// (`ResourceMatches` on `resource/subresource`).
#[tokio::test]
async fn a_subresource_rule_covers_the_subresource_but_not_the_resource() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    documents(&ctx.admin, ns)
        .create(&PostParams::default(), &document("samuel", "Samuel"))
        .await
        .unwrap();
    let frank_name = ctx.name("frank");
    ctx.grant(
        "status-writer",
        user_subject(&frank_name),
        json!([{"apiGroups": ["kube.rs"], "resources": ["documents/status"], "verbs": ["patch"]}]),
    )
    .await;
    let frank_client = ctx.as_user(&frank_name, &[]);
    until_can(&frank_client, "patch", "kube.rs", "documents/status", ns).await;
    let frank = documents(&frank_client, ns);
    let patch = Patch::Merge(json!({"status": {"hidden": true}}));
    frank
        .patch_status("samuel", &PatchParams::default(), &patch)
        .await
        .unwrap();
    let message = forbidden(frank.patch("samuel", &PatchParams::default(), &patch).await);
    assert!(message.contains("cannot patch resource \"documents\" in API group \"kube.rs\""));

    let grace = documents(&ctx.as_user(&ctx.name("grace"), &[]), ns);
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

/// `*` in verbs, apiGroups and resources (`VerbMatches`, `APIGroupMatches`, `ResourceMatches`,
/// where `*` also covers subresources).
#[tokio::test]
async fn wildcards_cover_every_verb_group_and_resource_including_subresources() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    // Namespaced: a wildcard ClusterRoleBinding would make a made-up user cluster-admin.
    let heidi_name = ctx.name("heidi");
    ctx.grant(
        "everything",
        user_subject(&heidi_name),
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    )
    .await;
    let heidi = ctx.as_user(&heidi_name, &[]);
    until_can(&heidi, "get", "", "configmaps", ns).await;
    for (verb, group, resource) in [
        ("delete", "kube.rs", "documents"),
        ("deletecollection", "", "configmaps"),
        ("update", "kube.rs", "documents/status"),
        ("impersonate", "", "users"),
    ] {
        assert!(can(&heidi, verb, group, resource, ns).await);
    }
    let ivan_name = ctx.name("ivan");
    ctx.grant(
        "all-status",
        user_subject(&ivan_name),
        json!([{"apiGroups": ["kube.rs"], "resources": ["*/status"], "verbs": ["get"]}]),
    )
    .await;
    let ivan = ctx.as_user(&ivan_name, &[]);
    until_can(&ivan, "get", "kube.rs", "documents/status", ns).await;
    assert!(can(&ivan, "get", "kube.rs", "documents/status", ns).await);
    assert!(!can(&ivan, "get", "kube.rs", "documents", ns).await);
}

/// `nonResourceURLs` rules (`NonResourceURLMatches`); discovery is granted to every authenticated
/// user by the bootstrap `system:discovery` binding; a denied path is `forbidden: User ... cannot
/// get path ...` (`NewForbidden` with an empty resource). Checks kube-apiserver's own metrics
/// name on a cluster.
#[tokio::test]
async fn non_resource_urls_grant_paths_and_discovery_is_open_to_every_user() {
    let ctx = start().await;
    let judy_name = ctx.name("judy");
    let judy = ctx.as_user(&judy_name, &[]);
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
        format!("forbidden: User \"{judy_name}\" cannot get path \"/metrics\"")
    );
    let (name, _cleanup) = ctx
        .grant_cluster(
            "metrics-reader",
            user_subject(&judy_name),
            json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
        )
        .await;
    eventually("judy may get /metrics", || async {
        review_get_path(&judy, "/metrics").await.allowed
    })
    .await;
    let status = review_get_path(&judy, "/metrics").await;
    assert!(status.allowed);
    assert_eq!(
        status.reason,
        Some(format!(
            "RBAC: allowed by ClusterRoleBinding \"{name}\" of ClusterRole \"{name}\" to User \"{judy_name}\""
        ))
    );
    let text = get_metrics(judy).await.unwrap();
    if ctx.target.is_sandbox() {
        assert!(text.contains("sandbox_apiserver_requests_total"));
    } else {
        // kube-apiserver's `apiserver_request_total` (the sandbox's counter has a prefix).
        assert!(text.contains("apiserver_request"), "{text}");
    }
}

/// The bootstrap `cluster-admin` ClusterRole (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`).
#[tokio::test]
async fn the_default_cluster_admin_role_can_be_bound_like_on_a_real_cluster() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    let oscar_name = ctx.name("oscar");
    apply(
        &ctx.admin,
        vec![json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "admins", "namespace": ns},
            "subjects": [user_subject(&oscar_name)],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}})],
    )
    .await;
    let oscar = ctx.as_user(&oscar_name, &[]);
    until_can(&oscar, "get", "", "configmaps", ns).await;
    assert!(can(&oscar, "delete", "kube.rs", "documents", ns).await);
    assert!(!can(&oscar, "delete", "kube.rs", "documents", "default").await);
}

/// `RBACAuthorizer.Authorize` appends the rule resolution errors to the denial as
/// `RBAC: clusterrole.rbac.authorization.k8s.io "not-there" not found`.
#[tokio::test]
async fn a_binding_to_a_missing_role_explains_itself_in_the_403() {
    let ctx = start().await;
    let name = ctx.name("dangling");
    let _cleanup = ctx.delete_on_drop(&name);
    let mallory_name = ctx.name("mallory");
    apply(
        &ctx.admin,
        vec![json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "subjects": [user_subject(&mallory_name)],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "not-there"}})],
    )
    .await;
    let cms = Api::<ConfigMap>::all(ctx.as_user(&mallory_name, &[]));
    let suffix =
        "at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io \"not-there\" not found";
    eventually("the dangling binding is seen", || async {
        forbidden(cms.list(&ListParams::default()).await).ends_with(suffix)
    })
    .await;
    let message = forbidden(cms.list(&ListParams::default()).await);
    assert!(message.ends_with(suffix), "{message}");
}

/// `filters.WithImpersonation` checks `impersonate` on `users`, `groups` and `serviceaccounts`
/// and answers with `responsewriters.Forbidden`.
#[tokio::test]
async fn impersonating_needs_the_impersonate_verb_on_users_groups_or_serviceaccounts() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    ctx.create_service_account("doc-controller").await;
    let controller = format!("system:serviceaccount:{ns}:doc-controller");
    let bob = ctx.name("bob");
    let mut config = ctx.config_for_token(&ctx.token(ns, "doc-controller").await);
    config.auth_info.impersonate = Some(bob.clone());
    let sa_as_bob = kube::Client::try_from(config.clone()).unwrap();
    let message = forbidden(sa_as_bob.apiserver_version().await);
    assert_eq!(
        message,
        format!(
            "users \"{bob}\" is forbidden: User \"{controller}\" cannot impersonate resource \
             \"users\" in API group \"\" at the cluster scope"
        )
    );
    let (_, _cleanup) = ctx
        .grant_cluster(
            "impersonate-bob",
            json!({"kind": "ServiceAccount", "name": "doc-controller", "namespace": ns}),
            json!([{"apiGroups": [""], "resources": ["users"], "resourceNames": [bob], "verbs": ["impersonate"]}]),
        )
        .await;
    eventually("the ServiceAccount may impersonate bob", || async {
        sa_as_bob.apiserver_version().await.is_ok()
    })
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

/// Impersonating a ServiceAccount user gets its groups and RBAC decisions (`WithImpersonation`).
#[tokio::test]
async fn the_admin_runs_as_the_controller_service_account_by_impersonation() {
    let ctx = start().await;
    let ns: &str = &ctx.ns;
    // The project's RBAC for a ServiceAccount of this test's namespace, so that it is not
    // there yet, even on a cluster where `yaml/rbac.yaml` is installed.
    let name = ctx.name("doc-controller");
    let _cleanup = ctx.delete_on_drop(&name);
    let user = format!("system:serviceaccount:{ns}:doc-controller");
    let controller = ctx.as_user(&user, &[]);
    let message = forbidden(
        documents(&controller, ns)
            .list(&ListParams::default())
            .await,
    );
    assert!(message.contains(&format!("User \"{user}\"")), "{message}");
    apply(&ctx.admin, project_rbac_in(ns, &name)).await;
    until_can(&controller, "list", "kube.rs", "documents", ns).await;
    documents(&controller, ns)
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
    assert_eq!(review["status"]["userInfo"]["username"], json!(user));
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated"
        ])
    );
}

/// The `serviceaccounts/token` subresource (`pkg/registry/core/serviceaccount/storage/token.go`):
/// 404 for a missing ServiceAccount, 422 below the 10-minute minimum expiration; deleting the
/// ServiceAccount invalidates its tokens (bound to its uid).
#[tokio::test]
async fn the_token_request_api_issues_tokens_for_existing_service_accounts_only() {
    let ctx = start().await;
    let (admin, ns): (&kube::Client, &str) = (&ctx.admin, &ctx.ns);
    let post = |name: &str, seconds: i64| token_request(ns, name, seconds);
    let status = api_error(admin.request_text(post("robot", 3600)).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "serviceaccounts \"robot\" not found")
    );
    ctx.create_service_account("robot").await;
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
    let robot = ctx.client_for_token(token);
    robot.apiserver_version().await.unwrap();
    let message = forbidden(
        Api::<ConfigMap>::all(robot.clone())
            .list(&ListParams::default())
            .await,
    );
    assert!(message.contains(&format!("User \"system:serviceaccount:{ns}:robot\"")));
    // Deleting the ServiceAccount invalidates its tokens, like the uid bound into real ones.
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .delete("robot", &Default::default())
        .await
        .unwrap();
    eventually("the deleted ServiceAccount's token is refused", || async {
        robot.apiserver_version().await.is_err()
    })
    .await;
    assert_eq!(api_error(robot.apiserver_version().await).code, 401);
}

/// `kubectl auth can-i` as the controller (impersonated with `--as`) agrees with the
/// apiserver's decisions.
#[tokio::test]
async fn kubectl_auth_can_i_agrees_with_the_sandbox() {
    let kubectl = common::kubectl_binary();
    let ctx = start().await;
    // On a real cluster these are exactly the objects a user installs; left installed.
    apply(&ctx.admin, yaml_docs(&project_rbac_yaml())).await;
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = ctx.target.kubeconfig_path().to_owned();
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
    let controller = ctx.as_user(CONTROLLER, &[]);
    until_can(&controller, "update", "kube.rs", "documents", "default").await;
    for (verb, resource, group, plural, expected) in [
        ("update", "documents.kube.rs", "kube.rs", "documents", "yes"),
        ("patch", "documents.kube.rs", "kube.rs", "documents", "no"),
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
        // `kubectl auth can-i` reads `kind/name`; a subresource is a flag of its own.
        let mut args = match resource.split_once('/') {
            Some((resource, subresource)) => vec![
                verb.to_owned(),
                resource.to_owned(),
                format!("--subresource={subresource}"),
            ],
            None => vec![verb.to_owned(), resource.to_owned()],
        };
        args.extend(["-n".into(), "default".into()]);
        let (out, err) = ask(args).await.unwrap();
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
    let kubectl = common::kubectl_binary();
    let ctx = start().await;
    // On a real cluster these are exactly the objects a user installs; left installed.
    apply(&ctx.admin, yaml_docs(&project_rbac_yaml())).await;
    until_can(
        &ctx.as_user(CONTROLLER, &[]),
        "patch",
        "kube.rs",
        "documents/status",
        "default",
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&kubectl);
        cmd.arg("--kubeconfig")
            .arg(ctx.target.kubeconfig_path())
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
    assert!(
        documents_line.ends_with("[list watch get update]"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("documents.kube.rs/status ") && l.ends_with("[patch]"))
    );
    // A kubeconfig of the ServiceAccount makes kubectl that ServiceAccount.
    let path = match ctx.target.sandbox() {
        Some(sb) => sb
            .kubeconfig_for_service_account("default", "doc-controller", Duration::from_secs(600))
            .unwrap(),
        None => {
            let path = home.path().join("kubeconfig-doc-controller");
            let token = ctx.token("default", "doc-controller").await;
            write_kubeconfig_for_token(ctx.target.kubeconfig_path(), &token, &path);
            path
        }
    };
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
    let token = run(&[
        "create",
        "token",
        "doc-controller",
        "-n",
        "default",
        "--duration=10m",
    ])
    .await
    .unwrap();
    let sa = ctx.client_for_token(token.trim());
    assert!(can(&sa, "watch", "kube.rs", "documents", "default").await);
}

/// Writes a kubeconfig for the cluster of `kubeconfig`'s current context that authenticates
/// with `token` alone.
fn write_kubeconfig_for_token(kubeconfig: &Path, token: &str, path: &Path) {
    // Read through kube, which makes the file paths in it absolute.
    let raw = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let current = raw.current_context.clone().unwrap();
    let context = raw
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.clone())
        .unwrap();
    let cluster = raw
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .unwrap();
    let mut cluster = serde_json::to_value(cluster).unwrap();
    strip_nulls(&mut cluster);
    let out = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": context.cluster, "user": "token", "namespace": "default"}}],
        "current-context": "token",
    });
    std::fs::write(path, serde_saphyr::to_string(&out).unwrap()).unwrap();
}

fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}
