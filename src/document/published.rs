//! What a reconcile publishes for a Document: its ConfigMap, built without I/O.
//!
//! Change this, and the Document's spec ([`super::resource`]), to publish something else; the
//! reconciler server-side applies whatever [`published`] returns, compares it with the cache on
//! the fields this controller owns ([`crate::configmap::owned_digest`]), and lets the garbage
//! collector remove it with its Document (the owner reference).

use super::Document;
use crate::configmap::MANAGED_BY;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

/// Label on a published ConfigMap naming its Document, for `kubectl get cm -l kube.rs/document=x`.
pub const DOCUMENT_LABEL: &str = "kube.rs/document";

/// The name of the ConfigMap a Document named `document` is published as.
pub fn config_map_name(document: &str) -> String {
    format!("document-{document}")
}

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
                (MANAGED_BY.to_string(), crate::CONTROLLER_NAME.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentSpec;

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
    fn config_map_is_named_after_the_document() {
        assert_eq!(doc().config_map_name(), "document-samuel");
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
        assert_eq!(cm.labels()[DOCUMENT_LABEL], "samuel");
        let data = cm.data.expect("data");
        assert_eq!(
            (data["title"].as_str(), data["content"].as_str()),
            ("Samuel", "hello")
        );
    }
}
