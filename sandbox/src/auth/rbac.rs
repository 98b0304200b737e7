//! RBAC evaluation over the stored Roles, ClusterRoles, RoleBindings and
//! ClusterRoleBindings, following `plugin/pkg/auth/authorizer/rbac` of kube-apiserver
//! (<https://kubernetes.io/docs/reference/access-authn-authz/rbac/>).
//!
//! Members of `system:masters` are allowed everything first (the privileged-group
//! authorizer). Otherwise the ClusterRoleBindings, then the RoleBindings of the request's
//! namespace, are visited; a binding applies when one of its subjects is the user, one of
//! their groups, or their ServiceAccount; the first rule of its role that covers the request
//! allows it. A binding to a missing role contributes an error that ends up in the 403
//! message (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
//!
//! The default discovery roles of a real cluster (`system:discovery`,
//! `system:public-info-viewer`, `system:basic-user`, all bound to `system:authenticated`)
//! are built in and not stored, and bindings may reference them and `cluster-admin` by name.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::Value;

use super::UserInfo;
use super::attributes::Attributes;
use crate::meta::gofmt::go_quote as quote;
use crate::registry::RBAC_GROUP as GROUP;
use crate::storage::Store;

/// An authorization decision and its reason (empty when there is nothing to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed, e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`.
    Allow(String),
    /// Denied (RBAC has no opinion and nothing else allows), with binding errors if any.
    Deny(String),
}

/// Decides `attrs` against the store's RBAC objects.
pub(crate) fn authorize(store: &Store, attrs: &Attributes) -> Decision {
    if attrs.user.is_superuser() {
        return Decision::Allow(String::new());
    }
    let mut errors: Vec<String> = Vec::new();
    for (binding, role) in bootstrap() {
        if let Some(subject) = applies(&binding.subjects, &attrs.user, "")
            && role.iter().any(|r| allows(r, attrs))
        {
            return Decision::Allow(format!(
                "RBAC: allowed by ClusterRoleBinding {} of ClusterRole {} to {}",
                quote(binding.name),
                quote(binding.name),
                describe(&subject, "")
            ));
        }
    }
    for crb in stored::<ClusterRoleBinding>(store, "clusterrolebindings", None) {
        let subjects = crb.subjects.clone().unwrap_or_default();
        let Some(subject) = applies(&subjects, &attrs.user, "") else {
            continue;
        };
        match rules_of(store, &crb.role_ref, "") {
            Ok(rules) if rules.iter().any(|r| allows(r, attrs)) => {
                return Decision::Allow(format!(
                    "RBAC: allowed by ClusterRoleBinding {} of {} {} to {}",
                    quote(crb.metadata.name.as_deref().unwrap_or_default()),
                    crb.role_ref.kind,
                    quote(&crb.role_ref.name),
                    describe(&subject, "")
                ));
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    if !attrs.namespace.is_empty() {
        for rb in stored::<RoleBinding>(store, "rolebindings", Some(&attrs.namespace)) {
            let subjects = rb.subjects.clone().unwrap_or_default();
            let Some(subject) = applies(&subjects, &attrs.user, &attrs.namespace) else {
                continue;
            };
            match rules_of(store, &rb.role_ref, &attrs.namespace) {
                Ok(rules) if rules.iter().any(|r| allows(r, attrs)) => {
                    return Decision::Allow(format!(
                        "RBAC: allowed by RoleBinding {} of {} {} to {}",
                        quote(&format!(
                            "{}/{}",
                            rb.metadata.name.as_deref().unwrap_or_default(),
                            attrs.namespace
                        )),
                        rb.role_ref.kind,
                        quote(&rb.role_ref.name),
                        describe(&subject, &attrs.namespace)
                    ));
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    Decision::Deny(match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors.concat()),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    })
}

/// Every rule that applies to `user` in `namespace` (cluster-wide rules included), and the
/// errors of bindings to missing roles, as `RulesFor` collects them for
/// `SelfSubjectRulesReview` (`kubectl auth can-i --list`). `system:masters` gets the rules of
/// `cluster-admin`, which real clusters bind to that group.
pub(crate) fn rules_for(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
) -> (Vec<PolicyRule>, Vec<String>) {
    if user.is_superuser() {
        return (
            vec![
                resource_rule(&["*"], "*", &["*"]),
                urls_rule(&["*"], &["*"]),
            ],
            Vec::new(),
        );
    }
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (binding, role) in bootstrap() {
        if applies(&binding.subjects, user, "").is_some() {
            rules.extend(role);
        }
    }
    let mut visit = |subjects: Option<Vec<Subject>>, role_ref: &RoleRef, ns: &str| {
        if applies(&subjects.unwrap_or_default(), user, ns).is_some() {
            match rules_of(store, role_ref, ns) {
                Ok(found) => rules.extend(found),
                Err(e) => errors.push(e),
            }
        }
    };
    for crb in stored::<ClusterRoleBinding>(store, "clusterrolebindings", None) {
        visit(crb.subjects, &crb.role_ref, "");
    }
    if !namespace.is_empty() {
        for rb in stored::<RoleBinding>(store, "rolebindings", Some(namespace)) {
            visit(rb.subjects, &rb.role_ref, namespace);
        }
    }
    (rules, errors)
}

/// The stored objects of an RBAC resource that parse (invalid ones grant nothing).
fn stored<T: serde::de::DeserializeOwned>(
    store: &Store,
    resource: &str,
    namespace: Option<&str>,
) -> Vec<T> {
    let (items, _) = store.list(&(GROUP.to_owned(), resource.to_owned()), namespace, None);
    items
        .into_iter()
        .filter_map(|(_, obj)| serde_json::from_value::<T>(Value::clone(&obj)).ok())
        .collect()
}

/// The rules a binding's `roleRef` grants, or the NotFound message of a missing role.
fn rules_of(store: &Store, role_ref: &RoleRef, namespace: &str) -> Result<Vec<PolicyRule>, String> {
    let (resource, ns) = match role_ref.kind.as_str() {
        "ClusterRole" => ("clusterroles", ""),
        "Role" if !namespace.is_empty() => ("roles", namespace),
        other => return Err(format!("unsupported role reference kind: {}", quote(other))),
    };
    let key = (ns.to_owned(), role_ref.name.clone());
    let missing = || {
        format!(
            "{}.{GROUP} {} not found",
            &resource[..resource.len() - 1],
            quote(&role_ref.name)
        )
    };
    let Some(obj) = store.get(&(GROUP.to_owned(), resource.to_owned()), &key) else {
        // The default ClusterRoles of a real cluster exist here too, unstored.
        return match resource {
            "clusterroles" => builtin_cluster_role(&role_ref.name).ok_or_else(missing),
            _ => Err(missing()),
        };
    };
    let rules = if resource == "clusterroles" {
        serde_json::from_value::<ClusterRole>(Value::clone(&obj))
            .map(|r| r.rules)
            .map_err(|_| missing())?
    } else {
        serde_json::from_value::<Role>(Value::clone(&obj))
            .map(|r| r.rules)
            .map_err(|_| missing())?
    };
    Ok(rules.unwrap_or_default())
}

/// The first subject that is this user (`appliesToUser`); `namespace` defaults the
/// namespace of ServiceAccount subjects of RoleBindings.
fn applies(subjects: &[Subject], user: &UserInfo, namespace: &str) -> Option<Subject> {
    subjects
        .iter()
        .find(|s| match s.kind.as_str() {
            "User" => s.name == user.name,
            "Group" => user.groups.contains(&s.name),
            "ServiceAccount" => {
                let ns = s
                    .namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace);
                !ns.is_empty() && super::service_account_user(ns, &s.name) == user.name
            }
            _ => false,
        })
        .cloned()
}

/// `describeSubject` of the allow reason.
fn describe(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let ns = subject
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_namespace);
        format!(
            "{} {}",
            subject.kind,
            quote(&format!("{}/{ns}", subject.name))
        )
    } else {
        format!("{} {}", subject.kind, quote(&subject.name))
    }
}

/// `RuleAllows`: verbs, then API groups, resources (with `*` and `*/subresource`) and
/// resource names for resource requests, or non-resource URLs (with a trailing `*`).
pub(crate) fn allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    let verb_ok = rule.verbs.iter().any(|v| v == "*" || *v == attrs.verb);
    if !verb_ok {
        return false;
    }
    if !attrs.resource_request {
        return rule.non_resource_urls.iter().flatten().any(|u| {
            u == "*"
                || *u == attrs.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| attrs.path.starts_with(prefix))
        });
    }
    let groups_ok = rule
        .api_groups
        .iter()
        .flatten()
        .any(|g| g == "*" || *g == attrs.api_group);
    let combined = attrs.combined_resource();
    let resources_ok = rule.resources.iter().flatten().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let names = rule.resource_names.as_deref().unwrap_or_default();
    let names_ok = names.is_empty() || names.contains(&attrs.name);
    groups_ok && resources_ok && names_ok
}

/// A built-in binding of the default policy.
struct Builtin {
    name: &'static str,
    subjects: Vec<Subject>,
}

fn urls_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        non_resource_urls: Some(urls.iter().map(|u| (*u).to_owned()).collect()),
        ..PolicyRule::default()
    }
}

fn resource_rule(verbs: &[&str], group: &str, resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        ..PolicyRule::default()
    }
}

/// A default ClusterRole of the bootstrap policy by name: `cluster-admin` (everything, as
/// real clusters bind it to `system:masters`) and the discovery roles below.
fn builtin_cluster_role(name: &str) -> Option<Vec<PolicyRule>> {
    if name == "cluster-admin" {
        return Some(vec![
            resource_rule(&["*"], "*", &["*"]),
            urls_rule(&["*"], &["*"]),
        ]);
    }
    bootstrap()
        .into_iter()
        .find(|(binding, _)| binding.name == name)
        .map(|(_, rules)| rules)
}

/// The default ClusterRoles every authenticated user, or every ServiceAccount, is bound to
/// (`clusterRoles` and `clusterRoleBindings` of
/// `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`), each bound by a
/// ClusterRoleBinding of the same name: `system:discovery`, `system:public-info-viewer` and
/// `system:basic-user` to the group `system:authenticated`, and
/// `system:service-account-issuer-discovery` to the group `system:serviceaccounts` (bound by
/// default since 1.21, when service account issuer discovery went GA).
fn bootstrap() -> Vec<(Builtin, Vec<PolicyRule>)> {
    let group = |name: &str| {
        vec![Subject {
            api_group: Some(GROUP.to_owned()),
            kind: "Group".to_owned(),
            name: name.to_owned(),
            namespace: None,
        }]
    };
    let authenticated = || group(super::AUTHENTICATED);
    vec![
        (
            Builtin {
                name: "system:discovery",
                subjects: authenticated(),
            },
            vec![urls_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        (
            Builtin {
                name: "system:public-info-viewer",
                subjects: authenticated(),
            },
            vec![urls_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        (
            Builtin {
                name: "system:basic-user",
                subjects: authenticated(),
            },
            vec![
                resource_rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                resource_rule(
                    &["create"],
                    "authentication.k8s.io",
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        (
            Builtin {
                name: "system:service-account-issuer-discovery",
                subjects: group(super::ALL_SERVICE_ACCOUNTS),
            },
            // The slash-ended forms serve clients generated from the OpenAPI of before the
            // trailing-slash fix, as upstream says.
            vec![urls_rule(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Attributes {
        Attributes::non_resource(UserInfo::service_account("default", "x"), "get", path)
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_a_trailing_star_prefix() {
        let rule = urls_rule(&["get"], &["/metrics", "/apis/*"]);
        assert!(allows(&rule, &get("/metrics")));
        assert!(!allows(&rule, &get("/metrics/slis")));
        assert!(allows(&rule, &get("/apis/kube.rs/v1")));
        assert!(!allows(&rule, &get("/api")));
        let post = Attributes::non_resource(UserInfo::admin(), "post", "/metrics");
        assert!(!allows(&rule, &post));
    }

    #[test]
    fn every_authenticated_user_may_discover_but_not_read_objects() {
        let store = Store::new(10);
        let sa = UserInfo::service_account("default", "x");
        assert!(matches!(
            authorize(&store, &get("/apis/kube.rs/v1")),
            Decision::Allow(_)
        ));
        let list = Attributes::resource(sa, "list", "", "configmaps", "", "default", "");
        assert_eq!(authorize(&store, &list), Decision::Deny(String::new()));
        let admin = Attributes {
            user: UserInfo::admin(),
            ..list
        };
        assert!(matches!(authorize(&store, &admin), Decision::Allow(_)));
    }

    #[test]
    fn every_service_account_may_read_the_issuer_discovery_documents_and_other_users_may_not() {
        let store = Store::new(10);
        let path = "/.well-known/openid-configuration";
        assert!(matches!(authorize(&store, &get(path)), Decision::Allow(_)));
        let user = UserInfo {
            name: "jane".into(),
            groups: vec![super::super::AUTHENTICATED.into()],
        };
        let by_user = Attributes::non_resource(user.clone(), "get", path);
        assert_eq!(authorize(&store, &by_user), Decision::Deny(String::new()));
        let (rules, _) = rules_for(&store, &user, "default");
        assert!(
            rules
                .iter()
                .flat_map(|r| r.non_resource_urls.iter().flatten())
                .all(|u| !u.starts_with("/openid")),
            "{rules:?}"
        );
    }
}
