//! Server-side faults as a controller meets them on a real cluster: API Priority and
//! Fairness throttling (429 with Retry-After, `system:masters` exempt), etcd compaction
//! (410 on a resumed watch), latency, hanging and dropped connections, forced 5xx, expired
//! credentials (401), the admin endpoint and the sandbox's own metrics.
//!
//! These are about the sandbox's own fault API, which no real cluster has: every test starts a
//! sandbox of its own (never a `common::Target`), so they ignore
//! `DOC_CONTROLLER_E2E_KUBECONFIG` and run the same whether or not it is set.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{api_error, configmap};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube_apiserver_sandbox::{Fault, FaultAction, Sandbox};
use serde_json::json;

const CONTROLLER: &str = "system:serviceaccount:default:doc-controller";

/// The admin's client without kube-rs' default retries of 429, 503 and 504 (which would
/// otherwise retry, honouring `Retry-After`, up to 15 times), so tests see the answers.
fn admin_without_retries(sb: &Sandbox) -> kube::Client {
    let mut config = sb.kube_config();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

/// A client of the admin impersonating `user` with a wildcard ClusterRole, so only faults
/// (not RBAC) stand in its way; without retries.
async fn powerful_user(sb: &Sandbox, user: &str) -> kube::Client {
    let admin = sb.client().unwrap();
    let name = user.replace(':', "-");
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name}, "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}});
    Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin)
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    let mut config = sb.kube_config();
    config.auth_info.impersonate = Some(user.to_owned());
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

fn get(path: &str) -> http::Request<kube::client::Body> {
    http::Request::get(path)
        .body(kube::client::Body::empty())
        .unwrap()
}

#[tokio::test]
async fn throttled_users_get_429_with_retry_after_and_system_masters_are_exempt() {
    let sb = Sandbox::start().await.unwrap();
    let bob = powerful_user(&sb, "bob").await;
    sb.faults().set(Fault::throttle(0.5, 2));
    let path = "/api/v1/namespaces/default/configmaps";
    for _ in 0..2 {
        assert_eq!(bob.send(get(path)).await.unwrap().status(), 200);
    }
    let throttled = bob.send(get(path)).await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "2");
    // kube-rs reports it as an API error with the code.
    let status = api_error(
        Api::<ConfigMap>::default_namespaced(bob)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(status.code, 429);
    // The admin (system:masters) is never throttled, like APF's exempt priority level.
    let admin = sb.client().unwrap();
    for _ in 0..10 {
        assert_eq!(admin.send(get(path)).await.unwrap().status(), 200);
    }
    assert!(
        sb.metrics_text()
            .contains("sandbox_apiserver_throttled_requests_total{user=\"bob\"} 2")
    );
}

#[tokio::test]
async fn a_default_kube_client_waits_retry_after_and_then_gets_through() {
    let sb = Sandbox::start().await.unwrap();
    powerful_user(&sb, "bob").await;
    // kube-rs retries 429/503/504 by default, honouring Retry-After.
    let retrying = kube::Client::try_from(sb.kube_config_impersonating("bob")).unwrap();
    sb.faults().set(Fault::throttle(1.0, 1).for_verbs(["list"]));
    let cms: Api<ConfigMap> = Api::default_namespaced(retrying);
    let started = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        sb.metrics_text()
            .contains("sandbox_apiserver_throttled_requests_total{user=\"bob\"} 1")
    );
}

#[tokio::test]
async fn a_concurrency_share_rejects_requests_beyond_it_while_others_are_in_flight() {
    let sb = Sandbox::start().await.unwrap();
    let bob = powerful_user(&sb, "bob").await;
    sb.faults().set(Fault::max_in_flight(1).for_user("bob"));
    sb.faults()
        .set(Fault::latency(Duration::from_millis(400)).for_user("bob"));
    let slow = tokio::spawn({
        let bob = bob.clone();
        async move { bob.send(get("/api/v1/namespaces")).await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = bob.send(get("/api/v1/namespaces")).await.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    assert_eq!(slow.await.unwrap(), 200);
}

#[tokio::test]
async fn a_watch_resumed_after_compaction_gets_410_gone() {
    let sb = Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let first = cms
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.unwrap();
    cms.create(&PostParams::default(), &configmap("b", json!({})))
        .await
        .unwrap();
    sb.faults()
        .set(Fault::compact_every(Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events: Vec<_> = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .take(1)
        .try_collect()
        .await
        .unwrap();
    match &events[0] {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn closing_watches_ends_open_streams_cleanly_and_clients_can_resume() {
    let sb = Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let stream = cms.watch(&WatchParams::default(), "0").await.unwrap();
    common::eventually("the watch is counted", || {
        let text = sb.metrics_text();
        async move { text.contains("sandbox_apiserver_open_watches{resource=\"configmaps\"} 1") }
    })
    .await;
    sb.faults().close_watches();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    // A watch from "0" allowing bookmarks is a streaming list in 1.32 (`SetListOptionsDefaults`
    // with WatchList on), so its initial-events-end bookmark may come first; nothing else may.
    assert!(
        rest.iter()
            .all(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
        "{rest:?}"
    );
    assert!(
        sb.metrics_text()
            .contains("sandbox_apiserver_open_watches{resource=\"configmaps\"} 0")
    );
    let _resumed = cms.watch(&WatchParams::default(), "0").await.unwrap();
}

#[tokio::test]
async fn latency_delays_only_the_matching_requests() {
    let sb = Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    sb.faults().set(
        Fault::latency(Duration::from_millis(300))
            .for_verbs(["list"])
            .for_resources(["configmaps"]),
    );
    let started = Instant::now();
    Api::<ConfigMap>::default_namespaced(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_hanging_request_is_answered_only_once_the_fault_is_cleared() {
    let sb = Sandbox::start().await.unwrap();
    sb.faults().set(Fault::hang().for_resources(["configmaps"]));
    let mut config = sb.kube_config();
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient = kube::Client::try_from(config).unwrap();
    let result = Api::<ConfigMap>::default_namespaced(impatient)
        .list(&ListParams::default())
        .await;
    assert!(
        !matches!(result, Ok(_) | Err(kube::Error::Api(_))),
        "{result:?}"
    );
    let patient = tokio::spawn({
        let client = sb.client().unwrap();
        async move {
            Api::<ConfigMap>::default_namespaced(client)
                .list(&ListParams::default())
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!patient.is_finished());
    sb.faults().clear();
    tokio::time::timeout(Duration::from_secs(5), patient)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn forced_5xx_answers_carry_the_apiservers_status_bodies() {
    let sb = Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(admin_without_retries(&sb));
    for (code, reason, prefix) in [
        (500, "InternalError", "Internal error occurred: "),
        (503, "ServiceUnavailable", "the server is currently unable"),
        (504, "Timeout", "Timeout: "),
    ] {
        let id = sb.faults().set(Fault::error(code).for_verbs(["create"]));
        let status = api_error(
            cms.create(&PostParams::default(), &configmap("c", json!({})))
                .await,
        );
        assert_eq!((status.code, status.reason.as_str()), (code, reason));
        assert!(status.message.starts_with(prefix), "{}", status.message);
        sb.faults().remove(id);
    }
    assert!(
        sb.metrics_text()
            .contains("sandbox_injected_faults_total{fault=\"error\"} 3")
    );
    // Nothing was stored while the faults were set.
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_dropped_connection_gets_no_response_at_all() {
    let sb = Sandbox::start().await.unwrap();
    sb.faults()
        .set(Fault::drop_connection().for_resources(["configmaps"]));
    let result = Api::<ConfigMap>::default_namespaced(sb.client().unwrap())
        .list(&ListParams::default())
        .await;
    assert!(
        !matches!(result, Ok(_) | Err(kube::Error::Api(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn faults_scoped_to_a_user_leave_other_users_alone() {
    let sb = Sandbox::start().await.unwrap();
    let controller = powerful_user(&sb, CONTROLLER).await;
    sb.faults().set(Fault::error(503).for_user(CONTROLLER));
    let status = api_error(Api::<Namespace>::all(controller).get("default").await);
    assert_eq!(status.code, 503);
    Api::<Namespace>::all(sb.client().unwrap())
        .get("default")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_service_account_token_is_401_unauthorized() {
    let sb = Sandbox::start().await.unwrap();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "doc-controller"}})).unwrap();
    Api::<ServiceAccount>::default_namespaced(sb.client().unwrap())
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let short = sb
        .service_account_token("default", "doc-controller", Duration::from_millis(300))
        .unwrap();
    let client = kube::Client::try_from(sb.kube_config_for_token(&short)).unwrap();
    client.apiserver_version().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = api_error(client.apiserver_version().await);
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    // Expiring all tokens at once, the credential-expiry fault.
    let long = sb
        .service_account_token("default", "doc-controller", Duration::from_secs(3600))
        .unwrap();
    let client = kube::Client::try_from(sb.kube_config_for_token(&long)).unwrap();
    client.apiserver_version().await.unwrap();
    assert_eq!(sb.expire_service_account_tokens(), 2);
    assert_eq!(api_error(client.apiserver_version().await).code, 401);
}

#[tokio::test]
async fn the_admin_endpoint_sets_and_clears_faults_for_system_masters_only() {
    let sb = Sandbox::start().await.unwrap();
    let admin = admin_without_retries(&sb);
    let post = |path: &str, body: &str| {
        http::Request::post(path.to_owned())
            .header("content-type", "application/yaml")
            .body(body.as_bytes().to_vec())
            .unwrap()
    };
    let set = admin
        .request_text(post(
            "/sandbox/faults",
            "- {type: error, code: 503, verbs: [list], resources: [configmaps]}\n",
        ))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&set).unwrap()["ids"],
        json!([1])
    );
    assert!(matches!(
        sb.faults().list()[0].1.action,
        FaultAction::Error { code: 503, .. }
    ));
    let cms: Api<ConfigMap> = Api::default_namespaced(admin.clone());
    assert_eq!(api_error(cms.list(&ListParams::default()).await).code, 503);
    let delete = http::Request::delete("/sandbox/faults")
        .body(Vec::new())
        .unwrap();
    admin.request_text(delete).await.unwrap();
    cms.list(&ListParams::default()).await.unwrap();

    let bob = powerful_user(&sb, "bob").await;
    let status = api_error(
        bob.request_text(post("/sandbox/faults", "{type: hang}"))
            .await,
    );
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            403,
            "forbidden: User \"bob\" cannot post path \"/sandbox/faults\""
        )
    );
    assert!(sb.faults().list().is_empty());
}

#[tokio::test]
async fn faults_from_a_yaml_file_are_set_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.yaml");
    std::fs::write(
        &path,
        "faults:\n- type: latency\n  millis: 50\n  verbs: [get]\n- type: throttle\n  qps: 5\n  burst: 10\n  user: bob\n",
    )
    .unwrap();
    let sb = Sandbox::builder()
        .fault_file(&path)
        .unwrap()
        .start()
        .await
        .unwrap();
    let faults = sb.faults().list();
    assert_eq!(faults.len(), 2);
    assert_eq!(
        faults[0].1,
        Fault::latency(Duration::from_millis(50)).for_verbs(["get"])
    );
    assert_eq!(faults[1].1, Fault::throttle(5.0, 10).for_user("bob"));
}

#[tokio::test]
async fn metrics_count_requests_by_verb_resource_user_and_code_and_open_watches() {
    let sb = Sandbox::start().await.unwrap();
    let client = sb.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.list(&ListParams::default()).await.unwrap();
    let _ = cms.get("missing").await;
    let stream = cms.watch(&WatchParams::default(), "0").await.unwrap();
    let text = sb.metrics_text();
    assert!(text.contains(
        "sandbox_apiserver_requests_total{code=\"200\",resource=\"configmaps\",user=\"admin\",verb=\"list\"} 1"
    ), "{text}");
    assert!(text.contains(
        "sandbox_apiserver_requests_total{code=\"404\",resource=\"configmaps\",user=\"admin\",verb=\"get\"} 1"
    ));
    assert!(text.contains("sandbox_apiserver_open_watches{resource=\"configmaps\"} 1"));
    assert!(text.contains("sandbox_apiserver_request_duration_seconds_bucket"));
    drop(stream);
    common::eventually("the watch is closed", || {
        let text = sb.metrics_text();
        async move { text.contains("sandbox_apiserver_open_watches{resource=\"configmaps\"} 0") }
    })
    .await;
    // The same text is served at /metrics.
    let served = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert!(served.contains("sandbox_apiserver_requests_total"));
}

/// As deleting the Pod a real token is bound to: that token is 401, the others keep working.
#[tokio::test]
async fn a_revoked_service_account_token_is_401_and_the_others_stay_valid() {
    let sb = Sandbox::start().await.unwrap();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "doc-controller"}})).unwrap();
    Api::<ServiceAccount>::default_namespaced(sb.client().unwrap())
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    let old = sb
        .service_account_token("default", "doc-controller", hour)
        .unwrap();
    let new = sb
        .service_account_token("default", "doc-controller", hour)
        .unwrap();
    let old_client = kube::Client::try_from(sb.kube_config_for_token(&old)).unwrap();
    let new_client = kube::Client::try_from(sb.kube_config_for_token(&new)).unwrap();
    old_client.apiserver_version().await.unwrap();

    assert!(sb.revoke_service_account_token(&old));
    let status = api_error(old_client.apiserver_version().await);
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
    new_client.apiserver_version().await.unwrap();
    assert!(!sb.revoke_service_account_token("sandbox-sa.unknown"));
}
