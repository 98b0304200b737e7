//! `create` (`endpoints/handlers/create.go`): a new object through the generic rules, the
//! kind's strategy and admission (`rest.BeforeCreate`), with its manager's managed fields.

use serde_json::Value;

use super::{Answer, Ctx};
use crate::admission::{custom, managed, namespace_lifecycle};
use crate::meta::error::{ApiError, Cause};
use crate::meta::object::{meta_mut, meta_str};
use crate::registry::{crd, rest};
use crate::storage::{WriteOp, Written};

impl Ctx<'_> {
    /// Creates the object of a POST (decoded by the HTTP layer).
    pub(crate) fn create(&self, obj: Value, manager: &str) -> Result<Answer, ApiError> {
        self.check_fields(&obj)?;
        let written = self.create_object(obj, manager, true)?;
        Ok(self.object(true, &written.object))
    }

    /// The create pipeline, shared by POST, create-on-update and apply-to-missing; managed
    /// fields are recorded for `manager` when `record_fields` (an apply has recorded its own).
    pub(crate) fn create_object(
        &self,
        mut obj: Value,
        manager: &str,
        record_fields: bool,
    ) -> Result<Written, ApiError> {
        let info = &self.info;
        let strategy = self.strategy();
        let mut name = meta_str(&obj, "name").to_owned();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_owned();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    strategy.internal_group(info),
                    &info.kind,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            name = format!("{prefix}{}", random_suffix());
            meta_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
        }
        if let Some(target_name) = &self.target.name
            && *target_name != name
        {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({target_name})"
            )));
        }
        let namespace = if info.namespaced {
            let body_ns = meta_str(&obj, "namespace").to_owned();
            let ns = match (&self.target.namespace, body_ns.is_empty()) {
                (Some(url_ns), false) if *url_ns != body_ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                (Some(url_ns), _) => url_ns.clone(),
                (None, false) => body_ns,
                (None, true) => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the object must be set".into(),
                    ));
                }
            };
            namespace_lifecycle::admit_create(&self.api.store, info, &ns, &name)?;
            meta_mut(&mut obj).insert("namespace".into(), Value::String(ns.clone()));
            ns
        } else {
            meta_mut(&mut obj).remove("namespace");
            String::new()
        };
        if info.custom && crd::terminating(&self.api.store, &info.group, &info.resource) {
            // `crdHandler.serveResource`.
            return Err(ApiError::MethodNotSupported {
                group: info.group.clone(),
                resource: info.resource.clone(),
                message: "create not allowed while custom resource definition is terminating"
                    .into(),
            });
        }
        strategy.default(info, &mut obj);
        rest::validate_meta(info, &obj)?;
        strategy.validate(info, None, &obj)?;
        rest::prepare_create(info, &mut obj)?;
        custom::admit(info, &mut obj)?;
        if !meta_str(&obj, "resourceVersion").is_empty() {
            // After `rest.BeforeCreate`, the etcd store's `Create` refuses it with
            // `storage.ErrResourceVersionSetOnCreate`, which `InterpretCreateError` passes
            // through: a 500 without a reason.
            return Err(ApiError::Storage(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        if record_fields {
            managed::record_update(info, None, &mut obj, manager, None);
        }
        let key = (namespace, name.clone());
        let written = self.commit(&key, |current, _| {
            if current.is_some() {
                return Err(ApiError::already_exists(&info.group, &info.resource, &name));
            }
            Ok(WriteOp::Put(obj))
        })?;
        self.after_write(&written);
        Ok(written)
    }
}

/// Five characters from the alphabet `names.SimpleNameGenerator` uses.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
