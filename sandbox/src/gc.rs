//! Garbage collection and namespace cleanup.
//!
//! Mirrors the garbage collector controller's background propagation
//! (<https://kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion>):
//! once an owner is gone, dependents whose `ownerReferences` all point at missing owners are
//! deleted; dependents with another live owner only lose the dangling reference. Also mirrors
//! the namespace controller deleting everything in a deleted namespace.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Ctx, FOREGROUND, ORPHAN};
use crate::http::AppState;
use crate::objects::meta_str;
use crate::request::Target;
use crate::store::{ResKey, WriteOp, namespace_of};

/// Schedules collection of the dependents of a fully deleted object.
pub fn object_deleted(state: &Arc<AppState>, res: &ResKey, object: &Value) {
    let uid = meta_str(object, "uid").to_owned();
    if uid.is_empty() {
        return;
    }
    let _ = res;
    let state = state.clone();
    tokio::spawn(async move { collect(&state, &uid) });
}

/// How often the controller stand-ins re-check what they wait for.
const POLL: Duration = Duration::from_millis(50);

/// The namespace controller: deletes everything in a terminating namespace, waits until it
/// is empty (objects with finalizers keep it `Terminating`), then clears the `kubernetes`
/// finalizer so the namespace goes away.
pub fn terminate_namespace(state: &Arc<AppState>, namespace: &str) {
    let weak = Arc::downgrade(state);
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        if let Some(state) = weak.upgrade() {
            for (res, obj) in state.store.all_objects() {
                if namespace_of(&obj) == namespace && !is_namespace(&res) {
                    delete(&state, &res, &obj, "Background");
                }
            }
        }
        loop {
            let Some(state) = weak.upgrade() else { return };
            let ns_res = (String::new(), "namespaces".to_owned());
            let key = (String::new(), namespace.clone());
            let Some(ns) = state.store.get(&ns_res, &key) else {
                return;
            };
            let empty = !state
                .store
                .all_objects()
                .iter()
                .any(|(res, o)| namespace_of(o) == namespace && !is_namespace(res));
            if empty {
                if let Some(ctx) = ctx_for(&state, &ns_res, &ns) {
                    ctx.remove_finalizer(&key, meta_str(&ns, "uid"), "kubernetes");
                }
                return;
            }
            drop(state);
            tokio::time::sleep(POLL).await;
        }
    });
}

/// The CRD finalizer controller: deletes every custom resource of a deleted CRD (their
/// finalizers honoured, the resource still served meanwhile), waits until none is left, then
/// clears the cleanup finalizer so the CRD goes away and stops being served.
pub fn crd_cleanup(state: &Arc<AppState>, crd: &Value) {
    let weak = Arc::downgrade(state);
    let crd = crd.clone();
    tokio::spawn(async move {
        let res = crate::crd::resource_key(&crd);
        if let Some(state) = weak.upgrade() {
            let (items, _) = state.store.list(&res, None, None);
            for (_, obj) in items {
                delete(&state, &res, &obj, "Background");
            }
        }
        let crd_res = (
            "apiextensions.k8s.io".to_owned(),
            "customresourcedefinitions".to_owned(),
        );
        let key = (String::new(), meta_str(&crd, "name").to_owned());
        loop {
            let Some(state) = weak.upgrade() else { return };
            if state.store.list(&res, None, None).0.is_empty() {
                if let Some(ctx) = ctx_for(&state, &crd_res, &crd) {
                    ctx.remove_finalizer(
                        &key,
                        meta_str(&crd, "uid"),
                        crate::crd::CLEANUP_FINALIZER,
                    );
                }
                return;
            }
            drop(state);
            tokio::time::sleep(POLL).await;
        }
    });
}

fn is_namespace(res: &ResKey) -> bool {
    res.0.is_empty() && res.1 == "namespaces"
}

/// The garbage collector's handling of an owner deleted with `Foreground` (delete the
/// dependents, wait for those with `blockOwnerDeletion`, then drop the finalizer) or
/// `Orphan` (remove the owner reference from the dependents, then drop the finalizer).
pub fn propagate(state: &Arc<AppState>, res: &ResKey, owner: &Value) {
    let weak = Arc::downgrade(state);
    let res = res.clone();
    let owner = owner.clone();
    tokio::spawn(async move {
        let uid = meta_str(&owner, "uid").to_owned();
        let key = (
            namespace_of(&owner).to_owned(),
            meta_str(&owner, "name").to_owned(),
        );
        let finalizers = crate::objects::finalizers(&owner);
        if finalizers.iter().any(|f| f == ORPHAN) {
            let Some(state) = weak.upgrade() else { return };
            for (dep_res, dep) in dependents(&state, &uid) {
                remove_owner_refs(&state, &dep_res, &dep, |u| u == uid);
            }
            if let Some(ctx) = ctx_for(&state, &res, &owner) {
                ctx.remove_finalizer(&key, &uid, ORPHAN);
            }
            return;
        }
        if let Some(state) = weak.upgrade() {
            for (dep_res, dep) in dependents(&state, &uid) {
                delete(&state, &dep_res, &dep, "Foreground");
            }
        }
        loop {
            let Some(state) = weak.upgrade() else { return };
            let blocking = dependents(&state, &uid).iter().any(|(_, d)| {
                d.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|r| r["uid"] == uid.as_str() && r["blockOwnerDeletion"] == true)
            });
            if !blocking {
                if let Some(ctx) = ctx_for(&state, &res, &owner) {
                    ctx.remove_finalizer(&key, &uid, FOREGROUND);
                }
                return;
            }
            drop(state);
            tokio::time::sleep(POLL).await;
        }
    });
}

fn dependents(state: &AppState, owner_uid: &str) -> Vec<(ResKey, Arc<Value>)> {
    state.store.dependents_of(owner_uid)
}

fn remove_owner_refs(state: &AppState, res: &ResKey, obj: &Value, drop_ref: impl Fn(&str) -> bool) {
    let key = (
        namespace_of(obj).to_owned(),
        meta_str(obj, "name").to_owned(),
    );
    // A dependent that vanished meanwhile needs nothing.
    let _ = state.store.write(res, &key, |current, _| {
        let Some(current) = current else {
            return Err(crate::status::ApiError::Internal("gone".into()));
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
        if crate::objects::same_object(current, &updated) {
            return Ok(WriteOp::Noop);
        }
        Ok(WriteOp::Put(updated))
    });
}

fn ctx_for<'a>(state: &'a Arc<AppState>, res: &ResKey, obj: &Value) -> Option<Ctx<'a>> {
    let versions = state.registry.versions_of(&res.0, &res.1);
    let info = versions
        .iter()
        .find(|i| i.storage)
        .or(versions.first())?
        .clone();
    let ns = namespace_of(obj);
    Some(Ctx {
        state,
        target: Target {
            group: info.group.clone(),
            version: info.version.clone(),
            resource: info.resource.clone(),
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
            name: Some(meta_str(obj, "name").to_owned()),
            subresource: None,
        },
        info,
        res: res.clone(),
        dry_run: false,
        field_validation: crate::fieldvalidation::Mode::Ignore,
        warnings: std::sync::Mutex::default(),
    })
}

fn delete(state: &Arc<AppState>, res: &ResKey, obj: &Value, policy: &str) {
    if let Some(ctx) = ctx_for(state, res, obj) {
        let key = (
            namespace_of(obj).to_owned(),
            meta_str(obj, "name").to_owned(),
        );
        // Already gone or blocked by a precondition: nothing to collect.
        let _ = ctx.delete_object(&key, &json!({"propagationPolicy": policy}));
    }
}

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

fn collect(state: &Arc<AppState>, owner_uid: &str) {
    for (res, obj) in dependents(state, owner_uid) {
        let owners = owner_uids(&obj);
        if owners.iter().any(|u| state.store.uid_exists(u)) {
            // Another owner lives: drop only the dangling references.
            // (Decided before the write: the store lock is not reentrant.)
            let dead: Vec<&String> = owners
                .iter()
                .filter(|u| !state.store.uid_exists(u))
                .collect();
            remove_owner_refs(state, &res, &obj, |u| dead.iter().any(|d| *d == u));
        } else {
            delete(state, &res, &obj, "Background");
        }
    }
}
