//! The 403 answer in the apiserver's words: `responsewriters.Forbidden` builds the message
//! from the attributes (`forbiddenMessage`) and wraps it in `errors.NewForbidden`, e.g.
//!
//! `documents.kube.rs "samuel" is forbidden: User "system:serviceaccount:default:doc-controller"
//! cannot patch resource "documents" in API group "kube.rs" in the namespace "default"`,
//!
//! with `details {name, group, kind}` (kind is the plural resource), reason `Forbidden`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::attributes::Attributes;
use crate::http::respond::json_response;
use crate::meta::gofmt::go_quote as quote;

/// `forbiddenMessage`: what the user cannot do.
pub(crate) fn denial(attrs: &Attributes) -> String {
    let user = quote(&attrs.user.name);
    if !attrs.resource_request {
        return format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            quote(&attrs.path)
        );
    }
    let resource = quote(&attrs.combined_resource());
    let group = quote(&attrs.api_group);
    if attrs.namespace.is_empty() {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} at the cluster scope",
            attrs.verb
        )
    } else {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} in the namespace {}",
            attrs.verb,
            quote(&attrs.namespace)
        )
    }
}

/// `responsewriters`' `sanitizer`: the denial (not the authorizer's reason) is HTML-escaped.
fn sanitize(message: &str) -> String {
    message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `Status` body of a 403 for `attrs` (`responsewriters.ForbiddenStatusError`), with the
/// authorizer's `reason` appended when it has one (RBAC reports bindings to missing roles
/// there).
pub(crate) fn status(attrs: &Attributes, reason: &str) -> Value {
    let mut error = sanitize(&denial(attrs));
    if !reason.is_empty() {
        error = format!("{error}: {reason}");
    }
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {error}")
    } else if attrs.name.is_empty() {
        format!("{qualified} is forbidden: {error}")
    } else {
        format!("{qualified} {} is forbidden: {error}", quote(&attrs.name))
    };
    let mut details = Map::new();
    for (key, value) in [
        ("name", &attrs.name),
        ("group", &attrs.api_group),
        ("kind", &attrs.resource),
    ] {
        if !value.is_empty() {
            details.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    })
}

/// The 403 response for `attrs`.
pub(crate) fn response(attrs: &Attributes, reason: &str) -> Response {
    json_response(StatusCode::FORBIDDEN, &status(attrs, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    #[test]
    fn the_message_names_user_verb_resource_group_and_scope_like_the_apiserver() {
        let sa = UserInfo::service_account("default", "doc-controller");
        let a = Attributes::resource(
            sa.clone(),
            "patch",
            "kube.rs",
            "documents",
            "",
            "default",
            "samuel",
        );
        assert_eq!(
            status(&a, "")["message"],
            "documents.kube.rs \"samuel\" is forbidden: User \"system:serviceaccount:default:doc-controller\" \
             cannot patch resource \"documents\" in API group \"kube.rs\" in the namespace \"default\""
        );
        let odd = Attributes::resource(
            UserInfo::service_account("default", "a<b>&c"),
            "get",
            "",
            "configmaps",
            "",
            "default",
            "x",
        );
        assert!(status(&odd, "")["message"].as_str().is_some_and(|m| {
            m.contains("User \"system:serviceaccount:default:a&lt;b&gt;&amp;c\"")
        }));
        let w = Attributes::resource(sa, "watch", "", "secrets", "", "", "");
        assert_eq!(
            status(&w, "")["message"],
            "secrets is forbidden: User \"system:serviceaccount:default:doc-controller\" \
             cannot watch resource \"secrets\" in API group \"\" at the cluster scope"
        );
    }
}
