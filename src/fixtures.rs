//! Test fixtures: Documents in every state, a reconcile [`Context`] on a mocked API server, and an
//! [`ApiServer`] that asserts the exact requests a reconcile makes.
//!
//! ```text
//! let (ctx, mut api, mut cache) = fixtures::context(Config::default());
//! let doc = Document::test().finalized();
//! let run = tokio::spawn(reconcile(Arc::new(doc), ctx));
//! let req = api.expect(Method::PATCH, "/apis/kube.rs/v1/namespaces/default/documents/samuel/status").await;
//! req.respond(json!({...}));
//! ```

use crate::CONTROLLER_NAME;
use crate::config::Config;
use crate::configmap;
use crate::configmap::cached::CachedConfigMap;
use crate::document::status::{self, Outcome};
use crate::document::{Document, DocumentSpec, FINALIZER};
use crate::error::Error;
use crate::events::EventRecorder;
use crate::index::IndexWriter;
use crate::metrics::Metrics;
use crate::reconcile::Context;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::client::Body;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

// === impl Document ===

impl Document {
    /// A fresh Document `samuel` in `default`, generation 1, as the API server would send it.
    pub fn test() -> Self {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "Samuel".into(),
                content: "hello world".into(),
                hide: false,
            },
        );
        d.metadata.namespace = Some("default".into());
        d.metadata.uid = Some("uid-samuel".into());
        d.metadata.generation = Some(1);
        d.metadata.resource_version = Some("100".into());
        d
    }

    /// With the finalizer already added.
    pub fn finalized(mut self) -> Self {
        self.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
        self
    }

    /// With `spec.hide` set.
    pub fn hidden(mut self) -> Self {
        self.spec.hide = true;
        self
    }

    /// Marked for deletion (what a DELETE does to an object with finalizers).
    pub fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(Time(
            "2024-01-01T00:00:00Z".parse().expect("valid timestamp"),
        ));
        self
    }

    /// With the status the controller would have written for `outcome`.
    pub fn with_status(mut self, outcome: &Outcome) -> Self {
        let now = Time("2024-01-01T00:00:00Z".parse().expect("valid timestamp"));
        self.status = Some(status::desired_status(&self, outcome, &now));
        self
    }
}

/// The outcome of a published `samuel`.
pub fn published() -> Outcome {
    Outcome::Published {
        config_map: "document-samuel".into(),
    }
}

/// The ConfigMap cache as a test controls it.
pub struct Cache(Writer<CachedConfigMap>);

impl Cache {
    /// Puts `cm` into the Store, as if the watch had delivered it.
    pub fn insert(&mut self, cm: ConfigMap) {
        self.0
            .apply_watcher_event(&watcher::Event::Apply(cm.into()));
    }

    /// An index in `default` listing `entries`.
    pub fn insert_index(&mut self, entries: &[(&str, &str)]) {
        let mut index = configmap::empty_index("default");
        index.data = Some(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.insert(index);
    }
}

/// A reconcile context whose client talks to a mocked API server.
pub fn context(config: Config) -> (Arc<Context>, ApiServer, Cache) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let metrics = Arc::new(Metrics::new(Error::ALL_LABELS).expect("metrics register"));
    let (store, writer) = reflector::store();
    let ctx = Context {
        client: client.clone(),
        recorder: EventRecorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.into(),
                instance: None,
            },
        ),
        config_maps: store,
        config_maps_synced: tokio::sync::watch::channel(true).1,
        index: IndexWriter::spawn(client, Duration::ZERO, metrics.clone()),
        metrics,
        failures: Mutex::new(HashMap::new()),
        status_writes: Default::default(),
        finalizer_writes: Default::default(),
        leadership: crate::leader::Leadership::leading_for_tests(),
        // region: fault-catalogue
        object_watches: None,
        faults: crate::fault::LiveFaults::new(config.faults.clone()),
        // endregion: fault-catalogue
        config,
    };
    (Arc::new(ctx), ApiServer(handle), Cache(writer))
}

/// The mocked API server: each expected request is awaited, checked and answered in turn.
pub struct ApiServer(Handle);

/// One request received by the [`ApiServer`], waiting for its response.
pub struct Received {
    /// The HTTP method.
    pub method: Method,
    /// Path and query.
    pub uri: String,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
    respond: tower_test::mock::SendResponse<Response<Body>>,
}

impl ApiServer {
    /// Waits for the next request and checks its method and path (the query is not compared).
    pub async fn expect(&mut self, method: Method, path: &str) -> Received {
        let (request, respond) =
            tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {method} {path}"))
                .expect("client dropped before sending the request");
        let uri = request.uri().to_string();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let received_method = request.method().clone();
        let bytes = request
            .into_body()
            .collect()
            .await
            .expect("request body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is JSON")
        };
        assert_eq!(
            (
                received_method.as_str(),
                uri.split('?').next().unwrap_or_default()
            ),
            (method.as_str(), path),
            "unexpected request; body: {body}"
        );
        Received {
            method: received_method,
            uri,
            content_type,
            body,
            respond,
        }
    }

    /// Asserts that no request arrives within a short while.
    pub async fn expect_silence(&mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(100), self.0.next_request()).await
        {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

impl Received {
    /// Answers 200 with `body`.
    pub fn respond(self, body: Value) {
        self.respond_with(200, body);
    }

    /// Answers 200 with the request's own body, as the API server does for most writes.
    pub fn echo(self) {
        let body = self.body.clone();
        self.respond(body);
    }

    /// Answers with a status code and body.
    pub fn respond_with(self, code: u16, body: Value) {
        let response = Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::to_vec(&body).expect("response serializes"),
            ))
            .expect("valid response");
        self.respond.send_response(response);
    }

    /// Gives no answer: the connection is lost (as in an API server restart), so the client
    /// cannot tell whether the request was done.
    pub fn cut(self) {
        self.respond.send_error(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "mocked connection reset",
        ));
    }

    /// Answers as `ValidateConfigMap` does when a write would make the ConfigMap's values exceed
    /// 1 MiB: 422 Invalid, `FieldValueTooLong` on the whole object (`[]`).
    pub fn fail_too_long(self) {
        let name = self
            .uri
            .split(['/', '?'])
            .nth(6)
            .unwrap_or_default()
            .to_string();
        let status = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("ConfigMap {name:?} is invalid: []: Too long: may not be more than 1048576 bytes"),
            "reason": "Invalid", "code": 422,
            "details": {"name": name, "kind": "ConfigMap", "causes": [{
                "reason": "FieldValueTooLong",
                "message": "Too long: may not be more than 1048576 bytes",
                "field": "[]",
            }]},
        });
        self.respond_with(422, status);
    }

    /// Answers with a Kubernetes `Status` error.
    pub fn fail(self, code: u16, reason: &str) {
        let status = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": format!("mocked {reason}"), "reason": reason, "code": code,
        });
        self.respond_with(code, status);
    }
}
