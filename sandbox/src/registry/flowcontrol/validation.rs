//! Defaulting and validation of FlowSchemas and PriorityLevelConfigurations, as
//! `pkg/apis/flowcontrol/v1/defaults.go` and `pkg/apis/flowcontrol/validation` do, so that a
//! bad object is refused with the real 422 instead of being silently enforced in some way.
//!
//! Mirrored: `matchingPrecedence` (default 1000, 1..=10000, 1 only for `exempt`), the
//! priority level reference, distinguisher methods, subjects, resource and non-resource
//! rules (required lists, lone wildcards, supported verbs, namespace names, URL paths), the
//! level `type` (`Exempt` exactly for `exempt`), shares and percentages, limit responses and
//! queuing (defaults 64 queues, hand size 8, queue length 50), and the fixed specs of the
//! mandatory objects. Approximated: values Go prints with `%#v` (structs) are shown as JSON.

use serde_json::{Value, json};

use super::bootstrap;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::go_quote;
use crate::meta::validation::{dns1123_label_errors, dns1123_subdomain_errors};
use crate::registry::ResourceInfo;

const SUPPORTED_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
];
const MAX_PRECEDENCE: i64 = 10_000;
const MAX_QUEUES: i64 = 10_000_000;
/// `shufflesharding.MaxHashBits`.
const MAX_HASH_BITS: f64 = 60.0;
const NS_ERR_INTRO: &str = "each member of this list must be '*' or a DNS-1123 label; ";

/// Whether a resource is one of the two kinds this module handles.
fn kind_of(info: &ResourceInfo) -> Option<&'static str> {
    if info.group != super::GROUP {
        return None;
    }
    match info.resource.as_str() {
        "flowschemas" => Some("FlowSchema"),
        "prioritylevelconfigurations" => Some("PriorityLevelConfiguration"),
        _ => None,
    }
}

fn set_default(obj: &mut Value, pointer: &str, key: &str, value: Value) {
    if let Some(map) = obj.pointer_mut(pointer).and_then(Value::as_object_mut)
        && map.get(key).is_none_or(Value::is_null)
    {
        map.insert(key.to_owned(), value);
    }
}

/// Applies the v1 defaults to a FlowSchema or PriorityLevelConfiguration; other objects are
/// left alone.
pub(crate) fn default(info: &ResourceInfo, obj: &mut Value) {
    match kind_of(info) {
        Some("FlowSchema") => {
            let zero = obj
                .pointer("/spec/matchingPrecedence")
                .and_then(Value::as_i64)
                == Some(0);
            if zero && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("matchingPrecedence");
            }
            set_default(obj, "/spec", "matchingPrecedence", json!(1000));
        }
        Some(_) => {
            set_default(obj, "/spec/exempt", "nominalConcurrencyShares", json!(0));
            set_default(obj, "/spec/exempt", "lendablePercent", json!(0));
            set_default(obj, "/spec/limited", "nominalConcurrencyShares", json!(30));
            set_default(obj, "/spec/limited", "lendablePercent", json!(0));
            let queuing = "/spec/limited/limitResponse/queuing";
            for (key, value) in [("handSize", 8), ("queues", 64), ("queueLengthLimit", 50)] {
                let zero = obj
                    .pointer(&format!("{queuing}/{key}"))
                    .and_then(Value::as_i64)
                    == Some(0);
                if zero && let Some(q) = obj.pointer_mut(queuing).and_then(Value::as_object_mut) {
                    q.remove(key);
                }
                set_default(obj, queuing, key, json!(value));
            }
        }
        None => {}
    }
}

/// The field errors of one object.
#[derive(Default)]
struct Errors(Vec<Cause>);

impl Errors {
    fn push(&mut self, reason: &str, field: &str, message: String) {
        self.0.push(Cause {
            reason: reason.into(),
            message,
            field: field.into(),
        });
    }

    fn invalid(&mut self, field: &str, value: &str, detail: &str) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {value}: {detail}"),
        );
    }

    fn required(&mut self, field: &str, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        self.push("FieldValueRequired", field, message);
    }

    fn forbidden(&mut self, field: &str, detail: &str) {
        self.push("FieldValueForbidden", field, format!("Forbidden: {detail}"));
    }

    fn not_supported(&mut self, field: &str, value: &str, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
        self.push(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        );
    }
}

fn strings(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Go's `%#v` of a `[]string`.
fn go_strings(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn str_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn int_at(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// A verb list: required, a lone `*`, or supported verbs.
fn check_verbs(errs: &mut Errors, path: &str, verbs: &[String]) {
    let field = format!("{path}.verbs");
    if verbs.is_empty() {
        errs.required(&field, "verbs must contain at least one value");
    } else if verbs.iter().any(|v| v == "*") {
        if verbs.len() > 1 {
            errs.invalid(
                &field,
                &go_strings(verbs),
                "if '*' is present, must not specify other verbs",
            );
        }
    } else if verbs.iter().any(|v| !SUPPORTED_VERBS.contains(&v.as_str())) {
        errs.not_supported(&field, &go_strings(verbs), SUPPORTED_VERBS);
    }
}

fn check_subject(errs: &mut Errors, path: &str, subject: &Value) {
    let kind = str_at(subject, "/kind");
    let present = |key: &str| subject.get(key).is_some_and(|v| !v.is_null());
    let others: &[(&str, &str)] = match kind {
        "ServiceAccount" => {
            let field = format!("{path}.serviceAccount");
            if present("serviceAccount") {
                let name = str_at(subject, "/serviceAccount/name");
                if name.is_empty() {
                    errs.required(&format!("{field}.name"), "");
                } else if name != "*" {
                    for e in dns1123_subdomain_errors(name) {
                        errs.invalid(&format!("{field}.name"), &go_quote(name), &e);
                    }
                }
                let ns = str_at(subject, "/serviceAccount/namespace");
                if ns.is_empty() {
                    errs.required(
                        &format!("{field}.namespace"),
                        "must specify namespace for service account",
                    );
                } else {
                    for e in dns1123_label_errors(ns) {
                        errs.invalid(&format!("{field}.namespace"), &go_quote(ns), &e);
                    }
                }
            } else {
                errs.required(
                    &field,
                    "serviceAccount is required when subject kind is 'ServiceAccount'",
                );
            }
            &[("user", "User"), ("group", "Group")]
        }
        "User" | "Group" => {
            let key = if kind == "User" { "user" } else { "group" };
            let field = format!("{path}.{key}");
            if !present(key) {
                errs.required(
                    &field,
                    &format!("{key} is required when subject kind is '{kind}'"),
                );
            } else if str_at(subject, &format!("/{key}/name")).is_empty() {
                errs.required(&format!("{field}.name"), "");
            }
            if kind == "User" {
                &[("serviceAccount", "ServiceAccount"), ("group", "Group")]
            } else {
                &[("serviceAccount", "ServiceAccount"), ("user", "User")]
            }
        }
        other => {
            errs.not_supported(
                &format!("{path}.kind"),
                &go_quote(other),
                &["Group", "ServiceAccount", "User"],
            );
            &[]
        }
    };
    for (key, its_kind) in others {
        if present(key) {
            errs.forbidden(
                &format!("{path}.{key}"),
                &format!("{key} is forbidden when subject kind is not '{its_kind}'"),
            );
        }
    }
}

fn check_resource_rule(errs: &mut Errors, path: &str, rule: &Value) {
    check_verbs(errs, path, &strings(rule, "verbs"));
    let lone = |errs: &mut Errors, key: &str, what: &str, required: &str| {
        let list = strings(rule, key);
        let field = format!("{path}.{key}");
        if list.is_empty() {
            errs.required(&field, required);
        } else if list.len() > 1 && list.iter().any(|v| v == "*") {
            errs.invalid(
                &field,
                &go_strings(&list),
                &format!("if '*' is present, must not specify other {what}"),
            );
        }
    };
    lone(
        errs,
        "apiGroups",
        "api groups",
        "resource rules must supply at least one api group",
    );
    lone(
        errs,
        "resources",
        "resources",
        "resource rules must supply at least one resource",
    );
    let namespaces = strings(rule, "namespaces");
    let cluster = rule
        .get("clusterScope")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let field = format!("{path}.namespaces");
    if namespaces.is_empty() && !cluster {
        errs.required(
            &field,
            "resource rules that are not cluster scoped must supply at least one namespace",
        );
    } else if namespaces.iter().any(|n| n == "*") {
        if namespaces.len() > 1 {
            errs.invalid(
                &field,
                &go_strings(&namespaces),
                "if '*' is present, must not specify other namespaces",
            );
        }
    } else {
        for (i, ns) in namespaces.iter().enumerate() {
            for e in dns1123_label_errors(ns) {
                errs.invalid(
                    &format!("{field}[{i}]"),
                    &go_quote(ns),
                    &format!("{NS_ERR_INTRO}{e}"),
                );
            }
        }
    }
}

/// `ValidateNonResourceURLPath`.
fn url_error(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return Some("must not be empty");
    }
    if url == "/" {
        return None;
    }
    if !url.starts_with('/') {
        return Some("must start with slash");
    }
    if url.contains(' ') {
        return Some("must not contain white-space");
    }
    if url.contains("//") {
        return Some("must not contain double slash");
    }
    let stars = url.matches('*').count();
    if stars > 1 || (stars == 1 && !url.ends_with("/*")) {
        return Some("wildcard can only do suffix matching");
    }
    None
}

fn check_non_resource_rule(errs: &mut Errors, path: &str, rule: &Value) {
    check_verbs(errs, path, &strings(rule, "verbs"));
    let urls = strings(rule, "nonResourceURLs");
    let field = format!("{path}.nonResourceURLs");
    if urls.is_empty() {
        errs.required(&field, "nonResourceURLs must contain at least one value");
    } else if urls.iter().any(|u| u == "*") {
        if urls.len() > 1 {
            errs.invalid(
                &field,
                &go_strings(&urls),
                "if '*' is present, must not specify other non-resource URLs",
            );
        }
    } else {
        for (i, url) in urls.iter().enumerate() {
            if let Some(e) = url_error(url) {
                errs.invalid(&format!("{field}[{i}]"), &go_quote(url), e);
            }
        }
    }
}

fn items<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn check_flow_schema(errs: &mut Errors, name: &str, obj: &Value) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let precedence = int_at(&spec, "/matchingPrecedence").unwrap_or(0);
    let field = "spec.matchingPrecedence";
    if precedence <= 0 {
        errs.invalid(field, &precedence.to_string(), "must be a positive value");
    }
    if precedence > MAX_PRECEDENCE {
        errs.invalid(
            field,
            &precedence.to_string(),
            &format!("must not be greater than {MAX_PRECEDENCE}"),
        );
    }
    if precedence == 1 && name != bootstrap::EXEMPT {
        errs.invalid(
            field,
            "1",
            "only the schema named 'exempt' may have matchingPrecedence 1",
        );
    }
    if let Some(method) = spec.get("distinguisherMethod").filter(|m| !m.is_null()) {
        let kind = str_at(method, "/type");
        if kind != "ByUser" && kind != "ByNamespace" {
            errs.not_supported(
                "spec.distinguisherMethod.type",
                &format!(
                    "flowcontrol.FlowDistinguisherMethod{{Type:{}}}",
                    go_quote(kind)
                ),
                &["ByNamespace", "ByUser"],
            );
        }
    }
    let level = str_at(&spec, "/priorityLevelConfiguration/name");
    let field = "spec.priorityLevelConfiguration.name";
    if level.is_empty() {
        errs.required(field, "must reference a priority level");
    } else {
        for e in dns1123_subdomain_errors(level) {
            errs.invalid(field, &go_quote(level), &e);
        }
    }
    for (i, rule) in items(&spec, "rules").enumerate() {
        let path = format!("spec.rules[{i}]");
        let subjects: Vec<&Value> = items(rule, "subjects").collect();
        if subjects.is_empty() {
            errs.required(
                &format!("{path}.subjects"),
                "subjects must contain at least one value",
            );
        }
        for (j, subject) in subjects.into_iter().enumerate() {
            check_subject(errs, &format!("{path}.subjects[{j}]"), subject);
        }
        let resource_rules: Vec<&Value> = items(rule, "resourceRules").collect();
        let non_resource_rules: Vec<&Value> = items(rule, "nonResourceRules").collect();
        if resource_rules.is_empty() && non_resource_rules.is_empty() {
            errs.required(
                &path,
                "at least one of resourceRules and nonResourceRules has to be non-empty",
            );
        }
        for (j, r) in resource_rules.into_iter().enumerate() {
            check_resource_rule(errs, &format!("{path}.resourceRules[{j}]"), r);
        }
        for (j, r) in non_resource_rules.into_iter().enumerate() {
            check_non_resource_rule(errs, &format!("{path}.nonResourceRules[{j}]"), r);
        }
    }
    if bootstrap::is_mandatory(name)
        && let Some(fixed) = bootstrap::mandatory_schema(name)
        && fixed.get("spec") != obj.get("spec")
    {
        errs.invalid(
            "spec",
            &spec.to_string(),
            &format!("spec of '{name}' must equal the fixed value"),
        );
    }
}

fn check_percent(errs: &mut Errors, field: &str, value: Option<i64>) {
    if let Some(p) = value
        && !(0..=100).contains(&p)
    {
        errs.invalid(
            field,
            &p.to_string(),
            "must be between 0 and 100, inclusive",
        );
    }
}

fn check_queuing(errs: &mut Errors, queuing: &Value) {
    let path = "spec.limited.limitResponse.queuing";
    let qll = int_at(queuing, "/queueLengthLimit").unwrap_or(0);
    if qll <= 0 {
        errs.invalid(
            &format!("{path}.queueLengthLimit"),
            &qll.to_string(),
            "must be positive",
        );
    }
    let queues = int_at(queuing, "/queues").unwrap_or(0);
    if queues <= 0 {
        errs.invalid(
            &format!("{path}.queues"),
            &queues.to_string(),
            "must be positive",
        );
    } else if queues > MAX_QUEUES {
        errs.invalid(
            &format!("{path}.queues"),
            &queues.to_string(),
            &format!("must not be greater than {MAX_QUEUES}"),
        );
    }
    let hand = int_at(queuing, "/handSize").unwrap_or(0);
    let field = format!("{path}.handSize");
    if hand <= 0 {
        errs.invalid(&field, &hand.to_string(), "must be positive");
    } else if hand > queues {
        errs.invalid(
            &field,
            &hand.to_string(),
            &format!("should not be greater than queues ({queues})"),
        );
    } else if required_entropy_bits(queues, hand) > MAX_HASH_BITS {
        errs.invalid(
            &field,
            &hand.to_string(),
            &format!(
                "required entropy bits of deckSize {queues} and handSize {hand} should not be greater than {MAX_HASH_BITS}"
            ),
        );
    }
}

/// `shufflesharding.RequiredEntropyBits`: `ceil(log2(deck) × hand)`.
fn required_entropy_bits(deck: i64, hand: i64) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        reason = "queue counts are at most 10^7, exact in f64"
    )]
    let bits = ((deck as f64).log2() * hand as f64).ceil();
    bits
}

fn check_priority_level(errs: &mut Errors, name: &str, obj: &Value) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let kind = str_at(&spec, "/type");
    if (name == bootstrap::EXEMPT) != (kind == "Exempt") {
        errs.invalid(
            "spec.type",
            &go_quote(kind),
            "type must be 'Exempt' if and only if name is 'exempt'",
        );
    }
    let present = |key: &str| spec.get(key).is_some_and(|v| !v.is_null());
    match kind {
        "Exempt" => {
            if present("limited") {
                errs.forbidden("spec.limited", "must be nil if the type is not Limited");
            }
            if let Some(shares) = int_at(&spec, "/exempt/nominalConcurrencyShares")
                && shares < 0
            {
                errs.invalid(
                    "spec.exempt.nominalConcurrencyShares",
                    &shares.to_string(),
                    "must be a non-negative integer",
                );
            }
            check_percent(
                errs,
                "spec.exempt.lendablePercent",
                int_at(&spec, "/exempt/lendablePercent"),
            );
        }
        "Limited" => {
            if present("exempt") {
                errs.forbidden("spec.exempt", "must be nil if the type is Limited");
            }
            if !present("limited") {
                errs.required("spec.limited", "must not be empty when type is Limited");
            } else {
                if let Some(shares) = int_at(&spec, "/limited/nominalConcurrencyShares")
                    && shares < 0
                {
                    errs.invalid(
                        "spec.limited.nominalConcurrencyShares",
                        &shares.to_string(),
                        "must be a non-negative integer",
                    );
                }
                let response = spec
                    .pointer("/limited/limitResponse")
                    .cloned()
                    .unwrap_or(Value::Null);
                let queuing = response.get("queuing").filter(|q| !q.is_null());
                match str_at(&response, "/type") {
                    "Reject" => {
                        if queuing.is_some() {
                            errs.forbidden(
                                "spec.limited.limitResponse.queuing",
                                "must be nil if limited.limitResponse.type is not Limited",
                            );
                        }
                    }
                    "Queue" => match queuing {
                        None => errs.required(
                            "spec.limited.limitResponse.queuing",
                            "must not be empty if limited.limitResponse.type is Limited",
                        ),
                        Some(q) => check_queuing(errs, q),
                    },
                    other => errs.not_supported(
                        "spec.limited.limitResponse.type",
                        &go_quote(other),
                        &["Queue", "Reject"],
                    ),
                }
                check_percent(
                    errs,
                    "spec.limited.lendablePercent",
                    int_at(&spec, "/limited/lendablePercent"),
                );
                if let Some(p) = int_at(&spec, "/limited/borrowingLimitPercent")
                    && p < 0
                {
                    errs.invalid(
                        "spec.limited.borrowingLimitPercent",
                        &p.to_string(),
                        "if specified, must be a non-negative integer",
                    );
                }
            }
        }
        other => errs.not_supported("spec.type", &go_quote(other), &["Exempt", "Limited"]),
    }
    if bootstrap::is_mandatory(name)
        && let Some(fixed) = bootstrap::mandatory_level(name)
    {
        let (mut want, mut have) = (fixed["spec"].clone(), spec.clone());
        let detail = if name == bootstrap::EXEMPT {
            for s in [&mut want, &mut have] {
                if let Some(m) = s.as_object_mut() {
                    m.remove("exempt");
                }
            }
            format!("spec of '{name}' except the 'spec.exempt' field must equal the fixed value")
        } else {
            format!("spec of '{name}' must equal the fixed value")
        };
        if want != have {
            errs.invalid("spec", &spec.to_string(), &detail);
        }
    }
}

/// Validates a FlowSchema or PriorityLevelConfiguration (already defaulted); `Ok` for other
/// objects.
pub(crate) fn validate(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let Some(kind) = kind_of(info) else {
        return Ok(());
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut errs = Errors::default();
    if kind == "FlowSchema" {
        check_flow_schema(&mut errs, name, obj);
    } else {
        check_priority_level(&mut errs, name, obj);
    }
    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(super::GROUP, kind, name, errs.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn info(resource: &str) -> ResourceInfo {
        ResourceInfo {
            group: super::super::GROUP.into(),
            resource: resource.into(),
            ..ResourceInfo::default()
        }
    }

    fn message(info: &ResourceInfo, mut obj: Value) -> String {
        default(info, &mut obj);
        validate(info, &obj).unwrap_err().to_string()
    }

    #[test]
    fn the_bootstrap_objects_are_valid() {
        for obj in bootstrap::flow_schemas() {
            validate(&info("flowschemas"), &obj).unwrap();
        }
        for obj in bootstrap::priority_levels() {
            validate(&info("prioritylevelconfigurations"), &obj).unwrap();
        }
    }

    #[test]
    fn a_flow_schema_without_subjects_or_rules_is_invalid_with_the_real_messages() {
        let msg = message(
            &info("flowschemas"),
            json!({"metadata": {"name": "x"}, "spec": {
                "priorityLevelConfiguration": {"name": "p"},
                "rules": [{"subjects": [], "resourceRules": [{"verbs": ["get", "fly"], "apiGroups": ["*"], "resources": ["*"]}]}]}}),
        );
        assert_eq!(
            msg,
            "FlowSchema.flowcontrol.apiserver.k8s.io \"x\" is invalid: [spec.rules[0].subjects: Required value: subjects must contain at least one value, \
             spec.rules[0].resourceRules[0].verbs: Unsupported value: []string{\"get\", \"fly\"}: supported values: \"create\", \"delete\", \"deletecollection\", \"get\", \"list\", \"patch\", \"proxy\", \"update\", \"watch\", \
             spec.rules[0].resourceRules[0].namespaces: Required value: resource rules that are not cluster scoped must supply at least one namespace]"
        );
    }

    #[test]
    fn limited_levels_are_defaulted_and_checked() {
        let i = info("prioritylevelconfigurations");
        let mut obj = json!({"metadata": {"name": "p"}, "spec": {"type": "Limited", "limited": {
            "limitResponse": {"type": "Queue", "queuing": {}}}}});
        default(&i, &mut obj);
        assert_eq!(obj["spec"]["limited"]["nominalConcurrencyShares"], 30);
        assert_eq!(
            obj["spec"]["limited"]["limitResponse"]["queuing"]["handSize"],
            8
        );
        validate(&i, &obj).unwrap();
        let msg = message(
            &i,
            json!({"metadata": {"name": "p"}, "spec": {"type": "Limited", "limited": {
                "lendablePercent": 101, "limitResponse": {"type": "Reject", "queuing": {"queues": 1}}}}}),
        );
        assert!(
            msg.contains("spec.limited.limitResponse.queuing: Forbidden"),
            "{msg}"
        );
        assert!(
            msg.contains("spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive"),
            "{msg}"
        );
        let exempt = message(
            &i,
            json!({"metadata": {"name": "p"}, "spec": {"type": "Exempt"}}),
        );
        assert!(exempt.contains("type must be 'Exempt' if and only if name is 'exempt'"));
    }

    #[test]
    fn mandatory_specs_are_fixed() {
        let mut catch_all = bootstrap::mandatory_schema("catch-all").unwrap();
        catch_all["spec"]["matchingPrecedence"] = json!(9999);
        let msg = message(&info("flowschemas"), catch_all);
        assert!(
            msg.contains("spec of 'catch-all' must equal the fixed value"),
            "{msg}"
        );
    }
}
