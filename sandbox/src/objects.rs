//! Object-level rules shared by all writes: metadata the server owns, `generation`,
//! finalizers, status-subresource isolation, and the per-kind touches (namespaces, CRDs,
//! custom resources).
//!
//! Mirrors `k8s.io/apiserver/pkg/registry/rest` (`BeforeCreate`, `BeforeUpdate`,
//! `BeforeDelete`) and the custom resource strategy of apiextensions-apiserver.

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;
use crate::status::{ApiError, Cause};

/// The current time as the apiserver writes timestamps (RFC 3339, second precision, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `metadata.<field>` as a string, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The `metadata` map of an object, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just set to an object"),
    }
}

/// Sets the field at `path`, turning anything in the way into objects (never panics, unlike
/// indexing a non-object `Value`).
pub fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return;
    };
    let mut current = obj;
    for key in parents {
        if !current.is_object() {
            *current = json!({});
        }
        let Some(map) = current.as_object_mut() else {
            return;
        };
        current = map.entry((*key).to_owned()).or_insert_with(|| json!({}));
    }
    if !current.is_object() {
        *current = json!({});
    }
    if let Some(map) = current.as_object_mut() {
        map.insert((*last).to_owned(), value);
    }
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object carries `metadata.deletionTimestamp`.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Whether `metadata.generation` is maintained for this resource: custom resources and CRDs
/// (configmaps, events, leases, namespaces, secrets and service accounts have none in a real
/// cluster; FlowSchemas and PriorityLevelConfigurations have one, like their strategies).
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    info.custom
        || info.resource == "customresourcedefinitions"
        || info.group == crate::flowcontrol::GROUP
}

/// The object without the parts whose change does not bump `generation`.
fn generation_view(info: &ResourceInfo, obj: &Value) -> Value {
    let mut view = obj.clone();
    if let Some(m) = view.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if info.has_status() {
            m.remove("status");
        }
    }
    view
}

/// Why a JSON value cannot decode into an object of `info`'s kind, in the words of the
/// apiserver's JSON serializer: `SimpleMetaFactory.Interpret` fails on anything but an object
/// (`couldn't get version/kind; json parse error: ...`), and a `metadata` that is no object is
/// `encoding/json`'s `UnmarshalTypeError` for the typed field. The flag says whether the
/// version and kind could be read (they can when the value is an object).
fn shape_error(info: &ResourceInfo, obj: &Value) -> Option<(String, bool)> {
    let go_type = |v: &Value| match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    };
    if !obj.is_object() {
        return Some((
            format!(
                "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
                go_type(obj)
            ),
            false,
        ));
    }
    match obj.get("metadata") {
        None | Some(Value::Null | Value::Object(_)) => None,
        Some(other) => Some((
            format!(
                "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
                go_type(other),
                info.kind
            ),
            true,
        )),
    }
}

/// Rejects a request body that cannot decode into an object with ObjectMeta with the 400 of
/// the create and update handlers' `transformDecodeError` (`endpoints/handlers/rest.go`):
/// `<Kind> in version "<v>" cannot be handled as a <Kind>: <error>` when the body names (or
/// defaults to) a kind, else `the object provided is unrecognized (must be of type <Kind>):
/// <error> (<the body's first 30 bytes>)`, as `summarizeData` shows them.
pub fn check_shape(info: &ResourceInfo, obj: &Value, body: &[u8]) -> Result<(), ApiError> {
    let Some((error, typed)) = shape_error(info, obj) else {
        return Ok(());
    };
    let kind = &info.kind;
    Err(ApiError::BadRequest(if typed {
        format!(
            "{kind} in version {} cannot be handled as a {kind}: {error}",
            crate::selector::go_quote(&info.version)
        )
    } else {
        format!(
            "the object provided is unrecognized (must be of type {kind}): {error} ({})",
            summarize(body)
        )
    }))
}

/// `summarizeData(body, 30)`: an object's text, anything else in hex, cut at 30 bytes.
pub fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = body.len() > MAX;
    let head = &body[..body.len().min(MAX)];
    let shown = match head.first() {
        None => return "<empty>".to_owned(),
        Some(b'{') => String::from_utf8_lossy(head).into_owned(),
        Some(_) => head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    if cut { format!("{shown} ...") } else { shown }
}

/// Rejects a patch result that cannot decode into an object of the kind with the 422 of
/// `jsonPatcher.applyPatchToCurrentObject`: `errors.NewInvalid(schema.GroupKind{}, "", ...)`
/// with one `patch` cause holding the patched JSON and the decoder's error, so the message
/// starts with ` "" is invalid: patch: Invalid value: ` (an empty kind and name).
pub fn check_patched(info: &ResourceInfo, patched: &Value) -> Result<(), ApiError> {
    let Some((error, _)) = shape_error(info, patched) else {
        return Ok(());
    };
    Err(invalid_patch(patched, &error))
}

/// `errors.NewInvalid(schema.GroupKind{}, "", [field.Invalid("patch", <patched JSON>, error)])`,
/// the 422 of a patch result that fails to decode.
pub fn invalid_patch(patched: &Value, error: &str) -> ApiError {
    ApiError::invalid(
        "",
        "",
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {}: {error}",
                crate::selector::go_quote(&patched.to_string())
            ),
            field: "patch".into(),
        }],
    )
}

/// Checks `kind`/`apiVersion` of a request body against the resource and fills them in when
/// absent.
pub fn check_type(info: &ResourceInfo, obj: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    check_shape(info, obj, body)?;
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::BadRequest(
            "the object provided is not a JSON object".into(),
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != info.kind {
        // The serializer decodes the body as the kind it names, and the codec's conversion to
        // the resource's internal type fails; `transformDecodeError` words it.
        let version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.rsplit('/').next())
            .unwrap_or(&info.version)
            .to_owned();
        let internal = match info.group.as_str() {
            "" | "events.k8s.io" => "core",
            group => group.split('.').next().unwrap_or(group),
        };
        let detail = if info.custom {
            format!("kind {kind} does not match {}", info.kind)
        } else {
            format!(
                "converting ({version}.{kind}) to ({internal}.{}): unknown conversion",
                info.kind
            )
        };
        return Err(ApiError::BadRequest(format!(
            "{kind} in version {} cannot be handled as a {}: {detail}",
            crate::selector::go_quote(&version),
            info.kind
        )));
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if !api_version.is_empty() && group != info.group {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    map.insert("kind".into(), Value::String(info.kind.clone()));
    map.insert("apiVersion".into(), Value::String(info.api_version()));
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), json!({}));
    }
    Ok(())
}

/// Server-owned metadata and per-kind defaults of a new object (`rest.BeforeCreate`).
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").to_owned();
    {
        let meta = meta_mut(obj);
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now()));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("generation");
        meta.remove("selfLink");
        if tracks_generation(info) {
            meta.insert("generation".into(), json!(1));
        }
    }
    match (info.group.as_str(), info.resource.as_str()) {
        ("", "namespaces") => {
            let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
            }
            set_path(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            set_path(obj, &["status"], json!({"phase": "Active"}));
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            crate::crd::prepare(obj)?;
            let list = meta_mut(obj)
                .entry("finalizers")
                .or_insert_with(|| json!([]));
            if let Some(items) = list.as_array_mut()
                && !items.iter().any(|f| f == crate::crd::CLEANUP_FINALIZER)
            {
                items.push(json!(crate::crd::CLEANUP_FINALIZER));
            }
        }
        _ if info.custom => {
            if info.has_status()
                && let Some(m) = obj.as_object_mut()
            {
                m.remove("status");
            }
            validate_custom(info, obj)?;
        }
        _ => {}
    }
    Ok(())
}

fn validate_custom(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    crate::adapters::validate_custom(info, obj)
}

/// Builds the object an update stores from the old object and the requested one: status
/// subresource isolation, immutable metadata, the finalizer rule, validation and `generation`.
/// `resourceVersion` is set to the old one so a no-op can be detected by equality.
pub fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    subresource: Option<&str>,
) -> Result<Value, ApiError> {
    if subresource == Some("status") {
        // The status strategy: everything but status comes from the stored object.
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        if let Some(m) = new.as_object_mut() {
            match status {
                Some(s) => m.insert("status".into(), s),
                None => m.remove("status"),
            };
        }
        if let Some(mf) = managed {
            meta_mut(&mut new).insert("managedFields".into(), mf);
        }
    } else if info.has_status() {
        // The main resource ignores status changes when a status subresource exists.
        if let Some(m) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
    }
    if let Some(m) = new.as_object_mut() {
        for field in ["apiVersion", "kind"] {
            if let Some(v) = old.get(field) {
                m.insert(field.into(), v.clone());
            }
        }
    }
    {
        let old_meta = old.get("metadata").and_then(Value::as_object);
        let meta = meta_mut(&mut new);
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old_meta.and_then(|m| m.get(field)) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        meta.remove("selfLink");
    }
    if info.group.is_empty() && info.resource == "namespaces" {
        // Namespace strategy: spec.finalizers only change through /finalize, status through
        // /status.
        if let Some(f) = old.pointer("/spec/finalizers") {
            set_path(&mut new, &["spec", "finalizers"], f.clone());
        }
    }
    if is_deleting(old) {
        let before = finalizers(old);
        // `ValidateNoNewFinalizers`: the extra ones as a sorted set.
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !added.is_empty() {
            let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            return Err(ApiError::invalid(
                crate::events::kind_group(info),
                &info.kind,
                meta_str(old, "name"),
                vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message: format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        quoted.join(", ")
                    ),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    if info.resource == "customresourcedefinitions" && info.group == "apiextensions.k8s.io" {
        crate::crd::prepare(&mut new)?;
    } else if info.custom {
        validate_custom(info, &mut new)?;
    }
    if tracks_generation(info)
        && subresource.is_none()
        && generation_view(info, old) != generation_view(info, &new)
    {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
    }
    Ok(new)
}

/// Whether two stored forms are the same write, ignoring the `time` of managedFields entries
/// (the field manager only refreshes it when the entry changed anyway).
pub fn same_object(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(Value::Array(entries)) = v.pointer_mut("/metadata/managedFields") {
            for e in entries.iter_mut() {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        v
    }
    a == b || strip(a) == strip(b)
}

/// Marks an object as being deleted (`rest.BeforeDelete` with finalizers pending):
/// `deletionTimestamp` now, grace period 0, and a `generation` bump.
pub fn mark_deleting(obj: &mut Value) {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let meta = meta_mut(obj);
    meta.insert("deletionTimestamp".into(), Value::String(now()));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    if let Some(g) = generation.filter(|g| *g > 0) {
        meta.insert("generation".into(), json!(g + 1));
    }
}

/// The field selector labels a resource supports (`metadata.name`, `metadata.namespace`,
/// plus the kind-specific ones registered by the real server).
pub fn supported_field(info: &ResourceInfo, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match (info.group.as_str(), info.resource.as_str()) {
        ("", "events") => {
            matches!(
                field,
                "involvedObject.kind"
                    | "involvedObject.namespace"
                    | "involvedObject.name"
                    | "involvedObject.uid"
                    | "involvedObject.apiVersion"
                    | "involvedObject.resourceVersion"
                    | "involvedObject.fieldPath"
                    | "reason"
                    | "reportingComponent"
                    | "source"
                    | "type"
            )
        }
        // `AddFieldLabelConversionsForEvent` of events.k8s.io/v1, which maps these onto the
        // core selectable fields (see `crate::events::selectable`).
        ("events.k8s.io", "events") => matches!(
            field,
            "regarding.kind"
                | "regarding.namespace"
                | "regarding.name"
                | "regarding.uid"
                | "regarding.apiVersion"
                | "regarding.resourceVersion"
                | "regarding.fieldPath"
                | "reason"
                | "reportingController"
                | "source"
                | "type"
        ),
        ("", "namespaces") => field == "status.phase",
        _ => false,
    }
}

/// `IsDNS1123Label`, for namespace names.
pub(crate) fn dns1123_label_errors(value: &str) -> Vec<String> {
    static LABEL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex")
    });
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !LABEL.is_match(value) {
        errs.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', \
             regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    errs
}

/// The ObjectMeta checks of `ValidateObjectMeta` the sandbox makes: the name (a DNS-1123
/// subdomain; a DNS-1123 label for namespaces) and label keys and values.
pub fn validate_meta(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    use crate::selector::{
        dns1123_subdomain_errors, go_quote, label_key_errors, label_value_errors,
    };
    let name = meta_str(obj, "name");
    let mut causes = Vec::new();
    let mut invalid = |field: &str, value: &str, errs: Vec<String>| {
        for e in errs {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {}: {e}", go_quote(value)),
                field: field.into(),
            });
        }
    };
    let name_errors = if info.group.is_empty() && info.resource == "namespaces" {
        dns1123_label_errors(name)
    } else {
        dns1123_subdomain_errors(name)
    };
    invalid("metadata.name", name, name_errors);
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            invalid("metadata.labels", key, label_key_errors(key));
            let value = value.as_str().unwrap_or("");
            invalid("metadata.labels", value, label_value_errors(value));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            crate::events::kind_group(info),
            &info.kind,
            name,
            causes,
        ))
    }
}

/// The per-kind defaults applied when an object is decoded (`SetDefaults_*`): a Secret's
/// `type` and its `stringData` merged into `data`, and those of the flowcontrol kinds.
pub fn default_builtin(info: &ResourceInfo, obj: &mut Value) {
    if info.group.is_empty() && info.resource == "secrets" {
        crate::secrets::default(obj);
    }
    crate::flowcontrol::validation::default(info, obj);
}

/// The kind-specific validation of the built-in kinds that the sandbox mirrors: ConfigMap
/// and Secret keys (`IsConfigMapKey`) and immutability (`ValidateConfigMapUpdate`,
/// `ValidateSecretUpdate`, which also pins a Secret's `type`), Events
/// (`crate::events::validate`) and the flowcontrol kinds.
pub fn validate_builtin(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), ApiError> {
    if crate::events::Version::of(info).is_some() {
        return crate::events::validate(info, old, new);
    }
    if info.group == crate::flowcontrol::GROUP {
        return crate::flowcontrol::validation::validate(info, new);
    }
    let fields: &[&str] = match (info.group.as_str(), info.resource.as_str()) {
        ("", "configmaps") => &["data", "binaryData"],
        ("", "secrets") => &["data"],
        _ => return Ok(()),
    };
    static KEY: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new("^[-._a-zA-Z0-9]+$").expect("valid regex"));
    let mut causes = Vec::new();
    for &field in fields {
        for key in new
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let mut errs = Vec::new();
            if key.len() > 253 {
                errs.push("must be no more than 253 characters".to_owned());
            }
            if !KEY.is_match(key) {
                errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_owned());
            }
            if key == "." || key == ".." || key.starts_with("..") {
                errs.push("must not be '.' or '..' or start with '..'".to_owned());
            }
            for e in errs {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {}: {e}", crate::selector::go_quote(key)),
                    field: format!("{field}[{key}]"),
                });
            }
        }
    }
    if let Some(old) = old
        && old.get("immutable").and_then(Value::as_bool) == Some(true)
    {
        let forbidden = |field: &str| Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: field is immutable when `immutable` is set".into(),
            field: field.into(),
        };
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            causes.push(forbidden("immutable"));
        }
        for &field in fields {
            if old.get(field) != new.get(field) {
                causes.push(forbidden(field));
            }
        }
    }
    if info.resource == "secrets"
        && let Some(old) = old
        && old.get("type") != new.get("type")
    {
        let kind = new.get("type").and_then(Value::as_str).unwrap_or_default();
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {}: field is immutable",
                crate::selector::go_quote(kind)
            ),
            field: "type".into(),
        });
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            crate::events::kind_group(info),
            &info.kind,
            meta_str(new, "name"),
            causes,
        ))
    }
}
