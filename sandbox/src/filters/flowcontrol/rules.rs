//! Which requests a FlowSchema matches: its `rules`, each a list of `subjects` with
//! `resourceRules` and `nonResourceRules`, checked against the request's user and
//! `RequestInfo` like `matchesFlowSchema` in `k8s.io/apiserver/pkg/util/flowcontrol/rule.go`.
//!
//! The rules are read leniently from the stored JSON (validation has already rejected what a
//! real server rejects), so matching never fails: an unknown subject kind matches nobody.

use serde_json::Value;

use crate::auth::attributes::Attributes;
use crate::auth::{SERVICE_ACCOUNT_PREFIX, UserInfo, service_account_user};

/// The wildcard of names, verbs, API groups, resources, namespaces and non-resource URLs.
const ALL: &str = "*";

/// Who a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A user name, or `*` for every user.
    User(String),
    /// A group, or `*` for every group (`system:authenticated` and `system:unauthenticated`
    /// are ordinary group names here).
    Group(String),
    /// A ServiceAccount; `name` `*` is every ServiceAccount of the namespace.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name, or `*`.
        name: String,
    },
    /// A kind the server does not know; matches nobody.
    Unknown,
}

/// A `resourceRules` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResourceRule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    namespaces: Vec<String>,
    cluster_scope: bool,
}

/// A `nonResourceRules` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NonResourceRule {
    verbs: Vec<String>,
    urls: Vec<String>,
}

/// One `PolicyRulesWithSubjects`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PolicyRules {
    subjects: Vec<Subject>,
    resource_rules: Vec<ResourceRule>,
    non_resource_rules: Vec<NonResourceRule>,
}

/// The `spec.rules` of a FlowSchema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rules(Vec<PolicyRules>);

fn strings(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn name_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn items<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

impl Subject {
    fn parse(value: &Value) -> Self {
        match value.get("kind").and_then(Value::as_str) {
            Some("User") if value.get("user").is_some() => Self::User(name_at(value, "/user/name")),
            Some("Group") if value.get("group").is_some() => {
                Self::Group(name_at(value, "/group/name"))
            }
            Some("ServiceAccount") if value.get("serviceAccount").is_some() => {
                Self::ServiceAccount {
                    namespace: name_at(value, "/serviceAccount/namespace"),
                    name: name_at(value, "/serviceAccount/name"),
                }
            }
            _ => Self::Unknown,
        }
    }

    /// `matchesSubject`.
    pub(crate) fn matches(&self, user: &UserInfo) -> bool {
        match self {
            Self::User(name) => name == ALL || *name == user.name,
            Self::Group(group) => group == ALL || user.groups.iter().any(|g| g == group),
            Self::ServiceAccount { namespace, name } if name == ALL => user
                .name
                .strip_prefix(SERVICE_ACCOUNT_PREFIX)
                .and_then(|rest| rest.strip_prefix(namespace.as_str()))
                .is_some_and(|rest| rest.starts_with(':')),
            Self::ServiceAccount { namespace, name } => {
                user.name == service_account_user(namespace, name)
            }
            Self::Unknown => false,
        }
    }
}

/// `containsString`: a lone wildcard matches everything, otherwise an exact member.
fn contains(list: &[String], value: &str, wildcard: &str) -> bool {
    (list.len() == 1 && list[0] == wildcard) || list.iter().any(|v| v == value)
}

impl ResourceRule {
    fn parse(value: &Value) -> Self {
        Self {
            verbs: strings(value, "verbs"),
            api_groups: strings(value, "apiGroups"),
            resources: strings(value, "resources"),
            namespaces: strings(value, "namespaces"),
            cluster_scope: value
                .get("clusterScope")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// `matchesResourcePolicyRule`: verb, `resource[/subresource]`, API group, and the
    /// namespace (a cluster-scoped request needs `clusterScope: true`).
    fn matches(&self, attrs: &Attributes) -> bool {
        contains(&self.verbs, &attrs.verb, ALL)
            && contains(&self.resources, &attrs.combined_resource(), ALL)
            && contains(&self.api_groups, &attrs.api_group, ALL)
            && if attrs.namespace.is_empty() {
                self.cluster_scope
            } else {
                contains(&self.namespaces, &attrs.namespace, ALL)
            }
    }
}

impl NonResourceRule {
    fn parse(value: &Value) -> Self {
        Self {
            verbs: strings(value, "verbs"),
            urls: strings(value, "nonResourceURLs"),
        }
    }

    /// `matchesNonResourcePolicyRule`: the verb, and the path equal to an URL, or under an
    /// URL ending in `*` (`/healthz/*`), or under an URL taken as a directory.
    fn matches(&self, attrs: &Attributes) -> bool {
        contains(&self.verbs, &attrs.verb, ALL)
            && self.urls.iter().any(|url| {
                if url == ALL || *url == attrs.path {
                    return true;
                }
                let mut prefix = url.strip_suffix('*').unwrap_or(url).to_owned();
                if !prefix.ends_with('/') {
                    prefix.push('/');
                }
                attrs.path.starts_with(&prefix)
            })
    }
}

impl PolicyRules {
    fn parse(value: &Value) -> Self {
        Self {
            subjects: items(value, "subjects").map(Subject::parse).collect(),
            resource_rules: items(value, "resourceRules")
                .map(ResourceRule::parse)
                .collect(),
            non_resource_rules: items(value, "nonResourceRules")
                .map(NonResourceRule::parse)
                .collect(),
        }
    }

    /// `matchesPolicyRule`: a subject, then the resource rules of a resource request or the
    /// non-resource rules of any other.
    fn matches(&self, attrs: &Attributes) -> bool {
        self.subjects.iter().any(|s| s.matches(&attrs.user))
            && if attrs.resource_request {
                self.resource_rules.iter().any(|r| r.matches(attrs))
            } else {
                self.non_resource_rules.iter().any(|r| r.matches(attrs))
            }
    }
}

impl Rules {
    /// The rules of a FlowSchema's `spec`.
    pub(crate) fn parse(spec: &Value) -> Self {
        Self(items(spec, "rules").map(PolicyRules::parse).collect())
    }

    /// Whether any rule matches the request.
    pub(crate) fn matches(&self, attrs: &Attributes) -> bool {
        self.0.iter().any(|r| r.matches(attrs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request_info::RequestInfo;
    use http::Method;
    use serde_json::json;

    fn request(user: UserInfo, method: Method, path: &str) -> Attributes {
        Attributes::of(user, RequestInfo::parse(&method, path, None))
    }

    fn sa() -> UserInfo {
        UserInfo::service_account("default", "doc-controller")
    }

    #[test]
    fn service_account_subjects_match_by_name_or_every_name_of_the_namespace() {
        let user = sa();
        let of = |namespace: &str, name: &str| Subject::ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        };
        assert!(of("default", "doc-controller").matches(&user));
        assert!(of("default", "*").matches(&user));
        assert!(
            !of("def", "*").matches(&user),
            "a namespace prefix is not the namespace"
        );
        assert!(!of("kube-system", "*").matches(&user));
        assert!(Subject::Group("system:authenticated".into()).matches(&user));
        assert!(Subject::Group("system:serviceaccounts:default".into()).matches(&user));
        assert!(Subject::User("*".into()).matches(&user));
        assert!(!Subject::User("admin".into()).matches(&user));
    }

    #[test]
    fn resource_rules_need_verb_resource_group_and_namespace_or_cluster_scope() {
        let spec = json!({"rules": [{
            "subjects": [{"kind": "Group", "group": {"name": "system:serviceaccounts"}}],
            "resourceRules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps", "namespaces"], "namespaces": ["team"]}],
        }]});
        let rules = Rules::parse(&spec);
        let ok = |m: Method, p: &str| rules.matches(&request(sa(), m, p));
        assert!(ok(Method::GET, "/api/v1/namespaces/team/configmaps"));
        assert!(ok(Method::GET, "/api/v1/namespaces/team/configmaps/x"));
        assert!(!ok(Method::POST, "/api/v1/namespaces/team/configmaps"));
        assert!(!ok(Method::GET, "/api/v1/namespaces/other/configmaps"));
        assert!(
            !ok(Method::GET, "/api/v1/configmaps"),
            "cluster scope not allowed"
        );
        assert!(
            ok(Method::GET, "/api/v1/namespaces/team"),
            "a namespace is in itself"
        );
        assert!(!ok(Method::GET, "/apis/apps/v1/namespaces/team/configmaps"));
        assert!(!ok(Method::GET, "/version"), "no non-resource rules");
    }

    #[test]
    fn subresources_need_their_own_entry_unless_the_resources_are_a_wildcard() {
        let rule = |resources: serde_json::Value| {
            Rules::parse(&json!({"rules": [{
                "subjects": [{"kind": "User", "user": {"name": "*"}}],
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": resources, "namespaces": ["*"], "clusterScope": true}],
            }]}))
        };
        let status = request(
            sa(),
            Method::PUT,
            "/apis/kube.rs/v1/namespaces/a/documents/x/status",
        );
        assert!(!rule(json!(["documents"])).matches(&status));
        assert!(rule(json!(["documents/status"])).matches(&status));
        assert!(rule(json!(["*"])).matches(&status));
    }

    #[test]
    fn non_resource_urls_match_exactly_by_prefix_or_wildcard() {
        let rules = Rules::parse(&json!({"rules": [{
            "subjects": [{"kind": "Group", "group": {"name": "*"}}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}],
        }]}));
        let ok = |p: &str| rules.matches(&request(sa(), Method::GET, p));
        assert!(ok("/healthz"));
        assert!(ok("/healthz/etcd"), "an URL is also a directory");
        assert!(ok("/apis/"));
        assert!(!ok("/livez"));
        assert!(!rules.matches(&request(sa(), Method::POST, "/healthz")));
    }
}
