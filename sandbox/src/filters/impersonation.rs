//! User impersonation through `Impersonate-User` and `Impersonate-Group` headers, like the
//! apiserver's `WithImpersonation` filter
//! (<https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation>).
//!
//! Each requested identity is checked as the verb `impersonate` in the core group on
//! `users/{name}`, `serviceaccounts/{name}` in its namespace (for
//! `system:serviceaccount:{ns}:{name}`) or `groups/{name}`, and in `authentication.k8s.io`
//! on `userextras/{key}` (`Impersonate-Extra-{key}`) and `uids` (`Impersonate-Uid`; uid
//! and extras are checked but not carried further); a denial is the usual 403 for
//! those attributes. The impersonated user gets `system:authenticated`, and a ServiceAccount
//! impersonated without explicit groups gets its ServiceAccount groups.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;

use super::{Gate, answered_to};

use crate::auth::attributes::Attributes;
use crate::auth::rbac::Decision;
use crate::auth::{self, UserInfo, forbidden};
use crate::meta::error::ApiError;

/// The filter: the impersonated user replaces the authenticated one for every filter after it.
pub(crate) async fn layer(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let requester = super::user(&request);
    let authorize = |a: &Attributes| crate::auth::rbac::authorize(gate.store(), a);
    match impersonate(request.headers(), &requester, authorize) {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user.clone());
            let mut response = next.run(request).await;
            answered_to(&mut response, &user);
            response
        }
        Ok(None) => next.run(request).await,
        Err(response) => *response,
    }
}

const USER_HEADER: &str = "impersonate-user";
const GROUP_HEADER: &str = "impersonate-group";
const UID_HEADER: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Applies the impersonation headers: `Ok(None)` when there are none, `Ok(Some(user))` for
/// an allowed impersonation, `Err` with the 403 (or 500 for groups without a user, as the
/// real filter answers) otherwise (boxed: responses are large).
pub(crate) fn impersonate(
    headers: &HeaderMap,
    requester: &UserInfo,
    authorize: impl Fn(&Attributes) -> Decision,
) -> Result<Option<UserInfo>, Box<Response>> {
    let user = headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let groups: Vec<String> = headers
        .get_all(GROUP_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let uid = headers.get(UID_HEADER).and_then(|v| v.to_str().ok());
    // Extra keys arrive lower-cased in the header name (kube-rs and client-go percent-encode
    // unusual characters; the sandbox does not decode them).
    let extras: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(EXTRA_PREFIX)?;
            Some((key, value.to_str().ok()?))
        })
        .collect();
    let Some(username) = user else {
        if groups.is_empty() && uid.is_none() && extras.is_empty() {
            return Ok(None);
        }
        return Err(Box::new(axum::response::IntoResponse::into_response(
            ApiError::Internal(
                "Internal error occurred: requested impersonation of groups, uid or extras \
                 without impersonating a user"
                    .to_owned(),
            ),
        )));
    };
    let check_in = |group: &str,
                    resource: &str,
                    subresource: &str,
                    namespace: &str,
                    name: &str|
     -> Result<(), Box<Response>> {
        let attrs = Attributes::resource(
            requester.clone(),
            "impersonate",
            group,
            resource,
            subresource,
            namespace,
            name,
        );
        match authorize(&attrs) {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(reason) => Err(Box::new(forbidden::response(&attrs, &reason))),
        }
    };
    let check =
        |resource: &str, namespace: &str, name: &str| check_in("", resource, "", namespace, name);
    let mut impersonated_groups = groups.clone();
    if let Some((ns, name)) = auth::split_service_account(&username) {
        check("serviceaccounts", ns, name)?;
        if groups.is_empty() {
            impersonated_groups = UserInfo::service_account(ns, name).groups;
        }
    } else {
        check("users", "", &username)?;
    }
    for group in &groups {
        check("groups", "", group)?;
    }
    for (key, value) in &extras {
        check_in("authentication.k8s.io", "userextras", key, "", value)?;
    }
    if let Some(uid) = uid {
        check_in("authentication.k8s.io", "uids", "", "", uid)?;
    }
    if !impersonated_groups.iter().any(|g| g == auth::AUTHENTICATED) {
        impersonated_groups.push(auth::AUTHENTICATED.to_owned());
    }
    Ok(Some(UserInfo {
        name: username,
        groups: impersonated_groups,
    }))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, http::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn every_requested_identity_is_checked_in_the_filter_order() {
        let seen = RefCell::new(Vec::new());
        let authorize = |a: &Attributes| {
            seen.borrow_mut().push(format!(
                "{}:{}:{}",
                a.api_group,
                a.combined_resource(),
                a.name
            ));
            Decision::Allow(String::new())
        };
        let h = headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-group", "g1"),
            ("impersonate-group", "g2"),
            ("impersonate-extra-scopes", "view"),
            ("impersonate-uid", "1234"),
        ]);
        let user = impersonate(&h, &UserInfo::admin(), authorize)
            .ok()
            .flatten();
        assert_eq!(
            user.map(|u| (u.name, u.groups)),
            Some((
                "bob".to_owned(),
                vec!["g1".into(), "g2".into(), "system:authenticated".into()]
            ))
        );
        assert_eq!(
            seen.into_inner(),
            vec![
                ":users:bob",
                ":groups:g1",
                ":groups:g2",
                "authentication.k8s.io:userextras/scopes:view",
                "authentication.k8s.io:uids:1234"
            ]
        );
    }

    #[test]
    fn groups_without_a_user_are_refused_and_no_headers_change_nothing() {
        let allow = |_: &Attributes| Decision::Allow(String::new());
        let groups_only = headers(&[("impersonate-group", "g1")]);
        let refused = impersonate(&groups_only, &UserInfo::admin(), allow);
        assert!(refused.is_err_and(|r| r.status() == http::StatusCode::INTERNAL_SERVER_ERROR));
        assert!(matches!(
            impersonate(&HeaderMap::new(), &UserInfo::admin(), allow),
            Ok(None)
        ));
    }
}
