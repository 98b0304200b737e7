//! Which owned-ConfigMap events reconcile their Document: only those that show something to repair.
//!
//! # Why not every event
//! kube's `owns()` reconciles the owner on every event of an owned object, so each ConfigMap apply
//! of the controller came back as one more reconcile of its Document (2,000 extra reconciles for
//! 2,000 new Documents, none of them writing anything), and on a restart the owned objects' initial
//! list reconciled Documents that the Document list was reconciling anyway.
//!
//! An event reconciles its owner only when the ConfigMap differs from what the owning Document, as
//! cached now, asks for. The controller's own writes come back already matching (they are what
//! it asked for), so their echoes are dropped; a ConfigMap changed or deleted by anyone else still
//! reconciles its Document, which repairs it. No memo per object is needed: the Document cache and
//! the event say it all. Events of a ConfigMap whose Document is not cached are dropped: either the
//! Document is not listed yet (its own list event reconciles it) or it is gone (the garbage
//! collector removes the ConfigMap).

use crate::configmap::cached::CachedConfigMap;
use crate::document::Document;
use crate::document::published::published;
// region: fault-catalogue
use crate::fault::{Fault, LiveFaults};
// endregion: fault-catalogue
use kube::runtime::reflector::{Lookup, ObjectRef, Store};
use kube::runtime::watcher;

/// Maps owned-ConfigMap events to the Documents to reconcile.
pub struct OwnerTrigger {
    documents: Store<Document>,
    // region: fault-catalogue
    faults: LiveFaults,
    // endregion: fault-catalogue
}

impl OwnerTrigger {
    /// A trigger judging events against the Documents in `documents`.
    pub fn new(
        documents: Store<Document>,
        // region: fault-catalogue
        faults: LiveFaults,
        // endregion: fault-catalogue
    ) -> Self {
        Self {
            documents,
            // region: fault-catalogue
            faults,
            // endregion: fault-catalogue
        }
    }

    /// The Document to reconcile for `event`, if the event shows something to repair.
    pub fn owner_to_reconcile(
        &self,
        event: &watcher::Event<CachedConfigMap>,
    ) -> Option<ObjectRef<Document>> {
        let (cm, deleted) = match event {
            watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => (cm, false),
            watcher::Event::Delete(cm) => (cm, true),
            watcher::Event::Init | watcher::Event::InitDone => return None,
        };
        let mut owner = ObjectRef::new(cm.owner()?);
        if let Some(namespace) = Lookup::namespace(cm) {
            owner = owner.within(&namespace);
        }
        let doc = self.documents.get(&owner)?;
        let wanted = !doc.spec.hide;
        let as_wanted = if deleted {
            !wanted
        } else {
            wanted && self.matches(cm, &doc)
        };
        (!as_wanted).then_some(owner)
    }

    fn matches(&self, cm: &CachedConfigMap, doc: &Document) -> bool {
        // FAULT(rival-writer): the wrong way insists on the whole object, so another writer's
        // annotation is something to "repair" too (and the ping-pong follows).
        if self.faults.is_on(Fault::RivalWriter) && cm.is_annotated() {
            return false;
        }
        cm.is_up_to_date(&published(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentSpec;
    // region: fault-catalogue
    use crate::fault::Faults;
    // endregion: fault-catalogue
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::runtime::reflector;

    fn doc(hide: bool) -> Document {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "Samuel".into(),
                content: "hello".into(),
                hide,
            },
        );
        d.metadata.namespace = Some("ns".into());
        d.metadata.uid = Some("uid-1".into());
        d
    }

    fn trigger(doc: Option<Document>) -> OwnerTrigger {
        let (store, mut writer) = reflector::store();
        if let Some(doc) = doc {
            writer.apply_watcher_event(&watcher::Event::Apply(doc));
        }
        OwnerTrigger::new(
            store,
            // region: fault-catalogue
            LiveFaults::new(Faults::default()),
            // endregion: fault-catalogue
        )
    }

    fn applied(cm: ConfigMap) -> watcher::Event<CachedConfigMap> {
        watcher::Event::Apply(cm.into())
    }

    fn samuel() -> Option<ObjectRef<Document>> {
        Some(ObjectRef::new("samuel").within("ns"))
    }

    #[test]
    fn the_echo_of_the_controllers_own_apply_reconciles_nothing() {
        let t = trigger(Some(doc(false)));
        let own = published(&doc(false));
        assert_eq!(t.owner_to_reconcile(&applied(own.clone())), None);
        // Nor does the same object in an initial list (a restart).
        let listed = watcher::Event::InitApply(own.into());
        assert_eq!(t.owner_to_reconcile(&listed), None);
    }

    #[test]
    fn a_config_map_changed_or_deleted_by_someone_else_reconciles_its_document() {
        let t = trigger(Some(doc(false)));
        let mut edited = published(&doc(false));
        edited
            .data
            .get_or_insert_default()
            .insert("content".into(), "vandalised".into());
        assert_eq!(t.owner_to_reconcile(&applied(edited)), samuel());
        let deleted = watcher::Event::Delete(published(&doc(false)).into());
        assert_eq!(t.owner_to_reconcile(&deleted), samuel());
    }

    #[test]
    fn a_hidden_documents_config_map_is_repaired_only_while_it_exists() {
        let t = trigger(Some(doc(true)));
        let cm = published(&doc(true));
        assert_eq!(t.owner_to_reconcile(&applied(cm.clone())), samuel());
        let deleted = watcher::Event::Delete(cm.into());
        assert_eq!(t.owner_to_reconcile(&deleted), None);
    }

    #[test]
    fn config_maps_without_a_cached_owner_reconcile_nothing() {
        let t = trigger(None);
        let orphan = published(&doc(false));
        assert_eq!(t.owner_to_reconcile(&applied(orphan)), None);
        let index = crate::configmap::empty_index("ns");
        let t = trigger(Some(doc(false)));
        assert_eq!(t.owner_to_reconcile(&applied(index)), None);
    }

    fn annotated() -> ConfigMap {
        let mut cm = published(&doc(false));
        cm.annotations_mut()
            .insert("rival.example.com/reviewed".into(), "yes".into());
        cm
    }

    #[test]
    fn another_writers_annotation_is_nothing_to_repair() {
        let t = trigger(Some(doc(false)));
        assert_eq!(t.owner_to_reconcile(&applied(annotated())), None);
    }

    // region: fault-catalogue
    #[test]
    fn with_rival_writer_another_writers_annotation_is_something_to_repair() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(doc(false)));
        let faults = LiveFaults::new(Faults::new([Fault::RivalWriter]));
        let wrong = OwnerTrigger::new(store, faults);
        assert_eq!(wrong.owner_to_reconcile(&applied(annotated())), samuel());
    }
    // endregion: fault-catalogue
}
