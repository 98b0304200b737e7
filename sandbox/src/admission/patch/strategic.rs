//! Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds the
//! sandbox serves.
//!
//! Hand-written, because no crate fits: strategic merge is defined by the Go struct tags of
//! the built-in types (`patchStrategy`, `patchMergeKey`) and implemented only in Go
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`); the Rust crates for patches
//! (`json-patch`, in the tree, for RFC 6902 and RFC 7386) know neither the directives
//! (`$patch`, `$deleteFromPrimitiveList`, `$setElementOrder`, `$retainKeys`) nor merge keys, and
//! k8s-openapi's generated types carry no patch metadata. The kinds served here have three
//! merge lists, listed in [`merge_key`].

use serde_json::{Map, Value};

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

/// Applies a strategic merge patch to `target`.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    merge_at(target, patch, "");
}

/// A small strategic merge patch at `path`: maps merge, `null` deletes, `$patch: replace|delete` and
/// `$deleteFromPrimitiveList/<field>` directives are honoured, the listed merge lists merge
/// by key, other lists are replaced, `$setElementOrder`/`$retainKeys` are ignored.
fn merge_at(target: &mut Value, patch: &Value, path: &str) {
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
                merge_at(entry, value, &child_path);
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
                            merge_at(slot, item, "");
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
        merge(&mut live, &patch);
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(live["metadata"]["ownerReferences"][0]["name"], "y");
        assert_eq!(live["metadata"]["ownerReferences"][1]["uid"], "2");
        assert_eq!(live["metadata"]["labels"], json!({"keep": "1"}));
    }

    #[test]
    fn delete_from_primitive_list_removes_finalizers() {
        let mut live = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        merge(&mut live, &patch);
        assert_eq!(live["metadata"]["finalizers"], json!(["b"]));
    }
}
