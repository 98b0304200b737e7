//! The TokenRequest the end-to-end tests and the demos ask a ServiceAccount's token with: one
//! definition for both (`#[path]`-included by `examples/demo`).

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};

/// What a token is bound to, so that deleting it revokes the token (as deleting a Pod revokes
/// the tokens the kubelet requested for it).
#[derive(Clone, Debug)]
pub struct BoundTo {
    /// A Secret in the ServiceAccount's namespace.
    pub secret: String,
    /// Its uid.
    pub uid: String,
}

/// A request for a token valid `seconds` (a real API server grants at least 600), bound to
/// `bound` when given.
pub fn token_request(seconds: i64, bound: Option<&BoundTo>) -> TokenRequest {
    TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(seconds),
            bound_object_ref: bound.map(|b| BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                name: Some(b.secret.clone()),
                uid: Some(b.uid.clone()),
            }),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    }
}
