//! The index writes of this process that its ConfigMap cache does not show yet.
//!
//! Reconciles decide from the cache whether a Document's index entry needs a write. Right
//! after a write, the cache may not show it yet (its watch event is on its way), and a decision
//! taken then is wrong: a Document deleted (or hidden) just after it was listed looked unlisted,
//! so its cleanup skipped the removal and released the finalizer, and the index went on listing a
//! Document that was gone (found by the survival suite, a user deleting a Document within
//! milliseconds of creating it). Shown again just after it was hidden, a Document looked still
//! listed and stayed out of the index.
//!
//! So the [`IndexWriter`](super::IndexWriter) remembers each batch it wrote, with the
//! resourceVersion the API server answered, until the cache shows that version of the index;
//! until then a Document's entry is what the newest such batch wrote for it (the reconciles
//! of one Document run one at a time, each waiting for its write, so this process's newest
//! write of an entry is its truth). The watch delivers every version of an object in order, so
//! once it shows one of these versions, the batches up to that one are in the cache. This is
//! the *expectations* pattern of Kubernetes' own controllers, keyed by resourceVersions compared
//! only for equality, as the API conventions allow.
//!
//! # Writes whose answer was lost
//! A write that got no answer (the connection cut by an API server restart, a timeout) may or
//! may not have been done. Neither guess is safe: taken as done, a retried listing would be
//! skipped; taken as not done, a cleanup right after would skip the removal of an entry that is
//! there. Such a batch is remembered as [`Written::Unknown`] for its Documents, and the reconcile
//! writes their entries again, whatever the cache shows.
//!
//! # Caveats
//! A batch whose version the cache never shows (a relist that skipped it) is kept until a later
//! batch of the namespace is shown; meanwhile its entries are this process's latest writes
//! anyway. Someone else's edit of an entry the process wrote is not seen until then; the index
//! is the controller's to write. Another replica's, written while this process was a standby,
//! would be hidden by batches this process wrote in an earlier term that its cache never showed
//! (a relist skipped their version): so every term as leader starts with none
//! ([`UnseenWrites::forget`]). The index deleted by someone else drops the batches of its
//! namespace.

use crate::configmap::INDEX_NAME;
use crate::configmap::cached::CachedConfigMap;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Batches written, per namespace, oldest first, that the cache does not show yet.
#[derive(Debug, Default)]
pub struct UnseenWrites(Mutex<HashMap<String, VecDeque<Batch>>>);

/// A Document's index entry as this process last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Listed with this title, or removed (`None`).
    Entry(Option<String>),
    /// The write got no answer: it may or may not have been done.
    Unknown,
}

/// One write of a namespace's index.
#[derive(Debug)]
struct Batch {
    /// The index's resourceVersion after the write; `None` when the write got no answer.
    resource_version: Option<String>,
    /// The entries it wrote: a title, or `None` for a removal.
    entries: BTreeMap<String, Option<String>>,
}

impl UnseenWrites {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Batch>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `entries` were written to `namespace`'s index, which was at `resource_version` after;
    /// `None`: the write got no answer, it may or may not have been done.
    pub fn written(
        &self,
        namespace: &str,
        resource_version: Option<String>,
        entries: &BTreeMap<String, Option<String>>,
    ) {
        self.lock()
            .entry(namespace.to_string())
            .or_default()
            .push_back(Batch {
                resource_version,
                entries: entries.clone(),
            });
    }

    /// `document`'s entry as last written by this process, if the cache does not show that
    /// write yet.
    pub fn entry(&self, namespace: &str, document: &str) -> Option<Written> {
        self.lock().get(namespace)?.iter().rev().find_map(|batch| {
            let entry = batch.entries.get(document)?;
            Some(match batch.resource_version {
                Some(_) => Written::Entry(entry.clone()),
                None => Written::Unknown,
            })
        })
    }

    /// Forgets every batch: the cache is the truth again (a new term as leader).
    pub fn forget(&self) {
        self.lock().clear();
    }

    /// What the cache now shows (call after the reflector has applied `event`).
    pub fn observe(&self, event: &watcher::Event<CachedConfigMap>) {
        let (index, deleted) = match event {
            watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => (cm, false),
            watcher::Event::Delete(cm) => (cm, true),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        if index.name().as_deref() != Some(INDEX_NAME) {
            return;
        }
        let Some(namespace) = index.namespace() else {
            return;
        };
        let mut namespaces = self.lock();
        if deleted {
            namespaces.remove(namespace.as_ref());
            return;
        }
        let (Some(batches), Some(version)) = (
            namespaces.get_mut(namespace.as_ref()),
            index.resource_version(),
        ) else {
            return;
        };
        if let Some(at) = batches
            .iter()
            .position(|b| b.resource_version.as_deref() == Some(version))
        {
            batches.drain(..=at);
        }
        if batches.is_empty() {
            namespaces.remove(namespace.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn index(resource_version: &str) -> CachedConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(INDEX_NAME.into()),
                namespace: Some("ns".into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
        .into()
    }

    fn entries(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(d, t)| (d.to_string(), t.map(str::to_string)))
            .collect()
    }

    #[test]
    fn a_write_counts_until_the_cache_shows_its_version_of_the_index() {
        let unseen = UnseenWrites::default();
        unseen.written("ns", Some("5".into()), &entries(&[("a", Some("A"))]));
        let both = entries(&[("a", None), ("b", Some("B"))]);
        unseen.written("ns", Some("7".into()), &both);
        let removed = Some(Written::Entry(None));
        assert_eq!(unseen.entry("ns", "a"), removed, "the newest write wins");
        assert_eq!(
            unseen.entry("ns", "c"),
            None,
            "never written: the cache knows"
        );
        // Someone else's version of the index says nothing about ours.
        unseen.observe(&watcher::Event::Apply(index("6")));
        assert_eq!(
            unseen.entry("ns", "b"),
            Some(Written::Entry(Some("B".into())))
        );
        unseen.observe(&watcher::Event::Apply(index("5")));
        assert_eq!(unseen.entry("ns", "a"), removed);
        unseen.observe(&watcher::Event::InitApply(index("7")));
        assert_eq!(unseen.entry("ns", "a"), None);
        assert_eq!(unseen.entry("ns", "b"), None);
    }

    #[test]
    fn a_deleted_index_takes_the_writes_before_it_along() {
        let unseen = UnseenWrites::default();
        unseen.written("ns", Some("5".into()), &entries(&[("a", Some("A"))]));
        unseen.observe(&watcher::Event::Delete(index("6")));
        assert_eq!(unseen.entry("ns", "a"), None);
    }

    #[test]
    fn forgotten_writes_leave_the_answer_to_the_cache() {
        let unseen = UnseenWrites::default();
        unseen.written("ns", Some("5".into()), &entries(&[("a", Some("A"))]));
        unseen.written("other", None, &entries(&[("b", None)]));
        unseen.forget();
        assert_eq!(unseen.entry("ns", "a"), None);
        assert_eq!(unseen.entry("other", "b"), None);
    }

    #[test]
    fn a_write_without_an_answer_is_unknown_until_written_again_and_shown() {
        let unseen = UnseenWrites::default();
        unseen.written("ns", None, &entries(&[("a", Some("A")), ("b", None)]));
        assert_eq!(unseen.entry("ns", "a"), Some(Written::Unknown));
        assert_eq!(unseen.entry("ns", "b"), Some(Written::Unknown));
        // The cache shows versions, none of them is the unanswered write's.
        unseen.observe(&watcher::Event::Apply(index("6")));
        assert_eq!(unseen.entry("ns", "a"), Some(Written::Unknown));
        unseen.written("ns", Some("8".into()), &entries(&[("a", Some("A"))]));
        assert_eq!(
            unseen.entry("ns", "a"),
            Some(Written::Entry(Some("A".into())))
        );
        assert_eq!(unseen.entry("ns", "b"), Some(Written::Unknown));
        // A later answered write shown: the unanswered one before it is in the cache, or never was.
        unseen.observe(&watcher::Event::Apply(index("8")));
        assert_eq!(unseen.entry("ns", "a"), None);
        assert_eq!(unseen.entry("ns", "b"), None);
    }
}
