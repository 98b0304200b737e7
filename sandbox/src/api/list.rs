//! `list`: selectors, `limit`/`continue` paging and `resourceVersion` semantics
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks>).

use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Ctx, Filter};
use crate::http::{Call, json_response};
use crate::status::ApiError;
use crate::store::ObjKey;

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    ns: String,
    name: String,
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::BadRequest(format!("invalid resource version \"{raw}\"")))
}

impl Ctx<'_> {
    pub(crate) fn list(&self, call: &Call) -> Result<Response, ApiError> {
        let filter = Filter::parse(&self.info, call)?;
        let store = &self.state.store;
        let limit = match call.query.get("limit") {
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| ApiError::BadRequest(format!("invalid limit \"{l}\"")))?,
            None => 0,
        };
        // The revision to read at: a continue token's (pages of one list are one consistent
        // snapshot) or an exact resourceVersion; otherwise the latest.
        let mut snapshot = None;
        let mut after = None;
        if let Some(token) = call.query.get("continue") {
            let decoded: ContinueToken = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("continue key is not valid: illegal base64 data".into())
                })?;
            snapshot = Some(decoded.rv);
            after = Some((decoded.ns, decoded.name));
        } else if let Some(raw) = call.query.get("resourceVersion") {
            let rv = parse_rv(raw)?;
            let current = store.revision();
            if rv > current {
                return Err(ApiError::Timeout(format!(
                    "Too large resource version: {rv}, current: {current}"
                )));
            }
            if call.query.get("resourceVersionMatch") == Some("Exact") && rv != 0 {
                snapshot = Some(rv);
            }
        }
        let namespace = self.target.namespace.as_deref();
        let (items, revision) = match snapshot {
            Some(at) => match store.list_at(&self.res, namespace, after.as_ref(), at) {
                Ok(items) => (items, at),
                Err(_) if after.is_some() => {
                    return Err(ApiError::Expired(CONTINUE_EXPIRED.into()));
                }
                Err(oldest) => {
                    return Err(ApiError::Expired(format!(
                        "too old resource version: {at} ({oldest})"
                    )));
                }
            },
            None => match (
                filter.fields.requires_exact_match("metadata.name"),
                namespace,
            ) {
                // `metadata.name=x` in a namespace is a point read, like the apiserver's
                // `MatchesSingle` shortcut.
                (Some(name), Some(ns)) => {
                    let key = (ns.to_owned(), name.to_owned());
                    let found = store.get(&self.res, &key);
                    (
                        found.map(|o| (key, o)).into_iter().collect(),
                        store.revision(),
                    )
                }
                _ => store.list(&self.res, namespace, None),
            },
        };
        let list_rv = revision;
        let mut selected: Vec<Value> = Vec::new();
        let mut last_key: Option<ObjKey> = None;
        let mut remaining = 0usize;
        let mut more = false;
        for (key, obj) in &items {
            if !filter.matches(obj) {
                continue;
            }
            if limit > 0 && selected.len() >= limit {
                more = true;
                remaining += 1;
                continue;
            }
            selected.push(self.present(obj));
            last_key = Some(key.clone());
        }
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if more && let Some((ns, name)) = last_key {
            let token = ContinueToken {
                v: "meta.k8s.io/v1".into(),
                rv: list_rv,
                ns,
                name,
            };
            let bytes = serde_json::to_vec(&token).unwrap_or_default();
            metadata["continue"] =
                Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
            // Like the apiserver, only an unfiltered list knows how many items remain.
            if filter.labels.is_empty() && filter.fields.is_empty() {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        if call.wants_table() {
            let table =
                crate::table::to_table(&self.info, &selected, metadata, call.include_object()?);
            return Ok(json_response(StatusCode::OK, &table));
        }
        if call.wants_metadata_only() {
            let items: Vec<Value> = selected
                .iter()
                .map(crate::table::partial_object_metadata)
                .collect();
            let list = json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": crate::table::TABLE_API_VERSION,
                "metadata": metadata,
                "items": items,
            });
            return Ok(json_response(StatusCode::OK, &list));
        }
        if !self.info.custom {
            // Typed lists of built-in kinds carry no TypeMeta on their items.
            for item in &mut selected {
                if let Some(m) = item.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
            }
        }
        let list = json!({
            "kind": self.info.list_kind,
            "apiVersion": self.info.api_version(),
            "metadata": metadata,
            "items": selected,
        });
        Ok(json_response(StatusCode::OK, &list))
    }
}
