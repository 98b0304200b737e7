//! The permissions the controller needs, declared once.
//!
//! [`REQUIRED`] is the list: `yaml/rbac.yaml` grants exactly these (a unit test below compares
//! the two), `tests/e2e.rs` checks that the controller sends no request they do not cover, and
//! `doc-controller doctor` asks the API server whether the controller's ServiceAccount may do
//! each ([`crate::doctor::cluster`]). A new API call adds its row here, and the test tells
//! whoever forgets `yaml/rbac.yaml`.
//!
//! Two objects grant them ([`Scope`]): the ClusterRole, bound for the Documents' namespaces, and
//! a Role in the Lease's namespace for the leader election. A Role is the least privilege there:
//! the controller needs one Lease in one namespace, and `get`/`update` name it (`resourceNames`),
//! as kube-controller-manager's own role does for its Lease; `create` cannot be restricted by
//! name (RBAC authorizes it before the object, and its name, exist), so it covers the
//! namespace's Leases.

use std::fmt;

/// One verb on one resource, as an RBAC rule grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// The API group (`""`: the core group).
    pub group: &'static str,
    /// The resource, with its subresource as RBAC spells it (`documents/status`).
    pub resource: &'static str,
    /// The verb (server-side apply is authorized as `patch`).
    pub verb: &'static str,
    /// What the controller does with it, for a person reading a denial.
    pub used_for: &'static str,
    /// Where it is granted.
    pub scope: Scope,
}

/// Where a permission is granted, and so where it is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// By the ClusterRole: in the namespaces whose Documents the controller watches.
    Watched,
    /// By the Role in the Lease's namespace, on the Lease by name only (`resourceNames`).
    Lease,
    /// By the Role in the Lease's namespace, on any Lease there (`create`: see the module docs).
    LeaseNamespace,
}

/// Where the permissions are asked for: the watched namespace (`None`: all) and the Lease.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The namespace whose Documents the controller watches; `None`: every namespace.
    pub namespace: Option<&'a str>,
    /// The Lease's namespace.
    pub lease_namespace: &'a str,
    /// The Lease's name.
    pub lease_name: &'a str,
}

/// Every permission the controller uses, in the order of `yaml/rbac.yaml`.
pub const REQUIRED: &[Permission] = &[
    Permission::new(
        "kube.rs",
        "documents",
        "list",
        "the Document watch's initial list",
    ),
    Permission::new("kube.rs", "documents", "watch", "the Document watch"),
    Permission::new(
        "kube.rs",
        "documents",
        "get",
        "reading a Document before adding or releasing the finalizer",
    ),
    Permission::new(
        "kube.rs",
        "documents",
        "update",
        "adding and releasing the finalizer",
    ),
    Permission::new(
        "kube.rs",
        "documents/status",
        "patch",
        "server-side applying the status",
    ),
    Permission::new(
        "",
        "configmaps",
        "list",
        "the ConfigMap watch's initial list, when the API server cannot stream it",
    ),
    Permission::new("", "configmaps", "watch", "the ConfigMap watch"),
    Permission::new(
        "",
        "configmaps",
        "patch",
        "server-side applying the published ConfigMaps, merge-patching the index",
    ),
    Permission::new("", "configmaps", "create", "creating a missing index"),
    Permission::new(
        "",
        "configmaps",
        "delete",
        "removing a hidden Document's ConfigMap",
    ),
    Permission::new("events.k8s.io", "events", "create", "recording Events"),
    Permission::new(
        "events.k8s.io",
        "events",
        "patch",
        "turning a repeated Event into a series",
    ),
    Permission::new(
        "coordination.k8s.io",
        "leases",
        "create",
        "creating the leader election's Lease when the first replica starts",
    )
    .in_scope(Scope::LeaseNamespace),
    Permission::new(
        "coordination.k8s.io",
        "leases",
        "get",
        "reading the Lease: who leads, and whether it expired",
    )
    .in_scope(Scope::Lease),
    Permission::new(
        "coordination.k8s.io",
        "leases",
        "update",
        "taking, renewing and releasing the Lease",
    )
    .in_scope(Scope::Lease),
];

impl Permission {
    const fn new(
        group: &'static str,
        resource: &'static str,
        verb: &'static str,
        used_for: &'static str,
    ) -> Self {
        Self {
            group,
            resource,
            verb,
            used_for,
            scope: Scope::Watched,
        }
    }

    const fn in_scope(self, scope: Scope) -> Self {
        Self { scope, ..self }
    }

    /// The namespace and object name an access review asks about for this permission.
    pub fn namespace_and_name<'a>(
        &self,
        target: &Target<'a>,
    ) -> (Option<&'a str>, Option<&'a str>) {
        match self.scope {
            Scope::Watched => (target.namespace, None),
            Scope::Lease => (Some(target.lease_namespace), Some(target.lease_name)),
            Scope::LeaseNamespace => (Some(target.lease_namespace), None),
        }
    }

    /// The resource and its subresource, apart, as an access review asks for them.
    pub fn resource_and_subresource(&self) -> (&'static str, Option<&'static str>) {
        match self.resource.split_once('/') {
            Some((resource, subresource)) => (resource, Some(subresource)),
            None => (self.resource, None),
        }
    }
}

/// `verb resource.group`, as `kubectl auth can-i` takes it: `patch documents.kube.rs/status`.
impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (resource, subresource) = self.resource_and_subresource();
        write!(f, "{} {resource}", self.verb)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(subresource) = subresource {
            write!(f, "/{subresource}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `(group, resource, verb, resource name)` of every rule of the object of `kind` in
    /// `yaml/rbac.yaml`.
    fn granted_by_the_shipped(kind: &str) -> BTreeSet<(String, String, String, Option<String>)> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/rbac.yaml"))
            .expect("yaml/rbac.yaml readable");
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).expect("yaml/rbac.yaml parses");
        let roles: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(roles.len(), 1, "one {kind} in yaml/rbac.yaml");
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .expect("a list")
                .iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        };
        let mut granted = BTreeSet::new();
        for rule in roles[0]["rules"].as_array().expect("rules") {
            let names: Vec<Option<String>> = match rule.get("resourceNames") {
                Some(names) => strings(names).into_iter().map(Some).collect(),
                None => vec![None],
            };
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        for name in &names {
                            granted.insert((
                                group.clone(),
                                resource.clone(),
                                verb.clone(),
                                name.clone(),
                            ));
                        }
                    }
                }
            }
        }
        granted
    }

    /// What `REQUIRED` says `kind` grants, with the shipped (default) Lease name.
    fn required_of(scopes: &[Scope]) -> BTreeSet<(String, String, String, Option<String>)> {
        REQUIRED
            .iter()
            .filter(|p| scopes.contains(&p.scope))
            .map(|p| {
                let name = (p.scope == Scope::Lease)
                    .then(|| crate::leader::settings::DEFAULT_LEASE_NAME.to_string());
                (p.group.into(), p.resource.into(), p.verb.into(), name)
            })
            .collect()
    }

    #[test]
    fn the_shipped_roles_grant_exactly_the_required_permissions() {
        let unique: BTreeSet<_> = REQUIRED
            .iter()
            .map(|p| (p.group, p.resource, p.verb))
            .collect();
        assert_eq!(unique.len(), REQUIRED.len(), "REQUIRED lists a duplicate");
        for (kind, scopes) in [
            ("ClusterRole", &[Scope::Watched][..]),
            ("Role", &[Scope::Lease, Scope::LeaseNamespace][..]),
        ] {
            let required = required_of(scopes);
            let granted = granted_by_the_shipped(kind);
            let missing: Vec<_> = required.difference(&granted).collect();
            assert!(
                missing.is_empty(),
                "the {kind} of yaml/rbac.yaml does not grant {missing:?}"
            );
            let extra: Vec<_> = granted.difference(&required).collect();
            assert!(
                extra.is_empty(),
                "the {kind} of yaml/rbac.yaml grants more: {extra:?}"
            );
        }
    }

    #[test]
    fn lease_permissions_are_asked_in_the_leases_namespace_and_by_name_where_granted_so() {
        let target = Target {
            namespace: None,
            lease_namespace: "ops",
            lease_name: "doc-controller",
        };
        let asked = |verb: &str| {
            REQUIRED
                .iter()
                .find(|p| p.resource == "leases" && p.verb == verb)
                .expect("a lease permission")
                .namespace_and_name(&target)
        };
        assert_eq!(asked("get"), (Some("ops"), Some("doc-controller")));
        assert_eq!(asked("create"), (Some("ops"), None));
        assert_eq!(REQUIRED[0].namespace_and_name(&target), (None, None));
    }

    #[test]
    fn a_permission_reads_as_kubectl_auth_can_i_takes_it() {
        let shown: Vec<String> = REQUIRED.iter().map(ToString::to_string).collect();
        assert!(shown.contains(&"patch documents.kube.rs/status".to_string()));
        assert!(shown.contains(&"create configmaps".to_string()));
        assert!(shown.contains(&"patch events.events.k8s.io".to_string()));
        let status = REQUIRED
            .iter()
            .find(|p| p.resource == "documents/status")
            .expect("the status permission");
        assert_eq!(
            status.resource_and_subresource(),
            ("documents", Some("status"))
        );
    }
}
