//! One watch per Document's ConfigMap: the wrong way of toggle `watch-per-object`.
//!
//! The right way is the shared ConfigMap reflector in [`super::build`]: one watch for all owned
//! ConfigMaps, whatever their number. Here every published Document starts a watch of its own
//! ConfigMap (`watch_object`), so the number of open watches, and of requests to start them, grows
//! with the number of Documents, until the API server's fairness limits answer with 429.

use crate::document::Document;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// The per-object watches and the channel through which they trigger reconciles.
pub struct ObjectWatches {
    client: kube::Client,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    tasks: Mutex<HashMap<ObjectRef<Document>, AbortHandle>>,
    trigger: mpsc::UnboundedSender<ObjectRef<Document>>,
}

impl ObjectWatches {
    /// No watches yet, and the stream of reconciles they will trigger (for
    /// `Controller::reconcile_on`).
    pub fn new(
        client: kube::Client,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> (Self, UnboundedReceiverStream<ObjectRef<Document>>) {
        let (trigger, triggers) = mpsc::unbounded_channel();
        let watches = Self {
            client,
            metrics,
            tasks: Mutex::new(HashMap::new()),
            trigger,
        };
        (watches, UnboundedReceiverStream::new(triggers))
    }

    /// Starts a watch of `doc`'s ConfigMap unless one runs already.
    pub fn ensure(&self, doc: &Document) {
        let key = ObjectRef::from_obj(doc);
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tasks.contains_key(&key) {
            return;
        }
        let api: Api<ConfigMap> =
            Api::namespaced(self.client.clone(), &doc.namespace().unwrap_or_default());
        let trigger = self.trigger.clone();
        let owner = key.clone();
        let metrics = self.metrics.clone();
        let watch = watcher::watch_object(api, &doc.config_map_name())
            .default_backoff()
            .for_each(move |_| {
                metrics.signals().reconciles_requested("object_watch", 1);
                let _ = trigger.send(owner.clone());
                futures::future::ready(())
            });
        tasks.insert(key, tokio::spawn(watch).abort_handle());
    }

    /// Stops the watch of a deleted Document.
    pub fn forget(&self, doc: &Document) {
        let removed = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&ObjectRef::from_obj(doc));
        if let Some(task) = removed {
            task.abort();
        }
    }
}

impl Drop for ObjectWatches {
    fn drop(&mut self) {
        let tasks = self
            .tasks
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, task) in tasks.drain() {
            task.abort();
        }
    }
}
