//! Writes: create, update (PUT), patch and server-side apply, sharing one pipeline of object
//! rules, managed fields and no-op detection (`rest.BeforeCreate` / `rest.BeforeUpdate`).

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::Ctx;
use crate::http::Call;
use crate::objects::{self, meta_str};
use crate::patch::PatchType;
use crate::status::ApiError;
use crate::store::{WriteOp, Written};

impl Ctx<'_> {
    pub(crate) fn body(&self, call: &Call) -> Result<Value, ApiError> {
        let content_type = call.content_type();
        // A body that does not parse fails in the serializer's `Interpret`, and
        // `transformDecodeError` words it (the parser's own text after `json parse error: ` is
        // serde's here, not Go's).
        let unparsable = |e: &dyn std::fmt::Display| {
            ApiError::BadRequest(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({})",
                self.info.kind,
                objects::summarize(&call.body)
            ))
        };
        let mut obj: Value = if call.body.is_empty() {
            // Go's `encoding/json` on no input.
            return Err(unparsable(&"unexpected end of JSON input"));
        } else if content_type == crate::protobuf::CONTENT_TYPE {
            crate::protobuf::decode(&call.body)?
        } else if content_type.contains("yaml") {
            serde_yaml::from_slice(&call.body).map_err(|e| unparsable(&e))?
        } else if content_type.is_empty() {
            serde_json::from_slice(&call.body)
                .or_else(|_| serde_yaml::from_slice(&call.body))
                .map_err(|e: serde_yaml::Error| unparsable(&e))?
        } else {
            serde_json::from_slice(&call.body).map_err(|e| unparsable(&e))?
        };
        objects::check_type(&self.info, &mut obj, &call.body)?;
        Ok(obj)
    }

    pub(crate) fn create(&self, call: &Call) -> Result<Response, ApiError> {
        let obj = self.body(call)?;
        self.check_fields(&obj)?;
        let written = self.create_object(obj, &call.field_manager(), true)?;
        Ok(self.respond(call, StatusCode::CREATED, &written.object))
    }

    /// The create pipeline, shared by POST and apply-to-missing.
    pub(crate) fn create_object(
        &self,
        mut obj: Value,
        manager: &str,
        record_fields: bool,
    ) -> Result<Written, ApiError> {
        let info = &self.info;
        let mut name = meta_str(&obj, "name").to_owned();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_owned();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    crate::events::kind_group(info),
                    &info.kind,
                    "",
                    vec![crate::status::Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            name = format!("{prefix}{}", random_suffix());
            objects::meta_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
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
            let ns_obj = self
                .state
                .store
                .get(
                    &(String::new(), "namespaces".into()),
                    &(String::new(), ns.clone()),
                )
                .ok_or_else(|| ApiError::not_found("", "namespaces", &ns))?;
            if objects::is_deleting(&ns_obj) {
                // The NamespaceLifecycle admission plugin.
                return Err(ApiError::ForbiddenObject {
                    group: info.group.clone(),
                    resource: info.resource.clone(),
                    name: name.clone(),
                    reason: format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    ),
                });
            }
            objects::meta_mut(&mut obj).insert("namespace".into(), Value::String(ns.clone()));
            ns
        } else {
            objects::meta_mut(&mut obj).remove("namespace");
            String::new()
        };
        if info.custom && crate::crd::terminating(&self.state.store, &info.group, &info.resource) {
            // `crdHandler.serveResource`.
            return Err(ApiError::MethodNotSupported {
                group: info.group.clone(),
                resource: info.resource.clone(),
                message: "create not allowed while custom resource definition is terminating"
                    .into(),
            });
        }
        objects::default_builtin(info, &mut obj);
        objects::validate_meta(info, &obj)?;
        objects::validate_builtin(info, None, &obj)?;
        objects::prepare_create(info, &mut obj)?;
        if !meta_str(&obj, "resourceVersion").is_empty() {
            // After `rest.BeforeCreate`, the etcd store's `Create` refuses it with
            // `storage.ErrResourceVersionSetOnCreate`, which `InterpretCreateError` passes
            // through: a 500 without a reason.
            return Err(ApiError::Storage(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        if record_fields {
            crate::adapters::record_update(info, None, &mut obj, manager, None);
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

    /// Side effects of a committed write: CRD (un)registration, garbage collection,
    /// namespace cleanup.
    pub(crate) fn after_write(&self, written: &Written) {
        if self.dry_run {
            return;
        }
        let is_crd = self.info.group == "apiextensions.k8s.io"
            && self.info.resource == "customresourcedefinitions";
        if is_crd {
            if written.deleted {
                let removed = crate::crd::unregister(
                    &self.state.registry,
                    &self.state.store,
                    &written.object,
                );
                for object in removed {
                    crate::gc::object_deleted(self.state, &self.res, &object);
                }
            } else {
                crate::crd::register(&self.state.registry, &self.state.store, &written.object);
            }
        }
        if written.deleted {
            crate::gc::object_deleted(self.state, &self.res, &written.object);
        }
    }

    /// Checks the body's name against the URL's, filling it in when absent (like the
    /// apiserver's `checkName`; controllers apply status without `metadata.name`).
    pub(crate) fn name_from_url(&self, obj: &mut Value) -> Result<(), ApiError> {
        let name = meta_str(obj, "name");
        if name.is_empty() {
            objects::meta_mut(obj).insert("name".into(), Value::String(self.name().to_owned()));
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

    pub(crate) fn update(&self, call: &Call) -> Result<Response, ApiError> {
        let mut new = self.body(call)?;
        self.check_fields(&new)?;
        self.name_from_url(&mut new)?;
        let rv = meta_str(&new, "resourceVersion").to_owned();
        if rv.is_empty() && self.info.custom {
            return Err(ApiError::invalid(
                crate::events::kind_group(&self.info),
                &self.info.kind,
                self.name(),
                vec![crate::status::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: 0x0: must be specified for an update".into(),
                    field: "metadata.resourceVersion".into(),
                }],
            ));
        }
        let manager = call.field_manager();
        let sub = self.target.subresource.clone();
        // Leases allow create-on-update (`AllowCreateOnUpdate`), which leader election uses.
        let create_on_update = self.info.group == "coordination.k8s.io" && sub.is_none();
        if create_on_update
            && rv.is_empty()
            && self.state.store.get(&self.res, &self.key()).is_none()
        {
            let written = self.create_object(new, &manager, true)?;
            return Ok(self.respond(call, StatusCode::CREATED, &written.object));
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            self.check_uid_precondition(current, &new)?;
            self.check_rv(current, &rv)?;
            self.finish_update(current, new, sub.as_deref(), &manager, true)
        })?;
        self.after_write(&written);
        Ok(self.respond(call, StatusCode::OK, &written.object))
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
        let mut new = objects::prepare_update(&self.info, current, new, sub)?;
        objects::default_builtin(&self.info, &mut new);
        objects::validate_meta(&self.info, &new)?;
        objects::validate_builtin(&self.info, Some(current), &new)?;
        if record_fields {
            crate::adapters::record_update(&self.info, Some(current), &mut new, manager, sub);
        }
        if objects::same_object(current, &new) {
            return Ok(WriteOp::Noop);
        }
        if objects::is_deleting(&new) && objects::finalizers(&new).is_empty() {
            return Ok(WriteOp::Delete);
        }
        Ok(WriteOp::Put(new))
    }

    pub(crate) fn patch(&self, call: &Call) -> Result<Response, ApiError> {
        let kind = PatchType::from_content_type(&call.content_type(), &self.info)?;
        validate_patch_options(kind, call)?;
        let manager = call.field_manager();
        let sub = self.target.subresource.clone();
        if kind == PatchType::Apply {
            return self.apply(call, &manager, sub.as_deref());
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            let patched =
                crate::patch::apply_patch(kind, current, &call.body, self.field_validation)?;
            objects::check_patched(&self.info, &patched)?;
            self.check_patched_name(&patched)?;
            self.check_patched_fields(&patched)?;
            self.check_rv(current, meta_str(&patched, "resourceVersion"))?;
            self.check_uid(current, &patched)?;
            self.finish_update(current, patched, sub.as_deref(), &manager, true)
        })?;
        self.after_write(&written);
        Ok(self.respond(call, StatusCode::OK, &written.object))
    }

    /// Unknown fields of a patched custom resource: warnings, or with `fieldValidation=Strict`
    /// the strict decoding error of the patched object, which `applyPatchToCurrentObject`
    /// turns into `errors.NewInvalid(schema.GroupKind{}, "", patch: ...)`, a 422 (a POST or
    /// PUT body gets a 400 instead, see `fieldvalidation::check`).
    fn check_patched_fields(&self, patched: &Value) -> Result<(), ApiError> {
        if self.field_validation != crate::fieldvalidation::Mode::Strict {
            return self.check_fields(patched);
        }
        let unknown = crate::fieldvalidation::unknown_fields(&self.info, patched);
        if !self.info.custom || unknown.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {}", crate::selector::go_quote(f)))
            .collect();
        Err(objects::invalid_patch(
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
                crate::events::kind_group(&self.info),
                &self.info.kind,
                self.name(),
                vec![crate::status::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {}: field is immutable",
                        crate::selector::go_quote(want)
                    ),
                    field: "metadata.uid".into(),
                }],
            ));
        }
        Ok(())
    }

    /// A PUT body's `metadata.uid` is a precondition (`defaultUpdatedObjectInfo.Preconditions`),
    /// checked by the etcd store's `GuaranteedUpdate` before anything else: a mismatch is
    /// `storage.NewInvalidObjError`, which `InterpretUpdateError` makes a 409.
    fn check_uid_precondition(&self, current: &Value, new: &Value) -> Result<(), ApiError> {
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

    pub(crate) fn apply(
        &self,
        call: &Call,
        manager: &str,
        sub: Option<&str>,
    ) -> Result<Response, ApiError> {
        let mut applied = crate::patch::parse_yaml(&call.body)?;
        objects::check_type(&self.info, &mut applied, &call.body)?;
        let (namespace, name) = (meta_str(&applied, "namespace"), meta_str(&applied, "name"));
        if let Some(error) =
            crate::fieldvalidation::apply_error(&self.info, &applied, namespace, name)
        {
            return Err(error);
        }
        self.name_from_url(&mut applied)?;
        let force = call.query.flag("force");
        let existing = self.state.store.get(&self.res, &self.key());
        if existing.is_none() {
            if sub.is_some() {
                return Err(self.not_found());
            }
            let obj = crate::adapters::apply(&self.info, None, &applied, manager, force, None)?;
            match self.create_object(obj, manager, false) {
                Ok(written) => return Ok(self.respond(call, StatusCode::CREATED, &written.object)),
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
            let merged =
                crate::adapters::apply(&self.info, Some(current), &applied, manager, force, sub)?;
            self.check_rv(current, meta_str(&applied, "resourceVersion"))?;
            self.finish_update(current, merged, sub, manager, false)
        })?;
        self.after_write(&written);
        Ok(self.respond(call, StatusCode::OK, &written.object))
    }
}

/// `ValidatePatchOptions`: apply needs a field manager, `force` is for apply only.
fn validate_patch_options(kind: PatchType, call: &Call) -> Result<(), ApiError> {
    let problem = if kind == PatchType::Apply {
        call.query.get("fieldManager").is_none().then_some((
            "FieldValueRequired",
            "fieldManager",
            "Required value: is required for apply patch",
        ))
    } else {
        call.query.get("force").is_some().then_some((
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
            vec![crate::status::Cause {
                reason: reason.into(),
                message: message.into(),
                field: field.into(),
            }],
        )),
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
