//! Parsing of request paths and query strings into what the API asks for.
//!
//! Paths follow the apiserver's REST layout
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris>):
//! `/api/v1/[namespaces/{ns}/]{resource}[/{name}[/{subresource}]]` for the core group and
//! `/apis/{group}/{version}/...` for the others.

use std::collections::HashMap;

use crate::registry::Registry;

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
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

/// A resource request's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Namespace from the path, if the path is namespaced.
    pub namespace: Option<String>,
    /// Object name, absent for collections.
    pub name: Option<String>,
    /// Subresource such as `status`.
    pub subresource: Option<String>,
}

/// Parses `path` against the registry (needed to tell `/api/v1/namespaces/{ns}/configmaps`
/// from `/api/v1/namespaces/{name}/status`).
pub fn parse_path(path: &str, registry: &Registry) -> Route {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
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
        ["api", version, rest @ ..] => object_route("", version, rest, registry),
        ["apis", group, version, rest @ ..] => object_route(group, version, rest, registry),
        _ => Route::Unknown,
    }
}

fn object_route(group: &str, version: &str, rest: &[&str], registry: &Registry) -> Route {
    let target = |namespace: Option<&str>, tail: &[&str]| -> Route {
        let (resource, name, sub) = match tail {
            [r] => (*r, None, None),
            [r, n] => (*r, Some(*n), None),
            [r, n, s] => (*r, Some(*n), Some(*s)),
            _ => return Route::Unknown,
        };
        Route::Object(Target {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        })
    };
    if let ["namespaces", ns, resource, tail @ ..] = rest {
        let namespaced = registry
            .lookup(group, version, resource)
            .is_some_and(|i| i.namespaced);
        if namespaced {
            let mut all = vec![*resource];
            all.extend_from_slice(tail);
            return target(Some(ns), &all);
        }
    }
    target(None, rest)
}

/// Query parameters of a request (last value wins, like Go's `url.Values.Get` takes the first;
/// clients never repeat them).
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let map = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self(map)
    }

    /// The value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether a boolean parameter is set (`true` or `1`, like the apiserver's conversion).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse_path(path, &Registry::with_builtins()) {
            Route::Object(t) => t,
            other => panic!("{path}: {other:?}"),
        }
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
        let reg = Registry::with_builtins();
        assert_eq!(parse_path("/apis", &reg), Route::Groups);
        assert_eq!(
            parse_path("/api/v1", &reg),
            Route::Resources {
                group: String::new(),
                version: "v1".into()
            }
        );
    }

    #[test]
    fn boolean_query_flags_accept_true_and_1() {
        let q = Query::parse(Some("watch=1&allowWatchBookmarks=true&x=false"));
        assert!(q.flag("watch") && q.flag("allowWatchBookmarks") && !q.flag("x"));
    }
}
