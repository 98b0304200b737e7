//! Renames the template's identity ([`crate::identity::TEMPLATE`]) to the one asked for, in one
//! pass over each file.
//!
//! # How
//! Every rule is a literal of the template's identity (`doc-controller`, `Document`,
//! `documents.kube.rs`, ...), what may stand before and after it, and what it becomes, which
//! can depend on where it stands: in Rust, an identifier is renamed to snake_case
//! (`database_cluster`), the same word in a string or comment to the Kubernetes spelling
//! (`databasecluster`), and the variable `doc` to the kind's snake_case name while `doc` in a
//! string, as in the docs, is the short name ([`crate::lexer`] tells code, strings and comments
//! apart). At each
//! position the first rule that matches wins and its output is not scanned again, so a new name
//! that contains an old one (a kind `Doc`) is safe. Longer literals come first: `documents.kube.rs`
//! before `documents`, `doc-controller` before `doc`.
//!
//! A few edits depend on the file and are listed in [`FILE_EDITS`] (the namespace `kubectl apply
//! -k yaml/` installs into, the CRD version in `yaml/crd.yaml`, a short name that is not wanted);
//! a test checks that each still matches the template.
//!
//! # What is not renamed
//! English words that contain the kind (`documentation`, `documented`), `#[doc]` attributes and
//! the kube derive's `doc = "…"`, `docs/`, the kube.rs website (`https://kube.rs`, "the kube.rs
//! troubleshooting guide"), the DOM's `document` in the admin page's script, and object names in
//! tests such as `doc-0`.

use crate::identity::{Identity, TEMPLATE, template};
use crate::lexer::{self, Class};
use std::path::{Path, PathBuf};

/// The renames from the template to one identity.
pub struct Renamer {
    to: Identity,
    rules: Vec<Rule>,
}

/// Where a match stands.
struct At<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    /// In a Rust file, what the match is part of; `None` in any other file.
    class: Option<Class>,
}

impl At<'_> {
    fn before(&self) -> &str {
        &self.text[..self.start]
    }

    fn after(&self) -> &str {
        &self.text[self.end..]
    }

    fn prev(&self) -> Option<char> {
        self.before().chars().next_back()
    }

    fn next(&self) -> Option<char> {
        self.after().chars().next()
    }
}

type Decide = Box<dyn Fn(&At<'_>) -> Option<String>>;

struct Rule {
    literal: String,
    decide: Decide,
}

fn alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

fn alpha(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphabetic())
}

/// A placeholder for text a file edit has already renamed, so that no rule renames it again.
const SHIELD_OPEN: char = '\u{E000}';
const SHIELD_CLOSE: char = '\u{E001}';

/// An edit of one file, done before the renames: `(path, from, to)`, where `to` may use
/// `{namespace}`, `{version}`; each applies when its condition holds.
pub struct FileEdit {
    /// The file, relative to the repository.
    pub path: &'static str,
    /// The literal replaced, every occurrence of it.
    pub from: &'static str,
    /// What replaces it.
    pub to: &'static str,
    /// When it applies.
    pub when: When,
}

/// When a [`FileEdit`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Always (no-ops for the template's own values).
    Always,
    /// When no short name is wanted.
    NoShortName,
}

/// The file-specific edits: the namespace `kubectl apply -k yaml/` installs into, the version in
/// the CRD's YAML, and what goes when the kind has no short name.
pub const FILE_EDITS: &[FileEdit] = &[
    FileEdit {
        path: "yaml/crd.yaml",
        from: "    name: v1\n    schema:",
        to: "    name: {version}\n    schema:",
        when: When::Always,
    },
    FileEdit {
        path: "yaml/kustomization.yaml",
        from: "namespace: doc-controller",
        to: "namespace: {namespace}",
        when: When::Always,
    },
    FileEdit {
        path: "yaml/namespace.yaml",
        from: "  name: doc-controller\n",
        to: "  name: {namespace}\n",
        when: When::Always,
    },
    FileEdit {
        path: "README.md",
        from: "kubectl -n doc-controller rollout",
        to: "kubectl -n {namespace} rollout",
        when: When::Always,
    },
    FileEdit {
        path: "README.md",
        from: "namespace `doc-controller`; the files themselves say `default`",
        to: "namespace `{namespace}`; the files themselves say `default`",
        when: When::Always,
    },
    FileEdit {
        path: "src/document/resource.rs",
        from: "    shortname = \"doc\",\n",
        to: "",
        when: When::NoShortName,
    },
    FileEdit {
        path: "src/document/resource.rs",
        from: "Some(vec![\"doc\".to_string()])",
        to: "None",
        when: When::NoShortName,
    },
    FileEdit {
        path: "yaml/crd.yaml",
        from: "    shortNames:\n    - doc\n",
        to: "",
        when: When::NoShortName,
    },
    FileEdit {
        path: "README.md",
        from: ", short name `doc`",
        to: "",
        when: When::NoShortName,
    },
];

/// Words after `kube.rs` that make it the website's name, not the API group.
const SITE_CONTEXT: &[&str] = &[" troubleshooting", " testing", " website", " guide", " 5"];

// === impl Renamer ===

impl Renamer {
    /// The renames from the template to `to`.
    pub fn new(to: &Identity) -> Self {
        let from = template();
        let to = to.clone();
        let mut rules: Vec<Rule> = Vec::new();
        let mut rule = |literal: String, decide: Decide| rules.push(Rule { literal, decide });
        let fixed = |s: String| -> Decide { Box::new(move |_| Some(s.clone())) };

        // Compounds of the identity, longest first.
        rule(
            format!("{}.{}.{}", from.kind, from.version, from.group),
            fixed(format!("{}.{}.{}", to.kind, to.version, to.group)),
        );
        rule(
            format!("{}.{}", from.plural, from.group),
            fixed(format!("{}.{}", to.plural, to.group)),
        );
        rule(
            format!("{}/{}", from.group, from.version),
            fixed(format!("{}/{}", to.group, to.version)),
        );
        rule(
            format!("version = \"{}\"", from.version),
            fixed(format!("version = \"{}\"", to.version)),
        );
        rule(
            format!("version `{}`", from.version),
            fixed(format!("version `{}`", to.version)),
        );

        // The project.
        rule(
            from.name.clone(),
            Box::new({
                let s = to.name.clone();
                move |at| (!alnum(at.prev()) && !alnum(at.next())).then(|| s.clone())
            }),
        );
        rule(
            from.crate_name(),
            Box::new({
                let s = to.crate_name();
                move |at| (!alnum(at.prev())).then(|| s.clone())
            }),
        );
        rule(
            from.env_prefix(),
            Box::new({
                let s = to.env_prefix();
                move |at| (!alnum(at.prev())).then(|| s.clone())
            }),
        );
        rule(
            from.name_camel(),
            Box::new({
                let s = to.name_camel();
                move |at| {
                    (!alpha(at.next()) || at.next().is_some_and(|c| c.is_ascii_uppercase()))
                        .then(|| s.clone())
                }
            }),
        );

        // The kind, capitalised: type names and prose. A lowercase letter after it makes it
        // another word (`Documentation`).
        let not_lower_next = |s: String| -> Decide {
            Box::new(move |at| {
                (!at.next().is_some_and(|c| c.is_ascii_lowercase())).then(|| s.clone())
            })
        };
        rule(from.plural_camel(), not_lower_next(to.plural_camel()));
        rule(from.kind.clone(), not_lower_next(to.kind.clone()));
        let upper_word = |s: String| -> Decide {
            Box::new(move |at| {
                let upper = |c: Option<char>| c.is_some_and(|c| c.is_ascii_uppercase());
                (!upper(at.prev()) && !upper(at.next())).then(|| s.clone())
            })
        };
        rule(
            from.plural_snake().to_ascii_uppercase(),
            upper_word(to.plural_snake().to_ascii_uppercase()),
        );
        rule(
            from.kind_snake().to_ascii_uppercase(),
            upper_word(to.kind_snake().to_ascii_uppercase()),
        );

        // The kind, lowercase: snake_case in Rust code, the Kubernetes spelling elsewhere.
        let lower = |code: String, other: String| -> Decide {
            Box::new(move |at| {
                if alnum(at.prev()) || alpha(at.next()) {
                    return None;
                }
                // The DOM's `document` in the admin page's script.
                if at.class == Some(Class::Str)
                    && at.after().starts_with('.')
                    && at.after()[1..].starts_with(|c: char| c.is_ascii_alphabetic())
                {
                    return None;
                }
                Some(if at.class == Some(Class::Code) {
                    code.clone()
                } else {
                    other.clone()
                })
            })
        };
        rule(
            from.plural.clone(),
            lower(to.plural_snake(), to.plural.clone()),
        );
        rule(from.singular(), lower(to.kind_snake(), to.singular()));

        // `doc`: the template's variable for one object of its kind, and its short name.
        let variable = to.kind_snake();
        let short = to.short_or_singular();
        rule(
            TEMPLATE.variable.to_string(),
            Box::new(move |at| {
                let before = at.before();
                if alnum(at.prev())
                    || alpha(at.next())
                    || at.prev() == Some('$')
                    || before.ends_with("#[")
                    || before.ends_with("#![")
                {
                    return None;
                }
                let after = at.after();
                match at.class {
                    // The kube derive's `doc = "…"` is the CRD's description, not the variable.
                    Some(Class::Code) if after.starts_with(" = \"") => None,
                    Some(Class::Code) => Some(variable.clone()),
                    // In a string, as in prose, what a person types (`kubectl get doc`); `doc-0`
                    // is an object's name.
                    Some(Class::Str) if at.next() == Some('-') => None,
                    Some(Class::Str) => Some(short.clone()),
                    Some(Class::Comment) if after.starts_with(" comment") => None,
                    Some(Class::Comment) => Some(variable.clone()),
                    None if at.next() == Some('-')
                        || after.starts_with(" comment")
                        || before.ends_with("cargo ") =>
                    {
                        None
                    }
                    None => Some(short.clone()),
                }
            }),
        );

        // The API group, where it is one: not the kube.rs website.
        rule(
            from.group.clone(),
            Box::new({
                let s = to.group.clone();
                move |at| {
                    let site = at.before().ends_with("://")
                        || SITE_CONTEXT.iter().any(|w| at.after().starts_with(w));
                    (!alnum(at.prev()) && !alnum(at.next()) && !site).then(|| s.clone())
                }
            }),
        );

        Self { to, rules }
    }

    /// `text`, the content of the template's file `path`, renamed.
    pub fn file(&self, path: &Path, text: &str) -> String {
        let edited = self.file_edits(path, text);
        let classes =
            (path.extension().is_some_and(|e| e == "rs")).then(|| lexer::classify(&edited));
        let renamed = self.words(&edited, classes.as_deref());
        renamed.replace([SHIELD_OPEN, SHIELD_CLOSE], "")
    }

    /// `path` in the generated project: a module named after the kind (`src/document/`) or its
    /// plural (`tests/survival/documents.rs`) is named after the new one, as the code's `mod`
    /// declarations are.
    pub fn path(&self, path: &Path) -> PathBuf {
        let template = template();
        let renames = [
            (template.kind_snake(), self.to.kind_snake()),
            (template.plural_snake(), self.to.plural_snake()),
        ];
        path.components()
            .map(|c| {
                let part = Path::new(c.as_os_str());
                let stem = part
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                match renames.iter().find(|(from, _)| from == stem) {
                    Some((_, to)) => match part.extension() {
                        Some(ext) => Path::new(to).with_extension(ext),
                        None => PathBuf::from(to),
                    },
                    None => part.to_path_buf(),
                }
            })
            .collect()
    }

    fn file_edits(&self, path: &Path, text: &str) -> String {
        let mut text = text.to_string();
        for edit in FILE_EDITS {
            let applies = match edit.when {
                When::Always => true,
                When::NoShortName => self.to.short_name.is_none(),
            };
            if applies && Path::new(edit.path) == path {
                let to = edit
                    .to
                    .replace("{namespace}", &self.to.namespace)
                    .replace("{version}", &self.to.version)
                    .replace("{name}", &self.to.name);
                let shielded: String = if to.is_empty() {
                    to
                } else {
                    format!("{SHIELD_OPEN}{to}{SHIELD_CLOSE}")
                };
                text = text.replace(edit.from, &shielded);
            }
        }
        text
    }

    fn words(&self, text: &str, classes: Option<&[Class]>) -> String {
        let mut out = String::with_capacity(text.len() + text.len() / 16);
        let mut i = 0;
        let mut shielded = false;
        while i < text.len() {
            let rest = &text[i..];
            let c = rest.chars().next().unwrap_or_default();
            if c == SHIELD_OPEN || c == SHIELD_CLOSE {
                shielded = c == SHIELD_OPEN;
                out.push(c);
                i += c.len_utf8();
                continue;
            }
            if !shielded {
                let hit = self.rules.iter().find_map(|rule| {
                    if !rest.starts_with(rule.literal.as_str()) {
                        return None;
                    }
                    let at = At {
                        text,
                        start: i,
                        end: i + rule.literal.len(),
                        class: classes.map(|c| c[i]),
                    };
                    (rule.decide)(&at).map(|replacement| (rule.literal.len(), replacement))
                });
                if let Some((len, replacement)) = hit {
                    out.push_str(&replacement);
                    i += len;
                    continue;
                }
            }
            out.push(c);
            i += c.len_utf8();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Wanted;

    fn renamer(kind: &str, short: Option<&str>) -> Renamer {
        let id = Wanted {
            kind: kind.into(),
            group: "example.com".into(),
            short_name: short.map(str::to_string),
            version: Some("v1alpha1".into()),
            namespace: Some("widgets".into()),
            ..Wanted::default()
        }
        .resolve()
        .expect("valid");
        Renamer::new(&id)
    }

    fn rust(r: &Renamer, text: &str) -> String {
        r.file(Path::new("src/x.rs"), text)
    }

    #[test]
    fn code_strings_and_comments_each_get_their_spelling() {
        let r = renamer("DatabaseCluster", Some("dbc"));
        assert_eq!(
            rust(
                &r,
                "fn f(doc: &Document, documents: Store<Document>) { doc.spec }"
            ),
            "fn f(database_cluster: &DatabaseCluster, database_clusters: Store<DatabaseCluster>) { database_cluster.spec }"
        );
        assert_eq!(
            rust(
                &r,
                r#"format!("document-{document}"); // one document, `doc`"#
            ),
            r#"format!("databasecluster-{database_cluster}"); // one databasecluster, `database_cluster`"#
        );
        assert_eq!(
            rust(
                &r,
                r#"shortname = "doc", doc = "A document by doc-controller""#
            ),
            r#"shortname = "dbc", doc = "A databasecluster by databasecluster-controller""#
        );
        assert_eq!(
            rust(
                &r,
                "let cm = \"document-doc-0\"; #[doc = $doc] DocumentSpec DOCUMENT_LABEL"
            ),
            "let cm = \"databasecluster-doc-0\"; #[doc = $doc] DatabaseClusterSpec DATABASE_CLUSTER_LABEL"
        );
    }

    #[test]
    fn the_identity_and_its_compounds_are_renamed_everywhere() {
        let r = renamer("Widget", None);
        let prose = r.file(
            Path::new("README.md"),
            "doc-controller (`documents.kube.rs`, `Document.v1.kube.rs/x.ns`, kube.rs/v1): \
             DOC_CONTROLLER_NAMESPACE, doc_controller_reconcile_total, DocControllerFinding, \
             `kubectl get doc`, Documents, the kube.rs troubleshooting guide, https://kube.rs/x, \
             group `kube.rs`, documentation",
        );
        assert_eq!(
            prose,
            "widget-controller (`widgets.example.com`, `Widget.v1alpha1.example.com/x.ns`, \
             example.com/v1alpha1): WIDGET_CONTROLLER_NAMESPACE, \
             widget_controller_reconcile_total, WidgetControllerFinding, `kubectl get widget`, \
             Widgets, the kube.rs troubleshooting guide, https://kube.rs/x, group `example.com`, \
             documentation"
        );
    }

    #[test]
    fn the_doms_document_in_a_script_is_left_alone() {
        let r = renamer("Widget", None);
        let js = "const S: &str = \"document.title = page.title; document.documentElement\";";
        assert_eq!(rust(&r, js), js);
    }

    #[test]
    fn a_new_name_containing_an_old_one_is_not_renamed_twice() {
        let r = renamer("Doc", None);
        assert_eq!(
            rust(&r, "let doc: Document = documents"),
            "let doc: Doc = docs"
        );
    }

    #[test]
    fn every_file_edit_matches_the_template() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for edit in FILE_EDITS {
            let text = std::fs::read_to_string(root.join(edit.path))
                .unwrap_or_else(|e| panic!("{}: {e}", edit.path));
            assert!(
                text.contains(edit.from),
                "{} no longer contains {:?}",
                edit.path,
                edit.from
            );
        }
    }

    #[test]
    fn the_kinds_modules_are_renamed() {
        let r = renamer("DatabaseCluster", None);
        assert_eq!(
            r.path(Path::new("src/document/status.rs")),
            Path::new("src/database_cluster/status.rs")
        );
        assert_eq!(
            r.path(Path::new("tests/survival/documents.rs")),
            Path::new("tests/survival/database_clusters.rs")
        );
        assert_eq!(
            r.path(Path::new("docs/diagnosis.md")),
            Path::new("docs/diagnosis.md")
        );
    }
}
