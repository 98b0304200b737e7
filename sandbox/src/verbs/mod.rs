//! The verbs on resources: get, list, watch, create, update, patch, delete and
//! deletecollection, following the API conventions
//! (<https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md>),
//! like the apiserver's `pkg/endpoints/handlers` (one file per verb) without HTTP: a verb
//! takes decoded options and objects and answers an [`Answer`], which the HTTP layer encodes
//! as the client asked (JSON, a Table, `PartialObjectMetadata`, a stream).
//!
//! A write runs the generic rules and the kind's strategy (`crate::registry`), admission
//! (`crate::admission`), and commits through the store (`crate::storage`); the controllers
//! (`crate::controllers`) react to what is committed, as clients of these verbs.

mod create;
mod delete;
mod get;
mod list;
mod patch;
mod query;
mod update;
mod watch;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::admission::fieldvalidation::{self, Mode};
use crate::meta::error::ApiError;
use crate::meta::selector::{FieldSelector, LabelSelector};
use crate::registry::strategy::Strategy;
use crate::registry::strategy_of;
use crate::registry::{Registry, ResourceInfo, crd};
use crate::storage::latency::LatencyModel;
use crate::storage::{ObjKey, ResKey, Store, WriteOp, Written};

pub(crate) use delete::{FOREGROUND, ORPHAN};
pub(crate) use list::parse_rv;
pub(crate) use query::Query;
pub(crate) use watch::{WatchEvent, WatchStream};

/// What the verbs act on: the objects and the served kinds.
#[derive(Debug)]
pub(crate) struct ApiState {
    /// The objects.
    pub(crate) store: Store,
    /// The served resources.
    pub(crate) registry: Registry,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub(crate) bookmark_interval: Duration,
    /// What a real API server with etcd adds to writes, reads and watch delivery.
    pub(crate) latency: LatencyModel,
}

/// What a verb addresses, from the request path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// API group ("" for core).
    pub(crate) group: String,
    /// API version.
    pub(crate) version: String,
    /// Plural resource.
    pub(crate) resource: String,
    /// Namespace from the path, if the path is namespaced.
    pub(crate) namespace: Option<String>,
    /// Object name, absent for collections.
    pub(crate) name: Option<String>,
    /// Subresource such as `status`.
    pub(crate) subresource: Option<String>,
}

/// What a verb answers.
#[derive(Debug)]
pub(crate) enum Answer {
    /// One object as served at the requested version; `created` for 201.
    Object {
        /// Whether the verb created it.
        created: bool,
        /// The object.
        object: Value,
    },
    /// A list's items (as served) and its `metadata`.
    List {
        /// The items.
        items: Vec<Value>,
        /// `resourceVersion`, `continue`, `remainingItemCount`.
        metadata: Value,
    },
    /// A body sent as it is, never as a Table (a Success Status, a deletecollection list).
    Raw(Value),
    /// A watch.
    Watch(WatchStream),
}

/// One resource request in progress.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// What the verbs act on.
    pub(crate) api: &'a ApiState,
    /// The served resource at the requested version.
    pub(crate) info: ResourceInfo,
    /// Its storage key.
    pub(crate) res: ResKey,
    /// The parsed path.
    pub(crate) target: Target,
    /// `dryRun=All`: validate and answer, but store nothing.
    pub(crate) dry_run: bool,
    /// `fieldValidation` of the request.
    pub(crate) field_validation: Mode,
    /// Warnings to send as `Warning` headers.
    warnings: Mutex<Vec<String>>,
}

/// Selectors of a list, watch or deletecollection.
pub(crate) struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
    strategy: &'static dyn Strategy,
}

impl Filter {
    /// Parses the selectors of a request; errors are 400 BadRequest with the parser's message.
    pub(crate) fn parse(info: &ResourceInfo, query: &Query) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let strategy = strategy_of(info);
        let supported = |field: &str| {
            matches!(field, "metadata.name" | "metadata.namespace")
                || strategy.field_labels().contains(&field)
        };
        if let Some(bad) = fields.fields().find(|f| !supported(f)) {
            return Err(ApiError::BadRequest(format!(
                "field label not supported: {bad}"
            )));
        }
        Ok(Self {
            labels,
            fields,
            strategy,
        })
    }

    /// Whether a stored object is selected.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj)
            && (self.fields.is_empty() || self.fields.matches(&self.strategy.selectable(obj)))
    }

    /// Whether the selectors select everything.
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

impl<'a> Ctx<'a> {
    /// A request on `target` of the served resource `info`.
    pub(crate) fn new(
        api: &'a ApiState,
        info: ResourceInfo,
        target: Target,
        dry_run: bool,
        field_validation: Mode,
    ) -> Self {
        Self {
            api,
            res: strategy_of(&info).storage(&info),
            info,
            target,
            dry_run,
            field_validation,
            warnings: Mutex::default(),
        }
    }

    /// The kind's strategy.
    fn strategy(&self) -> &'static dyn Strategy {
        strategy_of(&self.info)
    }

    /// Runs a write through the store, honouring `dryRun=All`. `decide` sees the stored
    /// object as the requested version serves it, and what it stores is converted back
    /// ([`Strategy::to_served`], [`Strategy::to_stored`]).
    pub(crate) fn commit<F>(&self, key: &ObjKey, decide: F) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        let strategy = self.strategy();
        self.api
            .store
            .write_opts(&self.res, key, self.dry_run, |current, revision| {
                let converted = current.and_then(|c| match strategy.to_served(c) {
                    Cow::Borrowed(_) => None,
                    Cow::Owned(served) => Some(Arc::new(served)),
                });
                Ok(match decide(converted.as_ref().or(current), revision)? {
                    WriteOp::Put(obj) => WriteOp::Put(strategy.to_stored(obj)),
                    other => other,
                })
            })
    }

    /// A write decided by `decide` on the current object, as a controller makes it (no
    /// admission, no managed fields): the verbs' `GuaranteedUpdate`, with the side effects of
    /// any committed write.
    pub(crate) fn guaranteed_update<F>(&self, key: &ObjKey, decide: F) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        let written = self.commit(key, decide)?;
        self.after_write(&written);
        Ok(written)
    }

    /// Side effects of a committed write on the served kinds: a CRD written starts (or
    /// changes) serving its resources, a CRD gone stops serving them and removes their
    /// objects.
    pub(crate) fn after_write(&self, written: &Written) {
        if self.dry_run || self.res != crd::definitions_key() {
            return;
        }
        if written.deleted {
            crd::unregister(&self.api.registry, &self.api.store, &written.object);
        } else {
            crd::register(&self.api.registry, &self.api.store, &written.object);
        }
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
        let mut out = self.strategy().to_served(obj).into_owned();
        let api_version = self.info.api_version();
        if out.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            out["apiVersion"] = Value::String(api_version);
        }
        out
    }

    /// The answer carrying `obj` as served.
    fn object(&self, created: bool, obj: &Value) -> Answer {
        Answer::Object {
            created,
            object: self.present(obj),
        }
    }

    /// Applies `fieldValidation` to the unknown fields of a request's object.
    pub(crate) fn check_fields(&self, obj: &Value) -> Result<(), ApiError> {
        let found = fieldvalidation::check(self.field_validation, &self.info, obj)?;
        if !found.is_empty() {
            self.lock_warnings().extend(found);
        }
        Ok(())
    }

    /// The warnings collected so far, for `Warning` headers.
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock_warnings())
    }

    fn lock_warnings(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner())
    }
}
