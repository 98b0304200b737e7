//! The kinds the sandbox serves: built-in kinds plus the kinds that CustomResourceDefinitions
//! register at runtime ([`Registry`]), and how each kind differs from the generic rules of
//! every write ([`strategy`], [`rest`]).
//!
//! The registry mirrors what a real kube-apiserver derives from its installed API groups and
//! from the apiextensions-apiserver: one entry per (group, version, plural resource), carrying
//! what discovery (`/api`, `/apis/...`) and table output (`kubectl get`) need.
//! See <https://kubernetes.io/docs/reference/using-api/api-concepts/#discovery-api>.

pub(crate) mod configmaps;
pub(crate) mod crd;
pub(crate) mod decode;
pub(crate) mod events;
pub(crate) mod flowcontrol;
pub(crate) mod namespaces;
pub(crate) mod rest;
pub(crate) mod secrets;
pub(crate) mod strategy;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use strategy::Strategy;

/// The strategy of `info`'s kind.
pub(crate) fn strategy_of(info: &ResourceInfo) -> &'static dyn Strategy {
    if info.custom {
        return &crd::CustomResources;
    }
    match (info.group.as_str(), info.resource.as_str()) {
        (crd::GROUP, "customresourcedefinitions") => &crd::Definitions,
        ("", "namespaces") => &namespaces::Namespaces,
        ("", "configmaps") => &configmaps::ConfigMaps,
        ("", "secrets") => &secrets::Secrets,
        ("", "serviceaccounts") => &strategy::ServiceAccounts,
        ("", "events") => &events::CoreEvents,
        (events::GROUP, "events") => &events::V1Events,
        (flowcontrol::GROUP, _) => &flowcontrol::FlowControl,
        ("coordination.k8s.io", "leases") => &strategy::Leases,
        _ => &strategy::Generic,
    }
}

/// The API group of the RBAC kinds.
pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The review resources: created and answered at once, never stored (`kubectl auth whoami`,
/// `kubectl auth can-i`), as `(group, resource, kind)`.
const REVIEWS: &[(&str, &str, &str)] = &[
    (
        "authentication.k8s.io",
        "selfsubjectreviews",
        "SelfSubjectReview",
    ),
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
    ),
];

/// Whether `group`/`resource` is one of the review resources.
pub(crate) fn is_review(group: &str, resource: &str) -> bool {
    REVIEWS
        .iter()
        .any(|(g, r, _)| *g == group && *r == resource)
}

/// One column of `kubectl get` output, as declared by a CRD's `additionalPrinterColumns`
/// (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#additional-printer-columns>)
/// or built into the server for built-in kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PrinterColumn {
    /// Column header, e.g. `Age`.
    pub(crate) name: String,
    /// OpenAPI type of the column: `string`, `integer`, `number`, `boolean` or `date`.
    pub(crate) type_: String,
    /// Simple JSONPath (without braces) evaluated against each object, e.g. `.spec.title`.
    pub(crate) json_path: String,
    /// Human-readable description shown in the table's column definitions.
    pub(crate) description: String,
    /// 0 shows in standard output; greater values only in `-o wide`.
    pub(crate) priority: i32,
    /// Optional OpenAPI format, e.g. `date-time`.
    pub(crate) format: String,
}

/// Everything the server knows about one served resource at one version.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ResourceInfo {
    /// API group; empty for the core (legacy `/api/v1`) group.
    pub(crate) group: String,
    /// API version within the group, e.g. `v1`.
    pub(crate) version: String,
    /// Lower-case plural resource name used in URLs, e.g. `documents`.
    pub(crate) resource: String,
    /// Kind of the objects, e.g. `Document`.
    pub(crate) kind: String,
    /// Lower-case singular name, e.g. `document`.
    pub(crate) singular: String,
    /// Kind of the list objects, e.g. `DocumentList`.
    pub(crate) list_kind: String,
    /// Whether objects live in a namespace.
    pub(crate) namespaced: bool,
    /// Short names such as `doc`, used by kubectl.
    pub(crate) short_names: Vec<String>,
    /// Categories such as `all`, used by `kubectl get all`.
    pub(crate) categories: Vec<String>,
    /// Verbs allowed on the resource, as reported by discovery.
    pub(crate) verbs: Vec<String>,
    /// Subresources, e.g. `status`.
    pub(crate) subresources: Vec<String>,
    /// Extra printer columns (besides `Name`, and `Age` that the table code adds).
    pub(crate) printer_columns: Vec<PrinterColumn>,
    /// The `openAPIV3Schema` of a CRD version, if any.
    pub(crate) schema: Option<Value>,
    /// Whether this version is the storage version (CRDs: exactly one per CRD).
    pub(crate) storage: bool,
    /// Whether the resource is served by a CRD (custom resources), rather than built in.
    pub(crate) custom: bool,
}

impl ResourceInfo {
    /// `apiVersion` string of objects of this resource: `v1` for core, else `group/version`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource has a `status` subresource.
    pub(crate) fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }
}

/// Key of a registry entry: (group, version, resource).
type Key = (String, String, String);

/// Thread-safe, cheaply cloneable registry of served resources.
///
/// Reads (every request) take a shared lock; writes happen only when a CRD is created,
/// updated or deleted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry {
    inner: Arc<RwLock<BTreeMap<Key, ResourceInfo>>>,
}

impl Registry {
    /// A registry holding the built-in kinds the sandbox serves.
    pub(crate) fn with_builtins() -> Self {
        let reg = Self::default();
        for info in builtins() {
            reg.insert(info);
        }
        reg
    }

    /// Every served resource, sorted by group, version, resource.
    pub(crate) fn all(&self) -> Vec<ResourceInfo> {
        self.read().values().cloned().collect()
    }

    /// The resource served at `group`/`version`/`resource`, if any.
    pub(crate) fn lookup(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<ResourceInfo> {
        self.read()
            .get(&(group.to_owned(), version.to_owned(), resource.to_owned()))
            .cloned()
    }

    /// All served versions of a group/resource (used for CRDs with several versions).
    pub(crate) fn versions_of(&self, group: &str, resource: &str) -> Vec<ResourceInfo> {
        self.read()
            .values()
            .filter(|i| i.group == group && i.resource == resource)
            .cloned()
            .collect()
    }

    /// Adds or replaces an entry.
    pub(crate) fn insert(&self, info: ResourceInfo) {
        let key = (
            info.group.clone(),
            info.version.clone(),
            info.resource.clone(),
        );
        self.write().insert(key, info);
    }

    /// Removes every version of `group`/`resource` (a deleted or changed CRD).
    pub(crate) fn remove_resource(&self, group: &str, resource: &str) {
        self.write()
            .retain(|(g, _, r), _| !(g == group && r == resource));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, ResourceInfo>> {
        // A poisoned lock only means another request panicked mid-write of a plain map
        // insert; the map itself is still consistent.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Key, ResourceInfo>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Verbs of a normal read/write resource, as the real discovery documents report them.
pub(crate) fn standard_verbs() -> Vec<String> {
    [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn builtin(
    group: &str,
    resource: &str,
    kind: &str,
    namespaced: bool,
    short_names: &[&str],
    categories: &[&str],
    subresources: &[&str],
) -> ResourceInfo {
    ResourceInfo {
        group: group.to_owned(),
        version: "v1".to_owned(),
        resource: resource.to_owned(),
        kind: kind.to_owned(),
        singular: kind.to_lowercase(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: strings(short_names),
        categories: strings(categories),
        verbs: standard_verbs(),
        subresources: strings(subresources),
        printer_columns: Vec::new(),
        schema: None,
        storage: true,
        custom: false,
    }
}

/// The built-in kinds: what a controller and kubectl need from a bare cluster.
fn builtins() -> Vec<ResourceInfo> {
    let mut namespaces = builtin(
        "",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        &[],
        &["status"],
    );
    namespaces.verbs = strings(&[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ]);
    let mut all = vec![
        namespaces,
        builtin("", "configmaps", "ConfigMap", true, &["cm"], &[], &[]),
        builtin("", "secrets", "Secret", true, &[], &[], &[]),
        builtin("", "events", "Event", true, &["ev"], &[], &[]),
        builtin(
            "",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            &[],
            &[],
        ),
        builtin("events.k8s.io", "events", "Event", true, &["ev"], &[], &[]),
        builtin(RBAC_GROUP, "roles", "Role", true, &[], &[], &[]),
        builtin(
            RBAC_GROUP,
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            &[],
            &[],
        ),
        builtin(
            RBAC_GROUP,
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            &[],
            &[],
        ),
        builtin(
            RBAC_GROUP,
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            &[],
            &[],
        ),
        builtin(
            "coordination.k8s.io",
            "leases",
            "Lease",
            true,
            &[],
            &[],
            &[],
        ),
        builtin(
            crd::GROUP,
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            &["api-extensions"],
            &["status"],
        ),
        builtin(
            flowcontrol::GROUP,
            "flowschemas",
            "FlowSchema",
            false,
            &[],
            &[],
            &["status"],
        ),
        builtin(
            flowcontrol::GROUP,
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            false,
            &[],
            &[],
            &["status"],
        ),
    ];
    all.extend(
        REVIEWS
            .iter()
            .map(|(group, resource, kind)| review(group, resource, kind)),
    );
    all
}

/// A create-only, never stored review resource (`kubectl auth whoami`, `kubectl auth can-i`).
fn review(group: &str, resource: &str, kind: &str) -> ResourceInfo {
    let mut info = builtin(group, resource, kind, false, &[], &[], &[]);
    info.verbs = strings(&["create"]);
    info
}
