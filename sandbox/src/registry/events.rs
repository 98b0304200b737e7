//! core/v1 `events` and `events.k8s.io/v1` `events` as two API versions of one stored
//! resource, like the real kube-apiserver serves them.
//!
//! Upstream, both versions convert to the internal `core.Event`, which is what etcd stores
//! (under `/registry/events/<ns>/<name>`); so an event created through events.k8s.io/v1 (what
//! kube's `Recorder` and client-go's `events.EventRecorder` do) is listed by `kubectl get
//! events` and shown by `kubectl describe`, which read core/v1, with the same name, uid and
//! resourceVersion, and watches on either version see writes made through the other. The
//! field mapping is `Convert_v1_Event_To_core_Event` / `Convert_core_Event_To_v1_Event`
//! (<https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/events/v1/conversion.go>)
//! plus the generated conversions of the fields whose internal names match.
//!
//! The sandbox stores the core/v1 shape under the core key. Requests to events.k8s.io/v1 run
//! the whole write pipeline (patches, server-side apply, managed fields, no-op detection) on
//! the stored object converted to v1, and the result is converted back before it is stored
//! ([`V1Events`]'s `to_served` and `to_stored`, which the verbs apply around every write);
//! responses, list items and watch events are converted to v1 on the way out. Field selectors are evaluated on the object as the request's
//! version shows it, which matches upstream's label conversion (`regarding.name` →
//! `involvedObject.name`, `reportingController` → `reportingComponent`) ([`selectable`]).
//! Writes are validated like upstream's `ValidateEventCreate`/`ValidateEventUpdate`
//! ([`validate`]): strict through events.k8s.io/v1, legacy-only through core/v1.
//!
//! Approximated: the stored object keeps what the client sent (the apiserver re-serializes
//! the internal object, so core/v1 reads there also show `firstTimestamp: null`, `source: {}`
//! and microsecond `eventTime`s); managedFields entries keep the field paths of the version
//! they were written at, but are not converted when another version's manager is compared
//! with them; events never expire (the apiserver's `--event-ttl` is one hour).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::ResourceInfo;
use super::strategy::Strategy;
use crate::meta::error::{ApiError, Cause};
use crate::meta::gofmt::{self, go_quote};
use crate::meta::object::meta_str;
use crate::meta::validation::label_key_errors;
use crate::storage::ResKey;

/// The group of the newer Event API.
pub(crate) const GROUP: &str = "events.k8s.io";

/// core/v1 `events`: the stored resource.
pub(crate) struct CoreEvents;

impl Strategy for CoreEvents {
    fn validate(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ApiError> {
        validate(info, old, new)
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }

    fn selectable<'v>(&self, stored: &'v Value) -> Cow<'v, Value> {
        Cow::Owned(selectable(Version::Core, stored))
    }
}

/// events.k8s.io/v1 `events`: a second view of the stored core/v1 events.
pub(crate) struct V1Events;

impl Strategy for V1Events {
    fn validate(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ApiError> {
        validate(info, old, new)
    }

    /// `AddFieldLabelConversionsForEvent` of events.k8s.io/v1, which maps these onto the core
    /// selectable fields ([`selectable`]).
    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "source",
            "type",
        ]
    }

    fn selectable<'v>(&self, stored: &'v Value) -> Cow<'v, Value> {
        Cow::Owned(selectable(Version::V1, stored))
    }

    /// Stored under the core events.
    fn storage(&self, _info: &ResourceInfo) -> ResKey {
        (String::new(), "events".to_owned())
    }

    /// Patches apply to v1 field names (kube's `Recorder` sends merge patches with `series`),
    /// and managed fields record v1 paths under `events.k8s.io/v1`, as the apiserver's field
    /// manager does for requests at that version.
    fn to_served<'v>(&self, stored: &'v Value) -> Cow<'v, Value> {
        Cow::Owned(to_v1(stored))
    }

    fn to_stored(&self, served: Value) -> Value {
        to_core(&served)
    }

    fn internal_group<'i>(&self, _info: &'i ResourceInfo) -> &'i str {
        kind_group_v1()
    }
}

/// Field names in events.k8s.io/v1 (left) and core/v1 (right). Fields absent from an object
/// stay absent in its conversion; `null`s are carried over as `null`s.
///
/// Upstream: `regarding` ↔ `involvedObject`, `note` ↔ `message`, `deprecatedSource` ↔
/// `source`, `deprecated{First,Last}Timestamp` ↔ `{first,last}Timestamp` and
/// `deprecatedCount` ↔ `count` are the hand-written part of the conversion;
/// `reportingController` ↔ `reportingComponent` is the internal `ReportingController` field,
/// which core/v1 serializes as `reportingComponent`; the rest keep their names. Notably
/// `series.count` is *not* copied into core `count` (nor `reportingController` into
/// `source.component`): the printers and `kubectl describe` read `series` and
/// `reportingComponent` themselves.
const FIELDS: &[(&str, &str)] = &[
    ("action", "action"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedSource", "source"),
    ("eventTime", "eventTime"),
    ("note", "message"),
    ("reason", "reason"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("series", "series"),
    ("type", "type"),
];

/// Whether `info` is the events.k8s.io/v1 view of the stored core events.
fn is_v1(info: &ResourceInfo) -> bool {
    info.group == GROUP && info.resource == "events"
}

/// The version of the Event resource a request is served at, for field selectors; `None`
/// for every other resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// core/v1 `events`.
    Core,
    /// events.k8s.io/v1 `events`.
    V1,
}

impl Version {
    /// The Event version `info` serves, if it is one of the two.
    #[cfg(test)]
    fn of(info: &ResourceInfo) -> Option<Self> {
        if is_v1(info) {
            Some(Self::V1)
        } else if info.group.is_empty() && info.resource == "events" {
            Some(Self::Core)
        } else {
            None
        }
    }
}

/// Copies `metadata` and the mapped fields of `obj` into a new Event of `api_version`.
fn convert(
    obj: &Value,
    api_version: &str,
    pairs: impl Iterator<Item = (&'static str, &'static str)>,
) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.to_owned()));
    out.insert("kind".into(), Value::String("Event".to_owned()));
    if let Some(meta) = obj.get("metadata") {
        out.insert("metadata".into(), meta.clone());
    }
    for (from, to) in pairs {
        if let Some(value) = obj.get(from) {
            out.insert(to.to_owned(), value.clone());
        }
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as core/v1 (`Convert_v1_Event_To_core_Event`).
fn to_core(obj: &Value) -> Value {
    convert(obj, "v1", FIELDS.iter().map(|(v1, core)| (*v1, *core)))
}

/// A core/v1 Event as events.k8s.io/v1 (`Convert_core_Event_To_v1_Event`).
fn to_v1(obj: &Value) -> Value {
    convert(
        obj,
        "events.k8s.io/v1",
        FIELDS.iter().map(|(v1, core)| (*core, *v1)),
    )
}

/// The object a field selector of `version` is evaluated on: the stored (core) object as that
/// version shows it, plus `source`, which upstream's `ToSelectableFields` sets to
/// `source.component`, or `reportingComponent` when that is empty
/// (<https://github.com/kubernetes/kubernetes/blob/master/pkg/registry/core/event/strategy.go>).
fn selectable(version: Version, stored: &Value) -> Value {
    let text = |pointer: &str| {
        stored
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let mut source = text("/source/component");
    if source.is_empty() {
        source = text("/reportingComponent");
    }
    let mut view = match version {
        Version::Core => stored.clone(),
        Version::V1 => to_v1(stored),
    };
    if let Some(map) = view.as_object_mut() {
        map.insert("source".into(), Value::String(source));
    }
    view
}

/// Length limits of `pkg/apis/core/validation/events.go`.
const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// The group of the kind an Event's `Invalid` error names, whichever version it was written
/// through: `rest.BeforeCreate`/`BeforeUpdate` call `errors.NewInvalid(kind.GroupKind(), ...)`
/// with the kind the scheme gives the *internal* object, and both versions are served by one
/// store of the internal `core.Event` (`pkg/registry/events/rest` reuses
/// `pkg/registry/core/event/storage`), so the message says `Event "x" is invalid`, never
/// `Event.events.k8s.io`. Every other kind's internal group is its API group.
fn kind_group(info: &ResourceInfo) -> &str {
    if is_v1(info) {
        kind_group_v1()
    } else {
        &info.group
    }
}

/// The internal group of events.k8s.io/v1 Events: core's.
fn kind_group_v1() -> &'static str {
    ""
}

/// `ValidateEventCreate` / `ValidateEventUpdate`
/// (<https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/events.go>)
/// for a write through `info` (either Event version); `old` and `new` are in the request's
/// version, and are checked as the internal (core) object, so field paths in the causes use
/// the internal names (`message`, `involvedObject`), like upstream; the reporting controller is
/// `reportingComponent` for a core/v1 request and `reportingController` otherwise, as
/// `legacyValidateEvent` names it. The error names the internal kind ([`kind_group`]).
///
/// Every write gets the legacy checks (namespace agreement; for events with an `eventTime`,
/// the reporting fields, `action` and `reason` are required and the length limits apply).
/// Writes through events.k8s.io/v1 are also strict: on create an `eventTime`, a `type` of
/// `Normal`/`Warning`, a valid `series` and no deprecated fields; on update only `series`
/// (and metadata) may change, which is exactly the PATCH kube's `Recorder` sends for a
/// repeated event. ObjectMeta is checked by `rest::validate_meta` as for every kind.
fn validate(info: &ResourceInfo, old: Option<&Value>, new: &Value) -> Result<(), ApiError> {
    let strict = is_v1(info);
    let convert = |v: &Value| if strict { to_core(v) } else { v.clone() };
    let new = convert(new);
    let old = old.map(convert);
    let controller_field = if strict {
        "reportingController"
    } else {
        "reportingComponent"
    };
    let mut causes = legacy(&new, controller_field);
    if strict {
        match &old {
            None => causes.extend(strict_create(&new)),
            Some(old) => causes.extend(strict_update(old, &new)),
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            kind_group(info),
            &info.kind,
            meta_str(&new, "name"),
            causes,
        ))
    }
}

fn text<'v>(event: &'v Value, pointer: &str) -> &'v str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether a time field is unset (absent, `null` or empty), like Go's zero `time.Time`.
fn zero_time(event: &Value, field: &str) -> bool {
    text(event, &format!("/{field}")).is_empty()
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

/// `field.Invalid` with the bad value as `field.Error` prints it ([`gofmt`]).
fn invalid(field: &str, shown: String, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {shown}: {detail}"),
        field: field.into(),
    }
}

/// The `""` that upstream passes as the bad value of most Event checks.
fn empty() -> String {
    gofmt::string(None)
}

/// `legacyValidateEvent`, which every Event write passes whatever its version;
/// `controller_field` is the path it names the reporting controller by.
fn legacy(event: &Value, controller_field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ns = meta_str(event, "namespace");
    let involved_ns = text(event, "/involvedObject/namespace");
    let mismatch = || {
        invalid(
            "involvedObject.namespace",
            go_quote(involved_ns),
            "does not match event.namespace",
        )
    };
    if zero_time(event, "eventTime") {
        let agrees = if involved_ns.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            ns == involved_ns
        };
        if !agrees {
            causes.push(mismatch());
        }
        return causes;
    }
    if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
        causes.push(mismatch());
    }
    let controller = text(event, "/reportingComponent");
    if controller.is_empty() {
        causes.push(required(controller_field));
    }
    for e in label_key_errors(controller) {
        causes.push(invalid(controller_field, go_quote(controller), &e));
    }
    for (field, limit) in [
        ("reportingInstance", REPORTING_INSTANCE_LIMIT),
        ("action", ACTION_LIMIT),
        ("reason", REASON_LIMIT),
    ] {
        let value = text(event, &format!("/{field}"));
        if value.is_empty() {
            causes.push(required(field));
        }
        if value.len() > limit {
            causes.push(invalid(
                field,
                empty(),
                &format!("can have at most {limit} characters"),
            ));
        }
    }
    if text(event, "/message").len() > NOTE_LIMIT {
        causes.push(invalid(
            "message",
            empty(),
            &format!("can have at most {NOTE_LIMIT} characters"),
        ));
    }
    causes
}

/// `validateV1EventSeries`.
fn series(event: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(series) = event.get("series").filter(|s| !s.is_null()) else {
        return causes;
    };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        causes.push(invalid("series.count", empty(), "should be at least 2"));
    }
    if zero_time(series, "lastObservedTime") {
        causes.push(required("series.lastObservedTime"));
    }
    causes
}

/// The strict part of `ValidateEventCreate` (events.k8s.io/v1).
fn strict_create(event: &Value) -> Vec<Cause> {
    let mut causes = series(event);
    if zero_time(event, "eventTime") {
        causes.push(required("eventTime"));
    }
    let type_ = text(event, "/type");
    if type_ != "Normal" && type_ != "Warning" {
        causes.push(invalid(
            "type",
            empty(),
            &format!("has invalid value: {type_}"),
        ));
    }
    let unset = "needs to be unset";
    for field in ["firstTimestamp", "lastTimestamp"] {
        if !zero_time(event, field) {
            causes.push(invalid(field, empty(), unset));
        }
    }
    if event.get("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
        causes.push(invalid("count", empty(), unset));
    }
    if !text(event, "/source/component").is_empty() || !text(event, "/source/host").is_empty() {
        causes.push(invalid("source", empty(), unset));
    }
    causes
}

/// The Go fields of the internal `core.ObjectReference`, in struct order, with their JSON names.
const OBJECT_REFERENCE: &[(&str, &str)] = &[
    ("Kind", "kind"),
    ("Namespace", "namespace"),
    ("Name", "name"),
    ("UID", "uid"),
    ("APIVersion", "apiVersion"),
    ("ResourceVersion", "resourceVersion"),
    ("FieldPath", "fieldPath"),
];

/// The Go fields of the internal `core.EventSource`.
const EVENT_SOURCE: &[(&str, &str)] = &[("Component", "component"), ("Host", "host")];

/// A field of the internal Event as `ValidateImmutableField`'s error prints its new value.
fn shown(field: &str, value: Option<&Value>) -> String {
    match field {
        "involvedObject" => gofmt::string_struct("core.ObjectReference", OBJECT_REFERENCE, value),
        "related" => gofmt::optional_string_struct("core.ObjectReference", OBJECT_REFERENCE, value),
        "source" => gofmt::string_struct("core.EventSource", EVENT_SOURCE, value),
        "firstTimestamp" | "lastTimestamp" | "eventTime" => gofmt::time(value),
        "count" => gofmt::integer(value),
        _ => gofmt::string(value),
    }
}

/// The strict part of `ValidateEventUpdate` (events.k8s.io/v1): everything but `series` and
/// metadata is immutable. The paths are the internal field names (`message`, not `note`);
/// `reason` is checked twice upstream, so it is here.
fn strict_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if zeroed(new.get("series")) != zeroed(old.get("series")) {
        causes.extend(series(new));
    }
    for (field, core) in [
        ("involvedObject", "involvedObject"),
        ("reason", "reason"),
        ("message", "message"),
        ("source", "source"),
        ("firstTimestamp", "firstTimestamp"),
        ("lastTimestamp", "lastTimestamp"),
        ("count", "count"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
    ] {
        if zeroed(new.get(core)) != zeroed(old.get(core)) {
            causes.push(invalid(
                field,
                shown(field, new.get(core)),
                "field is immutable",
            ));
        }
    }
    causes
}

/// A value with Go's zero values (`null`, `""`, `0`, `false`, empty objects, and fields holding
/// them) folded into `null`, and timestamps compared by instant, so that two serializations
/// of the same internal object compare equal.
fn zeroed(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null | Value::Bool(false)) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Value::from(t.as_microsecond()),
            Err(_) => Value::String(s.clone()),
        },
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Value::Null,
        Some(Value::Object(map)) => {
            let kept: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), zeroed(Some(v))))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Some(other) => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorder_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "x.1", "namespace": "ns"},
            "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
            "note": "done", "eventTime": "2025-06-01T11:59:00.000000Z",
            "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "ns", "uid": "u"},
            "related": {"kind": "Pod", "name": "p"},
            "reportingController": "ctl", "reportingInstance": "ctl-1",
            "series": {"count": 2, "lastObservedTime": "2025-06-01T11:59:30.000000Z"},
            "deprecatedSource": {"component": "c", "host": "h"},
            "deprecatedFirstTimestamp": "2025-06-01T11:00:00Z",
            "deprecatedLastTimestamp": "2025-06-01T11:30:00Z",
            "deprecatedCount": 3,
        })
    }

    #[test]
    fn v1_fields_map_to_their_core_names_and_back() {
        let core = to_core(&recorder_event());
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "x.1", "namespace": "ns"},
                "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
                "message": "done", "eventTime": "2025-06-01T11:59:00.000000Z",
                "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "ns", "uid": "u"},
                "related": {"kind": "Pod", "name": "p"},
                "reportingComponent": "ctl", "reportingInstance": "ctl-1",
                "series": {"count": 2, "lastObservedTime": "2025-06-01T11:59:30.000000Z"},
                "source": {"component": "c", "host": "h"},
                "firstTimestamp": "2025-06-01T11:00:00Z",
                "lastTimestamp": "2025-06-01T11:30:00Z",
                "count": 3,
            })
        );
        assert_eq!(to_v1(&core), recorder_event());
    }

    #[test]
    fn absent_fields_stay_absent_and_unknown_ones_are_dropped() {
        let core = to_core(&json!({"metadata": {"name": "e"}, "note": "n", "bogus": 1}));
        assert_eq!(
            core,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "message": "n"})
        );
    }

    #[test]
    fn only_events_k8s_io_events_move_to_the_core_key() {
        let mut info = ResourceInfo {
            group: GROUP.into(),
            resource: "events".into(),
            ..ResourceInfo::default()
        };
        let storage = |info: &ResourceInfo| crate::registry::strategy_of(info).storage(info);
        assert_eq!(storage(&info), (String::new(), "events".to_owned()));
        assert_eq!(Version::of(&info), Some(Version::V1));
        info.group = String::new();
        assert_eq!(Version::of(&info), Some(Version::Core));
        info.resource = "configmaps".into();
        assert_eq!(storage(&info), (String::new(), "configmaps".to_owned()));
        assert_eq!(Version::of(&info), None);
    }

    #[test]
    fn selectors_see_the_request_version_and_source_falls_back_to_the_reporter() {
        let core = to_core(&recorder_event());
        let v1 = selectable(Version::V1, &core);
        assert_eq!(v1["regarding"]["name"], "x");
        assert_eq!(v1["reportingController"], "ctl");
        assert_eq!(v1["source"], "c");
        let mut bare = core.clone();
        if let Some(m) = bare.as_object_mut() {
            m.remove("source");
        }
        assert_eq!(selectable(Version::Core, &bare)["source"], "ctl");
        assert_eq!(
            selectable(Version::Core, &bare)["involvedObject"]["name"],
            "x"
        );
    }

    fn events_info(group: &str) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            resource: "events".into(),
            kind: "Event".into(),
            ..ResourceInfo::default()
        }
    }

    fn fields(result: Result<(), ApiError>) -> Vec<String> {
        match result {
            Ok(()) => Vec::new(),
            Err(ApiError::Invalid { causes, .. }) => causes.into_iter().map(|c| c.field).collect(),
            Err(other) => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// What kube's `Recorder` creates: no series, no deprecated fields.
    fn new_style() -> Value {
        let mut ev = recorder_event();
        if let Some(m) = ev.as_object_mut() {
            for f in [
                "series",
                "deprecatedSource",
                "deprecatedFirstTimestamp",
                "deprecatedLastTimestamp",
                "deprecatedCount",
            ] {
                m.remove(f);
            }
        }
        ev
    }

    #[test]
    fn strict_create_through_v1_and_legacy_rules_for_every_version() {
        let v1 = events_info(GROUP);
        assert!(fields(validate(&v1, None, &new_style())).is_empty());
        assert_eq!(
            fields(validate(&v1, None, &recorder_event())),
            ["firstTimestamp", "lastTimestamp", "count", "source"]
        );
        let mut bad = new_style();
        bad["eventTime"] = Value::Null;
        bad["type"] = json!("Fatal");
        bad["note"] = json!("x".repeat(NOTE_LIMIT + 1));
        bad["series"] = json!({"count": 1});
        assert_eq!(
            fields(validate(&v1, None, &bad)),
            [
                "series.count",
                "series.lastObservedTime",
                "eventTime",
                "type"
            ]
        );
        let mut long = new_style();
        long["note"] = json!("x".repeat(NOTE_LIMIT + 1));
        long["reportingController"] = json!("");
        assert_eq!(
            fields(validate(&v1, None, &long)),
            // Required, then `IsQualifiedName`'s two complaints about "".
            [
                "reportingController",
                "reportingController",
                "reportingController",
                "message"
            ]
        );
        // core/v1: only the legacy rules; an old-style event's namespace must agree.
        let core = events_info("");
        let old_style = json!({"metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}});
        assert_eq!(
            fields(validate(&core, None, &old_style)),
            ["involvedObject.namespace"]
        );
        assert!(fields(validate(&core, None, &to_core(&recorder_event()))).is_empty());
    }

    #[test]
    fn updates_through_v1_may_only_change_the_series() {
        let v1 = events_info(GROUP);
        let old = new_style();
        let mut repeated = old.clone();
        repeated["series"] = json!({"count": 2, "lastObservedTime": "2025-06-01T12:00:00.000000Z"});
        // The same instant written differently is no change.
        repeated["eventTime"] = json!("2025-06-01T11:59:00Z");
        assert!(fields(validate(&v1, Some(&old), &repeated)).is_empty());
        let mut changed = repeated.clone();
        changed["note"] = json!("other");
        changed["reportingController"] = json!("someone-else");
        let err = validate(&v1, Some(&old), &changed);
        assert_eq!(fields(err.clone()), ["message", "reportingController"]);
        let Err(ApiError::Invalid { message, .. }) = err else {
            unreachable!()
        };
        assert!(
            message.starts_with(
                "Event \"x.1\" is invalid: [message: Invalid value: \"other\": field is immutable"
            ),
            "{message}"
        );
        // Struct and time fields show their internal Go values.
        let mut moved = repeated.clone();
        moved["regarding"] = json!({"kind": "Pod", "name": "p", "namespace": "ns"});
        moved["related"] = Value::Null;
        moved["eventTime"] = json!("2025-06-01T12:00:00.5Z");
        let Err(ApiError::Invalid { causes, .. }) = validate(&v1, Some(&old), &moved) else {
            panic!("expected Invalid")
        };
        let messages: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                r#"Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"ns", Name:"p", UID:"", APIVersion:"", ResourceVersion:"", FieldPath:""}: field is immutable"#,
                "Invalid value: 2025-06-01 12:00:00.5 +0000 UTC: field is immutable",
                "Invalid value: null: field is immutable",
            ]
        );
        // core/v1 updates are not restricted.
        let core = events_info("");
        assert!(fields(validate(&core, Some(&to_core(&old)), &to_core(&changed))).is_empty());
    }

    #[test]
    fn the_v1_view_serves_v1_and_stores_core() {
        let stored = to_core(&recorder_event());
        let mut served = V1Events.to_served(&stored).into_owned();
        assert_eq!(served["note"], "done");
        served["note"] = json!("again");
        let back = V1Events.to_stored(served);
        assert_eq!(back["message"], "again");
        assert_eq!(back["apiVersion"], "v1");
        assert!(back.get("note").is_none());
    }
}
