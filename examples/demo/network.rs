//! PLACEHOLDER: being written.

use crate::harness::{Logs, Res};

/// The demo of `api-unreachable` (being written).
pub async fn api_unreachable(_logs: &Logs) -> Res {
    Err("this demo is being written".into())
}
