//! Secrets (core/v1), stored like any other object; what the sandbox adds is what the real
//! server does on decode: `type` defaults to `Opaque`, and `stringData` (write-only) is
//! base64-encoded into `data`, overwriting keys of the same name, and dropped
//! (`Convert_v1_Secret_To_core_Secret`). Their keys and immutability are validated with the
//! ConfigMap rules in [`crate::objects::validate_builtin`]. Secrets are what bound
//! ServiceAccount tokens are bound to ([`crate::auth::tokens`]).

use base64::Engine;
use serde_json::{Map, Value};

/// The default `type`.
const OPAQUE: &str = "Opaque";

/// Applies the decode-time defaults to a Secret.
pub fn default(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if map
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        map.insert("type".into(), Value::String(OPAQUE.into()));
    }
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in strings {
            let text = value.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            data.insert(key, Value::String(encoded));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_is_encoded_into_data_and_type_defaults_to_opaque() {
        let mut s = json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "z"}});
        default(&mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "eA==", "b": "eg=="}})
        );
    }
}
