//! The controllers a cluster runs beside its apiserver, as clients of the verbs: they follow
//! what is committed (the store's change feed, as controllers follow watches) and act through
//! [`crate::verbs`], never from inside a request.
//!
//! - [`gc`]: the garbage collector (background, foreground and orphan propagation), like
//!   kube-controller-manager's;
//! - [`namespaces`]: the namespace controller, which empties a terminating namespace;
//! - [`crd_finalizer`]: the apiextensions CRD finalizer, which deletes a deleted CRD's objects;
//! - [`flowcontrol`]: the API Priority and Fairness config controller's `Dangling` condition.
//!
//! [`spawn`] starts them all on the current runtime; they end with the store.

pub(crate) mod crd_finalizer;
pub(crate) mod flowcontrol;
pub(crate) mod gc;
pub(crate) mod namespaces;

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::meta::error::ApiError;
use crate::meta::object::{is_deleting, meta_str, namespace_of};
use crate::registry::strategy_of;
use crate::storage::{Event, ObjKey, ResKey, WriteOp};
use crate::verbs::{ApiState, Ctx, Target};

/// How often a controller re-checks what it waits for (dependents gone, a namespace empty).
const POLL: Duration = Duration::from_millis(50);

/// Starts every controller: one task following the change feed of `api`'s store, which hands
/// each committed change to the controllers; when the feed loses changes (the task fell more
/// than the feed's buffer behind), they resync from the stored objects, as an informer relists.
pub(crate) fn spawn(api: &Arc<ApiState>) -> JoinHandle<()> {
    let mut feed = api.store.changes();
    let weak = Arc::downgrade(api);
    tokio::spawn(async move {
        loop {
            let received = feed.recv().await;
            let Some(api) = weak.upgrade() else { return };
            match received {
                Ok(event) => observe(&api, &event),
                Err(RecvError::Lagged(_)) => resync(&api),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Hands one committed change to the controllers.
fn observe(api: &Arc<ApiState>, event: &Event) {
    if event.res == flowcontrol::flow_schemas() || event.res == flowcontrol::priority_levels() {
        flowcontrol::sync(api);
    }
    if event.kind == crate::storage::EventType::Deleted {
        gc::collect(api, meta_str(&event.object, "uid"));
        return;
    }
    let was_deleting = event.prev.as_deref().is_some_and(is_deleting);
    if is_deleting(&event.object) && !was_deleting {
        deletion_started(api, &event.res, &event.object);
    }
}

/// The controllers' work for an object whose deletion just started (its deletion mark set).
fn deletion_started(api: &Arc<ApiState>, res: &ResKey, object: &Value) {
    if *res == crate::registry::namespaces::key() {
        namespaces::terminate(api, meta_str(object, "name"));
    }
    if *res == crate::registry::crd::definitions_key() {
        crd_finalizer::cleanup(api, object);
    }
    gc::propagate(api, res, object);
}

/// After lost changes: everything the controllers would have acted on, from the stored
/// objects (the work already under way is idempotent).
fn resync(api: &Arc<ApiState>) {
    for (res, object) in api.store.all_objects() {
        if is_deleting(&object) {
            deletion_started(api, &res, &object);
        }
    }
    gc::collect_orphans(api);
    flowcontrol::sync(api);
}

/// The verbs' context for writing `obj` of `res` as a controller: at the resource's storage
/// version, no dry run, no field validation.
fn ctx_for<'a>(api: &'a ApiState, res: &ResKey, obj: &Value) -> Option<Ctx<'a>> {
    let versions = api.registry.versions_of(&res.0, &res.1);
    let info = versions
        .iter()
        .find(|i| i.storage)
        .or(versions.first())?
        .clone();
    let ns = namespace_of(obj);
    let target = Target {
        group: info.group.clone(),
        version: info.version.clone(),
        resource: info.resource.clone(),
        namespace: (!ns.is_empty()).then(|| ns.to_owned()),
        name: Some(meta_str(obj, "name").to_owned()),
        subresource: None,
    };
    debug_assert_eq!(strategy_of(&info).storage(&info), *res);
    Some(Ctx::new(
        api,
        info,
        target,
        false,
        crate::admission::fieldvalidation::Mode::Ignore,
    ))
}

/// The key of a stored object.
fn key_of(obj: &Value) -> ObjKey {
    (
        namespace_of(obj).to_owned(),
        meta_str(obj, "name").to_owned(),
    )
}

/// Removes `finalizer` from the object (if it is still the one with `uid`), completing its
/// deletion when it was the last one; `and_then` changes the object further (a namespace's
/// `spec.finalizers`).
fn remove_finalizer(
    api: &ApiState,
    res: &ResKey,
    obj: &Value,
    finalizer: &str,
    and_then: impl FnOnce(&mut Value),
) {
    let Some(ctx) = ctx_for(api, res, obj) else {
        return;
    };
    let uid = meta_str(obj, "uid").to_owned();
    // Gone, or another object by now: nothing to release.
    let _ = ctx.guaranteed_update(&key_of(obj), |current, _| {
        let Some(current) = current.filter(|c| meta_str(c, "uid") == uid) else {
            return Err(ApiError::Internal("gone".into()));
        };
        let mut updated = (**current).clone();
        if let Some(Value::Array(items)) = updated.pointer_mut("/metadata/finalizers") {
            items.retain(|i| i != finalizer);
        }
        and_then(&mut updated);
        if crate::meta::object::same_object(current, &updated) {
            return Ok(WriteOp::Noop);
        }
        if is_deleting(&updated) && crate::meta::object::finalizers(&updated).is_empty() {
            return Ok(WriteOp::Delete);
        }
        Ok(WriteOp::Put(updated))
    });
}

/// Deletes `obj` with `propagationPolicy`, as a controller's client would.
fn delete(api: &ApiState, res: &ResKey, obj: &Value, policy: &str) {
    if let Some(ctx) = ctx_for(api, res, obj) {
        // Already gone or blocked by a precondition: nothing to collect.
        let _ = ctx.delete_object(
            &key_of(obj),
            &serde_json::json!({"propagationPolicy": policy}),
        );
    }
}

/// Runs `step` every [`POLL`] on a task until it returns true or the API state is gone.
fn poll_until(api: &Arc<ApiState>, mut step: impl FnMut(&Arc<ApiState>) -> bool + Send + 'static) {
    let weak: Weak<ApiState> = Arc::downgrade(api);
    tokio::spawn(async move {
        loop {
            let Some(api) = weak.upgrade() else { return };
            if step(&api) {
                return;
            }
            drop(api);
            tokio::time::sleep(POLL).await;
        }
    });
}
