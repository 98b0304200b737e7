//! A custom resource against its CRD version's schema, as the apiextensions-apiserver admits
//! it on every create and update: unknown fields pruned, defaults applied, then validated
//! ([`super::schema`], in the apiserver's order); a 422 Invalid carrying the schema's message
//! and causes when it does not validate.

use serde_json::Value;

use super::schema;
use crate::meta::error::{ApiError, Cause};
use crate::meta::object::meta_str;
use crate::registry::ResourceInfo;

/// Prunes, defaults and validates `object` when `info` is a custom resource with a schema;
/// anything else passes unchanged.
pub(crate) fn admit(info: &ResourceInfo, object: &mut Value) -> Result<(), ApiError> {
    let Some(schema) = &info.schema else {
        return Ok(());
    };
    schema::prune(schema, object);
    schema::apply_defaults(schema, object);
    let errors = schema::validate(schema, object);
    if errors.is_empty() {
        return Ok(());
    }
    let name = meta_str(object, "name").to_owned();
    let causes = errors
        .iter()
        .map(|e| {
            let cause = e.cause();
            let text = |k: &str| {
                cause
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            Cause {
                reason: text("reason"),
                message: text("message"),
                field: text("field"),
            }
        })
        .collect();
    Err(ApiError::Invalid {
        message: schema::invalid_message(&info.kind, &info.group, &name, &errors),
        group: info.group.clone(),
        kind: info.kind.clone(),
        name,
        causes,
    })
}
