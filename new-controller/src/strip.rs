//! What a generated project leaves out: the fault catalogue on request, and always what only the
//! template needs.
//!
//! # The fault catalogue, three ways
//! 1. Whole files and folders that belong to it are listed once, in [`FAULT_CATALOGUE`].
//! 2. In Rust, a branch point is a `// FAULT(<toggle>): …` comment directly followed by one
//!    statement, the wrong way, which overrides or short-circuits the right way around it
//!    (`src/fault.rs` describes the convention). [`fault_sites`] drops the comment and that
//!    statement, which ends at its `;`, or at the `}` that closes it when no `else` follows.
//! 3. Everything else (imports, fields, parameters, match arms, tests, paragraphs of the docs)
//!    sits between region markers a reader recognises at a glance, in the comment syntax of its
//!    file: `// region: fault-catalogue` … `// endregion: fault-catalogue` in Rust,
//!    `<!-- region: fault-catalogue -->` in Markdown, `# region: fault-catalogue` in YAML, TOML,
//!    the justfile and shell. [`regions`] drops them with their markers. JSON has no comments: an
//!    object of a pretty-printed JSON file (a dashboard panel) that holds
//!    `"region": "fault-catalogue"` goes as a whole ([`json_objects`]).
//!
//! # Template only
//! The same markers with the name `template-only` mark what no generated project gets (this
//! project's benchmark history in the README, the generator's own workspace entry and CI step),
//! and [`TEMPLATE_ONLY`] lists the files and folders.

use crate::lexer::{self, Class};

/// The name of the region markers of the fault catalogue.
pub const FAULT_CATALOGUE_REGION: &str = "fault-catalogue";

/// The name of the region markers of what only this repository has.
pub const TEMPLATE_ONLY_REGION: &str = "template-only";

/// Files and folders of the fault catalogue, relative to the repository (a folder ends in `/`).
pub const FAULT_CATALOGUE: &[&str] = &[
    "src/fault.rs",
    "src/credentials.rs",
    "src/controller/toggles.rs",
    "src/controller/per_object.rs",
    "docs/faults.md",
    "yaml/faults/",
    "tests/faults.rs",
    "tests/catalogue.rs",
    "tests/page.rs",
    "tests/support/faults_md.rs",
    "examples/demo/",
];

/// Files and folders no generated project gets: build output, the generator and its docs; the
/// benchmarks (their write floor re-implements this controller's writes outside it, so they
/// measure the wrong thing as soon as a project publishes something else); and the sandbox's own
/// conformance suite, which tests the API server against this project's manifests and is the
/// sandbox's business, as a dependency's tests are (a generated project runs its own suites on
/// the sandbox).
pub const TEMPLATE_ONLY: &[&str] = &[
    "target/",
    ".git/",
    "new-controller/",
    "examples/bench/",
    "docs/template.md",
    "sandbox/tests/",
];

/// Why a file could not be stripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripError {
    /// A region marker without its partner.
    #[error("line {line}: {problem} region marker `{name}`")]
    Unbalanced {
        /// Line number (1-based).
        line: usize,
        /// What is wrong with it.
        problem: &'static str,
        /// The region's name.
        name: String,
    },
    /// A `// FAULT(` comment not followed by a statement.
    #[error("line {line}: a FAULT( comment must be followed by one statement")]
    NoStatement {
        /// Line number (1-based) of the comment.
        line: usize,
    },
}

/// The comment syntax of region markers in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `// region: …`
    Slashes,
    /// `<!-- region: … -->`
    Html,
    /// `# region: …`
    Hash,
    /// JSON: an object with a `"region"` member ([`json_objects`]).
    Json,
    /// No regions (`Cargo.lock`).
    None,
}

impl Syntax {
    /// The marker syntax of the file at `path`.
    pub fn of(path: &std::path::Path) -> Syntax {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match path.extension().and_then(|e| e.to_str()) {
            Some("rs") => Syntax::Slashes,
            Some("md") => Syntax::Html,
            Some("json") => Syntax::Json,
            _ if name == "Cargo.lock" => Syntax::None,
            _ => Syntax::Hash,
        }
    }

    /// The region name a trimmed line marks, and whether it is an end marker.
    fn marker(self, trimmed: &str) -> Option<(&str, bool)> {
        let inner = match self {
            Syntax::Slashes => trimmed.strip_prefix("//")?.trim_start(),
            Syntax::Hash => trimmed.strip_prefix('#')?.trim_start(),
            Syntax::Html => trimmed.strip_prefix("<!--")?.strip_suffix("-->")?.trim(),
            Syntax::Json | Syntax::None => return None,
        };
        if let Some(name) = inner.strip_prefix("endregion:") {
            Some((name.trim(), true))
        } else {
            inner
                .strip_prefix("region:")
                .map(|name| (name.trim(), false))
        }
    }
}

/// `text` without the regions named `name` (markers included). Where a region stood between two
/// blank lines, one of them goes too, so no double blank line is left.
pub fn regions(text: &str, syntax: Syntax, name: &str) -> Result<String, StripError> {
    if syntax == Syntax::Json {
        return json_objects(text, name);
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut keep = vec![true; lines.len()];
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let Some((marked, end)) = syntax.marker(line.trim()) else {
            if open.is_some() {
                keep[i] = false;
            }
            continue;
        };
        if marked != name {
            if open.is_some() {
                keep[i] = false;
            }
            continue;
        }
        match (end, open) {
            (false, None) => {
                open = Some(i);
                keep[i] = false;
            }
            (true, Some(start)) => {
                keep[i] = false;
                open = None;
                let blank = |j: usize| lines[j].trim().is_empty();
                let before_blank = start > 0 && blank(start - 1) && keep[start - 1];
                let after_blank = i + 1 >= lines.len() || blank(i + 1);
                if before_blank && after_blank {
                    keep[start - 1] = false;
                }
            }
            (false, Some(_)) => {
                return Err(StripError::Unbalanced {
                    line: i + 1,
                    problem: "a nested",
                    name: name.into(),
                });
            }
            (true, None) => {
                return Err(StripError::Unbalanced {
                    line: i + 1,
                    problem: "an unopened end",
                    name: name.into(),
                });
            }
        }
    }
    if let Some(start) = open {
        return Err(StripError::Unbalanced {
            line: start + 1,
            problem: "an unclosed",
            name: name.into(),
        });
    }
    Ok(lines
        .iter()
        .zip(keep)
        .filter_map(|(line, keep)| keep.then_some(*line))
        .collect())
}

/// Pretty-printed JSON `text` without the objects holding a member `"region": "<name>"`, and the
/// comma before one that was the last of its array or object.
pub fn json_objects(text: &str, name: &str) -> Result<String, StripError> {
    let marker = format!("\"region\": \"{name}\"");
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    while let Some(at) = lines
        .iter()
        .position(|l| l.trim().trim_end_matches(',') == marker)
    {
        let unbalanced = |problem| StripError::Unbalanced {
            line: at + 1,
            problem,
            name: name.to_string(),
        };
        let open = (0..at)
            .rev()
            .find(|&i| lines[i].trim() == "{" && indent(&lines[i]) < indent(&lines[at]))
            .ok_or_else(|| unbalanced("a JSON"))?;
        let depth = indent(&lines[open]);
        let close = (at..lines.len())
            .find(|&i| indent(&lines[i]) == depth && matches!(lines[i].trim(), "}" | "},"))
            .ok_or_else(|| unbalanced("an unclosed JSON"))?;
        let was_last = lines[close].trim() == "}";
        lines.drain(open..=close);
        if was_last && open > 0 {
            let previous = &mut lines[open - 1];
            if previous.trim_end().ends_with(',') {
                let end = previous.trim_end().len() - 1;
                let newline = previous.ends_with('\n');
                previous.truncate(end);
                if newline {
                    previous.push('\n');
                }
            }
        }
    }
    Ok(lines.concat())
}

/// Rust `text` without its `// FAULT(…)` comments and the statement each is followed by.
pub fn fault_sites(text: &str) -> Result<String, StripError> {
    let classes = lexer::classify(text);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = next_fault_comment(text, &classes, i) {
        let line_start = text[..found].rfind('\n').map_or(0, |n| n + 1);
        // The comment block: this line and the `//` lines that follow it.
        let mut j = line_end(text, found);
        while j < text.len() && text[j..].trim_start_matches([' ', '\t']).starts_with("//") {
            j = line_end(text, j);
        }
        let end = statement_end(text, &classes, j).ok_or(StripError::NoStatement {
            line: text[..found].lines().count().max(1),
        })?;
        out.push_str(&text[i..line_start]);
        i = line_end(text, end.saturating_sub(1));
    }
    out.push_str(&text[i..]);
    Ok(out)
}

/// Where the next `// FAULT(` line comment starts, from `from` on.
fn next_fault_comment(text: &str, classes: &[Class], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(n) = text[at..].find("// FAULT(") {
        let found = at + n;
        let line_start = text[..found].rfind('\n').map_or(0, |n| n + 1);
        if classes[found] == Class::Comment && text[line_start..found].trim().is_empty() {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

/// The index just past the `\n` ending the line that holds `at` (or the end of `text`).
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |n| at + n + 1)
}

/// The end (exclusive) of the statement starting at or after `from`: its `;` at depth 0, or the
/// `}` that brings it back to depth 0 when neither `else` nor a method call follows.
fn statement_end(text: &str, classes: &[Class], from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut started = false;
    let mut i = from;
    while i < bytes.len() {
        if classes[i] != Class::Code {
            i += 1;
            continue;
        }
        let b = bytes[i];
        if !b.is_ascii_whitespace() {
            started = true;
        }
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' => {
                depth -= 1;
                if depth == 0 && started {
                    let rest = code_after(text, classes, i + 1);
                    let continues = rest.starts_with("else")
                        || rest.starts_with('.')
                        || rest.starts_with('?')
                        || rest.starts_with(';');
                    if !continues {
                        return Some(i + 1);
                    }
                }
                if depth < 0 {
                    return None;
                }
            }
            b';' if depth == 0 && started => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The code after `from`, skipping whitespace and comments.
fn code_after<'a>(text: &'a str, classes: &[Class], from: usize) -> &'a str {
    let mut i = from;
    while i < text.len()
        && (classes[i] == Class::Comment || text.as_bytes()[i].is_ascii_whitespace())
    {
        i += 1;
    }
    &text[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_site_goes_with_its_one_statement() {
        let text = "fn f() {\n    let a = 1;\n    // FAULT(x): wrong.\n    // Fix: right.\n    if on(X) {\n        return \"}\";\n    }\n    right()\n}\n";
        assert_eq!(
            fault_sites(text).expect("stripped"),
            "fn f() {\n    let a = 1;\n    right()\n}\n"
        );
        let shadowing = "    let w = right();\n    // FAULT(y): wrong.\n    let w = if on(Y) {\n        wrong()\n    } else {\n        w\n    };\n    use_it(w);\n";
        assert_eq!(
            fault_sites(shadowing).expect("stripped"),
            "    let w = right();\n    use_it(w);\n"
        );
    }

    #[test]
    fn a_fault_comment_without_a_statement_is_an_error() {
        assert!(fault_sites("fn f() {\n    // FAULT(x): dangling\n}\n").is_err());
        let mention = "/// See `// FAULT(x)` in the docs.\nfn f() {}\n";
        assert_eq!(
            fault_sites(mention).expect("a mention is not a site"),
            mention
        );
    }

    #[test]
    fn regions_go_with_their_markers_and_leave_no_double_blank_line() {
        let md =
            "a\n\n<!-- region: fault-catalogue -->\nb\n<!-- endregion: fault-catalogue -->\n\nc\n";
        assert_eq!(
            regions(md, Syntax::Html, FAULT_CATALOGUE_REGION).expect("stripped"),
            "a\n\nc\n"
        );
        let rust = "use a;\n// region: fault-catalogue\nuse b;\n// endregion: fault-catalogue\n";
        assert_eq!(
            regions(rust, Syntax::Slashes, FAULT_CATALOGUE_REGION).expect("stripped"),
            "use a;\n"
        );
        let yaml = "x: 1\n# region: template-only\ny: 2\n# endregion: template-only\n";
        assert_eq!(
            regions(yaml, Syntax::Hash, FAULT_CATALOGUE_REGION).expect("other regions stay"),
            yaml
        );
    }

    #[test]
    fn a_json_object_with_the_region_member_goes_whole() {
        let json = "{\n  \"panels\": [\n    {\n      \"id\": 1\n    },\n    {\n      \"region\": \"fault-catalogue\",\n      \"id\": 2\n    }\n  ]\n}\n";
        assert_eq!(
            json_objects(json, FAULT_CATALOGUE_REGION).expect("stripped"),
            "{\n  \"panels\": [\n    {\n      \"id\": 1\n    }\n  ]\n}\n"
        );
    }

    #[test]
    fn unbalanced_markers_are_an_error() {
        for text in [
            "// region: fault-catalogue\n",
            "// endregion: fault-catalogue\n",
            "// region: fault-catalogue\n// region: fault-catalogue\n",
        ] {
            assert!(
                regions(text, Syntax::Slashes, FAULT_CATALOGUE_REGION).is_err(),
                "{text}"
            );
        }
    }
}
