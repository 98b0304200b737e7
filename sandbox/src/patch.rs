//! The non-apply patch types of PATCH requests.
//!
//! See <https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/>:
//! JSON merge patch (RFC 7386), JSON patch (RFC 6902, applied by [`crate::jsonpatch`]), and
//! strategic merge patch, which only built-in kinds accept (custom resources answer 415, as the
//! real server does).

use serde_json::{Map, Value};

use crate::fieldvalidation::Mode;
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
            // `application/apply-patch+cbor` needs the CBOR serving feature, alpha and off in
            // 1.32: a 415 there like any unknown type.
            "application/apply-patch+yaml" => Ok(Self::Apply),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ))),
        }
    }
}

/// Parses an apply body, which may be YAML or JSON, into an object: `applyPatcher` unmarshals
/// it into `map[string]interface{}` with sigs.k8s.io/yaml and answers 400 `error decoding
/// YAML: ...` when that fails (serde's wording for YAML that does not parse at all).
pub fn parse_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
    let go_type = match &value {
        Value::Object(_) => return Ok(value),
        Value::Null => return Ok(Value::Object(Map::new())),
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
    };
    Err(ApiError::BadRequest(format!(
        "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
    )))
}

/// A merge or strategic merge patch body, which must be a JSON object; `None` for a patch
/// that changes nothing.
///
/// The patch handler decodes it into `map[string]interface{}` (`kjson.UnmarshalStrict`, or
/// `UnmarshalCaseSensitivePreserveInts` for a strategic merge patch with
/// `fieldValidation=Ignore`) and answers 400 with the decoder's error; merge patches prefix it
/// with `error decoding patch: ` (`jsonPatcher.applyJSPatch`), strategic merge patches do not
/// (`strategicPatchObject`). `null` decodes to a nil map: no change for a strategic merge
/// patch, evanphx's `ErrBadJSONPatch` (`Invalid JSON Patch`, 400) for a merge patch. A merge
/// patch with `fieldValidation=Ignore` skips the strict decoding, and evanphx's `MergePatch`
/// then answers `Invalid JSON Patch` for anything but an object or an array, and replaces the
/// document with an array (which then fails to decode, see `objects::check_patched`).
fn patch_object(kind: PatchType, body: &[u8], validation: Mode) -> Result<Option<Value>, ApiError> {
    const BAD_PATCH: &str = "Invalid JSON Patch";
    let merge = kind == PatchType::Merge;
    let lax = merge && validation == Mode::Ignore;
    let prefix = if merge { "error decoding patch: " } else { "" };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(if lax {
            BAD_PATCH.to_owned()
        } else {
            format!("{prefix}{e}")
        })
    })?;
    let kind_name = match &value {
        Value::Object(_) => return Ok(Some(value)),
        Value::Null if merge => return Err(ApiError::BadRequest(BAD_PATCH.into())),
        Value::Null => return Ok(None),
        Value::Array(_) if lax => return Ok(Some(value)),
        _ if lax => return Err(ApiError::BadRequest(BAD_PATCH.into())),
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
    };
    Err(ApiError::BadRequest(format!(
        "{prefix}json: cannot unmarshal {kind_name} into Go value of type map[string]interface {{}}"
    )))
}

/// Applies a merge, JSON or strategic merge patch to a copy of `live`; `validation` is the
/// request's `fieldValidation`, which changes how the body is decoded.
pub fn apply_patch(
    kind: PatchType,
    live: &Value,
    body: &[u8],
    validation: Mode,
) -> Result<Value, ApiError> {
    let mut out = live.clone();
    match kind {
        PatchType::Merge => {
            if let Some(patch) = patch_object(kind, body, validation)? {
                json_patch::merge(&mut out, &patch);
            }
        }
        PatchType::Json => crate::jsonpatch::apply(&mut out, body, validation)?,
        PatchType::Strategic => {
            if let Some(patch) = patch_object(kind, body, validation)? {
                strategic_merge(&mut out, &patch, "");
            }
        }
        PatchType::Apply => {
            return Err(ApiError::Internal("apply is not a plain patch".into()));
        }
    }
    Ok(out)
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
