//! Everything specific to the `Document` kind: start here to make this controller your own.
//!
//! The rest of the controller (watches, predicates, finalizer, index, status writes, Events,
//! metrics, diagnosis) works on what these modules declare and compute, through `crate::document`:
//!
//! | module | what it holds | change it to |
//! |---|---|---|
//! | [`resource`] | the custom resource: spec, status, CRD names, schema bounds, the finalizer | declare your kind's fields |
//! | [`validation`] | what only the controller can judge about a spec (the schema checks the rest) | reject what cannot be published |
//! | [`published`] | what a reconcile publishes: the desired ConfigMap, built without I/O | publish what your kind stands for |
//! | [`status`] | the status a reconcile computes, deterministic and without I/O | report what your kind's users need |
//!
//! `yaml/crd.yaml` is generated from [`resource`] (`cargo run --bin crdgen`, checked by a test).

pub mod published;
pub mod resource;
pub mod status;
pub mod validation;

pub use resource::{
    Document, DocumentSpec, DocumentStatus, FINALIZER, InstallError, MAX_CONTENT_CHARS,
    MAX_TITLE_CHARS, crd_yaml, install,
};
