//! The filter chain around the handlers, as tower layers in the order of kube-apiserver's
//! `DefaultBuildHandlerChain` (outermost first; [`around`] puts them around the handlers):
//!
//! | filter | what it does | answers |
//! | --- | --- | --- |
//! | [`request_info`] | parses what the request asks for, once | |
//! | [`metrics`] | counts every answer and times it; keeps open watches counted | |
//! | [`authentication`] | the user of the bearer token | 401 |
//! | [`audit`] | logs every write answered, with its user, `User-Agent` and code | |
//! | [`impersonation`] | `Impersonate-*` headers, each identity authorized | 403, 500 |
//! | [`flowcontrol`] | API Priority and Fairness; the `throttle`/`maxInFlight` faults | 429 |
//! | [`authorization`] | RBAC (`system:masters` only for the `/sandbox` controls) | 403 |
//! | [`faults`] | latency, hang, drop, 5xx; ends watches on demand | fault's |
//!
//! A filter reads what an outer one found from the request's extensions (the
//! [`RequestInfo`], the [`UserInfo`]) and the user of the answer from the response's, so the
//! metrics name who was answered. The sandbox's own controls (`/sandbox/...`) and `/metrics`
//! pass the chain like any request, but neither is throttled by faults, so a hang can always
//! be cleared and a scrape always answers.

pub(crate) mod audit;
pub(crate) mod authentication;
pub(crate) mod authorization;
pub(crate) mod faults;
pub(crate) mod flowcontrol;
pub(crate) mod impersonation;
pub(crate) mod metrics;
pub(crate) mod request_info;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::Response;

use crate::auth::UserInfo;
use crate::auth::attributes::Attributes;
use crate::auth::tokens::TokenStore;
use crate::http::request_info::RequestInfo;
use crate::storage::Store;
use crate::verbs::ApiState;
use faults::Faults;
use flowcontrol::Apf;
use metrics::ServerMetrics;

/// Prefix of the sandbox's own admin endpoints.
pub(crate) const ADMIN_PREFIX: &str = "/sandbox";
/// Path of the Prometheus metrics.
pub(crate) const METRICS_PATH: &str = "/metrics";

/// Identity, fault and metrics state shared by all requests.
#[derive(Debug)]
pub(crate) struct Gate {
    /// What the verbs act on (RBAC and tokens read its store).
    pub(crate) api: Arc<ApiState>,
    /// The admin bearer token.
    pub(crate) admin_token: String,
    /// Issued ServiceAccount tokens.
    pub(crate) tokens: TokenStore,
    /// Injected faults.
    pub(crate) faults: Faults,
    /// The sandbox's own metrics.
    pub(crate) metrics: ServerMetrics,
    /// API Priority and Fairness, configured by the stored flowcontrol objects.
    pub(crate) apf: Apf,
    /// The writes answered, with who sent them.
    pub(crate) audit: audit::AuditLog,
}

impl Gate {
    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.api.store
    }

    /// The sandbox's metrics followed by the APF ones.
    pub(crate) fn metrics_text(&self) -> String {
        let mut text = self.metrics.text();
        text.push_str(&self.apf.metrics_text(self.store()));
        text
    }
}

/// `router` behind the filter chain, outermost first.
pub(crate) fn around(router: axum::Router, gate: &Arc<Gate>) -> axum::Router {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(request_info::layer))
            .layer(from_fn_with_state(gate.clone(), metrics::layer))
            .layer(from_fn_with_state(gate.clone(), authentication::layer))
            .layer(from_fn_with_state(gate.clone(), audit::layer))
            .layer(from_fn_with_state(gate.clone(), impersonation::layer))
            .layer(from_fn_with_state(gate.clone(), flowcontrol::layer))
            .layer(from_fn_with_state(gate.clone(), authorization::layer))
            .layer(from_fn_with_state(gate.clone(), faults::layer)),
    )
}

/// Whether a path is one of the sandbox's controls (`/sandbox/...`).
pub(crate) fn is_control_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/sandbox/")
}

/// The request's information, which [`request_info`] put in; parsed again should a request
/// come in around it.
pub(crate) fn request_info(request: &Request) -> RequestInfo {
    request
        .extensions()
        .get::<RequestInfo>()
        .cloned()
        .unwrap_or_else(|| {
            RequestInfo::parse(
                request.method(),
                request.uri().path(),
                request.uri().query(),
            )
        })
}

/// The request's user, which [`authentication`] and [`impersonation`] put in.
pub(crate) fn user(request: &Request) -> UserInfo {
    request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous)
}

/// The attributes of the request for its user.
pub(crate) fn attributes(request: &Request) -> Attributes {
    Attributes::of(user(request), request_info(request))
}

/// Marks a response as answered to `user`, unless an inner filter did.
fn answered_to(response: &mut Response, user: &UserInfo) {
    if response.extensions().get::<UserInfo>().is_none() {
        response.extensions_mut().insert(user.clone());
    }
}
