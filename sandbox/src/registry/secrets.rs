//! Secrets (core/v1), stored like any other object; what the sandbox adds is what the real
//! server does on decode: `type` defaults to `Opaque`, and `stringData` (write-only) is
//! base64-encoded into `data`, overwriting keys of the same name, and dropped
//! (`Convert_v1_Secret_To_core_Secret`). Their keys, size and immutability are validated with
//! the ConfigMap rules ([`super::configmaps`]; `ValidateSecret` reports the size on `data`), and
//! their `type` cannot change (`ValidateSecretUpdate`). Secrets are what bound ServiceAccount tokens are bound to
//! (`crate::auth::tokens`).

use base64::Engine;
use serde_json::{Map, Value};

use super::ResourceInfo;
use super::configmaps::{Encoding, data_causes, invalid_if_any, too_long, value_bytes};
use super::strategy::Strategy;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;

/// The Secret strategy.
pub(crate) struct Secrets;

impl Strategy for Secrets {
    fn default(&self, _info: &ResourceInfo, obj: &mut Value) {
        default(obj);
    }

    fn validate(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ApiError> {
        let mut causes = data_causes(old, new, &["data"]);
        causes.extend(too_long(value_bytes(new, "data", Encoding::Base64), "data"));
        if let Some(old) = old
            && old.get("type") != new.get("type")
        {
            let kind = new.get("type").and_then(Value::as_str).unwrap_or_default();
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {}: field is immutable", go_quote(kind)),
                field: "type".into(),
            });
        }
        invalid_if_any(info, new, causes)
    }
}

/// The default `type`.
const OPAQUE: &str = "Opaque";

/// Applies the decode-time defaults to a Secret.
fn default(obj: &mut Value) {
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
