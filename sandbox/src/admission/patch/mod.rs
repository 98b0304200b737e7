//! The non-apply patch types of PATCH requests.
//!
//! See <https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/>:
//! JSON merge patch (RFC 7386, the `json-patch` crate's `merge`), JSON patch (RFC 6902, applied
//! by [`json`]), and strategic merge patch ([`strategic`]), which only built-in kinds accept
//! (custom resources answer 415, as the real server does). The server-side apply body is
//! parsed here ([`parse_apply`]); the apply itself is [`super::managed`]'s.

mod json;
mod strategic;

use serde_json::{Map, Value};

use super::fieldvalidation::Mode;
use crate::meta::error::ApiError;
use crate::registry::ResourceInfo;

/// The patch types the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type`, or 415 like the real server.
    pub(crate) fn from_content_type(ct: &str, info: &ResourceInfo) -> Result<Self, ApiError> {
        let accepted = if info.custom {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        } else {
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        };
        match ct {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" if !info.custom => Ok(Self::Strategic),
            // `application/apply-patch+cbor` needs the CBOR serving feature, alpha and off in
            // 1.32: a 415 there like any unknown type.
            "application/apply-patch+yaml" => Ok(Self::Apply),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ))),
        }
    }
}

/// Parses an apply body, which may be YAML or JSON, into an object: `applyPatcher` unmarshals
/// it into `map[string]interface{}` with sigs.k8s.io/yaml and answers 400 `error decoding
/// YAML: ...` when that fails (serde's wording for YAML that does not parse at all).
pub(crate) fn parse_apply(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_saphyr::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("error decoding YAML: {}", e.without_snippet()))
    })?;
    let go_type = match &value {
        Value::Object(_) => return Ok(value),
        Value::Null => return Ok(Value::Object(Map::new())),
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
    };
    Err(ApiError::BadRequest(format!(
        "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
    )))
}

/// A merge or strategic merge patch body, which must be a JSON object; `None` for a patch
/// that changes nothing.
///
/// The patch handler decodes it into `map[string]interface{}` (`kjson.UnmarshalStrict`, or
/// `UnmarshalCaseSensitivePreserveInts` for a strategic merge patch with
/// `fieldValidation=Ignore`) and answers 400 with the decoder's error; merge patches prefix it
/// with `error decoding patch: ` (`jsonPatcher.applyJSPatch`), strategic merge patches do not
/// (`strategicPatchObject`). `null` decodes to a nil map: no change for a strategic merge
/// patch, evanphx's `ErrBadJSONPatch` (`Invalid JSON Patch`, 400) for a merge patch. A merge
/// patch with `fieldValidation=Ignore` skips the strict decoding, and evanphx's `MergePatch`
/// then answers `Invalid JSON Patch` for anything but an object or an array, and replaces the
/// document with an array (which then fails to decode, see `crate::registry::decode::check_patched`).
fn patch_object(kind: PatchType, body: &[u8], validation: Mode) -> Result<Option<Value>, ApiError> {
    const BAD_PATCH: &str = "Invalid JSON Patch";
    let merge = kind == PatchType::Merge;
    let lax = merge && validation == Mode::Ignore;
    let prefix = if merge { "error decoding patch: " } else { "" };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(if lax {
            BAD_PATCH.to_owned()
        } else {
            format!("{prefix}{e}")
        })
    })?;
    let kind_name = match &value {
        Value::Object(_) => return Ok(Some(value)),
        Value::Null if merge => return Err(ApiError::BadRequest(BAD_PATCH.into())),
        Value::Null => return Ok(None),
        Value::Array(_) if lax => return Ok(Some(value)),
        _ if lax => return Err(ApiError::BadRequest(BAD_PATCH.into())),
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
    };
    Err(ApiError::BadRequest(format!(
        "{prefix}json: cannot unmarshal {kind_name} into Go value of type map[string]interface {{}}"
    )))
}

/// Applies a merge, JSON or strategic merge patch to a copy of `live`; `validation` is the
/// request's `fieldValidation`, which changes how the body is decoded.
pub(crate) fn apply_patch(
    kind: PatchType,
    live: &Value,
    body: &[u8],
    validation: Mode,
) -> Result<Value, ApiError> {
    let mut out = live.clone();
    match kind {
        PatchType::Merge => {
            if let Some(patch) = patch_object(kind, body, validation)? {
                json_patch::merge(&mut out, &patch);
            }
        }
        PatchType::Json => json::apply(&mut out, body, validation)?,
        PatchType::Strategic => {
            if let Some(patch) = patch_object(kind, body, validation)? {
                strategic::merge(&mut out, &patch);
            }
        }
        PatchType::Apply => {
            return Err(ApiError::Internal("apply is not a plain patch".into()));
        }
    }
    Ok(out)
}
