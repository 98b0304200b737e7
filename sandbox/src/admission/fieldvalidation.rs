//! Server-side field validation (`?fieldValidation=Ignore|Warn|Strict`) for custom resources.
//!
//! Mirrors <https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation>:
//! fields the CRD schema does not declare are pruned anyway; `Warn` (the default) reports each
//! as a `Warning: 299 - "unknown field \"spec.x\""` header, `Strict` (what kubectl sends) turns
//! them into a 400 BadRequest, `Ignore` says nothing. A patch whose result has unknown fields
//! fails the strict decoding of the patched object instead (`crate::verbs`), and server-side
//! apply never gets that far ([`apply_error`]).

use serde_json::Value;

use crate::meta::error::ApiError;
use crate::meta::gofmt::go_quote;
use crate::registry::ResourceInfo;

/// The requested field validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and warn (the server default).
    Warn,
    /// Reject the request.
    Strict,
}

impl Mode {
    /// Parses the `fieldValidation` query parameter.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other}; valid values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// Applies `mode` to the unknown fields of `obj`: the warnings to send, or the 400 of
/// `Strict`, worded like the real strict decoder.
pub(crate) fn check(mode: Mode, info: &ResourceInfo, obj: &Value) -> Result<Vec<String>, ApiError> {
    if mode == Mode::Ignore || !info.custom {
        return Ok(Vec::new());
    }
    let unknown = unknown_fields(info, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let quoted: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {}", go_quote(f)))
        .collect();
    match mode {
        Mode::Strict => Err(ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            quoted.join(", "),
            kind = info.kind,
            version = info.version,
        ))),
        _ => Ok(quoted),
    }
}

/// What server-side apply of a custom resource with fields its schema does not declare gets,
/// whatever `fieldValidation` says: the field manager's type converter rejects the applied
/// configuration (`managedfields/internal/structuredmerge.go` `Apply`: `failed to create typed
/// patch object (<ns>/<name>; <group>/<version>, Kind=<Kind>): .spec.x: field not declared in
/// schema`), a plain error that reaches the client as a 500 without a reason. `namespace` and
/// `name` are the applied configuration's own (often empty).
pub(crate) fn apply_error(
    info: &ResourceInfo,
    applied: &Value,
    namespace: &str,
    name: &str,
) -> Option<ApiError> {
    if !info.custom {
        return None;
    }
    let unknown = unknown_fields(info, applied);
    let errors: Vec<String> = unknown
        .iter()
        .map(|path| format!(".{path}: field not declared in schema"))
        .collect();
    // structured-merge-diff's `ValidationErrors.Error()`.
    let detail = match errors.as_slice() {
        [] => return None,
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    Some(ApiError::Storage(format!(
        "failed to create typed patch object ({namespace}/{name}; {}/{}, Kind={}): {detail}",
        info.group, info.version, info.kind
    )))
}

/// Paths (`spec.x`, `spec.items[0].y`) of the fields pruning would drop.
pub(crate) fn unknown_fields(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    let Some(schema) = &info.schema else {
        return Vec::new();
    };
    let mut pruned = obj.clone();
    super::schema::prune(schema, &mut pruned);
    let mut out = Vec::new();
    diff(obj, &pruned, "", &mut out);
    out
}

fn diff(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match a.get(key) {
                    Some(kept) => diff(value, kept, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                diff(bv, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
