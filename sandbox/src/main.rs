//! `sandbox` binary: runs the in-memory API server standalone until Ctrl-C.

use std::path::PathBuf;

use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "An in-memory Kubernetes API server for tests and demos"
)]
struct Args {
    /// Port on 127.0.0.1 to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig for kubectl and the controller.
    #[arg(long, default_value = "./sandbox.kubeconfig")]
    kubeconfig: PathBuf,
    /// How many change events to keep for watch replay.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let sandbox = sandbox::Sandbox::builder()
        .port(args.port)
        .watch_history(args.watch_history)
        .kubeconfig_path(&args.kubeconfig)
        .start()
        .await?;
    println!("sandbox API server listening on {}", sandbox.url());
    println!("kubeconfig written to {}", args.kubeconfig.display());
    println!(
        "try: kubectl --kubeconfig {} get namespaces",
        args.kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    drop(sandbox);
    Ok(())
}
