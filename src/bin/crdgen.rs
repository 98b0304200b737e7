//! Prints the Document CRD as YAML: `cargo run --bin crdgen | kubectl apply -f -`.
//!
//! `yaml/crd.yaml` is this output, checked by a test to be up to date.

use std::process::ExitCode;

fn main() -> ExitCode {
    match doc_controller::document::crd_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}
