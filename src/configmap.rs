//! The ConfigMaps the controller writes, built without I/O.
//!
//! Every ConfigMap the controller writes carries the label [`MANAGED_BY`]` = doc-controller`; the
//! controller's ConfigMap watch selects on it, so its cache holds only these objects and not every
//! ConfigMap of the cluster (the guide's "watch scope too broad").

use crate::CONTROLLER_NAME;
use crate::document::published::DOCUMENT_LABEL;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use std::collections::BTreeMap;

pub mod cached;

/// The standard label naming the tool that manages an object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Label selector matching every ConfigMap this controller writes.
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=doc-controller";

/// Name of the per-namespace index of published Documents.
pub const INDEX_NAME: &str = "documents-index";

/// SHA-256 over the fields of a published ConfigMap that this controller owns: the values of its
/// two labels, the uid of the controlling owner, and the data, each length-prefixed so no two
/// different objects hash alike. Fields others add (labels, annotations, owners) do not count:
/// server-side apply leaves them, so they never make the controller's ConfigMap outdated.
///
/// The cache keeps this digest instead of the object ([`cached`]); the desired ConfigMap
/// ([`crate::document::published::published`]) hashes the same way, so comparing two digests answers "would applying change anything".
pub fn owned_digest(cm: &ConfigMap) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut field = |value: Option<&str>| match value {
        Some(value) => {
            hasher.update([1]);
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        }
        None => hasher.update([0]),
    };
    for label in [MANAGED_BY, DOCUMENT_LABEL] {
        field(cm.labels().get(label).map(String::as_str));
    }
    let controller = cm
        .owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true));
    field(controller.map(|owner| owner.uid.as_str()));
    for (key, value) in cm.data.iter().flatten() {
        field(Some(key));
        field(Some(value));
    }
    hasher.finalize().into()
}

/// The index entry of a Document: its title, keyed by the Document's name.
pub fn index_entry(index: &ConfigMap, document: &str) -> Option<String> {
    index.data.as_ref()?.get(document).cloned()
}

/// A new, empty index for `namespace`, labelled so the controller's cache sees it.
pub fn empty_index(namespace: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(INDEX_NAME.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.to_string(),
                CONTROLLER_NAME.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::published::published;
    use crate::document::{Document, DocumentSpec};

    fn doc() -> Document {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "Samuel".into(),
                content: "hello".into(),
                hide: false,
            },
        );
        d.metadata.namespace = Some("ns".into());
        d.metadata.uid = Some("uid-1".into());
        d
    }

    #[test]
    fn the_owned_digest_ignores_what_others_add() {
        let desired = published(&doc());
        let mut current = desired.clone();
        current.labels_mut().insert("team".into(), "docs".into());
        current
            .annotations_mut()
            .insert("rival.example.com/reviewed".into(), "yes".into());
        assert_eq!(owned_digest(&current), owned_digest(&desired));
        current.data = None;
        assert_ne!(owned_digest(&current), owned_digest(&desired));
    }
}
