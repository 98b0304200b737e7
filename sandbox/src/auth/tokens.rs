//! Bearer tokens: the static admin token and ServiceAccount tokens, issued through the
//! TokenRequest API ([`super::token_request`],
//! <https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/>)
//! or by the sandbox's own API.
//!
//! Real ServiceAccount tokens are signed JWTs; the sandbox hands out opaque random strings
//! and remembers them, which is enough for clients, that never look inside. Like the real
//! token authenticator (`pkg/serviceaccount/claims.go`), a token stops working when it
//! expires or when its ServiceAccount is deleted (the uid bound into the token no longer
//! matches), and then the request is `401 Unauthorized` with the plain `Unauthorized` Status
//! (the authenticator's reason, e.g. "service account token has been invalidated", is only
//! logged).
//!
//! A TokenRequest may bind the token to an object (`spec.boundObjectRef`), as
//! `pkg/registry/core/serviceaccount/storage/token.go` handles it: a Secret of the
//! ServiceAccount's namespace (a Pod or Node, the other kinds a real server binds to, are not
//! served here, so they are answered as missing: 404 `pods "x" not found`); it must exist
//! (404 otherwise) and have the `uid` given, if any (409). The token then authenticates only
//! while the Secret exists with that uid and is not being deleted for longer than the
//! validator's leeway (60 s after its `deletionTimestamp`; a Secret without finalizers is gone
//! at once). Approximation: kube-apiserver caches successful token authentications for 10 s
//! (`TokenSuccessCacheTTL` of its authenticator configuration), so on a real server a token
//! may go on working that long after its Secret is deleted; the sandbox checks every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::UserInfo;
use crate::meta::object::meta_str;
use crate::storage::Store;

/// How long after its `deletionTimestamp` a bound object still validates tokens
/// (`jwt.DefaultLeeway`).
const DELETION_LEEWAY: Duration = Duration::from_secs(60);

/// The Secret a token is bound to (in the ServiceAccount's namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoundSecret {
    /// The Secret's name.
    pub(crate) name: String,
    /// Its uid when the token was issued.
    pub(crate) uid: String,
}

/// One issued ServiceAccount token.
#[derive(Debug, Clone)]
struct Issued {
    namespace: String,
    name: String,
    uid: String,
    expires: SystemTime,
    bound: Option<BoundSecret>,
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
pub(crate) struct TokenStore {
    issued: Arc<Mutex<HashMap<String, Issued>>>,
}

impl TokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues a token for an existing ServiceAccount, valid for `ttl`.
    pub(crate) fn issue(
        &self,
        store: &Store,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<(String, SystemTime), TokenError> {
        self.issue_bound(store, namespace, name, ttl, None)
    }

    /// Issues a token for an existing ServiceAccount, valid for `ttl` and, if `bound` is
    /// given, only while that Secret exists.
    pub(crate) fn issue_bound(
        &self,
        store: &Store,
        namespace: &str,
        name: &str,
        ttl: Duration,
        bound: Option<BoundSecret>,
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
                bound,
            },
        );
        Ok((token, expires))
    }

    /// The user of a ServiceAccount token, if it is known, unexpired, its ServiceAccount
    /// still exists with the same uid, and so does the Secret it may be bound to (not
    /// deleted longer ago than the leeway).
    pub(crate) fn authenticate(&self, store: &Store, token: &str) -> Option<UserInfo> {
        let issued = self.lock().get(token).cloned()?;
        if issued.expires <= SystemTime::now() {
            return None;
        }
        let uid = service_account_uid(store, &issued.namespace, &issued.name)?;
        if uid != issued.uid {
            return None;
        }
        if let Some(bound) = &issued.bound {
            let secret = secret(store, &issued.namespace, &bound.name)?;
            if meta_str(&secret, "uid") != bound.uid || deleted_beyond_leeway(&secret) {
                return None;
            }
        }
        Some(UserInfo::service_account(&issued.namespace, &issued.name))
    }

    /// Expires one token now, a sandbox-only shortcut for what deleting the object a real
    /// token is bound to does (the faithful way, on both targets: a TokenRequest with a
    /// Secret as `boundObjectRef`, then delete the Secret); the others stay valid. Returns
    /// whether the token was known.
    pub(crate) fn revoke(&self, token: &str) -> bool {
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
    pub(crate) fn expire_all(&self) -> usize {
        let now = SystemTime::now();
        let mut issued = self.lock();
        for entry in issued.values_mut() {
            entry.expires = entry.expires.min(now);
        }
        issued.len()
    }
}

pub(crate) fn secret(store: &Store, namespace: &str, name: &str) -> Option<Arc<Value>> {
    store.get(
        &(String::new(), "secrets".to_owned()),
        &(namespace.to_owned(), name.to_owned()),
    )
}

/// Whether an object's `deletionTimestamp` is older than the validator's leeway.
fn deleted_beyond_leeway(obj: &Value) -> bool {
    let deleted = meta_str(obj, "deletionTimestamp");
    if deleted.is_empty() {
        return false;
    }
    let Ok(at) = deleted.parse::<jiff::Timestamp>() else {
        return false;
    };
    let leeway = jiff::SignedDuration::try_from(DELETION_LEEWAY).unwrap_or_default();
    at.checked_add(leeway)
        .is_ok_and(|limit| limit < jiff::Timestamp::now())
}

pub(crate) fn service_account_uid(store: &Store, namespace: &str, name: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bound_object_being_deleted_still_validates_tokens_for_the_leeway() {
        let at = |ago: i64| {
            let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago);
            json!({"metadata": {"deletionTimestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}})
        };
        assert!(!deleted_beyond_leeway(&json!({"metadata": {}})));
        assert!(!deleted_beyond_leeway(&at(10)));
        assert!(deleted_beyond_leeway(&at(61)));
    }
}
