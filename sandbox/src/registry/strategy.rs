//! What each kind does differently from the generic rules of [`super::rest`], as a strategy
//! rather than a branch: the apiserver's `RESTCreateStrategy` / `RESTUpdateStrategy` /
//! `RESTDeleteStrategy` of `pkg/registry/<group>/<kind>/strategy.go`, plus the few options of
//! the generic `Store` a kind sets (`AllowCreateOnUpdate`, `ReturnDeletedObject`, ...).
//!
//! `super::strategy_of` picks a kind's strategy; every method has the generic behaviour as its
//! default, so a kind states only where it differs. The kinds are in [`super::crd`] (CustomResourceDefinitions
//! and custom resources), [`super::events`] (two views of one resource), [`super::namespaces`],
//! [`super::configmaps`], [`super::secrets`], [`super::flowcontrol`] and below (leases,
//! serviceaccounts, everything else).

use std::borrow::Cow;

use serde_json::Value;

use super::ResourceInfo;
use crate::meta::error::ApiError;
use crate::meta::validation::dns1123_subdomain_errors;
use crate::storage::ResKey;

/// How a kind differs from the generic rules; see the module documentation.
pub(crate) trait Strategy: Sync {
    /// Whether `metadata.generation` is kept (set to 1 on create, bumped when anything but
    /// metadata and status changes).
    fn tracks_generation(&self) -> bool {
        false
    }

    /// The decode-time defaults of the kind (`SetDefaults_*`), applied to every object written.
    fn default(&self, _info: &ResourceInfo, _obj: &mut Value) {}

    /// The problems of an object name (`ValidateObjectMeta`'s name function): a DNS-1123
    /// subdomain for most kinds.
    fn name_errors(&self, name: &str) -> Vec<String> {
        dns1123_subdomain_errors(name)
    }

    /// `Validate` / `ValidateUpdate` of the kind; `old` is the stored object on an update.
    fn validate(
        &self,
        _info: &ResourceInfo,
        _old: Option<&Value>,
        _new: &Value,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// `PrepareForCreate`: what the kind sets on a new object.
    fn prepare_for_create(&self, _info: &ResourceInfo, _obj: &mut Value) {}

    /// `PrepareForUpdate`: what the kind keeps from the stored object.
    fn prepare_for_update(&self, _old: &Value, _new: &mut Value) {}

    /// Checks and fills in what the kind's own controllers would at once after a create or an
    /// update (a CRD's accepted names and conditions).
    fn complete(&self, _obj: &mut Value) -> Result<(), ApiError> {
        Ok(())
    }

    /// The field selector labels beyond `metadata.name` and `metadata.namespace`
    /// (`GetAttrs` / `AddFieldLabelConversionFunc`).
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }

    /// The object field selectors are evaluated on, from the stored object.
    fn selectable<'v>(&self, stored: &'v Value) -> Cow<'v, Value> {
        Cow::Borrowed(stored)
    }

    /// Where the objects are stored: `(group, resource)`, unless the kind is another view of
    /// a stored resource.
    fn storage(&self, info: &ResourceInfo) -> ResKey {
        (info.group.clone(), info.resource.clone())
    }

    /// A stored object as the kind serves it.
    fn to_served<'v>(&self, stored: &'v Value) -> Cow<'v, Value> {
        Cow::Borrowed(stored)
    }

    /// An object of the kind as it is stored.
    fn to_stored(&self, served: Value) -> Value {
        served
    }

    /// The group of the kind's internal type, which `Invalid` errors and conversion errors
    /// name: the API group, but for kinds stored as another group's type.
    fn internal_group<'i>(&self, info: &'i ResourceInfo) -> &'i str {
        &info.group
    }

    /// `AllowCreateOnUpdate`: an update of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// `AllowUnconditionalUpdate`: an update may leave `resourceVersion` out.
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// `ReturnDeletedObject`: a delete answers with the object rather than a Success Status.
    fn return_deleted_object(&self) -> bool {
        false
    }

    /// Whether deleting the object waits for something besides its finalizers (a namespace's
    /// `spec.finalizers`).
    fn deletion_pending(&self, _obj: &Value) -> bool {
        false
    }

    /// What the kind shows while it is being deleted (a namespace's phase, a CRD's
    /// `Terminating` condition), set when the deletion mark is.
    fn mark_terminating(&self, _obj: &mut Value) {}
}

// === impl Generic, Leases, ServiceAccounts ===

/// A kind with no rules of its own (the RBAC kinds, the reviews).
pub(crate) struct Generic;

impl Strategy for Generic {}

/// Leases may be created by an update (`AllowCreateOnUpdate`), which leader election uses.
pub(crate) struct Leases;

impl Strategy for Leases {
    fn allow_create_on_update(&self) -> bool {
        true
    }
}

/// ServiceAccounts' store returns the deleted object (`ReturnDeletedObject: true`).
pub(crate) struct ServiceAccounts;

impl Strategy for ServiceAccounts {
    fn return_deleted_object(&self) -> bool {
        true
    }
}
