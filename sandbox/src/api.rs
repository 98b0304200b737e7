//! The verbs on resources: get, list, watch, create, update, patch, delete,
//! deletecollection, following the API conventions
//! (<https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md>).

use std::sync::Arc;

use axum::response::Response;
use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{AppState, Call, json_response};
use crate::objects::{self, meta_str};
use crate::patch::PatchType;
use crate::registry::ResourceInfo;
use crate::request::Target;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{ObjKey, ResKey, WriteOp, Written};

/// Handles a request on a resource, collection or subresource.
pub async fn handle(
    state: &Arc<AppState>,
    target: Target,
    call: Call,
) -> Result<Response, ApiError> {
    let info = state
        .registry
        .lookup(&target.group, &target.version, &target.resource)
        .ok_or(ApiError::NoRoute)?;
    if target.namespace.is_some() && !info.namespaced {
        return Err(ApiError::NoRoute);
    }
    if let Some(answer) = crate::reviews::answer(
        &info.group,
        &info.resource,
        &call.content_type(),
        &call.body,
    ) {
        if call.method != Method::POST || target.name.is_some() {
            return Err(ApiError::MethodNotAllowed(
                "the server does not allow this method on the requested resource".into(),
            ));
        }
        return Ok(json_response(StatusCode::CREATED, &answer?));
    }
    if let Some(sub) = &target.subresource
        && !(sub == "status" && info.has_status())
    {
        return Err(ApiError::NoRoute);
    }
    let mut dry_run = match call.query.get("dryRun") {
        None => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid dry run value: {other}; supported values are: [\"All\"]"
            )));
        }
    };
    if call.method == Method::DELETE && !call.body.is_empty() {
        // DeleteOptions in the body may carry `dryRun: ["All"]` (kubectl --dry-run=server).
        let options: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        dry_run |= options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    }
    let ctx = Ctx {
        state,
        res: (info.group.clone(), info.resource.clone()),
        info,
        target,
        dry_run,
        field_validation: crate::fieldvalidation::Mode::parse(call.query.get("fieldValidation"))?,
        warnings: std::sync::Mutex::default(),
    };
    match (&call.method, ctx.target.name.is_some()) {
        (&Method::GET, true) => ctx.get(&call),
        (&Method::GET, false) if call.query.flag("watch") => crate::watch::start(&ctx, &call),
        (&Method::GET, false) => ctx.list(&call),
        (&Method::POST, false) => ctx.create(&call),
        (&Method::PUT, true) => ctx.update(&call),
        (&Method::PATCH, true) => ctx.patch(&call),
        (&Method::DELETE, true) => ctx.delete(&call),
        (&Method::DELETE, false) => ctx.delete_collection(&call),
        _ => Err(ApiError::MethodNotAllowed(
            "the server does not allow this method on the requested resource".into(),
        )),
    }
}

/// One resource request in progress.
pub struct Ctx<'a> {
    /// Shared state.
    pub state: &'a Arc<AppState>,
    /// The served resource at the requested version.
    pub info: ResourceInfo,
    /// Its storage key.
    pub res: ResKey,
    /// The parsed path.
    pub target: Target,
    /// `dryRun=All`: validate and answer, but store nothing.
    pub dry_run: bool,
    /// `fieldValidation` of the request.
    pub field_validation: crate::fieldvalidation::Mode,
    /// Warnings to send as `Warning` headers.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

/// Selectors and paging of a list or watch.
pub struct Filter {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Filter {
    /// Parses the selectors of a request; errors are 400 BadRequest with the parser's message.
    pub fn parse(info: &ResourceInfo, call: &Call) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(call.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let fields = FieldSelector::parse(call.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if let Some(bad) = fields.fields().find(|f| !objects::supported_field(info, f)) {
            return Err(ApiError::BadRequest(format!(
                "field label not supported: {bad}"
            )));
        }
        Ok(Self { labels, fields })
    }

    /// Whether an object is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && (self.fields.is_empty() || self.fields.matches(obj))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    ns: String,
    name: String,
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::BadRequest(format!("invalid resource version \"{raw}\"")))
}

impl Ctx<'_> {
    /// Runs a write through the store, honouring `dryRun=All`.
    fn commit<F>(&self, key: &ObjKey, decide: F) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        self.state
            .store
            .write_opts(&self.res, key, self.dry_run, decide)
    }

    fn key(&self) -> ObjKey {
        (
            self.target.namespace.clone().unwrap_or_default(),
            self.target.name.clone().unwrap_or_default(),
        )
    }

    fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.info.group, &self.info.resource, self.name())
    }

    /// The object as served at the requested version.
    pub fn present(&self, obj: &Value) -> Value {
        let mut out = obj.clone();
        let api_version = self.info.api_version();
        if out.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            out["apiVersion"] = Value::String(api_version);
        }
        out
    }

    /// Applies `fieldValidation` to the unknown fields of a request's object.
    fn check_fields(&self, obj: &Value) -> Result<(), ApiError> {
        let found = crate::fieldvalidation::check(self.field_validation, &self.info, obj)?;
        if !found.is_empty() {
            let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            warnings.extend(found);
        }
        Ok(())
    }

    fn respond(&self, call: &Call, code: StatusCode, obj: &Value) -> Response {
        let mut response = self.respond_body(call, code, obj);
        let warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        for w in warnings.iter() {
            let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
            if let Ok(value) = http::HeaderValue::from_str(&text) {
                response.headers_mut().append(http::header::WARNING, value);
            }
        }
        response
    }

    fn respond_body(&self, call: &Call, code: StatusCode, obj: &Value) -> Response {
        if call.wants_table() {
            let include = call.include_object().unwrap_or_default();
            let table = crate::table::object_table(&self.info, &self.present(obj), include, true);
            return json_response(code, &table);
        }
        if call.wants_metadata_only() {
            return json_response(code, &crate::table::partial_object_metadata(obj));
        }
        json_response(code, &self.present(obj))
    }

    fn get(&self, call: &Call) -> Result<Response, ApiError> {
        let obj = self
            .state
            .store
            .get(&self.res, &self.key())
            .ok_or_else(|| self.not_found())?;
        Ok(self.respond(call, StatusCode::OK, &obj))
    }

    fn list(&self, call: &Call) -> Result<Response, ApiError> {
        let filter = Filter::parse(&self.info, call)?;
        let store = &self.state.store;
        let limit = match call.query.get("limit") {
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| ApiError::BadRequest(format!("invalid limit \"{l}\"")))?,
            None => 0,
        };
        let mut list_rv = None;
        let mut after = None;
        if let Some(token) = call.query.get("continue") {
            let decoded: ContinueToken = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("continue key is not valid: illegal base64 data".into())
                })?;
            if decoded.rv < store.compacted() {
                return Err(ApiError::Expired(CONTINUE_EXPIRED.into()));
            }
            list_rv = Some(decoded.rv);
            after = Some((decoded.ns, decoded.name));
        } else if let Some(raw) = call.query.get("resourceVersion") {
            let rv = parse_rv(raw)?;
            let current = store.revision();
            if rv > current {
                return Err(ApiError::Timeout(format!(
                    "Too large resource version: {rv}, current: {current}"
                )));
            }
            if call.query.get("resourceVersionMatch") == Some("Exact") && rv != 0 {
                // The sandbox keeps no old snapshots: an exact, older revision is served
                // only while it is within the history, with the current state.
                if rv < store.compacted() {
                    return Err(ApiError::Expired(format!(
                        "too old resource version: {rv} ({})",
                        store.compacted()
                    )));
                }
            }
        }
        let namespace = self.target.namespace.as_deref();
        let (items, revision) = match (
            filter.fields.requires_exact_match("metadata.name"),
            namespace,
        ) {
            // `metadata.name=x` in a namespace is a point read, like the apiserver's
            // `MatchesSingle` shortcut.
            (Some(name), Some(ns)) if after.is_none() => {
                let key = (ns.to_owned(), name.to_owned());
                let found = store.get(&self.res, &key);
                (
                    found.map(|o| (key, o)).into_iter().collect(),
                    store.revision(),
                )
            }
            _ => store.list(&self.res, namespace, after.as_ref()),
        };
        let list_rv = list_rv.unwrap_or(revision);
        let mut selected: Vec<Value> = Vec::new();
        let mut last_key: Option<ObjKey> = None;
        let mut remaining = 0usize;
        let mut more = false;
        for (key, obj) in &items {
            if !filter.matches(obj) {
                continue;
            }
            if limit > 0 && selected.len() >= limit {
                more = true;
                remaining += 1;
                continue;
            }
            selected.push(self.present(obj));
            last_key = Some(key.clone());
        }
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if more && let Some((ns, name)) = last_key {
            let token = ContinueToken {
                v: "meta.k8s.io/v1".into(),
                rv: list_rv,
                ns,
                name,
            };
            let bytes = serde_json::to_vec(&token).unwrap_or_default();
            metadata["continue"] =
                Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
            metadata["remainingItemCount"] = json!(remaining);
        }
        if call.wants_table() {
            let table =
                crate::table::to_table(&self.info, &selected, metadata, call.include_object()?);
            return Ok(json_response(StatusCode::OK, &table));
        }
        if call.wants_metadata_only() {
            let items: Vec<Value> = selected
                .iter()
                .map(crate::table::partial_object_metadata)
                .collect();
            let list = json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": crate::table::TABLE_API_VERSION,
                "metadata": metadata,
                "items": items,
            });
            return Ok(json_response(StatusCode::OK, &list));
        }
        let list = json!({
            "kind": self.info.list_kind,
            "apiVersion": self.info.api_version(),
            "metadata": metadata,
            "items": selected,
        });
        Ok(json_response(StatusCode::OK, &list))
    }

    fn body(&self, call: &Call) -> Result<Value, ApiError> {
        if call.body.is_empty() {
            return Err(ApiError::BadRequest(
                "the body of the request was empty".into(),
            ));
        }
        let mut obj: Value = if call.content_type() == crate::protobuf::CONTENT_TYPE {
            crate::protobuf::decode(&call.body)?
        } else {
            serde_json::from_slice(&call.body)
                .or_else(|_| serde_yaml::from_slice(&call.body))
                .map_err(|e: serde_yaml::Error| {
                    ApiError::BadRequest(format!("the object provided is unrecognized: {e}"))
                })?
        };
        objects::check_type(&self.info, &mut obj)?;
        Ok(obj)
    }

    fn create(&self, call: &Call) -> Result<Response, ApiError> {
        let obj = self.body(call)?;
        self.check_fields(&obj)?;
        let written = self.create_object(obj, &call.field_manager(), true)?;
        Ok(self.respond(call, StatusCode::CREATED, &written.object))
    }

    /// The create pipeline, shared by POST and apply-to-missing.
    fn create_object(
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
                    &info.group,
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
                return Err(ApiError::Forbidden(format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    info.qualified()
                )));
            }
            objects::meta_mut(&mut obj).insert("namespace".into(), Value::String(ns.clone()));
            ns
        } else {
            objects::meta_mut(&mut obj).remove("namespace");
            String::new()
        };
        if !meta_str(&obj, "resourceVersion").is_empty() {
            return Err(ApiError::Internal(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        objects::validate_meta(info, &obj)?;
        objects::prepare_create(info, &mut obj)?;
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
        self.after_write(&written, None);
        Ok(written)
    }

    /// Side effects of a committed write: CRD (un)registration, garbage collection,
    /// namespace cleanup.
    fn after_write(&self, written: &Written, before: Option<&Value>) {
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
                crate::crd::register(&self.state.registry, &written.object);
            }
        }
        if written.deleted {
            crate::gc::object_deleted(self.state, &self.res, &written.object);
        }
        let _ = before;
    }

    fn update(&self, call: &Call) -> Result<Response, ApiError> {
        let new = self.body(call)?;
        self.check_fields(&new)?;
        let name = meta_str(&new, "name");
        if !name.is_empty() && name != self.name() {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                self.name()
            )));
        }
        let rv = meta_str(&new, "resourceVersion").to_owned();
        if rv.is_empty() && self.info.custom {
            return Err(ApiError::invalid(
                &self.info.group,
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
            self.check_rv(current, &rv)?;
            self.finish_update(current, new, sub.as_deref(), &manager, true)
        })?;
        self.after_write(&written, None);
        Ok(self.respond(call, StatusCode::OK, &written.object))
    }

    fn check_rv(&self, current: &Value, rv: &str) -> Result<(), ApiError> {
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
    fn finish_update(
        &self,
        current: &Value,
        new: Value,
        sub: Option<&str>,
        manager: &str,
        record_fields: bool,
    ) -> Result<WriteOp, ApiError> {
        let mut new = objects::prepare_update(&self.info, current, new, sub)?;
        objects::validate_meta(&self.info, &new)?;
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

    fn patch(&self, call: &Call) -> Result<Response, ApiError> {
        let kind = PatchType::from_content_type(&call.content_type(), &self.info)?;
        let manager = call.field_manager();
        let sub = self.target.subresource.clone();
        if kind == PatchType::Apply {
            return self.apply(call, &manager, sub.as_deref());
        }
        let written = self.commit(&self.key(), |current, _| {
            let Some(current) = current else {
                return Err(self.not_found());
            };
            let patched = crate::patch::apply_patch(kind, current, &call.body)?;
            if !patched.is_object() {
                return Err(ApiError::BadRequest(
                    "the patched object is not a JSON object".into(),
                ));
            }
            self.check_fields(&patched)?;
            self.check_rv(current, meta_str(&patched, "resourceVersion"))?;
            self.check_uid(current, &patched)?;
            self.finish_update(current, patched, sub.as_deref(), &manager, true)
        })?;
        self.after_write(&written, None);
        Ok(self.respond(call, StatusCode::OK, &written.object))
    }

    fn check_uid(&self, current: &Value, patched: &Value) -> Result<(), ApiError> {
        let want = meta_str(patched, "uid");
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

    fn apply(&self, call: &Call, manager: &str, sub: Option<&str>) -> Result<Response, ApiError> {
        if call.query.get("fieldManager").is_none() {
            return Err(ApiError::BadRequest(
                "PATCH request with apply patch must have fieldManager specified".into(),
            ));
        }
        let mut applied = crate::patch::parse_yaml(&call.body)?;
        objects::check_type(&self.info, &mut applied)?;
        self.check_fields(&applied)?;
        let force = call.query.flag("force");
        let existing = self.state.store.get(&self.res, &self.key());
        if existing.is_none() {
            if sub.is_some() {
                return Err(self.not_found());
            }
            let obj = crate::adapters::apply(&self.info, None, &applied, manager, force, None)?;
            let written = self.create_object(obj, manager, false)?;
            return Ok(self.respond(call, StatusCode::CREATED, &written.object));
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
        self.after_write(&written, None);
        Ok(self.respond(call, StatusCode::OK, &written.object))
    }

    fn delete(&self, call: &Call) -> Result<Response, ApiError> {
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
    pub fn delete_object(&self, key: &ObjKey, options: &Value) -> Result<Written, ApiError> {
        if is_namespace_res(&self.res)
            && matches!(key.1.as_str(), "default" | "kube-system" | "kube-public")
        {
            // The NamespaceLifecycle admission plugin protects the immortal namespaces.
            return Err(ApiError::Forbidden(format!(
                "namespaces \"{}\" is forbidden: this namespace may not be deleted",
                key.1
            )));
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
            if namespace_pending {
                objects::set_path(&mut marked, &["status", "phase"], json!("Terminating"));
            }
            Ok(WriteOp::Put(marked))
        })?;
        if !self.dry_run && !written.deleted && objects::is_deleting(&written.object) {
            if is_namespace {
                crate::gc::terminate_namespace(self.state, &key.1);
            }
            let finalizers = objects::finalizers(&written.object);
            if finalizers.iter().any(|f| f == FOREGROUND || f == ORPHAN) {
                crate::gc::propagate(self.state, &self.res, &written.object);
            }
        }
        self.after_write(&written, None);
        Ok(written)
    }

    /// Removes `finalizer` from the object (if it is still the same object), completing its
    /// deletion when it was the last one; used by the garbage collector and namespace
    /// controller stand-ins.
    pub fn remove_finalizer(&self, key: &ObjKey, uid: &str, finalizer: &str) {
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
            self.after_write(&written, None);
        }
    }

    fn delete_collection(&self, call: &Call) -> Result<Response, ApiError> {
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

fn is_namespace_res(res: &ResKey) -> bool {
    res.0.is_empty() && res.1 == "namespaces"
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
