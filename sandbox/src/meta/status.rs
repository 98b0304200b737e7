//! The `metav1.Status` object: the body of every failure ([`ApiError::to_status`]) and of
//! the deletes that answer `status: Success` ([`success`]).
//!
//! See <https://kubernetes.io/docs/reference/using-api/api-concepts/#status-object>.

use serde_json::{Value, json};

use super::error::{ApiError, Cause};

impl ApiError {
    /// The `Status` object for this error.
    pub(crate) fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        let mut put = |k: &str, v: &str| {
            details.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        let mut causes: &[Cause] = &[];
        // Whether the Go error has a `Details` (then sent even when all its fields are empty).
        let mut has_details = true;
        match self {
            Self::NotFound {
                group,
                resource,
                name,
                ..
            }
            | Self::AlreadyExists {
                group,
                resource,
                name,
                ..
            } => {
                put("name", name);
                put("group", group);
                put("kind", resource);
            }
            Self::MethodNotSupported {
                group, resource, ..
            } => {
                put("group", group);
                put("kind", resource);
            }
            Self::ForbiddenObject {
                group,
                resource,
                name,
                ..
            } => {
                put("name", name);
                put("group", group);
                put("kind", resource);
            }
            Self::Conflict {
                group,
                resource,
                name,
                causes: c,
                ..
            } => {
                put("name", name);
                put("group", group);
                put("kind", resource);
                causes = c;
            }
            // `errors.NewApplyConflict` carries only the causes (its TODO: "Get obj details").
            Self::ApplyConflict { causes: c, .. } => causes = c,
            Self::Invalid {
                group,
                kind,
                name,
                causes: c,
                ..
            } => {
                put("name", name);
                put("group", group);
                put("kind", kind);
                causes = c;
            }
            Self::Rejected(_) | Self::NoRoute | Self::MethodNotAllowed(_) => {}
            _ => has_details = false,
        }
        let internal;
        let too_large;
        match self {
            Self::Internal(detail) => {
                internal = [Cause {
                    reason: String::new(),
                    message: detail.clone(),
                    field: String::new(),
                }];
                causes = &internal;
                has_details = true;
            }
            Self::TooLargeResourceVersion { .. } => {
                too_large = [Cause {
                    reason: "ResourceVersionTooLarge".into(),
                    message: "Too large resource version".into(),
                    field: String::new(),
                }];
                causes = &too_large;
                details.insert("retryAfterSeconds".to_owned(), json!(1));
                has_details = true;
            }
            _ => {}
        }
        // `metav1.StatusDetails` and `StatusCause` serialize every field with `omitempty`.
        details.retain(|_, v| v.as_str() != Some(""));
        if !causes.is_empty() {
            let list: Vec<Value> = causes
                .iter()
                .map(|c| {
                    let mut cause = serde_json::Map::new();
                    for (key, value) in [
                        ("reason", &c.reason),
                        ("message", &c.message),
                        ("field", &c.field),
                    ] {
                        if !value.is_empty() {
                            cause.insert(key.to_owned(), Value::String(value.clone()));
                        }
                    }
                    Value::Object(cause)
                })
                .collect();
            details.insert("causes".to_owned(), Value::Array(list));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if has_details || !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        if self.reason().is_empty() {
            // `StatusReasonUnknown` is "", omitted like every empty field.
            if let Some(map) = status.as_object_mut() {
                map.remove("reason");
            }
        }
        if let Self::ContinueExpired(token) = self {
            status["metadata"] = json!({"continue": token});
        }
        status
    }
}

/// A `Status` of `status: Success`, returned e.g. by DELETE of built-in kinds.
///
/// `Store.finalizeDelete` builds it; its details' empty fields are omitted like every
/// `omitempty` field (a core resource has no `group`).
pub(crate) fn success(group: &str, resource: &str, name: &str, uid: &str) -> Value {
    let mut details = serde_json::Map::new();
    for (key, value) in [
        ("name", name),
        ("group", group),
        ("kind", resource),
        ("uid", uid),
    ] {
        if !value.is_empty() {
            details.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
