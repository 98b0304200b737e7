//! Keeps the layers of the crate as the table in the crate documentation (`lib.rs`, section
//! "Layers") declares them: every `crate::<folder>` path in `src/` must name a layer below the
//! file's own, and the modules of one folder must not use each other in a cycle. The table is
//! read from `lib.rs` itself, so the documentation and the check cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its path below `src/` and its text.
struct Source {
    path: PathBuf,
    text: String,
}

/// The layer of each folder, from the rows `//! | <n> | `<folder>` | ... |` of `lib.rs`.
fn layer_table(lib: &str) -> BTreeMap<String, usize> {
    lib.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim_start_matches("//!")
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let layer = cells.first()?.parse::<usize>().ok()?;
            let folder = cells.get(1)?.trim_matches('`');
            Some((folder.to_owned(), layer))
        })
        .collect()
}

/// The code of a file without its comments (whole-line `//` comments, doc comments included).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// The first path segments after every `crate::` of `line`, `crate::{a::b, c}` giving `a`
/// and `c`.
fn crate_paths(line: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        out.extend(first_segments(rest));
    }
    out
}

/// The first identifier of a path, or of each path of a `{...}` group.
fn first_segments(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0usize;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => {
                    depth += 1;
                    current.push(c);
                }
                '}' if depth == 0 => break,
                '}' => {
                    depth -= 1;
                    current.push(c);
                }
                ',' if depth == 0 => items.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        items.push(current);
        return items
            .iter()
            .filter_map(|item| identifier(item.trim()))
            .collect();
    }
    identifier(rest).into_iter().collect()
}

fn identifier(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// The folder (top-level module) and the module within it of a file below `src/`:
/// `registry/crd.rs` is (`registry`, `crd`), `registry/flowcontrol/validation.rs` is
/// (`registry`, `flowcontrol`), `registry/mod.rs` is (`registry`, ``).
fn module_of(path: &Path) -> (String, String) {
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    let top = parts.first().cloned().unwrap_or_default();
    let second = parts
        .get(1)
        .filter(|s| parts.len() > 2 || s.as_str() != "mod")
        .cloned()
        .unwrap_or_default();
    (top, second)
}

/// The violations of the layer table by `files`.
fn violations(files: &[Source], table: &BTreeMap<String, usize>) -> Vec<String> {
    let mut problems = Vec::new();
    // Edges between the modules of one folder: (folder, from, to) -> where.
    let mut edges: BTreeMap<(String, String, String), String> = BTreeMap::new();
    let children: BTreeMap<String, BTreeSet<String>> = files.iter().fold(
        BTreeMap::new(),
        |mut acc: BTreeMap<String, BTreeSet<String>>, f| {
            let (top, second) = module_of(&f.path);
            if !second.is_empty() {
                acc.entry(top).or_default().insert(second);
            }
            acc
        },
    );
    for file in files {
        let (top, second) = module_of(&file.path);
        let Some(&own) = table.get(&top) else {
            if file.path.components().count() > 1 {
                problems.push(format!(
                    "{}: the folder `{top}` has no row in the layer table of lib.rs",
                    file.path.display()
                ));
            }
            continue;
        };
        let depth = file.path.components().count();
        let is_mod = file.path.ends_with("mod.rs");
        for (number, line) in code_lines(&file.text) {
            let at = format!("{}:{number}", file.path.display());
            for used in crate_paths(line, "crate::") {
                match table.get(&used) {
                    Some(&layer) if layer > own => problems.push(format!(
                        "{at}: `crate::{used}` (layer {layer}) used from `{top}` (layer {own}), a lower layer"
                    )),
                    Some(_) if used == top => {
                        if let Some(next) = line
                            .split(&format!("crate::{top}::"))
                            .nth(1)
                            .and_then(|rest| first_segments(rest).into_iter().next())
                            && children.get(&top).is_some_and(|c| c.contains(&next))
                            && !second.is_empty()
                            && next != second
                        {
                            edges.insert((top.clone(), second.clone(), next), at.clone());
                        }
                    }
                    _ => {}
                }
            }
            // `super::` from a module of a folder reaches its siblings; from the folder's
            // own mod.rs it would reach the crate root, which must be named `crate::`.
            let supers = if depth == 2 && !is_mod {
                crate_paths(line, "super::")
            } else if depth == 3 {
                crate_paths(line, "super::super::")
            } else {
                Vec::new()
            };
            for sibling in supers {
                if children.get(&top).is_some_and(|c| c.contains(&sibling)) && sibling != second {
                    edges.insert((top.clone(), second.clone(), sibling), at.clone());
                }
            }
        }
    }
    problems.extend(cycles(&edges));
    problems
}

/// The cycles among the modules of each folder: the modules in one, then where each of their
/// uses is.
fn cycles(edges: &BTreeMap<(String, String, String), String>) -> Vec<String> {
    let cyclic: Vec<(&(String, String, String), &String)> = edges
        .iter()
        .filter(|((folder, from, to), _)| reaches(edges, folder, to, from))
        .collect();
    let mut members: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ((folder, from, to), _) in &cyclic {
        members
            .entry(folder.as_str())
            .or_default()
            .extend([from.as_str(), to.as_str()]);
    }
    let mut out: Vec<String> = members
        .iter()
        .map(|(folder, modules)| {
            let modules: Vec<&str> = modules.iter().copied().collect();
            format!(
                "a cycle between the modules of `{folder}`: {}",
                modules.join(", ")
            )
        })
        .collect();
    out.extend(cyclic.iter().map(|((folder, from, to), at)| {
        format!("  {at}: `{folder}::{from}` uses `{folder}::{to}`")
    }));
    out
}

/// Whether `to` reaches `from` through the edges of `folder`.
fn reaches(
    edges: &BTreeMap<(String, String, String), String>,
    folder: &str,
    from: &str,
    to: &str,
) -> bool {
    let mut stack = vec![from.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(node) = stack.pop() {
        if node == to {
            return true;
        }
        if seen.insert(node.clone()) {
            stack.extend(
                edges
                    .keys()
                    .filter(|(f, a, _)| f == folder && *a == node)
                    .map(|(_, _, b)| b.clone()),
            );
        }
    }
    false
}

/// Every `.rs` file below `dir`, with its path relative to `root`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<Source>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && let (Ok(text), Ok(relative)) =
                (std::fs::read_to_string(&path), path.strip_prefix(root))
        {
            out.push(Source {
                path: relative.to_path_buf(),
                text,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_import_goes_to_a_lower_layer_and_no_folder_has_a_cycle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
        let table = layer_table(&lib);
        assert!(
            table.len() >= 8,
            "lib.rs has a layer table (found {table:?})"
        );
        let mut files = Vec::new();
        sources(&src, &src, &mut files);
        files.retain(|f| f.path.components().count() > 1);
        assert!(files.len() > 50, "read the sources ({})", files.len());
        let problems = violations(&files, &table);
        assert!(
            problems.is_empty(),
            "the layers of lib.rs are not kept:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn an_import_from_a_higher_layer_and_a_cycle_between_siblings_are_reported() {
        let table = layer_table(
            "//! | 0 | `meta` | errors |\n//! | 1 | `storage` | store |\n//! | 2 | `http` | edge |",
        );
        assert_eq!(table.len(), 3);
        let file = |path: &str, text: &str| Source {
            path: PathBuf::from(path),
            text: text.to_owned(),
        };
        let files = [
            file(
                "storage/mod.rs",
                "// crate::http in a comment is fine\nuse crate::meta::error::ApiError;\nuse crate::{meta::x, http::Response};\n",
            ),
            file(
                "http/a.rs",
                "use super::b::B;\nuse crate::storage::Store;\n",
            ),
            file("http/b.rs", "use crate::http::a::A;\n"),
            file("http/c.rs", "use super::{a::A, Shared};\n"),
        ];
        let problems = violations(&files, &table);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("storage/mod.rs:3: `crate::http` (layer 2)")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("a cycle between the modules of `http`: a, b")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("http/b.rs:1")),
            "{problems:#?}"
        );
        assert!(
            !problems.iter().any(|p| p.contains("http/c.rs")),
            "c uses a but is in no cycle: {problems:#?}"
        );
    }
}
