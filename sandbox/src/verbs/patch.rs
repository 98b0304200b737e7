//! `patch` (`endpoints/handlers/patch.go`): merge, JSON and strategic merge patches applied
//! to the stored object, then the update pipeline; server-side apply, which may create.

use serde_json::Value;

use super::{Answer, Ctx, Query};
use crate::admission::fieldvalidation::{self, Mode};
use crate::admission::managed;
use crate::admission::patch::{PatchType, apply_patch, parse_apply};
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::meta_str;
use crate::registry::decode::{check_patched, check_type, invalid_patch};

impl Ctx<'_> {
    /// Applies the patch `body` of type `kind` (from the request's content type) to the
    /// object; server-side apply may create it.
    pub(crate) fn patch(
        &self,
        kind: PatchType,
        body: &[u8],
        query: &Query,
        manager: &str,
    ) -> Result<Answer, ApiError> {
        validate_patch_options(kind, query)?;
        let sub = self.target.subresource.clone();
        if kind == PatchType::Apply {
            return self.apply(body, query.flag("force"), manager, sub.as_deref());
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            let patched = apply_patch(kind, current, body, self.field_validation)?;
            check_patched(&self.info, &patched)?;
            self.check_patched_name(&patched)?;
            self.check_patched_fields(&patched)?;
            self.check_rv(current, meta_str(&patched, "resourceVersion"))?;
            self.check_uid(current, &patched)?;
            self.finish_update(current, patched, sub.as_deref(), manager, true)
        })?;
        self.after_write(&written);
        Ok(self.object(false, &written.object))
    }

    /// Unknown fields of a patched custom resource: warnings, or with `fieldValidation=Strict`
    /// the strict decoding error of the patched object, which `applyPatchToCurrentObject`
    /// turns into `errors.NewInvalid(schema.GroupKind{}, "", patch: ...)`, a 422 (a POST or
    /// PUT body gets a 400 instead, see `fieldvalidation::check`).
    fn check_patched_fields(&self, patched: &Value) -> Result<(), ApiError> {
        if self.field_validation != Mode::Strict {
            return self.check_fields(patched);
        }
        let unknown = fieldvalidation::unknown_fields(&self.info, patched);
        if !self.info.custom || unknown.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {}", go_quote(f)))
            .collect();
        Err(invalid_patch(
            patched,
            &format!("strict decoding error: {}", quoted.join(", ")),
        ))
    }

    /// The patch handler's `checkName` (`endpoints/handlers/rest.go`) on the patched object: a
    /// name other than the URL's, or a namespace other than the request's, is a 400.
    fn check_patched_name(&self, patched: &Value) -> Result<(), ApiError> {
        let name = meta_str(patched, "name");
        if name != self.name() {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                self.name()
            )));
        }
        let namespace = meta_str(patched, "namespace");
        if let Some(want) = self.target.namespace.as_deref()
            && !namespace.is_empty()
            && namespace != want
        {
            return Err(ApiError::BadRequest(format!(
                "the namespace of the object ({namespace}) does not match the namespace on the request ({want})"
            )));
        }
        Ok(())
    }

    /// A patch that changes `metadata.uid`: PATCH has no UID precondition (its
    /// `DefaultUpdatedObjectInfo` holds no object), so the change reaches `rest.BeforeUpdate`,
    /// whose `ValidateObjectMetaUpdate` refuses it: 422 `metadata.uid: ... field is immutable`.
    pub(crate) fn check_uid(&self, current: &Value, patched: &Value) -> Result<(), ApiError> {
        let want = meta_str(patched, "uid");
        let have = meta_str(current, "uid");
        if !want.is_empty() && want != have {
            return Err(ApiError::invalid(
                self.strategy().internal_group(&self.info),
                &self.info.kind,
                self.name(),
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {}: field is immutable", go_quote(want)),
                    field: "metadata.uid".into(),
                }],
            ));
        }
        Ok(())
    }

    /// A PUT body's `metadata.uid` is a precondition (`defaultUpdatedObjectInfo.Preconditions`),
    /// checked by the etcd store's `GuaranteedUpdate` before anything else: a mismatch is
    /// `storage.NewInvalidObjError`, which `InterpretUpdateError` makes a 409.
    pub(crate) fn check_uid_precondition(
        &self,
        current: &Value,
        new: &Value,
    ) -> Result<(), ApiError> {
        let want = meta_str(new, "uid");
        let have = meta_str(current, "uid");
        if !want.is_empty() && want != have {
            return Err(ApiError::Conflict {
                group: self.info.group.clone(),
                resource: self.info.resource.clone(),
                name: self.name().to_owned(),
                detail: format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {have}"
                ),
                causes: Vec::new(),
            });
        }
        Ok(())
    }

    /// Server-side apply of `body` by `manager`.
    fn apply(
        &self,
        body: &[u8],
        force: bool,
        manager: &str,
        sub: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let mut applied = parse_apply(body)?;
        check_type(&self.info, &mut applied, body)?;
        let (namespace, name) = (meta_str(&applied, "namespace"), meta_str(&applied, "name"));
        if let Some(error) = fieldvalidation::apply_error(&self.info, &applied, namespace, name) {
            return Err(error);
        }
        self.name_from_url(&mut applied)?;
        let existing = self.api.store.get(&self.res, &self.key());
        if existing.is_none() {
            if sub.is_some() {
                return Err(self.not_found());
            }
            let obj = managed::apply(&self.info, None, &applied, manager, force, None)?;
            match self.create_object(obj, manager, false) {
                Ok(written) => return Ok(self.object(true, &written.object)),
                // Another request created it in between: apply onto what is there now. The
                // apiserver's patch handler retries such conflicts (`MaxRetryWhenPatchConflicts`)
                // rather than answering 409 to an apply, which has no precondition.
                Err(ApiError::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            let merged = managed::apply(&self.info, Some(current), &applied, manager, force, sub)?;
            self.check_rv(current, meta_str(&applied, "resourceVersion"))?;
            self.finish_update(current, merged, sub, manager, false)
        })?;
        self.after_write(&written);
        Ok(self.object(false, &written.object))
    }
}

/// `ValidatePatchOptions`: apply needs a field manager, `force` is for apply only.
fn validate_patch_options(kind: PatchType, query: &Query) -> Result<(), ApiError> {
    let problem = if kind == PatchType::Apply {
        query.get("fieldManager").is_none().then_some((
            "FieldValueRequired",
            "fieldManager",
            "Required value: is required for apply patch",
        ))
    } else {
        query.get("force").is_some().then_some((
            "FieldValueForbidden",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        ))
    };
    match problem {
        None => Ok(()),
        Some((reason, field, message)) => Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![Cause {
                reason: reason.into(),
                message: message.into(),
                field: field.into(),
            }],
        )),
    }
}
