//! # doc-controller
//!
//! A reference Kubernetes controller for the `Document` custom resource (`documents.kube.rs`), built
//! with kube-rs. Every pattern of the kube.rs troubleshooting guide is done right here, and each
//! classic mistake can be switched on by a failure toggle ([`fault`]) to watch its symptom appear.
//!
//! ## Where each pattern lives
//! | module | job |
//! |---|---|
//! | [`crd`] | the `Document` type, its schema and the CRD (`cargo run --bin crdgen`) |
//! | [`validation`] | what only the controller can judge (everything else is schema) |
//! | [`status`] | the desired status, computed without I/O, deterministic |
//! | [`configmap`] | the ConfigMaps the controller writes, built without I/O |
//! | [`reconcile`] | the reconciler: publish/hide, status, `error_policy` |
//! | [`finalizer`] | the cleanup finalizer, written with `update` (no `patch` on Documents) |
//! | [`index`] | the shared per-namespace index, written in batches with merge patches |
//! | [`events`] | Kubernetes Events on status transitions |
//! | [`controller`] | watches, predicates, shared reflector, concurrency |
//! | [`preflight`] | the CRD check before any watch |
//! | [`leader`] | leader election on a Lease: one replica writes, standbys keep their caches warm |
//! | [`app`] | one process: client, admin server, preflight, controller, shutdown |
//! | [`api_health`] | a deadline for every API answer; API server reachability for readiness |
//! | [`config`] | flags, environment and config file, with failure toggles |
//! | [`credentials`] | how the client authenticates: kube keeps re-reading the token file |
//! | [`metrics`], [`client_metrics`], [`signals`] | Prometheus metrics, including every API request and what the diagnosis reads |
//! | [`diagnosis`] | the controller's self-diagnosis: findings from its own signals, with cause and fix |
//! | [`doctor`] | `doc-controller doctor`: a running controller's diagnosis, or a cluster's blockers without one |
//! | [`rbac`] | the permissions the controller needs, declared once (`yaml/rbac.yaml` grants exactly these) |
//! | [`admin`], [`readiness`] | `/metrics`, `/healthz`, `/readyz`, `/diagnostics`, and the page at `/` |
//! | [`telemetry`] | logs (text/JSON) and OpenTelemetry traces |
//! | [`error`] | typed errors, their metric labels and retry classes |
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
pub mod crd;
pub mod credentials;
pub mod diagnosis;
pub mod doctor;
pub mod error;
pub mod events;
pub mod fault;
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
pub mod status;
pub mod telemetry;
pub mod validation;

pub use app::{App, AppError};
pub use config::Config;
pub use crd::{Document, DocumentSpec, DocumentStatus};
pub use error::Error;
