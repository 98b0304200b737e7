//! ConfigMaps (core/v1): their keys (`IsConfigMapKey`) and immutability
//! (`ValidateConfigMapUpdate`); Secrets ([`super::secrets`]) share both rules for `data`.

use std::sync::LazyLock;

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
        invalid_if_any(info, new, data_causes(old, new, &["data", "binaryData"]))
    }
}

/// The causes of bad keys in the maps `fields` of `new`, then of changes to an immutable
/// `old` (`immutable: true`).
pub(crate) fn data_causes(old: Option<&Value>, new: &Value, fields: &[&str]) -> Vec<Cause> {
    static KEY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new("^[-._a-zA-Z0-9]+$").expect("valid regex"));
    let mut causes = Vec::new();
    for &field in fields {
        for key in new
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
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
