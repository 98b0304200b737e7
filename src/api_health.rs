//! A deadline for every answer of the API server, and whether the API server is reachable.
//!
//! # Why a deadline of our own
//!
//! kube 5's client, as built from a `kube::Config`, has a `connect_timeout` (default 30 s) and a
//! `write_timeout` (default 295 s), but its `read_timeout` defaults to `None`: once a connection
//! is up, a request whose answer never comes waits forever. That is exactly what a NetworkPolicy
//! that silently drops the API server's traffic, or a hung API server, does to requests sent
//! over an already open connection: no error, no log line, no backoff, a reconcile or a watch
//! (re)start stuck for good while every probe stays green.
//!
//! [`ApiHealthLayer`] gives each request a deadline for its response *head* (status and
//! headers), [`Config::api_timeout`](crate::config::Config::api_timeout), 30 s by default, and
//! turns a missed deadline into an [`ApiTimeout`] error. From there the ordinary paths take over:
//! watchers log it and retry with `default_backoff()`, reconciles fail into `error_policy` (which
//! backs off), and the metrics layer counts it as `code="timeout"`.
//!
//! Watches are not cut: the API server answers a watch's head at once and then streams its body
//! for minutes. The deadline ends with the head, and a stream that stalls afterwards is kube's
//! job: kube-runtime's watcher gives up on a stream that stays silent for the watch's server-side
//! timeout (290 s) plus 5 s and re-watches. kube's own `read_timeout` is left unset on purpose:
//! it would also cut quiet watches, and a pooled connection's idle time counts against it.
//!
//! # Reachability for readiness
//!
//! The same layer tells [`Readiness`] what became of each request: a missed deadline or a failure
//! to reach the API server at all marks it unreachable (`/readyz` answers 503 with
//! `API server unreachable: <the error>`), and the next response, whatever its HTTP status,
//! marks it reachable again: a 403 or a 500 is an answer, so the network is fine.
// region: fault-catalogue
//!
//! # The fault toggle
//!
//! [`Unreachable`] is the wrong way of `api-unreachable`: it swallows every request, as if a
//! NetworkPolicy dropped the packets, and sits directly under [`ApiHealthLayer`] in the client
//! stack built in [`App::start`](crate::App::start).
// endregion: fault-catalogue

use std::{
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use http::{Request, Response};
use tower::BoxError;

use crate::readiness::Readiness;

/// The default of [`Config::api_timeout`](crate::config::Config::api_timeout): as long as kube's
/// own connect timeout, long enough for the head of any LIST, short enough that an outage shows
/// within a couple of readiness probe periods.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);

/// A request whose response head did not arrive within the deadline.
///
/// Its message is the "connection timeouts in logs" line of the troubleshooting guide: it names
/// the deadline and the request, so a reader knows at once it is the network or the API server,
/// not the controller.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {} ({method} {path})", human(.after))]
pub struct ApiTimeout {
    /// The deadline that passed.
    pub after: Duration,
    /// The request's method.
    pub method: http::Method,
    /// The request's path, without the query.
    pub path: String,
}

fn human(duration: &Duration) -> humantime::FormattedDuration {
    humantime::format_duration(*duration)
}

impl ApiTimeout {
    /// Whether `error`, or any error it wraps, is an [`ApiTimeout`].
    pub fn is_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut current = Some(error);
        while let Some(error) = current {
            if error.is::<ApiTimeout>() {
                return true;
            }
            current = error.source();
        }
        false
    }
}

/// A [`tower::Layer`] giving every request a deadline for its response head and reporting the
/// API server's reachability to [`Readiness`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ApiHealthLayer {
    timeout: Duration,
    readiness: Readiness,
}

impl ApiHealthLayer {
    /// Requests fail with [`ApiTimeout`] after `timeout` without a response head.
    pub fn new(timeout: Duration, readiness: Readiness) -> Self {
        Self { timeout, readiness }
    }
}

impl<S> tower::Layer<S> for ApiHealthLayer {
    type Service = ApiHealthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiHealthService {
            inner,
            timeout: self.timeout,
            readiness: self.readiness.clone(),
        }
    }
}

/// The [`tower::Service`] created by [`ApiHealthLayer`].
#[derive(Clone, Debug)]
pub struct ApiHealthService<S> {
    inner: S,
    timeout: Duration,
    readiness: Readiness,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for ApiHealthService<S>
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
        let timeout = ApiTimeout {
            after: self.timeout,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        };
        let readiness = self.readiness.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(timeout.after, response).await {
                Ok(Ok(response)) => {
                    readiness.set_api_reachable();
                    Ok(response)
                }
                Ok(Err(error)) => {
                    let error: BoxError = error.into();
                    // kube's own errors come from preparing the request (credentials, the
                    // request itself); anything else from below is the transport: the API
                    // server was not reached.
                    if !error.is::<kube::Error>() {
                        readiness.set_api_unreachable(error.to_string());
                    }
                    Err(error)
                }
                Err(_elapsed) => {
                    readiness.set_api_unreachable(timeout.to_string());
                    Err(Box::new(timeout) as BoxError)
                }
            }
        })
    }
}

// region: fault-catalogue
/// The wrong way of `api-unreachable`: a service that takes every request and never answers,
/// as if a NetworkPolicy dropped the packets to the API server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unreachable;

impl<S> tower::Layer<S> for Unreachable {
    type Service = UnreachableService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UnreachableService { _inner: inner }
    }
}

/// The [`tower::Service`] of [`Unreachable`]: holds the real stack but never calls it.
#[derive(Clone, Debug)]
pub struct UnreachableService<S> {
    _inner: S,
}

impl<S, Req> tower::Service<Req> for UnreachableService<S>
where
    S: tower::Service<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Pending<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Req) -> Self::Future {
        futures::future::pending()
    }
}
// endregion: fault-catalogue

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    fn request() -> Request<()> {
        Request::get("/api/v1/namespaces/default/configmaps?watch=true")
            .body(())
            .expect("valid test request")
    }

    fn ready(readiness: &Readiness) -> Readiness {
        readiness.set_preflight_passed();
        readiness.set_stores_ready();
        readiness.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_without_an_answer_fails_after_the_deadline_naming_it() {
        let readiness = ready(&Readiness::new());
        let service = ApiHealthLayer::new(Duration::from_secs(3), readiness.clone()).layer(
            // An API server that never answers.
            tower::service_fn(|_: Request<()>| {
                futures::future::pending::<Result<Response<()>, Infallible>>()
            }),
        );

        let error = service.oneshot(request()).await.expect_err("timed out");

        assert!(ApiTimeout::is_in(&*error), "{error}");
        assert_eq!(
            error.to_string(),
            "the API server did not answer within 3s (GET /api/v1/namespaces/default/configmaps)"
        );
        assert_eq!(
            readiness.reasons_not_ready(),
            vec![format!("API server unreachable: {error}")]
        );
    }

    #[tokio::test]
    async fn any_answer_marks_the_api_server_reachable_again() {
        let readiness = ready(&Readiness::new());
        readiness.set_api_unreachable("earlier timeout");
        let service = ApiHealthLayer::new(Duration::from_secs(3), readiness.clone()).layer(
            tower::service_fn(|_: Request<()>| async {
                let mut response = Response::new(());
                *response.status_mut() = http::StatusCode::FORBIDDEN;
                Ok::<_, Infallible>(response)
            }),
        );

        let response = service.oneshot(request()).await.expect("answered");

        assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
        assert!(readiness.is_ready());
    }

    #[tokio::test]
    async fn a_connection_error_marks_the_api_server_unreachable() {
        let readiness = ready(&Readiness::new());
        let service = ApiHealthLayer::new(Duration::from_secs(3), readiness.clone()).layer(
            tower::service_fn(|_: Request<()>| async {
                Err::<Response<()>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            }),
        );

        let error = service.oneshot(request()).await.expect_err("failed");

        assert!(!ApiTimeout::is_in(&*error));
        assert_eq!(
            readiness.reasons_not_ready(),
            vec![format!("API server unreachable: {error}")]
        );
    }
}
