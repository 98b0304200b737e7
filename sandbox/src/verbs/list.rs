//! `list`: selectors, `limit`/`continue` paging and `resourceVersion` semantics
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks>).

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{Answer, Ctx, Filter, Query};
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::storage::ObjKey;

/// The sandbox's continue token: the list's revision and the last key returned. `rv: -1` is
/// the token a 410 for a compacted continue hands out, which continues at the latest
/// revision (`storage.EncodeContinue(key, prefix, -1)` in `handleCompactedErrorForPaging`).
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    ns: String,
    name: String,
}

impl ContinueToken {
    fn encode(rv: i64, (ns, name): ObjKey) -> String {
        let token = ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv,
            ns,
            name,
        };
        let bytes = serde_json::to_vec(&token).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `storage.DecodeContinue`, failing like the etcd store's `invalid continue token: ...`.
    fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = |detail: String| {
            ApiError::BadRequest(format!(
                "invalid continue token: continue key is not valid: {detail}"
            ))
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|e| invalid(go_base64_error(&e)))?;
        let token: Self = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if token.v != "meta.k8s.io/v1" {
            return Err(ApiError::BadRequest(format!(
                "invalid continue token: continue key is not valid: server does not recognize this encoded version \"{}\"",
                token.v
            )));
        }
        Ok(token)
    }
}

/// Go's `base64.CorruptInputError` text for a token that is not base64.
fn go_base64_error(error: &base64::DecodeError) -> String {
    match error {
        base64::DecodeError::InvalidByte(offset, _)
        | base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("illegal base64 data at input byte {offset}")
        }
        _ => "illegal base64 data".to_owned(),
    }
}

/// `storage/etcd3/errors.go`'s message for an exact list at a compacted revision.
const LIST_EXPIRED: &str = "The resourceVersion for the provided list is too old.";

/// `blockTimeout` of the watch cache: how long a list waits for a resourceVersion the cache
/// has not reached before it answers 504 (`waitUntilFreshAndBlock`).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// `APIObjectVersioner.ParseResourceVersion`: `strconv.ParseUint`, failing with a storage
/// `InvalidError` that neither the list nor the watch path interprets, so the client gets a
/// 500 with its text (kubernetes/kubernetes#101350, still so in 1.32).
pub(crate) fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>().map_err(|e| {
        let why = if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        let quoted = go_quote(raw);
        ApiError::Storage(format!(
            "resourceVersion: Invalid value: {quoted}: strconv.ParseUint: parsing {quoted}: {why}"
        ))
    })
}

/// Where a list reads, decided like `Cacher.GetList`'s `shouldDelegateList` and the etcd
/// store's `resolveGetListRev` (1.32, `ConsistentListFromCache` on).
enum Read {
    /// The latest state: `resourceVersion` unset (a consistent read), `0` (any state, and the
    /// watch cache then ignores `limit`), or a minimum the store has reached
    /// (`NotOlderThan`, or unset match without `limit`).
    Latest { ignore_limit: bool },
    /// etcd at an exact revision: `resourceVersionMatch=Exact`, the legacy `resourceVersion`
    /// with `limit` and no match, or a continue token.
    At(u64),
}

impl Ctx<'_> {
    /// Lists the target collection, with its selectors, paging and `resourceVersion`
    /// semantics.
    pub(crate) async fn list(&self, query: &Query) -> Result<Answer, ApiError> {
        let filter = Filter::parse(&self.info, query)?;
        let store = &self.api.store;
        validate_list_options(query)?;
        let mut limit = match query.get("limit") {
            // The query parameter codec's `strconv.ParseInt` error, as a 400.
            Some(l) => l
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "strconv.ParseInt: parsing {}: invalid syntax",
                        go_quote(l)
                    ))
                })?
                .max(0)
                .try_into()
                .unwrap_or(usize::MAX),
            None => 0,
        };
        let rv_param = query.get("resourceVersion").filter(|rv| !rv.is_empty());
        let rv_match = query.get("resourceVersionMatch").unwrap_or("");
        let mut after = None;
        let read = if let Some(raw) = query.get("continue") {
            if rv_param.is_some_and(|rv| rv != "0") {
                return Err(ApiError::BadRequest(
                    "specifying resource version is not allowed when using continue".into(),
                ));
            }
            let token = ContinueToken::decode(raw)?;
            after = Some((token.ns, token.name));
            match u64::try_from(token.rv) {
                Ok(rv) if rv > 0 => Read::At(rv),
                _ => Read::Latest {
                    ignore_limit: false,
                },
            }
        } else {
            match rv_param {
                None => Read::Latest {
                    ignore_limit: false,
                },
                Some("0") => Read::Latest { ignore_limit: true },
                Some(raw) => {
                    let rv = parse_rv(raw)?;
                    let exact = rv_match == "Exact" || (rv_match.is_empty() && limit > 0);
                    if exact {
                        let current = store.revision();
                        if rv > current {
                            // etcd's `ErrFutureRev`, which no layer turns into an API error.
                            return Err(ApiError::Storage(
                                "etcdserver: mvcc: required revision is a future revision".into(),
                            ));
                        }
                        Read::At(rv)
                    } else {
                        self.wait_until_fresh(rv).await?;
                        Read::Latest {
                            ignore_limit: false,
                        }
                    }
                }
            }
        };
        if let Read::Latest { ignore_limit: true } = read {
            limit = 0;
        }
        let namespace = self.target.namespace.as_deref();
        let (items, revision) = match read {
            Read::At(at) => match store.list_at(&self.res, namespace, after.as_ref(), at) {
                Ok(items) => (items, at),
                Err(_) => {
                    return Err(match after {
                        Some(key) => ApiError::ContinueExpired(ContinueToken::encode(-1, key)),
                        None => ApiError::Expired(LIST_EXPIRED.into()),
                    });
                }
            },
            Read::Latest { .. } if after.is_some() => {
                store.list(&self.res, namespace, after.as_ref())
            }
            Read::Latest { .. } => match (
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
            if limit > 0 && selected.len() >= limit {
                // Like the watch cache and the etcd store, any further key (matching or not)
                // means there is more.
                more = true;
                if filter.matches(obj) {
                    remaining += 1;
                }
                continue;
            }
            if !filter.matches(obj) {
                continue;
            }
            selected.push(self.present(obj));
            last_key = Some(key.clone());
        }
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if more && let Some(key) = last_key {
            let rv = i64::try_from(list_rv).unwrap_or(i64::MAX);
            metadata["continue"] = Value::String(ContinueToken::encode(rv, key));
            // Like the apiserver, only an unfiltered list knows how many items remain.
            if filter.is_empty() {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        Ok(Answer::List {
            items: selected,
            metadata,
        })
    }

    /// `waitUntilFreshAndBlock`: a list asking for at least `rv` waits until the store has
    /// reached it, [`BLOCK_TIMEOUT`] at most, then answers 504 `Too large resource version`.
    async fn wait_until_fresh(&self, rv: u64) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + BLOCK_TIMEOUT;
        loop {
            let current = self.api.store.revision();
            if rv <= current {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::TooLargeResourceVersion {
                    requested: rv,
                    current,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `ValidateListOptions` (`apimachinery/pkg/apis/meta/internalversion/validation`) for a
/// list: its `resourceVersionMatch` and `sendInitialEvents` rules, as one 422 Invalid of
/// `ListOptions.meta.k8s.io`.
fn validate_list_options(q: &Query) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let forbidden = |message: &str| Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {message}"),
        field: "resourceVersionMatch".into(),
    };
    if let Some(rv_match) = q.get("resourceVersionMatch").filter(|m| !m.is_empty()) {
        let rv = q.get("resourceVersion").unwrap_or("");
        if rv.is_empty() {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if q.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if rv_match != "Exact" && rv_match != "NotOlderThan" {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"Exact\", \"NotOlderThan\", \"\"",
                    go_quote(rv_match)
                ),
                field: "resourceVersionMatch".into(),
            });
        }
        if rv_match == "Exact" && rv == "0" {
            causes.push(forbidden(
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if q.get("sendInitialEvents").is_some() {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: sendInitialEvents is forbidden for list".into(),
            field: "sendInitialEvents".into(),
        });
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes))
    }
}
