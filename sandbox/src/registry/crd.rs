//! CustomResourceDefinitions: turning a stored CRD into served resources.
//!
//! Mirrors the apiextensions-apiserver: a CRD named `<plural>.<group>` serves every version
//! with `served: true`; its status reports `NamesAccepted` and `Established` (set at once here,
//! since there are no competing names to wait for); deleting it removes its objects and stops
//! serving them. See
//! <https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/>.

use serde_json::{Value, json};

use super::strategy::Strategy;
use super::{PrinterColumn, Registry, ResourceInfo, standard_verbs};
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::{is_deleting, meta_mut, meta_str, now, set_path};
use crate::storage::{ResKey, Store};

/// The API group of CustomResourceDefinitions.
pub(crate) const GROUP: &str = "apiextensions.k8s.io";

/// The finalizer the apiextensions-apiserver puts on every CRD so that its custom resources
/// are deleted (their own finalizers honoured) before the CRD goes away.
pub(crate) const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Where CRDs are stored.
pub(crate) fn definitions_key() -> ResKey {
    (GROUP.to_owned(), "customresourcedefinitions".to_owned())
}

/// The CustomResourceDefinition strategy: `generation`, the cleanup finalizer, and the
/// status the apiextensions controllers set ([`prepare`]).
pub(crate) struct Definitions;

impl Strategy for Definitions {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, _info: &ResourceInfo, obj: &mut Value) {
        let list = meta_mut(obj)
            .entry("finalizers")
            .or_insert_with(|| json!([]));
        if let Some(items) = list.as_array_mut()
            && !items.iter().any(|f| f == CLEANUP_FINALIZER)
        {
            items.push(json!(CLEANUP_FINALIZER));
        }
    }

    fn complete(&self, obj: &mut Value) -> Result<(), ApiError> {
        prepare(obj)
    }

    fn mark_terminating(&self, obj: &mut Value) {
        mark_terminating(obj);
    }
}

/// The strategy of custom resources (`customResourceStrategy`): `generation`; a status
/// subresource keeps `status` out of creates; an update must name the `resourceVersion` it
/// replaces. Their schema is applied by admission (`crate::admission::custom`).
pub(crate) struct CustomResources;

impl Strategy for CustomResources {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) {
        if info.has_status()
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }
}

/// The storage key of a CRD's custom resources: `(group, plural)`.
pub(crate) fn resource_key(crd: &Value) -> (String, String) {
    let text = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (text("/spec/group"), text("/spec/names/plural"))
}

/// Whether the CRD serving `group`/`plural` is being deleted (then creating new custom
/// resources is refused, like `create not allowed while custom resource definition is
/// terminating`).
pub(crate) fn terminating(store: &Store, group: &str, plural: &str) -> bool {
    let key = (String::new(), format!("{plural}.{group}"));
    store
        .get(&definitions_key(), &key)
        .is_some_and(|crd| is_deleting(&crd))
}

/// Adds the `Terminating` condition a CRD shows while its instances are deleted.
fn mark_terminating(crd: &mut Value) {
    let condition = json!({"type": "Terminating", "status": "True",
        "reason": "InstanceDeletionInProgress",
        "message": "CustomResource deletion is in progress", "lastTransitionTime": now()});
    if let Some(conditions) = crd
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        conditions.retain(|c| c["type"] != "Terminating");
        conditions.push(condition);
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

/// Validates the essentials of a CRD and fills in its status, as the apiextensions
/// controllers would right after creation.
fn prepare(crd: &mut Value) -> Result<(), ApiError> {
    let name = meta_str(crd, "name").to_owned();
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if group.is_empty() {
        return Err(invalid(&name, "spec.group", "Required value".into()));
    }
    if plural.is_empty() {
        return Err(invalid(&name, "spec.names.plural", "Required value".into()));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            &name,
            "metadata.name",
            format!(
                "Invalid value: {}: must be spec.names.plural+\".\"+spec.group",
                go_quote(&name)
            ),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            &name,
            "spec.versions",
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        ));
    }
    let storage: Vec<String> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if storage.len() != 1 {
        return Err(invalid(
            &name,
            "spec.versions",
            "Invalid value: \"\": must have exactly one version marked as storage version".into(),
        ));
    }
    let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    if !names.is_object() {
        return Err(invalid(
            &name,
            "spec.names",
            "Invalid value: must be an object".into(),
        ));
    }
    if names.get("singular").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        names["singular"] = Value::String(kind.to_lowercase());
    }
    if names.get("listKind").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        names["listKind"] = Value::String(format!("{kind}List"));
    }
    if let Some(spec_names) = crd.pointer_mut("/spec/names") {
        *spec_names = names.clone();
    }
    let since = |t: &str| {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == "True"))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| Value::String(now()))
    };
    let (accepted_at, established_at) = (since("NamesAccepted"), since("Established"));
    let mut stored = strings(crd.pointer("/status/storedVersions"));
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    set_path(
        crd,
        &["status"],
        json!({
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": accepted_at},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": established_at},
            ],
            "storedVersions": stored,
        }),
    );
    Ok(())
}

/// The served resources a CRD defines (one per served version).
fn resource_infos(crd: &Value) -> Vec<ResourceInfo> {
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = s(&names, "kind");
    let plural = s(&names, "plural");
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let mut out = Vec::new();
    for version in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let mut subresources = Vec::new();
        if version.pointer("/subresources/status").is_some() {
            subresources.push("status".to_owned());
        }
        if version.pointer("/subresources/scale").is_some() {
            subresources.push("scale".to_owned());
        }
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: s(c, "name"),
                type_: s(c, "type"),
                json_path: s(c, "jsonPath"),
                description: s(c, "description"),
                priority: c
                    .get("priority")
                    .and_then(Value::as_i64)
                    .and_then(|p| i32::try_from(p).ok())
                    .unwrap_or(0),
                format: s(c, "format"),
            })
            .collect();
        let mut singular = s(&names, "singular");
        if singular.is_empty() {
            singular = kind.to_lowercase();
        }
        let mut list_kind = s(&names, "listKind");
        if list_kind.is_empty() {
            list_kind = format!("{kind}List");
        }
        out.push(ResourceInfo {
            group: group.clone(),
            version: s(version, "name"),
            resource: plural.clone(),
            kind: kind.clone(),
            singular,
            list_kind,
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            verbs: standard_verbs(),
            subresources,
            printer_columns,
            schema: version.pointer("/schema/openAPIV3Schema").cloned(),
            storage: version.get("storage").and_then(Value::as_bool) == Some(true),
            custom: true,
        });
    }
    out
}

/// (Re)registers the resources of a stored CRD, and opens (or, when its spec or accepted
/// names changed, rebuilds) the custom resource's watch window ([`Store::serve_window`]).
pub(crate) fn register(registry: &Registry, store: &Store, crd: &Value) {
    let origin = json!({
        "uid": crd.pointer("/metadata/uid"),
        "spec": crd.get("spec"),
        "acceptedNames": crd.pointer("/status/acceptedNames"),
    });
    store.serve_window(&resource_key(crd), origin);
    let infos = resource_infos(crd);
    if let Some(first) = infos.first() {
        registry.remove_resource(&first.group, &first.resource);
    }
    for info in infos {
        registry.insert(info);
    }
}

/// Stops serving a deleted CRD's resources and removes their objects (returned).
pub(crate) fn unregister(
    registry: &Registry,
    store: &Store,
    crd: &Value,
) -> Vec<std::sync::Arc<Value>> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    registry.remove_resource(group, plural);
    store.drop_resource(&(group.to_owned(), plural.to_owned()))
}
