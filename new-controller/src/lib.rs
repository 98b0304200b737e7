//! # new-controller
//!
//! Makes a new controller project from this repository, for your own kind:
//!
//! ```text
//! cargo run -p new-controller -- ../widget-controller --kind Widget --group example.com
//! ```
//!
//! The repository is the template: a working, tested controller for the `Document` kind. The
//! generator copies it to the destination, renames its identity ([`identity::TEMPLATE`]: the
//! project name, kind, group, version, plural, short name, namespace and every form derived from
//! them) to the one asked for ([`rename`]), and with `--without-fault-catalogue` leaves out the
//! failure toggles and everything that exists for them ([`strip`]). Last, rustfmt formats the
//! Rust files whose lines the renames made longer or shorter.
//!
//! # Why not cargo-generate
//! cargo-generate's Liquid placeholders (`{{crate_name}}`) in the sources would stop this
//! repository from compiling, and it has to stay a working controller that people read, run and
//! test. cargo-generate is also not on a fresh machine: installing it builds some 300 crates. So
//! the template is plain code, and this small generator, built from crates the controller already
//! depends on, derives every rename from one declaration.
//!
//! See `docs/template.md` for the conventions the template follows so that this works.

pub mod files;
pub mod identity;
pub mod lexer;
pub mod rename;
pub mod strip;

use identity::Identity;
use rename::Renamer;
use std::path::{Path, PathBuf};

/// What to generate, and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The repository to generate from (the template).
    pub template: PathBuf,
    /// Where the new project goes: absent, or an empty directory.
    pub destination: PathBuf,
    /// Who the new controller is.
    pub identity: Identity,
    /// Whether it keeps the fault catalogue (and with it the demos).
    pub fault_catalogue: bool,
}

/// What was generated.
#[derive(Debug)]
pub struct Generated {
    /// Files written.
    pub files: usize,
    /// Why the Rust files could not be formatted, if they could not (rustfmt missing).
    pub not_formatted: Option<String>,
}

/// Why no project was generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The destination exists and is not an empty directory.
    #[error("destination {0} exists and is not empty")]
    DestinationNotEmpty(PathBuf),
    /// The destination is inside the template, where Cargo would take it for part of the
    /// template's workspace.
    #[error("destination {0} is inside the template {1}; choose a directory outside it")]
    DestinationInsideTemplate(PathBuf, PathBuf),
    /// The identity cannot be carried by the generated code.
    #[error(transparent)]
    Identity(#[from] identity::InvalidIdentity),
    /// A file of the template breaks the conventions the generator relies on.
    #[error("{path}: {source}")]
    Template {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: strip::StripError,
    },
    /// Reading the template or writing the project failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Generates the project `options` asks for.
pub fn generate(options: &Options) -> Result<Generated, GenerateError> {
    let template = resolved(&options.template)?;
    let destination = resolved(&options.destination)?;
    if destination.starts_with(&template) {
        return Err(GenerateError::DestinationInsideTemplate(
            destination,
            template,
        ));
    }
    files::check_empty(&destination)?;
    let renamer = Renamer::new(&options.identity);
    files::check_identity(&template, &renamer, &options.identity)?;
    let paths = files::template_files(&template, options.fault_catalogue)?;
    let mut written = Vec::new();
    for path in &paths {
        let source = template.join(path);
        let bytes = std::fs::read(&source).map_err(|e| io(&source, e))?;
        let target = destination.join(renamer.path(path));
        let content = match String::from_utf8(bytes) {
            Ok(text) if !files::is_verbatim(path) => {
                files::transform(path, &text, &renamer, options.fault_catalogue)
                    .map_err(|source| GenerateError::Template {
                        path: path.clone(),
                        source,
                    })?
                    .into_bytes()
            }
            Ok(text) => text.into_bytes(),
            Err(binary) => binary.into_bytes(),
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::write(&target, content).map_err(|e| io(&target, e))?;
        files::keep_permissions(&source, &target)?;
        written.push(target);
    }
    let not_formatted = files::rustfmt(&destination, &written).err();
    Ok(Generated {
        files: written.len(),
        not_formatted,
    })
}

/// `path` absolute, with `..` and symbolic links resolved as far as it exists (the destination
/// may not exist yet).
fn resolved(path: &Path) -> Result<PathBuf, GenerateError> {
    let absolute = std::path::absolute(path).map_err(|e| io(path, e))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Ok(rest.iter().rev().fold(real, |acc, part| acc.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> GenerateError {
    GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}
