//! The `NamespaceLifecycle` admission plugin
//! (`plugin/pkg/admission/namespace/lifecycle`): nothing is created in a namespace that does
//! not exist or is being terminated, and the immortal namespaces cannot be deleted.

use crate::meta::error::ApiError;
use crate::meta::object::is_deleting;
use crate::registry::ResourceInfo;
use crate::registry::namespaces::{self, IMMORTAL};
use crate::storage::Store;

/// Admits the create of `name` of `info` in `namespace`.
pub(crate) fn admit_create(
    store: &Store,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let ns = store
        .get(&namespaces::key(), &(String::new(), namespace.to_owned()))
        .ok_or_else(|| ApiError::not_found("", "namespaces", namespace))?;
    if is_deleting(&ns) {
        return Err(ApiError::ForbiddenObject {
            group: info.group.clone(),
            resource: info.resource.clone(),
            name: name.to_owned(),
            reason: format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        });
    }
    Ok(())
}

/// Admits the delete of the namespace `name`.
pub(crate) fn admit_namespace_delete(name: &str) -> Result<(), ApiError> {
    if IMMORTAL.contains(&name) {
        return Err(ApiError::ForbiddenObject {
            group: String::new(),
            resource: "namespaces".into(),
            name: name.to_owned(),
            reason: "this namespace may not be deleted".into(),
        });
    }
    Ok(())
}
