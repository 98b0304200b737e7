//! User impersonation through `Impersonate-User` and `Impersonate-Group` headers, like the
//! apiserver's `WithImpersonation` filter
//! (<https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation>).
//!
//! Each requested identity is checked as the verb `impersonate` in the core group on
//! `users/{name}`, `serviceaccounts/{name}` in its namespace (for
//! `system:serviceaccount:{ns}:{name}`) or `groups/{name}`; a denial is the usual 403 for
//! those attributes. The impersonated user gets `system:authenticated`, and a ServiceAccount
//! impersonated without explicit groups gets its ServiceAccount groups.

use axum::response::Response;
use http::HeaderMap;

use super::UserInfo;
use super::attributes::Attributes;
use super::rbac::Decision;
use crate::status::ApiError;

const USER_HEADER: &str = "impersonate-user";
const GROUP_HEADER: &str = "impersonate-group";

/// Applies the impersonation headers: `Ok(None)` when there are none, `Ok(Some(user))` for
/// an allowed impersonation, `Err` with the 403 (or 500 for groups without a user, as the
/// real filter answers) otherwise.
pub fn impersonate(
    headers: &HeaderMap,
    requester: &UserInfo,
    authorize: impl Fn(&Attributes) -> Decision,
) -> Result<Option<UserInfo>, Response> {
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
    let Some(username) = user else {
        if groups.is_empty() {
            return Ok(None);
        }
        return Err(axum::response::IntoResponse::into_response(
            ApiError::Internal(format!(
                "Internal error occurred: requested groups {groups:?} without impersonating a user"
            )),
        ));
    };
    let check = |resource: &str, namespace: &str, name: &str| -> Result<(), Response> {
        let attrs = Attributes::resource(
            requester.clone(),
            "impersonate",
            "",
            resource,
            "",
            namespace,
            name,
        );
        match authorize(&attrs) {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(reason) => Err(super::forbidden::response(&attrs, &reason)),
        }
    };
    let mut impersonated_groups = groups.clone();
    if let Some((ns, name)) = super::split_service_account(&username) {
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
    if !impersonated_groups
        .iter()
        .any(|g| g == super::AUTHENTICATED)
    {
        impersonated_groups.push(super::AUTHENTICATED.to_owned());
    }
    Ok(Some(UserInfo {
        name: username,
        groups: impersonated_groups,
    }))
}
