//! What the controller keeps of each ConfigMap it manages: only what its decisions read.
//!
//! # Why not cache `ConfigMap`s
//! Measured with heaptrack at 10,000 Documents, a cached `ConfigMap`, even with `managedFields`
//! stripped and its data replaced by a digest, cost about 2.3 KB: k8s-openapi's `ObjectMeta` is
//! some 350 bytes before any field is set, and every label or annotation map allocates a 544-byte
//! B-tree node for its one or two entries. That was 23 MB, more than the Documents themselves.
//!
//! The controller only ever asks a published ConfigMap two questions: is it exactly what its
//! Document asks for (in the fields this controller owns), and which Document controls it. A digest
//! answers the first, the owner's name the second. The index keeps its entries: reconciles read
//! them.
// region: fault-catalogue
//! (For the `rival-writer` toggle, a flag says whether anyone else annotated it.)
// endregion: fault-catalogue
//!
//! [`CachedConfigMap`] implements kube's [`Lookup`], so kube's reflector and [`Store`] hold it as
//! they would a `ConfigMap`.
//!
//! [`Store`]: kube::runtime::reflector::Store

use super::owned_digest;
use crate::document::Document;
use crate::document::published::DOCUMENT_LABEL;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A ConfigMap as the controller's cache holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedConfigMap {
    name: String,
    namespace: Option<String>,
    resource_version: Option<String>,
    /// Name of the Document controlling it (same namespace), if one does.
    owner: Option<String>,
    content: Content,
}

/// What the cache keeps of a ConfigMap's content.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
enum Content {
    /// A published ConfigMap (it carries the document label).
    Published {
        /// [`owned_digest`] of the object as it is.
        #[serde(serialize_with = "hex_digest")]
        owned: [u8; 32],
        // region: fault-catalogue
        /// Whether it carries annotations (other than kubectl's last-applied copy).
        annotated: bool,
        // endregion: fault-catalogue
    },
    /// Any other ConfigMap the watch selects (the index): its data, which reconciles read.
    Data(BTreeMap<String, String>),
}

fn hex_digest<S: serde::Serializer>(digest: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(digest))
}

impl From<ConfigMap> for CachedConfigMap {
    fn from(cm: ConfigMap) -> Self {
        let owner = cm
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true) && o.kind == <Document as Resource>::kind(&()))
            .map(|o| o.name.clone());
        let content = if cm.labels().contains_key(DOCUMENT_LABEL) {
            Content::Published {
                owned: owned_digest(&cm),
                // region: fault-catalogue
                annotated: cm
                    .annotations()
                    .keys()
                    .any(|k| k != "kubectl.kubernetes.io/last-applied-configuration"),
                // endregion: fault-catalogue
            }
        } else {
            Content::Data(cm.data.unwrap_or_default())
        };
        Self {
            name: cm.metadata.name.unwrap_or_default(),
            namespace: cm.metadata.namespace,
            resource_version: cm.metadata.resource_version,
            owner,
            content,
        }
    }
}

impl CachedConfigMap {
    /// Whether this ConfigMap already holds everything `desired` asks for in the fields this
    /// controller owns (its labels, the controlling owner, the data), so applying `desired` would
    /// change nothing. What others added does not count: server-side apply leaves it.
    pub fn is_up_to_date(&self, desired: &ConfigMap) -> bool {
        matches!(&self.content, Content::Published { owned, .. } if *owned == owned_digest(desired))
    }

    // region: fault-catalogue
    /// Whether anyone annotated it (this controller never does).
    pub fn is_annotated(&self) -> bool {
        matches!(
            self.content,
            Content::Published {
                annotated: true,
                ..
            }
        )
    }
    // endregion: fault-catalogue

    /// The entry of `document` when this is an index.
    pub fn index_entry(&self, document: &str) -> Option<String> {
        match &self.content {
            Content::Data(data) => data.get(document).cloned(),
            Content::Published { .. } => None,
        }
    }

    /// The name of the Document controlling it.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Its resourceVersion when it was cached.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }
}

/// A ConfigMap watch event as the cache takes it.
pub fn cached_event(event: watcher::Event<ConfigMap>) -> watcher::Event<CachedConfigMap> {
    match event {
        watcher::Event::Apply(cm) => watcher::Event::Apply(cm.into()),
        watcher::Event::Delete(cm) => watcher::Event::Delete(cm.into()),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(cm) => watcher::Event::InitApply(cm.into()),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

impl Lookup for CachedConfigMap {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        <ConfigMap as Resource>::kind(&())
    }

    fn group(_: &()) -> Cow<'_, str> {
        <ConfigMap as Resource>::group(&())
    }

    fn version(_: &()) -> Cow<'_, str> {
        <ConfigMap as Resource>::version(&())
    }

    fn plural(_: &()) -> Cow<'_, str> {
        <ConfigMap as Resource>::plural(&())
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        self.resource_version.as_deref().map(Cow::Borrowed)
    }

    /// Not kept: nothing reads it, and the Store keys objects by namespace and name.
    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configmap::empty_index;
    use crate::document::DocumentSpec;
    use crate::document::published::published;

    fn doc(content: &str) -> Document {
        let mut d = Document::new(
            "samuel",
            DocumentSpec {
                title: "Samuel".into(),
                content: content.into(),
                hide: false,
            },
        );
        d.metadata.namespace = Some("ns".into());
        d.metadata.uid = Some("uid-1".into());
        d
    }

    #[test]
    fn a_published_config_map_is_cached_as_its_owner_and_a_digest() {
        let cached = CachedConfigMap::from(published(&doc("hello")));
        assert_eq!(cached.owner(), Some("samuel"));
        assert!(cached.is_up_to_date(&published(&doc("hello"))));
        assert!(!cached.is_up_to_date(&published(&doc("changed"))));
        // region: fault-catalogue
        assert!(!cached.is_annotated());
        // endregion: fault-catalogue
    }

    #[test]
    fn what_others_add_does_not_make_it_outdated_but_is_noticed() {
        let mut cm = published(&doc("hello"));
        cm.labels_mut().insert("team".into(), "docs".into());
        cm.annotations_mut()
            .insert("rival.example.com/reviewed".into(), "yes".into());
        let cached = CachedConfigMap::from(cm);
        assert!(cached.is_up_to_date(&published(&doc("hello"))));
        // region: fault-catalogue
        assert!(cached.is_annotated());
        // endregion: fault-catalogue
    }

    #[test]
    fn a_changed_owned_field_makes_it_outdated() {
        let desired = published(&doc("hello"));
        let mut relabelled = desired.clone();
        relabelled
            .labels_mut()
            .insert(DOCUMENT_LABEL.into(), "other".into());
        let mut orphaned = desired.clone();
        orphaned.metadata.owner_references = None;
        for changed in [relabelled, orphaned] {
            assert!(!CachedConfigMap::from(changed).is_up_to_date(&desired));
        }
    }

    #[test]
    fn the_index_keeps_its_entries() {
        let mut index = empty_index("ns");
        index.data = Some(BTreeMap::from([("a".to_string(), "A".to_string())]));
        let cached = CachedConfigMap::from(index);
        assert_eq!(cached.index_entry("a").as_deref(), Some("A"));
        assert_eq!(cached.index_entry("b"), None);
        assert_eq!(cached.owner(), None);
    }
}
