//! Server-side apply and `metadata.managedFields` tracking.
//!
//! Mirrors `sigs.k8s.io/structured-merge-diff` (field sets, merge, compare, conflicts) and the
//! apiserver's field manager (`k8s.io/apimachinery/pkg/util/managedfields`), see
//! <https://kubernetes.io/docs/reference/using-api/server-side-apply/>:
//!
//! * field sets are encoded as `FieldsV1` (`f:<field>`, `k:<json keys>` for items of map lists,
//!   `v:<json>` for items of set lists, `.` for a node that is itself owned);
//! * [`apply`] merges the applied configuration into the live object (applied values win,
//!   lists merge by their [`ListType`]), removes the fields the manager applied last time but no
//!   longer applies and nobody else owns, reports a conflict for every field another manager
//!   owns whose value would change (unless `force`, which takes the field over), and shares
//!   ownership of fields applied with the same value;
//! * [`record_update`] gives the fields a create/update/patch added or changed to its manager
//!   (operation `Update`) and takes them (and removed ones) from every other manager;
//! * entries are keyed like the apiserver's manager identifiers: `(manager, Apply,
//!   subresource)` for appliers (the apiVersion is not part of it) and `(manager, Update,
//!   apiVersion, subresource)` for updaters; entries with an empty set are dropped; `apiVersion`,
//!   `kind`, `metadata`, `metadata.name`, `metadata.namespace` and the other server-set metadata
//!   are never owned;
//! * times: like the apiserver's `managedFieldsUpdater`, an `Update` entry gets `now` only when
//!   the write changed at least one field, and an `Apply` entry only when the apply changed the
//!   object (or the entry is new); otherwise the entry, time included, is left as it was;
//! * entries are sorted like the apiserver does (Apply before Update, then by time, manager,
//!   apiVersion, subresource), and a no-op apply (same values, same field set) returns an object
//!   equal to `live`, managedFields included, so the caller can skip the write.
//!
//! Hand-written, because no crate fits: structured-merge-diff exists only in Go, and neither
//! kube-rs (which sends apply patches, and leaves the merge to the server) nor the patch crates
//! in the tree (`json-patch`: RFC 6902 and 7386) track field ownership or conflicts.
//!
//! Divergences: no schema types, so every JSON object is treated as a struct (its fields are
//! "named fields"; the entries of map-typed fields holding objects are owned through their
//! leaves only, where the real server also owns each entry) and lists follow only what [`ListTypes`] says; no version conversion (all entries
//! are compared as recorded); no cap on the number of `Update` managers (the real server folds
//! the oldest into `ancient-changes` beyond 10); no
//! `kubectl.kubernetes.io/last-applied-configuration` interplay; for the `status` subresource,
//! fields of the applied configuration outside `status` are ignored (the real server records
//! them in managedFields but never persists them).

mod fieldset;
mod walk;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::meta::gofmt::go_quote;
use fieldset::{FieldSet, path_string, strip_server_fields};
use walk::{compare, merge, remove_fields, to_field_set, values_equal};

/// The kind of write a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// One field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApplyConflict {
    /// The other manager's name.
    pub(crate) manager: String,
    /// How the other manager wrote the field.
    pub(crate) operation: Operation,
    /// The apiVersion of the other manager's entry.
    pub(crate) api_version: String,
    /// The subresource of the other manager's entry, if any.
    pub(crate) subresource: Option<String>,
    /// The field path as structured-merge-diff prints it, e.g. `.spec.title` or
    /// `.status.conditions[type="Ready"].status`.
    pub(crate) field: String,
}

impl ApplyConflict {
    /// The manager as the apiserver prints it: `"rival"`, `"rival" with subresource "status"`,
    /// `"rival" using kube.rs/v1` (for Update managers).
    pub(crate) fn manager_description(&self) -> String {
        let mut out = go_quote(&self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {}", go_quote(sub)));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The `details.causes[]` entry of the 409 Status.
    pub(crate) fn cause(&self) -> Value {
        json!({
            "type": "FieldManagerConflict",
            "message": format!("conflict with {}", self.manager_description()),
            "field": self.field,
        })
    }
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SsaError {
    /// Fields owned by other managers would change (409 Conflict, see [`conflict_message`]).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<ApplyConflict>),
    /// The applied configuration is malformed (400 BadRequest / 422 Invalid).
    #[error("{0}")]
    Invalid(String),
}

/// How a list merges and is owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced and owned as a whole (the default).
    Atomic,
    /// A set of scalars; each value is owned separately.
    Set,
    /// A list of objects identified by these key fields; each item is owned separately.
    Map(Vec<String>),
}

/// Type information the merge needs: how the list at a path merges.
pub(crate) trait ListTypes {
    /// The list type of the list at `path`: the field names from the root, list items not
    /// represented (`["spec", "template", "spec", "containers", "ports"]`).
    fn list_type(&self, path: &[String]) -> ListType;

    /// Whether the resource has a status subresource: then `status` is ignored by writes to
    /// the main resource, and only `status` is taken from writes to the `status` subresource.
    fn has_status_subresource(&self) -> bool {
        false
    }
}

/// The list types of ObjectMeta, which every resource shares.
pub(crate) fn metadata_list_type(path: &[String]) -> Option<ListType> {
    match path {
        [m, f] if m == "metadata" && f == "finalizers" => Some(ListType::Set),
        [m, f] if m == "metadata" && f == "ownerReferences" => {
            Some(ListType::Map(vec!["uid".to_owned()]))
        }
        [m, _] if m == "metadata" => Some(ListType::Atomic),
        _ => None,
    }
}

/// [`ListTypes`] read from a CRD version's `openAPIV3Schema` (`x-kubernetes-list-type`,
/// `x-kubernetes-list-map-keys`; lists without them are atomic), plus the ObjectMeta lists.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SchemaListTypes<'a> {
    /// The `openAPIV3Schema`.
    pub(crate) schema: &'a Value,
    /// Whether the CRD version enables the status subresource.
    pub(crate) status_subresource: bool,
}

impl ListTypes for SchemaListTypes<'_> {
    fn list_type(&self, path: &[String]) -> ListType {
        if let Some(t) = metadata_list_type(path) {
            return t;
        }
        let mut schema = self.schema;
        for segment in path {
            if schema.get("type").and_then(Value::as_str) == Some("array")
                && let Some(items) = schema.get("items")
            {
                schema = items;
            }
            let next = schema
                .get("properties")
                .and_then(|p| p.get(segment))
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
            match next {
                Some(s) => schema = s,
                None => return ListType::Atomic,
            }
        }
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    fn has_status_subresource(&self) -> bool {
        self.status_subresource
    }
}

// ---------------------------------------------------------------------------------------------
// managedFields entries
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    subresource: Option<String>,
    time: Option<String>,
    set: FieldSet,
    /// The entry as read, re-emitted verbatim while nothing about it changes.
    original: Option<Value>,
}

impl Entry {
    fn same_identity(
        &self,
        manager: &str,
        op: Operation,
        api_version: &str,
        sub: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource.as_deref() == sub
            && (op == Operation::Apply || self.api_version == api_version)
    }

    fn encode(&self) -> Value {
        if let Some(original) = &self.original {
            return original.clone();
        }
        let mut map = Map::new();
        map.insert("manager".to_owned(), json!(self.manager));
        map.insert("operation".to_owned(), json!(self.operation.as_str()));
        map.insert("apiVersion".to_owned(), json!(self.api_version));
        if let Some(time) = &self.time {
            map.insert("time".to_owned(), json!(time));
        }
        map.insert("fieldsType".to_owned(), json!("FieldsV1"));
        map.insert("fieldsV1".to_owned(), self.set.to_fields_v1());
        if let Some(sub) = &self.subresource {
            map.insert("subresource".to_owned(), json!(sub));
        }
        Value::Object(map)
    }

    fn touch(&mut self) {
        self.original = None;
    }
}

fn decode_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            let set = e
                .get("fieldsV1")
                .map(FieldSet::from_fields_v1)
                .and_then(Result::ok)
                .unwrap_or_default();
            Entry {
                manager: text("manager").unwrap_or_default(),
                operation: if text("operation").as_deref() == Some("Apply") {
                    Operation::Apply
                } else {
                    Operation::Update
                },
                api_version: text("apiVersion").unwrap_or_default(),
                subresource: text("subresource").filter(|s| !s.is_empty()),
                time: text("time"),
                set,
                original: Some(e.clone()),
            }
        })
        .collect()
}

fn time_seconds(time: Option<&str>) -> i64 {
    time.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// Drops empty entries, sorts like the apiserver and writes `metadata.managedFields` (removing
/// it when no entry is left).
fn encode_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| time_seconds(p.time.as_deref()).cmp(&time_seconds(q.time.as_deref())))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert(
            "managedFields".to_owned(),
            Value::Array(entries.iter().map(Entry::encode).collect()),
        );
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(metadata) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    out
}

/// The object a create starts from: just the type.
fn empty_like(object: &Value) -> Value {
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = object.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// Which top-level fields a write through `subresource` may touch.
fn top_level_filter(
    subresource: Option<&str>,
    list_types: &dyn ListTypes,
) -> impl Fn(&str) -> bool {
    let status_only = subresource == Some("status");
    let ignore_status = subresource.is_none() && list_types.has_status_subresource();
    move |field: &str| {
        if status_only {
            field == "status"
        } else {
            !(ignore_status && field == "status")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Apply and update
// ---------------------------------------------------------------------------------------------

/// Server-side apply `applied` (the request body, already parsed from YAML/JSON) by `manager`
/// onto `live` (None = create). Returns the new object with `metadata.managedFields` updated;
/// it equals `live` when the apply changes nothing. `subresource` is `Some("status")` for the
/// status subresource; `now` is the RFC 3339 time recorded in changed entries.
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    subresource: Option<&str>,
    force: bool,
    now: &str,
    list_types: &dyn ListTypes,
) -> Result<Value, SsaError> {
    let Some(applied_map) = applied.as_object() else {
        return Err(SsaError::Invalid(
            "the applied configuration must be an object".to_owned(),
        ));
    };
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(SsaError::Invalid(
            "metadata.managedFields must be nil".to_owned(),
        ));
    }
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    // The configuration this endpoint may write.
    let keep = top_level_filter(subresource, list_types);
    let mut config = Map::new();
    for (k, v) in applied_map {
        let identity = matches!(k.as_str(), "apiVersion" | "kind");
        if identity || keep(k) {
            config.insert(k.clone(), v.clone());
        } else if k == "metadata" {
            // Keep the identity of the object so the merge still targets it.
            let mut meta = Map::new();
            for key in ["name", "namespace"] {
                if let Some(x) = v.get(key) {
                    meta.insert(key.to_owned(), x.clone());
                }
            }
            config.insert(k.clone(), Value::Object(meta));
        }
    }
    let config = Value::Object(config);

    let live_object = live.cloned().unwrap_or_else(|| empty_like(applied));
    let mut entries = decode_entries(&live_object);
    let live_clean = without_managed_fields(&live_object);

    let mut merged = merge(Some(&live_clean), &config, &mut Vec::new(), list_types)
        .map_err(SsaError::Invalid)?;
    let mut config_set = to_field_set(&config, list_types).map_err(SsaError::Invalid)?;
    strip_server_fields(&mut config_set);
    config_set.retain_top_level(&keep);

    let applier = entries
        .iter()
        .position(|e| e.same_identity(manager, Operation::Apply, &api_version, subresource));
    let last_set = applier.map(|i| entries[i].set.clone()).unwrap_or_default();

    // Remove what this manager applied last time, no longer applies, and nobody else owns.
    if !last_set.is_empty() {
        let mut managed = config_set.clone();
        for (i, e) in entries.iter().enumerate() {
            if Some(i) != applier {
                managed = managed.union(&e.set);
            }
        }
        let merged_set = to_field_set(&merged, list_types)
            .unwrap_or_default()
            .ensure_named_fields_are_members();
        let mut removal = last_set
            .ensure_named_fields_are_members()
            .intersection(&merged_set)
            .difference(&managed.ensure_named_fields_are_members());
        strip_server_fields(&mut removal);
        removal.retain_top_level(&keep);
        remove_fields(&mut merged, &removal, &mut Vec::new(), list_types);
    }

    // Conflicts with, and ownership taken from, the other managers.
    let mut cmp = compare(&live_clean, &merged, list_types);
    for s in [&mut cmp.added, &mut cmp.removed, &mut cmp.modified] {
        strip_server_fields(s);
        s.retain_top_level(&keep);
    }
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == applier {
            continue;
        }
        let conflict = e.set.intersection(&changed);
        for path in conflict.members() {
            conflicts.push(ApplyConflict {
                manager: e.manager.clone(),
                operation: e.operation,
                api_version: e.api_version.clone(),
                subresource: e.subresource.clone(),
                field: path_string(&path),
            });
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(SsaError::Conflicts(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == applier {
            continue;
        }
        let reduced = e.set.difference(&changed).difference(&cmp.removed);
        if reduced != e.set {
            e.set = reduced;
            e.touch();
        }
    }

    let object_changed = !values_equal(&merged, &live_clean);
    match applier {
        Some(i) => {
            let e = &mut entries[i];
            if e.set != config_set || e.api_version != api_version || object_changed {
                e.set = config_set;
                e.api_version = api_version;
                if object_changed {
                    e.time = Some(now.to_owned());
                }
                e.touch();
            }
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: Operation::Apply,
            api_version,
            subresource: subresource.map(str::to_owned),
            time: Some(now.to_owned()),
            set: config_set,
            original: None,
        }),
    }
    let dirty = entries
        .iter()
        .any(|e| e.original.is_none() || e.set.is_empty());
    if !object_changed && !dirty && live.is_some() {
        // Exactly the live object, so the caller can recognise the no-op.
        return Ok(live_object);
    }
    encode_entries(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create/update/patch) by `manager`: fields that the write added or
/// changed become owned by `manager` with operation `Update` (and are taken from every other
/// manager, as are removed fields). `new` may carry `metadata.managedFields` sent by the client,
/// which then replace the live ones (like the real server; `[{}]` resets them), except for
/// subresources.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
    list_types: &dyn ListTypes,
) {
    let sent = decode_entries(new);
    let mut entries = if subresource.is_none() && !sent.is_empty() {
        sent
    } else {
        old.map(decode_entries).unwrap_or_default()
    };
    let came_from_client = subresource.is_none()
        && new
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty());
    let old_object = old.cloned().unwrap_or_else(|| empty_like(new));
    let old_clean = without_managed_fields(&old_object);
    let new_clean = without_managed_fields(new);
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let keep = top_level_filter(subresource, list_types);
    let mut cmp = compare(&old_clean, &new_clean, list_types);
    for s in [&mut cmp.added, &mut cmp.removed, &mut cmp.modified] {
        strip_server_fields(s);
        s.retain_top_level(&keep);
    }
    let changed = cmp.modified.union(&cmp.added);

    for e in &mut entries {
        let reduced = e.set.difference(&changed).difference(&cmp.removed);
        if reduced != e.set {
            e.set = reduced;
            e.touch();
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_identity(manager, Operation::Update, &api_version, subresource))
        {
            Some(e) => {
                e.set = e.set.union(&changed);
                e.time = Some(now.to_owned());
                e.touch();
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: Operation::Update,
                api_version,
                subresource: subresource.map(str::to_owned),
                time: Some(now.to_owned()),
                set: changed,
                original: None,
            }),
        }
    }
    let dirty = entries
        .iter()
        .any(|e| e.original.is_none() || e.set.is_empty());
    if dirty {
        encode_entries(new, entries);
    } else if !came_from_client {
        // Nothing changed: keep the live managedFields exactly.
        let live = old
            .and_then(|o| o.pointer("/metadata/managedFields"))
            .cloned();
        if let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            match live {
                Some(list) => {
                    metadata.insert("managedFields".to_owned(), list);
                }
                None => {
                    metadata.remove("managedFields");
                }
            }
        }
    }
}

/// The message of a 409 conflict Status, like the real one:
/// `Apply failed with 1 conflict: conflict with "rival" using kube.rs/v1: .spec.title`, and for
/// several conflicts one `conflicts with <manager>:` block per manager (sorted), each path on a
/// `- <path>` line.
pub(crate) fn conflict_message(conflicts: &[ApplyConflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager_description(),
            one.field
        );
    }
    let mut by_manager: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry(c.manager_description())
            .or_default()
            .push(&c.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {manager}:"));
        for f in fields {
            lines.push(format!("- {f}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed assertion in tests
mod tests {
    use super::*;

    /// `status.conditions` is a map list keyed by `type`, `metadata.finalizers` a set.
    struct Types;

    impl ListTypes for Types {
        fn list_type(&self, path: &[String]) -> ListType {
            if let Some(t) = metadata_list_type(path) {
                return t;
            }
            match path.join(".").as_str() {
                "status.conditions" => ListType::Map(vec!["type".to_owned()]),
                "spec.tags" => ListType::Set,
                _ => ListType::Atomic,
            }
        }
    }

    struct WithStatus;

    impl ListTypes for WithStatus {
        fn list_type(&self, path: &[String]) -> ListType {
            Types.list_type(path)
        }
        fn has_status_subresource(&self) -> bool {
            true
        }
    }

    const T1: &str = "2026-01-01T00:00:00Z";
    const T2: &str = "2026-01-01T00:01:00Z";
    const T3: &str = "2026-01-01T00:02:00Z";

    fn doc(spec: Value) -> Value {
        json!({"apiVersion": "kube.rs/v1", "kind": "Document",
               "metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|e| e["manager"] == manager))
            .unwrap_or_else(|| panic!("no entry for {manager} in {obj:#}"))
    }

    fn create(obj: &Value, manager: &str) -> Value {
        let mut new = obj.clone();
        record_update(None, &mut new, manager, None, T1, &Types);
        new
    }

    #[test]
    fn apply_on_create_records_an_apply_entry_with_fields_v1() {
        let out = apply(
            None,
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"title": "a"}));
        assert_eq!(
            entries(&out),
            [json!({
                "manager": "me", "operation": "Apply", "apiVersion": "kube.rs/v1", "time": T1,
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:title": {}}}
            })]
        );
    }

    #[test]
    fn create_by_update_owns_new_containers_with_a_dot() {
        let mut obj = doc(json!({"title": "a"}));
        obj["metadata"]["labels"] = json!({"app": "web"});
        let out = create(&obj, "kubectl-create");
        assert_eq!(
            entry(&out, "kubectl-create")["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {".": {}, "f:title": {}}
            })
        );
        assert_eq!(entry(&out, "kubectl-create")["operation"], "Update");
    }

    #[test]
    fn a_no_op_apply_returns_the_live_object_unchanged() {
        let live = apply(
            None,
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        let again = apply(
            Some(&live),
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn applying_the_same_status_conditions_is_not_a_write() {
        let status = json!({"apiVersion": "kube.rs/v1", "kind": "Document",
        "metadata": {"name": "x", "namespace": "ns"},
        "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ok"},
            {"type": "Synced", "status": "False"}
        ]}});
        let live = create(&doc(json!({"title": "a"})), "creator");
        let first = apply(
            Some(&live),
            &status,
            "ctl",
            Some("status"),
            true,
            T2,
            &WithStatus,
        )
        .unwrap();
        assert_eq!(
            entry(&first, "ctl")["fieldsV1"],
            json!({"f:status": {"f:conditions": {
                "k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}, "f:status": {}, "f:reason": {}},
                "k:{\"type\":\"Synced\"}": {".": {}, "f:type": {}, "f:status": {}}
            }}})
        );
        assert_eq!(entry(&first, "ctl")["subresource"], "status");
        let second = apply(
            Some(&first),
            &status,
            "ctl",
            Some("status"),
            true,
            T3,
            &WithStatus,
        )
        .unwrap();
        assert_eq!(second, first);
    }

    #[test]
    fn a_field_owned_by_another_manager_with_a_different_value_conflicts() {
        let live = create(&doc(json!({"title": "a"})), "rival");
        let err = apply(
            Some(&live),
            &doc(json!({"title": "b"})),
            "me",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap_err();
        let SsaError::Conflicts(conflicts) = &err else {
            panic!("expected conflicts, got {err:?}");
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, ".spec.title");
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "rival" using kube.rs/v1: .spec.title"#
        );
        assert_eq!(
            conflicts[0].cause(),
            json!({"type": "FieldManagerConflict",
                   "message": "conflict with \"rival\" using kube.rs/v1", "field": ".spec.title"})
        );
    }

    #[test]
    fn force_takes_ownership_from_the_other_manager() {
        let live = create(&doc(json!({"title": "a", "body": "x"})), "rival");
        let out = apply(
            Some(&live),
            &doc(json!({"title": "b"})),
            "me",
            None,
            true,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"title": "b", "body": "x"}));
        assert_eq!(
            entry(&out, "me")["fieldsV1"],
            json!({"f:spec": {"f:title": {}}})
        );
        assert_eq!(
            entry(&out, "rival")["fieldsV1"],
            json!({"f:spec": {".": {}, "f:body": {}}})
        );
    }

    #[test]
    fn the_same_value_is_shared_without_conflict() {
        let live = create(&doc(json!({"title": "a"})), "rival");
        let out = apply(
            Some(&live),
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(
            entry(&out, "me")["fieldsV1"],
            json!({"f:spec": {"f:title": {}}})
        );
        assert_eq!(
            entry(&out, "rival")["fieldsV1"],
            json!({"f:spec": {".": {}, "f:title": {}}})
        );
        // Apply entries sort before Update entries.
        assert_eq!(entries(&out)[0]["manager"], "me");
    }

    #[test]
    fn a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() {
        let live = apply(
            None,
            &doc(json!({"title": "a", "body": "b", "extra": {"x": 1}})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        let out = apply(
            Some(&live),
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"title": "a"}));
        assert_eq!(entry(&out, "me")["time"], T2);

        // Shared with another applier: stays.
        let live = apply(
            None,
            &doc(json!({"title": "a", "body": "b"})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &doc(json!({"body": "b"})),
            "other",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        let out = apply(
            Some(&live),
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T3,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"title": "a", "body": "b"}));
    }

    #[test]
    fn map_list_items_merge_by_key_and_keep_other_items() {
        let base =
            json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"}});
        let mut a = base.clone();
        a["status"] = json!({"conditions": [{"type": "Ready", "status": "False"}]});
        let live = apply(None, &a, "ready-owner", None, false, T1, &Types).unwrap();
        let mut b = base.clone();
        b["status"] = json!({"conditions": [{"type": "Synced", "status": "True"}]});
        let out = apply(Some(&live), &b, "sync-owner", None, false, T2, &Types).unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}])
        );
        // Changing the other manager's item conflicts at the item's field.
        let mut c = base.clone();
        c["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        let err = apply(Some(&out), &c, "sync-owner", None, false, T3, &Types).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "ready-owner": .status.conditions[type="Ready"].status"#
        );
    }

    #[test]
    fn set_lists_own_each_value() {
        let live = apply(
            None,
            &doc(json!({"tags": ["a", "b"]})),
            "one",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        assert_eq!(
            entry(&live, "one")["fieldsV1"],
            json!({"f:spec": {"f:tags": {"v:\"a\"": {}, "v:\"b\"": {}}}})
        );
        let out = apply(
            Some(&live),
            &doc(json!({"tags": ["c"]})),
            "two",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"]["tags"], json!(["a", "b", "c"]));
    }

    #[test]
    fn map_list_items_without_their_key_are_invalid() {
        let mut a = doc(json!({}));
        a["status"] = json!({"conditions": [{"status": "True"}]});
        let err = apply(None, &a, "me", None, false, T1, &Types).unwrap_err();
        assert!(
            matches!(err, SsaError::Invalid(ref m) if m.contains("omits key field \"type\"")),
            "{err}"
        );
    }

    #[test]
    fn applied_managed_fields_are_rejected() {
        let mut a = doc(json!({}));
        a["metadata"]["managedFields"] = json!([{}]);
        let err = apply(None, &a, "me", None, false, T1, &Types).unwrap_err();
        assert_eq!(
            err,
            SsaError::Invalid("metadata.managedFields must be nil".to_owned())
        );
    }

    #[test]
    fn status_is_ignored_on_the_main_resource_when_it_has_a_status_subresource() {
        let live = create(&doc(json!({"title": "a"})), "creator");
        let mut a = doc(json!({"title": "a"}));
        a["status"] = json!({"phase": "Done"});
        let out = apply(Some(&live), &a, "me", None, false, T2, &WithStatus).unwrap();
        assert!(out.get("status").is_none());
        assert_eq!(
            entry(&out, "me")["fieldsV1"],
            json!({"f:spec": {"f:title": {}}})
        );
        // The status subresource only takes status.
        let mut s = doc(json!({"title": "ignored"}));
        s["status"] = json!({"phase": "Done"});
        let out = apply(
            Some(&out),
            &s,
            "ctl",
            Some("status"),
            false,
            T3,
            &WithStatus,
        )
        .unwrap();
        assert_eq!(out["spec"]["title"], "a");
        assert_eq!(out["status"]["phase"], "Done");
        assert_eq!(
            entry(&out, "ctl")["fieldsV1"],
            json!({"f:status": {"f:phase": {}}})
        );
    }

    #[test]
    fn update_takes_changed_fields_from_appliers_and_merges_its_own_entry() {
        let live = apply(
            None,
            &doc(json!({"title": "a", "body": "b"})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        let mut new = live.clone();
        new["spec"]["title"] = json!("edited");
        record_update(Some(&live), &mut new, "kubectl-edit", None, T2, &Types);
        assert_eq!(
            entry(&new, "me")["fieldsV1"],
            json!({"f:spec": {"f:body": {}}})
        );
        assert_eq!(
            entry(&new, "kubectl-edit")["fieldsV1"],
            json!({"f:spec": {"f:title": {}}})
        );
        assert_eq!(entry(&new, "kubectl-edit")["time"], T2);

        let mut newer = new.clone();
        newer["spec"]["body"] = json!("edited too");
        record_update(Some(&new), &mut newer, "kubectl-edit", None, T3, &Types);
        assert_eq!(
            entry(&newer, "kubectl-edit")["fieldsV1"],
            json!({"f:spec": {"f:body": {}, "f:title": {}}})
        );
        assert_eq!(entry(&newer, "kubectl-edit")["time"], T3);
        // The applier lost its last field, so its entry is dropped.
        assert_eq!(entries(&newer).len(), 1);
    }

    #[test]
    fn a_no_op_update_keeps_managed_fields_and_times() {
        let live = create(&doc(json!({"title": "a"})), "creator");
        let mut same = live.clone();
        same["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        same["metadata"]["resourceVersion"] = json!("42");
        record_update(Some(&live), &mut same, "someone", None, T3, &Types);
        assert_eq!(entries(&same), entries(&live));
    }

    #[test]
    fn removed_fields_are_taken_from_their_owner() {
        let live = create(&doc(json!({"title": "a", "body": "b"})), "creator");
        let mut new = live.clone();
        new["spec"].as_object_mut().unwrap().remove("body");
        record_update(Some(&live), &mut new, "editor", None, T2, &Types);
        assert_eq!(
            entry(&new, "creator")["fieldsV1"],
            json!({"f:spec": {".": {}, "f:title": {}}})
        );
        assert!(entries(&new).iter().all(|e| e["manager"] != "editor"));
    }

    #[test]
    fn finalizers_are_a_set_owned_per_value() {
        let mut obj = doc(json!({"title": "a"}));
        obj["metadata"]["finalizers"] = json!(["kube.rs/cleanup"]);
        let out = create(&obj, "ctl");
        assert_eq!(
            entry(&out, "ctl")["fieldsV1"]["f:metadata"],
            json!({"f:finalizers": {".": {}, "v:\"kube.rs/cleanup\"": {}}})
        );
    }

    #[test]
    fn conflict_message_groups_several_conflicts_by_manager() {
        let c = |manager: &str, op, field: &str| ApplyConflict {
            manager: manager.to_owned(),
            operation: op,
            api_version: "kube.rs/v1".to_owned(),
            subresource: None,
            field: field.to_owned(),
        };
        assert_eq!(
            conflict_message(&[
                c("b", Operation::Apply, ".spec.x"),
                c("a", Operation::Update, ".spec.y"),
                c("a", Operation::Update, ".spec.z"),
            ]),
            "Apply failed with 3 conflicts: conflicts with \"a\" using kube.rs/v1:\n- .spec.y\n- .spec.z\nconflicts with \"b\":\n- .spec.x"
        );
    }

    #[test]
    fn schema_list_types_read_the_crd_extensions() {
        let schema = json!({"type": "object", "properties": {"status": {"type": "object", "properties": {
            "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"tags": {"type": "array", "x-kubernetes-list-type": "set"}}}},
            "plain": {"type": "array"}
        }}}});
        let types = SchemaListTypes {
            schema: &schema,
            status_subresource: true,
        };
        let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            types.list_type(&p("status.conditions")),
            ListType::Map(vec!["type".to_owned()])
        );
        assert_eq!(types.list_type(&p("status.conditions.tags")), ListType::Set);
        assert_eq!(types.list_type(&p("status.plain")), ListType::Atomic);
        assert_eq!(types.list_type(&p("metadata.finalizers")), ListType::Set);
        assert!(types.has_status_subresource());
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                       "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}},
                       "f:spec": {"f:tags": {"v:\"x\"": {}}, "f:list": {"i:0": {}}}});
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(set.to_fields_v1(), v);
    }

    fn status_body(conditions: Value) -> Value {
        json!({"apiVersion": "kube.rs/v1", "kind": "Document",
               "metadata": {"name": "x"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn a_map_list_item_no_longer_applied_is_removed() {
        let live = create(&doc(json!({"title": "a"})), "creator");
        let both = status_body(
            json!([{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}]),
        );
        let live = apply(
            Some(&live),
            &both,
            "ctl",
            Some("status"),
            true,
            T2,
            &WithStatus,
        )
        .unwrap();
        let one = status_body(json!([{"type": "Ready", "status": "True"}]));
        let out = apply(
            Some(&live),
            &one,
            "ctl",
            Some("status"),
            true,
            T3,
            &WithStatus,
        )
        .unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}])
        );
        assert_eq!(
            entry(&out, "ctl")["fieldsV1"],
            json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}, "f:status": {}}}}})
        );
        assert_eq!(entry(&out, "ctl")["time"], T3);
    }

    #[test]
    fn a_nested_object_left_empty_by_pruning_is_removed_too() {
        let live = apply(
            None,
            &doc(json!({"title": "a", "deep": {"inner": {"x": 1}}})),
            "me",
            None,
            false,
            T1,
            &Types,
        )
        .unwrap();
        let out = apply(
            Some(&live),
            &doc(json!({"title": "a"})),
            "me",
            None,
            false,
            T2,
            &Types,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"title": "a"}));
    }

    #[test]
    fn status_subresource_updates_only_record_status_changes() {
        let live = create(&doc(json!({"title": "a"})), "creator");
        let mut new = live.clone();
        new["status"] = json!({"phase": "Done"});
        new["spec"]["title"] = json!("sneaky");
        record_update(
            Some(&live),
            &mut new,
            "ctl",
            Some("status"),
            T2,
            &WithStatus,
        );
        assert_eq!(
            entry(&new, "ctl")["fieldsV1"],
            json!({"f:status": {".": {}, "f:phase": {}}})
        );
        assert_eq!(entry(&new, "ctl")["subresource"], "status");
        assert_eq!(
            entry(&new, "creator")["fieldsV1"],
            json!({"f:spec": {".": {}, "f:title": {}}})
        );
    }

    #[test]
    fn client_sent_managed_fields_replace_the_live_ones() {
        let live = create(&doc(json!({"title": "a"})), "creator");
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        new["spec"]["title"] = json!("b");
        record_update(Some(&live), &mut new, "editor", None, T2, &Types);
        assert_eq!(entries(&new).len(), 1);
        assert_eq!(
            entry(&new, "editor")["fieldsV1"],
            json!({"f:spec": {"f:title": {}}})
        );
    }

    #[test]
    fn applying_an_update_managers_item_with_force_moves_the_whole_item() {
        let base = status_body(json!([{"type": "Ready", "status": "False"}]));
        let mut live = create(&doc(json!({"title": "a"})), "creator");
        live["status"] = base["status"].clone();
        let old = create(&doc(json!({"title": "a"})), "creator");
        record_update(Some(&old), &mut live, "old-ctl", None, T2, &Types);
        let applied = status_body(json!([{"type": "Ready", "status": "True"}]));
        let err = apply(Some(&live), &applied, "new-ctl", None, false, T3, &Types).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#".status.conditions[type="Ready"].status"#),
            "{err}"
        );
        let out = apply(Some(&live), &applied, "new-ctl", None, true, T3, &Types).unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}])
        );
        assert_eq!(
            entry(&out, "old-ctl")["fieldsV1"],
            json!({"f:status": {".": {}, "f:conditions": {".": {}, "k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}}}}})
        );
    }
}
