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
//! are built in and not stored.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::Value;

use super::UserInfo;
use super::attributes::Attributes;
use crate::store::Store;

/// The API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// An authorization decision and its reason (empty when there is nothing to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`.
    Allow(String),
    /// Denied (RBAC has no opinion and nothing else allows), with binding errors if any.
    Deny(String),
}

/// Decides `attrs` against the store's RBAC objects.
pub fn authorize(store: &Store, attrs: &Attributes) -> Decision {
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
                quote(&binding.name),
                quote(&binding.name),
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

fn quote(s: &str) -> String {
    super::forbidden::quote(s)
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
    let obj = store
        .get(&(GROUP.to_owned(), resource.to_owned()), &key)
        .ok_or_else(missing)?;
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
            "Group" => user.groups.iter().any(|g| *g == s.name),
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
pub fn allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
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
    let names_ok = names.is_empty() || names.iter().any(|n| *n == attrs.name);
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

/// The default ClusterRoles every authenticated user is bound to (bootstrap policy of
/// `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`), each bound by a ClusterRoleBinding of
/// the same name to the group `system:authenticated`.
fn bootstrap() -> Vec<(Builtin, Vec<PolicyRule>)> {
    let authenticated = || {
        vec![Subject {
            api_group: Some(GROUP.to_owned()),
            kind: "Group".to_owned(),
            name: super::AUTHENTICATED.to_owned(),
            namespace: None,
        }]
    };
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
    ]
}
