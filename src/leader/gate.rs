//! The write gate: a layer of the controller's client that lets a write leave the process only
//! while [`Leadership::is_leading`], so that no code path (a reconcile, the index writer, an
//! Event, the diagnosis) can write from a standby or after the lease ran out.
//!
//! Reads (`GET`: get, list, watch) always pass: a standby keeps its caches warm. Every other
//! method is a write. A refused write fails at once with [`NotLeading`], without reaching the
//! API server or the request metrics (it was never sent). A write let through is tracked until
//! its answer arrives, so that stepping down can wait for it before the Lease is released.
//!
//! The gate sits under kube's retry layer (each attempt of a retried write is checked again) and
//! above the metrics, the API deadline and the connection: between the check and the wire there
//! is no queue but tower's buffer, whose wait is far below the margin between the renew deadline
//! and the lease duration (see [`super`]).

use super::leadership::Leadership;
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use std::task::{Context, Poll};
use tower::BoxError;

/// A [`tower::Layer`] putting the write gate of `leadership` in front of a service.
#[derive(Clone, Debug)]
pub struct WriteGateLayer {
    leadership: Leadership,
}

impl WriteGateLayer {
    /// Writes pass while `leadership` leads.
    pub fn new(leadership: Leadership) -> Self {
        Self { leadership }
    }
}

impl<S> tower::Layer<S> for WriteGateLayer {
    type Service = WriteGate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WriteGate {
            inner,
            leadership: self.leadership.clone(),
        }
    }
}

/// The [`tower::Service`] created by [`WriteGateLayer`].
#[derive(Clone, Debug)]
pub struct WriteGate<S> {
    inner: S,
    leadership: Leadership,
}

/// Whether a request only reads.
fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for WriteGate<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let guard = if is_read(request.method()) {
            None
        } else {
            match self.leadership.admit_write() {
                Ok(guard) => Some(guard),
                Err(refused) => {
                    tracing::debug!(
                        method = %request.method(),
                        path = request.uri().path(),
                        "{refused}"
                    );
                    return Box::pin(async move { Err(refused.into()) });
                }
            }
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let answered = response.await.map_err(Into::into);
            // Held until the answer: the write has landed (or failed) by now.
            drop(guard);
            answered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::LeaderMetrics;
    use super::*;
    use crate::readiness::Readiness;
    use std::time::{Duration, Instant};
    use tower::{Layer, Service, ServiceExt};

    fn leadership() -> Leadership {
        let metrics = LeaderMetrics::new(&prometheus::Registry::new()).expect("metrics");
        Leadership::elected(
            "a".into(),
            ("ns".into(), "lease".into()),
            metrics,
            Readiness::new(),
        )
    }

    fn request(method: Method) -> Request<String> {
        Request::builder()
            .method(method)
            .uri("/api/v1/namespaces/ns/configmaps/x")
            .body(String::new())
            .expect("a request")
    }

    #[tokio::test]
    async fn a_standby_reads_but_its_writes_never_reach_the_server() {
        let leadership = leadership();
        let (service, mut server) = tower_test::mock::pair::<Request<String>, Response<String>>();
        let mut gate = WriteGateLayer::new(leadership.clone()).layer(service);

        let read = tokio::spawn(
            gate.ready()
                .await
                .expect("ready")
                .call(request(Method::GET)),
        );
        let (seen, respond) = server.next_request().await.expect("the read arrives");
        assert_eq!(seen.method(), Method::GET);
        respond.send_response(Response::new("ok".into()));
        read.await.expect("no panic").expect("answered");

        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let refused = gate
                .ready()
                .await
                .expect("ready")
                .call(request(method.clone()))
                .await
                .expect_err("refused");
            assert!(
                super::super::NotLeading::is_in(refused.as_ref()),
                "{method}"
            );
        }

        leadership.renewed(Instant::now() + Duration::from_secs(10), None);
        let write = tokio::spawn(
            gate.ready()
                .await
                .expect("ready")
                .call(request(Method::PATCH)),
        );
        let (seen, respond) = server.next_request().await.expect("the write arrives");
        assert_eq!(seen.method(), Method::PATCH);
        respond.send_response(Response::new("ok".into()));
        write.await.expect("no panic").expect("answered");
    }
}
