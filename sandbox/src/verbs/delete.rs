//! Deletes: preconditions, finalizers, propagation policies and deletecollection
//! (<https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/>).

use serde_json::{Value, json};

use super::{Answer, Ctx, Filter, Query};
use crate::admission::namespace_lifecycle;
use crate::meta::error::ApiError;
use crate::meta::object::{finalizers, is_deleting, meta_mut, meta_str};
use crate::meta::status::success;
use crate::registry::{namespaces, rest};
use crate::storage::{ObjKey, WriteOp, Written};

impl Ctx<'_> {
    /// Deletes the target object with the `DeleteOptions` of the request (`{}` without).
    pub(crate) fn delete(&self, options: &Value) -> Result<Answer, ApiError> {
        let written = self.delete_object(&self.key(), options)?;
        // Stores with `ReturnDeletedObject: true` (serviceaccounts among the served kinds)
        // answer with the object; the rest, custom resources included, with a Success Status.
        if !written.deleted || self.strategy().return_deleted_object() {
            return Ok(self.object(false, &written.object));
        }
        Ok(Answer::Raw(success(
            &self.info.group,
            &self.info.resource,
            self.name(),
            meta_str(&written.object, "uid"),
        )))
    }

    /// Deletes one object honouring preconditions and finalizers (`rest.BeforeDelete`).
    pub(crate) fn delete_object(&self, key: &ObjKey, options: &Value) -> Result<Written, ApiError> {
        if self.res == namespaces::key() {
            namespace_lifecycle::admit_namespace_delete(&key.1)?;
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
        let strategy = self.strategy();
        let written = self.commit(key, |current, _| {
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
            let pending = strategy.deletion_pending(current);
            if finalizers(current).is_empty() && extra.is_none() && !pending {
                return Ok(WriteOp::Delete);
            }
            if is_deleting(current) {
                return Ok(WriteOp::Noop);
            }
            let mut marked = (**current).clone();
            rest::mark_deleting(&mut marked);
            if let Some(f) = extra {
                let list = meta_mut(&mut marked)
                    .entry("finalizers")
                    .or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut()
                    && !items.iter().any(|i| i == f)
                {
                    items.push(json!(f));
                }
            }
            strategy.mark_terminating(&mut marked);
            Ok(WriteOp::Put(marked))
        })?;
        self.after_write(&written);
        Ok(written)
    }

    /// Deletes every selected object of the target collection.
    pub(crate) fn delete_collection(&self, query: &Query) -> Result<Answer, ApiError> {
        let filter = Filter::parse(&self.info, query)?;
        let (items, _) = self
            .api
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
            "metadata": {"resourceVersion": self.api.store.revision().to_string()},
            "items": deleted,
        });
        Ok(Answer::Raw(list))
    }
}

/// Finalizer of a deletion waiting for its dependents (`propagationPolicy: Foreground`).
pub(crate) const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of a deletion orphaning its dependents (`propagationPolicy: Orphan`).
pub(crate) const ORPHAN: &str = "orphan";

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
