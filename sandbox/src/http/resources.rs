//! The handler of resource requests: finds the served resource, checks what the path may
//! ask of it, decodes the body, runs the verb, and encodes its answer as the client asked
//! (JSON, a `meta.k8s.io` Table, `PartialObjectMetadata`, a watch stream), with the warnings
//! of the write as `Warning` headers.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::call::Call;
use super::respond::{add_warnings, json_response};
use super::watch::{self, Encoding};
use super::{HttpState, table};
use crate::admission::fieldvalidation::Mode;
use crate::admission::patch::PatchType;
use crate::meta::error::ApiError;
use crate::registry::is_review;
use crate::storage::latency::Access;
use crate::verbs::{Answer, Ctx, Target};

/// The 404 for a resource path nothing serves: a Status from the go-restful container of a
/// built-in group version, the plain-text page of `notfoundhandler` when the path belongs to no
/// built-in group version (the CRD handler delegates there for resources it does not know).
fn no_route(state: &HttpState, target: &Target) -> ApiError {
    let builtin = state
        .api
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

fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed(
        "the server does not allow this method on the requested resource".into(),
    )
}

/// Handles a request on a resource, collection or subresource.
pub(crate) async fn handle(
    state: &HttpState,
    target: Target,
    call: Call,
) -> Result<Response, ApiError> {
    let Some(info) = state
        .api
        .registry
        .lookup(&target.group, &target.version, &target.resource)
    else {
        return Err(no_route(state, &target));
    };
    if target.namespace.is_some() && !info.namespaced {
        return Err(no_route(state, &target));
    }
    if is_review(&info.group, &info.resource) {
        // An unnamed POST of a review is answered for the requesting user before the request
        // gets here (`crate::auth::reviews`); nothing else is allowed on them.
        return Err(method_not_allowed());
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
    let field_validation = Mode::parse(call.query.get("fieldValidation"))?;
    let ctx = Ctx::new(&state.api, info, target, dry_run, field_validation);
    // Where the verb reaches storage: what etcd would take (none without a latency model).
    let watch = call.method == Method::GET && call.query.flag("watch");
    let access = match call.method {
        _ if dry_run || watch => Access::None,
        Method::GET => Access::Read,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE => Access::Write,
        _ => Access::None,
    };
    state.api.latency.storage(access).await;
    let answer = match (&call.method, ctx.target.name.is_some()) {
        (&Method::GET, true) => ctx.get(),
        (&Method::GET, false) if call.query.flag("watch") => ctx.watch(&call.query),
        (&Method::GET, false) => ctx.list(&call.query).await,
        (&Method::POST, false) => ctx.create(call.object(&ctx.info)?, &call.field_manager()),
        (&Method::PUT, true) => ctx.update(call.object(&ctx.info)?, &call.field_manager()),
        (&Method::PATCH, true) => {
            let kind = PatchType::from_content_type(&call.content_type(), &ctx.info)?;
            ctx.patch(kind, &call.body, &call.query, &call.field_manager())
        }
        (&Method::DELETE, true) => ctx.delete(&call.delete_options()),
        (&Method::DELETE, false) => ctx.delete_collection(&call.query),
        _ => Err(method_not_allowed()),
    }?;
    let mut response = encode(state, &ctx, &call, answer)?;
    add_warnings(&mut response, &ctx.take_warnings());
    Ok(response)
}

/// Encodes a verb's answer as the client asked.
fn encode(
    state: &HttpState,
    ctx: &Ctx<'_>,
    call: &Call,
    answer: Answer,
) -> Result<Response, ApiError> {
    let info = &ctx.info;
    Ok(match answer {
        Answer::Object { created, object } => {
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            if call.wants_table() {
                // A single object's table ignores a bad `includeObject`.
                let include = call.include_object().unwrap_or_default();
                json_response(code, &table::object_table(info, &object, include, true))
            } else if call.wants_metadata_only() {
                json_response(code, &table::partial_object_metadata(&object))
            } else {
                json_response(code, &object)
            }
        }
        Answer::List {
            mut items,
            metadata,
        } => {
            if call.wants_table() {
                let table = table::to_table(info, &items, metadata, call.include_object()?);
                return Ok(json_response(StatusCode::OK, &table));
            }
            if call.wants_metadata_only() {
                let items: Vec<Value> = items.iter().map(table::partial_object_metadata).collect();
                let list = json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": table::TABLE_API_VERSION,
                    "metadata": metadata,
                    "items": items,
                });
                return Ok(json_response(StatusCode::OK, &list));
            }
            if !info.custom {
                // Typed lists of built-in kinds carry no TypeMeta on their items.
                for item in &mut items {
                    if let Some(m) = item.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                }
            }
            let list = json!({
                "kind": info.list_kind,
                "apiVersion": info.api_version(),
                "metadata": metadata,
                "items": items,
            });
            json_response(StatusCode::OK, &list)
        }
        Answer::Raw(body) => json_response(StatusCode::OK, &body),
        Answer::Watch(stream) => {
            let encoding = if call.wants_table() {
                Encoding::Table(call.include_object()?)
            } else if call.wants_metadata_only() {
                Encoding::Metadata
            } else {
                Encoding::Objects
            };
            watch::response(info.clone(), stream, encoding, state.bookmarks.clone())
        }
    })
}
