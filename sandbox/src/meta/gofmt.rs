//! How Go prints values in the messages the sandbox copies: `%q` ([`go_quote`], the one
//! quoting function of the crate), and the bad value of a field error.
//!
//! `field.Error.ErrorBody` (`k8s.io/apimachinery/pkg/util/validation/field/errors.go`) prints
//! the *internal Go value*, not its JSON: strings `%q`-quoted, numbers and booleans plain,
//! anything with a `String()` method through it (`metav1.Time` and `metav1.MicroTime` show as
//! `time.Time.String`, `2025-06-01 12:00:00 +0000 UTC`), a nil pointer as `null`, and any
//! other struct as Go syntax (`%#v`, `core.EventSource{Component:"c", Host:""}`). Clients that
//! show or match these messages see the same text on the sandbox as on a cluster.

use serde_json::Value;

/// Quotes a string like Go's `%q` (close enough for label keys and values).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string field: `%q` of its value, `""` when absent or not a string.
pub(crate) fn string(value: Option<&Value>) -> String {
    go_quote(value.and_then(Value::as_str).unwrap_or(""))
}

/// An integer field: its value, `0` when absent.
pub(crate) fn integer(value: Option<&Value>) -> String {
    value.and_then(Value::as_i64).unwrap_or(0).to_string()
}

/// A `metav1.Time` or `metav1.MicroTime` field as `time.Time.String()` prints it in UTC (the
/// apiserver's time zone in its container): `2006-01-02 15:04:05.999999999 +0000 UTC`, with
/// the fraction only when it is not zero; Go's zero time when absent or unparsable.
pub(crate) fn time(value: Option<&Value>) -> String {
    let parsed = value
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let Some(ts) = parsed else {
        return "0001-01-01 00:00:00 +0000 UTC".to_owned();
    };
    let utc = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let nanos = utc.subsec_nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        let digits = format!(".{nanos:09}");
        digits.trim_end_matches('0').to_owned()
    };
    format!("{}{fraction} +0000 UTC", utc.strftime("%Y-%m-%d %H:%M:%S"))
}

/// A struct of string fields as `%#v` prints it: `pkg.Type{Field:"value", ...}`, the fields in
/// the Go struct's order and read from the JSON object under their JSON names.
pub(crate) fn string_struct(
    type_name: &str,
    fields: &[(&str, &str)],
    value: Option<&Value>,
) -> String {
    let shown: Vec<String> = fields
        .iter()
        .map(|(go, json)| format!("{go}:{}", string(value.and_then(|v| v.get(*json)))))
        .collect();
    format!("{type_name}{{{}}}", shown.join(", "))
}

/// A pointer to a struct of string fields: `null` when absent or `null`, else the struct.
pub(crate) fn optional_string_struct(
    type_name: &str,
    fields: &[(&str, &str)],
    value: Option<&Value>,
) -> String {
    match value {
        None | Some(Value::Null) => "null".to_owned(),
        some => string_struct(type_name, fields, some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_print_like_go_time_string_in_utc() {
        assert_eq!(
            time(Some(&json!("2025-06-01T11:00:00Z"))),
            "2025-06-01 11:00:00 +0000 UTC"
        );
        assert_eq!(
            time(Some(&json!("2025-06-01T13:59:00.250000+02:00"))),
            "2025-06-01 11:59:00.25 +0000 UTC"
        );
        assert_eq!(time(None), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn structs_print_as_go_syntax_and_nil_pointers_as_null() {
        let fields = [("Component", "component"), ("Host", "host")];
        assert_eq!(
            string_struct(
                "core.EventSource",
                &fields,
                Some(&json!({"component": "c"}))
            ),
            r#"core.EventSource{Component:"c", Host:""}"#
        );
        assert_eq!(optional_string_struct("core.X", &fields, None), "null");
        assert_eq!(integer(Some(&json!(3))), "3");
        assert_eq!(string(Some(&json!("a\"b"))), r#""a\"b""#);
    }
}
