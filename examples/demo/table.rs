//! The numbers a demo prints: columns read from a controller's `/metrics`, the API and the logs,
//! one line every [`TICK`].

use crate::harness::{Demo, Res, TICK, Target};
use crate::para;
use doc_controller::Document;
use doc_controller::diagnosis::report::Diagnostics;
use kube::api::{Api, ListParams};
use kube_apiserver_sandbox::testkit::Metrics;
pub use kube_apiserver_sandbox::testkit::http_get;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A state a Document can be in, as counted by [`Probe::Docs`].
#[derive(Clone, Copy)]
pub enum DocState {
    /// Every Document.
    All,
    /// Ready for its current generation (`observedGeneration == generation`).
    Current,
    /// Deleted, held by its finalizer.
    Terminating,
    /// No status at all.
    Unreconciled,
    /// Finalizer added, but no status after it.
    Stuck,
    /// `observedGeneration` behind `generation` (an edit not reconciled).
    Behind,
}

impl DocState {
    /// Whether the Document `d` is in this state.
    pub fn holds(self, d: &Document) -> bool {
        let generation = d.metadata.generation;
        let observed = d.status.as_ref().and_then(|s| s.observed_generation);
        let ready = d.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        match self {
            DocState::All => true,
            DocState::Current => ready && observed == generation,
            DocState::Terminating => d.metadata.deletion_timestamp.is_some(),
            DocState::Unreconciled => d.status.is_none(),
            DocState::Stuck => d.status.is_none() && d.metadata.finalizers.is_some(),
            DocState::Behind => d.status.is_some() && observed != generation,
        }
    }
}

/// One column of the table a phase prints.
#[derive(Clone)]
pub enum Probe {
    /// A counter from `/metrics` (sum of the series with these labels): total and the change.
    Count(&'static str, &'static str, &'static [&'static str]),
    /// A gauge from `/metrics`.
    Gauge(&'static str, &'static str, &'static [&'static str]),
    /// A gauge in bytes from `/metrics`, shown in MiB ("n/a" when the series does not exist).
    Mib(&'static str, &'static str, &'static [&'static str]),
    /// Change of one counter per change of another since the last line (e.g. writes per
    /// reconcile).
    Ratio(
        &'static str,
        (&'static str, &'static [&'static str]),
        (&'static str, &'static [&'static str]),
    ),
    /// Mean of a histogram since the last line, in milliseconds (`<name>_sum` / `<name>_count`).
    MeanMs(&'static str, &'static str),
    /// The resourceVersion of one Document.
    Rv(&'static str, &'static str),
    /// How many Documents are in a state.
    Docs(&'static str, DocState),
    /// `/healthz`: status code and how long it took to answer.
    Healthz(&'static str),
    /// `/readyz` status code.
    Readyz(&'static str),
    /// Log lines (since the phase began) containing a string.
    Logs(&'static str, &'static str),
    /// WARN/ERROR log lines since the phase began.
    Warnings(&'static str),
    /// A counter kept by the demo itself (e.g. another writer's writes): total and the change.
    Shared(&'static str, Arc<AtomicU64>),
    /// A series of the sandbox API server's own `/metrics` (what `kubectl get --raw /metrics`
    /// shows, e.g. `apiserver_flowcontrol_rejected_requests_total`), with labels built at run
    /// time (names read from a manifest). A `_total` series is shown as a counter.
    Server(&'static str, &'static str, Vec<String>),
    /// The peak resident memory of a child process (`VmHWM`), in MiB; "n/a" in-process.
    PeakMib(&'static str),
}

impl Probe {
    fn header(&self) -> &'static str {
        match *self {
            Probe::Count(h, ..)
            | Probe::Gauge(h, ..)
            | Probe::Mib(h, ..)
            | Probe::Ratio(h, ..)
            | Probe::MeanMs(h, ..)
            | Probe::Rv(h, ..)
            | Probe::Docs(h, ..)
            | Probe::Healthz(h)
            | Probe::Readyz(h)
            | Probe::Logs(h, ..)
            | Probe::Warnings(h)
            | Probe::Shared(h, _)
            | Probe::Server(h, ..)
            | Probe::PeakMib(h) => h,
        }
    }
}

/// Prints a table of `probes`, one line every [`TICK`], for `duration`. `stimulus(tick)` runs at
/// the start of each tick (tick 0 right after the first line).
pub struct Table {
    probes: Vec<Probe>,
    width: Vec<usize>,
    prev: Vec<(f64, f64)>,
    started: Instant,
    log_base: Vec<u64>,
    docs: Api<Document>,
    client: kube::Client,
}

impl Table {
    /// A table of these columns, reading Documents and server metrics from `demo`'s sandbox.
    pub fn new(probes: &[Probe], demo: &Demo) -> Table {
        Table {
            probes: probes.to_vec(),
            width: probes
                .iter()
                .map(|p| p.header().chars().count().max(11))
                .collect(),
            prev: vec![(0.0, 0.0); probes.len()],
            started: Instant::now(),
            log_base: vec![0; probes.len()],
            docs: demo.docs.clone(),
            client: demo.client.clone(),
        }
    }

    /// Runs the phase: header, a line at once, then one per tick while `stimulus` acts.
    pub async fn run<F, Fut>(&mut self, target: &Target, duration: Duration, mut stimulus: F) -> Res
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Res>,
    {
        self.started = Instant::now();
        for (i, probe) in self.probes.iter().enumerate() {
            self.log_base[i] = match probe {
                Probe::Logs(_, needle) => target.logs.count(needle),
                Probe::Warnings(_) => target.logs.warnings(),
                _ => 0,
            };
        }
        let mut header = format!("  {:>5}", "t");
        for (p, w) in self.probes.iter().zip(&self.width) {
            header.push_str(&format!("  {:>w$}", p.header()));
        }
        println!("{header}");
        self.line(target, true).await?;
        let mut tick = 0;
        while self.started.elapsed() + Duration::from_millis(100) < duration {
            stimulus(tick).await?;
            tick += 1;
            let next = self.started + TICK * tick;
            tokio::time::sleep_until(next.into()).await;
            self.line(target, false).await?;
        }
        Ok(())
    }

    /// Prints one line of numbers.
    pub async fn line(&mut self, target: &Target, first: bool) -> Res {
        let metrics = http_get(target.admin, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default();
        let needs_docs = self
            .probes
            .iter()
            .any(|p| matches!(p, Probe::Docs(..) | Probe::Rv(..)));
        // None when the Documents cannot be listed (no CRD yet).
        let docs = if needs_docs {
            self.docs
                .list(&ListParams::default())
                .await
                .ok()
                .map(|l| l.items)
        } else {
            Some(Vec::new())
        };
        let server = if self.probes.iter().any(|p| matches!(p, Probe::Server(..))) {
            let request = http::Request::get("/metrics").body(Vec::new())?;
            self.client.request_text(request).await.unwrap_or_default()
        } else {
            String::new()
        };
        let mut out = format!("  {:>4}s", self.started.elapsed().as_secs());
        for i in 0..self.probes.len() {
            let cell = self
                .cell(i, target, &metrics, &server, docs.as_deref(), first)
                .await;
            out.push_str(&format!("  {:>w$}", cell, w = self.width[i]));
        }
        println!("{out}");
        print_findings(target).await;
        Ok(())
    }

    fn counter(&mut self, i: usize, v: f64, first: bool) -> String {
        let delta = v - self.prev[i].0;
        self.prev[i].0 = v;
        if first {
            format!("{v}")
        } else {
            format!("{v} (+{delta})")
        }
    }

    async fn cell(
        &mut self,
        i: usize,
        target: &Target,
        metrics: &str,
        server: &str,
        docs: Option<&[Document]>,
        first: bool,
    ) -> String {
        let m = |name: &str, labels: &[&str]| sum_metric(metrics, name, labels);
        if metrics.is_empty()
            && !matches!(
                self.probes[i],
                Probe::Docs(..)
                    | Probe::Rv(..)
                    | Probe::Logs(..)
                    | Probe::Warnings(..)
                    | Probe::Healthz(..)
                    | Probe::Readyz(..)
                    | Probe::Shared(..)
                    | Probe::Server(..)
                    | Probe::PeakMib(..)
            )
        {
            return "-".into();
        }
        match self.probes[i].clone() {
            Probe::Count(_, name, labels) => self.counter(i, m(name, labels), first),
            Probe::Shared(_, value) => self.counter(i, value.load(Ordering::Relaxed) as f64, first),
            Probe::Server(_, name, labels) => {
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                let value = sum_metric(server, name, &labels);
                if name.ends_with("_total") {
                    self.counter(i, value, first)
                } else {
                    format!("{value}")
                }
            }
            Probe::PeakMib(_) => match target.pid.and_then(crate::memory::peak_rss) {
                Some(bytes) => format!("{:.1} MiB", bytes / 1_048_576.0),
                None => "n/a".into(),
            },
            Probe::Gauge(_, name, labels) => format!("{}", m(name, labels)),
            Probe::Mib(_, name, labels) => {
                if metrics.lines().any(|l| l.starts_with(name)) {
                    format!("{:.1} MiB", m(name, labels) / 1_048_576.0)
                } else {
                    "n/a".into()
                }
            }
            Probe::Ratio(_, (num, nl), (den, dl)) => {
                let (n, d) = (m(num, nl), m(den, dl));
                let (dn, dd) = (n - self.prev[i].0, d - self.prev[i].1);
                self.prev[i] = (n, d);
                if first || dd == 0.0 {
                    "-".into()
                } else {
                    format!("{:.2}", dn / dd)
                }
            }
            Probe::MeanMs(_, base) => {
                let sum = m(&format!("{base}_sum"), &[]);
                let count = m(&format!("{base}_count"), &[]);
                let (ds, dc) = (sum - self.prev[i].0, count - self.prev[i].1);
                self.prev[i] = (sum, count);
                if first || dc == 0.0 {
                    "-".into()
                } else {
                    format!("{:.0} ms", ds / dc * 1000.0)
                }
            }
            Probe::Rv(_, name) => match docs {
                None => "no CRD".into(),
                Some(docs) => docs
                    .iter()
                    .find(|d| d.metadata.name.as_deref() == Some(name))
                    .and_then(|d| d.metadata.resource_version.clone())
                    .unwrap_or_else(|| "gone".into()),
            },
            Probe::Docs(_, state) => match docs {
                None => "no CRD".into(),
                Some(docs) => format!("{}", docs.iter().filter(|d| state.holds(d)).count()),
            },
            Probe::Healthz(_) => {
                let started = Instant::now();
                match http_get(target.admin, "/healthz").await {
                    Ok((code, _)) => format!("{code} {:.0}ms", started.elapsed().as_millis()),
                    Err(_) => "down".into(),
                }
            }
            Probe::Readyz(_) => match http_get(target.admin, "/readyz").await {
                Ok((code, _)) => format!("{code}"),
                Err(_) => "down".into(),
            },
            Probe::Logs(_, needle) => format!(
                "{}",
                target.logs.count(needle).saturating_sub(self.log_base[i])
            ),
            Probe::Warnings(_) => format!(
                "{}",
                target.logs.warnings().saturating_sub(self.log_base[i])
            ),
        }
    }
}

/// Prints each finding raised or cleared since the last line, as the target's `/diagnostics`
/// shows them: the self-diagnosis naming the symptom the numbers show. Prints nothing when the
/// admin server does not answer (a controller that stopped or crashed says so in its numbers).
async fn print_findings(target: &Target) {
    let Ok((200, body)) = http_get(target.admin, "/diagnostics").await else {
        return;
    };
    let Ok(report) = serde_json::from_str::<Diagnostics>(&body) else {
        return;
    };
    let mut seen = target
        .findings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let raised: BTreeSet<String> = report.active().map(|f| f.finding.clone()).collect();
    for finding in report.active().filter(|f| !seen.contains(&f.finding)) {
        let cause = finding.likely_cause.as_deref().unwrap_or(&finding.symptom);
        para("  finding", &format!("raised {}: {cause}", finding.finding));
    }
    for finding in seen.difference(&raised) {
        para("  finding", &format!("cleared {finding}"));
    }
    *seen = raised;
}

/// A stimulus that does nothing.
pub async fn idle(_tick: u32) -> Res {
    Ok(())
}

/// The sum of the samples of `name` with every label of `labels` (each `key="value"`, as the
/// probes spell them).
pub fn sum_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .filter_map(|label| {
            let (key, value) = label.split_once('=')?;
            Some((key, value.trim_matches('"')))
        })
        .collect();
    Metrics::parse(text).sum(name, &pairs)
}
