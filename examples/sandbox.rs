//! Runs doc-controller against the embedded sandbox API server, with sample Documents: no cluster.
//!
//! ```text
//! cargo run --example sandbox                      # until Ctrl-C
//! cargo run --example sandbox -- --for 30s         # stop by itself
// region: fault-catalogue
//! cargo run --example sandbox -- --fault status-timestamp --fault no-predicate
// endregion: fault-catalogue
//! ```
//!
//! It starts the sandbox, installs the CRD, applies `yaml/instance-samuel.yaml`,
//! `yaml/instance-hidden.yaml` and a few generated Documents (one of them invalid on purpose), then
//! runs the controller with the same flags as the `doc-controller` binary. It prints a kubeconfig
//! for `kubectl` and the metrics URL.

use clap::Parser;
use doc_controller::config::{Cli, Config};
use doc_controller::{App, Document, DocumentSpec, telemetry};
use kube::api::{Api, Patch, PatchParams};
use kube::{CustomResourceExt, ResourceExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sandbox",
    about = "doc-controller on the embedded sandbox API server"
)]
struct Args {
    /// Stop after this long (e.g. 30s) instead of running until Ctrl-C.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    run_for: Option<Duration>,
    /// Port of the sandbox API server (0: any free port).
    #[arg(long, default_value_t = 0)]
    api_port: u16,
    /// Where to write the kubeconfig for kubectl.
    #[arg(long, default_value = "target/sandbox/kubeconfig")]
    kubeconfig: PathBuf,
    #[command(flatten)]
    controller: Cli,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // region: fault-catalogue
    // Live toggles are for demos: on here (`--live-faults=false` turns them off), off by default
    // in the binary and in yaml/deployment.yaml.
    let mut args = args;
    args.controller.live_faults.get_or_insert(true);
    // endregion: fault-catalogue
    let config = match Config::load(args.controller) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(config.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("sandbox: telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(config, args.api_port, args.kubeconfig, args.run_for).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: Config,
    api_port: u16,
    kubeconfig: PathBuf,
    run_for: Option<Duration>,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = kubeconfig.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let sandbox = kube_apiserver_sandbox::Sandbox::builder()
        .port(api_port)
        .kubeconfig_path(&kubeconfig)
        .start()
        .await?;
    let client = sandbox.client()?;
    doc_controller::document::install(client.clone(), Duration::from_secs(10)).await?;
    apply_samples(&client).await?;

    let app = App::start(config, sandbox.kube_config()).await?;
    let admin = app.admin_addr()?;
    println!();
    println!("  sandbox API server  {}", sandbox.url());
    // The kubeconfig at the path asked for, which outlives this run (the sandbox's own copy in
    // its temporary directory does not).
    println!("  kubeconfig          {}", kubeconfig.display());
    println!(
        "  try                 kubectl --kubeconfig {} get documents,configmaps,events",
        kubeconfig.display()
    );
    println!("  metrics             http://{admin}/metrics");
    println!("  page                http://{admin}/   (plots and findings, live)");
    println!("  diagnosis           http://{admin}/diagnostics");
    println!("  CRD name            {}", Document::crd_name());
    println!(
        "  {}",
        match run_for {
            Some(d) => format!("stopping after {}", humantime::format_duration(d)),
            None => "Ctrl-C to stop".to_string(),
        }
    );
    println!();

    let shutdown = async move {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    app.run(shutdown).await?;
    Ok(())
}

/// The YAML samples, plus a few generated Documents and one that only the controller can reject.
async fn apply_samples(client: &kube::Client) -> Result<(), Box<dyn std::error::Error>> {
    let docs: Api<Document> = Api::namespaced(client.clone(), "default");
    let mut samples = Vec::new();
    for file in ["yaml/instance-samuel.yaml", "yaml/instance-hidden.yaml"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
        samples.push(serde_saphyr::from_str::<Document>(
            &std::fs::read_to_string(path)?,
        )?);
    }
    for (name, title) in [
        ("getting-started", "Getting started"),
        ("patterns", "Controller patterns"),
        // region: fault-catalogue
        ("faults", "The fault catalogue"),
        // endregion: fault-catalogue
    ] {
        samples.push(Document::new(
            name,
            DocumentSpec {
                title: title.into(),
                content: format!("{title}: see README.md and docs/ for the full text."),
                hide: false,
            },
        ));
    }
    // Valid for the API server (310,000 characters is under the schema's bound), but 930,000 bytes
    // in UTF-8, more than a ConfigMap can hold: the controller sets Ready=False/InvalidSpec and
    // publishes a Warning Event.
    samples.push(Document::new(
        "too-heavy",
        DocumentSpec {
            title: "Invalid on purpose".into(),
            content: "€".repeat(310_000),
            hide: false,
        },
    ));
    for doc in samples {
        docs.patch(
            &doc.name_any(),
            &PatchParams::apply("sandbox-example").force(),
            &Patch::Apply(&doc),
        )
        .await?;
    }
    Ok(())
}
