//! The FlowSchemas and PriorityLevelConfigurations a fresh 1.32 kube-apiserver creates: the
//! mandatory `exempt` and `catch-all`, and the suggested ones
//! (`k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go`), so that the shares a new
//! level competes with sum to the same 245 as on a real server.
//!
//! Approximation: the real server's bootstrap ensurer also puts back a deleted mandatory
//! object and reverts edits of objects annotated `apf.kubernetes.io/autoupdate-spec: "true"`;
//! the sandbox seeds them once (and the config falls back to the mandatory ones when absent,
//! as the real config controller does).

use serde_json::{Value, json};

/// Name of the mandatory exempt FlowSchema and priority level.
pub(crate) const EXEMPT: &str = "exempt";
/// Name of the mandatory catch-all FlowSchema and priority level.
pub(crate) const CATCH_ALL: &str = "catch-all";
/// The annotation marking objects the server keeps up to date.
const AUTO_UPDATE: &str = "apf.kubernetes.io/autoupdate-spec";

fn metadata(name: &str) -> Value {
    json!({"name": name, "annotations": {AUTO_UPDATE: "true"}})
}

fn level(name: &str, shares: i64, lendable: i64, queuing: Option<(i64, i64)>) -> Value {
    let limit_response = match queuing {
        Some((queues, hand_size)) => json!({"type": "Queue", "queuing": {
            "queues": queues, "handSize": hand_size, "queueLengthLimit": 50}}),
        None => json!({"type": "Reject"}),
    };
    json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": metadata(name),
        "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": shares,
            "lendablePercent": lendable,
            "limitResponse": limit_response,
        }},
    })
}

fn exempt_level() -> Value {
    json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": metadata(EXEMPT),
        "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
    })
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "group": {"name": name}})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "user": {"name": name}})
}

fn kube_system_sa(name: &str) -> Value {
    json!({"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": name}})
}

fn resource_rule(verbs: &[&str], groups: &[&str], resources: &[&str], cluster: bool) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources,
        "namespaces": ["*"], "clusterScope": cluster})
}

/// Everything, resource and non-resource.
fn everything() -> (Vec<Value>, Vec<Value>) {
    (
        vec![resource_rule(&["*"], &["*"], &["*"], true)],
        vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
    )
}

fn schema(
    name: &str,
    level: &str,
    precedence: i64,
    distinguisher: Option<&str>,
    subjects: Vec<Value>,
    rules: (Vec<Value>, Vec<Value>),
) -> Value {
    let mut rule = json!({"subjects": subjects});
    if !rules.0.is_empty() {
        rule["resourceRules"] = Value::Array(rules.0);
    }
    if !rules.1.is_empty() {
        rule["nonResourceRules"] = Value::Array(rules.1);
    }
    let mut spec = json!({
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": [rule],
    });
    if let Some(method) = distinguisher {
        spec["distinguisherMethod"] = json!({"type": method});
    }
    json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": metadata(name),
        "spec": spec,
    })
}

/// The priority levels of a fresh server, mandatory then suggested.
pub(crate) fn priority_levels() -> Vec<Value> {
    vec![
        level(CATCH_ALL, 5, 0, None),
        exempt_level(),
        level("system", 30, 33, Some((64, 6))),
        level("node-high", 40, 25, Some((64, 6))),
        level("leader-election", 10, 0, Some((16, 4))),
        level("workload-high", 40, 50, Some((128, 6))),
        level("workload-low", 100, 90, Some((128, 6))),
        level("global-default", 20, 50, Some((128, 6))),
    ]
}

/// The FlowSchemas of a fresh server, mandatory then suggested.
pub(crate) fn flow_schemas() -> Vec<Value> {
    let by_user = Some("ByUser");
    let by_namespace = Some("ByNamespace");
    let leases =
        |verbs: &[&str]| resource_rule(verbs, &["coordination.k8s.io"], &["leases"], false);
    let mut kcm_sched = vec![
        user("system:kube-controller-manager"),
        user("system:kube-scheduler"),
    ];
    kcm_sched.push(kube_system_sa("*"));
    vec![
        schema(
            EXEMPT,
            EXEMPT,
            1,
            None,
            vec![group("system:masters")],
            everything(),
        ),
        schema(
            CATCH_ALL,
            CATCH_ALL,
            10000,
            by_user,
            vec![
                group("system:unauthenticated"),
                group("system:authenticated"),
            ],
            everything(),
        ),
        schema(
            "system-nodes",
            "system",
            500,
            by_user,
            vec![group("system:nodes")],
            everything(),
        ),
        schema(
            "system-node-high",
            "node-high",
            400,
            by_user,
            vec![group("system:nodes")],
            (
                vec![
                    resource_rule(&["*"], &[""], &["nodes", "nodes/status"], true),
                    leases(&["*"]),
                ],
                Vec::new(),
            ),
        ),
        schema(
            "probes",
            EXEMPT,
            2,
            None,
            vec![
                group("system:unauthenticated"),
                group("system:authenticated"),
            ],
            (
                Vec::new(),
                vec![
                    json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}),
                ],
            ),
        ),
        schema(
            "system-leader-election",
            "leader-election",
            100,
            by_user,
            kcm_sched,
            (vec![leases(&["get", "create", "update"])], Vec::new()),
        ),
        schema(
            "workload-leader-election",
            "leader-election",
            200,
            by_user,
            vec![kube_system_sa("*")],
            (
                vec![
                    resource_rule(
                        &["get", "create", "update"],
                        &[""],
                        &["endpoints", "configmaps"],
                        false,
                    ),
                    leases(&["get", "create", "update"]),
                ],
                Vec::new(),
            ),
        ),
        schema(
            "endpoint-controller",
            "workload-high",
            150,
            by_user,
            vec![
                user("system:kube-controller-manager"),
                kube_system_sa("endpoint-controller"),
                kube_system_sa("endpointslicemirroring-controller"),
            ],
            (
                vec![resource_rule(
                    &["get", "create", "update"],
                    &[""],
                    &["endpoints"],
                    false,
                )],
                Vec::new(),
            ),
        ),
        schema(
            "kube-controller-manager",
            "workload-high",
            800,
            by_namespace,
            vec![user("system:kube-controller-manager")],
            everything(),
        ),
        schema(
            "kube-scheduler",
            "workload-high",
            800,
            by_namespace,
            vec![user("system:kube-scheduler")],
            everything(),
        ),
        schema(
            "kube-system-service-accounts",
            "workload-high",
            900,
            by_namespace,
            vec![kube_system_sa("*")],
            everything(),
        ),
        schema(
            "service-accounts",
            "workload-low",
            9000,
            by_user,
            vec![group("system:serviceaccounts")],
            everything(),
        ),
        schema(
            "global-default",
            "global-default",
            9900,
            by_user,
            vec![
                group("system:unauthenticated"),
                group("system:authenticated"),
            ],
            everything(),
        ),
    ]
}

fn named(objects: Vec<Value>, name: &str) -> Option<Value> {
    objects
        .into_iter()
        .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
}

/// The mandatory priority level `name` (`exempt` or `catch-all`), without a uid.
pub(crate) fn mandatory_level(name: &str) -> Option<Value> {
    named(priority_levels(), name)
}

/// The mandatory FlowSchema `name` (`exempt` or `catch-all`), without a uid.
pub(crate) fn mandatory_schema(name: &str) -> Option<Value> {
    named(flow_schemas(), name)
}

/// Whether `name` is one of the mandatory objects, whose spec validation pins.
pub(crate) fn is_mandatory(name: &str) -> bool {
    name == EXEMPT || name == CATCH_ALL
}
