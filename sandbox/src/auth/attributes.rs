//! Request attributes for authorization, derived like the apiserver's `RequestInfo`
//! (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`) and handed to the authorizer
//! like `authorizer.AttributesRecord`.
//!
//! The verb of a resource request comes from the method: GET is `get` on a name, else
//! `list`, or `watch` with `?watch=true`; POST `create`, PUT `update`, PATCH `patch` (any
//! patch type, server-side apply included), DELETE `delete` on a name, else
//! `deletecollection`. A list or watch with `fieldSelector=metadata.name=x` is about `x`, and
//! a namespace is its own namespace. Every other path is a non-resource request whose verb
//! is the lower-cased method.

use http::Method;

use super::UserInfo;
use crate::request::Query;

/// What a request asks to do, as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// The verb, e.g. `get`, `watch`, `patch`, `impersonate`.
    pub verb: String,
    /// Whether this is an API resource request (else a non-resource URL).
    pub resource_request: bool,
    /// The URL path (used for non-resource requests).
    pub path: String,
    /// API group ("" for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Namespace ("" for cluster scope).
    pub namespace: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource, e.g. `status` ("" for none).
    pub subresource: String,
    /// Object name ("" for collections).
    pub name: String,
}

impl Attributes {
    /// A resource request's attributes built by hand (impersonation checks, access reviews).
    #[allow(clippy::too_many_arguments)]
    pub fn resource(
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
            verb: verb.to_owned(),
            resource_request: true,
            path: String::new(),
            api_group: api_group.to_owned(),
            api_version: String::new(),
            namespace: namespace.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A non-resource request's attributes.
    pub fn non_resource(user: UserInfo, verb: &str, path: &str) -> Self {
        Self {
            user,
            verb: verb.to_owned(),
            resource_request: false,
            path: path.to_owned(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
        }
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// The attributes of an HTTP request, parsed from the path alone like `RequestInfo`
    /// (so they do not depend on which resources are served).
    pub fn of_request(user: UserInfo, method: &Method, path: &str, query: &Query) -> Self {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let non_resource =
            |user| Self::non_resource(user, &method.as_str().to_ascii_lowercase(), path);
        let (group, rest) = match parts.as_slice() {
            ["api", rest @ ..] if rest.len() >= 2 => ("", rest),
            ["apis", group, rest @ ..] if rest.len() >= 2 => (*group, rest),
            _ => return non_resource(user),
        };
        let (version, mut rest) = (rest[0], &rest[1..]);
        let mut namespace = "";
        if let ["namespaces", ns, tail @ ..] = rest {
            namespace = ns;
            if !tail.is_empty() && !NAMESPACE_SUBRESOURCES.contains(&tail[0]) {
                rest = tail;
            }
        }
        let resource = rest.first().copied().unwrap_or_default();
        let mut name = rest.get(1).copied().unwrap_or_default().to_owned();
        let subresource = rest.get(2).copied().unwrap_or_default();
        let mut verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_owned();
        if name.is_empty() && verb == "get" {
            verb = if query.flag("watch") { "watch" } else { "list" }.to_owned();
            if let Some(selected) = selected_name(query.get("fieldSelector").unwrap_or("")) {
                name = selected;
            }
        }
        if name.is_empty() && verb == "delete" {
            verb = "deletecollection".to_owned();
        }
        Self {
            user,
            verb,
            resource_request: true,
            path: path.to_owned(),
            api_group: group.to_owned(),
            api_version: version.to_owned(),
            namespace: namespace.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
            name,
        }
    }
}

/// Subresources of namespaces, which `RequestInfo` does not mistake for a resource inside
/// the namespace.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The name a `metadata.name=x` (or `==`) field selector pins, like `RequestInfo` does for
/// list and watch.
fn selected_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (field, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        (field.trim() == "metadata.name" && !field.ends_with('!')).then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str, query: &str) -> Attributes {
        Attributes::of_request(UserInfo::admin(), &method, path, &Query::parse(Some(query)))
    }

    #[test]
    fn verbs_follow_method_name_and_watch_flag_like_request_info() {
        let p = "/api/v1/namespaces/default/configmaps";
        assert_eq!(attrs(Method::GET, p, "").verb, "list");
        assert_eq!(attrs(Method::GET, p, "watch=1").verb, "watch");
        assert_eq!(attrs(Method::POST, p, "").verb, "create");
        assert_eq!(attrs(Method::DELETE, p, "").verb, "deletecollection");
        assert_eq!(attrs(Method::PATCH, &format!("{p}/x"), "").verb, "patch");
        assert_eq!(attrs(Method::DELETE, &format!("{p}/x"), "").verb, "delete");
    }

    #[test]
    fn a_metadata_name_field_selector_names_the_object_of_a_watch() {
        let a = attrs(
            Method::GET,
            "/api/v1/namespaces/default/configmaps",
            "watch=true&fieldSelector=metadata.name%3Dindex",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "index"));
    }

    #[test]
    fn a_namespace_is_its_own_namespace_and_other_paths_are_non_resource() {
        let a = attrs(Method::GET, "/api/v1/namespaces/team", "");
        assert_eq!((a.namespace.as_str(), a.name.as_str()), ("team", "team"));
        let v = attrs(Method::GET, "/version", "");
        assert!(!v.resource_request);
        assert_eq!((v.verb.as_str(), v.path.as_str()), ("get", "/version"));
    }
}
