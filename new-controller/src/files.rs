//! The files of a generated project: which ones, what each becomes, `Cargo.lock`, rustfmt.

use crate::identity::Identity;
use crate::rename::Renamer;
use crate::strip::{self, FAULT_CATALOGUE, StripError, Syntax, TEMPLATE_ONLY};
use crate::{GenerateError, io};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The in-memory API server, copied as it is: it serves any kind and names none of its own. It
/// is a workspace member by path until it is published as a crate.
pub const SANDBOX: &str = "sandbox/";

/// Whether the file is copied without any change.
pub fn is_verbatim(path: &Path) -> bool {
    path.starts_with(SANDBOX)
}

/// Fails unless `dir` is absent or an empty directory.
pub fn check_empty(dir: &Path) -> Result<(), GenerateError> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(GenerateError::DestinationNotEmpty(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(GenerateError::DestinationNotEmpty(dir.to_path_buf()))
        }
        Err(e) => Err(io(dir, e)),
    }
}

/// The files a project gets, relative to `template`, sorted: everything but [`TEMPLATE_ONLY`],
/// build output, and without the catalogue the files of [`FAULT_CATALOGUE`].
pub fn template_files(
    template: &Path,
    fault_catalogue: bool,
) -> Result<Vec<PathBuf>, GenerateError> {
    let mut left_out: Vec<&str> = TEMPLATE_ONLY.to_vec();
    if !fault_catalogue {
        left_out.extend(FAULT_CATALOGUE);
    }
    let mut found = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        let full = template.join(&dir);
        for entry in std::fs::read_dir(&full).map_err(|e| io(&full, e))? {
            let entry = entry.map_err(|e| io(&full, e))?;
            let path = dir.join(entry.file_name());
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            let listed = |p: &Path, is_dir: bool| {
                left_out.iter().any(|item| match item.strip_suffix('/') {
                    Some(folder) => is_dir && p == Path::new(folder),
                    None => p == Path::new(item),
                })
            };
            // Build output anywhere (a member built on its own has a target/ too).
            if kind.is_dir() && (entry.file_name() == "target" || entry.file_name() == ".git") {
                continue;
            }
            if listed(&path, kind.is_dir()) {
                continue;
            }
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What the template's file `path` with `text` becomes.
pub fn transform(
    path: &Path,
    text: &str,
    renamer: &Renamer,
    fault_catalogue: bool,
) -> Result<String, StripError> {
    let syntax = Syntax::of(path);
    let mut text = strip::regions(text, syntax, strip::TEMPLATE_ONLY_REGION)?;
    if !fault_catalogue {
        text = strip::regions(&text, syntax, strip::FAULT_CATALOGUE_REGION)?;
        if syntax == Syntax::Slashes {
            text = strip::fault_sites(&text)?;
        }
    }
    let renamed = renamer.file(path, &text);
    Ok(if path == Path::new("Cargo.lock") {
        lockfile(&renamed)
    } else {
        renamed
    })
}

/// `Cargo.lock` as Cargo writes it for the generated workspace: without the generator's package,
/// and the renamed controller package at its place in the name order (Cargo sorts packages by
/// name, then version), so `cargo build --locked` accepts it.
fn lockfile(text: &str) -> String {
    let separator = "\n[[package]]\n";
    let mut parts = text.split(separator);
    let head = parts.next().unwrap_or_default().to_string();
    let mut packages: Vec<String> = parts
        .filter(|block| package_name(block) != Some(env!("CARGO_PKG_NAME")))
        .map(|block| block.trim_end_matches('\n').to_string())
        .collect();
    // Only the renamed package can be out of place: keep the others' order, move it.
    if let Some(moved) = packages
        .windows(2)
        .position(|pair| package_name(&pair[0]) > package_name(&pair[1]))
    {
        // Out of place is the one that sorts before its predecessor, or after its successor.
        let misplaced = if moved + 2 < packages.len()
            && package_name(&packages[moved]) > package_name(&packages[moved + 2])
        {
            moved
        } else {
            moved + 1
        };
        let block = packages.remove(misplaced);
        let at = packages
            .iter()
            .position(|other| package_name(other) > package_name(&block))
            .unwrap_or(packages.len());
        packages.insert(at, block);
    }
    let mut out = head;
    for block in packages {
        out.push_str(separator);
        out.push_str(&block);
        out.push('\n');
    }
    out
}

fn package_name(block: &str) -> Option<&str> {
    block
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
}

/// Rejects an identity whose renames would collide with a name the template already uses (a kind
/// `Config` would make the kind's type the configuration's; `Index` its module the index's), or
/// whose names are Rust keywords, or whose project name is a dependency's.
pub fn check_identity(
    template: &Path,
    renamer: &Renamer,
    identity: &Identity,
) -> Result<(), GenerateError> {
    let invalid = |field: &'static str, value: &str, rule: String| {
        GenerateError::Identity(crate::identity::InvalidIdentity {
            field,
            value: value.to_string(),
            rule,
        })
    };
    for word in [identity.kind_snake(), identity.plural_snake()] {
        if RUST_KEYWORDS.contains(&word.as_str()) {
            return Err(invalid(
                "--kind",
                &identity.kind,
                format!("its Rust name {word:?} is a keyword"),
            ));
        }
    }
    let lock = template.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock).map_err(|e| io(&lock, e))?;
    if lock.contains(&format!("\nname = \"{}\"\n", identity.name)) {
        return Err(invalid(
            "--name",
            &identity.name,
            "a crate of that name is already a dependency".into(),
        ));
    }
    let mut identifiers = BTreeSet::new();
    for path in template_files(template, true)? {
        if path.extension().is_some_and(|e| e == "rs") && !is_verbatim(&path) {
            let file = template.join(&path);
            let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
            identifiers.extend(rust_identifiers(&text));
        }
    }
    let rs = Path::new("identifier.rs");
    for ident in &identifiers {
        let renamed = renamer.file(rs, ident);
        if renamed != *ident
            && identifiers.contains(&renamed)
            && renamer.file(rs, &renamed) == renamed
        {
            return Err(invalid(
                "--kind",
                &identity.kind,
                format!("the template's {ident} would become {renamed}, which it already uses"),
            ));
        }
    }
    Ok(())
}

/// The identifiers (and keywords) in the code of a Rust source, not in its strings or comments.
fn rust_identifiers(text: &str) -> Vec<String> {
    let classes = crate::lexer::classify(text);
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        let part = c.is_ascii_alphanumeric() || c == '_';
        match (
            start,
            part && classes.get(i) == Some(&crate::lexer::Class::Code),
        ) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let word = &text[s..i];
                if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    words.push(word.to_string());
                }
                start = None;
            }
            _ => {}
        }
    }
    words
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keeps the executable bit (`.ci/run`).
pub fn keep_permissions(source: &Path, target: &Path) -> Result<(), GenerateError> {
    let permissions = std::fs::metadata(source)
        .map_err(|e| io(source, e))?
        .permissions();
    std::fs::set_permissions(target, permissions).map_err(|e| io(target, e))
}

/// Formats the generated Rust files (but the verbatim copies) with rustfmt, edition 2024, as
/// `cargo fmt` would: the renames make lines longer or shorter. `Err`: why not (no rustfmt).
pub fn rustfmt(destination: &Path, written: &[PathBuf]) -> Result<(), String> {
    let files: Vec<&PathBuf> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.starts_with(destination.join(SANDBOX)))
        .collect();
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let output = std::process::Command::new(&rustfmt)
        .args(["--edition", "2024"])
        .args(&files)
        .current_dir(destination)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", rustfmt.to_string_lossy()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockfile_loses_the_generator_and_sorts_the_renamed_package() {
        let lock = "# head\nversion = 4\n\n[[package]]\nname = \"a\"\n\n[[package]]\nname = \"new-controller\"\n\n[[package]]\nname = \"widget-controller\"\n\n[[package]]\nname = \"x\"\n\n[[package]]\nname = \"z\"\n";
        assert_eq!(
            lockfile(lock),
            "# head\nversion = 4\n\n[[package]]\nname = \"a\"\n\n[[package]]\nname = \"widget-controller\"\n\n[[package]]\nname = \"x\"\n\n[[package]]\nname = \"z\"\n"
        );
        let late = "h\n\n[[package]]\nname = \"b\"\n\n[[package]]\nname = \"abc-controller\"\n\n[[package]]\nname = \"c\"\n";
        assert_eq!(
            lockfile(late),
            "h\n\n[[package]]\nname = \"abc-controller\"\n\n[[package]]\nname = \"b\"\n\n[[package]]\nname = \"c\"\n"
        );
    }
}
