//! ServiceAccounts for the flowcontrol and token tests: one with RBAC to list ConfigMaps of
//! its namespace, tokens from the TokenRequest API (optionally bound to a Secret), clients
//! that authenticate with them, and raw requests that show status, headers and body. Works on
//! both targets of [`crate::common::Target`].

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// `system:serviceaccount:{namespace}:{name}`.
pub fn user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Creates ServiceAccount `name` in `namespace`, allowed to get and list its ConfigMaps.
pub async fn service_account(client: &kube::Client, namespace: &str, name: &str) -> ServiceAccount {
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a ServiceAccount");
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &sa)
        .await
        .expect("the ServiceAccount is created");
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }))
    .expect("a Role");
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .expect("the Role is created");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    }))
    .expect("a RoleBinding");
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("the RoleBinding is created");
    sa
}

/// The TokenRequest for ServiceAccount `name`, bound to `secret` if given.
pub fn token_request(bound: Option<serde_json::Value>) -> TokenRequest {
    let mut spec = json!({"audiences": []});
    if let Some(bound) = bound {
        spec["boundObjectRef"] = bound;
    }
    serde_json::from_value(json!({"spec": spec})).expect("a TokenRequest")
}

/// The `boundObjectRef` naming a Secret (with its uid).
pub fn bound_to(secret: &Secret) -> serde_json::Value {
    json!({
        "kind": "Secret",
        "apiVersion": "v1",
        "name": secret.metadata.name,
        "uid": secret.metadata.uid,
    })
}

/// Asks the TokenRequest API for a token of ServiceAccount `namespace/name`.
pub async fn request_token(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    bound: Option<serde_json::Value>,
) -> Result<TokenRequest, kube::Error> {
    Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &token_request(bound))
        .await
}

/// A token of ServiceAccount `namespace/name` (bound to the Secret if given).
pub async fn token(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    bound: Option<serde_json::Value>,
) -> String {
    request_token(client, namespace, name, bound)
        .await
        .expect("a token is issued")
        .status
        .expect("the TokenRequest has a status")
        .token
        .expect("the status has a token")
}

/// A client of the target authenticating with `token` only (no client certificate), without
/// kube-rs' retries of 429, 503 and 504, so tests see the answers.
pub fn client_for_token(config: &kube::Config, token: &str) -> kube::Client {
    let mut config = config.clone();
    config.auth_info = serde_json::from_value(json!({ "token": token })).expect("an AuthInfo");
    config.default_retry = false;
    kube::Client::try_from(config).expect("a client for the token")
}

/// A client of the target impersonating `user` in `groups`, without retries.
pub fn client_impersonating(config: &kube::Config, user: &str, groups: &[&str]) -> kube::Client {
    let mut config = config.clone();
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_owned()).collect());
    config.default_retry = false;
    kube::Client::try_from(config).expect("an impersonating client")
}

/// An answer as the wire had it.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// A header as text, "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// `GET path` with `client`, read whole.
pub async fn get(client: &kube::Client, path: &str) -> Answer {
    let request = http::Request::get(path)
        .body(kube::client::Body::empty())
        .expect("a GET request");
    let response = client.send(request).await.expect("an HTTP answer");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(axum::body::Body::new(body), usize::MAX)
        .await
        .expect("the body is read");
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
