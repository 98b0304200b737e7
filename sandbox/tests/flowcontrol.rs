//! API Priority and Fairness configured by its own objects: a FlowSchema and a `Limited`
//! PriorityLevelConfiguration with `limitResponse: {type: Reject}` (those of
//! `yaml/throttling.yaml`, renamed per test) throttle one ServiceAccount with the real
//! 429, while other users and `system:masters` are unaffected.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`). The cluster-scoped
//! objects each test creates are owned by its namespace (the garbage collector deletes them
//! with it, which `cluster_scoped_apf_objects_owned_by_the_test_namespace_go_with_it`
//! checks) and deleted by a guard too.
//!
//! Why the sandbox gets a latency fault here: its requests are answered in microseconds, so
//! concurrent requests would hardly ever be in flight at the same time and the seats would
//! never run out. A server-side processing time of its fault API (on the throttled users
//! only, and only on the sandbox) makes them overlap as they do on a real server under load;
//! on a real cluster the tests instead repeat bursts until one overlaps.
//!
//! The assertions about counts assume one API server answering (as kind or k3s have): APF
//! limits and metrics are per server.

#![allow(clippy::unwrap_used, missing_docs)]

mod accounts;
mod common;

use std::time::Duration;

use accounts::{Answer, get};
use common::{Target, Teardown, TestNamespace, api_error, eventually, unique_name};
use futures::future::join_all;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// The shipped throttling objects.
const THROTTLING_YAML: &str = include_str!("../../yaml/throttling.yaml");
/// The server concurrency limit of a default kube-apiserver (400 + 200) and of the sandbox.
const SERVER_CL: f64 = 600.0;
/// The body of the real filter's 429 (`http.Error` adds the newline).
const TOO_MANY: &str = "Too many requests, please try again later.\n";
const FS_UID: &str = "x-kubernetes-pf-flowschema-uid";
const PL_UID: &str = "x-kubernetes-pf-prioritylevel-uid";
/// How long the sandbox keeps each request of the throttled users (see the file's doc).
const SANDBOX_LATENCY: Duration = Duration::from_millis(300);

/// An `ownerReferences` list naming the test namespace: cluster-scoped objects created for a
/// test go with its namespace, on the sandbox and on a real cluster (the garbage collector).
async fn owned_by_namespace(client: &kube::Client, ns: &TestNamespace) -> Value {
    let namespace = Api::<Namespace>::all(client.clone())
        .get(ns.name())
        .await
        .unwrap();
    json!([{"apiVersion": "v1", "kind": "Namespace", "name": ns.name(),
        "uid": namespace.metadata.uid}])
}

/// Deletes the FlowSchema and PriorityLevelConfiguration called `name` when the test ends,
/// even before the garbage collector would.
fn deletes_flow_control_objects(target: &Target, name: &str) -> Teardown {
    let name = name.to_string();
    target.teardown(move |client| async move {
        let _ = Api::<FlowSchema>::all(client.clone())
            .delete(&name, &DeleteParams::default())
            .await;
        let _ = Api::<PriorityLevelConfiguration>::all(client)
            .delete(&name, &DeleteParams::default())
            .await;
    })
}

/// The throttling objects in effect for one ServiceAccount.
struct Throttle {
    name: String,
    fs: FlowSchema,
    pl: PriorityLevelConfiguration,
    _cleanup: Teardown,
}

/// Creates the objects of `yaml/throttling.yaml` for ServiceAccount `sa` of the test
/// namespace: named uniquely, the subject's namespace rewritten, owned by the namespace.
async fn throttle(target: &Target, ns: &TestNamespace, sa: &str) -> Throttle {
    let client = target.client();
    let owner = owned_by_namespace(&client, ns).await;
    let name = unique_name("conf-throttled");
    let mut docs: Vec<Value> =
        serde_saphyr::from_multiple(THROTTLING_YAML).expect("throttling.yaml parses");
    let mut pl = None;
    let mut fs = None;
    for doc in &mut docs {
        doc["metadata"]["name"] = json!(name);
        doc["metadata"]["ownerReferences"] = owner.clone();
        match doc["kind"].as_str() {
            Some("PriorityLevelConfiguration") => pl = Some(doc.clone()),
            Some("FlowSchema") => {
                doc["spec"]["priorityLevelConfiguration"]["name"] = json!(name);
                doc["spec"]["rules"][0]["subjects"] = json!([{"kind": "ServiceAccount",
                    "serviceAccount": {"namespace": ns.name(), "name": sa}}]);
                fs = Some(doc.clone());
            }
            other => panic!("unexpected kind {other:?} in throttling.yaml"),
        }
    }
    let cleanup = deletes_flow_control_objects(target, &name);
    let pl = Api::<PriorityLevelConfiguration>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(pl.unwrap()).unwrap(),
        )
        .await
        .unwrap();
    let fs = Api::<FlowSchema>::all(client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(fs.unwrap()).unwrap(),
        )
        .await
        .unwrap();
    Throttle {
        name,
        fs,
        pl,
        _cleanup: cleanup,
    }
}

fn uid<K: ResourceExt>(object: &K) -> String {
    object.uid().unwrap_or_default()
}

/// Waits until the server classifies the client's requests with the FlowSchema (the real
/// config controller applies new objects a moment later).
async fn wait_in_effect(client: &kube::Client, path: &str, fs: &FlowSchema) {
    let want = uid(fs);
    eventually("the FlowSchema classifies the requests", || async {
        get(client, path).await.header(FS_UID) == want
    })
    .await;
}

/// `n` concurrent GETs of `path`.
async fn burst(client: &kube::Client, path: &str, n: usize) -> Vec<Answer> {
    join_all((0..n).map(|_| get(client, path))).await
}

/// A metric's value in a Prometheus text exposition (0 when absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric_name, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn metrics(target: &Target) -> String {
    get(&target.client(), "/metrics").await.body
}

/// The nominal limit a 1.32 server computes for the level: `ceil(ServerCL × shares / Σ
/// shares)` over all levels (a `Limited` one defaults to 30 shares, an `Exempt` one to 0).
async fn expected_nominal_seats(target: &Target, name: &str) -> f64 {
    let levels = Api::<PriorityLevelConfiguration>::all(target.client())
        .list(&Default::default())
        .await
        .unwrap();
    let shares = |pl: &PriorityLevelConfiguration| -> f64 {
        match (&pl.spec.limited, &pl.spec.exempt) {
            (Some(l), _) => f64::from(l.nominal_concurrency_shares.unwrap_or(30)),
            (None, e) => f64::from(
                e.as_ref()
                    .and_then(|e| e.nominal_concurrency_shares)
                    .unwrap_or(0),
            ),
        }
    };
    let sum: f64 = levels.items.iter().map(shares).sum();
    let ours = levels
        .items
        .iter()
        .find(|l| l.name_any() == name)
        .map(shares)
        .unwrap();
    (SERVER_CL * ours / sum).ceil()
}

/// Sets the latency fault for `users` on the sandbox (see the file's doc); nothing on a
/// real cluster.
fn overlap_on_sandbox(target: &Target, users: &[&str]) {
    if let Some(sb) = target.sandbox() {
        for user in users {
            sb.faults()
                .set(kube_apiserver_sandbox::Fault::latency(SANDBOX_LATENCY).for_user(*user));
        }
    }
}

/// Mirrors `WithPriorityAndFairness` (`k8s.io/apiserver/pkg/server/filters/
/// priority-and-fairness.go`): a request classified into a `Limited` level with
/// `limitResponse: Reject` finds no free seat (`queueset.StartRequest`, reason
/// `concurrency-limit`) and gets `tooManyRequests`: 429, the plain-text body of `http.Error`,
/// `Retry-After` from the dropped-requests tracker, and the `X-Kubernetes-PF-*` uid headers
/// that every classified answer carries; the level's seats are the nominal limit
/// `apf_controller.go` computes (`ceil(600 × 3 / Σ shares)`, 8 on a fresh 1.32 server), and
/// the rejection is counted in `apiserver_flowcontrol_rejected_requests_total`.
#[tokio::test]
async fn requests_beyond_a_reject_levels_seats_get_the_real_429_and_those_within_do_not() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    accounts::service_account(&client, &ns, "throttled").await;
    let token = accounts::token(&client, &ns, "throttled", None).await;
    let sa = accounts::client_for_token(&target.kube_config(), &token);
    let throttle = throttle(&target, &ns, "throttled").await;
    let path = format!("/api/v1/namespaces/{}/configmaps", ns.name());
    wait_in_effect(&sa, &path, &throttle.fs).await;
    let (fs_uid, pl_uid) = (uid(&throttle.fs), uid(&throttle.pl));
    // APF runs before authorization: a 403 is classified too.
    let forbidden = get(&sa, &format!("/api/v1/namespaces/{}/secrets", ns.name())).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        (forbidden.header(FS_UID), forbidden.header(PL_UID)),
        (&*fs_uid, &*pl_uid)
    );

    // Other tests may add levels on a real cluster meanwhile: compare with the sum of now.
    let level = [("priority_level", throttle.name.as_str())];
    eventually("the level's nominal limit is in the metrics", || async {
        let want = expected_nominal_seats(&target, &throttle.name).await;
        metric(
            &metrics(&target).await,
            "apiserver_flowcontrol_nominal_limit_seats",
            &level,
        ) == want
    })
    .await;
    let seats = expected_nominal_seats(&target, &throttle.name).await;
    if target.is_sandbox() {
        assert_eq!(seats, 8.0, "ceil(600 × 3 / (245 + 3))");
    }
    let seats = format!("{seats}").parse::<usize>().unwrap();
    overlap_on_sandbox(&target, &[&accounts::user(&ns, "throttled")]);

    // Within the seats: never a 429, and every answer names the schema and level.
    for _ in 0..3 {
        for answer in burst(&sa, &path, seats).await {
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(
                (answer.header(FS_UID), answer.header(PL_UID)),
                (&*fs_uid, &*pl_uid)
            );
        }
    }

    // Beyond them: 429s, as the real filter writes them.
    let mut rejected = Vec::new();
    let mut served = 0;
    for _ in 0..50 {
        let n = if target.is_sandbox() {
            seats + 4
        } else {
            seats * 8
        };
        let answers = burst(&sa, &path, n).await;
        served += answers.iter().filter(|a| a.status == 200).count();
        rejected.extend(answers.into_iter().filter(|a| a.status == 429));
        if !rejected.is_empty() {
            break;
        }
    }
    assert!(
        !rejected.is_empty(),
        "a burst beyond the seats is throttled"
    );
    if target.is_sandbox() {
        assert_eq!((served, rejected.len()), (seats, 4), "8 served, 4 rejected");
    }
    for answer in &rejected {
        assert_eq!(answer.body, TOO_MANY);
        assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        let retry_after: u64 = answer.header("retry-after").parse().unwrap();
        assert!((1..=32).contains(&retry_after), "{answer:?}");
        assert_eq!(
            (answer.header(FS_UID), answer.header(PL_UID)),
            (&*fs_uid, &*pl_uid)
        );
    }

    let text = metrics(&target).await;
    let by_apf = metric(
        &text,
        "apiserver_flowcontrol_rejected_requests_total",
        &[
            ("flow_schema", throttle.name.as_str()),
            ("priority_level", throttle.name.as_str()),
            ("reason", "concurrency-limit"),
        ],
    );
    assert_eq!(by_apf, f64::from(u32::try_from(rejected.len()).unwrap()));
    if target.is_sandbox() {
        let user = accounts::user(&ns, "throttled");
        let counted = metric(
            &text,
            "sandbox_apiserver_throttled_requests_total",
            &[("user", user.as_str())],
        );
        assert_eq!(by_apf, counted, "every 429 counts");
    }
}

/// Mirrors the classification of `apf_controller.go` (`startRequest`: the first FlowSchema in
/// `matchingPrecedence`-then-name order whose rules match, `rule.go`): a ServiceAccount the
/// FlowSchema does not name lands in another schema and level and is not throttled with it,
/// and a member of `system:masters` is classified by the mandatory `exempt` FlowSchema into the
/// `Exempt` level, which is never limited.
#[tokio::test]
async fn other_users_are_unaffected_and_masters_are_exempt() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    accounts::service_account(&client, &ns, "throttled").await;
    accounts::service_account(&client, &ns, "other").await;
    let throttled = accounts::token(&client, &ns, "throttled", None).await;
    let throttled = accounts::client_for_token(&target.kube_config(), &throttled);
    let other = accounts::token(&client, &ns, "other", None).await;
    let other = accounts::client_for_token(&target.kube_config(), &other);
    let master_user = unique_name("conf-master");
    let master =
        accounts::client_impersonating(&target.kube_config(), &master_user, &["system:masters"]);
    let throttle = throttle(&target, &ns, "throttled").await;
    let path = format!("/api/v1/namespaces/{}/configmaps", ns.name());
    wait_in_effect(&throttled, &path, &throttle.fs).await;
    overlap_on_sandbox(
        &target,
        &[
            &accounts::user(&ns, "throttled"),
            &accounts::user(&ns, "other"),
            &master_user,
        ],
    );
    let exempt_fs = Api::<FlowSchema>::all(client.clone())
        .get("exempt")
        .await
        .unwrap();
    let exempt_pl = Api::<PriorityLevelConfiguration>::all(client.clone())
        .get("exempt")
        .await
        .unwrap();

    // Three bursts of 24, well beyond the throttled ServiceAccount's 8 seats, each.
    for _ in 0..3 {
        let (others, masters) = futures::join!(burst(&other, &path, 24), burst(&master, &path, 24));
        for answer in &others {
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_ne!(answer.header(FS_UID), uid(&throttle.fs));
            assert!(!answer.header(FS_UID).is_empty(), "classified");
        }
        for answer in &masters {
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.header(FS_UID), uid(&exempt_fs));
            assert_eq!(answer.header(PL_UID), uid(&exempt_pl));
        }
    }
    // The throttled one still is.
    let mut throttled_seen = false;
    for _ in 0..50 {
        if burst(&throttled, &path, 24)
            .await
            .iter()
            .any(|a| a.status == 429)
        {
            throttled_seen = true;
            break;
        }
    }
    assert!(throttled_seen);
}

/// Mirrors the garbage collector's handling of cluster-scoped dependents of a cluster-scoped
/// owner (a Namespace): once the namespace is gone, the FlowSchema and
/// PriorityLevelConfiguration it owns are deleted. This is how the other tests leave nothing
/// behind on a real cluster.
#[tokio::test]
async fn cluster_scoped_apf_objects_owned_by_the_test_namespace_go_with_it() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let throttle = throttle(&target, &ns, "nobody").await;
    Api::<Namespace>::all(target.client())
        .delete(ns.name(), &DeleteParams::background())
        .await
        .unwrap();
    let schemas = Api::<FlowSchema>::all(target.client());
    let levels = Api::<PriorityLevelConfiguration>::all(target.client());
    eventually("the owned FlowSchema and level are collected", || async {
        matches!(schemas.get_opt(&throttle.name).await, Ok(None))
            && matches!(levels.get_opt(&throttle.name).await, Ok(None))
    })
    .await;
}

/// Mirrors `pkg/apis/flowcontrol/validation` (`ValidateFlowSchemaSpec`,
/// `ValidateLimitResponse`): objects that a server could not enforce sensibly are refused with
/// 422 Invalid and the real field messages, not stored.
#[tokio::test]
async fn invalid_flow_schemas_and_priority_levels_are_refused_with_422() {
    let target = Target::new().await;
    let name = unique_name("conf-invalid");
    let fs: FlowSchema = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": "global-default"},
            "matchingPrecedence": 1,
            "rules": [{"subjects": [{"kind": "Group", "group": {"name": "nobody"}}],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/nowhere"]}]}],
        },
    }))
    .unwrap();
    let status = api_error(
        Api::<FlowSchema>::all(target.client())
            .create(&PostParams::default(), &fs)
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        format!(
            "FlowSchema.flowcontrol.apiserver.k8s.io \"{name}\" is invalid: spec.matchingPrecedence: \
             Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1"
        )
    );
    let pl: PriorityLevelConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue"}}},
    }))
    .unwrap();
    let status = api_error(
        Api::<PriorityLevelConfiguration>::all(target.client())
            .create(&PostParams::default(), &pl)
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        format!(
            "PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io \"{name}\" is invalid: \
             spec.limited.limitResponse.queuing: Required value: must not be empty if \
             limited.limitResponse.type is Limited"
        )
    );
}

/// Mirrors the server-side printing of `pkg/printers/internalversion` (`printFlowSchema`,
/// `printFlowSchemaList` in matching order, `printPriorityLevelConfiguration`) as
/// `kubectl get flowschemas,prioritylevelconfigurations` shows it, and the discovery that lets
/// kubectl find the kinds. Skipped when no kubectl is installed (`KUBECTL` names another).
#[tokio::test]
async fn kubectl_gets_flow_schemas_and_priority_levels() {
    let bin = common::kubectl_binary();
    let target = Target::new().await;
    let kubeconfig = target.kubeconfig_path().to_path_buf();
    let home = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .env("HOME", home.path())
            .args(["--kubeconfig"])
            .arg(&kubeconfig)
            .args(["get", "flowschemas,prioritylevelconfigurations"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    let header = |columns: &[&str]| {
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == columns)
    };
    assert!(
        header(&[
            "NAME",
            "PRIORITYLEVEL",
            "MATCHINGPRECEDENCE",
            "DISTINGUISHERMETHOD",
            "AGE",
            "MISSINGPL"
        ]),
        "{stdout}"
    );
    assert!(
        header(&[
            "NAME",
            "TYPE",
            "NOMINALCONCURRENCYSHARES",
            "QUEUES",
            "HANDSIZE",
            "QUEUELENGTHLIMIT",
            "AGE"
        ]),
        "{stdout}"
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(1).take(3).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        row("flowschema.flowcontrol.apiserver.k8s.io/exempt"),
        ["exempt", "1", "<none>"]
    );
    let missing_pl = lines
        .iter()
        .find(|l| l.starts_with("flowschema.flowcontrol.apiserver.k8s.io/exempt "))
        .and_then(|l| l.split_whitespace().last());
    assert_eq!(
        missing_pl,
        Some("False"),
        "the Dangling condition, as MISSINGPL"
    );
    assert_eq!(
        row("prioritylevelconfiguration.flowcontrol.apiserver.k8s.io/catch-all"),
        ["Limited", "5", "<none>"]
    );
    // Matching order: exempt first, catch-all last.
    let schemas: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("flowschema."))
        .collect();
    assert_eq!(
        schemas.first(),
        Some(&"flowschema.flowcontrol.apiserver.k8s.io/exempt")
    );
    assert_eq!(
        schemas.last(),
        Some(&"flowschema.flowcontrol.apiserver.k8s.io/catch-all")
    );
}

/// Mirrors the config controller's handling of a FlowSchema whose priority level does not
/// exist (`digestFlowSchemasLocked`, `presyncFlowSchemaStatus` in `apf_controller.go`): its
/// `Dangling` condition turns `True` with reason `NotFound`, it classifies nothing, and once
/// the level is created the condition turns `False` (`Found`) and the schema applies.
#[tokio::test]
async fn a_flow_schema_naming_a_missing_level_is_dangling_until_the_level_exists() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    accounts::service_account(&client, &ns, "waiting").await;
    let token = accounts::token(&client, &ns, "waiting", None).await;
    let sa = accounts::client_for_token(&target.kube_config(), &token);
    let name = unique_name("conf-dangling");
    let owner = owned_by_namespace(&client, &ns).await;
    let _cleanup = deletes_flow_control_objects(&target, &name);
    let fs: FlowSchema = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owner},
        "spec": {"priorityLevelConfiguration": {"name": name}, "matchingPrecedence": 60,
            "rules": [{"subjects": [{"kind": "ServiceAccount",
                "serviceAccount": {"namespace": ns.name(), "name": "waiting"}}],
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                    "namespaces": ["*"], "clusterScope": true}]}]},
    }))
    .unwrap();
    let schemas = Api::<FlowSchema>::all(client.clone());
    let fs = schemas.create(&PostParams::default(), &fs).await.unwrap();
    let condition = |want: &'static str, reason: &'static str| {
        let schemas = schemas.clone();
        let name = name.clone();
        move || {
            let schemas = schemas.clone();
            let name = name.clone();
            async move {
                schemas
                    .get(&name)
                    .await
                    .ok()
                    .and_then(|f| f.status)
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| {
                        c.type_ == "Dangling"
                            && c.status.as_deref() == Some(want)
                            && c.reason.as_deref() == Some(reason)
                    })
            }
        }
    };
    eventually("Dangling=True (NotFound)", condition("True", "NotFound")).await;
    let path = format!("/api/v1/namespaces/{}/configmaps", ns.name());
    let answer = get(&sa, &path).await;
    assert_eq!(answer.status, 200);
    assert_ne!(
        answer.header(FS_UID),
        uid(&fs),
        "a dangling schema classifies nothing"
    );

    let pl: PriorityLevelConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owner},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1,
            "limitResponse": {"type": "Reject"}}},
    }))
    .unwrap();
    Api::<PriorityLevelConfiguration>::all(client.clone())
        .create(&PostParams::default(), &pl)
        .await
        .unwrap();
    eventually("Dangling=False (Found)", condition("False", "Found")).await;
    wait_in_effect(&sa, &path, &fs).await;
}
