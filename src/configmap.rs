//! The ConfigMaps the controller writes, built without I/O.
//!
//! Every ConfigMap the controller writes carries the label [`MANAGED_BY`]` = doc-controller`; the
//! controller's ConfigMap watch selects on it, so its cache holds only these objects and not every
//! ConfigMap of the cluster (the guide's "watch scope too broad").

use crate::crd::{CONTROLLER_NAME, Document};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

pub mod cached;

/// The standard label naming the tool that manages an object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Label selector matching every ConfigMap this controller writes.
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=doc-controller";

/// Label on a published ConfigMap naming its Document, for `kubectl get cm -l kube.rs/document=x`.
pub const DOCUMENT_LABEL: &str = "kube.rs/document";

/// Name of the per-namespace index of published Documents.
pub const INDEX_NAME: &str = "documents-index";

/// The ConfigMap a visible Document is published as.
///
/// It is owned by the Document (`ownerReferences`, `controller: true`), so the garbage collector
/// removes it when the Document is gone; the controller never has to clean it up itself.
/// `blockOwnerDeletion` is left unset: setting it would need `update` on `documents/finalizers`
/// under the `OwnerReferencesPermissionEnforcement` admission plugin, for no gain here.
pub fn published(doc: &Document) -> ConfigMap {
    let owner = OwnerReference {
        api_version: Document::api_version(&()).into_owned(),
        kind: Document::kind(&()).into_owned(),
        name: doc.name_any(),
        uid: doc.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(doc.config_map_name()),
            namespace: doc.namespace(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY.to_string(), CONTROLLER_NAME.to_string()),
                (DOCUMENT_LABEL.to_string(), doc.name_any()),
            ])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            ("title".to_string(), doc.spec.title.clone()),
            ("content".to_string(), doc.spec.content.clone()),
        ])),
        ..ConfigMap::default()
    }
}

/// SHA-256 over the fields of a published ConfigMap that this controller owns: the values of its
/// two labels, the uid of the controlling owner, and the data, each length-prefixed so no two
/// different objects hash alike. Fields others add (labels, annotations, owners) do not count:
/// server-side apply leaves them, so they never make the controller's ConfigMap outdated.
///
/// The cache keeps this digest instead of the object ([`cached`]); [`published`] hashes the same
/// way, so comparing two digests answers "would applying change anything".
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
    use crate::crd::DocumentSpec;

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
    fn published_config_map_is_owned_by_the_document_and_labelled() {
        let cm = published(&doc());
        assert_eq!(cm.name_any(), "document-samuel");
        assert_eq!(cm.namespace().as_deref(), Some("ns"));
        let owner = &cm.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Document", "uid-1", Some(true))
        );
        assert_eq!(cm.labels()[MANAGED_BY], "doc-controller");
        let data = cm.data.expect("data");
        assert_eq!(
            (data["title"].as_str(), data["content"].as_str()),
            ("Samuel", "hello")
        );
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
