//! The sandbox's admin endpoints, for operators and demos (`system:masters` only):
//!
//! - `GET /sandbox/faults`: the faults set, as `{"faults": [{"id": 1, "type": ...}]}`;
//! - `POST /sandbox/faults`: sets the faults in the body (one fault, a list, or
//!   `{"faults": [...]}`, JSON or YAML), answering their ids (201);
//! - `DELETE /sandbox/faults`: clears all faults; `DELETE /sandbox/faults/{id}`: one;
//! - `POST /sandbox/compact`: drops the watch history now (410 for older resourceVersions);
//! - `POST /sandbox/close-watches`: ends every open watch stream now;
//! - `POST /sandbox/expire-tokens`: expires every ServiceAccount token now (401 next).

use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::filters::Gate;
use crate::filters::faults::parse_faults;
use crate::http::respond::json_response;
use crate::meta::error::ApiError;

/// Answers one admin request (already authorized).
pub(crate) fn handle(gate: &Gate, method: &Method, path: &str, body: &[u8]) -> Response {
    let faults = &gate.faults;
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["sandbox", "faults"]) => {
            let list: Vec<Value> = faults
                .list()
                .into_iter()
                .map(|(id, fault)| {
                    let mut v = serde_json::to_value(fault).unwrap_or_default();
                    v["id"] = json!(id);
                    v
                })
                .collect();
            json_response(StatusCode::OK, &json!({"faults": list}))
        }
        (&Method::POST, ["sandbox", "faults"]) => {
            let text = String::from_utf8_lossy(body);
            match parse_faults(&text) {
                Ok(list) => {
                    let ids: Vec<u64> = list.into_iter().map(|f| faults.set(f)).collect();
                    json_response(StatusCode::CREATED, &json!({"ids": ids}))
                }
                Err(e) => ApiError::BadRequest(e.to_string()).into_response(),
            }
        }
        (&Method::DELETE, ["sandbox", "faults"]) => {
            faults.clear();
            json_response(StatusCode::OK, &json!({"faults": []}))
        }
        (&Method::DELETE, ["sandbox", "faults", id]) => match id.parse::<u64>() {
            Ok(id) if faults.remove(id) => json_response(StatusCode::OK, &json!({"removed": id})),
            _ => ApiError::NoRoute.into_response(),
        },
        (&Method::POST, ["sandbox", "compact"]) => {
            gate.store().compact();
            json_response(
                StatusCode::OK,
                &json!({"compactedAt": gate.store().revision()}),
            )
        }
        (&Method::POST, ["sandbox", "close-watches"]) => {
            faults.close_watches();
            json_response(StatusCode::OK, &json!({"closed": true}))
        }
        (&Method::POST, ["sandbox", "expire-tokens"]) => {
            let n = gate.tokens.expire_all();
            json_response(StatusCode::OK, &json!({"expired": n}))
        }
        _ => ApiError::NoRoute.into_response(),
    }
}
