//! RFC 6902 JSON patches (`application/json-patch+json`) as the apiserver applies them.
//!
//! `jsonPatcher.applyJSPatch` (`apiserver/pkg/endpoints/handlers/patch.go`) decodes the body
//! twice and applies it with evanphx/json-patch v4, whose behaviour differs from RFC 6902 (and
//! from the `json-patch` crate) in ways clients meet:
//!
//! - With `fieldValidation` `Warn` (the default for PATCH) or `Strict`, the body is first
//!   decoded strictly into `[]jsonPatchOp` (`op`, `path`, `from` strings, any `value`); a body
//!   that is not such an array is `400 BadRequest` `error decoding patch: ...`. `null` is an
//!   empty patch. With `Ignore` only `jsonpatch.DecodePatch` runs, whose error (`json: cannot
//!   unmarshal ... into Go value of type jsonpatch.Patch`) is the 400's whole message.
//! - Everything else is found while applying, and every failure there (an unknown `op`, a
//!   missing `path`, a path that does not exist, a failed `test`) is the same `422`, built by
//!   `errors.NewGenericServerResponse(422, "", GroupResource{}, "", err, 0, false)`: the message
//!   is `the server rejected our request due to an error in our request`, `details` is empty
//!   and the library's reason is not sent ([`ApiError::Rejected`]).
//! - `replace` of the root (`path: ""`) with an object or an array replaces the document; with
//!   any other value it does nothing (v4's `replace` returns `errors.Wrapf(nil, ...)`, which is
//!   nil), so the PATCH succeeds unchanged. `test` of the root compares the whole document;
//!   `add`, `remove`, `move` and `copy` never find the root ("doc is missing path").
//! - `test` with `value: null` of a path that does not exist succeeds (a missing field "is"
//!   null); kube's finalizer helper relies on it to add the first finalizer.
//!
//! The operations themselves are the `json-patch` crate's, applied one at a time.
//!
//! Approximated: the text after `error decoding patch: ` for a body that is not JSON at all is
//! serde's, not Go's `encoding/json` wording; the 413 for more than 10,000 operations is not
//! enforced.

use serde_json::{Map, Value};

use crate::admission::fieldvalidation::Mode;
use crate::meta::error::ApiError;

/// The operations evanphx/json-patch v4 knows; any other `op` fails when applied.
const KNOWN_OPS: &[&str] = &["add", "remove", "replace", "move", "copy", "test"];

/// Applies the JSON patch `body` to `doc` (which it may leave half-patched on error).
pub(crate) fn apply(doc: &mut Value, body: &[u8], validation: Mode) -> Result<(), ApiError> {
    for op in decode(body, validation)? {
        apply_op(doc, &op)?;
    }
    Ok(())
}

/// The patch's operations, decoded like `applyJSPatch` before it applies anything.
fn decode(body: &[u8], validation: Mode) -> Result<Vec<Map<String, Value>>, ApiError> {
    let strict = validation != Mode::Ignore;
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    let (list_type, op_type) = if strict {
        ("[]handlers.jsonPatchOp", "handlers.jsonPatchOp")
    } else {
        ("jsonpatch.Patch", "jsonpatch.Operation")
    };
    let reject = |detail: String| {
        ApiError::BadRequest(if strict {
            format!("error decoding patch: {detail}")
        } else {
            detail
        })
    };
    let items = match raw {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(reject(cannot_unmarshal(&other, list_type))),
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        let op = match item {
            Value::Object(op) => op,
            Value::Null => Map::new(),
            other => return Err(reject(cannot_unmarshal(&other, op_type))),
        };
        if strict {
            for field in ["op", "path", "from"] {
                match op.get(field) {
                    None | Some(Value::Null | Value::String(_)) => {}
                    Some(other) => {
                        return Err(reject(format!(
                            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{field} of type string",
                            go_kind(other)
                        )));
                    }
                }
            }
        }
        ops.push(op);
    }
    Ok(ops)
}

/// `encoding/json`'s `UnmarshalTypeError` for a top-level value.
fn cannot_unmarshal(value: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        go_kind(value)
    )
}

/// How `encoding/json` names the JSON type it could not decode.
fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// Applies one operation with v4's semantics; see the module documentation.
fn apply_op(doc: &mut Value, op: &Map<String, Value>) -> Result<(), ApiError> {
    let rejected = |why: &str| ApiError::Rejected(why.to_owned());
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    if !KNOWN_OPS.contains(&kind) {
        return Err(rejected(&format!("Unexpected kind: {kind}")));
    }
    let Some(path) = op.get("path").and_then(Value::as_str) else {
        return Err(rejected("operation missing path field"));
    };
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    let from = op.get("from").and_then(Value::as_str);
    if path.is_empty() {
        return match kind {
            "replace" => {
                if value.is_object() || value.is_array() {
                    *doc = value;
                }
                Ok(())
            }
            "test" if *doc == value => Ok(()),
            "test" => Err(rejected("testing value  failed: test failed")),
            _ => Err(rejected(&format!(
                "{kind} operation does not apply: doc is missing path"
            ))),
        };
    }
    if from == Some("") {
        return Err(rejected(&format!(
            "{kind} operation does not apply: doc is missing from path"
        )));
    }
    if kind == "test" && value.is_null() && doc.pointer(path).is_none() {
        return Ok(());
    }
    let mut normalized = Map::new();
    normalized.insert("op".into(), Value::String(kind.to_owned()));
    normalized.insert("path".into(), Value::String(path.to_owned()));
    if let Some(from) = from {
        normalized.insert("from".into(), Value::String(from.to_owned()));
    }
    if matches!(kind, "add" | "replace" | "test") {
        normalized.insert("value".into(), value);
    }
    let operation: json_patch::PatchOperation =
        serde_json::from_value(Value::Object(normalized)).map_err(|e| rejected(&e.to_string()))?;
    json_patch::patch(doc, &[operation]).map_err(|e| rejected(&e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap is a failed assertion in a test"
    )]

    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: Value) -> Result<Value, ApiError> {
        let mut doc = doc;
        apply(&mut doc, patch.to_string().as_bytes(), Mode::Warn).map(|()| doc)
    }

    fn code(result: Result<Value, ApiError>) -> u16 {
        result.err().map_or(200, |e| e.code())
    }

    #[test]
    fn replacing_the_root_with_a_scalar_does_nothing_and_with_an_object_replaces_it() {
        let doc = json!({"data": {"a": "b"}});
        for scalar in [json!(3), json!("x"), json!(null), json!(true)] {
            let patch = json!([{"op": "replace", "path": "", "value": scalar}]);
            assert_eq!(run(doc.clone(), patch).unwrap(), doc);
        }
        let patch = json!([{"op": "replace", "path": "", "value": {"data": {}}}]);
        assert_eq!(run(doc.clone(), patch).unwrap(), json!({"data": {}}));
        let patch = json!([{"op": "add", "path": "", "value": {}}]);
        assert_eq!(code(run(doc, patch)), 422);
    }

    #[test]
    fn decoding_errors_are_400_and_application_errors_are_422() {
        let doc = json!({"data": {"a": "b"}});
        let status = |patch: Value| code(run(doc.clone(), patch));
        assert_eq!(status(json!({"op": "nope"})), 400);
        assert_eq!(status(json!([1])), 400);
        assert_eq!(status(json!([{"op": 1, "path": "/x"}])), 400);
        assert_eq!(status(json!([{"op": "nope", "path": "/x"}])), 422);
        assert_eq!(status(json!([{"op": "remove"}])), 422);
        assert_eq!(status(json!([{"op": "remove", "path": "/nope"}])), 422);
        assert_eq!(
            status(json!([{"op": "test", "path": "/data/a", "value": "c"}])),
            422
        );
        assert_eq!(
            status(json!([{"op": "test", "path": "/nope", "value": null}])),
            200
        );
        assert_eq!(status(json!(null)), 200);
        let err = run(doc, json!({"op": "nope"})).err().unwrap();
        assert_eq!(
            err.to_string(),
            "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
        );
    }

    #[test]
    fn ignore_skips_the_strict_decoding() {
        let mut doc = json!({});
        let err = apply(&mut doc, b"{}", Mode::Ignore).err().unwrap();
        assert_eq!(
            err.to_string(),
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
        let err = apply(&mut doc, br#"[{"op": 1, "path": "/x"}]"#, Mode::Ignore)
            .err()
            .unwrap();
        assert_eq!(err.code(), 422);
    }
}
