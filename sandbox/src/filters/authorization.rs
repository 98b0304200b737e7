//! Authorization (`WithAuthorization`): RBAC decides (`crate::auth::rbac`), a denial is the
//! apiserver's 403 (`crate::auth::forbidden`). The sandbox's own controls (`/sandbox/...`)
//! are the operator's: `system:masters` only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{Gate, attributes, is_control_path};
use crate::auth::forbidden;
use crate::auth::rbac::{self, Decision};

/// The filter.
pub(crate) async fn layer(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let attrs = attributes(&request);
    if is_control_path(&attrs.path) {
        if !attrs.user.is_superuser() {
            return forbidden::response(&attrs, "");
        }
    } else if let Decision::Deny(reason) = rbac::authorize(gate.store(), &attrs) {
        return forbidden::response(&attrs, &reason);
    }
    next.run(request).await
}
