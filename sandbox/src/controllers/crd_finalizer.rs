//! The apiextensions CRD finalizer controller: deletes every custom resource of a deleted CRD
//! (their finalizers honoured, the resource still served meanwhile), waits until none is left,
//! then clears the cleanup finalizer so the CRD goes away and stops being served.

use std::sync::Arc;

use serde_json::Value;

use super::{delete, poll_until, remove_finalizer};
use crate::registry::crd::{self, CLEANUP_FINALIZER};
use crate::verbs::ApiState;

/// Starts deleting the custom resources of `definition`, whose deletion has started.
pub(crate) fn cleanup(api: &Arc<ApiState>, definition: &Value) {
    let res = crd::resource_key(definition);
    let (items, _) = api.store.list(&res, None, None);
    for (_, obj) in items {
        delete(api, &res, &obj, "Background");
    }
    let definition = definition.clone();
    poll_until(api, move |api| {
        if !api.store.list(&res, None, None).0.is_empty() {
            return false;
        }
        remove_finalizer(
            api,
            &crd::definitions_key(),
            &definition,
            CLEANUP_FINALIZER,
            |_| {},
        );
        true
    });
}
