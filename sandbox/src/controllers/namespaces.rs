//! The namespace controller: deletes everything in a terminating namespace, waits until it is
//! empty (objects with finalizers keep it `Terminating`), then clears the `kubernetes`
//! finalizer of its `spec.finalizers` (the `/finalize` subresource) so the namespace goes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{delete, poll_until, remove_finalizer};
use crate::meta::object::{namespace_of, set_path};
use crate::registry::namespaces::{self, FINALIZER};
use crate::storage::ResKey;
use crate::verbs::ApiState;

/// Starts emptying the namespace `name`, whose deletion has started.
pub(crate) fn terminate(api: &Arc<ApiState>, name: &str) {
    for (res, obj) in in_namespace(api, name) {
        delete(api, &res, &obj, "Background");
    }
    let name = name.to_owned();
    poll_until(api, move |api| {
        let ns_res = namespaces::key();
        let Some(ns) = api.store.get(&ns_res, &(String::new(), name.clone())) else {
            return true;
        };
        if !in_namespace(api, &name).is_empty() {
            return false;
        }
        remove_finalizer(api, &ns_res, &ns, FINALIZER, |ns| {
            set_path(ns, &["spec", "finalizers"], json!([]));
        });
        true
    });
}

/// The objects in the namespace `name`.
fn in_namespace(api: &ApiState, name: &str) -> Vec<(ResKey, Arc<Value>)> {
    let ns_res = namespaces::key();
    api.store
        .all_objects()
        .into_iter()
        .filter(|(res, o)| namespace_of(o) == name && *res != ns_res)
        .collect()
}
