#![doc = include_str!("../README.md")]
//!
//! # The crate
//!
//! [`Sandbox`] is a running server, [`SandboxBuilder`] its options; [`Sandbox::client`],
//! [`Sandbox::kube_config`] and [`Sandbox::kubeconfig_path`] connect to it, as the admin or
//! as a ServiceAccount ([`Sandbox::service_account_token`]); [`Faults`] sets faults at run
//! time; [`Sandbox::audit`] says who wrote what (user and `User-Agent`);
//! [`Sandbox::restart`] restarts the API server (connections and watches cut, watch caches
//! rebuilt, etcd kept); [`Error`] is why it did not start. [`testkit`] has what the tests around it need.
//!
//! # Layers
//!
//! Each folder of `src/` is a layer; a layer uses only the layers above it in this table
//! (and its own modules, without a cycle between them), as kube-apiserver is layered
//! (`k8s.io/apiserver`: storage, registry, admission, handlers, filters). The unit test in
//! `src/layers.rs` checks every `crate::` path of `src/` against this table.
//!
//! | layer | folder | what it is |
//! | --- | --- | --- |
//! | 0 | `meta` | API errors as a typed value (no HTTP), `Status`, `ObjectMeta` rules, Go-style formatting, selectors, name and label validation |
//! | 1 | `storage` | the store: objects, one revision counter, etcd's history, the watch windows and the change feed |
//! | 2 | `registry` | the kinds served, each with its strategy (CRDs and custom resources, events, namespaces, configmaps, secrets, flowcontrol objects, leases, ...), and the generic rules of every write |
//! | 3 | `admission` | structural schema, pruning and defaults, `fieldValidation`, patch types, server-side apply and managed fields, `NamespaceLifecycle` |
//! | 4 | `verbs` | get, list, watch, create, update, patch, delete, deletecollection, without HTTP |
//! | 5 | `controllers` | the garbage collector, the namespace controller, the CRD finalizer, APF's `Dangling` condition: clients of the verbs |
//! | 6 | `http` | `RequestInfo` parsed once, routing, body decoding, JSON/Table/protobuf encoding, errors as `Status` responses, discovery and OpenAPI |
//! | 7 | `auth` | users, tokens and the TokenRequest API, RBAC, the reviews, the 403 wording |
//! | 8 | `filters` | the filter chain as tower layers: request info, metrics, authentication, impersonation, API Priority and Fairness, authorization, faults, the audit log |
//! | 9 | `server` | the `Sandbox` and its builder, the listener and its restarts, TLS, the kubeconfig, the sandbox's controls |
//! | 10 | `testkit` | what tests around a sandbox or a real cluster need: where they run, a namespace each, waits, metrics |

#![warn(unreachable_pub)]

mod admission;
mod auth;
mod controllers;
mod filters;
mod http;
#[cfg(test)]
mod layers;
mod meta;
mod registry;
mod server;
mod storage;
pub mod testkit;
mod verbs;

pub use auth::tokens::TokenError;
pub use filters::audit::AuditEntry;
pub use filters::faults::{
    Fault, FaultAction, FaultFileError, FaultId, Faults, parse_faults, read_fault_file,
};
pub use server::kubeconfig::KubeconfigError;
pub use server::tls::TlsError;
pub use server::{Error, Sandbox, SandboxBuilder};
pub use storage::latency::LatencyModel;
