//! The TokenRequest API (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`), as
//! `pkg/registry/core/serviceaccount/storage/token.go` answers it; see [`super::tokens`] for
//! what the issued tokens are and how long they work.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::tokens::{BoundSecret, TokenStore, secret, service_account_uid};
use crate::http::protobuf;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::{meta_str, now};
use crate::storage::Store;

/// Default `spec.expirationSeconds` of a TokenRequest, as the apiserver defaults it.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Shortest `spec.expirationSeconds` the apiserver accepts (10 minutes).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Longest `spec.expirationSeconds` the apiserver accepts (2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The audience the sandbox puts into TokenRequest responses (the in-cluster default).
const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

/// Resolves `spec.boundObjectRef` like the TokenRequest REST handler: the Secret it names
/// (its uid checked), or the real answer for a missing object or an unsupported kind.
fn bind(store: &Store, namespace: &str, bound: &Value) -> Result<BoundSecret, ApiError> {
    let field = |key: &str| bound.get(key).and_then(Value::as_str).unwrap_or_default();
    let (kind, object) = (field("kind"), field("name"));
    let api_version = field("apiVersion");
    // `schema.FromAPIVersionAndKind`: "v1" is the core group, "g/v" group g.
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let uid = match (group, kind) {
        ("", "Secret") => secret(store, namespace, object)
            .map(|s| meta_str(&s, "uid").to_owned())
            .ok_or_else(|| ApiError::not_found("", "secrets", object))?,
        ("", "Pod") => return Err(ApiError::not_found("", "pods", object)),
        ("", "Node") => return Err(ApiError::not_found("", "nodes", object)),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )));
        }
    };
    let want = field("uid");
    if !want.is_empty() && want != uid {
        return Err(ApiError::Conflict {
            group: String::new(),
            resource: kind.to_owned(),
            name: object.to_owned(),
            detail: format!(
                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
            causes: Vec::new(),
        });
    }
    Ok(BoundSecret {
        name: object.to_owned(),
        uid,
    })
}

/// Answers `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with a
/// `TokenRequest` carrying `status.token` and `status.expirationTimestamp` (201 Created),
/// checking the request in the order of the real handler: metadata, ServiceAccount (404),
/// `expirationSeconds` (422), then `boundObjectRef`.
pub(crate) fn token_request(
    tokens: &TokenStore,
    store: &Store,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let request: Value = if body.is_empty() {
        json!({})
    } else if content_type == protobuf::CONTENT_TYPE {
        // `kubectl create token` sends protobuf, like client-go's typed clients.
        protobuf::decode(body)?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the object provided is unrecognized: {e}"))
        })?
    };
    let given = |key: &str| meta_str(&request, key).to_owned();
    if !given("name").is_empty() && given("name") != name {
        return Err(invalid(
            name,
            "metadata.name",
            format!(
                "Invalid value: {}: must match the service account name if specified",
                go_quote(&given("name"))
            ),
        ));
    }
    if !given("namespace").is_empty() && given("namespace") != namespace {
        return Err(invalid(
            name,
            "metadata.namespace",
            format!(
                "Invalid value: {}: must match the service account namespace if specified",
                go_quote(&given("namespace"))
            ),
        ));
    }
    if service_account_uid(store, namespace, name).is_none() {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let seconds = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let too = if seconds < MIN_EXPIRATION_SECONDS {
        Some("may not specify a duration less than 10 minutes")
    } else if seconds > MAX_EXPIRATION_SECONDS {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(detail) = too {
        // `errors.NewInvalid(gvk.GroupKind(), "", errs)`: the object has no name here.
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            format!("Invalid value: {seconds}: {detail}"),
        ));
    }
    let bound_ref = request
        .pointer("/spec/boundObjectRef")
        .filter(|b| !b.is_null());
    let bound = bound_ref.map(|b| bind(store, namespace, b)).transpose()?;
    let ttl = Duration::from_secs(u64::try_from(seconds).unwrap_or_default());
    let (token, expires) = tokens
        .issue_bound(store, namespace, name, ttl, bound)
        .map_err(|_| ApiError::not_found("", "serviceaccounts", name))?;
    let audiences = request
        .pointer("/spec/audiences")
        .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!([AUDIENCE]));
    let format = |t: SystemTime| {
        jiff::Timestamp::try_from(t)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let mut spec = json!({"audiences": audiences, "expirationSeconds": seconds});
    if let Some(bound) = bound_ref {
        spec["boundObjectRef"] = bound.clone();
    }
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now()},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": format(expires)},
    }))
}
