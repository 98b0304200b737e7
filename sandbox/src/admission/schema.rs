//! Structural-schema validation, pruning and defaulting of custom resources.
//!
//! Mirrors what the apiextensions-apiserver does with the `openAPIV3Schema` of a served
//! CustomResourceDefinition version
//! (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation>):
//!
//! * [`prune`]: structural pruning of unknown fields
//!   (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning>),
//!   keeping `apiVersion`, `kind` and `metadata` at the root (and in
//!   `x-kubernetes-embedded-resource` objects) and everything under
//!   `x-kubernetes-preserve-unknown-fields: true`;
//! * [`apply_defaults`]: `default` values for absent fields (and for `null` in non-nullable
//!   fields), applied recursively, followed by the removal of `null`s of non-nullable fields that
//!   have no default, like `structuraldefaulting.Default` and
//!   `PruneNonNullableNullsWithoutDefaults`
//!   (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting>);
//! * [`validate`]: the OpenAPI v3 value validations of `k8s.io/kube-openapi/pkg/validation`,
//!   converted to field errors the way `kubeOpenAPIResultToFieldErrors` does, so messages read
//!   like the real ones (`spec.title: Required value`,
//!   `spec.hide: Invalid value: "string": spec.hide in body must be of type boolean: "string"`).
//!
//! The apiserver runs them in the order prune, default, validate on every create and update,
//! and defaults again when reading from storage.
//!
//! After the OpenAPI errors come those of `x-kubernetes-list-type` (`Duplicate value` for a
//! repeated item of a `set` or key of a `map` list, `Required value` for a missing map key).
//!
//! Hand-written, because no crate fits: kube-core's `StructuralSchemaRewriter` (in the tree)
//! makes a generated schema structural but validates nothing; JSON Schema validators (the
//! `jsonschema` crate, not in the tree) implement draft 2020-12, not Kubernetes' OpenAPI v3
//! subset with `nullable`, the `x-kubernetes-*` extensions, structural pruning and defaulting,
//! and they word errors their own way, where clients match the apiserver's
//! (`spec.title: Required value`).
//!
//! Not implemented: `x-kubernetes-validations` (CEL rules are not evaluated, every rule passes;
//! a later issue may add them), validation ratcheting, `x-kubernetes-embedded-resource`
//! checks, and most string formats (only `date-time`, `date`, `byte`, `uuid`, `ipv4` and `ipv6`
//! are checked; others pass). Errors of one object are reported in sorted property order, where
//! the real server follows Go map order; objects and arrays shown as bad values are JSON, where
//! Go prints `%#v`.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::meta::gofmt::go_quote;

/// The type of a field error, like `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldErrorKind {
    /// `FieldValueRequired`: a required field is missing.
    Required,
    /// `FieldValueInvalid`: the value breaks a constraint (length, pattern, range, ...).
    Invalid,
    /// `FieldValueTypeInvalid`: the value has the wrong JSON type.
    TypeInvalid,
    /// `FieldValueNotSupported`: the value is not one of the `enum` values.
    NotSupported,
    /// `FieldValueTooLong`: a string is longer than `maxLength`.
    TooLong,
    /// `FieldValueTooMany`: a list has more than `maxItems` items (or an object more than
    /// `maxProperties` properties).
    TooMany,
    /// `FieldValueDuplicate`: an item repeats in a `set` list, or a key in a `map` list.
    Duplicate,
}

impl FieldErrorKind {
    /// The `reason` of a Status cause (`FieldValueRequired`, ...).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
        }
    }

    /// The human label that starts the message body (`Required value`, ...).
    fn label(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Duplicate => "Duplicate value",
        }
    }
}

/// One validation failure, like `field.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// What kind of failure.
    pub(crate) kind: FieldErrorKind,
    /// The dotted path of the field, e.g. `spec.title` or `spec.items[0].name`.
    pub(crate) field: String,
    /// The full message, `<field>: <body>`, e.g. `spec.title: Required value`.
    pub(crate) message: String,
}

impl FieldError {
    fn new(kind: FieldErrorKind, field: &str, value: Option<&Value>, detail: &str) -> Self {
        let mut body = kind.label().to_owned();
        if let Some(value) = value {
            body.push_str(": ");
            body.push_str(&format_value(value));
        }
        if !detail.is_empty() {
            body.push_str(": ");
            body.push_str(detail);
        }
        Self {
            kind,
            field: field.to_owned(),
            message: format!("{field}: {body}"),
        }
    }

    /// The message without the leading `<field>: `, as used in a Status cause.
    pub(crate) fn body(&self) -> &str {
        self.message
            .strip_prefix(&self.field)
            .and_then(|m| m.strip_prefix(": "))
            .unwrap_or(&self.message)
    }

    /// The `details.causes[]` entry of the 422 Status: `{reason, message, field}`.
    pub(crate) fn cause(&self) -> Value {
        serde_json::json!({
            "reason": self.kind.reason(),
            "message": self.body(),
            "field": self.field,
        })
    }
}

/// Formats a bad value like `field.Error.ErrorBody`: strings quoted, scalars bare, and
/// (a divergence from Go's `%#v`) objects and arrays as JSON.
fn format_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// The `message` of the 422 `Invalid` Status for these errors, like `errors.NewInvalid`:
/// `Document.kube.rs "x" is invalid: spec.title: Required value` for one error and
/// `... is invalid: [e1, e2]` for several (duplicates are dropped). `group` is empty for the core
/// group.
pub(crate) fn invalid_message(
    kind: &str,
    group: &str,
    name: &str,
    errors: &[FieldError],
) -> String {
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.message.as_str()) {
            seen.push(&e.message);
        }
    }
    match seen.as_slice() {
        [] => format!("{qualified} {} is invalid", go_quote(name)),
        [one] => format!("{qualified} {} is invalid: {one}", go_quote(name)),
        many => format!(
            "{qualified} {} is invalid: [{}]",
            go_quote(name),
            many.join(", ")
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Validates `obj` against a CRD version's `openAPIV3Schema`. Of `metadata`, only `name` and
/// `generateName` are checked (the server validates ObjectMeta on its own). After the OpenAPI
/// errors come those of `x-kubernetes-list-type` (duplicates in `set` lists, duplicate or
/// missing keys in `map` lists), like the apiserver's `listtype` validation.
pub(crate) fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_node(schema, obj, "", true, &mut errs);
    validate_list_types(schema, obj, "", &mut errs);
    errs
}

fn validate_list_types(schema: &Value, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for key in sorted_keys(map) {
                let sub = properties.and_then(|p| p.get(key.as_str())).or(additional);
                if let Some(sub) = sub {
                    validate_list_types(sub, &map[key.as_str()], &child_path(path, key), errs);
                }
            }
        }
        Value::Array(items) => {
            match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].iter().any(|prev| json_equal(prev, item)) {
                            errs.push(FieldError::new(
                                FieldErrorKind::Duplicate,
                                &format!("{path}[{i}]"),
                                Some(item),
                                "",
                            ));
                        }
                    }
                }
                Some("map") => validate_list_map(schema, items, path, errs),
                _ => {}
            }
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    validate_list_types(item_schema, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

fn validate_list_map(schema: &Value, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut seen: Vec<Vec<Option<&Value>>> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            continue;
        };
        let mut missing = false;
        for key in &keys {
            if !obj.contains_key(*key) {
                missing = true;
                errs.push(FieldError::new(
                    FieldErrorKind::Required,
                    &format!("{path}[{i}].{key}"),
                    None,
                    "",
                ));
            }
        }
        if missing {
            continue;
        }
        let tuple: Vec<Option<&Value>> = keys.iter().map(|k| obj.get(*k)).collect();
        if seen.iter().any(|t| {
            t.iter()
                .zip(&tuple)
                .all(|(a, b)| a.zip(*b).is_some_and(|(a, b)| json_equal(a, b)))
        }) {
            // Go prints the key map with %#v.
            let fields: Vec<String> = keys
                .iter()
                .zip(&tuple)
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        go_quote(k),
                        v.map(format_value).unwrap_or_default()
                    )
                })
                .collect();
            let mut e =
                FieldError::new(FieldErrorKind::Duplicate, &format!("{path}[{i}]"), None, "");
            e.message = format!(
                "{path}[{i}]: Duplicate value: map[string]interface {{}}{{{}}}",
                fields.join(", ")
            );
            errs.push(e);
        } else {
            seen.push(tuple);
        }
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The schema's type list (`x-kubernetes-int-or-string` is `integer,string`).
fn schema_types(schema: &Value) -> Vec<&str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The JSON type of a value as kube-openapi infers it from the decoded Go value.
fn value_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_node(
    schema: &Value,
    value: &Value,
    path: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    if !schema.is_object() {
        return;
    }
    let types = schema_types(schema);
    if value.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !flag(schema, "nullable") {
            errs.push(type_error(path, &types.join(","), "null"));
        }
        check_enum(schema, value, path, errs);
        return;
    }

    // Type.
    let actual = value_type(value);
    if !types.is_empty() {
        let integral_float = actual == "number"
            && value
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
            && types.contains(&"integer");
        let int_as_number = actual == "integer" && types.contains(&"number");
        if !(types.contains(&actual) || integral_float || int_as_number) {
            errs.push(type_error(path, &types.join(","), actual));
        }
    }

    // Logical junctors (value validations only in structural schemas).
    validate_junctors(schema, value, path, errs);

    match value {
        Value::String(s) => {
            validate_string(schema, s, value, path, errs);
            validate_format(schema, s, value, path, errs);
        }
        Value::Number(_) => validate_number(schema, value, path, errs),
        Value::Array(items) => validate_array(schema, items, path, errs),
        _ => {}
    }
    check_enum(schema, value, path, errs);
    if let Value::Object(map) = value {
        validate_object(schema, map, path, root, errs);
    }
}

fn type_error(path: &str, expected: &str, actual: &str) -> FieldError {
    FieldError::new(
        FieldErrorKind::TypeInvalid,
        path,
        Some(&Value::String(actual.to_owned())),
        &format!(
            "{path} in body must be of type {expected}: {}",
            go_quote(actual)
        ),
    )
}

fn invalid(path: &str, value: &Value, detail: String) -> FieldError {
    FieldError::new(FieldErrorKind::Invalid, path, Some(value), &detail)
}

fn validate_junctors(schema: &Value, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let passes = |s: &Value| {
        let mut sub = Vec::new();
        validate_node(s, value, path, false, &mut sub);
        sub.is_empty()
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate_node(s, value, path, false, errs);
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.is_empty()
        && !any.iter().any(passes)
    {
        errs.push(invalid(
            path,
            value,
            format!("{path} in body must validate at least one schema (anyOf)"),
        ));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && !one.is_empty()
        && one.iter().filter(|s| passes(s)).count() != 1
    {
        errs.push(invalid(
            path,
            value,
            format!("{path} in body must validate one and only one schema (oneOf)"),
        ));
    }
    if let Some(not) = schema.get("not")
        && passes(not)
    {
        errs.push(invalid(
            path,
            value,
            format!("{path} in body must not validate the schema (not)"),
        ));
    }
}

fn validate_string(schema: &Value, s: &str, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    // kube-openapi counts characters (runes) and stops at the first failure.
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errs.push(FieldError::new(
            FieldErrorKind::TooLong,
            path,
            None,
            &format!(
                "may not be more than {max} {}",
                if max == 1 { "byte" } else { "bytes" }
            ),
        ));
        return;
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errs.push(invalid(
            path,
            value,
            format!("{path} in body should be at least {min} chars long"),
        ));
        return;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(s)
    {
        errs.push(invalid(
            path,
            value,
            format!("{path} in body should match '{pattern}'"),
        ));
    }
}

fn validate_format(schema: &Value, s: &str, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(format) = schema.get("format").and_then(Value::as_str) else {
        return;
    };
    let ok = match format {
        "date-time" | "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok(),
        "byte" => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "uuid" => is_uuid(s),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        _ => true,
    };
    if !ok {
        errs.push(FieldError::new(
            FieldErrorKind::TypeInvalid,
            path,
            Some(value),
            &format!("{path} in body must be of type {format}: {}", go_quote(s)),
        ));
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Formats a schema bound like Go's `%v` of a float64 (integral values without a fraction).
fn format_bound(bound: &Value) -> String {
    match bound.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => bound.to_string(),
    }
}

fn validate_number(schema: &Value, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else {
        return;
    };
    if let Some(factor) = schema.get("multipleOf")
        && let Some(f) = factor.as_f64()
        && f > 0.0
        && (n / f).fract() != 0.0
    {
        errs.push(invalid(
            path,
            value,
            format!(
                "{path} in body should be a multiple of {}",
                format_bound(factor)
            ),
        ));
    }
    if let Some(bound) = schema.get("maximum")
        && let Some(max) = bound.as_f64()
    {
        let exclusive = flag(schema, "exclusiveMaximum");
        if (exclusive && n >= max) || n > max {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(invalid(
                path,
                value,
                format!(
                    "{path} in body should be {relation} {}",
                    format_bound(bound)
                ),
            ));
        }
    }
    if let Some(bound) = schema.get("minimum")
        && let Some(min) = bound.as_f64()
    {
        let exclusive = flag(schema, "exclusiveMinimum");
        if (exclusive && n <= min) || n < min {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(invalid(
                path,
                value,
                format!(
                    "{path} in body should be {relation} {}",
                    format_bound(bound)
                ),
            ));
        }
    }
}

fn validate_array(schema: &Value, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
        for (i, item) in items.iter().enumerate() {
            validate_node(item_schema, item, &format!("{path}[{i}]"), false, errs);
        }
    }
    let len = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        errs.push(invalid(
            path,
            &Value::from(len),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        errs.push(too_many(path, len, max));
    }
    if flag(schema, "uniqueItems")
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| json_equal(a, b)))
    {
        errs.push(invalid(
            path,
            &Value::String(String::new()),
            format!("{path} in body shouldn't contain duplicates"),
        ));
    }
}

fn too_many(path: &str, actual: u64, max: u64) -> FieldError {
    FieldError::new(
        FieldErrorKind::TooMany,
        path,
        Some(&Value::from(actual)),
        &format!(
            "must have at most {max} {}",
            if max == 1 { "item" } else { "items" }
        ),
    )
}

/// JSON equality where `1` and `1.0` are equal, like comparing decoded numbers.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn check_enum(schema: &Value, value: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if allowed.is_empty() || allowed.iter().any(|a| json_equal(a, value)) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => go_quote(s),
            other => go_quote(&other.to_string()),
        })
        .collect();
    errs.push(FieldError::new(
        FieldErrorKind::NotSupported,
        path,
        Some(value),
        &format!("supported values: {}", supported.join(", ")),
    ));
}

fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    root: bool,
    errs: &mut Vec<FieldError>,
) {
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        errs.push(too_many(path, count, max));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        errs.push(invalid(
            path,
            &Value::from(count),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                errs.push(FieldError::new(
                    FieldErrorKind::Required,
                    &child_path(path, key),
                    None,
                    "",
                ));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(properties) = properties {
        for key in sorted_keys(properties) {
            let Some(v) = map.get(key) else { continue };
            let prop_schema = &properties[key.as_str()];
            let p = child_path(path, key);
            if root && key == "metadata" {
                validate_metadata(prop_schema, v, &p, errs);
            } else {
                validate_node(prop_schema, v, &p, false, errs);
            }
        }
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        for key in sorted_keys(map) {
            if properties.is_some_and(|p| p.contains_key(key.as_str())) {
                continue;
            }
            validate_node(
                additional,
                &map[key.as_str()],
                &child_path(path, key),
                false,
                errs,
            );
        }
    }
}

/// Validates only `metadata.name` and `metadata.generateName` against the schema.
fn validate_metadata(schema: &Value, metadata: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(properties) = schema.get("properties") else {
        return;
    };
    for key in ["generateName", "name"] {
        if let (Some(s), Some(v)) = (properties.get(key), metadata.get(key)) {
            validate_node(s, v, &child_path(path, key), false, errs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pruning
// ---------------------------------------------------------------------------------------------

/// Removes the fields the schema does not know, like structural pruning.
pub(crate) fn prune(schema: &Value, obj: &mut Value) {
    prune_node(schema, obj, true);
}

fn prune_node(schema: &Value, value: &mut Value, is_resource: bool) {
    match value {
        Value::Object(map) => {
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let additional_schema = additional.filter(|a| a.is_object());
            let additional_allowed = additional.and_then(Value::as_bool) == Some(true);
            let embedded = is_resource || flag(schema, "x-kubernetes-embedded-resource");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    // The server coerces metadata to ObjectMeta itself; never prune it here.
                    if key != "metadata"
                        && let (Some(p), Some(v)) =
                            (properties.and_then(|p| p.get(&key)), map.get_mut(&key))
                    {
                        prune_node(p, v, false);
                    }
                    continue;
                }
                if let Some(p) = properties.and_then(|p| p.get(&key)) {
                    if let Some(v) = map.get_mut(&key) {
                        prune_node(p, v, false);
                    }
                } else if let Some(a) = additional_schema {
                    if let Some(v) = map.get_mut(&key) {
                        prune_node(a, v, false);
                    }
                } else if !preserve && !additional_allowed {
                    map.remove(&key);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    prune_node(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------------------------

/// Sets the `default` of every absent field (and of `null` in a non-nullable field), then drops
/// `null`s of non-nullable fields that have no default. Defaults are themselves defaulted.
pub(crate) fn apply_defaults(schema: &Value, obj: &mut Value) {
    default_node(schema, obj);
    prune_nulls(schema, obj);
}

fn is_non_nullable_null(value: &Value, schema: &Value) -> bool {
    value.is_null() && !flag(schema, "nullable")
}

fn default_node(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(properties) = properties {
                for (key, prop) in properties {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    let missing = map.get(key).is_none_or(|v| is_non_nullable_null(v, prop));
                    if missing {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, v) in map.iter_mut() {
                if let Some(prop) = properties.and_then(|p| p.get(key)) {
                    default_node(prop, v);
                } else if let Some(a) = additional {
                    if let Some(default) = a.get("default")
                        && is_non_nullable_null(v, a)
                    {
                        *v = default.clone();
                    }
                    default_node(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    if let Some(default) = item_schema.get("default")
                        && is_non_nullable_null(item, item_schema)
                    {
                        *item = default.clone();
                    }
                    default_node(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

fn prune_nulls(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(properties) = properties {
                map.retain(|key, v| {
                    properties.get(key).is_none_or(|p| {
                        !(v.is_null() && p.get("default").is_none() && !flag(p, "nullable"))
                    })
                });
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, v) in map.iter_mut() {
                if let Some(prop) = properties.and_then(|p| p.get(key)) {
                    prune_nulls(prop, v);
                } else if let Some(a) = additional {
                    prune_nulls(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    prune_nulls(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed assertion in tests
mod tests {
    use super::*;
    use serde_json::json;

    fn document_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "maxLength": 10}}
                },
                "spec": {
                    "type": "object",
                    "required": ["title"],
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 200},
                        "hide": {"type": "boolean", "default": false},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "slug": {"type": "string", "pattern": "^[a-z]+$"},
                        "tags": {"type": "array", "maxItems": 2, "minItems": 1,
                                 "items": {"type": "string", "minLength": 2}},
                        "port": {"x-kubernetes-int-or-string": true},
                        "at": {"type": "string", "format": "date-time"},
                        "note": {"type": "string", "nullable": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "nested": {
                            "type": "object",
                            "default": {},
                            "properties": {"level": {"type": "integer", "default": 3}}
                        }
                    }
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "conditions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"type": {"type": "string"}, "status": {"type": "string"}}
                            }
                        }
                    }
                }
            }
        })
    }

    fn doc(spec: Value) -> Value {
        json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"}, "spec": spec})
    }

    fn messages(spec: Value) -> Vec<String> {
        validate(&document_schema(), &doc(spec))
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn a_valid_object_has_no_errors() {
        let errs = messages(json!({
            "title": "t", "hide": true, "replicas": 3, "mode": "a", "slug": "abc",
            "tags": ["ab"], "port": "http", "at": "2024-01-02T03:04:05Z", "note": null,
            "labels": {"a": "b"}, "extra": {"anything": [1, 2]}
        }));
        assert_eq!(errs, Vec::<String>::new());
        assert!(messages(json!({"title": "t", "port": 8080})).is_empty());
    }

    #[test]
    fn a_missing_required_field_is_a_required_value_error() {
        let errs = validate(&document_schema(), &doc(json!({})));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, FieldErrorKind::Required);
        assert_eq!(errs[0].field, "spec.title");
        assert_eq!(errs[0].message, "spec.title: Required value");
        assert_eq!(errs[0].body(), "Required value");
    }

    #[test]
    fn a_wrong_type_reports_the_actual_type_like_kube_openapi() {
        assert_eq!(
            messages(json!({"title": "t", "hide": "string"})),
            [
                r#"spec.hide: Invalid value: "string": spec.hide in body must be of type boolean: "string""#
            ]
        );
        assert_eq!(
            messages(json!({"title": "t", "replicas": 1.5})),
            [
                r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
            ]
        );
        assert_eq!(
            messages(json!({"title": "t", "port": true})),
            [
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
            ]
        );
    }

    #[test]
    fn null_is_rejected_unless_the_field_is_nullable() {
        assert_eq!(
            messages(json!({"title": null})),
            [
                r#"spec.title: Invalid value: "null": spec.title in body must be of type string: "null""#
            ]
        );
        assert!(messages(json!({"title": "t", "note": null})).is_empty());
    }

    #[test]
    fn string_length_counts_characters_and_uses_the_apiserver_wording() {
        assert_eq!(
            messages(json!({"title": ""})),
            [
                r#"spec.title: Invalid value: "": spec.title in body should be at least 1 chars long"#
            ]
        );
        assert_eq!(
            messages(json!({"title": "x".repeat(201)})),
            ["spec.title: Too long: may not be more than 200 bytes"]
        );
        // 200 multi-byte characters are within maxLength 200.
        assert!(messages(json!({"title": "é".repeat(200)})).is_empty());
    }

    #[test]
    fn numbers_outside_the_bounds_are_invalid() {
        assert_eq!(
            messages(json!({"title": "t", "replicas": 0})),
            [
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            messages(json!({"title": "t", "replicas": 11})),
            [
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
            ]
        );
        let schema = json!({"type": "object", "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}});
        assert_eq!(
            validate(&schema, &json!({"n": 0}))[0].message,
            "n: Invalid value: 0: n in body should be greater than 0"
        );
    }

    #[test]
    fn enum_and_pattern_violations_use_the_apiserver_wording() {
        let errs = validate(&document_schema(), &doc(json!({"title": "t", "mode": "c"})));
        assert_eq!(errs[0].kind, FieldErrorKind::NotSupported);
        assert_eq!(
            errs[0].message,
            r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#
        );
        assert_eq!(
            messages(json!({"title": "t", "slug": "ABC"})),
            [r#"spec.slug: Invalid value: "ABC": spec.slug in body should match '^[a-z]+$'"#]
        );
    }

    #[test]
    fn list_items_and_sizes_are_validated_with_indexed_paths() {
        assert_eq!(
            messages(json!({"title": "t", "tags": ["a", "bb", "cc"]})),
            [
                r#"spec.tags[0]: Invalid value: "a": spec.tags[0] in body should be at least 2 chars long"#,
                "spec.tags: Too many: 3: must have at most 2 items",
            ]
        );
        assert_eq!(
            messages(json!({"title": "t", "tags": []})),
            ["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]
        );
    }

    #[test]
    fn additional_properties_schemas_validate_every_value() {
        assert_eq!(
            messages(json!({"title": "t", "labels": {"a": 1}})),
            [
                r#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#
            ]
        );
    }

    #[test]
    fn date_time_format_is_checked() {
        assert_eq!(
            messages(json!({"title": "t", "at": "yesterday"})),
            [
                r#"spec.at: Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday""#
            ]
        );
    }

    #[test]
    fn metadata_is_only_checked_for_name() {
        let mut obj = doc(json!({"title": "t"}));
        obj["metadata"] = json!({"name": "much-too-long-name", "labels": {"a": "b"}});
        let errs = validate(&document_schema(), &obj);
        assert_eq!(
            errs.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["metadata.name: Too long: may not be more than 10 bytes"]
        );
    }

    #[test]
    fn invalid_message_joins_errors_like_the_apiserver() {
        let errs = validate(&document_schema(), &doc(json!({"hide": "no"})));
        assert_eq!(
            invalid_message("Document", "kube.rs", "x", &errs[..1]),
            r#"Document.kube.rs "x" is invalid: spec.title: Required value"#
        );
        assert_eq!(
            invalid_message("Document", "kube.rs", "x", &errs),
            r#"Document.kube.rs "x" is invalid: [spec.title: Required value, spec.hide: Invalid value: "string": spec.hide in body must be of type boolean: "string"]"#
        );
        assert_eq!(
            invalid_message("Pod", "", "p", &[]),
            r#"Pod "p" is invalid"#
        );
        assert_eq!(
            errs[0].cause(),
            json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.title"})
        );
    }

    #[test]
    fn list_type_set_and_map_duplicates_are_reported_after_schema_errors() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}}
        }}}});
        let obj = json!({"spec": {
            "tags": ["a", "b", "a"],
            "ports": [{"name": "x", "n": 1}, {"name": "x", "n": 2}, {"n": "three"}]
        }});
        let errs: Vec<String> = validate(&schema, &obj)
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(
            errs,
            [
                r#"spec.ports[2].n: Invalid value: "string": spec.ports[2].n in body must be of type integer: "string""#,
                r#"spec.ports[1]: Duplicate value: map[string]interface {}{"name":"x"}"#,
                "spec.ports[2].name: Required value",
                r#"spec.tags[2]: Duplicate value: "a""#,
            ]
        );
    }

    #[test]
    fn prune_removes_unknown_fields_but_keeps_the_resource_envelope() {
        let mut obj = doc(json!({
            "title": "t", "bogus": 1,
            "extra": {"kept": {"deep": true}},
            "labels": {"free": "form"},
            "nested": {"level": 1, "unknown": "x"}
        }));
        obj["metadata"]["whatever"] = json!("kept");
        obj["topLevel"] = json!("gone");
        obj["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "junk": 1}]});
        prune(&document_schema(), &mut obj);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "kube.rs/v1", "kind": "Document",
                "metadata": {"name": "x", "whatever": "kept"},
                "spec": {
                    "title": "t",
                    "extra": {"kept": {"deep": true}},
                    "labels": {"free": "form"},
                    "nested": {"level": 1}
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}
            })
        );
    }

    #[test]
    fn an_object_schema_without_properties_prunes_everything() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object"}}});
        let mut obj = json!({"spec": {"a": 1}});
        prune(&schema, &mut obj);
        assert_eq!(obj, json!({"spec": {}}));
    }

    #[test]
    fn defaults_fill_absent_fields_recursively() {
        let mut obj = doc(json!({"title": "t"}));
        apply_defaults(&document_schema(), &mut obj);
        assert_eq!(obj["spec"]["hide"], json!(false));
        assert_eq!(obj["spec"]["nested"], json!({"level": 3}));
        assert_eq!(obj["spec"]["title"], json!("t"));
        assert!(obj["spec"].get("mode").is_none());
    }

    #[test]
    fn defaults_do_not_override_present_values() {
        let mut obj = doc(json!({"title": "t", "hide": true, "nested": {"level": 7}}));
        apply_defaults(&document_schema(), &mut obj);
        assert_eq!(obj["spec"]["hide"], json!(true));
        assert_eq!(obj["spec"]["nested"]["level"], json!(7));
    }

    #[test]
    fn nulls_of_non_nullable_fields_are_defaulted_or_dropped() {
        let mut obj = doc(json!({"title": "t", "hide": null, "mode": null, "note": null}));
        apply_defaults(&document_schema(), &mut obj);
        assert_eq!(obj["spec"]["hide"], json!(false));
        assert!(obj["spec"].get("mode").is_none());
        assert_eq!(obj["spec"]["note"], Value::Null);
    }
}
