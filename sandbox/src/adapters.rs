//! The seams to the pure modules written by the other helpers (server-side apply, schema
//! validation, discovery documents, table output).
//!
//! Each function here is the one place the request path calls into them, so swapping a
//! placeholder for the real module touches nothing else.

use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::ssa::{ListType, ListTypes, SchemaListTypes, SsaError, metadata_list_type};
use crate::status::{ApiError, Cause};

/// Prunes unknown fields, applies defaults and validates a custom resource against its CRD
/// version's schema (S2's `schema` module, in the apiserver's order); a 422 Invalid carrying
/// the schema module's message and causes when it does not validate.
pub fn validate_custom(info: &ResourceInfo, object: &mut Value) -> Result<(), ApiError> {
    let Some(schema) = &info.schema else {
        return Ok(());
    };
    crate::schema::prune(schema, object);
    crate::schema::apply_defaults(schema, object);
    let errors = crate::schema::validate(schema, object);
    if errors.is_empty() {
        return Ok(());
    }
    let name = crate::objects::meta_str(object, "name").to_owned();
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
        message: crate::schema::invalid_message(&info.kind, &info.group, &name, &errors),
        group: info.group.clone(),
        kind: info.kind.clone(),
        name,
        causes,
    })
}

/// The list semantics server-side apply needs for a resource: from the CRD schema for
/// custom resources, ObjectMeta's lists (and atomic lists otherwise) for built-in kinds.
fn with_list_types<T>(info: &ResourceInfo, f: impl FnOnce(&dyn ListTypes) -> T) -> T {
    match &info.schema {
        Some(schema) => f(&SchemaListTypes {
            schema,
            status_subresource: info.has_status(),
        }),
        None => f(&BuiltinListTypes {
            status_subresource: info.has_status(),
        }),
    }
}

/// List types of the built-in kinds the sandbox serves: none of their own lists merge by key
/// except ObjectMeta's (namespaces' `spec.finalizers` is a set, like its patch strategy).
struct BuiltinListTypes {
    status_subresource: bool,
}

impl ListTypes for BuiltinListTypes {
    fn list_type(&self, path: &[String]) -> ListType {
        if let Some(t) = metadata_list_type(path) {
            return t;
        }
        match path {
            [s, f] if s == "spec" && f == "finalizers" => ListType::Set,
            _ => ListType::Atomic,
        }
    }

    fn has_status_subresource(&self) -> bool {
        self.status_subresource
    }
}

/// Records the fields `manager` set by a non-apply write (create, update, patch) into
/// `metadata.managedFields`, like the apiserver's field manager does for every write.
pub fn record_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let now = crate::objects::now();
    with_list_types(info, |lt| {
        crate::ssa::record_update(old, new, manager, subresource, &now, lt);
    });
}

/// Server-side apply of `applied` by `manager` onto `live` (absent: the object is created);
/// conflicts are the real server's 409 with one `FieldManagerConflict` cause per field.
pub fn apply(
    info: &ResourceInfo,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    let now = crate::objects::now();
    with_list_types(info, |lt| {
        crate::ssa::apply(live, applied, manager, subresource, force, &now, lt)
    })
    .map_err(|e| match e {
        SsaError::Conflicts(conflicts) => ApiError::ApplyConflict {
            group: info.group.clone(),
            kind: info.resource.clone(),
            name: live
                .or(Some(applied))
                .map(|o| crate::objects::meta_str(o, "name").to_owned())
                .unwrap_or_default(),
            message: crate::ssa::conflict_message(&conflicts),
            causes: conflicts
                .iter()
                .map(|c| {
                    let cause = c.cause();
                    let text = |k: &str| {
                        cause
                            .get(k)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    };
                    Cause {
                        reason: "FieldManagerConflict".into(),
                        message: text("message"),
                        field: text("field"),
                    }
                })
                .collect(),
        },
        SsaError::Invalid(message) => ApiError::BadRequest(message),
    })
}
