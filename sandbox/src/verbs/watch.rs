//! `watch` (`endpoints/handlers/watch.go` with the watch cache): a stream of
//! [`WatchEvent`]s, which the HTTP layer encodes (newline-delimited JSON, or Table rows).
//!
//! Mirrors the apiserver's watch cache
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes>):
//! replay after a resourceVersion from bounded history, `410 Expired` as an in-stream `ERROR`
//! event when it is too old, periodic `BOOKMARK`s, `sendInitialEvents` streaming lists ending
//! with the `k8s.io/initial-events-end` bookmark
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists>), and
//! selector transitions sent as ADDED/DELETED like the cache's filtering watcher.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::{Answer, Ctx, Filter, Query};
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::object::namespace_of;
use crate::registry::ResourceInfo;
use crate::registry::strategy::Strategy;
use crate::registry::strategy_of;
use crate::storage::latency::LatencyModel;
use crate::storage::{Event, EventType, ResKey, Since, Subscription};

/// One event of a watch stream: `ADDED`, `MODIFIED`, `DELETED` with the object as served,
/// `BOOKMARK` with an object holding only a `resourceVersion`, or `ERROR` with a Status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WatchEvent {
    /// The event type.
    pub(crate) kind: &'static str,
    /// The object.
    pub(crate) object: Value,
}

/// The events of one watch, until the server ends it (its timeout) or the receiver is
/// dropped (the client went away).
pub(crate) type WatchStream = mpsc::Receiver<WatchEvent>;

/// Everything the watch task needs, detached from the request.
struct Watch {
    info: ResourceInfo,
    strategy: &'static dyn Strategy,
    res: ResKey,
    namespace: Option<String>,
    filter: Filter,
    bookmarks: bool,
    tx: mpsc::Sender<WatchEvent>,
    latency: LatencyModel,
}

impl Ctx<'_> {
    /// Starts a watch of the target collection.
    pub(crate) fn watch(&self, query: &Query) -> Result<Answer, ApiError> {
        start(self, query).map(Answer::Watch)
    }
}

/// Starts a watch: subscribes to the store and spawns the task feeding the stream.
fn start(ctx: &Ctx<'_>, q: &Query) -> Result<WatchStream, ApiError> {
    let filter = Filter::parse(&ctx.info, q)?;
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    validate_options(q)?;
    let rv = q.get("resourceVersion").filter(|rv| !rv.is_empty());
    // `SetListOptionsDefaults` with WatchList on (beta, default in 1.32): a watch that names
    // neither `sendInitialEvents` nor `resourceVersionMatch`, from no resourceVersion or `0`,
    // is a streaming list, so it also gets the initial-events-end bookmark when it allows
    // bookmarks.
    let send_initial = match q.get("sendInitialEvents") {
        Some(_) => Some(q.flag("sendInitialEvents")),
        None if q.get("resourceVersionMatch").is_none() && rv.is_none_or(|rv| rv == "0") => {
            Some(true)
        }
        None => None,
    };
    let since = match (send_initial, rv) {
        (Some(true), _) | (None, None | Some("0")) => Since::Now,
        // `sendInitialEvents=false` from no resourceVersion: changes from now on only
        // (`getAllEventsSinceLocked` starts at the cache's resourceVersion).
        (Some(false), None | Some("0")) => Since::Revision(ctx.api.store.revision()),
        (_, Some(raw)) => Since::Revision(super::parse_rv(raw)?),
    };
    // `setInitialEventsEndBookmarkIfRequested`: only with `allowWatchBookmarks`.
    let send_initial = send_initial == Some(true) && bookmarks;
    let namespace = ctx.target.namespace.clone();
    let (tx, rx) = mpsc::channel::<WatchEvent>(256);
    let watch = Watch {
        info: ctx.info.clone(),
        strategy: strategy_of(&ctx.info),
        res: ctx.res.clone(),
        namespace: namespace.clone(),
        filter,
        bookmarks,
        tx,
        latency: ctx.api.latency,
    };
    let interval = ctx.api.bookmark_interval;
    match ctx
        .api
        .store
        .subscribe(&ctx.res, namespace.as_deref(), since)
    {
        Ok(sub) => {
            tokio::spawn(watch.run(sub, send_initial, timeout, interval));
        }
        Err(error) => {
            // The real watch cache answers a too-old resourceVersion on the open stream.
            let event = WatchEvent {
                kind: "ERROR",
                object: error.to_status(),
            };
            tokio::spawn(async move {
                let _ = watch.tx.send(event).await;
            });
        }
    }
    Ok(rx)
}

/// `validateWatchOptions` (`apimachinery/pkg/apis/meta/internalversion/validation`), every
/// cause in one 422 Invalid of `ListOptions.meta.k8s.io`.
fn validate_options(q: &Query) -> Result<(), ApiError> {
    let forbidden = |message: &str| Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {message}"),
        field: "resourceVersionMatch".into(),
    };
    let rv_match = q.get("resourceVersionMatch").filter(|m| !m.is_empty());
    let mut causes = Vec::new();
    if q.get("sendInitialEvents").is_some() && rv_match != Some("NotOlderThan") {
        causes.push(forbidden(
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if let Some(rv_match) = rv_match {
        if q.get("sendInitialEvents").is_none() {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if rv_match != "NotOlderThan" {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"NotOlderThan\"",
                    go_quote(rv_match)
                ),
                field: "resourceVersionMatch".into(),
            });
        }
        if q.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes))
    }
}

/// How long a watch without `timeoutSeconds` lasts: `--min-request-timeout` (1800 s by default)
/// times a random factor in [1, 2) (`endpoints/handlers/get.go` `ListResource`), so clients
/// meet the server ending their watches every 30 to 60 minutes, as on a cluster.
fn default_timeout() -> Duration {
    const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1800);
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let fraction = random as f64 / u64::MAX as f64;
    MIN_REQUEST_TIMEOUT.mul_f64(1.0 + fraction)
}

impl Watch {
    async fn run(
        self,
        sub: Subscription,
        send_initial: bool,
        timeout: Option<Duration>,
        interval: Duration,
    ) {
        let mut live = sub.live;
        for event in &sub.initial {
            if !self.send_event(event).await {
                return;
            }
        }
        let mut last_rv = sub.revision;
        if send_initial && !self.send_bookmark(last_rv, true).await {
            return;
        }
        let deadline = tokio::time::sleep(timeout.unwrap_or_else(default_timeout));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = self.tx.closed() => return,
                _ = ticker.tick(), if self.bookmarks => {
                    if !self.send_bookmark(last_rv, false).await {
                        return;
                    }
                }
                received = live.recv() => match received {
                    Ok(event) => {
                        last_rv = event.revision;
                        if event.res == self.res
                            && self.namespace.as_deref().is_none_or(|ns| namespace_of(&event.object) == ns)
                        {
                            // Where a watch event is delivered: not before the latency model's
                            // delay after its commit (none without a model).
                            self.latency.delivery(event.committed).await;
                            if !self.send_event(&event).await {
                                return;
                            }
                        }
                    }
                    // Too slow to keep up: the watch cache closes such watchers; the
                    // client re-watches from its last resourceVersion.
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Sends one change, translated through the selectors; false when the client is gone.
    async fn send_event(&self, event: &Arc<Event>) -> bool {
        let now = self.filter.matches(&event.object);
        let before = event.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match event.kind {
            EventType::Added if now => EventType::Added,
            EventType::Modified if now && before => EventType::Modified,
            EventType::Modified if now => EventType::Added,
            EventType::Modified if before => EventType::Deleted,
            EventType::Deleted if before || now => EventType::Deleted,
            _ => return true,
        }
        .as_str();
        let mut object = self.strategy.to_served(&event.object).into_owned();
        let api_version = self.info.api_version();
        if object.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            object["apiVersion"] = Value::String(api_version);
        }
        self.tx.send(WatchEvent { kind, object }).await.is_ok()
    }

    async fn send_bookmark(&self, rv: u64, initial_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.info.kind,
            "apiVersion": self.info.api_version(),
            "metadata": metadata,
        });
        self.tx
            .send(WatchEvent {
                kind: "BOOKMARK",
                object,
            })
            .await
            .is_ok()
    }
}
