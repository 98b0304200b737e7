//! What a request asks for, parsed once from its method, path and query like the apiserver's
//! `RequestInfo` (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`): authorization,
//! API Priority and Fairness, the faults, the metrics and the routing all read this one value
//! (the filter `crate::filters::request_info` puts it into the request's extensions).
//!
//! Paths follow the apiserver's REST layout
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris>):
//! `/api/v1/[namespaces/{ns}/]{resource}[/{name}[/{subresource}]]` for the core group and
//! `/apis/{group}/{version}/...` for the others. The verb of a resource request comes from
//! the method: GET is `get` on a name, else `list`, or `watch` with `?watch=true`; POST
//! `create`, PUT `update`, PATCH `patch` (any patch type, server-side apply included), DELETE
//! `delete` on a name, else `deletecollection`. A list or watch with
//! `fieldSelector=metadata.name=x` is about `x`, and a namespace is its own namespace. Every
//! other path is a non-resource request whose verb is the lower-cased method.

use http::Method;

use crate::verbs::{Query, Target};

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    /// The verb, e.g. `get`, `watch`, `patch`, `impersonate`.
    pub(crate) verb: String,
    /// Whether this is an API resource request (else a non-resource URL).
    pub(crate) resource_request: bool,
    /// The URL path.
    pub(crate) path: String,
    /// API group ("" for core).
    pub(crate) api_group: String,
    /// API version.
    pub(crate) api_version: String,
    /// Namespace ("" for cluster scope).
    pub(crate) namespace: String,
    /// Plural resource.
    pub(crate) resource: String,
    /// Subresource, e.g. `status` ("" for none).
    pub(crate) subresource: String,
    /// Object name ("" for collections).
    pub(crate) name: String,
    /// The query parameters.
    pub(crate) query: Query,
    /// Where the path routes; see [`RequestInfo::route`].
    target: Option<Target>,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/version`.
    Version,
    /// `/api`: the core API versions.
    CoreVersions,
    /// `/apis`: the API group list.
    Groups,
    /// `/apis/{group}`: one group.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`: the resource list of a group version.
    Resources {
        /// API group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// `/openapi/v2`: served only if `discovery::OPENAPI_V2_SERVED`.
    OpenApiV2,
    /// `/openapi/v3`: the index of OpenAPI v3 documents.
    OpenApiV3Root,
    /// `/openapi/v3/{api/v1 | apis/group/version}`.
    OpenApiV3(String),
    /// A resource, collection or subresource.
    Object(Target),
    /// Nothing is served here.
    Unknown,
}

/// Subresources of namespaces, which `RequestInfo` does not mistake for a resource inside
/// the namespace.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

impl RequestInfo {
    /// A resource request's information built by hand (impersonation checks, access reviews).
    pub(crate) fn resource(
        verb: &str,
        api_group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            verb: verb.to_owned(),
            resource_request: true,
            path: String::new(),
            api_group: api_group.to_owned(),
            api_version: String::new(),
            namespace: namespace.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
            name: name.to_owned(),
            query: Query::default(),
            target: None,
        }
    }

    /// A non-resource request's information.
    pub(crate) fn non_resource(verb: &str, path: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            resource_request: false,
            path: path.to_owned(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
            query: Query::default(),
            target: None,
        }
    }

    /// Parses a request, from the path alone (so it does not depend on which resources are
    /// served).
    pub(crate) fn parse(method: &Method, path: &str, raw_query: Option<&str>) -> Self {
        let query = Query::parse(raw_query);
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest) = match parts.as_slice() {
            ["api", rest @ ..] if rest.len() >= 2 => ("", rest),
            ["apis", group, rest @ ..] if rest.len() >= 2 => (*group, rest),
            _ => {
                let mut info = Self::non_resource(&method.as_str().to_ascii_lowercase(), path);
                info.query = query;
                return info;
            }
        };
        let (version, mut rest) = (rest[0], &rest[1..]);
        let mut namespace = "";
        let mut namespaced_path = false;
        if let ["namespaces", ns, tail @ ..] = rest {
            namespace = ns;
            if !tail.is_empty() && !NAMESPACE_SUBRESOURCES.contains(&tail[0]) {
                rest = tail;
                namespaced_path = true;
            }
        }
        let resource = rest.first().copied().unwrap_or_default();
        let path_name = rest.get(1).copied();
        let subresource = rest.get(2).copied();
        let target = (rest.len() <= 3).then(|| Target {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            namespace: namespaced_path.then(|| namespace.to_owned()),
            name: path_name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
        });
        let mut name = path_name.unwrap_or_default().to_owned();
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
            verb,
            resource_request: true,
            path: path.to_owned(),
            api_group: group.to_owned(),
            api_version: version.to_owned(),
            namespace: namespace.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.unwrap_or_default().to_owned(),
            name,
            query,
            target,
        }
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub(crate) fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// What the path addresses: a discovery or health endpoint, an object or collection, or
    /// nothing.
    pub(crate) fn route(&self) -> Route {
        if self.resource_request {
            return self.target.clone().map_or(Route::Unknown, Route::Object);
        }
        let parts: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        match parts.as_slice() {
            ["version"] => Route::Version,
            ["healthz" | "livez" | "readyz", ..] => Route::Health,
            ["api"] => Route::CoreVersions,
            ["openapi", "v2"] => Route::OpenApiV2,
            ["openapi", "v3"] => Route::OpenApiV3Root,
            ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
            ["apis"] => Route::Groups,
            ["apis", group] => Route::Group((*group).to_owned()),
            ["api", version] => Route::Resources {
                group: String::new(),
                version: (*version).to_owned(),
            },
            ["apis", group, version] => Route::Resources {
                group: (*group).to_owned(),
                version: (*version).to_owned(),
            },
            _ => Route::Unknown,
        }
    }
}

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

    fn info(method: Method, path: &str, query: &str) -> RequestInfo {
        RequestInfo::parse(&method, path, Some(query))
    }

    fn target(path: &str) -> Target {
        match info(Method::GET, path, "").route() {
            Route::Object(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn verbs_follow_method_name_and_watch_flag_like_request_info() {
        let p = "/api/v1/namespaces/default/configmaps";
        assert_eq!(info(Method::GET, p, "").verb, "list");
        assert_eq!(info(Method::GET, p, "watch=1").verb, "watch");
        assert_eq!(info(Method::POST, p, "").verb, "create");
        assert_eq!(info(Method::DELETE, p, "").verb, "deletecollection");
        assert_eq!(info(Method::PATCH, &format!("{p}/x"), "").verb, "patch");
        assert_eq!(info(Method::DELETE, &format!("{p}/x"), "").verb, "delete");
    }

    #[test]
    fn a_metadata_name_field_selector_names_the_object_of_a_watch_but_not_its_route() {
        let a = info(
            Method::GET,
            "/api/v1/namespaces/default/configmaps",
            "watch=true&fieldSelector=metadata.name%3Dindex",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "index"));
        assert!(matches!(
            a.route(),
            Route::Object(Target { name: None, .. })
        ));
    }

    #[test]
    fn a_namespace_is_its_own_namespace_and_other_paths_are_non_resource() {
        let a = info(Method::GET, "/api/v1/namespaces/team", "");
        assert_eq!((a.namespace.as_str(), a.name.as_str()), ("team", "team"));
        let v = info(Method::GET, "/version", "");
        assert!(!v.resource_request);
        assert_eq!((v.verb.as_str(), v.path.as_str()), ("get", "/version"));
        assert_eq!(v.route(), Route::Version);
    }

    #[test]
    fn namespaced_paths_split_namespace_name_and_subresource() {
        let t = target("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.resource, "configmaps");
        assert_eq!(t.name.as_deref(), Some("x"));
        assert_eq!(t.subresource, None);
    }

    #[test]
    fn a_namespace_subresource_is_not_mistaken_for_a_namespaced_resource() {
        let t = target("/api/v1/namespaces/team/status");
        assert_eq!(t.resource, "namespaces");
        assert_eq!(t.namespace, None);
        assert_eq!(t.name.as_deref(), Some("team"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn group_paths_and_discovery_routes_parse() {
        let t = target("/apis/coordination.k8s.io/v1/leases");
        assert_eq!(
            (t.group.as_str(), t.namespace),
            ("coordination.k8s.io", None)
        );
        assert_eq!(info(Method::GET, "/apis", "").route(), Route::Groups);
        assert_eq!(
            info(Method::GET, "/api/v1", "").route(),
            Route::Resources {
                group: String::new(),
                version: "v1".into()
            }
        );
        assert_eq!(
            info(Method::GET, "/api/v1/configmaps/a/b/c", "").route(),
            Route::Unknown
        );
    }
}
