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

/// Annotation on a *cached* published ConfigMap whose `data` was replaced by its digest before
/// caching ([`strip_data`]); never written to the API server.
pub const CACHED_DATA_DIGEST: &str = "doc-controller.kube.rs/cached-data-sha256";

/// SHA-256 of a ConfigMap's data, keys in order.
pub fn data_digest(data: Option<&BTreeMap<String, String>>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (key, value) in data.into_iter().flatten() {
        hasher.update((key.len() as u64).to_le_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Replaces a published ConfigMap's data by its digest, for the cache: the controller only ever
/// compares it, and the content is already cached once, in its Document. The index keeps its
/// data (reconciles read their entries).
pub fn strip_data(cm: &mut ConfigMap) {
    if !cm.labels().contains_key(DOCUMENT_LABEL) {
        return;
    }
    let digest = data_digest(cm.data.as_ref());
    cm.data = None;
    cm.annotations_mut()
        .insert(CACHED_DATA_DIGEST.to_string(), digest);
}

/// Whether `current` already holds everything `desired` asks for, so applying it would change
/// nothing. Fields others added (labels, annotations) do not count: server-side apply leaves them.
pub fn is_up_to_date(current: &ConfigMap, desired: &ConfigMap) -> bool {
    let labels_present = desired
        .labels()
        .iter()
        .all(|(k, v)| current.labels().get(k) == Some(v));
    let owner_present = desired.owner_references().iter().all(|want| {
        current
            .owner_references()
            .iter()
            .any(|have| have.uid == want.uid && have.controller == want.controller)
    });
    let data_matches = match current.annotations().get(CACHED_DATA_DIGEST) {
        Some(digest) => *digest == data_digest(desired.data.as_ref()),
        None => current.data == desired.data,
    };
    labels_present && owner_present && data_matches
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
    fn a_cached_config_map_compares_by_digest() {
        let desired = published(&doc());
        let mut cached = desired.clone();
        strip_data(&mut cached);
        assert!(cached.data.is_none());
        assert!(is_up_to_date(&cached, &desired));
        let mut changed = doc();
        changed.spec.content = "other".into();
        assert!(!is_up_to_date(&cached, &published(&changed)));
    }

    #[test]
    fn the_index_keeps_its_data_in_the_cache() {
        let mut index = empty_index("ns");
        index.data = Some(BTreeMap::from([("a".to_string(), "A".to_string())]));
        let before = index.clone();
        strip_data(&mut index);
        assert_eq!(index, before);
    }

    #[test]
    fn extra_labels_from_others_do_not_make_a_config_map_outdated() {
        let desired = published(&doc());
        let mut current = desired.clone();
        current.labels_mut().insert("team".into(), "docs".into());
        assert!(is_up_to_date(&current, &desired));
        current.data = None;
        assert!(!is_up_to_date(&current, &desired));
    }
}
