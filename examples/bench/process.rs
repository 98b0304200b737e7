//! Child processes (the controller binary, the write-floor worker) and what `/proc` and the
//! controller's `/metrics` tell about them.

use crate::BenchError;
use kube_apiserver_sandbox::testkit::{self, Metrics};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The verbs that change state, as `doc_controller_api_requests_total` spells them.
pub const WRITE_VERBS: &[&str] = &["patch", "apply", "create", "delete", "update"];

/// A running child process.
pub struct Proc {
    child: Child,
    pid: u32,
    /// The controller's admin address (`/metrics`, `/readyz`), if it is the controller.
    pub admin: Option<SocketAddr>,
    /// When it was spawned.
    pub started: Instant,
}

/// What to start a controller with.
pub struct ControllerSpec<'a> {
    /// The `doc-controller` binary.
    pub bin: &'a Path,
    /// Kubeconfig of the API server.
    pub kubeconfig: &'a Path,
    /// Namespace to watch.
    pub namespace: &'a str,
    /// `--concurrency`.
    pub concurrency: u16,
    /// `--index-batch-window`.
    pub index_batch_window: Duration,
    /// `--fault` toggles.
    pub faults: &'a [&'a str],
    /// `--resync-period`, when not the default.
    pub resync_period: Option<Duration>,
    /// Where its logs go.
    pub log: &'a Path,
    /// Extra environment variables.
    pub env: &'a [(String, String)],
}

/// The `doc-controller` binary next to this example (`target/<profile>/doc-controller`).
pub fn default_controller_bin() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| BenchError::msg("cannot locate the target directory"))?;
    Ok(profile_dir.join("doc-controller"))
}

fn free_port() -> Result<u16, BenchError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn log_file(path: &Path) -> Result<(Stdio, Stdio), BenchError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = std::fs::File::create(path)?;
    let err = out.try_clone()?;
    Ok((Stdio::from(out), Stdio::from(err)))
}

impl Proc {
    /// Starts the controller binary against `spec.kubeconfig`.
    pub fn controller(spec: &ControllerSpec<'_>) -> Result<Self, BenchError> {
        if !spec.bin.exists() {
            return Err(BenchError::msg(format!(
                "{} not found: run `cargo build --release --bin doc-controller` first \
                 (or pass --controller-bin)",
                spec.bin.display()
            )));
        }
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let (out, err) = log_file(spec.log)?;
        let mut cmd = Command::new(spec.bin);
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("KUBECONFIG", spec.kubeconfig)
            .env_remove("DOC_CONTROLLER_CONFIG")
            .env_remove("DOC_CONTROLLER_FAULTS")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .arg("--namespace")
            .arg(spec.namespace)
            .arg("--admin-addr")
            .arg(admin.to_string())
            .arg("--concurrency")
            .arg(spec.concurrency.to_string())
            .arg("--index-batch-window")
            .arg(humantime::format_duration(spec.index_batch_window).to_string());
        if let Some(period) = spec.resync_period {
            cmd.arg("--resync-period")
                .arg(humantime::format_duration(period).to_string());
        }
        for fault in spec.faults {
            cmd.arg("--fault").arg(fault);
        }
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::msg("controller exited at once"))?;
        Ok(Self {
            child,
            pid,
            admin: Some(admin),
            started,
        })
    }

    /// Starts this example again as the write-floor worker.
    pub fn floor(
        kubeconfig: &Path,
        namespace: &str,
        concurrency: u16,
        index_batch_window: Duration,
        log: &Path,
    ) -> Result<Self, BenchError> {
        let (_, err) = log_file(log)?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env("KUBECONFIG", kubeconfig)
            .arg("floor-worker")
            .arg("--namespace")
            .arg(namespace)
            .arg("--concurrency")
            .arg(concurrency.to_string())
            .arg("--index-batch-window")
            .arg(humantime::format_duration(index_batch_window).to_string());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::msg("floor worker exited at once"))?;
        Ok(Self {
            child,
            pid,
            admin: None,
            started,
        })
    }

    /// Waits for the process to exit and returns what it printed on stdout.
    pub async fn output(self, timeout: Duration) -> Result<String, BenchError> {
        let output = tokio::time::timeout(timeout, self.child.wait_with_output())
            .await
            .map_err(|_| BenchError::msg("child process did not finish in time"))??;
        if !output.status.success() {
            return Err(BenchError::msg(format!(
                "child process failed: {}",
                output.status
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The controller's parsed `/metrics`.
    pub async fn metrics(&self) -> Result<Samples, BenchError> {
        let admin = self
            .admin
            .ok_or_else(|| BenchError::msg("not a controller"))?;
        let (code, body) = http_get(admin, "/metrics").await?;
        if code != 200 {
            return Err(BenchError::msg(format!("/metrics answered {code}")));
        }
        Ok(Samples::parse(&body))
    }

    /// Waits until `/readyz` answers 200; returns the time since the process was spawned.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration, BenchError> {
        let admin = self
            .admin
            .ok_or_else(|| BenchError::msg("not a controller"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http_get(admin, "/readyz").await {
                return Ok(self.started.elapsed());
            }
            if Instant::now() > deadline {
                return Err(BenchError::msg("controller not ready in time"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls the metrics until `sum(doc_controller_reconcile_total)` reaches `at_least` and then
    /// stops moving for `quiet`; returns the last metrics.
    pub async fn wait_reconciles(
        &self,
        at_least: f64,
        quiet: Duration,
        timeout: Duration,
    ) -> Result<Samples, BenchError> {
        let deadline = Instant::now() + timeout;
        let mut last = -1.0;
        let mut since = Instant::now();
        loop {
            let m = self.metrics().await?;
            let now = m.reconciles();
            if now != last {
                last = now;
                since = Instant::now();
            } else if now >= at_least && since.elapsed() >= quiet {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(BenchError::msg(format!(
                    "reconciles at {now}, expected at least {at_least} and then quiet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU seconds (user + system) used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// `(VmRSS, VmHWM)` in bytes.
    pub fn memory(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Samples the process's established connections to `port` every 50 ms; the guard stops
    /// sampling when dropped and holds the maximum seen.
    pub fn sample_connections(&self, port: u16) -> ConnectionSampler {
        let max = Arc::new(AtomicUsize::new(0));
        let pid = self.pid;
        let seen = max.clone();
        let task = tokio::spawn(async move {
            loop {
                let n = established_connections(pid, port);
                seen.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        ConnectionSampler { max, task }
    }

    /// Asks the process to stop (SIGTERM, through `kill`) and waits; kills it after `timeout`.
    pub async fn stop(mut self, timeout: Duration) -> Result<(), BenchError> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(timeout, self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill()?;
            self.child.wait().await?;
        }
        Ok(())
    }
}

/// The maximum number of connections seen, while sampling.
pub struct ConnectionSampler {
    max: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionSampler {
    /// The maximum so far.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for ConnectionSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU seconds of this process (the bench, which hosts the sandbox).
pub fn self_cpu_seconds() -> Option<f64> {
    cpu_seconds("/proc/self/stat")
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Established TCP connections of process `pid` whose remote port is `port`: its socket inodes
/// (`/proc/<pid>/fd`) matched against the TCP tables of its network namespace.
pub fn established_connections(pid: u32, port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (f.get(2), f.get(3), f.get(9)) else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if *state == "01" && remote_port == Some(port) && inodes.contains(*inode) {
                count += 1;
            }
        }
    }
    count
}

/// A plain HTTP GET of the admin server; status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), BenchError> {
    Ok(testkit::http_get(addr, path).await?)
}

/// The samples of the controller's `/metrics`, with the sums the benchmarks report.
#[derive(Debug, Default, Clone)]
pub struct Samples(Metrics);

impl Samples {
    /// Parses the text format.
    pub fn parse(text: &str) -> Self {
        Self(Metrics::parse(text))
    }

    /// Sum of the series of `name` whose labels satisfy `keep`.
    pub fn sum(&self, name: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
        self.0.sum_where(name, keep)
    }

    /// `sum(doc_controller_reconcile_total)`.
    pub fn reconciles(&self) -> f64 {
        self.sum("doc_controller_reconcile_total", |_| true)
    }

    /// `sum(doc_controller_reconcile_total{result="error"})`.
    pub fn reconcile_errors(&self) -> f64 {
        self.sum("doc_controller_reconcile_total", |l| {
            l.get("result").is_some_and(|r| r == "error")
        })
    }

    /// Write requests (`verb=~"patch|apply|create|delete|update"`), the Lease's left out.
    pub fn writes(&self) -> f64 {
        self.sum("doc_controller_api_requests_total", is_write)
    }

    /// Write requests by `verb resource`.
    pub fn writes_by_kind(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for sample in self.0.samples() {
            let (labels, value) = (&sample.labels, &sample.value);
            if sample.name == "doc_controller_api_requests_total"
                && is_write(labels)
                && *value > 0.0
            {
                let key = format!(
                    "{} {}",
                    labels.get("verb").map_or("", String::as_str),
                    labels.get("resource").map_or("", String::as_str)
                );
                *out.entry(key).or_insert(0.0) += value;
            }
        }
        out
    }

    /// Requests answered with `code` matching `keep` (e.g. 5xx, 429).
    pub fn responses(&self, keep: impl Fn(&str) -> bool) -> f64 {
        self.sum("doc_controller_api_requests_total", |l| {
            l.get("code").is_some_and(|c| keep(c))
        })
    }

    /// `(count, sum)` of histogram `name`, all series added.
    pub fn histogram(&self, name: &str) -> (f64, f64) {
        (
            self.sum(&format!("{name}_count"), |_| true),
            self.sum(&format!("{name}_sum"), |_| true),
        )
    }

    /// `(count, seconds)` of `doc_controller_api_request_duration_seconds` by `verb resource`,
    /// watches apart (their duration is the time to establish them).
    pub fn request_seconds_by_kind(&self) -> BTreeMap<String, (f64, f64)> {
        let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        let base = "doc_controller_api_request_duration_seconds";
        for sample in self.0.samples() {
            let (name, labels, value) = (&sample.name, &sample.labels, &sample.value);
            let count = name.strip_prefix(base) == Some("_count");
            if !(count || name.strip_prefix(base) == Some("_sum")) || *value == 0.0 {
                continue;
            }
            let verb = labels.get("verb").map_or("", String::as_str);
            if verb == "watch" {
                continue;
            }
            let key = format!(
                "{verb} {}",
                labels.get("resource").map_or("", String::as_str)
            );
            let entry = out.entry(key).or_default();
            if count {
                entry.0 += value;
            } else {
                entry.1 += value;
            }
        }
        out
    }

    /// The value of one gauge series of `name` with label `key=value`.
    pub fn gauge(&self, name: &str, key: &str, value: &str) -> f64 {
        self.sum(name, |l| l.get(key).is_some_and(|v| v == value))
    }
}

/// A write of the reconciler: the Lease's (created at start, renewed every retry period by the
/// leader election) are the election's, not work on Documents.
fn is_write(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get("verb")
        .is_some_and(|v| WRITE_VERBS.contains(&v.as_str()))
        && labels.get("resource").is_none_or(|r| r != "leases")
}
