//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for.
//!
//! kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json`
//! on `get` (and on `get -w`) and prints whatever columns the server chooses, so the
//! columns of `kubectl get documents` are decided here, as the apiserver decides them
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables>):
//!
//! - custom resources: `Name`, then the CRD version's `additionalPrinterColumns`, each
//!   evaluated by JSONPath ([`eval_json_path`], with `jsonpath-rust`); a version without printer columns gets `Name` and `Age`
//!   (apiextensions-apiserver's `tableconvertor` and its `serveDefaultColumnsIfEmpty`). Like
//!   the real server, `Age` is *not* appended when the CRD declares columns;
//! - built-in kinds: the columns of the apiserver's internal printers
//!   (`pkg/printers/internalversion`) for configmaps, namespaces, events, serviceaccounts,
//!   leases, secrets, flowschemas (listed in matching order) and
//!   prioritylevelconfigurations, always generated "wide" (priority-1 columns included;
//!   kubectl hides them unless `-o wide`);
//! - `customresourcedefinitions` and unknown built-ins: the generic `Name` / `Created At`
//!   (respectively `Name` / `Age`) convertor.
//!
//! Each row's `object` is, per `?includeObject=`, a `PartialObjectMetadata` (the default),
//! the full object, or `null`.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::registry::{PrinterColumn, ResourceInfo};

/// `apiVersion` of the tables produced here.
pub(crate) const TABLE_API_VERSION: &str = "meta.k8s.io/v1";

/// Description of the `Name` column: ObjectMeta's `name` documentation, as the apiserver
/// copies it from the swagger docs.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// Description of the `Age` / `Created At` columns: ObjectMeta's `creationTimestamp`
/// documentation.
const CREATION_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// What each row's `object` holds, from the `includeObject` query parameter
/// (`metav1.TableOptions.IncludeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IncludeObject {
    /// `includeObject=None`: `object` is `null`.
    None,
    /// `includeObject=Metadata` (the default): a `PartialObjectMetadata` with the object's
    /// whole `metadata`, which kubectl uses for `-A` namespaces and `--show-labels`.
    #[default]
    Metadata,
    /// `includeObject=Object`: the object itself (kubectl asks for it with `--sort-by`).
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; an absent or empty value is `Metadata`.
    ///
    /// # Errors
    ///
    /// The message of the apiserver's 400 Bad Request for an unknown value.
    pub(crate) fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or_default() {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(format!(
                "unrecognized includeObject value: {}",
                crate::meta::gofmt::go_quote(other)
            )),
        }
    }
}

/// Whether an `Accept` header asks for a `meta.k8s.io` `Table` (`v1` or `v1beta1`) before
/// any plain JSON alternative, i.e. whether the apiserver's content negotiation would pick
/// the Table transform.
pub(crate) fn accepts_table(accept: &str) -> bool {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let mut params: Vec<(&str, &str)> = Vec::new();
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                params.push((k.trim(), v.trim()));
            }
        }
        let get = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if !matches!(media, "application/json" | "*/*" | "application/*") {
            continue;
        }
        match get("as") {
            Some("Table") => {
                if get("g") == Some("meta.k8s.io") && matches!(get("v"), Some("v1" | "v1beta1")) {
                    return true;
                }
            }
            None => return false,
            Some(_) => {}
        }
    }
    false
}

/// The `Table` for a list response (`GET` of a collection with the Table `Accept`).
///
/// `objects` are the list's items; `list_meta` is the list's `metadata` (its
/// `resourceVersion`, `continue` and `remainingItemCount` are copied, as the apiserver's
/// table convertors do — kubectl starts `get -w` from that `resourceVersion`). For the `GET`
/// of a single object use [`object_table`].
pub(crate) fn to_table(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: Value,
    include_object: IncludeObject,
) -> Value {
    build_table(
        info,
        objects,
        &list_meta,
        include_object,
        true,
        Timestamp::now(),
    )
}

/// The `Table` for one object: the `GET` of a named object (`include_headers` true) or the
/// object of a watch event (see [`watch_row_event`]). Its `metadata.resourceVersion` is the
/// object's.
pub(crate) fn object_table(
    info: &ResourceInfo,
    object: &Value,
    include_object: IncludeObject,
    include_headers: bool,
) -> Value {
    let meta = object_list_meta(object);
    build_table(
        info,
        std::slice::from_ref(object),
        &meta,
        include_object,
        include_headers,
        Timestamp::now(),
    )
}

/// One watch event of a watch requested with the Table `Accept` (`kubectl get -w`):
/// `{"type": event_type, "object": <Table with one row>}`.
///
/// Like the apiserver's `watchEmbeddedEncoder`, only the first event of a watch carries
/// `columnDefinitions`; later ones have `"columnDefinitions": null` (kubectl reuses the last
/// columns it saw). So pass `include_headers` true for the first event written on the
/// stream and false afterwards — whatever that first event's type. `ERROR` events carry a
/// `Status`, and `BOOKMARK` events a bare object holding only a `resourceVersion`; neither
/// is a printable row, so both are passed through unchanged (the apiserver also leaves
/// `Status` untransformed; kubectl never asks for bookmarks).
pub(crate) fn watch_row_event(
    info: &ResourceInfo,
    event_type: &str,
    object: &Value,
    include_object: IncludeObject,
    include_headers: bool,
) -> Value {
    let is_status = object.get("kind").and_then(Value::as_str) == Some("Status");
    let object = if is_status || matches!(event_type, "ERROR" | "BOOKMARK") {
        object.clone()
    } else {
        object_table(info, object, include_object, include_headers)
    };
    json!({"type": event_type, "object": object})
}

/// The `PartialObjectMetadata` view of an object (`meta.AsPartialObjectMetadata`): its
/// whole `metadata` under `meta.k8s.io/v1`. Also what `Accept: …;as=PartialObjectMetadata`
/// asks for (kube-rs's metadata watchers).
pub(crate) fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": TABLE_API_VERSION,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Formats how long ago something happened like apimachinery's `duration.HumanDuration`,
/// which every `Age` column uses: `45s`, `3m20s`, `15m`, `5h10m`, `20h`, `3d4h`, `30d`,
/// `2y30d`, `9y`; `0s` up to a second in the future (clock skew) and `<invalid>` beyond.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Evaluates a printer-column JSONPath (client-go `jsonpath` syntax, with or without the
/// surrounding `{}`) against `object` and returns the first match, as the CRD table
/// convertor uses only `results[0][0]`. Missing keys give `None` (the convertor enables
/// `AllowMissingKeys`), as does a path that does not parse.
///
/// The path is evaluated by `jsonpath-rust` (RFC 9535, the crate kube-client evaluates
/// kubeconfig token paths with), after the same rewriting kube-client does: the braces
/// dropped and a leading `$` added, so `.spec.title`, `{.spec.title}` and `spec.title` are
/// `$.spec.title`. Field, index (negative from the end), slice, wildcard, recursive descent
/// and filter (`[?(@.type=="Ready")]`, `[?(@.n > 4)]`, `[?(@.x)]`) selectors read the same in
/// both syntaxes; client-go's `range`/`end` templates do not exist in RFC 9535 and evaluate to
/// nothing here.
pub(crate) fn eval_json_path(path: &str, object: &Value) -> Option<Value> {
    use jsonpath_rust::JsonPath;
    let mut path = path.trim();
    if let Some(inner) = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        path = inner.trim();
    }
    let query = if path.starts_with('$') {
        path.to_owned()
    } else if path.starts_with('.') {
        format!("${path}")
    } else {
        format!("$.{path}")
    };
    object
        .query(&query)
        .ok()?
        .into_iter()
        .find(|v| !v.is_null())
        .cloned()
}

// ---------------------------------------------------------------------------------------
// Table building
// ---------------------------------------------------------------------------------------

/// The column set of a resource, chosen as the apiserver chooses its table convertor.
enum Printer<'a> {
    /// A custom resource version with printer columns.
    Custom(&'a [PrinterColumn]),
    /// A custom resource version without printer columns, or an unknown built-in: Name, Age.
    NameAge,
    /// `rest.DefaultTableConvertor`: Name, Created At.
    NameCreatedAt,
    /// The built-in ConfigMap printer.
    ConfigMap,
    /// The built-in Namespace printer.
    Namespace,
    /// The built-in Event printer (core/v1 and events.k8s.io/v1 events).
    Event,
    /// The built-in ServiceAccount printer.
    ServiceAccount,
    /// The built-in Lease printer.
    Lease,
    /// The built-in Secret printer.
    Secret,
    /// The built-in FlowSchema printer.
    FlowSchema,
    /// The built-in PriorityLevelConfiguration printer.
    PriorityLevel,
}

fn printer(info: &ResourceInfo) -> Printer<'_> {
    if info.custom {
        return if info.printer_columns.is_empty() {
            Printer::NameAge
        } else {
            Printer::Custom(&info.printer_columns)
        };
    }
    match (info.group.as_str(), info.resource.as_str()) {
        ("", "configmaps") => Printer::ConfigMap,
        ("", "namespaces") => Printer::Namespace,
        ("" | "events.k8s.io", "events") => Printer::Event,
        ("", "serviceaccounts") => Printer::ServiceAccount,
        ("coordination.k8s.io", "leases") => Printer::Lease,
        ("", "secrets") => Printer::Secret,
        (crate::registry::flowcontrol::GROUP, "flowschemas") => Printer::FlowSchema,
        (crate::registry::flowcontrol::GROUP, "prioritylevelconfigurations") => {
            Printer::PriorityLevel
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => Printer::NameCreatedAt,
        _ if !info.printer_columns.is_empty() => Printer::Custom(&info.printer_columns),
        _ => Printer::NameAge,
    }
}

/// A `TableColumnDefinition`; every field is always serialised, as in Go.
fn column(name: &str, type_: &str, format: &str, description: &str, priority: i32) -> Value {
    json!({
        "name": name,
        "type": type_,
        "format": format,
        "description": description,
        "priority": priority,
    })
}

fn name_column() -> Value {
    column("Name", "string", "name", NAME_DESCRIPTION, 0)
}

/// The `Age` column of the built-in printers (type `string`; CRDs' default is `date`).
fn age_column() -> Value {
    column("Age", "string", "", CREATION_DESCRIPTION, 0)
}

fn columns(p: &Printer<'_>) -> Vec<Value> {
    match p {
        Printer::Custom(cols) => {
            let mut out = vec![name_column()];
            for c in cols.iter() {
                let description = if c.description.is_empty() {
                    format!(
                        "Custom resource definition column (in JSONPath format): {}",
                        c.json_path
                    )
                } else {
                    c.description.clone()
                };
                out.push(column(
                    &c.name,
                    &c.type_,
                    &c.format,
                    &description,
                    c.priority,
                ));
            }
            out
        }
        Printer::NameAge => vec![
            name_column(),
            column("Age", "date", "", CREATION_DESCRIPTION, 0),
        ],
        Printer::NameCreatedAt => vec![
            name_column(),
            column("Created At", "date", "", CREATION_DESCRIPTION, 0),
        ],
        Printer::ConfigMap => vec![
            name_column(),
            column(
                "Data",
                "string",
                "",
                "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                0,
            ),
            age_column(),
        ],
        Printer::Namespace => vec![
            name_column(),
            column("Status", "string", "", "The status of the namespace", 0),
            age_column(),
        ],
        Printer::Event => vec![
            column(
                "Last Seen",
                "string",
                "",
                "The time at which the most recent occurrence of this event was recorded.",
                0,
            ),
            column(
                "Type",
                "string",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future",
                0,
            ),
            column(
                "Reason",
                "string",
                "",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                0,
            ),
            column(
                "Object",
                "string",
                "",
                "The object that this event is about.",
                0,
            ),
            column(
                "Subobject",
                "string",
                "",
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
                1,
            ),
            column(
                "Source",
                "string",
                "",
                "The component reporting this event. Should be a short machine understandable string.",
                1,
            ),
            column(
                "Message",
                "string",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
            column(
                "First Seen",
                "string",
                "",
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
                1,
            ),
            column(
                "Count",
                "string",
                "",
                "The number of times this event has occurred.",
                1,
            ),
            column("Name", "string", "name", NAME_DESCRIPTION, 1),
        ],
        Printer::ServiceAccount => vec![
            name_column(),
            column(
                "Secrets",
                "string",
                "",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                0,
            ),
            age_column(),
        ],
        Printer::Secret => vec![
            name_column(),
            column(
                "Type",
                "string",
                "",
                "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                0,
            ),
            column(
                "Data",
                "string",
                "",
                "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                0,
            ),
            age_column(),
        ],
        Printer::FlowSchema => vec![
            name_column(),
            column(
                "PriorityLevel",
                "string",
                "",
                "`name` is the name of the priority level configuration being referenced Required.",
                0,
            ),
            column(
                "MatchingPrecedence",
                "string",
                "",
                "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen FlowSchema is among those with the numerically lowest (which we take to be logically highest) MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the precedence is not specified, it will be set to 1000 as default.",
                0,
            ),
            column(
                "DistinguisherMethod",
                "string",
                "",
                "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.",
                0,
            ),
            age_column(),
            column(
                "MissingPL",
                "string",
                "",
                "references a broken or non-existent PriorityLevelConfiguration",
                0,
            ),
        ],
        Printer::PriorityLevel => vec![
            name_column(),
            column(
                "Type",
                "string",
                "",
                "`type` indicates whether this priority level is subject to limitation on request execution.  A value of `\"Exempt\"` means that requests of this priority level are not subject to a limit (and thus are never queued) and do not detract from the capacity made available to other priority levels.  A value of `\"Limited\"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the server's limited capacity is made available exclusively to this priority level. Required.",
                0,
            ),
            column(
                "NominalConcurrencyShares",
                "string",
                "",
                "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level. This is the number of execution seats available at this priority level.",
                0,
            ),
            column(
                "Queues",
                "string",
                "",
                "`queues` is the number of queues for this priority level. The queues exist independently at each apiserver. The value must be positive.  Setting it to 1 effectively precludes shufflesharding and thus makes the distinguisher method of associated flow schemas irrelevant.  This field has a default value of 64.",
                0,
            ),
            column(
                "HandSize",
                "string",
                "",
                "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.  When enqueuing a request at this priority level the request's flow identifier (a string pair) is hashed and the hash value is used to shuffle the list of queues and deal a hand of the size specified here.",
                0,
            ),
            column(
                "QueueLengthLimit",
                "string",
                "",
                "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time; excess requests are rejected.  This value must be positive.  If not specified, it will be defaulted to 50.",
                0,
            ),
            age_column(),
        ],
        Printer::Lease => vec![
            name_column(),
            column(
                "Holder",
                "string",
                "",
                "holderIdentity contains the identity of the holder of a current lease.",
                0,
            ),
            age_column(),
        ],
    }
}

fn str_at<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn len_at(object: &Value, pointer: &str) -> usize {
    match object.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn parse_time(value: &str) -> Option<Timestamp> {
    value.parse::<Timestamp>().ok()
}

/// `translateTimestampSince`: the human duration since an RFC 3339 timestamp, or
/// `<unknown>` when it is absent (Go's zero time).
fn since(value: &str, now: Timestamp) -> String {
    match parse_time(value) {
        Some(t) => human_duration(now.duration_since(t).as_secs()),
        None => "<unknown>".into(),
    }
}

fn age(object: &Value, now: Timestamp) -> String {
    since(str_at(object, "/metadata/creationTimestamp"), now)
}

fn cells(p: &Printer<'_>, object: &Value, now: Timestamp) -> Vec<Value> {
    let name = Value::from(str_at(object, "/metadata/name"));
    match p {
        Printer::Custom(cols) => {
            let mut out = vec![name];
            for c in cols.iter() {
                let value = eval_json_path(&c.json_path, object);
                out.push(cell_for(&c.type_, value, now));
            }
            out
        }
        Printer::NameAge => vec![name, age(object, now).into()],
        Printer::NameCreatedAt => {
            let created = parse_time(str_at(object, "/metadata/creationTimestamp"))
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
            vec![name, created.into()]
        }
        Printer::ConfigMap => {
            let data = len_at(object, "/data") + len_at(object, "/binaryData");
            vec![name, json!(data), age(object, now).into()]
        }
        Printer::Namespace => vec![
            name,
            str_at(object, "/status/phase").into(),
            age(object, now).into(),
        ],
        Printer::ServiceAccount => vec![
            name,
            json!(len_at(object, "/secrets")),
            age(object, now).into(),
        ],
        Printer::Lease => vec![
            name,
            str_at(object, "/spec/holderIdentity").into(),
            age(object, now).into(),
        ],
        Printer::Secret => vec![
            name,
            str_at(object, "/type").into(),
            json!(len_at(object, "/data")),
            age(object, now).into(),
        ],
        Printer::FlowSchema => {
            let method = str_at(object, "/spec/distinguisherMethod/type");
            let dangling = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Dangling"))
                .map_or("?", |c| str_at(c, "/status"));
            vec![
                name,
                str_at(object, "/spec/priorityLevelConfiguration/name").into(),
                json!(
                    object
                        .pointer("/spec/matchingPrecedence")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                ),
                if method.is_empty() { "<none>" } else { method }.into(),
                age(object, now).into(),
                dangling.into(),
            ]
        }
        Printer::PriorityLevel => {
            let limited = object.pointer("/spec/limited").filter(|l| !l.is_null());
            let or_none = |pointer: &str| {
                limited
                    .and_then(|l| l.pointer(pointer))
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or_else(|| "<none>".into())
            };
            vec![
                name,
                str_at(object, "/spec/type").into(),
                or_none("/nominalConcurrencyShares"),
                or_none("/limitResponse/queuing/queues"),
                or_none("/limitResponse/queuing/handSize"),
                or_none("/limitResponse/queuing/queueLengthLimit"),
                age(object, now).into(),
            ]
        }
        Printer::Event => event_cells(object, now),
    }
}

/// First non-empty string among JSON pointers (core/v1 field names first, then the
/// events.k8s.io/v1 names the apiserver converts from).
fn first_str<'v>(object: &'v Value, pointers: &[&str]) -> &'v str {
    pointers
        .iter()
        .map(|p| str_at(object, p))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// The apiserver's `printEvent` in its wide form.
fn event_cells(object: &Value, now: Timestamp) -> Vec<Value> {
    let first_ts = first_str(object, &["/firstTimestamp", "/deprecatedFirstTimestamp"]);
    let first_seen = if first_ts.is_empty() {
        since(str_at(object, "/eventTime"), now)
    } else {
        since(first_ts, now)
    };
    let last_ts = first_str(object, &["/lastTimestamp", "/deprecatedLastTimestamp"]);
    let mut last_seen = if last_ts.is_empty() {
        first_seen.clone()
    } else {
        since(last_ts, now)
    };
    let count_of = |p: &str| object.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let mut count = match count_of("/count") {
        0 => count_of("/deprecatedCount"),
        c => c,
    };
    if object.get("series").is_some_and(|s| !s.is_null()) {
        last_seen = since(str_at(object, "/series/lastObservedTime"), now);
        count = count_of("/series/count");
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }
    let kind = first_str(object, &["/involvedObject/kind", "/regarding/kind"]).to_lowercase();
    let target_name = first_str(object, &["/involvedObject/name", "/regarding/name"]);
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };
    let component = first_str(
        object,
        &[
            "/source/component",
            "/deprecatedSource/component",
            "/reportingComponent",
            "/reportingController",
        ],
    );
    let host = first_str(
        object,
        &[
            "/source/host",
            "/deprecatedSource/host",
            "/reportingInstance",
        ],
    );
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    let message = first_str(object, &["/message", "/note"]).trim();
    vec![
        last_seen.into(),
        str_at(object, "/type").into(),
        str_at(object, "/reason").into(),
        target.into(),
        first_str(
            object,
            &["/involvedObject/fieldPath", "/regarding/fieldPath"],
        )
        .into(),
        source.into(),
        message.into(),
        first_seen.into(),
        json!(count),
        str_at(object, "/metadata/name").into(),
    ]
}

/// The cell of a CRD printer column, like the CRD table convertor: `string` columns print
/// the value as client-go's jsonpath prints it (objects and arrays as JSON), the other types
/// keep matching JSON values only, and `date` becomes a human duration.
fn cell_for(type_: &str, value: Option<Value>, now: Timestamp) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    if value.is_null() {
        return Value::Null;
    }
    match type_ {
        "string" => Value::String(print_value(&value)),
        "integer" => match &value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
                // Go's int64(float64) conversion truncates toward zero.
                .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
                .map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "number" => match &value {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Null,
        },
        "date" => match &value {
            Value::String(s) => match parse_time(s) {
                Some(t) => human_duration(now.duration_since(t).as_secs()).into(),
                None => "<invalid>".into(),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// How client-go's `JSONPath.PrintResults` renders one value: strings raw, maps and lists as
/// compact JSON, scalars as Go's `fmt.Print` does.
fn print_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                let f = n.as_f64().unwrap_or_default();
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    format!("{f:.0}")
                } else {
                    f.to_string()
                }
            }
        }
        Value::Null => "null".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// The list metadata a single object's table carries: its `resourceVersion`
/// (`meta.CommonAccessor` in the table convertors).
fn object_list_meta(object: &Value) -> Value {
    match object.pointer("/metadata/resourceVersion") {
        Some(rv) => json!({"resourceVersion": rv}),
        None => json!({}),
    }
}

fn build_table(
    info: &ResourceInfo,
    objects: &[Value],
    list_meta: &Value,
    include_object: IncludeObject,
    include_headers: bool,
    now: Timestamp,
) -> Value {
    let p = printer(info);
    let mut metadata = Map::new();
    for key in ["resourceVersion", "continue", "remainingItemCount"] {
        match list_meta.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => {
                metadata.insert(key.into(), v.clone());
            }
        }
    }
    let mut ordered: Vec<&Value> = objects.iter().collect();
    if matches!(p, Printer::FlowSchema) {
        // `printFlowSchemaList` lists them in matching order: precedence, then name.
        let key = |o: &Value| {
            (
                o.pointer("/spec/matchingPrecedence")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                str_at(o, "/metadata/name").to_owned(),
            )
        };
        ordered.sort_by_key(|o| key(o));
    }
    let rows: Vec<Value> = ordered
        .into_iter()
        .map(|o| {
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => partial_object_metadata(o),
                IncludeObject::Object => o.clone(),
            };
            json!({"cells": cells(&p, o, now), "object": object})
        })
        .collect();
    let column_definitions = if include_headers {
        Value::Array(columns(&p))
    } else {
        Value::Null
    };
    json!({
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed assertion in tests
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// Renders a table as kubectl would (visible columns only, tab separated), for test
    /// failure messages.
    fn render(table: &Value) -> String {
        let mut s = String::new();
        let cols = table["columnDefinitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &cols {
            let _ = write!(
                s,
                "{}\t",
                c["name"].as_str().unwrap_or_default().to_uppercase()
            );
        }
        s.push('\n');
        for row in table["rows"].as_array().cloned().unwrap_or_default() {
            for cell in row["cells"].as_array().cloned().unwrap_or_default() {
                let _ = write!(s, "{cell}\t");
            }
            s.push('\n');
        }
        s
    }

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn info(group: &str, resource: &str, kind: &str, custom: bool) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced: true,
            custom,
            ..ResourceInfo::default()
        }
    }

    fn pc(name: &str, type_: &str, path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            type_: type_.into(),
            json_path: path.into(),
            ..PrinterColumn::default()
        }
    }

    fn documents() -> ResourceInfo {
        let mut i = info("kube.rs", "documents", "Document", true);
        i.printer_columns = vec![
            pc("Title", "string", ".spec.title"),
            pc(
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#,
            ),
            pc("Revision", "integer", ".status.revision"),
            pc("Age", "date", ".metadata.creationTimestamp"),
        ];
        i.printer_columns[2].priority = 1;
        i
    }

    fn document(name: &str) -> Value {
        json!({
            "apiVersion": "kube.rs/v1",
            "kind": "Document",
            "metadata": {
                "name": name,
                "namespace": "default",
                "resourceVersion": "42",
                "creationTimestamp": "2025-06-01T11:55:00Z",
                "labels": {"app": "x"},
            },
            "spec": {"title": "Hello"},
            "status": {
                "revision": 3.0,
                "conditions": [
                    {"type": "Progressing", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ],
            },
        })
    }

    #[test]
    fn human_duration_matches_apimachinery_breakpoints() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 10 * 60, "5h10m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (4 * 86400, "4d"),
            (30 * 86400, "30d"),
            (2 * 365 * 86400 + 30 * 86400, "2y30d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn custom_resource_table_evaluates_printer_columns_without_adding_age() {
        let t = build_table(
            &documents(),
            &[document("a")],
            &json!({"resourceVersion": "99", "continue": ""}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "99"}));
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Title", "Ready", "Revision", "Age"]);
        let title = &t["columnDefinitions"][1];
        assert_eq!(
            title["description"],
            "Custom resource definition column (in JSONPath format): .spec.title"
        );
        assert_eq!(t["columnDefinitions"][3]["priority"], 1);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["a", "Hello", "True", 3, "5m"]),
            "{}",
            render(&t)
        );
        assert_eq!(
            t["rows"][0]["object"],
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": document("a")["metadata"],
            })
        );
    }

    #[test]
    fn missing_printer_column_values_are_null_cells() {
        let mut d = document("b");
        d["status"] = json!({});
        d["spec"] = json!({"title": null});
        let t = build_table(
            &documents(),
            &[d],
            &json!({}),
            IncludeObject::None,
            true,
            now(),
        );
        assert_eq!(t["rows"][0]["cells"], json!(["b", null, null, null, "5m"]));
        assert_eq!(t["rows"][0]["object"], Value::Null);
        assert_eq!(t["metadata"], json!({}));
    }

    #[test]
    fn custom_resource_without_printer_columns_gets_name_and_date_age() {
        let i = info("kube.rs", "documents", "Document", true);
        let t = build_table(
            &i,
            &[document("a")],
            &json!({}),
            IncludeObject::Object,
            true,
            now(),
        );
        assert_eq!(t["columnDefinitions"][1]["name"], "Age");
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["a", "5m"]));
        assert_eq!(t["rows"][0]["object"], document("a"));
    }

    #[test]
    fn empty_lists_have_empty_rows_not_null() {
        let t = to_table(
            &documents(),
            &[],
            json!({"resourceVersion": "7"}),
            IncludeObject::Metadata,
        );
        assert_eq!(t["rows"], json!([]));
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn string_columns_print_non_strings_like_jsonpath() {
        let now = now();
        assert_eq!(cell_for("string", Some(json!(3.0)), now), json!("3"));
        assert_eq!(cell_for("string", Some(json!(1.5)), now), json!("1.5"));
        assert_eq!(cell_for("string", Some(json!(true)), now), json!("true"));
        assert_eq!(
            cell_for("string", Some(json!({"a": 1})), now),
            json!(r#"{"a":1}"#)
        );
        assert_eq!(cell_for("integer", Some(json!(2.9)), now), json!(2));
        assert_eq!(cell_for("integer", Some(json!("2")), now), Value::Null);
        assert_eq!(cell_for("number", Some(json!(2)), now), json!(2.0));
        assert_eq!(cell_for("boolean", Some(json!(false)), now), json!(false));
        assert_eq!(
            cell_for("date", Some(json!("nope")), now),
            json!("<invalid>")
        );
        assert_eq!(cell_for("date", Some(json!(5)), now), Value::Null);
    }

    #[test]
    fn configmap_table_counts_data_and_binary_data() {
        let i = info("", "configmaps", "ConfigMap", false);
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": "2025-06-01T09:00:00Z"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        let t = build_table(&i, &[cm], &json!({}), IncludeObject::Metadata, true, now());
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Data", "Age"]);
        assert_eq!(t["columnDefinitions"][2]["type"], "string");
        assert_eq!(t["rows"][0]["cells"], json!(["c", 3, "3h"]));
    }

    #[test]
    fn namespace_serviceaccount_and_lease_tables_match_the_builtin_printers() {
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2025-06-01T11:59:30Z"},
            "status": {"phase": "Active"}});
        let t = build_table(
            &info("", "namespaces", "Namespace", false),
            &[ns],
            &json!({}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["columnDefinitions"][1]["name"], "Status");
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "30s"]));

        let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "x"}]});
        let t = build_table(
            &info("", "serviceaccounts", "ServiceAccount", false),
            &[sa],
            &json!({}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["rows"][0]["cells"], json!(["default", 1, "<unknown>"]));

        let lease = json!({"metadata": {"name": "l", "creationTimestamp": "2025-06-01T12:00:00Z"},
            "spec": {"holderIdentity": "pod-1"}});
        let t = build_table(
            &info("coordination.k8s.io", "leases", "Lease", false),
            &[lease],
            &json!({}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["columnDefinitions"][1]["name"], "Holder");
        assert_eq!(t["rows"][0]["cells"], json!(["l", "pod-1", "0s"]));
    }

    #[test]
    fn crd_table_uses_the_default_name_and_created_at_convertor() {
        let crd = json!({"metadata": {"name": "documents.kube.rs",
            "creationTimestamp": "2025-06-01T11:00:00Z"}});
        let t = build_table(
            &info(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
            ),
            &[crd],
            &json!({}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["columnDefinitions"][1]["name"], "Created At");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["documents.kube.rs", "2025-06-01T11:00:00Z"])
        );
    }

    #[test]
    fn core_event_table_has_ten_wide_cells_with_the_object_reference() {
        let ev = json!({
            "metadata": {"name": "doc.1", "namespace": "default"},
            "involvedObject": {"kind": "Document", "name": "a", "fieldPath": ""},
            "reason": "Reconciled", "message": " done \n", "type": "Normal",
            "firstTimestamp": "2025-06-01T11:00:00Z", "lastTimestamp": "2025-06-01T11:58:00Z",
            "count": 4, "source": {"component": "doc-controller"},
        });
        let i = info("", "events", "Event", false);
        let t = build_table(&i, &[ev], &json!({}), IncludeObject::Metadata, true, now());
        let cols = t["columnDefinitions"].as_array().unwrap();
        assert_eq!(cols.len(), 10);
        let visible: Vec<&str> = cols
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            visible,
            ["Last Seen", "Type", "Reason", "Object", "Message"]
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "2m",
                "Normal",
                "Reconciled",
                "document/a",
                "",
                "doc-controller",
                "done",
                "60m",
                4,
                "doc.1"
            ])
        );
    }

    #[test]
    fn events_k8s_io_events_and_singletons_print_like_the_apiserver() {
        let ev = json!({
            "metadata": {"name": "e"},
            "regarding": {"kind": "Document", "name": "a"},
            "note": "hi", "reason": "R", "type": "Warning",
            "eventTime": "2025-06-01T11:59:00.000000Z",
            "reportingController": "ctl", "reportingInstance": "ctl-1",
        });
        let i = info("events.k8s.io", "events", "Event", false);
        let t = build_table(&i, &[ev], &json!({}), IncludeObject::Metadata, true, now());
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "60s",
                "Warning",
                "R",
                "document/a",
                "",
                "ctl, ctl-1",
                "hi",
                "60s",
                1,
                "e"
            ])
        );

        let series = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Pod"},
            "series": {"count": 7, "lastObservedTime": "2025-06-01T11:59:50.000000Z"}});
        let t = build_table(
            &i,
            &[series],
            &json!({}),
            IncludeObject::Metadata,
            true,
            now(),
        );
        assert_eq!(t["rows"][0]["cells"][0], "10s");
        assert_eq!(t["rows"][0]["cells"][3], "pod");
        assert_eq!(t["rows"][0]["cells"][7], "<unknown>");
        assert_eq!(t["rows"][0]["cells"][8], 7);
    }

    #[test]
    fn watch_events_carry_headers_only_when_asked_and_pass_status_through() {
        let first = watch_row_event(
            &documents(),
            "ADDED",
            &document("a"),
            IncludeObject::Metadata,
            true,
        );
        assert_eq!(first["type"], "ADDED");
        assert_eq!(first["object"]["kind"], "Table");
        assert_eq!(first["object"]["metadata"]["resourceVersion"], "42");
        assert_eq!(first["object"]["rows"].as_array().unwrap().len(), 1);
        assert!(first["object"]["columnDefinitions"].is_array());

        let later = watch_row_event(
            &documents(),
            "MODIFIED",
            &document("a"),
            IncludeObject::Metadata,
            false,
        );
        assert_eq!(later["object"]["columnDefinitions"], Value::Null);
        assert_eq!(later["object"]["rows"][0]["cells"][0], "a");

        let status = json!({"kind": "Status", "apiVersion": "v1", "code": 410});
        let err = watch_row_event(
            &documents(),
            "ERROR",
            &status,
            IncludeObject::Metadata,
            true,
        );
        assert_eq!(err["object"], status);
    }

    #[test]
    fn object_table_of_a_single_get_has_headers_and_the_objects_resource_version() {
        let t = object_table(&documents(), &document("a"), IncludeObject::Metadata, true);
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(t["rows"][0]["cells"][1], "Hello");
    }

    #[test]
    fn include_object_parses_the_query_values() {
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert!(IncludeObject::from_query(Some("all")).is_err());
    }

    #[test]
    fn accepts_table_recognises_kubectl_get_and_plain_json() {
        assert!(accepts_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(accepts_table(
            "application/json; as=Table; g=meta.k8s.io; v=v1beta1"
        ));
        assert!(!accepts_table("application/json"));
        assert!(!accepts_table(
            "application/json, application/json;as=Table;v=v1;g=meta.k8s.io"
        ));
        assert!(!accepts_table("application/json;as=Table;v=v1;g=other.io"));
        assert!(!accepts_table(
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!accepts_table(""));
    }

    #[test]
    fn json_path_supports_fields_indexes_slices_wildcards_and_recursion() {
        let d = document("a");
        let ev = |p: &str| eval_json_path(p, &d);
        assert_eq!(ev(".spec.title"), Some(json!("Hello")));
        assert_eq!(ev("{.spec.title}"), Some(json!("Hello")));
        assert_eq!(ev("$.spec.title"), Some(json!("Hello")));
        assert_eq!(ev("spec.title"), Some(json!("Hello")));
        assert_eq!(ev(".metadata['labels']['app']"), Some(json!("x")));
        assert_eq!(ev(".status.conditions[1].type"), Some(json!("Ready")));
        assert_eq!(ev(".status.conditions[-1].type"), Some(json!("Ready")));
        assert_eq!(ev(".status.conditions[5].type"), None);
        assert_eq!(ev(".status.conditions[1:].type"), Some(json!("Ready")));
        assert_eq!(ev(".status.conditions[*].type"), Some(json!("Progressing")));
        assert_eq!(ev(".status.conditions.*.status"), Some(json!("False")));
        assert_eq!(ev("..title"), Some(json!("Hello")));
        assert_eq!(ev(".nope.deeper"), None);
        assert_eq!(ev(".spec.title[0]"), None);
        assert_eq!(ev(".status.conditions[oops]"), None);
    }

    #[test]
    fn json_path_filters_compare_strings_numbers_and_existence() {
        let v = json!({"items": [
            {"name": "a", "n": 1, "on": true},
            {"name": "b", "n": 5, "x": {}},
            {"name": "c", "n": 10, "label": "needs == quoting"},
        ]});
        let ev = |p: &str| eval_json_path(p, &v);
        assert_eq!(ev(r#".items[?(@.name=="b")].n"#), Some(json!(5)));
        assert_eq!(ev(".items[?(@.name=='c')].n"), Some(json!(10)));
        assert_eq!(ev(".items[?(@.n > 4)].name"), Some(json!("b")));
        assert_eq!(ev(".items[?(@.n>=10)].name"), Some(json!("c")));
        assert_eq!(ev(".items[?(@.n < 2)].name"), Some(json!("a")));
        assert_eq!(ev(".items[?(@.name != 'a')].name"), Some(json!("b")));
        assert_eq!(ev(".items[?(@.on == true)].name"), Some(json!("a")));
        assert_eq!(ev(".items[?(@.x)].name"), Some(json!("b")));
        assert_eq!(
            ev(r#".items[?(@.label == "needs == quoting")].name"#),
            Some(json!("c"))
        );
        assert_eq!(ev(r#".items[?(@.name=="zzz")].n"#), None);
    }
}
