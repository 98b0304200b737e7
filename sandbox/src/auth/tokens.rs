//! Bearer tokens: the static admin token and ServiceAccount tokens issued through the
//! TokenRequest API (`POST .../serviceaccounts/{name}/token`,
//! <https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/>).
//!
//! Real ServiceAccount tokens are signed JWTs; the sandbox hands out opaque random strings
//! and remembers them, which is enough for clients, that never look inside. Like the real
//! token authenticator, a token stops working when it expires or when its ServiceAccount is
//! deleted (the uid bound into the token no longer matches), and then the request is
//! `401 Unauthorized`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::UserInfo;
use crate::status::ApiError;
use crate::store::Store;

/// Default `spec.expirationSeconds` of a TokenRequest, as the apiserver defaults it.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Shortest `spec.expirationSeconds` the apiserver accepts (10 minutes).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The audience the sandbox puts into TokenRequest responses (the in-cluster default).
const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// One issued ServiceAccount token.
#[derive(Debug, Clone)]
struct Issued {
    namespace: String,
    name: String,
    uid: String,
    expires: SystemTime,
}

/// Why a ServiceAccount token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The ServiceAccount does not exist, as the TokenRequest API answers 404.
    #[error("serviceaccounts \"{name}\" not found in namespace \"{namespace}\"")]
    NoServiceAccount {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// The issued ServiceAccount tokens, shared by all requests.
#[derive(Debug, Default, Clone)]
pub struct TokenStore {
    issued: Arc<Mutex<HashMap<String, Issued>>>,
}

impl TokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues a token for an existing ServiceAccount, valid for `ttl`.
    pub fn issue(
        &self,
        store: &Store,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<(String, SystemTime), TokenError> {
        let uid = service_account_uid(store, namespace, name).ok_or_else(|| {
            TokenError::NoServiceAccount {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }
        })?;
        let token = format!(
            "sandbox-sa.{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let expires = SystemTime::now() + ttl;
        self.lock().insert(
            token.clone(),
            Issued {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid,
                expires,
            },
        );
        Ok((token, expires))
    }

    /// The user of a ServiceAccount token, if it is known, unexpired and its ServiceAccount
    /// still exists with the same uid.
    pub fn authenticate(&self, store: &Store, token: &str) -> Option<UserInfo> {
        let issued = self.lock().get(token).cloned()?;
        if issued.expires <= SystemTime::now() {
            return None;
        }
        let uid = service_account_uid(store, &issued.namespace, &issued.name)?;
        (uid == issued.uid).then(|| UserInfo::service_account(&issued.namespace, &issued.name))
    }

    /// Expires one token now, as deleting the object a real token is bound to (its Pod or
    /// Secret) invalidates it; the others stay valid. Returns whether the token was known.
    pub fn revoke(&self, token: &str) -> bool {
        let now = SystemTime::now();
        match self.lock().get_mut(token) {
            Some(entry) => {
                entry.expires = entry.expires.min(now);
                true
            }
            None => false,
        }
    }

    /// Expires every ServiceAccount token now (credential-expiry fault); returns how many.
    pub fn expire_all(&self) -> usize {
        let now = SystemTime::now();
        let mut issued = self.lock();
        for entry in issued.values_mut() {
            entry.expires = entry.expires.min(now);
        }
        issued.len()
    }
}

fn service_account_uid(store: &Store, namespace: &str, name: &str) -> Option<String> {
    let obj = store.get(
        &(String::new(), "serviceaccounts".to_owned()),
        &(namespace.to_owned(), name.to_owned()),
    )?;
    Some(
        obj.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Answers `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with a
/// `TokenRequest` carrying `status.token` and `status.expirationTimestamp` (201 Created).
pub fn token_request(
    tokens: &TokenStore,
    store: &Store,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let request: Value = if body.is_empty() {
        json!({})
    } else if content_type == crate::protobuf::CONTENT_TYPE {
        // `kubectl create token` sends protobuf, like client-go's typed clients.
        crate::protobuf::decode(body)?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the object provided is unrecognized: {e}"))
        })?
    };
    let seconds = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
                field: "spec.expirationSeconds".into(),
            }],
        ));
    }
    let ttl = Duration::from_secs(u64::try_from(seconds).unwrap_or_default());
    let (token, expires) = tokens
        .issue(store, namespace, name, ttl)
        .map_err(|_| ApiError::not_found("", "serviceaccounts", name))?;
    let audiences = request
        .pointer("/spec/audiences")
        .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!([AUDIENCE]));
    let expires = jiff::Timestamp::try_from(expires)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": seconds,
            "boundObjectRef": request.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": {"token": token, "expirationTimestamp": expires},
    }))
}
