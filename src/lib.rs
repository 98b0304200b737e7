//! # doc-controller
//!
//! A reference Kubernetes controller for the `Document` custom resource (`documents.kube.rs`), built
//! with kube-rs. Every pattern of the kube.rs troubleshooting guide is done right here.
// region: fault-catalogue
//! Each classic mistake can be switched on by a failure toggle ([`fault`]) to watch its symptom
//! appear.
// endregion: fault-catalogue
//!
//! ## Where each pattern lives
//! | module | job |
//! |---|---|
//! | [`document`] | **start here**: everything specific to the `Document` kind: the CRD types (`cargo run --bin crdgen`), what only the controller can validate, the ConfigMap a reconcile publishes, the status it computes |
//! | [`configmap`] | the labels, digest and index of the ConfigMaps the controller writes, and their compact cache form |
//! | [`reconcile`] | the reconciler: publish/hide, status, `error_policy` |
//! | [`finalizer`] | the cleanup finalizer, written with `update` (no `patch` on Documents) |
//! | [`index`] | the shared per-namespace index, written in batches with merge patches |
//! | [`events`] | Kubernetes Events on status transitions |
//! | [`controller`] | watches, predicates, shared reflector, concurrency |
//! | [`preflight`] | the CRD check before any watch |
//! | [`leader`] | leader election on a Lease: one replica writes, standbys keep their caches warm |
//! | [`app`] | one process: client, admin server, preflight, controller, shutdown |
//! | [`api_health`] | a deadline for every API answer; API server reachability for readiness |
//! | [`config`] | flags, environment and config file |
//! | [`metrics`], [`client_metrics`], [`signals`] | Prometheus metrics, including every API request and what the diagnosis reads |
//! | [`diagnosis`] | the controller's self-diagnosis: findings from its own signals, with cause and fix |
//! | [`doctor`] | `doc-controller doctor`: a running controller's diagnosis, or a cluster's blockers without one |
//! | [`rbac`] | the permissions the controller needs, declared once (`yaml/rbac.yaml` grants exactly these) |
//! | [`admin`], [`readiness`] | `/metrics`, `/healthz`, `/readyz`, `/diagnostics`, and the page at `/` |
//! | [`telemetry`] | logs (text/JSON) and OpenTelemetry traces |
//! | [`error`] | typed errors, their metric labels and retry classes |
// region: fault-catalogue
//! | [`fault`] | the failure toggles, declared once; each wrong way sits next to the right way it breaks (`// FAULT(<toggle>)`) |
//! | [`credentials`] | the wrong way of `static-credentials`, and why kube must keep re-reading the token file |
// endregion: fault-catalogue
//!
//! ## Cargo features
//! | feature | what | default |
//! |---|---|---|
//! | `jemalloc` | tikv-jemallocator as global allocator, heap profiling, allocator metrics ([`allocator`]) | off |
//! | `console` | tokio-console support through console-subscriber | off |

pub mod admin;
pub mod allocator;
pub mod api_health;
pub mod app;
pub mod client_metrics;
pub mod config;
pub mod configmap;
pub mod controller;
pub mod diagnosis;
pub mod doctor;
pub mod document;
pub mod error;
pub mod events;
pub mod finalizer;
#[cfg(test)]
pub mod fixtures;
pub mod index;
pub mod leader;
pub mod metrics;
pub mod preflight;
pub mod rbac;
pub mod readiness;
pub mod reconcile;
pub mod signals;
pub mod telemetry;
// region: fault-catalogue
pub mod credentials;
pub mod fault;
// endregion: fault-catalogue

pub use app::{App, AppError};
pub use config::Config;
pub use document::{Document, DocumentSpec, DocumentStatus};
pub use error::Error;

/// The name of the controller as it appears in Events (`reportingController`), labels and logs.
pub const CONTROLLER_NAME: &str = "doc-controller";

/// The field manager used for every write, so `managedFields` shows which fields this controller owns
/// and server-side apply can tell its changes from anybody else's.
pub const FIELD_MANAGER: &str = "doc-controller";
