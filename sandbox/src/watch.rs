//! Watches: a newline-delimited JSON stream of `{"type", "object"}` events.
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

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::{Ctx, Filter};
use crate::http::{Call, stream_response};
use crate::registry::ResourceInfo;
use crate::status::ApiError;
use crate::store::{Event, EventType, ResKey, Since, namespace_of};

/// Everything the watch task needs, detached from the request.
struct Watch {
    info: ResourceInfo,
    res: ResKey,
    namespace: Option<String>,
    filter: Filter,
    bookmarks: bool,
    table: Option<crate::table::IncludeObject>,
    metadata_only: bool,
    headers_sent: std::sync::atomic::AtomicBool,
    tx: mpsc::Sender<Bytes>,
    metrics: crate::server_metrics::ServerMetrics,
    latency: crate::latency::LatencyModel,
}

/// Starts a watch and returns the streaming response.
pub fn start(ctx: &Ctx<'_>, call: &Call) -> Result<Response, ApiError> {
    let filter = Filter::parse(&ctx.info, call)?;
    let q = &call.query;
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    validate_options(call)?;
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
        (Some(false), None | Some("0")) => Since::Revision(ctx.state.store.revision()),
        (_, Some(raw)) => Since::Revision(crate::api::parse_rv(raw)?),
    };
    // `setInitialEventsEndBookmarkIfRequested`: only with `allowWatchBookmarks`.
    let send_initial = send_initial == Some(true) && bookmarks;
    let namespace = ctx.target.namespace.clone();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let watch = Watch {
        info: ctx.info.clone(),
        res: ctx.res.clone(),
        namespace: namespace.clone(),
        filter,
        bookmarks,
        table: if call.wants_table() {
            Some(call.include_object()?)
        } else {
            None
        },
        metadata_only: call.wants_metadata_only(),
        headers_sent: std::sync::atomic::AtomicBool::new(false),
        tx,
        metrics: ctx.state.gate.metrics.clone(),
        latency: ctx.state.latency,
    };
    let interval = ctx.state.bookmark_interval;
    match ctx
        .state
        .store
        .subscribe(&ctx.res, namespace.as_deref(), since)
    {
        Ok(sub) => {
            tokio::spawn(watch.run(sub, send_initial, timeout, interval));
        }
        Err(error) => {
            // The real watch cache answers a too-old resourceVersion on the open stream.
            let line = encode("ERROR", &error.to_status());
            tokio::spawn(async move {
                let _ = watch.tx.send(line).await;
            });
        }
    }
    Ok(stream_response(rx))
}

/// `validateWatchOptions` (`apimachinery/pkg/apis/meta/internalversion/validation`), every
/// cause in one 422 Invalid of `ListOptions.meta.k8s.io`.
fn validate_options(call: &Call) -> Result<(), ApiError> {
    let q = &call.query;
    let forbidden = |message: &str| crate::status::Cause {
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
            causes.push(crate::status::Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"NotOlderThan\"",
                    crate::selector::go_quote(rv_match)
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

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

impl Watch {
    async fn run(
        self,
        sub: crate::store::Subscription,
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
        let mut object = crate::events::served(&self.info, &event.object);
        let api_version = self.info.api_version();
        if object.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
            object["apiVersion"] = Value::String(api_version);
        }
        if let Some(include) = self.table {
            let first = !self
                .headers_sent
                .swap(true, std::sync::atomic::Ordering::Relaxed);
            let event = crate::table::watch_row_event(&self.info, kind, &object, include, first);
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            return self.tx.send(Bytes::from(line)).await.is_ok();
        }
        if self.metadata_only {
            object = crate::table::partial_object_metadata(&object);
        }
        self.tx.send(encode(kind, &object)).await.is_ok()
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
        let sent = self.tx.send(encode("BOOKMARK", &object)).await.is_ok();
        if sent {
            self.metrics.bookmark_sent(&self.info.resource);
        }
        sent
    }
}
