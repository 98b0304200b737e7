//! Deletes: preconditions, finalizers, propagation policies and deletecollection
//! (<https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/>).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Ctx, Filter, is_crd_res, is_namespace_res};
use crate::http::{Call, json_response};
use crate::objects::{self, meta_str};
use crate::status::ApiError;
use crate::store::{ObjKey, WriteOp, Written};

impl Ctx<'_> {
    pub(crate) fn delete(&self, call: &Call) -> Result<Response, ApiError> {
        let options: Value = if call.body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&call.body).unwrap_or_else(|_| json!({}))
        };
        let written = self.delete_object(&self.key(), &options)?;
        if !written.deleted {
            return Ok(self.respond(call, StatusCode::OK, &written.object));
        }
        // Stores with `ReturnDeletedObject: true` (serviceaccounts among the served kinds)
        // answer with the object; the rest, custom resources included, with a Success Status.
        if self.info.group.is_empty() && self.info.resource == "serviceaccounts" {
            return Ok(self.respond(call, StatusCode::OK, &written.object));
        }
        let status = crate::status::success(
            &self.info.group,
            &self.info.resource,
            self.name(),
            meta_str(&written.object, "uid"),
        );
        Ok(json_response(StatusCode::OK, &status))
    }

    /// Deletes one object honouring preconditions and finalizers (`rest.BeforeDelete`).
    pub(crate) fn delete_object(&self, key: &ObjKey, options: &Value) -> Result<Written, ApiError> {
        if is_namespace_res(&self.res)
            && matches!(key.1.as_str(), "default" | "kube-system" | "kube-public")
        {
            // The NamespaceLifecycle admission plugin protects the immortal namespaces.
            return Err(ApiError::ForbiddenObject {
                group: String::new(),
                resource: "namespaces".into(),
                name: key.1.clone(),
                reason: "this namespace may not be deleted".into(),
            });
        }
        let pre_rv = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let pre_uid = options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let name = key.1.clone();
        let info = &self.info;
        let is_namespace = is_namespace_res(&self.res);
        let written = self.commit( key, |current, _| {
            let Some(current) = current else {
                return Err(ApiError::not_found(&info.group, &info.resource, &name));
            };
            let conflict = |detail: String| ApiError::Conflict {
                group: info.group.clone(),
                resource: info.resource.clone(),
                name: name.clone(),
                detail,
                causes: Vec::new(),
            };
            let have_uid = meta_str(current, "uid");
            if !pre_uid.is_empty() && pre_uid != have_uid {
                return Err(conflict(format!(
                    "Precondition failed: UID in precondition: {pre_uid}, UID in object meta: {have_uid}"
                )));
            }
            let have_rv = meta_str(current, "resourceVersion");
            if !pre_rv.is_empty() && pre_rv != have_rv {
                return Err(conflict(format!(
                    "Precondition failed: ResourceVersion in precondition: {pre_rv}, ResourceVersion in object meta: {have_rv}"
                )));
            }
            let extra = propagation_finalizer(options);
            let namespace_pending = is_namespace
                && current
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty());
            if objects::finalizers(current).is_empty() && extra.is_none() && !namespace_pending {
                return Ok(WriteOp::Delete);
            }
            if objects::is_deleting(current) {
                return Ok(WriteOp::Noop);
            }
            let mut marked = (**current).clone();
            objects::mark_deleting(&mut marked);
            if let Some(f) = extra {
                let list = objects::meta_mut(&mut marked)
                    .entry("finalizers")
                    .or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut()
                    && !items.iter().any(|i| i == f)
                {
                    items.push(json!(f));
                }
            }
            if is_crd_res(&self.res) {
                crate::crd::mark_terminating(&mut marked);
            }
            if namespace_pending {
                objects::set_path(&mut marked, &["status", "phase"], json!("Terminating"));
            }
            Ok(WriteOp::Put(marked))
        })?;
        if !self.dry_run && !written.deleted && objects::is_deleting(&written.object) {
            if is_namespace {
                crate::gc::terminate_namespace(self.state, &key.1);
            }
            if is_crd_res(&self.res) {
                crate::gc::crd_cleanup(self.state, &written.object);
            }
            let finalizers = objects::finalizers(&written.object);
            if finalizers.iter().any(|f| f == FOREGROUND || f == ORPHAN) {
                crate::gc::propagate(self.state, &self.res, &written.object);
            }
        }
        self.after_write(&written);
        Ok(written)
    }

    /// Removes `finalizer` from the object (if it is still the same object), completing its
    /// deletion when it was the last one; used by the garbage collector and namespace
    /// controller stand-ins.
    pub(crate) fn remove_finalizer(&self, key: &ObjKey, uid: &str, finalizer: &str) {
        let written = self.commit(key, |current, _| {
            let Some(current) = current.filter(|c| meta_str(c, "uid") == uid) else {
                return Err(ApiError::Internal("gone".into()));
            };
            let mut updated = (**current).clone();
            if let Some(Value::Array(items)) = updated.pointer_mut("/metadata/finalizers") {
                items.retain(|i| i != finalizer);
            }
            if is_namespace_res(&self.res) && finalizer == "kubernetes" {
                objects::set_path(&mut updated, &["spec", "finalizers"], json!([]));
            }
            if objects::same_object(current, &updated) {
                return Ok(WriteOp::Noop);
            }
            if objects::is_deleting(&updated) && objects::finalizers(&updated).is_empty() {
                return Ok(WriteOp::Delete);
            }
            Ok(WriteOp::Put(updated))
        });
        if let Ok(written) = written {
            self.after_write(&written);
        }
    }

    pub(crate) fn delete_collection(&self, call: &Call) -> Result<Response, ApiError> {
        let filter = Filter::parse(&self.info, call)?;
        let (items, _) = self
            .state
            .store
            .list(&self.res, self.target.namespace.as_deref(), None);
        let mut deleted = Vec::new();
        for (key, obj) in items {
            if !filter.matches(&obj) {
                continue;
            }
            if let Ok(w) = self.delete_object(&key, &json!({})) {
                deleted.push(self.present(&w.object));
            }
        }
        let list = json!({
            "kind": self.info.list_kind,
            "apiVersion": self.info.api_version(),
            "metadata": {"resourceVersion": self.state.store.revision().to_string()},
            "items": deleted,
        });
        Ok(json_response(StatusCode::OK, &list))
    }
}

/// Finalizer of a deletion waiting for its dependents (`propagationPolicy: Foreground`).
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of a deletion orphaning its dependents (`propagationPolicy: Orphan`).
pub const ORPHAN: &str = "orphan";

/// The finalizer a delete's propagation policy adds, like `rest.BeforeDelete` with the
/// garbage collector enabled (`orphanDependents: true` is the legacy spelling of Orphan).
fn propagation_finalizer(options: &Value) -> Option<&'static str> {
    match options.get("propagationPolicy").and_then(Value::as_str) {
        Some("Foreground") => Some(FOREGROUND),
        Some("Orphan") => Some(ORPHAN),
        Some(_) => None,
        None if options.get("orphanDependents").and_then(Value::as_bool) == Some(true) => {
            Some(ORPHAN)
        }
        None => None,
    }
}
