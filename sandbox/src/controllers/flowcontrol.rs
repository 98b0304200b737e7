//! The `Dangling` condition of each FlowSchema's status, as API Priority and Fairness's config
//! controller keeps it
//! (`presyncFlowSchemaStatus` in `apf_controller.go`): `False`/`Found` while the named
//! priority level exists, `True`/`NotFound` otherwise (the schema is then ignored), with the
//! real messages; written only when it changes, like the controller's status patches.
//! `kubectl get flowschemas` shows it as `MISSINGPL`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::key_of;
use crate::meta::gofmt::go_quote;
use crate::meta::object::{meta_str, now, set_path};
use crate::registry::flowcontrol::GROUP;
use crate::storage::{ResKey, WriteOp};
use crate::verbs::ApiState;

/// Where FlowSchemas are stored.
pub(crate) fn flow_schemas() -> ResKey {
    (GROUP.to_owned(), "flowschemas".to_owned())
}

/// Where PriorityLevelConfigurations are stored.
pub(crate) fn priority_levels() -> ResKey {
    (GROUP.to_owned(), "prioritylevelconfigurations".to_owned())
}

/// Brings the `Dangling` condition of every stored FlowSchema up to date with the stored
/// priority levels.
pub(crate) fn sync(api: &ApiState) {
    let (schemas, _) = api.store.list(&flow_schemas(), None, None);
    let (levels, _) = api.store.list(&priority_levels(), None, None);
    let schemas: Vec<Arc<Value>> = schemas.into_iter().map(|(_, o)| o).collect();
    let levels: Vec<Arc<Value>> = levels.into_iter().map(|(_, o)| o).collect();
    sync_dangling(api, &schemas, &levels);
}

/// The condition a FlowSchema should carry: (status, reason, message).
fn desired(level: &str, exists: bool) -> (&'static str, &'static str, String) {
    let quoted = go_quote(level);
    if exists {
        (
            "False",
            "Found",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named {quoted} and it exists"
            ),
        )
    } else {
        (
            "True",
            "NotFound",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named {quoted} but there is no such object"
            ),
        )
    }
}

fn dangling(schema: &Value) -> Option<&Value> {
    schema
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Dangling"))
}

/// Updates the `Dangling` condition of every FlowSchema whose condition is not as it should
/// be for the stored priority levels.
fn sync_dangling(api: &ApiState, schemas: &[Arc<Value>], levels: &[Arc<Value>]) {
    let res = flow_schemas();
    for schema in schemas {
        let level = schema
            .pointer("/spec/priorityLevelConfiguration/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let exists = levels.iter().any(|l| meta_str(l, "name") == level);
        let (status, reason, message) = desired(level, exists);
        let current = dangling(schema);
        let same = current.is_some_and(|c| {
            c.get("status").and_then(Value::as_str) == Some(status)
                && c.get("reason").and_then(Value::as_str) == Some(reason)
                && c.get("message").and_then(Value::as_str) == Some(message.as_str())
        });
        if same {
            continue;
        }
        let condition = json!({
            "type": "Dangling",
            "status": status,
            "lastTransitionTime": now(),
            "reason": reason,
            "message": message,
        });
        let Some(ctx) = super::ctx_for(api, &res, schema) else {
            continue;
        };
        let uid = meta_str(schema, "uid").to_owned();
        let _ = ctx.guaranteed_update(&key_of(schema), |stored, _| {
            // Only the version this decision was made on; a newer one gets its own turn.
            let Some(stored) = stored.filter(|s| meta_str(s, "uid") == uid) else {
                return Ok(WriteOp::Noop);
            };
            let mut updated = (**stored).clone();
            let conditions = updated
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter(|c| c.get("type").and_then(Value::as_str) != Some("Dangling"))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let mut conditions = conditions;
            conditions.push(condition.clone());
            set_path(&mut updated, &["status"], json!({"conditions": conditions}));
            Ok(WriteOp::Put(updated))
        });
    }
}
