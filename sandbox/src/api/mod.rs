//! The verbs on resources: get, list, watch, create, update, patch, delete,
//! deletecollection, following the API conventions
//! (<https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md>).

use std::sync::Arc;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::http::{AppState, Call, json_response};
use crate::objects::{self};
use crate::registry::ResourceInfo;
use crate::request::Target;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{ObjKey, ResKey, WriteOp, Written};

mod delete;
mod list;
mod write;

pub use delete::{FOREGROUND, ORPHAN};
pub(crate) use list::parse_rv;

/// The 404 for a resource path nothing serves: a Status from the go-restful container of a
/// built-in group version, the plain-text page of `notfoundhandler` when the path belongs to no
/// built-in group version (the CRD handler delegates there for resources it does not know).
fn no_route(state: &AppState, target: &Target) -> ApiError {
    let builtin = state
        .registry
        .all()
        .iter()
        .any(|r| !r.custom && r.group == target.group && r.version == target.version);
    if builtin {
        ApiError::NoRoute
    } else {
        ApiError::NotFoundPage
    }
}

/// Handles a request on a resource, collection or subresource.
pub async fn handle(
    state: &Arc<AppState>,
    target: Target,
    call: Call,
) -> Result<Response, ApiError> {
    let Some(info) = state
        .registry
        .lookup(&target.group, &target.version, &target.resource)
    else {
        return Err(no_route(state, &target));
    };
    if target.namespace.is_some() && !info.namespaced {
        return Err(no_route(state, &target));
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
        // Built-in kinds: no go-restful route. Custom resources: the CRD handler's
        // `NewNotFound` for a subresource the CRD does not enable.
        return Err(if info.custom {
            ApiError::not_found(
                &info.group,
                &info.resource,
                target.name.as_deref().unwrap_or(""),
            )
        } else {
            ApiError::NoRoute
        });
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
        res: crate::events::storage_key(&info),
        info,
        target,
        dry_run,
        field_validation: crate::fieldvalidation::Mode::parse(call.query.get("fieldValidation"))?,
        warnings: std::sync::Mutex::default(),
    };
    // Where the verb reaches storage: what etcd would take (none without a latency model).
    let watch = call.method == Method::GET && call.query.flag("watch");
    state.latency.storage(&call.method, dry_run, watch).await;
    match (&call.method, ctx.target.name.is_some()) {
        (&Method::GET, true) => ctx.get(&call),
        (&Method::GET, false) if call.query.flag("watch") => crate::watch::start(&ctx, &call),
        (&Method::GET, false) => ctx.list(&call).await,
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
    /// For events: the version field selectors are evaluated at (see [`crate::events`]).
    pub events: Option<crate::events::Version>,
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
        Ok(Self {
            labels,
            fields,
            events: crate::events::Version::of(info),
        })
    }

    /// Whether an object is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj)
            && (self.fields.is_empty()
                || match self.events {
                    Some(version) => self
                        .fields
                        .matches(&crate::events::selectable(version, obj)),
                    None => self.fields.matches(obj),
                })
    }
}

impl Ctx<'_> {
    /// Runs a write through the store, honouring `dryRun=All`.
    pub(crate) fn commit<F>(&self, key: &ObjKey, decide: F) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        let decide = crate::events::in_request_version(&self.info, decide);
        self.state
            .store
            .write_opts(&self.res, key, self.dry_run, decide)
    }

    pub(crate) fn key(&self) -> ObjKey {
        (
            self.target.namespace.clone().unwrap_or_default(),
            self.target.name.clone().unwrap_or_default(),
        )
    }

    pub(crate) fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    pub(crate) fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.info.group, &self.info.resource, self.name())
    }

    /// The object as served at the requested version.
    pub(crate) fn present(&self, obj: &Value) -> Value {
        let mut out = crate::events::served(&self.info, obj);
        let api_version = self.info.api_version();
        if out.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            out["apiVersion"] = Value::String(api_version);
        }
        out
    }

    /// Applies `fieldValidation` to the unknown fields of a request's object.
    pub(crate) fn check_fields(&self, obj: &Value) -> Result<(), ApiError> {
        let found = crate::fieldvalidation::check(self.field_validation, &self.info, obj)?;
        if !found.is_empty() {
            let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            warnings.extend(found);
        }
        Ok(())
    }

    pub(crate) fn respond(&self, call: &Call, code: StatusCode, obj: &Value) -> Response {
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

    pub(crate) fn respond_body(&self, call: &Call, code: StatusCode, obj: &Value) -> Response {
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

    pub(crate) fn get(&self, call: &Call) -> Result<Response, ApiError> {
        let obj = self
            .state
            .store
            .get(&self.res, &self.key())
            .ok_or_else(|| self.not_found())?;
        Ok(self.respond(call, StatusCode::OK, &obj))
    }
}

pub(crate) fn is_crd_res(res: &ResKey) -> bool {
    res.0 == "apiextensions.k8s.io" && res.1 == "customresourcedefinitions"
}

pub(crate) fn is_namespace_res(res: &ResKey) -> bool {
    res.0.is_empty() && res.1 == "namespaces"
}
