//! The encoding of a watch ([`crate::verbs::WatchStream`]): newline-delimited JSON of
//! `{"type", "object"}` events, with objects as Table rows for `kubectl get -w` or as
//! `PartialObjectMetadata` for metadata watches.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, header};
use prometheus::IntCounterVec;
use serde_json::{Value, json};
use tokio_stream::StreamExt as _;

use super::table::{self, IncludeObject};
use crate::registry::ResourceInfo;
use crate::verbs::{WatchEvent, WatchStream};

/// How a watch's objects are encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding {
    /// The objects as served.
    Objects,
    /// A Table of one row per event (headers on the first).
    Table(IncludeObject),
    /// `PartialObjectMetadata`.
    Metadata,
}

/// The streaming response of a watch; `bookmarks` counts the BOOKMARKs sent, by resource.
pub(crate) fn response(
    info: ResourceInfo,
    stream: WatchStream,
    encoding: Encoding,
    bookmarks: IntCounterVec,
) -> Response {
    let mut headers_sent = false;
    let lines = tokio_stream::wrappers::ReceiverStream::new(stream).map(move |event| {
        let WatchEvent { kind, object } = event;
        let line = match (kind, encoding) {
            ("BOOKMARK", _) => {
                bookmarks.with_label_values(&[&info.resource]).inc();
                encode(kind, &object)
            }
            ("ERROR", _) | (_, Encoding::Objects) => encode(kind, &object),
            (_, Encoding::Metadata) => encode(kind, &table::partial_object_metadata(&object)),
            (_, Encoding::Table(include)) => {
                let first = !std::mem::replace(&mut headers_sent, true);
                let event = table::watch_row_event(&info, kind, &object, include, first);
                let mut line = serde_json::to_vec(&event).unwrap_or_default();
                line.push(b'\n');
                Bytes::from(line)
            }
        };
        Ok::<_, std::convert::Infallible>(line)
    });
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
