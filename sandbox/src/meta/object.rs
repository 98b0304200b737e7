//! Rules of `ObjectMeta` and of objects as JSON that every layer shares: reading and setting
//! metadata, finalizers, the deletion mark, timestamps as the apiserver writes them, and when
//! two stored forms are the same write.

use serde_json::{Map, Value, json};

/// The current time as the apiserver writes timestamps (RFC 3339, second precision, UTC).
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `metadata.<field>` as a string, or "".
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The `metadata` map of an object, created if missing.
pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just set to an object"),
    }
}

/// Sets the field at `path`, turning anything in the way into objects (never panics, unlike
/// indexing a non-object `Value`).
pub(crate) fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return;
    };
    let mut current = obj;
    for key in parents {
        if !current.is_object() {
            *current = json!({});
        }
        let Some(map) = current.as_object_mut() else {
            return;
        };
        current = map.entry((*key).to_owned()).or_insert_with(|| json!({}));
    }
    if !current.is_object() {
        *current = json!({});
    }
    if let Some(map) = current.as_object_mut() {
        map.insert((*last).to_owned(), value);
    }
}

/// `metadata.finalizers` as strings.
pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object carries `metadata.deletionTimestamp`.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `metadata.namespace` of an object, or "".
pub(crate) fn namespace_of(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

/// Whether two stored forms are the same write, ignoring the `time` of managedFields entries
/// (the field manager only refreshes it when the entry changed anyway).
pub(crate) fn same_object(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(Value::Array(entries)) = v.pointer_mut("/metadata/managedFields") {
            for e in entries.iter_mut() {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        v
    }
    a == b || strip(a) == strip(b)
}
