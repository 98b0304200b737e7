//! The review resources answered on the spot and never stored: `SelfSubjectReview`
//! (`kubectl auth whoami`), `SelfSubjectAccessReview` (`kubectl auth can-i`) and
//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`).
//!
//! [`answer_as`] answers them for the requesting (possibly impersonated) user, deciding access
//! reviews with the same RBAC evaluation that guards requests, so `kubectl auth can-i` agrees
//! with what the sandbox enforces
//! (<https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access>).

use serde_json::{Value, json};

use super::UserInfo;
use super::attributes::Attributes;
use super::rbac::{self, Decision};
use crate::http::protobuf;
use crate::meta::error::ApiError;
use crate::storage::Store;

/// A review request's body as an object of `kind` (`{group}/v1`), JSON or protobuf.
fn review(group: &str, kind: &str, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let mut obj: Value = if content_type == protobuf::CONTENT_TYPE {
        protobuf::decode(body)?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the object provided is unrecognized: {e}"))
        })?
    };
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the object provided is not a JSON object".into(),
        ));
    }
    obj["kind"] = Value::String(kind.to_owned());
    obj["apiVersion"] = Value::String(format!("{group}/v1"));
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    Ok(obj)
}

/// The answer to a review `POST` by `user`: `SelfSubjectReview` reports the user,
/// `SelfSubjectAccessReview` asks RBAC about the attributes in its spec and
/// `SelfSubjectRulesReview` lists the user's rules in a namespace, so `kubectl auth can-i`
/// (with or without `--list`) agrees with what the sandbox enforces. `None` when `resource`
/// is not one of them.
pub(crate) fn answer_as(
    user: &UserInfo,
    store: &Store,
    group: &str,
    resource: &str,
    content_type: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let authorize = |a: &Attributes| rbac::authorize(store, a);
    let kind = match (group, resource) {
        ("authentication.k8s.io", "selfsubjectreviews") => "SelfSubjectReview",
        ("authorization.k8s.io", "selfsubjectrulesreviews") => "SelfSubjectRulesReview",
        ("authorization.k8s.io", "selfsubjectaccessreviews") => "SelfSubjectAccessReview",
        _ => return None,
    };
    let answered = review(group, kind, content_type, body);
    Some(answered.map(|mut obj| {
        if resource == "selfsubjectreviews" {
            obj["status"] = json!({"userInfo": {"username": user.name, "groups": user.groups}});
            return obj;
        }
        let spec = obj.get("spec").cloned().unwrap_or_default();
        if resource == "selfsubjectrulesreviews" {
            let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            obj["status"] = rules_status(store, user, namespace);
            return obj;
        }
        let text =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let attrs = if let Some(r) = spec.get("resourceAttributes") {
            Attributes::resource(
                user.clone(),
                &text(r, "verb"),
                &text(r, "group"),
                &text(r, "resource"),
                &text(r, "subresource"),
                &text(r, "namespace"),
                &text(r, "name"),
            )
        } else {
            let n = spec
                .get("nonResourceAttributes")
                .cloned()
                .unwrap_or_default();
            Attributes::non_resource(user.clone(), &text(&n, "verb"), &text(&n, "path"))
        };
        obj["status"] = match authorize(&attrs) {
            Decision::Allow(reason) if reason.is_empty() => json!({"allowed": true}),
            Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
            Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false}),
            Decision::Deny(reason) => json!({"allowed": false, "reason": reason}),
        };
        obj
    }))
}

/// The `status` of a `SelfSubjectRulesReview`: resource and non-resource rules, and
/// `incomplete` with the evaluation error when a binding points at a missing role.
fn rules_status(store: &Store, user: &UserInfo, namespace: &str) -> Value {
    let (rules, errors) = rbac::rules_for(store, user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in rules {
        if let Some(urls) = rule.non_resource_urls.filter(|u| !u.is_empty()) {
            non_resource_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": urls}));
        }
        let resources = rule.resources.unwrap_or_default();
        if !resources.is_empty() {
            let mut r = json!({
                "verbs": rule.verbs,
                "apiGroups": rule.api_groups.unwrap_or_default(),
                "resources": resources,
            });
            if let Some(names) = rule.resource_names.filter(|n| !n.is_empty()) {
                r["resourceNames"] = json!(names);
            }
            resource_rules.push(r);
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = Value::String(errors.join(", "));
    }
    status
}
