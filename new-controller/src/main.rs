//! `cargo run -p new-controller -- <destination> --kind <Kind> --group <group> [...]`: a new
//! controller project for your own kind (see the crate docs and `docs/template.md`).
//!
//! Exit codes: 0 generated, 1 the template or the destination could not be read or written,
//! 2 bad input (a flag, a name Kubernetes or Rust would reject, a destination that is not empty),
//! as one line on stderr.

use clap::Parser;
use new_controller::identity::Wanted;
use new_controller::{GenerateError, Options, generate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Makes a new controller project from this repository, for your own kind.
///
/// The copy is renamed throughout (crate, binary, CRD, RBAC, manifests, metrics, docs), builds,
/// passes its lints and tests, and has its CRD generated from its own types. Start with its
/// README, then src/<kind>/, the part that is specific to the kind.
#[derive(Parser, Debug)]
// No `--version` flag: `--version` is the API version.
#[command(name = "new-controller")]
struct Args {
    /// Where the new project goes (absent, or an empty directory), e.g. ../widget-controller.
    destination: PathBuf,
    /// The kind, UpperCamelCase, e.g. Widget.
    #[arg(long)]
    kind: String,
    /// The API group, a domain you own, e.g. example.com.
    #[arg(long)]
    group: String,
    /// The API version.
    #[arg(long, default_value = "v1")]
    version: String,
    /// The plural [default: the lowercase kind plus "s"].
    #[arg(long)]
    plural: Option<String>,
    /// A short name for kubectl, e.g. wd [default: none].
    #[arg(long)]
    short_name: Option<String>,
    /// The namespace the manifests install the controller into.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// The project's name: crate, binary, ServiceAccount, metric prefix [default:
    /// <lowercase kind>-controller].
    #[arg(long)]
    name: Option<String>,
    /// Leave out the failure toggles, their tests, docs, demos and manifests: the controller
    /// reads as if it never had them.
    #[arg(long)]
    without_fault_catalogue: bool,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            // clap's report spans several lines (usage, tips); the contract is one line.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("new-controller: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let wanted = Wanted {
        kind: args.kind,
        group: args.group,
        version: Some(args.version),
        plural: args.plural,
        short_name: args.short_name,
        namespace: Some(args.namespace),
        name: args.name,
    };
    let identity = match wanted.resolve() {
        Ok(identity) => identity,
        Err(e) => {
            eprintln!("new-controller: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        template: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        destination: args.destination,
        identity,
        fault_catalogue: !args.without_fault_catalogue,
    };
    match generate(&options) {
        Ok(generated) => {
            let dir = options.destination.display();
            println!(
                "{} in {dir}: {} files{}",
                options.identity,
                generated.files,
                if options.fault_catalogue {
                    ", with the fault catalogue"
                } else {
                    ""
                }
            );
            if let Some(why) = generated.not_formatted {
                eprintln!(
                    "new-controller: the Rust files are not formatted ({why}); run cargo fmt there"
                );
            }
            println!(
                "next: cd {dir} && cargo run --example sandbox   # then: cargo test --workspace --all-features"
            );
            println!(
                "start with its README, then src/{}/",
                options.identity.kind_snake()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = match e {
                GenerateError::Io { .. } | GenerateError::Template { .. } => 1,
                _ => 2,
            };
            eprintln!("new-controller: {e}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "new-controller",
            "../w",
            "--kind",
            "Widget",
            "--group",
            "example.com",
            "--version",
            "v2",
            "--without-fault-catalogue",
        ])
        .expect("valid");
        assert_eq!(args.version, "v2");
        assert!(args.without_fault_catalogue);
    }
}
