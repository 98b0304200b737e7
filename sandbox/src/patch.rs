//! The non-apply patch types of PATCH requests.
//!
//! See <https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/>:
//! JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic merge patch, which only
//! built-in kinds accept (custom resources answer 415, as the real server does).

use serde_json::{Map, Value};

use crate::registry::ResourceInfo;
use crate::status::ApiError;

/// The patch types the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type`, or 415 like the real server.
    pub fn from_content_type(ct: &str, info: &ResourceInfo) -> Result<Self, ApiError> {
        let accepted = if info.custom {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        };
        match ct {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" if !info.custom => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(Self::Apply),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ))),
        }
    }
}

/// Parses a patch body as JSON.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
}

/// Parses an apply body, which may be YAML or JSON.
pub fn parse_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))
}

/// Applies a merge, JSON or strategic merge patch to a copy of `live`.
pub fn apply_patch(kind: PatchType, live: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let mut out = live.clone();
    match kind {
        PatchType::Merge => {
            let patch = parse_json(body)?;
            json_patch::merge(&mut out, &patch);
        }
        PatchType::Json => {
            let mut patch: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            drop_null_tests_of_missing_paths(&mut patch, &out);
            // A failed `test` op (kube's finalizer helper relies on it) is a 422, built by
            // `errors.NewGenericServerResponse(http.StatusUnprocessableEntity, ...)`.
            json_patch::patch(&mut out, &patch).map_err(|e| ApiError::Rejected(e.to_string()))?;
        }
        PatchType::Strategic => {
            let patch = parse_json(body)?;
            strategic_merge(&mut out, &patch, "");
        }
        PatchType::Apply => {
            return Err(ApiError::Internal("apply is not a plain patch".into()));
        }
    }
    Ok(out)
}

/// The apiserver's JSON patch library (evanphx/json-patch) treats `{"op":"test","value":null}` on a
/// path that does not exist as a success: a missing field "is" null. The `json-patch` crate fails
/// it. kube's finalizer helper depends on the apiserver's behaviour when it adds the first
/// finalizer (`test /metadata/finalizers == null`, then `add`), so such tests are dropped here.
fn drop_null_tests_of_missing_paths(patch: &mut json_patch::Patch, target: &Value) {
    patch.0.retain(|op| match op {
        json_patch::PatchOperation::Test(test) => {
            !(test.value.is_null() && target.pointer(test.path.as_str()).is_none())
        }
        _ => true,
    });
}

/// List fields merged by key rather than replaced, with their merge key (`None`: a set of
/// primitives), following the `patchMergeKey`/`patchStrategy` tags of the built-in types the
/// sandbox serves.
fn merge_key(path: &str) -> Option<Option<&'static str>> {
    match path {
        "metadata.finalizers" => Some(None),
        "metadata.ownerReferences" => Some(Some("uid")),
        "spec.finalizers" => Some(None),
        _ => None,
    }
}

/// A small strategic merge patch: maps merge, `null` deletes, `$patch: replace|delete` and
/// `$deleteFromPrimitiveList/<field>` directives are honoured, the listed merge lists merge
/// by key, other lists are replaced, `$setElementOrder`/`$retainKeys` are ignored.
pub fn strategic_merge(target: &mut Value, patch: &Value, path: &str) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        if let Some(m) = replaced.as_object_mut() {
            m.remove("$patch");
        }
        *target = replaced;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) =
                (target_map.get_mut(field), value.as_array())
            {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        if value.get("$patch").and_then(Value::as_str) == Some("delete") {
            target_map.remove(key);
            continue;
        }
        match (merge_key(&child_path), value) {
            (Some(key_field), Value::Array(items)) => {
                let existing = target_map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !existing.is_array() {
                    *existing = Value::Array(Vec::new());
                }
                if let Value::Array(current) = existing {
                    merge_list(current, items, key_field);
                }
            }
            (_, Value::Object(_)) => {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(entry, value, &child_path);
            }
            _ => {
                target_map.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_list(current: &mut Vec<Value>, items: &[Value], key_field: Option<&str>) {
    for item in items {
        match key_field {
            None => {
                if !current.contains(item) {
                    current.push(item.clone());
                }
            }
            Some(k) => {
                let key = item.get(k);
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                let pos = current.iter().position(|c| c.get(k) == key);
                match (pos, delete) {
                    (Some(i), true) => {
                        current.remove(i);
                    }
                    (Some(i), false) => {
                        if let Some(slot) = current.get_mut(i) {
                            strategic_merge(slot, item, "");
                        }
                    }
                    (None, false) => current.push(item.clone()),
                    (None, true) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_unions_finalizers_and_merges_owner_references_by_uid() {
        let mut live = json!({"metadata": {
            "finalizers": ["a"],
            "ownerReferences": [{"uid": "1", "name": "x"}],
            "labels": {"keep": "1", "drop": "2"}
        }});
        let patch = json!({"metadata": {
            "finalizers": ["b", "a"],
            "ownerReferences": [{"uid": "1", "name": "y"}, {"uid": "2", "name": "z"}],
            "labels": {"drop": null},
            "$setElementOrder/finalizers": ["a", "b"]
        }});
        strategic_merge(&mut live, &patch, "");
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(live["metadata"]["ownerReferences"][0]["name"], "y");
        assert_eq!(live["metadata"]["ownerReferences"][1]["uid"], "2");
        assert_eq!(live["metadata"]["labels"], json!({"keep": "1"}));
    }

    #[test]
    fn delete_from_primitive_list_removes_finalizers() {
        let mut live = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        strategic_merge(&mut live, &patch, "");
        assert_eq!(live["metadata"]["finalizers"], json!(["b"]));
    }
}
