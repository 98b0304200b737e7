//! Decoding of `application/vnd.kubernetes.protobuf` request bodies for the built-in kinds.
//!
//! client-go's typed clients (e.g. `kubectl create namespace|configmap|secret|serviceaccount`) send
//! protobuf: the 4-byte magic `k8s\0` and a `runtime.Unknown` envelope carrying the
//! `TypeMeta` and the object's own protobuf encoding
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding>). The
//! sandbox stores JSON, so it decodes the few kinds it serves with a table of their field
//! numbers (from `k8s.io/api/.../generated.proto`); responses stay JSON, which client-go
//! accepts since it decodes by the response `Content-Type`.

use base64::Engine;
use protobuf::UnknownValue;
use protobuf::rt::WireType;
use serde_json::{Map, Value, json};

use crate::meta::error::ApiError;

/// The media type.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// How one field is encoded.
#[derive(Clone, Copy)]
enum Ty {
    /// `string`.
    Str,
    /// `int32`/`int64`.
    Int,
    /// `bool`.
    Bool,
    /// `bytes`, base64 in JSON.
    Bytes,
    /// `metav1.Time` (second precision).
    Time,
    /// `metav1.MicroTime`.
    MicroTime,
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>`.
    MapBytes,
    /// A nested message.
    Msg(&'static [F]),
}

/// A field: number, JSON name, type, repeated.
type F = (u32, &'static str, Ty, bool);

const OWNER_REFERENCE: &[F] = &[
    (1, "kind", Ty::Str, false),
    (3, "name", Ty::Str, false),
    (4, "uid", Ty::Str, false),
    (5, "apiVersion", Ty::Str, false),
    (6, "controller", Ty::Bool, false),
    (7, "blockOwnerDeletion", Ty::Bool, false),
];

const OBJECT_META: &[F] = &[
    (1, "name", Ty::Str, false),
    (2, "generateName", Ty::Str, false),
    (3, "namespace", Ty::Str, false),
    (5, "uid", Ty::Str, false),
    (6, "resourceVersion", Ty::Str, false),
    (7, "generation", Ty::Int, false),
    (8, "creationTimestamp", Ty::Time, false),
    (9, "deletionTimestamp", Ty::Time, false),
    (10, "deletionGracePeriodSeconds", Ty::Int, false),
    (11, "labels", Ty::MapStr, false),
    (12, "annotations", Ty::MapStr, false),
    (13, "ownerReferences", Ty::Msg(OWNER_REFERENCE), true),
    (14, "finalizers", Ty::Str, true),
];

const OBJECT_REFERENCE: &[F] = &[
    (1, "kind", Ty::Str, false),
    (2, "namespace", Ty::Str, false),
    (3, "name", Ty::Str, false),
    (4, "uid", Ty::Str, false),
    (5, "apiVersion", Ty::Str, false),
    (6, "resourceVersion", Ty::Str, false),
    (7, "fieldPath", Ty::Str, false),
];

const LOCAL_OBJECT_REFERENCE: &[F] = &[(1, "name", Ty::Str, false)];

const CONFIG_MAP: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "data", Ty::MapStr, false),
    (3, "binaryData", Ty::MapBytes, false),
    (4, "immutable", Ty::Bool, false),
];

const NAMESPACE_SPEC: &[F] = &[(1, "finalizers", Ty::Str, true)];
const NAMESPACE_STATUS: &[F] = &[(1, "phase", Ty::Str, false)];
const NAMESPACE: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "spec", Ty::Msg(NAMESPACE_SPEC), false),
    (3, "status", Ty::Msg(NAMESPACE_STATUS), false),
];

const SERVICE_ACCOUNT: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "secrets", Ty::Msg(OBJECT_REFERENCE), true),
    (3, "imagePullSecrets", Ty::Msg(LOCAL_OBJECT_REFERENCE), true),
    (4, "automountServiceAccountToken", Ty::Bool, false),
];

const SECRET: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "data", Ty::MapBytes, false),
    (3, "type", Ty::Str, false),
    (4, "stringData", Ty::MapStr, false),
    (5, "immutable", Ty::Bool, false),
];

const LEASE_SPEC: &[F] = &[
    (1, "holderIdentity", Ty::Str, false),
    (2, "leaseDurationSeconds", Ty::Int, false),
    (3, "acquireTime", Ty::MicroTime, false),
    (4, "renewTime", Ty::MicroTime, false),
    (5, "leaseTransitions", Ty::Int, false),
    (6, "strategy", Ty::Str, false),
    (7, "preferredHolder", Ty::Str, false),
];
const LEASE: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "spec", Ty::Msg(LEASE_SPEC), false),
];

const SELF_SUBJECT_REVIEW: &[F] = &[(1, "metadata", Ty::Msg(OBJECT_META), false)];

const RESOURCE_ATTRIBUTES: &[F] = &[
    (1, "namespace", Ty::Str, false),
    (2, "verb", Ty::Str, false),
    (3, "group", Ty::Str, false),
    (4, "version", Ty::Str, false),
    (5, "resource", Ty::Str, false),
    (6, "subresource", Ty::Str, false),
    (7, "name", Ty::Str, false),
];
const NON_RESOURCE_ATTRIBUTES: &[F] = &[(1, "path", Ty::Str, false), (2, "verb", Ty::Str, false)];
const ACCESS_REVIEW_SPEC: &[F] = &[
    (1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES), false),
    (
        2,
        "nonResourceAttributes",
        Ty::Msg(NON_RESOURCE_ATTRIBUTES),
        false,
    ),
];
const SELF_SUBJECT_ACCESS_REVIEW: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "spec", Ty::Msg(ACCESS_REVIEW_SPEC), false),
];

const RULES_REVIEW_SPEC: &[F] = &[(1, "namespace", Ty::Str, false)];
const SELF_SUBJECT_RULES_REVIEW: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "spec", Ty::Msg(RULES_REVIEW_SPEC), false),
];

const BOUND_OBJECT_REFERENCE: &[F] = &[
    (1, "kind", Ty::Str, false),
    (2, "apiVersion", Ty::Str, false),
    (3, "name", Ty::Str, false),
    (4, "uid", Ty::Str, false),
];
const TOKEN_REQUEST_SPEC: &[F] = &[
    (1, "audiences", Ty::Str, true),
    (3, "boundObjectRef", Ty::Msg(BOUND_OBJECT_REFERENCE), false),
    (4, "expirationSeconds", Ty::Int, false),
];
const TOKEN_REQUEST: &[F] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "spec", Ty::Msg(TOKEN_REQUEST_SPEC), false),
];

const TYPE_META: &[F] = &[
    (1, "apiVersion", Ty::Str, false),
    (2, "kind", Ty::Str, false),
];
const UNKNOWN: &[F] = &[
    (1, "typeMeta", Ty::Msg(TYPE_META), false),
    (2, "raw", Ty::Bytes, false),
    (3, "contentEncoding", Ty::Str, false),
    (4, "contentType", Ty::Str, false),
];

fn bad(detail: &str) -> ApiError {
    ApiError::BadRequest(format!("unable to decode protobuf body: {detail}"))
}

/// Decodes an enveloped protobuf object of a supported kind into its JSON form.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let payload = body
        .strip_prefix(b"k8s\x00")
        .ok_or_else(|| bad("missing k8s magic prefix"))?;
    let envelope = message(payload, UNKNOWN)?;
    let api_version = envelope
        .pointer("/typeMeta/apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = envelope
        .pointer("/typeMeta/kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let raw = envelope
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let fields = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "Secret") => SECRET,
        ("coordination.k8s.io/v1", "Lease") => LEASE,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the sandbox cannot decode {kind} {api_version} from protobuf; send application/json"
            )));
        }
    };
    let mut object = message(&raw, fields)?;
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(object)
}

/// One field's value as the wire carries it.
enum Wire {
    Varint(u64),
    Bytes(Vec<u8>),
    Fixed,
}

/// A message's fields by their numbers in `fields` (others are skipped), as JSON. The wire
/// format is read by rust-protobuf's `CodedInputStream`; the field tables above stand for the
/// generated types, which no crate in the tree has for the Kubernetes API (`k8s-pb` is not
/// in it, and `k8s-openapi` has no protobuf).
fn message(buf: &[u8], fields: &[F]) -> Result<Value, ApiError> {
    let wire_error = |e: protobuf::Error| bad(&e.to_string());
    let mut out = Map::new();
    let mut input = protobuf::CodedInputStream::from_bytes(buf);
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(wire_error)? {
        let number = tag >> 3;
        let wire_type = WireType::new(tag & 7).ok_or_else(|| bad("unsupported wire type"))?;
        let wire = match input.read_unknown(wire_type).map_err(wire_error)? {
            UnknownValue::Varint(v) => Wire::Varint(v),
            UnknownValue::LengthDelimited(bytes) => Wire::Bytes(bytes),
            UnknownValue::Fixed32(_) | UnknownValue::Fixed64(_) => Wire::Fixed,
        };
        let Some((_, name, ty, repeated)) = fields.iter().find(|f| f.0 == number) else {
            continue;
        };
        let value = match (ty, wire) {
            (Ty::Str, Wire::Bytes(b)) => Value::String(String::from_utf8_lossy(&b).into_owned()),
            (Ty::Bytes, Wire::Bytes(b)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            // Two's complement: int64 (and sign-extended int32) negatives.
            (Ty::Int, Wire::Varint(v)) => json!(v.cast_signed()),
            (Ty::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
            (Ty::Time | Ty::MicroTime, Wire::Bytes(b)) => time(&b, matches!(ty, Ty::MicroTime))?,
            (Ty::MapStr | Ty::MapBytes, Wire::Bytes(b)) => {
                let value_ty = if matches!(ty, Ty::MapBytes) {
                    Ty::Bytes
                } else {
                    Ty::Str
                };
                let entry_fields: &[F] =
                    &[(1, "key", Ty::Str, false), (2, "value", value_ty, false)];
                let entry = message(&b, entry_fields)?;
                let key = entry
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let value = entry.get("value").cloned().unwrap_or_else(|| json!(""));
                let map = out.entry((*name).to_owned()).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
                continue;
            }
            (Ty::Msg(inner), Wire::Bytes(b)) => message(&b, inner)?,
            _ => return Err(bad(&format!("unexpected encoding of field {name}"))),
        };
        // gogo-protobuf writes non-pointer fields even when empty, where JSON's `omitempty`
        // leaves them out: drop empty strings, a zero generation and the zero time.
        let empty = match (&value, ty) {
            (Value::String(v), Ty::Str) => v.is_empty() && !*repeated,
            (Value::Number(n), Ty::Int) => *name == "generation" && n.as_i64() == Some(0),
            (Value::Null, _) => true,
            _ => false,
        };
        if empty {
            continue;
        }
        if *repeated {
            let list = out.entry((*name).to_owned()).or_insert_with(|| json!([]));
            if let Some(items) = list.as_array_mut() {
                items.push(value);
            }
        } else {
            out.insert((*name).to_owned(), value);
        }
    }
    Ok(Value::Object(out))
}

/// `metav1.Time` / `MicroTime`: `{seconds: 1, nanos: 2}` to RFC 3339.
fn time(buf: &[u8], micro: bool) -> Result<Value, ApiError> {
    let fields: &[F] = &[(1, "seconds", Ty::Int, false), (2, "nanos", Ty::Int, false)];
    let t = message(buf, fields)?;
    let seconds = t.get("seconds").and_then(Value::as_i64).unwrap_or(0);
    let nanos = t.get("nanos").and_then(Value::as_i64).unwrap_or(0);
    if seconds == 0 && nanos == 0 {
        return Ok(Value::Null);
    }
    let nanos = i32::try_from(nanos).unwrap_or(0);
    let ts = jiff::Timestamp::new(seconds, nanos).map_err(|e| bad(&e.to_string()))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(ts.strftime(format).to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn an_enveloped_configmap_decodes_to_its_json_form() {
        let meta = [field(1, b"cm"), field(2, b""), field(3, b"default")].concat();
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let configmap = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let envelope = [field(1, &type_meta), field(2, &configmap)].concat();
        let body = [b"k8s\x00".as_slice(), &envelope].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": "default"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn unsupported_kinds_are_415() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\x00".as_slice(), &field(1, &type_meta)].concat();
        assert_eq!(decode(&body).err().unwrap().code(), 415);
    }
}
