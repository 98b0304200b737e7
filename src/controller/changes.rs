//! What each Document watch event changed, and whether the trigger predicate let it through:
//! `doc_controller_document_changes_total{change, predicate}`, the evidence of spurious reconciles
//! (changes of neither generation nor finalizers that reach the reconciler) and of filtered ones.
//!
//! The change is judged against the cached Document before the reflector replaces it, and kept
//! only until the Document is offered to the predicate: at once for a change, at the end of the
//! list for the Documents of a list (they reach the predicate at its `InitDone`, see
//! `watches::applied_from_store`). The stream is pulled one event at a time (watch → reflector →
//! predicate → controller), so the change the predicate is judging is the last one offered to it:
//! [`ChangeTracker::offered`] before the predicate, [`ChangeTracker::passed`] after it; an
//! offered change that is not passed before the next one is offered was filtered.

use crate::crd::Document;
use crate::metrics::Metrics;
use crate::signals::Change;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Tracks one Document stream's changes through its predicate.
pub struct ChangeTracker {
    store: Store<Document>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The changes on their way from the reflector to the predicate: one for a change, the
    /// Documents of a list until its end.
    seen: HashMap<ObjectRef<Document>, Change>,
    /// The change the predicate is judging now.
    offered: Option<Change>,
}

impl ChangeTracker {
    /// A tracker comparing events with the Documents in `store`.
    pub fn new(store: Store<Document>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            metrics,
            state: Mutex::default(),
        }
    }

    /// An event of `doc` arrives, before the reflector stores it.
    pub fn seen(&self, doc: &Document) {
        let cached = self.store.get(&ObjectRef::from_obj(doc));
        let change = Change::of(
            cached
                .as_deref()
                .map(|c| (c.metadata.generation, c.finalizers())),
            (doc.metadata.generation, doc.finalizers()),
        );
        self.lock().seen.insert(ObjectRef::from_obj(doc), change);
    }

    /// A (re)list starts: the changes of one cut short will not be offered.
    pub fn list_started(&self) {
        self.lock().seen.clear();
    }

    /// `doc` is offered to the predicate; the change offered before it, not passed, was
    /// filtered.
    pub fn offered(&self, doc: &Document) {
        let mut state = self.lock();
        if let Some(filtered) = state.offered.take() {
            self.metrics.signals().document_changed(filtered, false);
        }
        state.offered = state.seen.remove(&ObjectRef::from_obj(doc));
    }

    /// The predicate passed the event offered last.
    pub fn passed(&self) {
        if let Some(change) = self.lock().offered.take() {
            self.metrics.signals().document_changed(change, true);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
