//! Who a controller is: its name, and the kind, group, version, plural, short name and namespace
//! it is built for.
//!
//! [`TEMPLATE`] is this repository's identity, declared once: every rename the generator makes
//! ([`crate::rename`]) is derived from it and from the identity asked for. The forms a name takes
//! in code, in Kubernetes names and in metric names ([`Identity::crate_name`],
//! [`Identity::kind_snake`], ...) are derived here too, the way kube and kubebuilder derive them.

use heck::ToUpperCamelCase;
use std::fmt;

/// The identity of a controller project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The project: crate, binary, ServiceAccount, Deployment, field manager (`doc-controller`).
    pub name: String,
    /// The custom resource's kind, UpperCamelCase (`Document`).
    pub kind: String,
    /// Its API group, a domain (`kube.rs`).
    pub group: String,
    /// Its API version (`v1`).
    pub version: String,
    /// Its plural, lowercase (`documents`): the resource in URLs and RBAC.
    pub plural: String,
    /// Its short name for `kubectl get` (`doc`), if any.
    pub short_name: Option<String>,
    /// The namespace `kubectl apply -k yaml/` installs the controller into (`doc-controller`).
    pub namespace: String,
}

/// This repository: the identity every rename starts from.
pub fn template() -> Identity {
    Identity {
        name: TEMPLATE.name.into(),
        kind: TEMPLATE.kind.into(),
        group: TEMPLATE.group.into(),
        version: TEMPLATE.version.into(),
        plural: TEMPLATE.plural.into(),
        short_name: Some(TEMPLATE.short_name.into()),
        namespace: TEMPLATE.namespace.into(),
    }
}

/// The template's identity as constants (see [`template`]).
pub struct Template {
    /// See [`Identity::name`].
    pub name: &'static str,
    /// See [`Identity::kind`].
    pub kind: &'static str,
    /// See [`Identity::group`].
    pub group: &'static str,
    /// See [`Identity::version`].
    pub version: &'static str,
    /// See [`Identity::plural`].
    pub plural: &'static str,
    /// See [`Identity::short_name`].
    pub short_name: &'static str,
    /// See [`Identity::namespace`].
    pub namespace: &'static str,
    /// What the template's code calls one object of its kind (`doc: &Document`); a generated
    /// project calls it [`Identity::kind_snake`].
    pub variable: &'static str,
}

/// This repository's identity. Its derived forms appear in the code as `doc_controller` (crate),
/// `DOC_CONTROLLER_` (environment), `doc_controller_` (metrics), `DocController` (alert names),
/// `document-<name>` (published ConfigMaps), `documents-index` (the index), `documents.kube.rs`
/// (CRD name and finalizer), `Document.v1.kube.rs` (object refs).
pub const TEMPLATE: Template = Template {
    name: "doc-controller",
    kind: "Document",
    group: "kube.rs",
    version: "v1",
    plural: "documents",
    short_name: "doc",
    namespace: "doc-controller",
    variable: "doc",
};

/// An identity that breaks a Kubernetes naming rule, or that the generated code could not carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?}: {rule}")]
pub struct InvalidIdentity {
    /// The flag at fault, e.g. `--kind`.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// The rule it breaks.
    pub rule: String,
}

/// What the command line gives; the rest is derived ([`Wanted::resolve`]).
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    /// `--kind`.
    pub kind: String,
    /// `--group`.
    pub group: String,
    /// `--version` (default `v1`).
    pub version: Option<String>,
    /// `--plural` (default: the lowercase kind plus `s`).
    pub plural: Option<String>,
    /// `--short-name` (default: none).
    pub short_name: Option<String>,
    /// `--namespace` (default: the project's name, as the template's own namespace is).
    pub namespace: Option<String>,
    /// `--name` (default: `<lowercase kind>-controller`).
    pub name: Option<String>,
}

impl Wanted {
    /// Fills in the defaults and checks every name against the rules the API server applies to a
    /// CRD (`ValidateCustomResourceDefinitionNames` and `ValidateCustomResourceDefinitionSpec` in
    /// the apiextensions-apiserver's validation.go) and those of a Rust crate.
    pub fn resolve(self) -> Result<Identity, InvalidIdentity> {
        let invalid = |field, value: &str, rule: &str| InvalidIdentity {
            field,
            value: value.to_string(),
            rule: rule.to_string(),
        };
        let kind = self.kind;
        if !kind.starts_with(|c: char| c.is_ascii_uppercase())
            || !kind.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(
                "--kind",
                &kind,
                "a kind is UpperCamelCase: an ASCII capital letter, then letters and digits",
            ));
        }
        if let Err(rule) = dns1035_label(&kind.to_ascii_lowercase()) {
            return Err(invalid("--kind", &kind, &format!("lowercased, it {rule}")));
        }
        let group = self.group;
        if let Err(rule) = dns1123_subdomain(&group) {
            return Err(invalid("--group", &group, &rule));
        }
        if !group.contains('.') {
            return Err(invalid(
                "--group",
                &group,
                "a CRD's group is a domain with at least one dot (example.com)",
            ));
        }
        let version = self.version.unwrap_or_else(|| "v1".into());
        if let Err(rule) = dns1035_label(&version) {
            return Err(invalid("--version", &version, &rule));
        }
        let plural = self
            .plural
            .unwrap_or_else(|| format!("{}s", kind.to_ascii_lowercase()));
        if let Err(rule) = dns1035_label(&plural) {
            return Err(invalid("--plural", &plural, &rule));
        }
        if plural == kind.to_ascii_lowercase() {
            return Err(invalid(
                "--plural",
                &plural,
                "the plural must differ from the singular (the lowercase kind)",
            ));
        }
        if let Some(short) = &self.short_name
            && let Err(rule) = dns1035_label(short)
        {
            return Err(invalid("--short-name", short, &rule));
        }
        let name = self
            .name
            .unwrap_or_else(|| format!("{}-controller", kind.to_ascii_lowercase()));
        let namespace = self.namespace.unwrap_or_else(|| name.clone());
        if let Err(rule) = dns1123_label(&namespace) {
            return Err(invalid("--namespace", &namespace, &rule));
        }
        // The name is a crate, a ServiceAccount and Deployment, and the prefix of the
        // `<name>-config` ConfigMap and of ClusterRoles the tests name after a namespace.
        if let Err(rule) = dns1035_label(&name) {
            return Err(invalid("--name", &name, &rule));
        }
        if name.len() > 40 {
            return Err(invalid(
                "--name",
                &name,
                "at most 40 characters (objects are named after it with suffixes)",
            ));
        }
        Ok(Identity {
            name,
            kind,
            group,
            version,
            plural,
            short_name: self.short_name,
            namespace,
        })
    }
}

/// A DNS-1035 label (`IsDNS1035Label`): what Kubernetes requires of a resource's plural,
/// singular and short names and of an API version.
fn dns1035_label(value: &str) -> Result<(), String> {
    let rule = "must be a DNS-1035 label: at most 63 lowercase letters, digits and '-', \
                starting with a letter and ending with a letter or digit";
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(()).ok_or_else(|| rule.to_string())
}

/// A DNS-1123 label (`IsDNS1123Label`): what Kubernetes requires of a namespace.
fn dns1123_label(value: &str) -> Result<(), String> {
    let rule = "must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', \
                starting and ending with a letter or digit";
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(alnum)
        && value.ends_with(alnum)
        && value.chars().all(|c| alnum(c) || c == '-');
    ok.then_some(()).ok_or_else(|| rule.to_string())
}

/// A DNS-1123 subdomain (`IsDNS1123Subdomain`): what Kubernetes requires of an API group.
fn dns1123_subdomain(value: &str) -> Result<(), String> {
    let rule =
        "must be a DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels";
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| dns1123_label(label).is_ok());
    ok.then_some(()).ok_or_else(|| rule.to_string())
}

// === impl Identity ===

impl Identity {
    /// The Rust crate: `doc_controller`.
    pub fn crate_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The prefix of environment variables, without the trailing `_`: `DOC_CONTROLLER`.
    pub fn env_prefix(&self) -> String {
        self.crate_name().to_ascii_uppercase()
    }

    /// The name in UpperCamelCase, as alert names start: `DocController`.
    pub fn name_camel(&self) -> String {
        self.name.to_upper_camel_case()
    }

    /// The singular as Kubernetes spells it (`names.singular`, the lowercase kind): `document`.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The kind in snake_case, for Rust identifiers and the module holding it: `document`,
    /// `database_cluster`.
    pub fn kind_snake(&self) -> String {
        snake(&self.kind)
    }

    /// The plural in UpperCamelCase, for prose and type names: `Documents`, `DatabaseClusters`,
    /// `Policies`. The kind's own capitals are kept as far as the plural spells the kind.
    pub fn plural_camel(&self) -> String {
        let lower = self.singular();
        let common = lower
            .chars()
            .zip(self.plural.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let head: String = self.kind.chars().take(common).collect();
        let tail = &self.plural[common..];
        if head.is_empty() {
            let mut chars = tail.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        } else {
            head + tail
        }
    }

    /// The plural in snake_case, for Rust identifiers: `documents`, `database_clusters`.
    pub fn plural_snake(&self) -> String {
        snake(&self.plural_camel())
    }

    /// The short name where a person types one (`kubectl get doc`): the short name, else the
    /// singular.
    pub fn short_or_singular(&self) -> String {
        self.short_name.clone().unwrap_or_else(|| self.singular())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} ({}.{}, {})",
            self.name, self.kind, self.plural, self.group, self.version
        )
    }
}

/// `DatabaseCluster` → `database_cluster`.
pub fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(kind: &str, group: &str) -> Wanted {
        Wanted {
            kind: kind.into(),
            group: group.into(),
            ..Wanted::default()
        }
    }

    #[test]
    fn defaults_are_derived_the_way_kubebuilder_does() {
        let id = wanted("Widget", "example.com").resolve().expect("valid");
        assert_eq!(id.name, "widget-controller");
        assert_eq!(id.version, "v1");
        assert_eq!(id.plural, "widgets");
        assert_eq!(id.short_name, None);
        assert_eq!(id.namespace, "widget-controller");
        assert_eq!(id.crate_name(), "widget_controller");
        assert_eq!(id.env_prefix(), "WIDGET_CONTROLLER");
        assert_eq!(id.name_camel(), "WidgetController");
        assert_eq!(id.short_or_singular(), "widget");
    }

    #[test]
    fn the_template_derives_the_names_its_code_uses() {
        let t = template();
        assert_eq!(t.crate_name(), "doc_controller");
        assert_eq!(t.env_prefix(), "DOC_CONTROLLER");
        assert_eq!(t.name_camel(), "DocController");
        assert_eq!(t.plural_camel(), "Documents");
        assert_eq!(t.kind_snake(), "document");
    }

    #[test]
    fn multi_word_kinds_and_irregular_plurals_keep_their_capitals() {
        let mut w = wanted("DatabaseCluster", "example.com");
        let id = w.clone().resolve().expect("valid");
        assert_eq!(id.kind_snake(), "database_cluster");
        assert_eq!(id.plural, "databaseclusters");
        assert_eq!(id.plural_camel(), "DatabaseClusters");
        assert_eq!(id.plural_snake(), "database_clusters");
        w.kind = "Policy".into();
        w.plural = Some("policies".into());
        let id = w.resolve().expect("valid");
        assert_eq!(id.plural_camel(), "Policies");
    }

    #[test]
    fn names_kubernetes_rejects_are_rejected_with_the_rule() {
        for (w, field) in [
            (wanted("widget", "example.com"), "--kind"),
            (wanted("Wid-get", "example.com"), "--kind"),
            (wanted("9Lives", "example.com"), "--kind"),
            (wanted("Widget", "example"), "--group"),
            (wanted("Widget", "Example.com"), "--group"),
            (wanted("Widget", "example..com"), "--group"),
            (
                Wanted {
                    plural: Some("Widgets".into()),
                    ..wanted("Widget", "example.com")
                },
                "--plural",
            ),
            (
                Wanted {
                    plural: Some("widget".into()),
                    ..wanted("Widget", "example.com")
                },
                "--plural",
            ),
            (
                Wanted {
                    version: Some("1".into()),
                    ..wanted("Widget", "example.com")
                },
                "--version",
            ),
            (
                Wanted {
                    short_name: Some("w_d".into()),
                    ..wanted("Widget", "example.com")
                },
                "--short-name",
            ),
            (
                Wanted {
                    namespace: Some("-ns".into()),
                    ..wanted("Widget", "example.com")
                },
                "--namespace",
            ),
        ] {
            let err = w.clone().resolve().expect_err("invalid");
            assert_eq!(err.field, field, "{w:?}");
            assert_eq!(err.to_string().lines().count(), 1, "{err}");
        }
    }
}
