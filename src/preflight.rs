//! The CRD preflight: one cheap LIST before any watch starts.
//!
//! A watcher retries every failure forever (its errors are soft on purpose), so a missing CRD would
//! show up as an endless stream of 404 retries. Checking once up front turns the most common setup
//! mistake into one clear error with the command that fixes it, and a non-zero exit.

use crate::document::Document;
use kube::api::{Api, ListParams};

/// The command that installs the CRD, printed when the preflight fails.
pub const INSTALL_HINT: &str = "cargo run --bin crdgen | kubectl apply -f -";

/// The Document API could not be listed.
#[derive(Debug, thiserror::Error)]
#[error(
    "Document CRD is not queryable ({source}); is it installed? Install it with: {INSTALL_HINT}"
)]
pub struct PreflightError {
    /// The LIST's error: 404 when the CRD is missing, 403 when RBAC forbids listing.
    #[source]
    pub source: kube::Error,
}

/// Lists at most one Document; any failure means watching would fail too.
pub async fn check_crd(api: &Api<Document>) -> Result<(), PreflightError> {
    api.list(&ListParams::default().limit(1))
        .await
        .map(|_| ())
        .map_err(|source| PreflightError { source })
}

/// [`check_crd`], retried with the watches' backoff for as long as the API server does not
/// answer (a timeout, a connection error), and failing on the first answer that is an error.
///
/// Only an answer (404: no CRD, 403: no permission) says something about the CRD; an API server
/// that cannot be reached says nothing, and exiting on it would turn a network outage into a
/// crash loop with a misleading "is it installed?". Meanwhile `/readyz` says why
/// ([`crate::api_health`]) and `/healthz` stays 200, so the kubelet does not restart the replica.
pub async fn wait_for_crd(api: &Api<Document>) -> Result<(), PreflightError> {
    let mut backoff = kube::runtime::watcher::DefaultBackoff::default();
    loop {
        match check_crd(api).await {
            Err(PreflightError {
                source: ref error @ (kube::Error::Service(_) | kube::Error::HyperError(_)),
            }) => {
                let retry_in = backoff.next().unwrap_or(MAX_RETRY_DELAY);
                // Whole milliseconds: the jitter's nanoseconds are noise in a log line.
                let shown = std::time::Duration::from_millis(
                    u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                );
                tracing::warn!(
                    %error,
                    retry_in = %humantime::format_duration(shown),
                    "CRD preflight got no answer from the API server, retrying with backoff"
                );
                tokio::time::sleep(retry_in).await;
            }
            other => return other,
        }
    }
}

/// The longest wait between preflight attempts, should the backoff ever run out.
const MAX_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_health::ApiTimeout;
    use http::{Request, Response, StatusCode};
    use kube::client::Body;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A client whose API server answers the `n`-th request (from 0) with `answer(n)`.
    fn client(
        calls: Arc<AtomicUsize>,
        answer: fn(usize) -> Result<(StatusCode, serde_json::Value), tower::BoxError>,
    ) -> kube::Client {
        let service = tower::service_fn(move |_: Request<Body>| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let (status, body) = answer(n)?;
                let mut response = Response::new(Body::from(serde_json::to_vec(&body)?));
                *response.status_mut() = status;
                Ok::<_, tower::BoxError>(response)
            }
        });
        kube::Client::new(service, "default")
    }

    fn empty_list() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "kube.rs/v1", "kind": "DocumentList",
            "metadata": { "resourceVersion": "1" }, "items": []
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_preflight_is_retried_until_the_api_server_answers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let api = Api::<Document>::all(client(calls.clone(), |n| {
            if n < 2 {
                Err(Box::new(ApiTimeout {
                    after: std::time::Duration::from_secs(30),
                    method: http::Method::GET,
                    path: "/apis/kube.rs/v1/documents".into(),
                }))
            } else {
                Ok((StatusCode::OK, empty_list()))
            }
        }));

        wait_for_crd(&api).await.expect("passes once answered");

        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_is_an_error_fails_the_preflight_at_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let api = Api::<Document>::all(client(calls.clone(), |_| {
            Ok((
                StatusCode::NOT_FOUND,
                serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "the server could not find the requested resource",
                    "reason": "NotFound", "code": 404
                }),
            ))
        }));

        let error = wait_for_crd(&api).await.expect_err("404 is an answer");

        assert!(
            matches!(error.source, kube::Error::Api(ref s) if s.code == 404),
            "{error}"
        );
        assert!(error.to_string().contains(INSTALL_HINT));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
