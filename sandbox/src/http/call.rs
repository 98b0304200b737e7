//! What a client sent, in the forms the verbs take: the request's headers read once
//! (content type, `Accept`, the field manager) and its body decoded by content type (JSON,
//! YAML, protobuf) into an object of the served kind.

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, header};
use serde_json::Value;

use super::protobuf;
use super::table::{self, IncludeObject};
use crate::meta::error::ApiError;
use crate::registry::ResourceInfo;
use crate::registry::decode::{check_type, summarize};
use crate::verbs::Query;

/// Largest request body accepted, like the apiserver's 3 MiB object limit plus slack.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What the client sent, in the form handlers need.
#[derive(Debug)]
pub(crate) struct Call {
    /// HTTP method.
    pub(crate) method: Method,
    /// Parsed query.
    pub(crate) query: Query,
    /// Request headers.
    pub(crate) headers: HeaderMap,
    /// Raw body.
    pub(crate) body: Bytes,
}

/// Reads a request body, [`MAX_BODY`] at most.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::BadRequest(format!("reading body: {e}")))
}

impl Call {
    /// The `Content-Type` without parameters.
    pub(crate) fn content_type(&self) -> String {
        content_type(&self.headers)
    }

    /// The `Accept` header.
    pub(crate) fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether the client asked for `meta.k8s.io` Table output.
    pub(crate) fn wants_table(&self) -> bool {
        table::accepts_table(self.accept())
    }

    /// Whether the client asked for `PartialObjectMetadata` (kube-rs metadata watchers).
    pub(crate) fn wants_metadata_only(&self) -> bool {
        let accept = self.accept();
        accept.contains("as=PartialObjectMetadata") && !self.wants_table()
    }

    /// The `includeObject` option of Table output; 400 for unknown values.
    pub(crate) fn include_object(&self) -> Result<IncludeObject, ApiError> {
        IncludeObject::from_query(self.query.get("includeObject")).map_err(ApiError::BadRequest)
    }

    /// The field manager of a write: `fieldManager`, else derived from the User-Agent like
    /// the apiserver's `prefixFromUserAgent` (the part before the first `/`).
    pub(crate) fn field_manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager") {
            return m.to_owned();
        }
        let ua = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        ua.split('/')
            .next()
            .unwrap_or(ua)
            .chars()
            .take(128)
            .collect()
    }

    /// The body as an object of `info`'s kind (POST, PUT): decoded by content type, then
    /// checked and completed like the serializer does ([`check_type`]).
    pub(crate) fn object(&self, info: &ResourceInfo) -> Result<Value, ApiError> {
        let content_type = self.content_type();
        // A body that does not parse fails in the serializer's `Interpret`, and
        // `transformDecodeError` words it (the parser's own text after `json parse error: ` is
        // serde's here, not Go's).
        let unparsable = |e: &dyn std::fmt::Display| {
            ApiError::BadRequest(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({})",
                info.kind,
                summarize(&self.body)
            ))
        };
        let mut obj: Value = if self.body.is_empty() {
            // Go's `encoding/json` on no input.
            return Err(unparsable(&"unexpected end of JSON input"));
        } else if content_type == protobuf::CONTENT_TYPE {
            protobuf::decode(&self.body)?
        } else if content_type.contains("yaml") {
            serde_saphyr::from_slice(&self.body).map_err(|e| unparsable(e.without_snippet()))?
        } else if content_type.is_empty() {
            serde_json::from_slice(&self.body)
                .or_else(|_| serde_saphyr::from_slice(&self.body))
                .map_err(|e: serde_saphyr::Error| unparsable(e.without_snippet()))?
        } else {
            serde_json::from_slice(&self.body).map_err(|e| unparsable(&e))?
        };
        check_type(info, &mut obj, &self.body)?;
        Ok(obj)
    }

    /// The `DeleteOptions` of a DELETE body (`{}` without one, or with one that does not
    /// parse).
    pub(crate) fn delete_options(&self) -> Value {
        if self.body.is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
        }
    }
}

/// The `Content-Type` of `headers` without parameters, lower-cased.
pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}
