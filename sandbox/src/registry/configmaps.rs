//! ConfigMaps (core/v1): their keys (`IsConfigMapKey`, no key in both `data` and `binaryData`),
//! their size (at most [`MAX_DATA_BYTES`] of values) and immutability (`ValidateConfigMap`,
//! `ValidateConfigMapUpdate`); Secrets ([`super::secrets`]) share the key, size and immutability
//! rules for `data`.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;
use serde_json::Value;

use super::ResourceInfo;
use super::strategy::Strategy;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::meta_str;

/// The ConfigMap strategy.
pub(crate) struct ConfigMaps;

impl Strategy for ConfigMaps {
    fn validate(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ApiError> {
        let mut causes = data_causes(old, new, &["data", "binaryData"]);
        let binary = new.get("binaryData").and_then(Value::as_object);
        for key in keys(new, "data").filter(|key| binary.is_some_and(|b| b.contains_key(*key))) {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {}: duplicate of key present in binaryData",
                    go_quote(key)
                ),
                field: format!("data[{key}]"),
            });
        }
        let bytes = value_bytes(new, "data", Encoding::Text)
            + value_bytes(new, "binaryData", Encoding::Base64);
        // `field.NewPath("")`, which prints as `[]`: the error is about the whole object.
        causes.extend(too_long(bytes, "[]"));
        invalid_if_any(info, new, causes)
    }
}

/// `core.MaxSecretSize`: the most a ConfigMap's or a Secret's values may hold together, 1 MiB.
/// Keys do not count, and base64 values count decoded (the server stores them as bytes).
pub(crate) const MAX_DATA_BYTES: usize = 1024 * 1024;

/// How a map's values are held in JSON.
#[derive(Clone, Copy)]
pub(crate) enum Encoding {
    /// Strings as they are (a ConfigMap's `data`).
    Text,
    /// Base64 of bytes (`binaryData`, a Secret's `data`).
    Base64,
}

/// The keys of the map `new[field]`.
fn keys<'a>(new: &'a Value, field: &str) -> impl Iterator<Item = &'a String> {
    new.get(field)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|map| map.keys())
}

/// The bytes the values of the map `new[field]` hold. A value that is not valid base64 counts
/// as its text (the sandbox does not reject it on decode, as the real server would).
pub(crate) fn value_bytes(new: &Value, field: &str, encoding: Encoding) -> usize {
    let values = new
        .get(field)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|map| map.values())
        .filter_map(Value::as_str);
    values
        .map(|text| match encoding {
            Encoding::Text => text.len(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_or(text.len(), |bytes| bytes.len()),
        })
        .sum()
}

/// The `FieldValueTooLong` cause of values over [`MAX_DATA_BYTES`], on `field`
/// (`field.TooLong`, whose message names the limit, never the value).
pub(crate) fn too_long(bytes: usize, field: &str) -> Option<Cause> {
    (bytes > MAX_DATA_BYTES).then(|| Cause {
        reason: "FieldValueTooLong".into(),
        message: format!("Too long: may not be more than {MAX_DATA_BYTES} bytes"),
        field: field.into(),
    })
}

/// The causes of bad keys in the maps `fields` of `new`, then of changes to an immutable
/// `old` (`immutable: true`).
pub(crate) fn data_causes(old: Option<&Value>, new: &Value, fields: &[&str]) -> Vec<Cause> {
    static KEY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[-._a-zA-Z0-9]+$").expect("valid regex"));
    let mut causes = Vec::new();
    for &field in fields {
        for key in keys(new, field) {
            let mut errs = Vec::new();
            if key.len() > 253 {
                errs.push("must be no more than 253 characters".to_owned());
            }
            if !KEY.is_match(key) {
                errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_owned());
            }
            if key == "." || key == ".." || key.starts_with("..") {
                errs.push("must not be '.' or '..' or start with '..'".to_owned());
            }
            for e in errs {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {}: {e}", go_quote(key)),
                    field: format!("{field}[{key}]"),
                });
            }
        }
    }
    if let Some(old) = old
        && old.get("immutable").and_then(Value::as_bool) == Some(true)
    {
        let forbidden = |field: &str| Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: field is immutable when `immutable` is set".into(),
            field: field.into(),
        };
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            causes.push(forbidden("immutable"));
        }
        for &field in fields {
            if old.get(field) != new.get(field) {
                causes.push(forbidden(field));
            }
        }
    }
    causes
}

/// The 422 Invalid of `causes`, if there are any.
pub(crate) fn invalid_if_any(
    info: &ResourceInfo,
    new: &Value,
    causes: Vec<Cause>,
) -> Result<(), ApiError> {
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &info.group,
            &info.kind,
            meta_str(new, "name"),
            causes,
        ))
    }
}
