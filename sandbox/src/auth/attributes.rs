//! What the authorizer decides on (`authorizer.AttributesRecord`): the user and what the
//! request asks ([`RequestInfo`], parsed once by the HTTP layer), read through `Deref`.

use std::ops::{Deref, DerefMut};

use super::UserInfo;
use crate::http::request_info::RequestInfo;

/// What a request asks to do, and who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    /// Who asks.
    pub(crate) user: UserInfo,
    /// What is asked.
    pub(crate) request: RequestInfo,
}

impl Attributes {
    /// The attributes of a parsed request made by `user`.
    pub(crate) fn of(user: UserInfo, request: RequestInfo) -> Self {
        Self { user, request }
    }

    /// A resource request's attributes built by hand (impersonation checks, access reviews).
    #[allow(
        clippy::too_many_arguments,
        reason = "the fields of a resource request, in the order the apiserver names them"
    )]
    pub(crate) fn resource(
        user: UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            user,
            request: RequestInfo::resource(verb, api_group, resource, subresource, namespace, name),
        }
    }

    /// A non-resource request's attributes.
    pub(crate) fn non_resource(user: UserInfo, verb: &str, path: &str) -> Self {
        Self {
            user,
            request: RequestInfo::non_resource(verb, path),
        }
    }
}

impl Deref for Attributes {
    type Target = RequestInfo;

    fn deref(&self) -> &RequestInfo {
        &self.request
    }
}

impl DerefMut for Attributes {
    fn deref_mut(&mut self) -> &mut RequestInfo {
        &mut self.request
    }
}
