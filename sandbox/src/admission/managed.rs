//! `metadata.managedFields` for the verbs: every write records its manager's fields
//! ([`record_update`]), server-side apply merges and reports conflicts ([`apply`]), with the
//! list semantics of the resource (its CRD schema, or those of the built-in kinds). The field
//! sets themselves are [`super::ssa`]'s.

use serde_json::Value;

use super::ssa::{self, ListType, ListTypes, SchemaListTypes, SsaError, metadata_list_type};
use crate::meta::error::{ApiError, Cause};
use crate::meta::object::{meta_str, now};
use crate::registry::ResourceInfo;

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
pub(crate) fn record_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let now = now();
    with_list_types(info, |lt| {
        ssa::record_update(old, new, manager, subresource, &now, lt);
    });
}

/// Server-side apply of `applied` by `manager` onto `live` (absent: the object is created);
/// conflicts are the real server's 409 with one `FieldManagerConflict` cause per field.
pub(crate) fn apply(
    info: &ResourceInfo,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    let now = now();
    with_list_types(info, |lt| {
        ssa::apply(live, applied, manager, subresource, force, &now, lt)
    })
    .map_err(|e| match e {
        SsaError::Conflicts(conflicts) => ApiError::ApplyConflict {
            group: info.group.clone(),
            kind: info.resource.clone(),
            name: live
                .or(Some(applied))
                .map(|o| meta_str(o, "name").to_owned())
                .unwrap_or_default(),
            message: ssa::conflict_message(&conflicts),
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
