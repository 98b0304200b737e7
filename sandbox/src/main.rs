//! The `kube-apiserver-sandbox` binary: runs the in-memory API server standalone until Ctrl-C.

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
    /// How many changes the sandbox's etcd keeps; each resource's watch window (100 to 102,400
    /// events, like the watch cache) holds no more than this either.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
    /// A fault to set at start, as YAML or JSON, e.g.
    /// `{type: error, code: 503, verbs: [patch], resources: [documents]}`; repeatable.
    #[arg(long = "fault", value_name = "YAML")]
    faults: Vec<String>,
    /// A YAML or JSON file of faults to set at start (a list or `{faults: [...]}`).
    #[arg(long)]
    fault_file: Option<PathBuf>,
    /// Throttle every user except system:masters to this many requests per second (429).
    #[arg(long)]
    throttle_qps: Option<f64>,
    /// Burst of `--throttle-qps`.
    #[arg(long, default_value_t = 10)]
    throttle_burst: u32,
    /// Compact the watch history every this many seconds (resumed watches get 410).
    #[arg(long, value_name = "SECONDS")]
    compact_every: Option<f64>,
    /// Delay writes, reads and watch events as a kube-apiserver with etcd does (the
    /// calibrated `LatencyModel::KUBE_APISERVER_ETCD`); off by default.
    #[arg(long)]
    latency_model: bool,
}

impl Args {
    /// Every fault the flags ask for.
    fn faults(&self) -> Result<Vec<kube_apiserver_sandbox::Fault>, Box<dyn std::error::Error>> {
        let mut faults = Vec::new();
        for text in &self.faults {
            faults.extend(kube_apiserver_sandbox::parse_faults(text)?);
        }
        if let Some(path) = &self.fault_file {
            faults.extend(kube_apiserver_sandbox::read_fault_file(path)?);
        }
        if let Some(qps) = self.throttle_qps {
            faults.push(kube_apiserver_sandbox::Fault::throttle(
                qps,
                self.throttle_burst,
            ));
        }
        if let Some(seconds) = self.compact_every {
            faults.push(kube_apiserver_sandbox::Fault::compact_every(
                std::time::Duration::from_secs_f64(seconds),
            ));
        }
        Ok(faults)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let sandbox = kube_apiserver_sandbox::Sandbox::builder()
        .port(args.port)
        .watch_history(args.watch_history)
        .kubeconfig_path(&args.kubeconfig)
        .faults(args.faults()?)
        .latency(if args.latency_model {
            kube_apiserver_sandbox::LatencyModel::KUBE_APISERVER_ETCD
        } else {
            kube_apiserver_sandbox::LatencyModel::NONE
        })
        .start()
        .await?;
    println!("sandbox API server listening on {}", sandbox.url());
    println!("kubeconfig written to {}", args.kubeconfig.display());
    println!(
        "try: kubectl --kubeconfig {} get namespaces",
        args.kubeconfig.display()
    );
    for (id, fault) in sandbox.faults().list() {
        println!("fault {id}: {}", serde_json::to_string(&fault)?);
    }
    println!(
        "faults at run time (admin token): POST/GET/DELETE {}/sandbox/faults, metrics at {}/metrics",
        sandbox.url(),
        sandbox.url()
    );
    tokio::signal::ctrl_c().await?;
    drop(sandbox);
    Ok(())
}
