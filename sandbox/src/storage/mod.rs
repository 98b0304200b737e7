//! The object store: every object as JSON, one global revision counter, and a bounded
//! history of changes for watches.
//!
//! It mirrors etcd as the apiserver uses it: a single monotonically increasing revision,
//! bumped by every write and stamped into the written object's `metadata.resourceVersion`
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions>), and a
//! compaction point before which exact lists and continue tokens answer `410 Expired`.
//! Watches are served, like the apiserver's, from a watch window per resource
//! ([`window`]), not from etcd's history.
//!
//! All writes go through [`Store::write`], which runs a closure against the current object
//! under the store lock, so the resourceVersion precondition check and the write are atomic,
//! like etcd's guaranteed update.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

pub(crate) mod latency;
mod window;

use crate::meta::error::ApiError;
use crate::meta::object::namespace_of;
use window::Window;

/// Identifies a stored resource independently of the version it is served at:
/// `(group, plural resource)`.
pub(crate) type ResKey = (String, String);

/// Identifies an object within a resource: `(namespace, name)`; the namespace is empty for
/// cluster-scoped objects.
pub(crate) type ObjKey = (String, String);

/// The type of a change, as sent in watch events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The `type` string of a watch event.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub(crate) struct Event {
    /// What happened.
    pub(crate) kind: EventType,
    /// The resource of the object.
    pub(crate) res: ResKey,
    /// The object after the change (for deletes: its last state, stamped with the delete revision).
    pub(crate) object: Arc<Value>,
    /// The object before the change, so watches can tell when it left their selector.
    pub(crate) prev: Option<Arc<Value>>,
    /// The revision of this change.
    pub(crate) revision: u64,
    /// When it was committed (watch delivery is delayed from here, see [`latency`]).
    pub(crate) committed: std::time::Instant,
}

/// What a write closure decided.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// Store this object (create or replace); the store stamps `resourceVersion`.
    Put(Value),
    /// Remove the object.
    Delete,
    /// Nothing changed: no new revision and no event, like an apiserver no-op update.
    Noop,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// The object as now stored (for deletes: the last stored state; for no-ops: the
    /// unchanged object).
    pub(crate) object: Arc<Value>,
    /// Whether the object was removed.
    pub(crate) deleted: bool,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Since {
    /// Synthetic ADDED events for every current object, then changes after the current revision.
    Now,
    /// Changes after this revision, from the history.
    Revision(u64),
}

/// What a watch gets when it subscribes: the first events and the live feed.
pub(crate) struct Subscription {
    /// Events to send first (replayed history or synthetic ADDED of current objects).
    pub(crate) initial: Vec<Arc<Event>>,
    /// The live feed of changes with revisions above `revision`.
    pub(crate) live: broadcast::Receiver<Arc<Event>>,
    /// Revision the initial events bring the watcher up to.
    pub(crate) revision: u64,
}

struct Inner {
    revision: u64,
    /// etcd's compaction point: reads at older revisions are gone.
    compacted: u64,
    /// The revision the server started serving at (after its bootstrap objects, or its last
    /// restart): where the watch windows of resources not written since begin.
    boot: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    windows: HashMap<ResKey, Window>,
    objects: HashMap<ResKey, BTreeMap<ObjKey, Arc<Value>>>,
    index: OwnerIndex,
}

/// Where each uid lives and who points at it through `ownerReferences`, so the garbage
/// collector finds dependents without scanning the store (like the GC's dependency graph).
#[derive(Default)]
struct OwnerIndex {
    by_uid: HashMap<String, (ResKey, ObjKey)>,
    dependents: HashMap<String, BTreeSet<(ResKey, ObjKey)>>,
}

impl OwnerIndex {
    fn owners(obj: &Value) -> impl Iterator<Item = &str> {
        obj.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
    }

    fn add(&mut self, res: &ResKey, key: &ObjKey, obj: &Value) {
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.by_uid
                .insert(uid.to_owned(), (res.clone(), key.clone()));
        }
        for owner in Self::owners(obj) {
            self.dependents
                .entry(owner.to_owned())
                .or_default()
                .insert((res.clone(), key.clone()));
        }
    }

    fn remove(&mut self, res: &ResKey, key: &ObjKey, obj: &Value) {
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.by_uid.remove(uid);
        }
        let entry = (res.clone(), key.clone());
        for owner in Self::owners(obj) {
            if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&entry);
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }
}

/// The shared store.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// How many live events a watcher may fall behind before it is dropped, like the real
/// watch cache closes watchers whose buffer is full.
const LIVE_BUFFER: usize = 16_384;

impl Store {
    /// An empty store keeping at most `history_limit` events for watch replay.
    pub(crate) fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(LIVE_BUFFER);
        Self {
            inner: Mutex::new(Inner {
                revision: 1,
                compacted: 1,
                boot: 1,
                history: VecDeque::new(),
                history_limit,
                windows: HashMap::new(),
                objects: HashMap::new(),
                index: OwnerIndex::default(),
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Writes never leave the maps half-updated across a panic point, so a poisoned lock
        // still guards consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current revision (the resourceVersion of the latest write).
    pub(crate) fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// Marks the end of the bootstrap writes: the server starts serving now. The watch
    /// windows of built-in resources begin here (their caches are initialised when the
    /// apiserver starts) and etcd has compacted the bootstrap history, as on a cluster that has
    /// been up longer than etcd's compaction interval, so `resourceVersion=1` is too old for
    /// watches and exact lists alike.
    pub(crate) fn started(&self) {
        let mut inner = self.lock();
        inner.boot = inner.revision;
        inner.compacted = inner.revision;
        inner.history.clear();
    }

    /// Compacts etcd past every revision handed out so far and re-initialises every watch
    /// window after them (as if the apiserver restarted and its caches relisted at the next
    /// revision), so every resourceVersion handed out so far answers 410 Expired and clients
    /// must relist. Stricter than anything a running apiserver does by itself.
    pub(crate) fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.revision + 1;
        let (next, limit) = (inner.revision + 1, inner.history_limit);
        for window in inner.windows.values_mut() {
            window.restart(next, limit);
        }
    }

    /// Rebuilds every watch window at the current revision, as a restarted apiserver's caches
    /// do (`Sandbox::restart`): each relists from etcd and starts empty at the list's
    /// revision (`watchCache.Replace` sets `listResourceVersion`), so watches from older
    /// resourceVersions answer 410 Expired. Unlike [`Store::compact`], etcd keeps its history:
    /// exact lists and continue tokens from before still work.
    pub(crate) fn relist_watch_windows(&self) {
        let mut inner = self.lock();
        let (now, limit) = (inner.revision, inner.history_limit);
        // Windows opened later (a resource first written after the restart) start here too.
        inner.boot = now;
        for window in inner.windows.values_mut() {
            window.restart(now, limit);
        }
    }

    /// Opens the watch window of a custom resource when its CRD starts being served, or
    /// rebuilds it when the CRD's `origin` (its spec and accepted names) changed: the CRD
    /// handler then tears down the resource's storage, and the new watch cache starts at the
    /// current revision (`crdHandler.updateCustomResourceDefinition`).
    pub(crate) fn serve_window(&self, res: &ResKey, origin: Value) {
        let mut inner = self.lock();
        if inner.windows.get(res).is_some_and(|w| w.serves(&origin)) {
            return;
        }
        let window = Window::new(inner.revision, Some(origin), inner.history_limit);
        inner.windows.insert(res.clone(), window);
    }

    /// The object `key` of `res`.
    pub(crate) fn get(&self, res: &ResKey, key: &ObjKey) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(res)
            .and_then(|m| m.get(key))
            .cloned()
    }

    /// Objects of `res` (in `namespace`, if given) with keys after `after`, in key order,
    /// plus the current revision.
    pub(crate) fn list(
        &self,
        res: &ResKey,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
    ) -> (Vec<(ObjKey, Arc<Value>)>, u64) {
        let inner = self.lock();
        let Some(map) = inner.objects.get(res) else {
            return (Vec::new(), inner.revision);
        };
        let items = collect_range(map, namespace, after);
        (items, inner.revision)
    }

    /// Like [`Store::list`], but as the resource was at revision `at`: the current objects
    /// with the retained history rolled back (etcd serves such MVCC reads until compaction).
    /// Consistent paging (`continue`) and `resourceVersionMatch=Exact` use it. `Err(oldest)`
    /// when `at` is older than the history.
    pub(crate) fn list_at(
        &self,
        res: &ResKey,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
        at: u64,
    ) -> Result<Vec<(ObjKey, Arc<Value>)>, u64> {
        let inner = self.lock();
        if at < inner.compacted {
            return Err(inner.compacted);
        }
        let current = inner.objects.get(res);
        let touched = inner
            .history
            .iter()
            .rev()
            .take_while(|e| e.revision > at)
            .any(|e| &e.res == res);
        if !touched {
            return Ok(current
                .map(|m| collect_range(m, namespace, after))
                .unwrap_or_default());
        }
        let mut map = current.cloned().unwrap_or_default();
        for event in inner.history.iter().rev().take_while(|e| e.revision > at) {
            if &event.res != res {
                continue;
            }
            let key = (
                namespace_of(&event.object).to_owned(),
                event
                    .object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            );
            match (&event.kind, &event.prev) {
                (EventType::Added, _) | (_, None) => {
                    map.remove(&key);
                }
                (EventType::Modified | EventType::Deleted, Some(prev)) => {
                    map.insert(key, prev.clone());
                }
            }
        }
        Ok(collect_range(&map, namespace, after))
    }

    /// Every object of every resource (for garbage collection scans).
    pub(crate) fn all_objects(&self) -> Vec<(ResKey, Arc<Value>)> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .flat_map(|(res, m)| m.values().map(move |o| (res.clone(), o.clone())))
            .collect()
    }

    /// Whether an object with this uid exists.
    pub(crate) fn uid_exists(&self, uid: &str) -> bool {
        self.lock().index.by_uid.contains_key(uid)
    }

    /// The objects whose `ownerReferences` name `owner_uid`.
    pub(crate) fn dependents_of(&self, owner_uid: &str) -> Vec<(ResKey, Arc<Value>)> {
        let inner = self.lock();
        let Some(set) = inner.index.dependents.get(owner_uid) else {
            return Vec::new();
        };
        set.iter()
            .filter_map(|(res, key)| {
                let obj = inner.objects.get(res).and_then(|m| m.get(key))?;
                Some((res.clone(), obj.clone()))
            })
            .collect()
    }

    /// Atomically reads the current object, lets `decide` compute the change, and commits it.
    ///
    /// `decide` gets the current object (if any) and the revision the write would get.
    pub(crate) fn write<F>(
        &self,
        res: &ResKey,
        key: &ObjKey,
        decide: F,
    ) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        self.write_opts(res, key, false, decide)
    }

    /// [`Store::write`], or with `dry_run` (`?dryRun=All`) everything but the commit: the
    /// answer is the object as it would be stored, and nothing changes.
    pub(crate) fn write_opts<F>(
        &self,
        res: &ResKey,
        key: &ObjKey,
        dry_run: bool,
        decide: F,
    ) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<WriteOp, ApiError>,
    {
        let mut inner = self.lock();
        let current = inner.objects.get(res).and_then(|m| m.get(key)).cloned();
        let next = inner.revision + 1;
        let op = decide(current.as_ref(), next)?;
        if dry_run {
            return match (op, current) {
                (WriteOp::Put(object), _) => Ok(Written {
                    object: Arc::new(object),
                    deleted: false,
                }),
                (WriteOp::Delete, Some(object)) => Ok(Written {
                    object,
                    deleted: true,
                }),
                (_, Some(object)) => Ok(Written {
                    object,
                    deleted: false,
                }),
                (_, None) => Err(ApiError::Internal("dry run of a missing object".into())),
            };
        }
        match op {
            WriteOp::Noop => match current {
                Some(object) => Ok(Written {
                    object,
                    deleted: false,
                }),
                None => Err(ApiError::Internal("no-op write of a missing object".into())),
            },
            WriteOp::Put(mut object) => {
                set_resource_version(&mut object, next);
                let object = Arc::new(object);
                inner.revision = next;
                if let Some(old) = &current {
                    inner.index.remove(res, key, old);
                }
                inner.index.add(res, key, &object);
                inner
                    .objects
                    .entry(res.clone())
                    .or_default()
                    .insert(key.clone(), object.clone());
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                self.record(&mut inner, kind, res, object.clone(), current);
                Ok(Written {
                    object,
                    deleted: false,
                })
            }
            WriteOp::Delete => {
                let Some(old) = current else {
                    return Err(ApiError::Internal("delete of a missing object".into()));
                };
                if let Some(m) = inner.objects.get_mut(res) {
                    m.remove(key);
                }
                inner.index.remove(res, key, &old);
                inner.revision = next;
                let mut last = (*old).clone();
                set_resource_version(&mut last, next);
                // The DELETED event carries the deletion revision (etcd's watch does), the
                // response the object as it was last stored.
                self.record(
                    &mut inner,
                    EventType::Deleted,
                    res,
                    Arc::new(last),
                    Some(old.clone()),
                );
                Ok(Written {
                    object: old,
                    deleted: true,
                })
            }
        }
    }

    /// Removes every object of `res` (its CRD was deleted), sending DELETED events; returns
    /// the removed objects so their dependents can be collected.
    pub(crate) fn drop_resource(&self, res: &ResKey) -> Vec<Arc<Value>> {
        let mut inner = self.lock();
        inner.windows.remove(res);
        let Some(map) = inner.objects.remove(res) else {
            return Vec::new();
        };
        let mut removed = Vec::with_capacity(map.len());
        for (key, old) in map {
            inner.index.remove(res, &key, &old);
            removed.push(old.clone());
            inner.revision += 1;
            let rev = inner.revision;
            let mut last = (*old).clone();
            set_resource_version(&mut last, rev);
            self.record(
                &mut inner,
                EventType::Deleted,
                res,
                Arc::new(last),
                Some(old),
            );
        }
        removed
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventType,
        res: &ResKey,
        object: Arc<Value>,
        prev: Option<Arc<Value>>,
    ) {
        let event = Arc::new(Event {
            kind,
            res: res.clone(),
            object,
            prev,
            revision: inner.revision,
            committed: std::time::Instant::now(),
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > inner.history_limit {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.revision;
            }
        }
        let (boot, limit) = (inner.boot, inner.history_limit);
        inner
            .windows
            .entry(res.clone())
            .or_insert_with(|| Window::new(boot, None, limit))
            .push(event.clone(), std::time::Instant::now());
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// Every change committed from now on, of every resource: the fan-out the watches and the
    /// controllers (`crate::controllers`) read, as watchers of a real apiserver read etcd's
    /// watch. A receiver that falls more than the buffer behind gets `Lagged` and must relist.
    pub(crate) fn changes(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Subscribes a watch on `res` (in `namespace`, if given) starting at `since`.
    ///
    /// A revision older than the resource's watch window is `410 Expired` with the real
    /// server's message `too old resource version: X (Y)` ([`Window::since`]).
    pub(crate) fn subscribe(
        &self,
        res: &ResKey,
        namespace: Option<&str>,
        since: Since,
    ) -> Result<Subscription, ApiError> {
        let mut inner = self.lock();
        let live = self.tx.subscribe();
        match since {
            Since::Now => {
                let initial = inner
                    .objects
                    .get(res)
                    .map(|m| collect_range(m, namespace, None))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, object)| {
                        Arc::new(Event {
                            kind: EventType::Added,
                            res: res.clone(),
                            object,
                            prev: None,
                            revision: inner.revision,
                            committed: std::time::Instant::now(),
                        })
                    })
                    .collect();
                Ok(Subscription {
                    initial,
                    live,
                    revision: inner.revision,
                })
            }
            Since::Revision(rv) => {
                let (boot, limit) = (inner.boot, inner.history_limit);
                let window = inner
                    .windows
                    .entry(res.clone())
                    .or_insert_with(|| Window::new(boot, None, limit));
                let initial = window
                    .since(rv)?
                    .filter(|e| namespace.is_none_or(|ns| namespace_of(&e.object) == ns))
                    .cloned()
                    .collect();
                Ok(Subscription {
                    initial,
                    live,
                    revision: inner.revision.max(rv),
                })
            }
        }
    }
}

fn collect_range(
    map: &BTreeMap<ObjKey, Arc<Value>>,
    namespace: Option<&str>,
    after: Option<&ObjKey>,
) -> Vec<(ObjKey, Arc<Value>)> {
    use std::ops::Bound;
    let lower = match after {
        Some(k) => Bound::Excluded(k.clone()),
        None => match namespace {
            Some(ns) => Bound::Included((ns.to_owned(), String::new())),
            None => Bound::Unbounded,
        },
    };
    map.range((lower, Bound::Unbounded))
        .take_while(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn set_resource_version(object: &mut Value, rev: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn res() -> ResKey {
        (String::new(), "configmaps".into())
    }

    fn key(name: &str) -> ObjKey {
        ("default".into(), name.into())
    }

    fn put(store: &Store, name: &str) -> Written {
        let obj = json!({"metadata": {"name": name, "namespace": "default"}});
        store
            .write(&res(), &key(name), |_, _| Ok(WriteOp::Put(obj)))
            .unwrap()
    }

    #[test]
    fn every_write_bumps_the_global_revision_into_the_resource_version() {
        let store = Store::new(10);
        let a = put(&store, "a");
        let b = put(&store, "b");
        assert_eq!(a.object["metadata"]["resourceVersion"], "2");
        assert_eq!(b.object["metadata"]["resourceVersion"], "3");
        assert_eq!(store.revision(), 3);
    }

    #[test]
    fn a_noop_write_keeps_the_revision() {
        let store = Store::new(10);
        put(&store, "a");
        let before = store.revision();
        store
            .write(&res(), &key("a"), |_, _| Ok(WriteOp::Noop))
            .unwrap();
        assert_eq!(store.revision(), before);
    }

    #[test]
    fn watch_replay_returns_changes_after_the_revision_and_expires_trimmed_history() {
        let store = Store::new(2);
        put(&store, "a");
        put(&store, "b");
        put(&store, "c");
        let sub = store.subscribe(&res(), None, Since::Revision(3)).unwrap();
        assert_eq!(sub.initial.len(), 1);
        let err = store
            .subscribe(&res(), None, Since::Revision(1))
            .err()
            .unwrap();
        assert_eq!(err.code(), 410);
        assert_eq!(err.to_string(), "too old resource version: 1 (2)");
    }

    #[test]
    fn compaction_expires_every_resource_version_handed_out() {
        let store = Store::new(10);
        put(&store, "a");
        store.compact();
        let current = store.revision();
        assert!(
            store
                .subscribe(&res(), None, Since::Revision(current))
                .is_err()
        );
    }

    #[test]
    fn list_at_rolls_the_history_back_to_the_requested_revision() {
        let store = Store::new(10);
        put(&store, "a");
        let at = store.revision();
        put(&store, "b");
        store
            .write(&res(), &key("a"), |_, _| Ok(WriteOp::Delete))
            .unwrap();
        let then = store.list_at(&res(), None, None, at).unwrap();
        let names: Vec<&str> = then.iter().map(|(k, _)| k.1.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(then[0].1["metadata"]["resourceVersion"], at.to_string());
        store.compact();
        assert!(store.list_at(&res(), None, None, at).is_err());
    }

    #[test]
    fn namespaced_lists_only_see_their_namespace_in_key_order() {
        let store = Store::new(10);
        put(&store, "b");
        put(&store, "a");
        let other = json!({"metadata": {"name": "z", "namespace": "other"}});
        store
            .write(&res(), &("other".into(), "z".into()), |_, _| {
                Ok(WriteOp::Put(other))
            })
            .unwrap();
        let (items, _) = store.list(&res(), Some("default"), None);
        let names: Vec<&str> = items.iter().map(|(k, _)| k.1.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let (after, _) = store.list(&res(), None, Some(&key("a")));
        assert_eq!(after.len(), 2);
    }
}
