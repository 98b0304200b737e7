//! The garbage collector, like kube-controller-manager's
//! (<https://kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion>):
//! once an owner is gone, dependents whose `ownerReferences` all point at missing owners are
//! deleted, and dependents with another live owner only lose the dangling reference
//! ([`collect`]); an owner deleted with `propagationPolicy: Foreground` waits, with the
//! `foregroundDeletion` finalizer, until its blocking dependents are gone, and one deleted
//! with `Orphan` releases its dependents ([`propagate`]). The store's owner index plays the
//! GC's dependency graph.

use std::sync::Arc;

use serde_json::Value;

use super::{delete, key_of, poll_until, remove_finalizer};
use crate::meta::error::ApiError;
use crate::meta::object::{finalizers, meta_str, same_object};
use crate::storage::{ResKey, WriteOp};
use crate::verbs::{ApiState, FOREGROUND, ORPHAN};

/// Collects the dependents of the deleted object `owner_uid`.
pub(crate) fn collect(api: &ApiState, owner_uid: &str) {
    if owner_uid.is_empty() {
        return;
    }
    for (res, obj) in api.store.dependents_of(owner_uid) {
        collect_dependent(api, &res, &obj);
    }
}

/// Collects every object whose owners are (partly) gone; after lost changes.
pub(crate) fn collect_orphans(api: &ApiState) {
    for (res, obj) in api.store.all_objects() {
        let owners = owner_uids(&obj);
        if owners.iter().any(|u| !api.store.uid_exists(u)) {
            collect_dependent(api, &res, &obj);
        }
    }
}

/// Deletes a dependent whose owners are all gone, or drops its references to those gone.
fn collect_dependent(api: &ApiState, res: &ResKey, obj: &Value) {
    let owners = owner_uids(obj);
    if owners.iter().any(|u| api.store.uid_exists(u)) {
        // Another owner lives: drop only the dangling references.
        // (Decided before the write: the store lock is not reentrant.)
        let dead: Vec<&String> = owners.iter().filter(|u| !api.store.uid_exists(u)).collect();
        remove_owner_refs(api, res, obj, |u| dead.iter().any(|d| *d == u));
    } else {
        delete(api, res, obj, "Background");
    }
}

/// The garbage collector's handling of an owner being deleted with `Foreground` (delete the
/// dependents, wait for those with `blockOwnerDeletion`, then drop the finalizer) or
/// `Orphan` (remove the owner reference from the dependents, then drop the finalizer); any
/// other deletion is none of its business until the owner is gone.
pub(crate) fn propagate(api: &Arc<ApiState>, res: &ResKey, owner: &Value) {
    let finalizers = finalizers(owner);
    let uid = meta_str(owner, "uid").to_owned();
    if finalizers.iter().any(|f| f == ORPHAN) {
        for (dep_res, dep) in api.store.dependents_of(&uid) {
            remove_owner_refs(api, &dep_res, &dep, |u| u == uid);
        }
        remove_finalizer(api, res, owner, ORPHAN, |_| {});
        return;
    }
    if !finalizers.iter().any(|f| f == FOREGROUND) {
        return;
    }
    for (dep_res, dep) in api.store.dependents_of(&uid) {
        delete(api, &dep_res, &dep, "Foreground");
    }
    let (res, owner) = (res.clone(), owner.clone());
    poll_until(api, move |api| {
        let blocking = api.store.dependents_of(&uid).iter().any(|(_, d)| {
            d.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == uid.as_str() && r["blockOwnerDeletion"] == true)
        });
        if !blocking {
            remove_finalizer(api, &res, &owner, FOREGROUND, |_| {});
        }
        !blocking
    });
}

/// Removes the owner references `drop_ref` picks from a dependent.
fn remove_owner_refs(api: &ApiState, res: &ResKey, obj: &Value, drop_ref: impl Fn(&str) -> bool) {
    let Some(ctx) = super::ctx_for(api, res, obj) else {
        return;
    };
    // A dependent that vanished meanwhile needs nothing.
    let _ = ctx.guaranteed_update(&key_of(obj), |current, _| {
        let Some(current) = current else {
            return Err(ApiError::Internal("gone".into()));
        };
        let mut updated = (**current).clone();
        if let Some(Value::Array(refs)) = updated.pointer_mut("/metadata/ownerReferences") {
            refs.retain(|r| !r.get("uid").and_then(Value::as_str).is_some_and(&drop_ref));
            if refs.is_empty()
                && let Some(meta) = updated.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.remove("ownerReferences");
            }
        }
        if same_object(current, &updated) {
            return Ok(WriteOp::Noop);
        }
        Ok(WriteOp::Put(updated))
    });
}

/// The uids of an object's owners.
fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
