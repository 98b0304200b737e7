//! How a request body decodes into an object of a served kind, with the errors of the
//! apiserver's JSON serializer and of the handlers' `transformDecodeError`: the shape of the
//! value, its `kind` and `apiVersion` ([`check_type`]), and a patch result that no longer
//! decodes ([`check_patched`]).

use serde_json::{Value, json};

use super::ResourceInfo;
use super::strategy_of;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;

/// Why a JSON value cannot decode into an object of `info`'s kind, in the words of the
/// apiserver's JSON serializer: `SimpleMetaFactory.Interpret` fails on anything but an object
/// (`couldn't get version/kind; json parse error: ...`), and a `metadata` that is no object is
/// `encoding/json`'s `UnmarshalTypeError` for the typed field. The flag says whether the
/// version and kind could be read (they can when the value is an object).
fn shape_error(info: &ResourceInfo, obj: &Value) -> Option<(String, bool)> {
    let go_type = |v: &Value| match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    };
    if !obj.is_object() {
        return Some((
            format!(
                "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
                go_type(obj)
            ),
            false,
        ));
    }
    match obj.get("metadata") {
        None | Some(Value::Null | Value::Object(_)) => None,
        Some(other) => Some((
            format!(
                "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
                go_type(other),
                info.kind
            ),
            true,
        )),
    }
}

/// Rejects a request body that cannot decode into an object with ObjectMeta with the 400 of
/// the create and update handlers' `transformDecodeError` (`endpoints/handlers/rest.go`):
/// `<Kind> in version "<v>" cannot be handled as a <Kind>: <error>` when the body names (or
/// defaults to) a kind, else `the object provided is unrecognized (must be of type <Kind>):
/// <error> (<the body's first 30 bytes>)`, as `summarizeData` shows them.
pub(crate) fn check_shape(info: &ResourceInfo, obj: &Value, body: &[u8]) -> Result<(), ApiError> {
    let Some((error, typed)) = shape_error(info, obj) else {
        return Ok(());
    };
    let kind = &info.kind;
    Err(ApiError::BadRequest(if typed {
        format!(
            "{kind} in version {} cannot be handled as a {kind}: {error}",
            go_quote(&info.version)
        )
    } else {
        format!(
            "the object provided is unrecognized (must be of type {kind}): {error} ({})",
            summarize(body)
        )
    }))
}

/// `summarizeData(body, 30)`: an object's text, anything else in hex, cut at 30 bytes.
pub(crate) fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = body.len() > MAX;
    let head = &body[..body.len().min(MAX)];
    let shown = match head.first() {
        None => return "<empty>".to_owned(),
        Some(b'{') => String::from_utf8_lossy(head).into_owned(),
        Some(_) => head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    if cut { format!("{shown} ...") } else { shown }
}

/// Rejects a patch result that cannot decode into an object of the kind with the 422 of
/// `jsonPatcher.applyPatchToCurrentObject`: `errors.NewInvalid(schema.GroupKind{}, "", ...)`
/// with one `patch` cause holding the patched JSON and the decoder's error, so the message
/// starts with ` "" is invalid: patch: Invalid value: ` (an empty kind and name).
pub(crate) fn check_patched(info: &ResourceInfo, patched: &Value) -> Result<(), ApiError> {
    let Some((error, _)) = shape_error(info, patched) else {
        return Ok(());
    };
    Err(invalid_patch(patched, &error))
}

/// `errors.NewInvalid(schema.GroupKind{}, "", [field.Invalid("patch", <patched JSON>, error)])`,
/// the 422 of a patch result that fails to decode.
pub(crate) fn invalid_patch(patched: &Value, error: &str) -> ApiError {
    ApiError::invalid(
        "",
        "",
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {error}", go_quote(&patched.to_string())),
            field: "patch".into(),
        }],
    )
}

/// Checks `kind`/`apiVersion` of a request body against the resource and fills them in when
/// absent.
pub(crate) fn check_type(
    info: &ResourceInfo,
    obj: &mut Value,
    body: &[u8],
) -> Result<(), ApiError> {
    check_shape(info, obj, body)?;
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::BadRequest(
            "the object provided is not a JSON object".into(),
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != info.kind {
        // The serializer decodes the body as the kind it names, and the codec's conversion to
        // the resource's internal type fails; `transformDecodeError` words it.
        let version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.rsplit('/').next())
            .unwrap_or(&info.version)
            .to_owned();
        let internal = match strategy_of(info).internal_group(info) {
            "" => "core",
            group => group.split('.').next().unwrap_or(group),
        };
        let detail = if info.custom {
            format!("kind {kind} does not match {}", info.kind)
        } else {
            format!(
                "converting ({version}.{kind}) to ({internal}.{}): unknown conversion",
                info.kind
            )
        };
        return Err(ApiError::BadRequest(format!(
            "{kind} in version {} cannot be handled as a {}: {detail}",
            go_quote(&version),
            info.kind
        )));
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if !api_version.is_empty() && group != info.group {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    map.insert("kind".into(), Value::String(info.kind.clone()));
    map.insert("apiVersion".into(), Value::String(info.api_version()));
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), json!({}));
    }
    Ok(())
}
