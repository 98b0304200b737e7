//! The CRD preflight: one cheap LIST before any watch starts.
//!
//! A watcher retries every failure forever (its errors are soft on purpose), so a missing CRD would
//! show up as an endless stream of 404 retries. Checking once up front turns the most common setup
//! mistake into one clear error with the command that fixes it, and a non-zero exit.

use crate::crd::Document;
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
