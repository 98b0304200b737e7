//! The bottom layer: what the API says about every object and every failure, without HTTP,
//! storage or kinds.
//!
//! - [`error`]: [`ApiError`](error::ApiError), the typed API error every layer returns, worded
//!   like `k8s.io/apimachinery/pkg/api/errors`; [`status`] builds its `metav1.Status` object;
//! - [`object`]: `ObjectMeta` rules on objects as JSON (metadata, finalizers, deletion);
//! - [`validation`]: name and label validation with the apimachinery messages;
//! - [`selector`]: label and field selectors;
//! - [`gofmt`]: how Go prints values in those messages (`%q`, field errors' bad values).

pub(crate) mod error;
pub(crate) mod gofmt;
pub(crate) mod object;
pub(crate) mod selector;
pub(crate) mod status;
pub(crate) mod validation;
