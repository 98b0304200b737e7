//! The `documents.kube.rs` finalizer: what a reconcile does about it, and how it is written.
//!
//! # Why not kube's `runtime::finalizer` helper
//! kube's helper writes the finalizer with a JSON patch, so the controller would need `patch` on
//! `documents`. This controller grants itself exactly the verbs it uses (`yaml/rbac.yaml`), and
//! everything it has to say about a Document besides the finalizer goes through the status
//! subresource. So the finalizer is written the way Kubernetes' own controllers write theirs: read
//! the object, change `metadata.finalizers`, `update` it. The RBAC then has `get` and `update` on
//! `documents` and `patch` only on `documents/status`, and a stray write to a Document through the
//! main resource fails with a 403 that names the missing verb, instead of landing unnoticed.
//!
//! # Why read first, and read untyped
//! An update replaces the whole object, so it must carry every field the API server has. The
//! cached Document cannot: the reflector strips `managedFields` and the
//! `last-applied-configuration` annotation, and a [`Document`] drops fields this binary does not
//! know (a newer CRD version's). So the update starts from a fresh GET of a [`DynamicObject`],
//! which keeps every field, and changes only the finalizer list. The GET's `resourceVersion`
//! travels with the update as a precondition: if anyone wrote the Document in between, the API
//! server answers 409 Conflict and the reconcile is retried at once (`RetryClass::Conflict`),
//! rather than overwriting their change.

use crate::document::{Document, FINALIZER};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};

/// What a reconcile has to do, given the Document's deletion state and finalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A live Document without our finalizer: add it, and do nothing else until the update's
    /// watch event brings the Document back (with the finalizer, cleanup is guaranteed).
    Add,
    /// A live Document with our finalizer: bring the world to what its spec asks for.
    Apply,
    /// A deleted Document still holding our finalizer: clean up, then release it.
    Cleanup,
    /// A deleted Document we hold no finalizer on: nothing is left to do.
    Done,
}

impl Step {
    /// The step for this Document as cached.
    pub fn of(doc: &Document) -> Step {
        let ours = doc.finalizers().iter().any(|f| f == FINALIZER);
        match (doc.metadata.deletion_timestamp.is_some(), ours) {
            (false, false) => Step::Add,
            (false, true) => Step::Apply,
            (true, true) => Step::Cleanup,
            (true, false) => Step::Done,
        }
    }
}

/// Adds our finalizer to the Document, unless it already carries it.
pub async fn add(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    edit_finalizers(api, name, |finalizers| {
        if finalizers.iter().any(|f| f == FINALIZER) {
            false
        } else {
            finalizers.push(FINALIZER.to_string());
            true
        }
    })
    .await
}

/// Removes our finalizer from the Document; one that is already gone is released.
pub async fn release(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    edit_finalizers(api, name, |finalizers| {
        let before = finalizers.len();
        finalizers.retain(|f| f != FINALIZER);
        finalizers.len() != before
    })
    .await
}

/// The untyped API for Documents in `namespace`, for whole-object updates (see the module docs).
pub fn documents(client: kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &ApiResource::erase::<Document>(&()))
}

/// Reads the Document fresh, lets `edit` change its finalizers, and updates it if `edit` says it
/// changed something. A Document that no longer exists needs nothing.
async fn edit_finalizers(
    api: &Api<DynamicObject>,
    name: &str,
    edit: impl FnOnce(&mut Vec<String>) -> bool,
) -> Result<(), kube::Error> {
    let Some(mut doc) = api.get_opt(name).await? else {
        return Ok(());
    };
    if !edit(doc.finalizers_mut()) {
        return Ok(());
    }
    match api.replace(name, &PostParams::default(), &doc).await {
        Ok(_) => Ok(()),
        // Deleted between the read and the update (the last finalizer went): nothing to hold.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_follows_deletion_and_our_finalizer() {
        let doc = Document::test();
        assert_eq!(Step::of(&doc), Step::Add);
        assert_eq!(Step::of(&doc.clone().finalized()), Step::Apply);
        assert_eq!(Step::of(&doc.clone().finalized().deleting()), Step::Cleanup);
        assert_eq!(Step::of(&doc.deleting()), Step::Done);
    }

    #[test]
    fn another_controllers_finalizer_is_not_ours() {
        let mut doc = Document::test();
        doc.metadata.finalizers = Some(vec!["example.com/other".into()]);
        assert_eq!(Step::of(&doc), Step::Add);
    }
}
