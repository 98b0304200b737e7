//! Benchmarks of doc-controller: how close it comes to the API server's own limit.
//!
//! ```text
//! cargo build --release --bin doc-controller
//! cargo run --release --example bench -- convergence [--n 2000] [--concurrency 16]
//! cargo run --release --example bench -- quiet | scale | memory | cost | sandbox
//! ```
//!
//! Each scenario runs on a fresh embedded sandbox by default, or against the cluster named by
//! `DOC_CONTROLLER_E2E_KUBECONFIG` (the e2e suite's variable; each phase in its own namespace,
//! deleted afterwards). The controller always runs as a separate process (the release
//! `doc-controller` binary), so its CPU, memory and connections are its own; the *write floor*
//! (a bare kube client doing only the writes the controller must do, see `floor.rs`) runs as a
//! separate process too. Absolute times on a shared machine mean little, so every goal is a ratio
//! or a count measured in the same run.
//!
//! Every run prints a table and writes it as JSON to `target/bench/<scenario>.json`.
//!
//! | scenario | what | goals |
//! |---|---|---|
//! | `convergence` | N new Documents (default 2,000) until all `Ready` for their generation, against the floor | ≤ 1.15× floor |
//! | `quiet` | after convergence, a restart and a `--resync-period` resync of all N | 0 writes, 0 self-triggered reconciles |
//! | `scale` | 10,000 Documents | ≤ 1.2× floor, no 5xx/429, connections ≤ concurrency + watches + index writer + the Lease's client |
//! | `memory` | 10,000 existing Documents: RSS, bytes per Document, start-to-ready; toggles `keep-managed-fields`, `unpaged-initial-list` | RSS ≤ 40 MiB |
//! | `cost` | controller CPU per 1,000 reconciles, with the API server's CPU in the same run | |
//! | `sandbox` | the sandbox alone at 10,000 objects: writes, lists, watch fan-out | |

mod floor;
mod process;
mod report;
mod target;

use clap::{Parser, ValueEnum};
use process::{ControllerSpec, Proc, Samples, self_cpu_seconds};
use report::{Report, r3};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use target::Phase;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A request to the API server failed.
    #[error("kube: {0}")]
    Kube(#[from] kube::Error),
    /// A process or file operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// JSON could not be built or read.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Anything else, described.
    #[error("{0}")]
    Msg(String),
}

impl BenchError {
    /// An error with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Msg(message.into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// N Documents converge; controller against the write floor.
    Convergence,
    /// Writes and reconciles of a resync on a converged cluster.
    Quiet,
    /// 10,000 Documents: time against the floor, errors, connections.
    Scale,
    /// RSS and bytes per Document; start-to-ready, streaming against plain list.
    Memory,
    /// CPU per 1,000 reconciles, controller and API server.
    Cost,
    /// The sandbox alone: writes, lists and watch fan-out at 10,000 objects.
    Sandbox,
    /// Internal: the write-floor worker process.
    #[value(hide = true)]
    FloorWorker,
}

/// Which latency model the sandbox runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Latency {
    /// `kube_apiserver_sandbox::LatencyModel::KUBE_APISERVER_ETCD`: writes, reads and watch events delayed as
    /// on a real kube-apiserver with etcd.
    KubeApiserverEtcd,
    /// No delays: the sandbox answers as fast as it can.
    None,
}

impl Latency {
    fn model(self) -> kube_apiserver_sandbox::LatencyModel {
        match self {
            Latency::KubeApiserverEtcd => kube_apiserver_sandbox::LatencyModel::KUBE_APISERVER_ETCD,
            Latency::None => kube_apiserver_sandbox::LatencyModel::NONE,
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "doc-controller benchmarks (see examples/bench/main.rs)"
)]
struct Opts {
    /// Which scenario to run.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Number of Documents (default: 2,000 for convergence, quiet and cost; 10,000 otherwise).
    #[arg(long)]
    n: Option<usize>,
    /// Reconciles in flight (the controller's `--concurrency`), and the floor's concurrency.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// The controller's `--index-batch-window`, and the floor's.
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    index_batch_window: Duration,
    /// Bytes of content per Document.
    #[arg(long, default_value_t = 1024)]
    content_bytes: usize,
    /// Rounds of floor and controller (convergence, scale); the ratio is the median's.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The longest any single wait may take.
    #[arg(long, default_value = "240s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The `--resync-period` of the restarted controller in `quiet`.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    resync_period: Duration,
    /// Concurrent watchers in `sandbox`'s fan-out test.
    #[arg(long, default_value_t = 16)]
    watchers: usize,
    /// The controller binary (default: `doc-controller` next to this example).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// The sandbox's latency model (ignored on a cluster): `kube-apiserver-etcd`, the delays
    /// of a real API server with etcd as calibrated in `kube_apiserver_sandbox::LatencyModel`, or `none`.
    #[arg(long, value_enum, default_value_t = Latency::KubeApiserverEtcd)]
    latency_model: Latency,
    /// Overrides the latency model's write delay (e.g. `8ms`).
    #[arg(long, value_parser = humantime::parse_duration)]
    write_latency: Option<Duration>,
    /// Overrides the latency model's read delay.
    #[arg(long, value_parser = humantime::parse_duration)]
    read_latency: Option<Duration>,
    /// Overrides the latency model's watch delivery delay.
    #[arg(long, value_parser = humantime::parse_duration)]
    watch_latency: Option<Duration>,
    /// Extra environment of the controller process, `KEY=VALUE` (repeatable), e.g.
    /// `MALLOC_ARENA_MAX=1` to see how much of its RSS is allocator arenas.
    #[arg(long = "controller-env", value_parser = parse_env)]
    controller_env: Vec<(String, String)>,
    /// Namespace (floor-worker only).
    #[arg(long, hide = true)]
    namespace: Option<String>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Opts::parse();
    let result = match opts.scenario {
        Scenario::FloorWorker => {
            floor::run(
                opts.namespace.as_deref().unwrap_or("default"),
                opts.concurrency,
                opts.index_batch_window,
            )
            .await
        }
        Scenario::Convergence => convergence(&opts, "convergence", 2_000, 1.15).await,
        Scenario::Scale => convergence(&opts, "scale", 10_000, 1.2).await,
        Scenario::Quiet => quiet(&opts).await,
        Scenario::Memory => memory(&opts).await,
        Scenario::Cost => cost(&opts).await,
        Scenario::Sandbox => sandbox_alone(&opts).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn log_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench/logs")
        .join(format!("{name}.log"))
}

fn controller_bin(opts: &Opts) -> Result<PathBuf, BenchError> {
    match &opts.controller_bin {
        Some(bin) => Ok(bin.clone()),
        None => process::default_controller_bin(),
    }
}

impl Opts {
    /// The sandbox's latency model: the chosen one, with the overridden delays.
    fn latency(&self) -> kube_apiserver_sandbox::LatencyModel {
        let model = self.latency_model.model();
        kube_apiserver_sandbox::LatencyModel {
            write: self.write_latency.unwrap_or(model.write),
            read: self.read_latency.unwrap_or(model.read),
            watch: self.watch_latency.unwrap_or(model.watch),
        }
    }
}

fn params(opts: &Opts, n: usize) -> serde_json::Value {
    let latency = opts.latency();
    json!({
        "target": target::target_name(),
        "latency_model": if target::target_name() == "sandbox" && !latency.is_none() {
            json!({
                "write_ms": latency.write.as_millis(),
                "read_ms": latency.read.as_millis(),
                "watch_ms": latency.watch.as_millis(),
            })
        } else {
            json!(null)
        },
        "n": n,
        "concurrency": opts.concurrency,
        "index_batch_window": humantime::format_duration(opts.index_batch_window).to_string(),
        "content_bytes": opts.content_bytes,
        "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
    })
}

/// What the write floor did.
struct FloorRun {
    converge: Duration,
    writes: f64,
    index_writes: f64,
    failed: f64,
    cpu: f64,
    server_cpu: f64,
}

/// What the controller did, up to convergence and once settled.
struct ControllerRun {
    ready_after: Duration,
    converge: Duration,
    reconciles_at_converge: f64,
    settled: Samples,
    cpu: f64,
    server_cpu: f64,
    rss: u64,
    hwm: u64,
    max_connections: usize,
}

async fn floor_run(opts: &Opts, n: usize, round: usize) -> Result<FloorRun, BenchError> {
    let mut phase = Phase::new("floor", opts.latency()).await?;
    let took = phase.create_documents(n, opts.content_bytes).await?;
    eprintln!("bench: floor: {n} Documents created in {took:.1?}");
    let mut ready = phase.ready_counter().await?;
    let server0 = phase.server_cpu_seconds().await;
    let worker = Proc::floor(
        &phase.kubeconfig,
        &phase.namespace,
        opts.concurrency,
        opts.index_batch_window,
        &log_path(&format!("floor-{round}")),
    )?;
    let started = worker.started;
    ready.wait_for(n, opts.timeout).await?;
    let converge = started.elapsed();
    let server_cpu = phase.server_cpu_seconds().await - server0;
    let out = worker.output(opts.timeout).await?;
    let stats: serde_json::Value = serde_json::from_str(out.trim())?;
    drop(ready);
    phase.cleanup(opts.timeout).await?;
    let f = |k: &str| stats[k].as_f64().unwrap_or_default();
    eprintln!("bench: floor: converged in {converge:.2?}");
    Ok(FloorRun {
        converge,
        writes: f("writes"),
        index_writes: f("index_writes"),
        failed: f("failed"),
        cpu: f("cpu_seconds"),
        server_cpu,
    })
}

/// Starts the controller on `phase` and waits until all `n` Documents are ready and the
/// reconciles have settled. Returns the still running controller.
async fn controller_run(
    opts: &Opts,
    phase: &Phase,
    n: usize,
    log: &str,
) -> Result<(ControllerRun, Proc), BenchError> {
    let bin = controller_bin(opts)?;
    let mut ready = phase.ready_counter().await?;
    let server0 = phase.server_cpu_seconds().await;
    let controller = Proc::controller(&ControllerSpec {
        bin: &bin,
        kubeconfig: &phase.kubeconfig,
        namespace: &phase.namespace,
        concurrency: opts.concurrency,
        index_batch_window: opts.index_batch_window,
        faults: &[],
        resync_period: None,
        log: &log_path(log),
        env: &opts.controller_env,
    })?;
    let connections = controller.sample_connections(phase.api_port);
    let ready_after = controller.wait_ready(opts.timeout).await?;
    ready.wait_for(n, opts.timeout).await?;
    let converge = controller.started.elapsed();
    let at_converge = controller.metrics().await?;
    let settled = controller
        .wait_reconciles(
            at_converge.reconciles(),
            Duration::from_secs(2),
            opts.timeout,
        )
        .await?;
    let cpu = controller.cpu_seconds().unwrap_or_default();
    let server_cpu = phase.server_cpu_seconds().await - server0;
    let (rss, hwm) = controller.memory().unwrap_or_default();
    eprintln!("bench: controller: converged in {converge:.2?}");
    Ok((
        ControllerRun {
            ready_after,
            converge,
            reconciles_at_converge: at_converge.reconciles(),
            settled,
            cpu,
            server_cpu,
            rss,
            hwm,
            max_connections: connections.max(),
        },
        controller,
    ))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        len => xs[len / 2],
    }
}

fn mib(bytes: u64) -> f64 {
    r3(bytes as f64 / (1024.0 * 1024.0))
}

fn writes_table(report: &mut Report, who: &str, writes: &BTreeMap<String, f64>, n: usize) {
    for (kind, count) in writes {
        report.row(
            format!("{who} writes: {kind}"),
            json!(r3(count / n as f64)),
            "per Document",
        );
    }
}

/// Scenarios 1 and 3: N Documents converge, controller against floor.
async fn convergence(
    opts: &Opts,
    name: &str,
    default_n: usize,
    goal: f64,
) -> Result<(), BenchError> {
    let n = opts.n.unwrap_or(default_n);
    let mut report = Report::new(name, params(opts, n));
    let (mut floor_times, mut ctrl_times, mut ratios) = (vec![], vec![], vec![]);
    let mut last = None;
    for round in 0..opts.rounds.max(1) {
        let floor = floor_run(opts, n, round).await?;
        let mut phase = Phase::new("ctrl", opts.latency()).await?;
        let took = phase.create_documents(n, opts.content_bytes).await?;
        eprintln!("bench: controller: {n} Documents created in {took:.1?}");
        let (run, controller) =
            controller_run(opts, &phase, n, &format!("{name}-controller-{round}")).await?;
        controller.stop(Duration::from_secs(20)).await?;
        phase.cleanup(opts.timeout).await?;
        let ratio = run.converge.as_secs_f64() / floor.converge.as_secs_f64();
        eprintln!("bench: round {round}: ratio {ratio:.3}");
        floor_times.push(floor.converge.as_secs_f64());
        ctrl_times.push(run.converge.as_secs_f64());
        ratios.push(ratio);
        last = Some((floor, run, took));
    }
    let Some((floor, run, created)) = last else {
        return Err(BenchError::msg("no round ran"));
    };
    let ratio = median(ratios.clone());
    let m = &run.settled;
    let per_doc = |x: f64| r3(x / n as f64);
    report.row(
        "Documents created by the bench (sandbox write rate)",
        json!(r3(n as f64 / created.as_secs_f64())),
        "creates/s",
    );
    report.row(
        "floor: time to all Ready",
        json!(r3(median(floor_times))),
        "s",
    );
    report.row(
        "controller: time to all Ready (from process start)",
        json!(r3(median(ctrl_times))),
        "s",
    );
    report.goal(
        "controller / floor",
        json!(r3(ratio)),
        "x",
        format!("<= {goal}"),
        ratio <= goal,
    );
    if ratios.len() > 1 {
        report.row(
            "ratios of all rounds",
            json!(ratios.iter().map(|r| r3(*r)).collect::<Vec<_>>()),
            "",
        );
    }
    report.row(
        "controller: start to /readyz 200",
        json!(r3(run.ready_after.as_secs_f64())),
        "s",
    );
    report.row(
        "floor: writes (finalizer, ConfigMap, status, Event)",
        json!(per_doc(floor.writes)),
        "per Document",
    );
    report.row(
        "floor: index writes (batched)",
        json!(floor.index_writes),
        "requests",
    );
    report.row(
        "controller: writes, all",
        json!(per_doc(m.writes())),
        "per Document",
    );
    writes_table(&mut report, "controller", &m.writes_by_kind(), n);
    // The same required writes on both sides; the index batches depend on timing, apart.
    let index_batches = m.sum("doc_controller_index_writes_total", |_| true);
    let required = (m.writes() - index_batches) / floor.writes.max(1.0);
    report.goal(
        "controller / floor: writes per Document (index batches apart)",
        json!(r3(required)),
        "x",
        "1.00",
        (required * 100.0).round() <= 100.0,
    );
    report.row(
        "controller: index writes (batched)",
        json!(index_batches),
        "requests",
    );
    // Where a reconcile's time goes: the controller's own request latency histograms.
    for (kind, (count, seconds)) in m.request_seconds_by_kind() {
        report.row(
            format!("controller: {kind}, mean latency (x per Document)"),
            json!(format!(
                "{:.2} ms (x{:.2})",
                1000.0 * seconds / count.max(1.0),
                count / n as f64
            )),
            "",
        );
    }
    let (reconciles, reconcile_seconds) = m.histogram("doc_controller_reconcile_duration_seconds");
    report.row(
        "controller: reconcile duration, mean",
        json!(r3(1000.0 * reconcile_seconds / reconciles.max(1.0))),
        "ms",
    );
    report.row(
        "controller: reconciles until all Ready",
        json!(per_doc(run.reconciles_at_converge)),
        "per Document",
    );
    report.row(
        "controller: reconciles once settled",
        json!(per_doc(m.reconciles())),
        "per Document",
    );
    report.row(
        "controller: reconcile errors",
        json!(m.reconcile_errors()),
        "",
    );
    let errors_5xx = m.responses(|c| c.starts_with('5'));
    let errors_429 = m.responses(|c| c == "429");
    report.goal(
        "controller: 5xx responses",
        json!(errors_5xx),
        "",
        "0",
        errors_5xx == 0.0,
    );
    report.goal(
        "controller: 429 responses",
        json!(errors_429),
        "",
        "0",
        errors_429 == 0.0,
    );
    report.row("floor: failed Documents", json!(floor.failed), "");
    // Watches: Documents, owned ConfigMaps, the live-toggles ConfigMap; plus the index writer,
    // and the leader election's own client (the Lease is written without the write gate).
    let bound = usize::from(opts.concurrency) + 5;
    report.goal(
        "controller: max established connections to the API server",
        json!(run.max_connections),
        "",
        format!("<= {bound} (concurrency + 3 watches + index writer + the Lease's client)"),
        run.max_connections <= bound,
    );
    report.row("controller: VmRSS once settled", json!(mib(run.rss)), "MiB");
    report.row("controller: VmHWM", json!(mib(run.hwm)), "MiB");
    report.row("controller: CPU until settled", json!(r3(run.cpu)), "s");
    report.row("floor: CPU", json!(r3(floor.cpu)), "s");
    report.row(
        "API server process CPU, controller run / floor run",
        json!(format!("{:.2} / {:.2}", run.server_cpu, floor.server_cpu)),
        "s",
    );
    report.goal(
        "controller CPU / floor CPU",
        json!(r3(run.cpu / floor.cpu.max(f64::EPSILON))),
        "x",
        "<= 1.5",
        run.cpu <= 1.5 * floor.cpu,
    );
    report.note(
        "both times run from process spawn until a watch of the bench sees every Document \
         Ready=True with observedGeneration == generation; each on a fresh API server/namespace \
         holding the same N freshly created Documents",
    );
    report.note(
        "the floor does one LIST, then per Document: finalizer merge patch, ConfigMap apply, \
         index entry through the controller's IndexWriter (same window), status apply, the \
         Published Event through the controller's publisher",
    );
    server_cpu_note(&mut report);
    report.finish()?;
    Ok(())
}

/// Says where the API server CPU figures come from.
fn server_cpu_note(report: &mut Report) {
    report.note(if target::target_name() == "sandbox" {
        "API server CPU = the bench process (sandbox + the bench's ready watch)"
    } else {
        "API server CPU = process_cpu_seconds_total of the API server's /metrics (the instance \
         that answered)"
    });
}

/// Scenario 2: a converged cluster, restarted and then resynced by period.
async fn quiet(opts: &Opts) -> Result<(), BenchError> {
    let n = opts.n.unwrap_or(2_000);
    let mut report = Report::new("quiet", params(opts, n));
    let mut phase = Phase::new("quiet", opts.latency()).await?;
    phase.create_documents(n, opts.content_bytes).await?;
    let (run, first) = controller_run(opts, &phase, n, "quiet-controller-1").await?;
    first.stop(Duration::from_secs(20)).await?;
    let per_doc = |x: f64| r3(x / n as f64);
    report.row(
        "convergence: reconciles until all Ready",
        json!(per_doc(run.reconciles_at_converge)),
        "per Document",
    );
    report.row(
        "convergence: reconciles once settled",
        json!(per_doc(run.settled.reconciles())),
        "per Document",
    );
    report.row(
        "convergence: reconciles after all Ready",
        json!(run.settled.reconciles() - run.reconciles_at_converge),
        "",
    );
    // One: the reconcile that adds the finalizer goes on with the update's answer.
    let own = run.settled.reconciles() - n as f64;
    report.goal(
        "convergence: reconciles beyond the 1 per Document needed (own-write echoes)",
        json!(own),
        "",
        "0",
        own <= 0.0,
    );

    // The restart: same state, every Document reconciled once from the initial list.
    let bin = controller_bin(opts)?;
    let controller = Proc::controller(&ControllerSpec {
        bin: &bin,
        kubeconfig: &phase.kubeconfig,
        namespace: &phase.namespace,
        concurrency: opts.concurrency,
        index_batch_window: opts.index_batch_window,
        faults: &[],
        resync_period: Some(opts.resync_period),
        log: &log_path("quiet-controller-2"),
        env: &opts.controller_env,
    })?;
    controller.wait_ready(opts.timeout).await?;
    let restart = controller
        .wait_reconciles(n as f64, Duration::from_secs(1), opts.timeout)
        .await?;
    let restart_done = controller.started.elapsed();
    let (r1, w1) = (restart.reconciles(), restart.writes());
    report.goal("restart: write requests", json!(w1), "", "0", w1 == 0.0);
    report.goal(
        "restart: reconciles beyond one per Document",
        json!(r1 - n as f64),
        "",
        "0",
        r1 <= n as f64,
    );
    report.row(
        "restart: all reconciled after (incl. 1 s without reconciles)",
        json!(r3(restart_done.as_secs_f64())),
        "s",
    );
    // The period: every Document is reconciled again `resync_period` after the controller started.
    let resynced = controller
        .wait_reconciles(
            2.0 * n as f64,
            Duration::from_secs(2),
            opts.timeout + opts.resync_period,
        )
        .await?;
    let (r2, w2) = (resynced.reconciles() - r1, resynced.writes() - w1);
    report.goal(
        format!(
            "resync by --resync-period {}: write requests",
            humantime::format_duration(opts.resync_period)
        ),
        json!(w2),
        "",
        "0",
        w2 == 0.0,
    );
    report.goal(
        "resync: reconciles beyond one per Document",
        json!(r2 - n as f64),
        "",
        "0",
        r2 <= n as f64,
    );
    writes_table(&mut report, "restart+resync", &resynced.writes_by_kind(), n);
    report.row(
        "restart+resync: API requests, all verbs",
        json!(resynced.sum("doc_controller_api_requests_total", |_| true)),
        "",
    );
    report.row(
        "restart+resync: status patches",
        json!(resynced.sum("doc_controller_status_patches_total", |_| true)),
        "",
    );
    controller.stop(Duration::from_secs(20)).await?;
    phase.cleanup(opts.timeout).await?;
    report.note(
        "reconciles beyond one per Document = reconciles not caused by the resync itself, i.e. \
         triggered by the controller's own writes or by its owned-ConfigMap watch",
    );
    report.finish()?;
    Ok(())
}

/// Scenario 4: memory with N existing, converged Documents; start-to-ready by list mode.
async fn memory(opts: &Opts) -> Result<(), BenchError> {
    let n = opts.n.unwrap_or(10_000);
    let mut params = params(opts, n);
    params["controller_env"] = json!(opts.controller_env);
    let mut report = Report::new("memory", params);
    let bin = controller_bin(opts)?;

    // Baseline: the same binary on an empty namespace of another API server.
    let empty = Phase::new("empty", opts.latency()).await?;
    let baseline = Proc::controller(&ControllerSpec {
        bin: &bin,
        kubeconfig: &empty.kubeconfig,
        namespace: &empty.namespace,
        concurrency: opts.concurrency,
        index_batch_window: opts.index_batch_window,
        faults: &[],
        resync_period: None,
        log: &log_path("memory-empty"),
        env: &opts.controller_env,
    })?;
    baseline.wait_ready(opts.timeout).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (base_rss, _) = baseline.memory().unwrap_or_default();
    baseline.stop(Duration::from_secs(20)).await?;
    empty.cleanup(opts.timeout).await?;

    // N Documents brought to the converged state by the floor (the state the controller reaches).
    let mut phase = Phase::new("memory", opts.latency()).await?;
    phase.create_documents(n, opts.content_bytes).await?;
    let worker = Proc::floor(
        &phase.kubeconfig,
        &phase.namespace,
        opts.concurrency,
        opts.index_batch_window,
        &log_path("memory-floor"),
    )?;
    worker.output(opts.timeout).await?;
    let sample = serde_json::to_vec(&target::document(0, opts.content_bytes))?.len();

    report.row(
        "controller: VmRSS, empty namespace",
        json!(mib(base_rss)),
        "MiB",
    );
    report.row("Document size (JSON, spec only)", json!(sample), "bytes");
    let mut ready_times = BTreeMap::new();
    let mut peaks = BTreeMap::new();
    for (label, faults) in [
        ("default", &[][..]),
        ("keep-managed-fields", &["keep-managed-fields"][..]),
        ("unpaged-initial-list", &["unpaged-initial-list"][..]),
    ] {
        let controller = Proc::controller(&ControllerSpec {
            bin: &bin,
            kubeconfig: &phase.kubeconfig,
            namespace: &phase.namespace,
            concurrency: opts.concurrency,
            index_batch_window: opts.index_batch_window,
            faults,
            resync_period: None,
            log: &log_path(&format!("memory-{label}")),
            env: &opts.controller_env,
        })?;
        let ready = controller.wait_ready(opts.timeout).await?;
        let (rss_at_ready, _) = controller.memory().unwrap_or_default();
        let m = controller
            .wait_reconciles(n as f64, Duration::from_secs(2), opts.timeout)
            .await?;
        let (rss, hwm) = controller.memory().unwrap_or_default();
        let cached = m.gauge("doc_controller_cached_objects", "store", "documents")
            + m.gauge("doc_controller_cached_objects", "store", "configmaps");
        controller.stop(Duration::from_secs(20)).await?;
        ready_times.insert(label, ready.as_secs_f64());
        peaks.insert(label, hwm);
        let per_doc = (rss.saturating_sub(base_rss)) as f64 / n as f64;
        if label == "default" {
            report.goal(
                "default: VmRSS once reconciled",
                json!(mib(rss)),
                "MiB",
                "<= 40",
                mib(rss) <= 40.0,
            );
        } else {
            report.row(
                format!("{label}: VmRSS once reconciled"),
                json!(mib(rss)),
                "MiB",
            );
        }
        report.row(format!("{label}: VmHWM"), json!(mib(hwm)), "MiB");
        report.row(
            format!("{label}: VmRSS at /readyz (caches full, reconciles starting)"),
            json!(mib(rss_at_ready)),
            "MiB",
        );
        report.row(
            format!("{label}: RSS above empty, per Document (Document + ConfigMap cached)"),
            json!(per_doc.round()),
            "bytes",
        );
        report.row(format!("{label}: cached objects"), json!(cached), "");
        report.row(
            format!("{label}: start to /readyz 200"),
            json!(r3(ready.as_secs_f64())),
            "s",
        );
        report.row(format!("{label}: writes at start"), json!(m.writes()), "");
    }
    let streaming = ready_times.get("default").copied().unwrap_or_default();
    let plain = ready_times
        .get("unpaged-initial-list")
        .copied()
        .unwrap_or_default();
    report.row(
        "start-to-ready, streaming list / one plain list",
        json!(r3(streaming / plain)),
        "x",
    );
    // What `unpaged-initial-list` is about: the whole list in one response, in memory at once.
    let peak = |label| peaks.get(label).copied().unwrap_or_default();
    report.row(
        "VmHWM, one unpaged LIST - streaming list",
        json!(r3(mib(peak("unpaged-initial-list")) - mib(peak("default")))),
        "MiB",
    );
    phase.cleanup(opts.timeout).await?;
    report.note(
        "each controller is the release binary in its own process; RSS read from \
         /proc/<pid>/status once every Document was reconciled and reconciles stopped for 2 s",
    );
    report.finish()?;
    Ok(())
}

/// Scenario 5: CPU per 1,000 reconciles, the controller's and the API server's.
async fn cost(opts: &Opts) -> Result<(), BenchError> {
    let n = opts.n.unwrap_or(2_000);
    let mut report = Report::new("cost", params(opts, n));
    let mut phase = Phase::new("cost", opts.latency()).await?;
    phase.create_documents(n, opts.content_bytes).await?;
    let (run, controller) = controller_run(opts, &phase, n, "cost-controller").await?;
    let metric_cpu = run
        .settled
        .sum("doc_controller_process_cpu_seconds_total", |_| true);
    controller.stop(Duration::from_secs(20)).await?;
    phase.cleanup(opts.timeout).await?;
    let reconciles = run.settled.reconciles();
    let per_k = |x: f64| r3(x / (reconciles / 1000.0));
    report.row("reconciles", json!(reconciles), "");
    report.row("controller CPU (/proc)", json!(r3(run.cpu)), "s");
    report.row(
        "controller CPU (doc_controller_process_cpu_seconds_total)",
        json!(r3(metric_cpu)),
        "s",
    );
    report.row(
        "controller CPU per 1,000 reconciles",
        json!(per_k(run.cpu)),
        "s",
    );
    report.row(
        "controller CPU per 1,000 Documents converged",
        json!(r3(run.cpu / (n as f64 / 1000.0))),
        "s",
    );
    report.row(
        "API server CPU, same window",
        json!(r3(run.server_cpu)),
        "s",
    );
    report.row(
        "API server CPU per 1,000 reconciles",
        json!(per_k(run.server_cpu)),
        "s",
    );
    report.row(
        "controller share of CPU",
        json!(format!(
            "{:.0}%",
            100.0 * run.cpu / (run.cpu + run.server_cpu).max(f64::EPSILON)
        )),
        "",
    );
    report.row(
        "wall time to all Ready",
        json!(r3(run.converge.as_secs_f64())),
        "s",
    );
    server_cpu_note(&mut report);
    report.finish()?;
    Ok(())
}

/// Scenario 6: the sandbox alone, at N objects.
async fn sandbox_alone(opts: &Opts) -> Result<(), BenchError> {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

    let n = opts.n.unwrap_or(10_000);
    let c = usize::from(opts.concurrency);
    let mut report = Report::new("sandbox", params(opts, n));
    let phase = Phase::new("sandbox", opts.latency()).await?;
    let cms: Api<ConfigMap> = Api::namespaced(phase.client.clone(), &phase.namespace);
    let content = target::document(0, opts.content_bytes).spec.content;
    let cpu0 = self_cpu_seconds().unwrap_or_default();

    // Writes: creates, then merge patches, at the controller's concurrency.
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let (cms, content) = (cms.clone(), content.clone());
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("cm-{i:05}")},
                    "data": {"content": content}
                }))?;
                cms.create(&PostParams::default(), &cm).await?;
                Ok::<(), BenchError>(())
            }
        })
        .buffer_unordered(c)
        .try_collect::<Vec<()>>()
        .await?;
    let creates = n as f64 / started.elapsed().as_secs_f64();
    report.row(
        format!("create ({c} in flight)"),
        json!(creates.round()),
        "requests/s",
    );

    let patches = n.min(2_000);
    let patch_all = |round: usize| {
        let cms = cms.clone();
        async move {
            let started = Instant::now();
            futures::stream::iter(0..patches)
                .map(|i| {
                    let cms = cms.clone();
                    async move {
                        cms.patch(
                            &format!("cm-{i:05}"),
                            &PatchParams::default(),
                            &Patch::Merge(json!({"data": {"round": round.to_string()}})),
                        )
                        .await
                        .map(|_| ())
                    }
                })
                .buffer_unordered(c)
                .try_collect::<Vec<()>>()
                .await?;
            Ok::<Duration, BenchError>(started.elapsed())
        }
    };
    let took = patch_all(1).await?;
    report.row(
        format!("merge patch ({c} in flight)"),
        json!((patches as f64 / took.as_secs_f64()).round()),
        "requests/s",
    );

    // Lists of all N: one plain list, and pages of 500.
    let rounds = 3;
    let started = Instant::now();
    for _ in 0..rounds {
        let list = cms.list(&ListParams::default()).await?;
        if list.items.len() != n {
            return Err(BenchError::msg(format!("listed {}", list.items.len())));
        }
    }
    let per_list = started.elapsed().as_secs_f64() / f64::from(rounds);
    report.row(
        format!("list of {n}, one response"),
        json!(r3(1.0 / per_list)),
        "lists/s",
    );
    report.row(
        "  objects listed",
        json!((n as f64 / per_list).round()),
        "objects/s",
    );
    let started = Instant::now();
    for _ in 0..rounds {
        let mut lp = ListParams::default().limit(500);
        loop {
            let page = cms.list(&lp).await?;
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => lp = lp.continue_token(&token),
                None => break,
            }
        }
    }
    let per_list = started.elapsed().as_secs_f64() / f64::from(rounds);
    report.row(
        format!("list of {n}, pages of 500"),
        json!(r3(1.0 / per_list)),
        "lists/s",
    );

    // Watch fan-out: W watchers, then `patches` writes; until every watcher saw every one.
    let w = opts.watchers;
    let rv = cms
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watchers = Vec::new();
    for _ in 0..w {
        let stream = cms.watch(&WatchParams::default().timeout(290), &rv).await?;
        watchers.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut seen = 0usize;
            while seen < patches {
                match stream.next().await {
                    Some(Ok(WatchEvent::Modified(_) | WatchEvent::Added(_))) => seen += 1,
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            (seen, Instant::now())
        }));
    }
    let started = Instant::now();
    let took_writes = patch_all(2).await?;
    let mut delivered = 0;
    let mut last = started;
    for watcher in watchers {
        let (seen, at) = watcher
            .await
            .map_err(|e| BenchError::msg(format!("watcher: {e}")))?;
        delivered += seen;
        last = last.max(at);
    }
    let took_all = (last - started).as_secs_f64();
    report.row(
        format!("watch fan-out: {w} watchers x {patches} patches, delivered"),
        json!(delivered),
        "events",
    );
    report.row(
        "watch fan-out: events delivered",
        json!((delivered as f64 / took_all).round()),
        "events/s",
    );
    report.row(
        "watch fan-out: patches while watched",
        json!((patches as f64 / took_writes.as_secs_f64()).round()),
        "requests/s",
    );
    report.row(
        "bench process CPU (sandbox + clients)",
        json!(r3(self_cpu_seconds().unwrap_or_default() - cpu0)),
        "s",
    );
    phase.cleanup(opts.timeout).await?;
    report.note("clients and sandbox share the bench process; figures are a lower bound");
    report.finish()?;
    Ok(())
}
