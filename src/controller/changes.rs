//! What each Document watch event changed, and whether the trigger predicate let it through:
//! `doc_controller_document_changes_total{change, predicate}`, the evidence of spurious reconciles
//! (changes of neither generation nor finalizers that reach the reconciler) and of filtered ones.
//!
//! The change is judged against the cached Document before the reflector replaces it, so nothing
//! is kept per Document. The stream is pulled one event at a time (watch → reflector →
//! predicate → controller), so the change of the event the predicate is judging is the last one
//! offered to it: [`ChangeTracker::offered`] before the predicate, [`ChangeTracker::passed`]
//! after it; an offered change that is not passed before the next one is offered was filtered.

use crate::document::Document;
use crate::metrics::Metrics;
use crate::signals::Change;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::{Arc, Mutex};

/// Tracks one Document stream's changes through its predicate.
pub struct ChangeTracker {
    store: Store<Document>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The change of the event on its way from the reflector to the predicate.
    seen: Option<Change>,
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
        self.lock().seen = Some(change);
    }

    /// The event is offered to the predicate; the one offered before it, not passed, was
    /// filtered.
    pub fn offered(&self) {
        let mut state = self.lock();
        if let Some(filtered) = state.offered.take() {
            self.metrics.signals().document_changed(filtered, false);
        }
        state.offered = state.seen.take();
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
