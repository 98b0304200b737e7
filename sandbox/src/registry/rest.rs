//! The generic rules of every write, as `k8s.io/apiserver/pkg/registry/rest` applies them
//! around a kind's strategy ([`super::strategy`]): `BeforeCreate` ([`prepare_create`]),
//! `BeforeUpdate` ([`prepare_update`], [`finish_update`]), `BeforeDelete`
//! ([`mark_deleting`]) and the `ObjectMeta` validation ([`validate_meta`]).

use serde_json::{Value, json};

use super::ResourceInfo;
use super::strategy_of;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::{finalizers, is_deleting, meta_mut, meta_str, now};
use crate::meta::validation::{label_key_errors, label_value_errors};

/// The object without the parts whose change does not bump `generation`.
fn generation_view(info: &ResourceInfo, obj: &Value) -> Value {
    let mut view = obj.clone();
    if let Some(m) = view.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if info.has_status() {
            m.remove("status");
        }
    }
    view
}

/// Server-owned metadata of a new object and what its kind sets (`rest.BeforeCreate` with the
/// kind's `PrepareForCreate`); admission (`crate::admission::custom` for custom resources)
/// follows.
pub(crate) fn prepare_create(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    {
        let meta = meta_mut(obj);
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now()));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("generation");
        meta.remove("selfLink");
        if strategy_of(info).tracks_generation() {
            meta.insert("generation".into(), json!(1));
        }
    }
    let strategy = strategy_of(info);
    strategy.prepare_for_create(info, obj);
    strategy.complete(obj)
}

/// Builds the object an update stores from the old object and the requested one
/// (`rest.BeforeUpdate` up to admission): status subresource isolation, immutable metadata,
/// the kind's `PrepareForUpdate`, the finalizer rule and what the kind completes (a CRD's
/// status). `resourceVersion` is set to the old one so a no-op can be detected by equality.
/// [`finish_update`] follows once admission has run.
pub(crate) fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    if subresource == Some("status") {
        // The status strategy: everything but status comes from the stored object.
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        if let Some(m) = new.as_object_mut() {
            match status {
                Some(s) => m.insert("status".into(), s),
                None => m.remove("status"),
            };
        }
        if let Some(mf) = managed {
            meta_mut(&mut new).insert("managedFields".into(), mf);
        }
    } else if info.has_status() {
        // The main resource ignores status changes when a status subresource exists.
        if let Some(m) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
    }
    if let Some(m) = new.as_object_mut() {
        for field in ["apiVersion", "kind"] {
            if let Some(v) = old.get(field) {
                m.insert(field.into(), v.clone());
            }
        }
    }
    {
        let old_meta = old.get("metadata").and_then(Value::as_object);
        let meta = meta_mut(&mut new);
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old_meta.and_then(|m| m.get(field)) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        meta.remove("selfLink");
    }
    strategy_of(info).prepare_for_update(old, &mut new);
    if is_deleting(old) {
        let before = finalizers(old);
        // `ValidateNoNewFinalizers`: the extra ones as a sorted set.
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !added.is_empty() {
            let quoted: Vec<String> = added.iter().map(|f| go_quote(f)).collect();
            return Err(ApiError::invalid(
                strategy_of(info).internal_group(info),
                &info.kind,
                meta_str(old, "name"),
                vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message: format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        quoted.join(", ")
                    ),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    strategy_of(info).complete(&mut new)?;
    Ok(new)
}

/// The end of `rest.BeforeUpdate`, after admission has had the object
/// (`crate::admission::custom` for custom resources): `generation` moves on when anything
/// but metadata and status changed, for the kinds that track it.
pub(crate) fn finish_update(
    info: &ResourceInfo,
    old: &Value,
    new: &mut Value,
    subresource: Option<&str>,
) {
    if strategy_of(info).tracks_generation()
        && subresource.is_none()
        && generation_view(info, old) != generation_view(info, new)
    {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(new).insert("generation".into(), json!(generation + 1));
    }
}

/// Marks an object as being deleted (`rest.BeforeDelete` with finalizers pending):
/// `deletionTimestamp` now, grace period 0, and a `generation` bump.
pub(crate) fn mark_deleting(obj: &mut Value) {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let meta = meta_mut(obj);
    meta.insert("deletionTimestamp".into(), Value::String(now()));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    if let Some(g) = generation.filter(|g| *g > 0) {
        meta.insert("generation".into(), json!(g + 1));
    }
}

/// The ObjectMeta checks of `ValidateObjectMeta` the sandbox makes: the name (a DNS-1123
/// subdomain, or what the kind asks instead) and label keys and values.
pub(crate) fn validate_meta(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name");
    let mut causes = Vec::new();
    let mut invalid = |field: &str, value: &str, errs: Vec<String>| {
        for e in errs {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {}: {e}", go_quote(value)),
                field: field.into(),
            });
        }
    };
    let name_errors = strategy_of(info).name_errors(name);
    invalid("metadata.name", name, name_errors);
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            invalid("metadata.labels", key, label_key_errors(key));
            let value = value.as_str().unwrap_or("");
            invalid("metadata.labels", value, label_value_errors(value));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            strategy_of(info).internal_group(info),
            &info.kind,
            name,
            causes,
        ))
    }
}
