//! PLACEHOLDER: being written.

use crate::harness::{Logs, Res};

/// The demo of `static-credentials` (being written).
pub async fn static_credentials(_logs: &Logs) -> Res {
    Err("this demo is being written".into())
}
