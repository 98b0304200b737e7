//! What only the controller can judge about a Document.
//!
//! The schema in `yaml/crd.yaml` already rejects what the API server can check (title length, a blank
//! title). These checks depend on what the controller does with the Document, so they cannot be
//! expressed as schema: a Document that fails them is not an error to retry, it is a user mistake to
//! report. The reconciler sets `Ready=False` with reason `InvalidSpec`, publishes one Warning Event,
//! and waits for the spec to change.

use crate::crd::{Document, config_map_name};
use kube::ResourceExt;

/// Upper bound on the UTF-8 size of title plus content.
///
/// A ConfigMap holds at most 1 MiB (`MaxSecretSize` in the API server, shared by ConfigMaps); this
/// leaves room for the keys, metadata and the `last-applied` bookkeeping of server-side apply.
pub const MAX_CONTENT_BYTES: usize = 900 * 1024;

/// Longest object name the API server accepts (a DNS-1123 subdomain).
const MAX_NAME_LEN: usize = 253;

/// Why a Document cannot be published. The message is shown in the `Ready` condition and the Event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    /// The ConfigMap name `document-<name>` would exceed the API server's name length limit.
    ///
    /// Its Warning Event's name, `<name>.<16 hex digits>` as kube's `Recorder` names Events, would
    /// be over the limit too; the [`crate::events::EventRecorder`] cuts the name to fit.
    #[error(
        "the ConfigMap name {config_map:?} would be {len} characters, over the limit of {MAX_NAME_LEN}; use a Document name of at most {} characters",
        MAX_NAME_LEN - (config_map.len() - document_len)
    )]
    NameTooLong {
        /// The ConfigMap name that would be used.
        config_map: String,
        /// Its length in bytes.
        len: usize,
        /// The length of the Document's own name.
        document_len: usize,
    },
    /// Title and content do not fit into a ConfigMap once encoded.
    #[error(
        "title and content take {bytes} bytes in UTF-8, over the {MAX_CONTENT_BYTES} bytes a published ConfigMap can hold"
    )]
    ContentTooLarge {
        /// The encoded size of title plus content.
        bytes: usize,
    },
}

/// Checks what the schema cannot. `Ok` means the Document can be published.
pub fn validate(doc: &Document) -> Result<(), InvalidSpec> {
    let name = doc.name_any();
    let config_map = config_map_name(&name);
    if config_map.len() > MAX_NAME_LEN {
        return Err(InvalidSpec::NameTooLong {
            len: config_map.len(),
            document_len: name.len(),
            config_map,
        });
    }
    let bytes = doc.spec.title.len() + doc.spec.content.len();
    if bytes > MAX_CONTENT_BYTES {
        return Err(InvalidSpec::ContentTooLarge { bytes });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DocumentSpec;

    fn doc(name: &str, content: &str) -> Document {
        Document::new(
            name,
            DocumentSpec {
                title: "t".into(),
                content: content.into(),
                hide: false,
            },
        )
    }

    #[test]
    fn an_ordinary_document_is_valid() {
        assert_eq!(validate(&doc("samuel", "hello world")), Ok(()));
    }

    #[test]
    fn a_name_that_makes_the_config_map_name_too_long_is_invalid() {
        let name = "a".repeat(250);
        let err = validate(&doc(&name, "")).expect_err("name too long");
        assert!(matches!(err, InvalidSpec::NameTooLong { len: 259, .. }));
        assert!(err.to_string().contains("at most 244 characters"), "{err}");
    }

    #[test]
    fn content_that_fits_the_schema_in_characters_but_not_a_config_map_in_bytes_is_invalid() {
        // 300k four-byte characters pass the schema's 512Ki-character bound but take 1.2 MB.
        let content = "𝄞".repeat(300_000);
        let err = validate(&doc("big", &content)).expect_err("too large");
        assert_eq!(err, InvalidSpec::ContentTooLarge { bytes: 1_200_001 });
    }
}
