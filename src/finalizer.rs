//! The `documents.kube.rs` finalizer: what a reconcile does about it, and how it is written.
//!
//! # Why not kube's `runtime::finalizer` helper
//! kube's helper writes the finalizer with a JSON patch, so the controller would need `patch` on
//! `documents`. This controller grants itself exactly the verbs it uses (`yaml/rbac.yaml`), and
//! everything it has to say about a Document besides the finalizer goes through the status
//! subresource. So the finalizer is written the way Kubernetes' own controllers write theirs: read
//! the object, change `metadata.finalizers`, `update` it. The RBAC then has `get` and `update` on
//! `documents` and `patch` only on `documents/status`, and a stray write to a Document through the
//! main resource (toggle `forbidden-patch`) fails with a 403 that names the missing verb, instead
//! of landing unnoticed.
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
//!
//! # Why the reconcile goes on with the update's answer
//! The update answers with the Document as stored, finalizer included: the same object, at the
//! same resourceVersion, that the watch delivers a moment later. [`add`] returns it, and the
//! reconcile publishes with it at once instead of ending and waiting for that watch event (one
//! watch delivery and one more reconcile per new Document). The watch event that follows is then
//! only the echo of this write, and [`FinalizerWrites`] keeps it from triggering a reconcile of
//! what was already reconciled at that very resourceVersion.

use crate::crd::{Document, FINALIZER};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::runtime::reflector::ObjectRef;
use std::collections::HashMap;
use std::sync::Mutex;

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

/// Adds our finalizer to the Document, unless it already carries it. Returns the Document as
/// the API server now has it (the update's answer, or the fresh read when the finalizer was
/// already there), `None` when it no longer exists.
pub async fn add(api: &Api<DynamicObject>, name: &str) -> Result<Option<Document>, kube::Error> {
    edit_finalizers(api, name, |finalizers| {
        if finalizers.iter().any(|f| f == FINALIZER) {
            false
        } else {
            finalizers.push(FINALIZER.to_string());
            true
        }
    })
    .await?
    .map(|doc| serde_json::to_value(doc).and_then(serde_json::from_value))
    .transpose()
    .map_err(kube::Error::SerdeError)
}

/// Removes our finalizer from the Document; one that is already gone is released.
pub async fn release(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    edit_finalizers(api, name, |finalizers| {
        let before = finalizers.len();
        finalizers.retain(|f| f != FINALIZER);
        finalizers.len() != before
    })
    .await
    .map(|_| ())
}

/// The untyped API for Documents in `namespace`, for whole-object updates (see the module docs).
pub fn documents(client: kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &ApiResource::erase::<Document>(&()))
}

/// Reads the Document fresh, lets `edit` change its finalizers, and updates it if `edit` says it
/// changed something. Returns the Document as now stored; one that no longer exists needs
/// nothing (`None`).
async fn edit_finalizers(
    api: &Api<DynamicObject>,
    name: &str,
    edit: impl FnOnce(&mut Vec<String>) -> bool,
) -> Result<Option<DynamicObject>, kube::Error> {
    let Some(mut doc) = api.get_opt(name).await? else {
        return Ok(None);
    };
    if !edit(doc.finalizers_mut()) {
        return Ok(Some(doc));
    }
    match api.replace(name, &PostParams::default(), &doc).await {
        Ok(updated) => Ok(Some(updated)),
        // Deleted between the read and the update (the last finalizer went): nothing to hold.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Finalizer updates whose watch event has not come back yet: per Document, the
/// resourceVersion the update returned.
///
/// The reconcile that added the finalizer went on with the update's answer ([`add`]); the watch
/// event of that same resourceVersion brings nothing new, yet a predicate on finalizers lets it
/// through. [`FinalizerWrites::is_echo`] tells the trigger to drop it. Any other event of the
/// Document (another resourceVersion) supersedes the entry ([`FinalizerWrites::seen`]), so an
/// entry lives from the update until the next watch event of its Document.
#[derive(Default)]
pub struct FinalizerWrites(Mutex<HashMap<ObjectRef<Document>, String>>);

impl FinalizerWrites {
    /// Remembers that `doc` (the update's answer) was reconciled at its resourceVersion.
    pub fn record(&self, doc: &Document) {
        if let Some(rv) = &doc.metadata.resource_version {
            self.lock().insert(ObjectRef::from_obj(doc), rv.clone());
        }
    }

    /// Whether `doc` is the watch echo of a recorded update; the entry goes with it.
    pub fn is_echo(&self, doc: &Document) -> bool {
        let mut writes = self.lock();
        let key = ObjectRef::from_obj(doc);
        let echo = writes
            .get(&key)
            .is_some_and(|rv| doc.metadata.resource_version.as_ref() == Some(rv));
        if echo {
            writes.remove(&key);
        }
        echo
    }

    /// The watch delivered `doc`: an entry for another resourceVersion is superseded.
    pub fn seen(&self, doc: &Document) {
        let mut writes = self.lock();
        let key = ObjectRef::from_obj(doc);
        if writes
            .get(&key)
            .is_some_and(|rv| doc.metadata.resource_version.as_ref() != Some(rv))
        {
            writes.remove(&key);
        }
    }

    /// How many updates wait for their echo.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<Document>, String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    fn only_the_echo_of_the_recorded_update_is_dropped_and_only_once() {
        let writes = FinalizerWrites::default();
        let mut doc = Document::test().finalized();
        doc.metadata.resource_version = Some("7".into());
        writes.record(&doc);
        let mut later = doc.clone();
        later.metadata.resource_version = Some("8".into());
        assert!(!writes.is_echo(&later), "another resourceVersion is news");
        assert!(writes.is_echo(&doc));
        assert!(!writes.is_echo(&doc), "dropped once");
        writes.record(&doc);
        writes.seen(&later);
        assert!(writes.is_empty(), "superseded by a later event");
    }

    #[test]
    fn another_controllers_finalizer_is_not_ours() {
        let mut doc = Document::test();
        doc.metadata.finalizers = Some(vec!["example.com/other".into()]);
        assert_eq!(Step::of(&doc), Step::Add);
    }
}
