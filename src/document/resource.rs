//! The `Document` custom resource, generated from Rust types.
//!
//! What the API server can check by itself is declared here as schema (`schemars` attributes end up
//! as `minLength`, `maxLength`, `pattern` in `yaml/crd.yaml`), so an invalid title is rejected at
//! admission and never reaches the controller. What only the controller can judge lives in
//! [`super::validation`].
//!
//! `yaml/crd.yaml` is generated from these types by `cargo run --bin crdgen`; a test fails when the
//! committed file is stale.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The finalizer that guards the Document's entry in the namespace index.
///
/// It is named after the CRD's group so that it cannot clash with another controller's.
pub const FINALIZER: &str = "documents.kube.rs";

/// Longest title accepted at admission, in characters.
pub const MAX_TITLE_CHARS: u32 = 200;

/// Longest content accepted at admission, in characters.
///
/// The API server counts characters, a ConfigMap is limited in bytes (1 MiB in total). Characters
/// can take up to four bytes in UTF-8, so the byte limit is checked again by the controller
/// ([`super::validation::MAX_CONTENT_BYTES`]).
pub const MAX_CONTENT_CHARS: u32 = 512 * 1024;

/// A document to publish into the cluster.
///
/// For each visible Document the controller keeps a ConfigMap `document-<name>` with its title and
/// content, and an entry in the namespace's `documents-index` ConfigMap.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kube.rs",
    version = "v1",
    kind = "Document",
    plural = "documents",
    namespaced,
    shortname = "doc",
    status = "DocumentStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A document published by doc-controller as a ConfigMap",
    printcolumn = r#"{"name":"Title","type":"string","jsonPath":".spec.title"}"#,
    printcolumn = r#"{"name":"Hidden","type":"boolean","jsonPath":".spec.hide"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSpec {
    /// The title, shown in listings and in the index. Must contain a visible character.
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    pub title: String,

    /// The body of the document.
    #[serde(default)]
    #[schemars(length(max = 524288))]
    pub content: String,

    /// When true the document is unpublished: its ConfigMap and index entry are removed.
    #[serde(default)]
    pub hide: bool,
}

/// What the controller last observed and did, written by server-side apply.
///
/// Everything here is derived from the spec and from the controller's own actions: no field holds the
/// time of "now" except a condition's `lastTransitionTime`, which moves only when the condition's
/// status changes. Reconciling an unchanged Document therefore yields an identical status, and the
/// controller writes nothing.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Standard conditions; `Ready` is always present once the controller has seen the Document.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Whether the document is currently unpublished.
    #[serde(default)]
    pub hidden: bool,

    /// The name of the ConfigMap holding the published document, when it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,

    /// SHA-256 of title and content (`sha256:<hex>`), to tell at a glance which version is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<String>,

    /// Number of whitespace-separated words in the content.
    #[serde(default)]
    pub word_count: u64,
}

// === impl Document ===

impl Document {
    /// The name of the ConfigMap this Document is published as.
    pub fn config_map_name(&self) -> String {
        super::published::config_map_name(&kube::ResourceExt::name_any(self))
    }

    /// The `Ready` condition of the current status, if any.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == super::status::READY)
    }
}

/// The CRD as YAML, exactly as `crdgen` prints it and `yaml/crd.yaml` holds it.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    use kube::CustomResourceExt;
    serde_saphyr::to_string(&Document::crd())
}

/// Why the CRD could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The API server refused the CRD.
    #[error("apply CRD documents.kube.rs: {0}")]
    Apply(#[source] kube::Error),
    /// The CRD was not `Established` in time.
    #[error("CRD documents.kube.rs not established within {0:?}")]
    NotEstablished(std::time::Duration),
}

/// Installs (server-side applies) the CRD and waits until it is `Established`, i.e. served.
///
/// What `cargo run --bin crdgen | kubectl apply -f -` does, for examples and tests.
pub async fn install(
    client: kube::Client,
    timeout: std::time::Duration,
) -> Result<(), InstallError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::wait::{await_condition, conditions};

    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let name = Document::crd_name();
    crds.patch(
        name,
        &PatchParams::apply(crate::FIELD_MANAGER).force(),
        &Patch::Apply(Document::crd()),
    )
    .await
    .map_err(InstallError::Apply)?;
    let established = await_condition(crds, name, conditions::is_crd_established());
    match tokio::time::timeout(timeout, established).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(InstallError::NotEstablished(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_is_named_documents_kube_rs_with_short_name_doc() {
        let crd = Document::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("documents.kube.rs"));
        assert_eq!(crd.spec.names.short_names, Some(vec!["doc".to_string()]));
        assert_eq!(crd.spec.scope, "Namespaced");
    }

    #[test]
    fn schema_bounds_title_and_content_at_admission() {
        let crd = serde_json::to_value(Document::crd()).expect("crd serializes");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], serde_json::json!(["title"]));
        assert_eq!(spec["properties"]["title"]["minLength"], 1);
        assert_eq!(spec["properties"]["title"]["maxLength"], MAX_TITLE_CHARS);
        assert_eq!(
            spec["properties"]["content"]["maxLength"],
            MAX_CONTENT_CHARS
        );
        assert_eq!(spec["properties"]["hide"]["default"], false);
    }

    #[test]
    fn conditions_merge_by_type_under_server_side_apply() {
        let crd = serde_json::to_value(Document::crd()).expect("crd serializes");
        let conditions = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
            ["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
    }

    #[test]
    fn committed_crd_yaml_is_what_crdgen_prints() {
        let generated = crd_yaml().expect("crd serializes");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/crd.yaml");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "yaml/crd.yaml is stale; regenerate it with: cargo run --bin crdgen > yaml/crd.yaml"
        );
    }
}
