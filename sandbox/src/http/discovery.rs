//! Discovery and OpenAPI documents: what kubectl and kube-rs read before touching a
//! resource.
//!
//! Everything here is a pure function from the [`ResourceInfo`]s the registry holds to the
//! JSON body of one endpoint, so the HTTP layer only routes and sets headers:
//!
//! | endpoint | function |
//! | --- | --- |
//! | `GET /version` | [`version`] |
//! | `GET /api` | [`core_api_versions`] |
//! | `GET /apis` | [`api_group_list`] |
//! | `GET /apis/{group}` | [`api_group`] |
//! | `GET /api/v1`, `GET /apis/{group}/{version}` | [`api_resource_list`] |
//! | `GET /openapi/v3` | [`openapi_v3_root`] |
//! | `GET /openapi/v3/{api/v1 \| apis/group/version}` | [`openapi_v3_group_version`] |
//! | `GET /openapi/v2` | 404 (see [`OPENAPI_V2_SERVED`]) |
//!
//! # Aggregated discovery is not served
//!
//! kubectl 1.32 (client-go's `DiscoveryClient`) asks `/api` and `/apis` with
//! `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`
//! and decides how to parse the body from the *response* `Content-Type` alone
//! (`ContentTypeIsGVK`): only a content type carrying `g=apidiscovery.k8s.io;v=v2` (or
//! `v2beta1`) and `as=APIGroupDiscoveryList` is parsed as aggregated discovery; plain
//! `application/json` is parsed as the legacy `APIVersions` / `APIGroupList`, after which
//! client-go fetches each group version's `APIResourceList`. Content negotiation lets a
//! server pick any offered type, so the sandbox always answers the legacy documents with
//! [`DISCOVERY_CONTENT_TYPE`] — kube-apiservers before 1.26 did the same. The HTTP layer must
//! therefore never echo the aggregated media type back.
//! See <https://github.com/kubernetes/enhancements/tree/master/keps/sig-api-machinery/3352-aggregated-discovery>.

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

/// The `gitVersion` reported by `/version`: the minor of the installed kubectl (1.32), so
/// `kubectl version` prints no version-skew warning, with a suffix telling it is not a real
/// cluster.
pub(crate) const GIT_VERSION: &str = "v1.32.0-sandbox";

/// `Content-Type` of every discovery response: plain JSON, which client-go parses as the
/// legacy (unaggregated) format (see the module documentation).
pub(crate) const DISCOVERY_CONTENT_TYPE: &str = "application/json";

/// Whether `/openapi/v2` is served: it is not, the route answers 404.
///
/// kubectl 1.32 only falls back to OpenAPI v2 when v3 fails: `apply`'s field-validation probe
/// (`NewFallbackQueryParamVerifier`) tries v3 first and the client-side apply patcher reads
/// v2 only when v3 gives no patch, ignoring a failed v2 download. Since [`openapi_v3_root`]
/// is served, a 404 on v2 costs nothing, and a protobuf v2 document would be a large amount
/// of work for no kubectl command in scope.
pub(crate) const OPENAPI_V2_SERVED: bool = false;

/// Body of `GET /version`, the `version.Info` the apiserver reports
/// (<https://kubernetes.io/docs/reference/using-api/health-checks/>; kubectl's
/// `kubectl version` and kube-rs's `Client::apiserver_version` read it).
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": platform(),
    })
}

/// `os/arch` in Go's spelling, as `version.Info.platform` reports it.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// Body of `GET /api`: the legacy `APIVersions` document listing the core group's only
/// version, with the address clients should use (`server_addr`, `host:port`) for any client
/// network, like the apiserver's `serverAddressByClientCIDRs`.
pub(crate) fn core_api_versions(server_addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_addr}
        ],
    })
}

/// Body of `GET /apis`: the `APIGroupList` of every named group (the core group is listed by
/// `/api` only).
///
/// Built-in groups come first and custom-resource groups after, each in the order the
/// registry lists them, as the apiserver lists its own groups before the
/// apiextensions-apiserver's. Within a group, versions are in Kubernetes version priority
/// (see [`compare_versions`]) and the first is the preferred version, as the apiextensions
/// discovery controller does for CRDs.
pub(crate) fn api_group_list(infos: &[ResourceInfo]) -> Value {
    let groups: Vec<Value> = group_names(infos)
        .iter()
        .filter_map(|g| group_document(g, infos))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Body of `GET /apis/{group}`: one `APIGroup`, or `None` (404) when nothing is served in
/// the group.
pub(crate) fn api_group(group: &str, infos: &[ResourceInfo]) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let mut doc = group_document(group, infos)?;
    if let Some(map) = doc.as_object_mut() {
        let mut out = Map::new();
        out.insert("kind".into(), "APIGroup".into());
        out.insert("apiVersion".into(), "v1".into());
        out.append(map);
        return Some(Value::Object(out));
    }
    None
}

/// Body of `GET /api/v1` (`group` empty) and `GET /apis/{group}/{version}`: the
/// `APIResourceList` of one group version, or `None` (404) when nothing is served there.
///
/// Every resource is listed with its subresources as separate `resource/subresource` entries
/// (`documents/status` with verbs get, patch, update; `…/scale` of kind `Scale` in
/// `autoscaling/v1`), sorted by name like the apiserver's installer does. kubectl's
/// `api-resources`, REST mapper and short-name expansion (`kubectl get doc`) read this.
pub(crate) fn api_resource_list(
    group: &str,
    version: &str,
    infos: &[ResourceInfo],
) -> Option<Value> {
    let mut resources: Vec<Value> = Vec::new();
    for info in infos
        .iter()
        .filter(|i| i.group == group && i.version == version)
    {
        let mut entry = Map::new();
        entry.insert("name".into(), info.resource.clone().into());
        entry.insert("singularName".into(), singular(info).into());
        entry.insert("namespaced".into(), info.namespaced.into());
        entry.insert("kind".into(), info.kind.clone().into());
        entry.insert("verbs".into(), json!(info.verbs));
        if !info.short_names.is_empty() {
            entry.insert("shortNames".into(), json!(info.short_names));
        }
        if !info.categories.is_empty() {
            entry.insert("categories".into(), json!(info.categories));
        }
        resources.push(Value::Object(entry));
        for sub in &info.subresources {
            resources.push(subresource_entry(info, sub));
        }
    }
    if resources.is_empty() {
        return None;
    }
    resources.sort_by(|a, b| {
        let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_owned();
        name(a).cmp(&name(b))
    });
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// Body of `GET /openapi/v3`: the `OpenAPIV3Discovery` index mapping each served group
/// version (`api/v1`, `apis/kube.rs/v1`) to the URL of its document.
///
/// The URL carries `?hash=` of the document's content like the apiserver's, so clients that
/// cache by URL (kubectl's disk cache) see a new URL when a CRD changes the document. The HTTP
/// layer routes `/openapi/v3/{path}` to [`openapi_v3_group_version`] and ignores `hash`.
///
/// Why this is served at all: `kubectl apply` (default `--validate=strict`) first asks
/// whether the server supports the `fieldValidation` query parameter by looking, in this
/// index and the group version's document, for the resource's PATCH operation declaring it
/// (client-go `queryParamVerifierV3`). When it finds it, it leaves validation to the server
/// and sends `?fieldValidation=Strict`; when v3 and v2 are both missing it fails with
/// "failed to download openapi" unless run with `--validate=false`.
pub(crate) fn openapi_v3_root(infos: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(infos) {
        let path = openapi_path(&group, &version);
        let Some(doc) = openapi_v3_group_version(&path, infos) else {
            continue;
        };
        let hash = content_hash(&doc);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// Body of `GET /openapi/v3/{path}` for `path` `api/v1` or `apis/{group}/{version}` (no
/// leading slash), or `None` (404).
///
/// The document has, for every resource of the group version, the item path
/// (`…/namespaces/{namespace}/documents/{name}`: get, put, patch, delete) and the collection
/// path (get, post), each operation tagged with `x-kubernetes-action` and
/// `x-kubernetes-group-version-kind` and listing the query parameters the real server
/// declares (`dryRun`, `fieldManager`, `fieldValidation`, `force`). PATCH request bodies
/// list the patch types the apiserver accepts: built-in kinds include
/// `application/strategic-merge-patch+json`, custom resources do not — which is how kubectl's
/// client-side apply picks a strategic merge patch or a JSON merge patch.
///
/// `components.schemas` holds the `openAPIV3Schema` of each custom resource that has one
/// (named like the apiserver names them, `rs.kube.v1.Document`, with `apiVersion`, `kind`
/// and `metadata` added), enough for `kubectl explain documents`. Built-in kinds have no
/// schema here: kubectl then computes strategic merge patches from its compiled-in types,
/// and `components` is still present (empty) so its OpenAPI patch path returns "no schema"
/// instead of warning "OpenAPI V3 Components is nil".
pub(crate) fn openapi_v3_group_version(path: &str, infos: &[ResourceInfo]) -> Option<Value> {
    let (group, version) = parse_openapi_path(path)?;
    let served: Vec<&ResourceInfo> = infos
        .iter()
        .filter(|i| i.group == group && i.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for info in served {
        let (collection, item) = resource_paths(info);
        paths.insert(item, item_operations(info));
        paths.insert(collection, collection_operations(info));
        if let Some(schema) = &info.schema {
            schemas.insert(definition_name(info), custom_resource_schema(info, schema));
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// Orders two API versions by Kubernetes version priority, most preferred first: GA before
/// beta before alpha, higher major first, then higher pre-release number; versions not of
/// the `v<N>[alpha|beta<M>]` form sort after, alphabetically. Mirrors apimachinery's
/// `version.CompareKubeAwareVersionStrings`, which orders discovery versions.
pub(crate) fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (version_rank(a), version_rank(b)) {
        (Some(ra), Some(rb)) => rb.cmp(&ra),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Sort key of a Kubernetes-style version: (stability, major, pre-release number); larger is
/// more preferred.
fn version_rank(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u64 = rest.get(..digits_end)?.parse().ok()?;
    let tail = rest.get(digits_end..)?;
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, num) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n)
    } else {
        return None;
    };
    let minor: u64 = num.parse().ok()?;
    Some((stability, major, minor))
}

/// `group/version`, or just `version` for the core group.
fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// The singular name discovery reports: the registry's, else the lower-cased kind (what the
/// apiserver reports for built-ins since 1.27 and CRDs default `names.singular` to).
fn singular(info: &ResourceInfo) -> String {
    if info.singular.is_empty() {
        info.kind.to_lowercase()
    } else {
        info.singular.clone()
    }
}

/// The discovery entry of a subresource, as the apiserver's installer registers them.
fn subresource_entry(info: &ResourceInfo, sub: &str) -> Value {
    let name = format!("{}/{sub}", info.resource);
    match sub {
        "scale" => json!({
            "name": name,
            "singularName": "",
            "namespaced": info.namespaced,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }),
        _ => json!({
            "name": name,
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": ["get", "patch", "update"],
        }),
    }
}

/// Named groups in listing order: built-in groups, then custom-resource groups.
fn group_names(infos: &[ResourceInfo]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for custom in [false, true] {
        for info in infos
            .iter()
            .filter(|i| i.custom == custom && !i.group.is_empty())
        {
            if !names.contains(&info.group) {
                names.push(info.group.clone());
            }
        }
    }
    names
}

/// The `APIGroup` body (without `kind`/`apiVersion`) of a named group.
fn group_document(group: &str, infos: &[ResourceInfo]) -> Option<Value> {
    let mut versions: Vec<String> = Vec::new();
    for info in infos.iter().filter(|i| i.group == group) {
        if !versions.contains(&info.version) {
            versions.push(info.version.clone());
        }
    }
    versions.sort_by(|a, b| compare_versions(a, b));
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    let preferred = entries.first()?.clone();
    Some(json!({"name": group, "versions": entries, "preferredVersion": preferred}))
}

/// Every served (group, version), core first, in listing order.
fn group_versions(infos: &[ResourceInfo]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let core = infos.iter().filter(|i| i.group.is_empty());
    let named = group_names(infos);
    let named = named
        .iter()
        .flat_map(|g| infos.iter().filter(move |i| &i.group == g));
    for info in core.chain(named) {
        let key = (info.group.clone(), info.version.clone());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// The OpenAPI v3 index key of a group version: `api/v1` or `apis/{group}/{version}`.
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Inverse of [`openapi_path`], tolerating a leading `/` and a `/openapi/v3/` prefix.
fn parse_openapi_path(path: &str) -> Option<(String, String)> {
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["api", version] => Some((String::new(), (*version).to_owned())),
        ["apis", group, version] => Some(((*group).to_owned(), (*version).to_owned())),
        _ => None,
    }
}

/// Collection and item REST paths of a resource, in OpenAPI template form.
fn resource_paths(info: &ResourceInfo) -> (String, String) {
    let prefix = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let collection = if info.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", info.resource)
    } else {
        format!("{prefix}/{}", info.resource)
    };
    let item = format!("{collection}/{{name}}");
    (collection, item)
}

/// `x-kubernetes-group-version-kind` of an operation (a single object, as the apiserver
/// writes it on operations; schemas carry a list).
fn gvk_extension(info: &ResourceInfo) -> Value {
    json!({"group": info.group, "version": info.version, "kind": info.kind})
}

/// A query parameter declaration.
fn query_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

/// The query parameters of writes: the ones `kubectl apply` probes for.
fn write_params(with_force: bool) -> Vec<Value> {
    let mut params = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
        ),
    ];
    if with_force {
        params.push(json!({
            "name": "force",
            "in": "query",
            "description": "Force is going to \"force\" Apply requests.",
            "schema": {"type": "boolean", "uniqueItems": true},
        }));
    }
    params
}

/// A JSON response declaration referring to nothing (the sandbox publishes no built-in
/// schemas).
fn ok_response() -> Value {
    json!({"200": {"description": "OK"}})
}

/// One operation object.
fn operation(info: &ResourceInfo, action: &str, id: &str, params: Vec<Value>) -> Value {
    json!({
        "operationId": id,
        "parameters": params,
        "responses": ok_response(),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk_extension(info),
    })
}

/// The operationId suffix the apiserver uses, e.g. `NamespacedConfigMap`.
fn operation_suffix(info: &ResourceInfo) -> String {
    if info.namespaced {
        format!("Namespaced{}", info.kind)
    } else {
        info.kind.clone()
    }
}

/// Operations of an item path: get, put, patch, delete.
fn item_operations(info: &ResourceInfo) -> Value {
    let suffix = operation_suffix(info);
    let mut patch_types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !info.custom {
        patch_types.push("application/strategic-merge-patch+json");
    }
    patch_types.push("application/apply-patch+yaml");
    let content: Map<String, Value> = patch_types
        .into_iter()
        .map(|t| (t.to_owned(), json!({"schema": {"type": "object"}})))
        .collect();
    let mut patch = operation(info, "patch", &format!("patch{suffix}"), write_params(true));
    if let Some(map) = patch.as_object_mut() {
        map.insert(
            "requestBody".into(),
            json!({"content": content, "required": true}),
        );
    }
    let mut put = operation(
        info,
        "put",
        &format!("replace{suffix}"),
        write_params(false),
    );
    if let Some(map) = put.as_object_mut() {
        map.insert(
            "requestBody".into(),
            json!({"content": {"*/*": {"schema": {"type": "object"}}}, "required": true}),
        );
    }
    json!({
        "get": operation(info, "get", &format!("read{suffix}"), Vec::new()),
        "put": put,
        "patch": patch,
        "delete": operation(info, "delete", &format!("delete{suffix}"), Vec::new()),
    })
}

/// Operations of a collection path: list, create.
fn collection_operations(info: &ResourceInfo) -> Value {
    let suffix = operation_suffix(info);
    let mut post = operation(
        info,
        "post",
        &format!("create{suffix}"),
        write_params(false),
    );
    if let Some(map) = post.as_object_mut() {
        map.insert(
            "requestBody".into(),
            json!({"content": {"*/*": {"schema": {"type": "object"}}}, "required": true}),
        );
    }
    json!({
        "get": operation(info, "list", &format!("list{suffix}"), Vec::new()),
        "post": post,
    })
}

/// The apiserver's definition name of a custom resource: the group's labels reversed, then
/// version and kind, e.g. `rs.kube.v1.Document`.
fn definition_name(info: &ResourceInfo) -> String {
    let reversed: Vec<&str> = info.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), info.version, info.kind)
}

/// A CRD's `openAPIV3Schema` as the apiserver publishes it: with `apiVersion`, `kind` and
/// `metadata` properties and the `x-kubernetes-group-version-kind` list.
fn custom_resource_schema(info: &ResourceInfo, schema: &Value) -> Value {
    let mut out = schema.as_object().cloned().unwrap_or_default();
    out.entry("type").or_insert_with(|| "object".into());
    let props = out
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(props) = props.as_object_mut() {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
        );
        props.insert(
            "metadata".into(),
            json!({"type": "object", "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        );
    }
    out.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([gvk_extension(info)]),
    );
    Value::Object(out)
}

/// A stable content hash (64-bit FNV-1a of the canonical JSON, upper-case hex) used as the
/// `?hash=` of OpenAPI URLs; the apiserver uses a truncated SHA-512 for the same purpose.
fn content_hash(doc: &Value) -> String {
    // serde_json maps are ordered (BTreeMap), so serialisation is canonical.
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016X}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed assertion in tests
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Groups by name with their versions, for tests and callers wanting the raw mapping.
    fn versions_by_group(infos: &[ResourceInfo]) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for info in infos {
            let versions = out.entry(info.group.clone()).or_default();
            if !versions.contains(&info.version) {
                versions.push(info.version.clone());
            }
        }
        out
    }

    fn info(group: &str, version: &str, resource: &str, kind: &str, custom: bool) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            kind: kind.into(),
            singular: kind.to_lowercase(),
            list_kind: format!("{kind}List"),
            namespaced: true,
            verbs: vec!["get".into(), "list".into(), "patch".into(), "watch".into()],
            custom,
            ..ResourceInfo::default()
        }
    }

    fn documents() -> ResourceInfo {
        let mut doc = info("kube.rs", "v1", "documents", "Document", true);
        doc.short_names = vec!["doc".into()];
        doc.categories = vec!["all".into()];
        doc.subresources = vec!["status".into()];
        doc.schema = Some(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"title": {"type": "string"}}}},
        }));
        doc
    }

    fn sample() -> Vec<ResourceInfo> {
        vec![
            info("", "v1", "configmaps", "ConfigMap", false),
            documents(),
            info("kube.rs", "v1beta1", "documents", "Document", true),
            info("coordination.k8s.io", "v1", "leases", "Lease", false),
        ]
    }

    #[test]
    fn version_reports_a_parsable_git_version_and_matching_minor() {
        let v = version();
        assert_eq!(v["gitVersion"], GIT_VERSION);
        assert_eq!(v["major"], "1");
        assert!(GIT_VERSION.starts_with(&format!("v1.{}.", v["minor"].as_str().unwrap())));
        assert!(v["platform"].as_str().unwrap().contains('/'));
    }

    #[test]
    fn core_api_versions_lists_v1_and_the_server_address() {
        let v = core_api_versions("127.0.0.1:6443");
        assert_eq!(v["kind"], "APIVersions");
        assert_eq!(v["versions"], json!(["v1"]));
        assert_eq!(
            v["serverAddressByClientCIDRs"][0]["serverAddress"],
            "127.0.0.1:6443"
        );
    }

    #[test]
    fn group_list_puts_builtin_groups_first_and_prefers_the_ga_version() {
        let list = api_group_list(&sample());
        assert_eq!(list["kind"], "APIGroupList");
        let groups = list["groups"].as_array().unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["coordination.k8s.io", "kube.rs"]);
        let kube = &groups[1];
        assert_eq!(
            kube["preferredVersion"],
            json!({"groupVersion": "kube.rs/v1", "version": "v1"})
        );
        assert_eq!(kube["versions"][1]["version"], "v1beta1");
    }

    #[test]
    fn api_group_is_absent_for_unknown_and_core_groups() {
        assert!(api_group("nope", &sample()).is_none());
        assert!(api_group("", &sample()).is_none());
        let g = api_group("kube.rs", &sample()).unwrap();
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["name"], "kube.rs");
    }

    #[test]
    fn resource_list_has_subresources_short_names_and_categories() {
        let list = api_resource_list("kube.rs", "v1", &sample()).unwrap();
        assert_eq!(list["groupVersion"], "kube.rs/v1");
        let resources = list["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0]["name"], "documents");
        assert_eq!(resources[0]["singularName"], "document");
        assert_eq!(resources[0]["shortNames"], json!(["doc"]));
        assert_eq!(resources[0]["categories"], json!(["all"]));
        assert_eq!(resources[1]["name"], "documents/status");
        assert_eq!(resources[1]["kind"], "Document");
        assert_eq!(resources[1]["verbs"], json!(["get", "patch", "update"]));
    }

    #[test]
    fn resource_list_omits_empty_short_names_and_is_absent_for_unserved_versions() {
        let list = api_resource_list("", "v1", &sample()).unwrap();
        assert_eq!(list["groupVersion"], "v1");
        assert!(list["resources"][0].get("shortNames").is_none());
        assert!(api_resource_list("", "v2", &sample()).is_none());
    }

    #[test]
    fn kube_aware_version_order_puts_ga_before_beta_before_alpha() {
        let mut v = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2", "foo", "v10"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
        assert_eq!(versions_by_group(&sample())["kube.rs"].len(), 2);
    }

    #[test]
    fn openapi_root_indexes_every_group_version_with_a_hash() {
        let root = openapi_v3_root(&sample());
        let paths = root["paths"].as_object().unwrap();
        let keys: Vec<&String> = paths.keys().collect();
        assert!(keys.contains(&&"api/v1".to_owned()));
        assert!(keys.contains(&&"apis/kube.rs/v1".to_owned()));
        let url = paths["apis/kube.rs/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/kube.rs/v1?hash="));
    }

    #[test]
    fn openapi_hash_changes_when_the_document_changes() {
        let before = openapi_v3_root(&sample());
        let mut changed = sample();
        changed[1].schema = None;
        let after = openapi_v3_root(&changed);
        assert_ne!(
            before["paths"]["apis/kube.rs/v1"],
            after["paths"]["apis/kube.rs/v1"]
        );
        assert_eq!(before["paths"]["api/v1"], after["paths"]["api/v1"]);
    }

    #[test]
    fn openapi_patch_operation_declares_field_validation_and_patch_types() {
        let doc = openapi_v3_group_version("apis/kube.rs/v1", &sample()).unwrap();
        let item = &doc["paths"]["/apis/kube.rs/v1/namespaces/{namespace}/documents/{name}"];
        let patch = &item["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "kube.rs", "version": "v1", "kind": "Document"})
        );
        let params = patch["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        let content = patch["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));

        let core = openapi_v3_group_version("/openapi/v3/api/v1", &sample()).unwrap();
        let cm = &core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert!(
            cm["requestBody"]["content"]
                .as_object()
                .unwrap()
                .contains_key("application/strategic-merge-patch+json")
        );
        assert_eq!(core["components"]["schemas"], json!({}));
    }

    #[test]
    fn openapi_publishes_crd_schemas_under_the_apiserver_definition_name() {
        let doc = openapi_v3_group_version("apis/kube.rs/v1", &sample()).unwrap();
        let schema = &doc["components"]["schemas"]["rs.kube.v1.Document"];
        assert_eq!(
            schema["x-kubernetes-group-version-kind"],
            json!([{"group": "kube.rs", "version": "v1", "kind": "Document"}])
        );
        assert_eq!(
            schema["properties"]["spec"]["properties"]["title"]["type"],
            "string"
        );
        assert_eq!(schema["properties"]["kind"]["type"], "string");
    }

    #[test]
    fn openapi_group_version_is_absent_for_unserved_or_malformed_paths() {
        assert!(openapi_v3_group_version("apis/nope/v1", &sample()).is_none());
        assert!(openapi_v3_group_version("apis", &sample()).is_none());
        assert!(openapi_v3_group_version("api/v2", &sample()).is_none());
    }

    #[test]
    fn cluster_scoped_resources_have_unprefixed_paths() {
        let mut ns = info("", "v1", "namespaces", "Namespace", false);
        ns.namespaced = false;
        let doc = openapi_v3_group_version("api/v1", &[ns]).unwrap();
        assert!(doc["paths"].get("/api/v1/namespaces/{name}").is_some());
        assert_eq!(
            doc["paths"]["/api/v1/namespaces"]["post"]["operationId"],
            "createNamespace"
        );
    }
}
