//! The permissions the controller needs, declared once.
//!
//! [`REQUIRED`] is the list: `yaml/rbac.yaml`'s ClusterRole grants exactly these (a unit test
//! below compares the two), `tests/e2e.rs` checks that the controller sends no request they do not
//! cover, and `doc-controller doctor` asks the API server whether the controller's ServiceAccount
//! may do each ([`crate::doctor::cluster`]). A new API call adds its row here, and the test tells
//! whoever forgets `yaml/rbac.yaml`.

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

    /// `(group, resource, verb)` of every rule of the ClusterRole in `yaml/rbac.yaml`.
    fn granted_by_the_shipped_cluster_role() -> BTreeSet<(String, String, String)> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/rbac.yaml"))
            .expect("yaml/rbac.yaml readable");
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).expect("yaml/rbac.yaml parses");
        let role = docs
            .iter()
            .find(|d| d["kind"] == "ClusterRole")
            .expect("a ClusterRole");
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .expect("a list")
                .iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        };
        let mut granted = BTreeSet::new();
        for rule in role["rules"].as_array().expect("rules") {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        granted.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
        granted
    }

    #[test]
    fn the_shipped_cluster_role_grants_exactly_the_required_permissions() {
        let required: BTreeSet<_> = REQUIRED
            .iter()
            .map(|p| (p.group.into(), p.resource.into(), p.verb.into()))
            .collect();
        assert_eq!(required.len(), REQUIRED.len(), "REQUIRED lists a duplicate");
        let granted = granted_by_the_shipped_cluster_role();
        let missing: Vec<_> = required.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "yaml/rbac.yaml does not grant {missing:?}"
        );
        let extra: Vec<_> = granted.difference(&required).collect();
        assert!(extra.is_empty(), "yaml/rbac.yaml grants more: {extra:?}");
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
