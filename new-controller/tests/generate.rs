//! Generates projects from this repository into temporary directories and reads them: nothing of
//! the template's identity is left, nothing of the fault catalogue without it, nothing of the
//! template itself in either, and every list the generator keeps still matches the template.
//! (Whether they build, lint clean and pass their tests is what `.ci/run` checks.)

use new_controller::identity::{Identity, Wanted};
use new_controller::strip::{FAULT_CATALOGUE, TEMPLATE_ONLY};
use new_controller::{GenerateError, Options, generate};
use std::path::{Path, PathBuf};

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn identity(wanted: Wanted) -> Identity {
    wanted.resolve().expect("a valid identity")
}

fn widget() -> Wanted {
    Wanted {
        kind: "Widget".into(),
        group: "example.com".into(),
        ..Wanted::default()
    }
}

/// A generated project in a temporary directory, and its text files (but the verbatim sandbox).
struct Project {
    dir: tempfile::TempDir,
    files: Vec<(PathBuf, String)>,
}

impl Project {
    fn generate(wanted: Wanted, fault_catalogue: bool) -> Project {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = Options {
            template: template(),
            destination: dir.path().join("project"),
            identity: identity(wanted),
            fault_catalogue,
        };
        let generated = generate(&options).expect("generated");
        // rustfmt is there wherever cargo test is; it fails on a `mod` whose file is missing.
        assert_eq!(generated.not_formatted, None, "rustfmt failed");
        let mut files = Vec::new();
        let root = dir.path().join("project");
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("readable").flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(&root).expect("inside").to_path_buf();
                if path.is_dir() {
                    if !relative.starts_with("sandbox") {
                        dirs.push(path);
                    }
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    files.push((relative, text));
                }
            }
        }
        Project { dir, files }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn text(&self, path: &str) -> &str {
        self.files
            .iter()
            .find(|(p, _)| p == Path::new(path))
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("{path} was not generated"))
    }

    /// Every line of every file (`path:line: text`) matching `hit`.
    fn lines(&self, hit: impl Fn(&Path, &str) -> bool) -> Vec<String> {
        let mut found = Vec::new();
        for (path, text) in &self.files {
            for (n, line) in text.lines().enumerate() {
                if hit(path, line) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        found
    }
}

/// Whether `word` occurs in `line` as a word of its own: no letter or digit next to it.
fn word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The template's identity anywhere outside the sandbox: the failure of a rename.
fn leftovers(project: &Project) -> Vec<String> {
    project.lines(|path, line| {
        let is_rust = path.extension().is_some_and(|e| e == "rs");
        ["Document", "Documents", "DOCUMENT", "document", "documents"]
            .iter()
            .any(|w| {
                word(line, w)
                    // The DOM's `document` in the admin page's script.
                    && !(is_rust && line.contains("document.") && *w == "document")
            })
            || line.contains("document-<")
            || line.contains("documents-index")
            || ["doc-controller", "doc_controller", "DOC_CONTROLLER", "DocController"]
                .iter()
                .any(|w| line.contains(w))
            // The group, where it is one (the kube.rs website stays).
            || line.match_indices("kube.rs").any(|(at, _)| {
                let after = &line[at + "kube.rs".len()..];
                !line[..at].ends_with("://")
                    && [" troubleshooting", " testing", " website", " guide", " 5"]
                        .iter()
                        .all(|w| !after.starts_with(w))
                    && !after.starts_with(|c: char| c.is_ascii_alphanumeric())
            })
            // The short name where it is the kind's.
            || line.contains("\"doc\"")
            || line.contains("get doc ")
            || line.trim() == "- doc"
    })
}

#[test]
fn a_generated_project_holds_nothing_of_the_templates_identity() {
    for fault_catalogue in [true, false] {
        let project = Project::generate(widget(), fault_catalogue);
        let found = leftovers(&project);
        assert!(found.is_empty(), "leftovers:\n{}", found.join("\n"));
        assert!(project.root().join("src/widget/resource.rs").is_file());
        assert!(!project.root().join("src/document").exists());
        let crd = project.text("yaml/crd.yaml");
        assert!(crd.contains("  name: widgets.example.com\n"), "{crd}");
        assert!(crd.contains("    kind: Widget\n"), "{crd}");
        assert!(
            !crd.contains("shortNames"),
            "no short name asked for: {crd}"
        );
        let lock = project.text("Cargo.lock");
        assert!(lock.contains("name = \"widget-controller\""));
        assert!(!lock.contains("name = \"new-controller\""));
    }
}

#[test]
fn without_the_catalogue_nothing_of_it_is_left() {
    let project = Project::generate(widget(), false);
    let found = project.lines(|_, line| {
        let lower = line.to_ascii_lowercase();
        lower.contains("toggle")
            || line.contains("FAULT(")
            // The sandbox's own faults (`sb.faults()`, `kube_apiserver_sandbox::Fault`) stay.
            || (line.contains("Fault::")
                && !line.contains("sandbox::Fault")
                && !line.contains("sb.faults()"))
            || line.contains("LiveFaults")
            || line.contains("--fault")
            || line.contains("live-faults")
            || line.contains("live_faults")
            || line.contains("faults.md")
            || line.contains("yaml/faults")
            || line.contains("fault_active")
            || line.contains("fault-catalogue")
            || line.contains("crash-on-error")
            || line.contains("status-timestamp")
    });
    assert!(
        found.is_empty(),
        "left of the catalogue:\n{}",
        found.join("\n")
    );
    for path in FAULT_CATALOGUE {
        assert!(
            !project.root().join(path).exists(),
            "{path} is the catalogue's"
        );
    }
}

#[test]
fn nothing_of_the_template_itself_is_copied() {
    let project = Project::generate(widget(), true);
    let found = project.lines(|_, line| {
        line.contains("template-only")
            || line.contains("new-controller")
            // The steering catalogue beside this repository, and its test and CI step.
            || line.contains("../shared")
            || line.contains("steering")
    });
    assert!(
        found.is_empty(),
        "left of the template:\n{}",
        found.join("\n")
    );
    for path in TEMPLATE_ONLY {
        assert!(
            !project.root().join(path).exists(),
            "{path} is the template's"
        );
    }
    let readme = project.text("README.md");
    for section in [
        "## Two commands",
        "## Where to start",
        "## The fault catalogue",
    ] {
        assert!(readme.contains(section), "the README lacks {section}");
    }
    assert!(readme.contains("[src/widget/](src/widget/)"), "{readme}");
    assert!(!readme.contains("## Benchmarks"));
    assert!(!readme.contains("## Start your own controller"));
    let manifest = project.text("Cargo.toml");
    assert!(
        manifest.contains("name = \"widget-controller\""),
        "{manifest}"
    );
}

#[test]
fn the_sandbox_is_copied_byte_for_byte_without_its_conformance_suite() {
    let project = Project::generate(widget(), false);
    let (from, to) = (template().join("sandbox"), project.root().join("sandbox"));
    let mut dirs = vec![PathBuf::new()];
    let mut copied = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(from.join(&dir))
            .expect("readable")
            .flatten()
        {
            let relative = dir.join(entry.file_name());
            let kept = to.join(&relative);
            if relative == Path::new("tests") || relative == Path::new("target") {
                assert!(
                    !kept.exists(),
                    "sandbox/{} is not copied",
                    relative.display()
                );
            } else if entry.path().is_dir() {
                dirs.push(relative);
            } else {
                let same = std::fs::read(entry.path()).ok() == std::fs::read(&kept).ok();
                assert!(
                    same,
                    "sandbox/{} differs from the template's",
                    relative.display()
                );
                copied += 1;
            }
        }
    }
    assert!(copied > 0, "no sandbox file compared");
}

#[test]
fn every_option_reaches_its_files() {
    let project = Project::generate(
        Wanted {
            kind: "DatabaseCluster".into(),
            group: "db.example.com".into(),
            version: Some("v1alpha1".into()),
            plural: Some("databaseclusters".into()),
            short_name: Some("dbc".into()),
            namespace: Some("databases".into()),
            name: Some("dbc-operator".into()),
        },
        false,
    );
    let crd = project.text("yaml/crd.yaml");
    for expected in [
        "  name: databaseclusters.db.example.com\n",
        "  group: db.example.com\n",
        "    kind: DatabaseCluster\n",
        "    - dbc\n",
        "    singular: databasecluster\n",
        "    name: v1alpha1\n",
    ] {
        assert!(crd.contains(expected), "{expected:?} in {crd}");
    }
    let resource = project.text("src/database_cluster/resource.rs");
    assert!(resource.contains("version = \"v1alpha1\""), "{resource}");
    assert!(resource.contains("shortname = \"dbc\""), "{resource}");
    assert!(
        resource.contains("pub struct DatabaseClusterSpec"),
        "{resource}"
    );
    let published = project.text("src/database_cluster/published.rs");
    assert!(
        published.contains("format!(\"databasecluster-{database_cluster}\")"),
        "a Kubernetes name in the string, the Rust name in its argument: {published}"
    );
    assert!(
        project
            .text("yaml/kustomization.yaml")
            .contains("namespace: databases\n")
    );
    assert!(
        project
            .text("yaml/namespace.yaml")
            .contains("  name: databases\n")
    );
    assert!(
        project
            .text("src/config.rs")
            .contains("env = \"DBC_OPERATOR_NAMESPACE\"")
    );
    let found = leftovers(&project);
    assert!(found.is_empty(), "leftovers:\n{}", found.join("\n"));
}

#[test]
fn a_kind_the_code_already_uses_or_a_destination_in_use_is_refused() {
    for kind in ["Config", "Index", "Metrics"] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = Options {
            template: template(),
            destination: dir.path().join("x"),
            identity: identity(Wanted {
                kind: kind.into(),
                ..widget()
            }),
            fault_catalogue: false,
        };
        let err = generate(&options).expect_err("refused");
        assert!(matches!(err, GenerateError::Identity(_)), "{kind}: {err}");
    }
    let busy = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(busy.path().join("file"), "").expect("written");
    let options = Options {
        template: template(),
        destination: busy.path().to_path_buf(),
        identity: identity(widget()),
        fault_catalogue: true,
    };
    let err = generate(&options).expect_err("refused");
    assert!(
        matches!(err, GenerateError::DestinationNotEmpty(_)),
        "{err}"
    );
    let inside = Options {
        destination: template().join("target/inside"),
        ..options
    };
    let err = generate(&inside).expect_err("refused");
    assert!(
        matches!(err, GenerateError::DestinationInsideTemplate(..)),
        "{err}"
    );
}

#[test]
fn every_listed_file_and_folder_exists_in_the_template() {
    for path in FAULT_CATALOGUE.iter().chain(TEMPLATE_ONLY) {
        let full = template().join(path);
        if *path == ".git/" || *path == "target/" {
            continue;
        }
        match path.strip_suffix('/') {
            Some(_) => assert!(full.is_dir(), "{path} is listed but is no folder"),
            None => assert!(full.is_file(), "{path} is listed but is no file"),
        }
    }
}
