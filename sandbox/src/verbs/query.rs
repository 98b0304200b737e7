//! The options of a request, from its query string (`url.Values`): what `ListOptions`,
//! `GetOptions`, `PatchOptions` and `DeleteOptions` are decoded from.

use std::collections::HashMap;

/// Query parameters of a request (last value wins, like Go's `url.Values.Get` takes the first;
/// clients never repeat them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let map = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self(map)
    }

    /// The value of `key`, if present and non-empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether a boolean parameter is set (`true` or `1`, like the apiserver's conversion).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_query_flags_accept_true_and_1() {
        let q = Query::parse(Some("watch=1&allowWatchBookmarks=true&x=false"));
        assert!(q.flag("watch") && q.flag("allowWatchBookmarks") && !q.flag("x"));
    }
}
