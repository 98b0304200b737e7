//! `update` (`endpoints/handlers/update.go`): a PUT through the generic rules, the kind's
//! strategy and admission (`rest.BeforeUpdate`), with optimistic concurrency, managed fields
//! and no-op detection; the tail every update and patch shares ([`Ctx::finish_update`]).

use serde_json::Value;

use super::{Answer, Ctx};
use crate::admission::{custom, managed};
use crate::meta::error::{ApiError, Cause};
use crate::meta::object::{finalizers, is_deleting, meta_mut, meta_str, same_object};
use crate::registry::rest;
use crate::storage::WriteOp;

impl Ctx<'_> {
    pub(crate) fn name_from_url(&self, obj: &mut Value) -> Result<(), ApiError> {
        let name = meta_str(obj, "name");
        if name.is_empty() {
            meta_mut(obj).insert("name".into(), Value::String(self.name().to_owned()));
            return Ok(());
        }
        if name != self.name() {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                self.name()
            )));
        }
        Ok(())
    }

    /// Replaces the object with the one of a PUT (decoded by the HTTP layer).
    pub(crate) fn update(&self, mut new: Value, manager: &str) -> Result<Answer, ApiError> {
        self.check_fields(&new)?;
        self.name_from_url(&mut new)?;
        let rv = meta_str(&new, "resourceVersion").to_owned();
        if rv.is_empty() && !self.strategy().allow_unconditional_update() {
            return Err(ApiError::invalid(
                self.strategy().internal_group(&self.info),
                &self.info.kind,
                self.name(),
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: 0x0: must be specified for an update".into(),
                    field: "metadata.resourceVersion".into(),
                }],
            ));
        }
        let sub = self.target.subresource.clone();
        let create_on_update = self.strategy().allow_create_on_update() && sub.is_none();
        if create_on_update && rv.is_empty() && self.api.store.get(&self.res, &self.key()).is_none()
        {
            let written = self.create_object(new, manager, true)?;
            return Ok(self.object(true, &written.object));
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            self.check_uid_precondition(current, &new)?;
            self.check_rv(current, &rv)?;
            self.finish_update(current, new, sub.as_deref(), manager, true)
        })?;
        self.after_write(&written);
        Ok(self.object(false, &written.object))
    }

    pub(crate) fn check_rv(&self, current: &Value, rv: &str) -> Result<(), ApiError> {
        if !rv.is_empty() && rv != meta_str(current, "resourceVersion") {
            return Err(ApiError::stale(
                &self.info.group,
                &self.info.resource,
                self.name(),
            ));
        }
        Ok(())
    }

    /// Common tail of update and patch: object rules, managed fields, no-op detection, and
    /// completing a delete when the last finalizer goes.
    pub(crate) fn finish_update(
        &self,
        current: &Value,
        new: Value,
        sub: Option<&str>,
        manager: &str,
        record_fields: bool,
    ) -> Result<WriteOp, ApiError> {
        let info = &self.info;
        let strategy = self.strategy();
        let mut new = rest::prepare_update(info, current, new, sub)?;
        custom::admit(info, &mut new)?;
        rest::finish_update(info, current, &mut new, sub);
        strategy.default(info, &mut new);
        rest::validate_meta(info, &new)?;
        strategy.validate(info, Some(current), &new)?;
        if record_fields {
            managed::record_update(info, Some(current), &mut new, manager, sub);
        }
        if same_object(current, &new) {
            return Ok(WriteOp::Noop);
        }
        if is_deleting(&new) && finalizers(&new).is_empty() {
            return Ok(WriteOp::Delete);
        }
        Ok(WriteOp::Put(new))
    }
}
