//! The review resources answered on the spot and never stored: `SelfSubjectReview`
//! (`kubectl auth whoami`) and `SelfSubjectAccessReview` (`kubectl auth can-i`).
//!
//! The sandbox has one identity, the admin token's user `admin` in `system:masters`, which
//! RBAC allows everything
//! (<https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles>).

use serde_json::{Value, json};

use crate::status::ApiError;

/// The user every authenticated request runs as.
pub const USER: &str = "admin";

/// The answer to a review `POST`, or `None` when `resource` is not a review.
pub fn answer(
    group: &str,
    resource: &str,
    content_type: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    let review = |kind: &str| -> Result<Value, ApiError> {
        let mut obj: Value = if content_type == crate::protobuf::CONTENT_TYPE {
            crate::protobuf::decode(body)?
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
    };
    match (group, resource) {
        ("authentication.k8s.io", "selfsubjectreviews") => {
            Some(review("SelfSubjectReview").map(|mut obj| {
                obj["status"] = json!({"userInfo": {
                    "username": USER,
                    "groups": ["system:masters", "system:authenticated"],
                }});
                obj
            }))
        }
        ("authorization.k8s.io", "selfsubjectaccessreviews") => {
            Some(review("SelfSubjectAccessReview").map(|mut obj| {
                obj["status"] =
                    json!({"allowed": true, "reason": "the sandbox admin may do anything"});
                obj
            }))
        }
        _ => None,
    }
}

/// The answer to a review `POST` by `user`: `SelfSubjectReview` reports the user, and
/// `SelfSubjectAccessReview` asks `authorize` about the attributes in its spec, so
/// `kubectl auth can-i` agrees with what the sandbox enforces. `None` when `resource` is
/// not one of them.
pub fn answer_as(
    user: &crate::auth::UserInfo,
    authorize: impl Fn(&crate::auth::attributes::Attributes) -> crate::auth::rbac::Decision,
    group: &str,
    resource: &str,
    content_type: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    use crate::auth::attributes::Attributes;
    use crate::auth::rbac::Decision;
    let answered = answer(group, resource, content_type, body)?;
    Some(answered.map(|mut obj| {
        if resource == "selfsubjectreviews" {
            obj["status"] = json!({"userInfo": {"username": user.name, "groups": user.groups}});
            return obj;
        }
        let spec = obj.get("spec").cloned().unwrap_or_default();
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
