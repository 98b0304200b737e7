//! What every cluster starts with: the API Priority and Fairness objects of a fresh 1.32
//! server (with their `Dangling` conditions already set, as its config controller would) and
//! the initial namespaces.

use serde_json::json;

use crate::controllers;
use crate::meta::object::meta_str;
use crate::registry::flowcontrol::{GROUP, bootstrap};
use crate::registry::namespaces::{self, INITIAL};
use crate::registry::rest;
use crate::storage::WriteOp;
use crate::verbs::ApiState;

/// Stores the objects of a fresh server.
pub(super) fn seed(api: &ApiState) {
    for (resource, objects) in [
        ("prioritylevelconfigurations", bootstrap::priority_levels()),
        ("flowschemas", bootstrap::flow_schemas()),
    ] {
        let Some(info) = api.registry.lookup(GROUP, "v1", resource) else {
            continue;
        };
        let res = (GROUP.to_owned(), resource.to_owned());
        for mut obj in objects {
            let name = meta_str(&obj, "name").to_owned();
            if rest::prepare_create(&info, &mut obj).is_ok() {
                let _ = api
                    .store
                    .write(&res, &(String::new(), name), |_, _| Ok(WriteOp::Put(obj)));
            }
        }
    }
    controllers::flowcontrol::sync(api);
    let Some(info) = api.registry.lookup("", "v1", "namespaces") else {
        return;
    };
    for name in INITIAL {
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if rest::prepare_create(&info, &mut obj).is_ok() {
            let _ = api.store.write(
                &namespaces::key(),
                &(String::new(), (*name).to_owned()),
                |_, _| Ok(WriteOp::Put(obj)),
            );
        }
    }
}
