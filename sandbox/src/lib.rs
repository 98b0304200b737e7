//! `sandbox`: an in-memory Kubernetes API server for tests, examples and demos.
//!
//! It speaks the real API over HTTPS with a bearer token, so kube-rs and kubectl talk to it
//! unchanged: CRUD with optimistic concurrency, finalizers and `generation`, list with
//! selectors and paging, watch with history replay, bookmarks and streaming lists,
//! CustomResourceDefinitions with schema validation, patches (merge, JSON, strategic,
//! server-side apply), and background garbage collection.
//!
//! # What mirrors the real kube-apiserver, and what is approximated
//!
//! Mirrored: one global revision stamped into `resourceVersion`; no-op writes that keep it;
//! `409 Conflict` on stale updates; `generation` for custom resources and CRDs; status
//! subresource isolation; finalizers, `deletionTimestamp`, and foreground/orphan/background
//! propagation; namespace termination; the CRD cleanup finalizer; Status bodies worded like
//! the real ones, with the fields a real Status carries; consistent paging snapshots within
//! etcd's history and the list semantics of `resourceVersion`/`resourceVersionMatch`; a watch
//! window per resource like the watch cache's (`410 Expired` for a resourceVersion older than
//! it, such as `1`), and `410 Expired` for compacted exact lists and continue tokens; watch
//! bookmarks and streaming lists (the default for watches from `0` in 1.32); JSON patches as
//! evanphx/json-patch v4 applies them;
//! schema validation, pruning, defaulting and `fieldValidation`; managedFields and
//! server-side apply conflicts; protobuf request bodies for the built-in kinds kubectl's
//! typed commands create; bearer-token users (the admin in `system:masters`, ServiceAccount
//! tokens from the TokenRequest API that expire into 401), RBAC with the real 403 wording,
//! impersonation headers and access reviews that agree with the enforced decisions; tokens
//! bound to a Secret that stop working when it is deleted; API Priority and Fairness
//! configured by FlowSchema and PriorityLevelConfiguration objects (the defaults of a fresh
//! 1.32 server seeded), with its 429s, headers and metrics.
//!
//! Server-side faults (throttling 429, latency, hanging and dropped connections, forced 5xx,
//! scheduled compaction, credential expiry) are set through [`SandboxBuilder::fault`],
//! [`Sandbox::faults`] or the admin endpoint `/sandbox/faults`; the sandbox's own metrics
//! are at `/metrics` and [`Sandbox::metrics_text`].
//!
//! Approximated: no admission webhooks or CEL validation; no RBAC escalation checks or
//! aggregated ClusterRoles; ServiceAccount tokens are opaque, not JWTs; no
//! aggregated discovery; watchers that fall behind are closed (as the watch cache does) but
//! writers never wait; CRD version conversion only rewrites `apiVersion`; only the built-in
//! kinds configmaps, events (core/v1 and events.k8s.io/v1, two versions of one stored
//! resource), leases, namespaces, secrets, serviceaccounts, flowschemas,
//! prioritylevelconfigurations and customresourcedefinitions are served (plus the
//! self-subject reviews); etcd's history is bounded by a count of changes (`watch_history`),
//! not compacted every 5 minutes; bookmarks come every 5 s by default, not about once a
//! minute; Go decoders' own wording of unparsable bodies is serde's.
//!
//! # Layers
//!
//! Each folder of `src/` is a layer; a layer uses only the layers above it in this table
//! (and its own modules, without a cycle between them). The test `layers` checks every
//! `crate::` path of `src/` against this table.
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
//! | 8 | `filters` | the filter chain as tower layers: request info, metrics, authentication, impersonation, API Priority and Fairness, authorization, faults |
//! | 9 | `server` | the `Sandbox` and its builder, the listener, TLS, the kubeconfig, the sandbox's controls |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sb = sandbox::Sandbox::start().await?;
//! let client = sb.client()?;
//! // ... use client; `kubectl --kubeconfig <sb.kubeconfig_path()>` works too.
//! drop(sb); // stops the server and removes its temporary directory
//! # Ok(()) }
//! ```

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
mod verbs;

pub use auth::tokens::TokenError;
pub use filters::faults::{
    Fault, FaultAction, FaultFileError, FaultId, Faults, parse_faults, read_fault_file,
};
pub use server::kubeconfig::KubeconfigError;
pub use server::tls::TlsError;
pub use server::{Error, Sandbox, SandboxBuilder};
