//! Namespaces (core/v1), `pkg/registry/core/namespace/strategy.go`: a new namespace gets the
//! `kubernetes.io/metadata.name` label, the `kubernetes` finalizer in `spec.finalizers` and
//! phase `Active`; `spec.finalizers` changes only through `/finalize` (here: the namespace
//! controller, `crate::controllers`), so updates keep it; a namespace name is a DNS-1123
//! label; while its `spec.finalizers` are pending, a deleted namespace stays, `Terminating`.

use serde_json::{Value, json};

use super::ResourceInfo;
use super::strategy::Strategy;
use crate::meta::object::{meta_mut, meta_str, set_path};
use crate::meta::validation::dns1123_label_errors;
use crate::storage::ResKey;

/// The finalizer of the namespace controller in `spec.finalizers`.
pub(crate) const FINALIZER: &str = "kubernetes";

/// The namespaces a cluster cannot delete (the `NamespaceLifecycle` admission plugin's
/// immortal namespaces).
pub(crate) const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

/// The namespaces every cluster starts with.
pub(crate) const INITIAL: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Where namespaces are stored.
pub(crate) fn key() -> ResKey {
    (String::new(), "namespaces".to_owned())
}

/// The namespace strategy.
pub(crate) struct Namespaces;

impl Strategy for Namespaces {
    fn name_errors(&self, name: &str) -> Vec<String> {
        dns1123_label_errors(name)
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.phase"]
    }

    fn prepare_for_create(&self, _info: &ResourceInfo, obj: &mut Value) {
        let name = meta_str(obj, "name").to_owned();
        let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
        set_path(obj, &["spec", "finalizers"], json!([FINALIZER]));
        set_path(obj, &["status"], json!({"phase": "Active"}));
    }

    fn prepare_for_update(&self, old: &Value, new: &mut Value) {
        // spec.finalizers only change through /finalize, status through /status.
        if let Some(f) = old.pointer("/spec/finalizers") {
            set_path(new, &["spec", "finalizers"], f.clone());
        }
    }

    fn deletion_pending(&self, obj: &Value) -> bool {
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    fn mark_terminating(&self, obj: &mut Value) {
        if self.deletion_pending(obj) {
            set_path(obj, &["status", "phase"], json!("Terminating"));
        }
    }
}
