//! The controller diagnoses itself: it recognises the symptoms of the troubleshooting guide from
//! its own signals, names the likely cause and says the fix, while it runs.
//!
//! # How
//! Every window (`--diagnosis-window`, 10 s by default) the [`Doctor`] takes a [`Sample`] of the
//! controller's metrics and reads a few facts from its caches (Documents stuck Terminating,
//! Documents the reconciler has not caught up with, what the caches hold). Each finding of the
//! [`catalogue`] has one rule ([`rules`]) that reads the window and the facts and returns the
//! evidence when its symptom is there. A finding is raised after its symptom showed in a number
//! of consecutive windows and cleared after a number of windows without it ([`hysteresis`]), so
//! it does not flap.
//!
//! # What a raised finding shows
//! - one WARN log line when it is raised (with the evidence, the likely cause, the fix and the
//!   docs link) and one when it clears;
//! - `doc_controller_finding_active{finding}` (every finding's series exists from the start, at
//!   0) and `doc_controller_findings_raised_total{finding}`;
//! - a Kubernetes Event, from the replica that leads (a standby writes nothing) while the API
//!   server answers: on the Documents the finding is about (stuck Terminating, not caught up with), else on the
//!   controller's own object (its Pod when `POD_NAME` and `POD_NAMESPACE` are set, else its
//!   ServiceAccount in the one namespace it watches, else the Document CRD);
//! - an entry of `/diagnostics` (JSON, [`report::Diagnostics`]), which `doc-controller doctor`
//!   prints.
//!
//! # Caveats
//! The rules read what this process sees. A symptom whose cause is outside it (another
//! controller's loop, an API server's own load) shows as its effect here (repairs, 429s), with
//! the cause the guide lists first; the evidence says which numbers raised it.

pub mod catalogue;
pub mod hysteresis;
pub mod report;
pub mod rules;
pub mod sample;

pub use catalogue::Finding;

use crate::configmap::cached::CachedConfigMap;
use crate::crd::{CONTROLLER_NAME, Document, FINALIZER};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use hysteresis::{Tracker, Transition};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::ListParams;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use report::{Diagnostics, FindingReport, HistoryPoint, Signal};
use rules::{Evidence, Facts, Lagging};
use sample::{Sample, Window, all};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Default length of a diagnosis window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Default time a Document may stay Terminating before it counts as stuck.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(60);

/// At most this many Documents get an Event for one finding.
const EVENTS_PER_FINDING: usize = 5;

/// What the watches last said, shared with them: the latest error message per reason (the
/// evidence that tells causes apart: a 403 "at the cluster scope" is a scope problem, not a
/// missing rule), and which watches are failing now (their last item was an error).
///
/// A failing watch retries with a backoff that grows to 30 s, so windows without a new error
/// pass while it still fails; "failing now" keeps a finding raised through them.
#[derive(Debug, Default)]
pub struct LastWatchErrors {
    state: Mutex<WatchErrors>,
    /// Whether any watch is failing: checked on every event without taking the lock.
    any_failing: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct WatchErrors {
    messages: BTreeMap<&'static str, String>,
    /// Per failing watch: the reason of its last error, and whether that error was logged.
    failing: BTreeMap<&'static str, (&'static str, bool)>,
}

impl LastWatchErrors {
    /// The watch of `resource` failed with `reason` (an HTTP code or a failure class); `logged`
    /// says whether the controller logged the error.
    pub fn record(
        &self,
        resource: &'static str,
        reason: &'static str,
        message: String,
        logged: bool,
    ) {
        let mut state = self.lock();
        state.messages.insert(reason, message);
        state.failing.insert(resource, (reason, logged));
        self.any_failing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The watch of `resource` delivered an event: it is not failing.
    pub fn recovered(&self, resource: &'static str) {
        if !self.any_failing.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut state = self.lock();
        state.failing.remove(resource);
        self.any_failing.store(
            !state.failing.is_empty(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn messages(&self) -> Vec<(String, String)> {
        self.lock()
            .messages
            .iter()
            .map(|(reason, message)| ((*reason).to_string(), message.clone()))
            .collect()
    }

    fn failing(&self) -> Vec<rules::FailingWatch> {
        self.lock()
            .failing
            .iter()
            .map(|(resource, (reason, logged))| rules::FailingWatch {
                resource: (*resource).to_string(),
                reason: (*reason).to_string(),
                logged: *logged,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchErrors> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a Document's last reconcile failed (it is backing off, not idle).
pub type IsFailing = Arc<dyn Fn(&ObjectRef<Document>) -> bool + Send + Sync>;

/// What the running controller hands the doctor: its caches and what it knows of its Documents.
pub struct Inputs {
    /// The Document cache.
    pub documents: Store<Document>,
    /// The owned-ConfigMap cache.
    pub config_maps: Store<CachedConfigMap>,
    /// Whether a Document's last reconcile failed.
    pub failing: IsFailing,
    /// The Document watch's label selector, if it has one.
    pub selector: Option<String>,
    /// The concurrency the controller runs with (0: unbounded).
    pub concurrency: u16,
}

/// The settings of the diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The length of one window.
    pub window: Duration,
    /// How long a Document may be Terminating before it counts as stuck.
    pub stuck_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            stuck_after: DEFAULT_STUCK_AFTER,
        }
    }
}

/// The doctor; cheap to clone, all clones are the same doctor.
#[derive(Clone)]
pub struct Doctor {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Arc<Metrics>,
    settings: Settings,
    /// Where Documents are listed when the cache cannot tell whether the API holds any.
    namespace: Option<String>,
    last_watch_errors: LastWatchErrors,
    inputs: Mutex<Option<Inputs>>,
    state: Mutex<State>,
    report: watch::Sender<Diagnostics>,
}

/// Per finding, in catalogue order.
#[derive(Default)]
struct State {
    windows: u64,
    evaluated_at: Option<String>,
    trackers: Vec<Tracker>,
    evidence: Vec<Option<Evidence>>,
    since: Vec<Option<String>>,
    raised: Vec<u64>,
    signals: Vec<Signal>,
    history: std::collections::VecDeque<HistoryPoint>,
}

impl Doctor {
    /// A doctor for a controller watching `namespace` (all when `None`).
    pub fn new(metrics: Arc<Metrics>, settings: Settings, namespace: Option<String>) -> Self {
        let names: Vec<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
        metrics.signals().findings_known(&names);
        let n = Finding::ALL.len();
        let state = State {
            trackers: vec![Tracker::default(); n],
            evidence: vec![None; n],
            since: vec![None; n],
            raised: vec![0; n],
            ..State::default()
        };
        let (report, _) = watch::channel(Diagnostics {
            window_seconds: settings.window.as_secs_f64(),
            ..Diagnostics::default()
        });
        let doctor = Doctor {
            inner: Arc::new(Inner {
                metrics,
                settings,
                namespace,
                last_watch_errors: LastWatchErrors::default(),
                inputs: Mutex::new(None),
                state: Mutex::new(state),
                report,
            }),
        };
        doctor.publish_report();
        doctor
    }

    /// The report as it is now, and every change to it.
    pub fn subscribe(&self) -> watch::Receiver<Diagnostics> {
        self.inner.report.subscribe()
    }

    /// Where the watches record their errors and recoveries.
    pub fn last_watch_errors(&self) -> &LastWatchErrors {
        &self.inner.last_watch_errors
    }

    /// Hands the doctor the running controller's caches.
    pub fn attach(&self, inputs: Inputs) {
        *lock(&self.inner.inputs) = Some(inputs);
        self.inner.metrics.signals().set_controller_running(true);
    }

    /// Raises `finding` at once, with `evidence`: for a symptom seen outside the windows, such as
    /// a soft error about to stop the process. Logs and counts it; no Event (there may be no
    /// time left to send one).
    pub fn raise_now(&self, finding: Finding, evidence: Vec<String>) {
        let index = index_of(finding);
        let raised = {
            let mut state = lock(&self.inner.state);
            let transition = state.trackers[index].raise_now();
            state.evidence[index] = Some(Evidence {
                lines: evidence,
                cause: 0,
                documents: Vec::new(),
            });
            if transition.is_some() {
                state.since[index] = Some(now_rfc3339());
                state.raised[index] += 1;
            }
            transition.is_some()
        };
        if raised {
            self.inner
                .metrics
                .signals()
                .set_finding(finding.name(), true);
            self.log_raised(finding);
        }
        self.publish_report();
    }

    /// Evaluates a window every `window` until dropped: raises and clears findings, and publishes
    /// each transition (log, metric, Event, `/diagnostics`).
    ///
    /// Events are published only while this process leads (a standby writes nothing, see
    /// [`crate::leader`]) and the API server answers; logs, metrics and `/diagnostics` are every
    /// replica's, always.
    pub async fn run(self, client: kube::Client, readiness: Readiness, leadership: Leadership) {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.into(),
                instance: Some(leadership.identity().to_string()),
            },
        );
        let period = self.inner.settings.window;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut before = Sample::new(&self.inner.metrics.sample(), Instant::now());
        loop {
            ticks.tick().await;
            let now = Sample::new(&self.inner.metrics.sample(), Instant::now());
            let window = Window {
                before: &before,
                now: &now,
            };
            let facts = self.facts(&client, &readiness, &leadership, &window).await;
            let transitions = self.evaluate(&window, &facts);
            // Events only from the leader, and only through an API server that answers: one
            // sent into a partition would hold the diagnosis up for the API deadline, and could
            // land long after, from a replica that no longer leads.
            let writable = leadership.is_leading() && facts.api_unreachable.is_none();
            for (finding, transition) in transitions {
                self.announce(finding, transition, writable.then_some(&recorder))
                    .await;
            }
            before = now;
        }
    }

    /// Reads the facts of this window from the caches, readiness, the leadership and (when
    /// only the API can tell) one LIST of Documents or one GET of the Lease.
    async fn facts(
        &self,
        client: &kube::Client,
        readiness: &Readiness,
        leadership: &Leadership,
        window: &Window<'_>,
    ) -> Facts {
        let now = window.now;
        let signals = self.inner.metrics.signals();
        signals.set_ready(readiness.is_ready());
        let mut facts = Facts {
            api_unreachable: readiness.unreachable_reason(),
            last_watch_errors: self.inner.last_watch_errors.messages(),
            failing_watches: self.inner.last_watch_errors.failing(),
            leader: if leadership.is_leading() {
                rules::Leader::ThisReplica
            } else {
                leadership
                    .current_leader()
                    .map_or(rules::Leader::Nobody, rules::Leader::Another)
            },
            ..Facts::default()
        };
        // Who holds the Lease, only when this process wrote without it: the evidence of
        // `writes-without-lease`.
        if window.increase("doc_controller_writes_without_lease_total", all) > 0.0 {
            facts.lease = Some(lease_seen(client, leadership).await);
        }
        // In-flight counts are small integers; the gauge holds them exactly.
        #[allow(clippy::cast_possible_truncation, reason = "an integer gauge")]
        let in_flight = now.sum("doc_controller_reconciles_in_flight", all) as i64;
        facts.in_flight_peak = signals.take_in_flight_peak(in_flight);
        let ask_the_api = {
            let inputs = lock(&self.inner.inputs);
            match inputs.as_ref() {
                Some(inputs) => {
                    self.read_caches(inputs, &mut facts);
                    inputs.selector.is_some() && facts.documents_cached == 0
                }
                None => true,
            }
        };
        // Only an API server that answers and holds the CRD can tell; asking one that does not
        // answer adds a request per window to the timeouts.
        if ask_the_api && readiness.preflight_passed() && facts.api_unreachable.is_none() {
            facts.documents_in_api = self.documents_in_api(client).await;
        }
        signals.set_documents("terminating_stuck", facts.stuck_terminating.len());
        signals.set_documents("lagging", facts.lagging.len());
        signals.set_documents("with_managed_fields", facts.with_managed_fields);
        facts
    }

    fn read_caches(&self, inputs: &Inputs, facts: &mut Facts) {
        facts.controller_running = true;
        facts.selector = inputs.selector.clone();
        facts.concurrency = inputs.concurrency;
        facts.config_maps_cached = inputs.config_maps.len();
        let documents = inputs.documents.state();
        facts.documents_cached = documents.len();
        let now = k8s_openapi::jiff::Timestamp::now();
        let bound = i64::try_from(self.inner.settings.stuck_after.as_secs()).unwrap_or(i64::MAX);
        // Named only when listed: formatting every name on every window cost an allocation per
        // cached Document per window.
        let name =
            |doc: &Document| format!("{}/{}", doc.namespace().unwrap_or_default(), doc.name_any());
        for doc in &documents {
            if !doc.managed_fields().is_empty() {
                facts.with_managed_fields += 1;
            }
            if let Some(deleted) = &doc.metadata.deletion_timestamp {
                if now.as_second() - deleted.0.as_second() >= bound {
                    facts.stuck_terminating.push(name(doc));
                }
                continue;
            }
            let observed = doc.status.as_ref().and_then(|s| s.observed_generation);
            if observed != doc.metadata.generation
                && !(inputs.failing)(&ObjectRef::from_obj(doc.as_ref()))
            {
                let finalized = doc.finalizers().iter().any(|f| f == FINALIZER);
                facts.lagging.push(Lagging {
                    name: name(doc),
                    never_published: finalized && doc.status.is_none(),
                });
            }
        }
    }

    /// Whether the API holds Documents in the controller's scope: one LIST without a selector.
    async fn documents_in_api(&self, client: &kube::Client) -> Option<bool> {
        let api: Api<Document> = match &self.inner.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        api.list(&ListParams::default().limit(1))
            .await
            .ok()
            .map(|list| !list.items.is_empty())
    }

    /// Runs every rule on the window; returns the transitions, with the trackers, evidence and
    /// report updated.
    fn evaluate(&self, window: &Window, facts: &Facts) -> Vec<(Finding, Transition)> {
        let mut verdicts: Vec<Option<Evidence>> = Finding::ALL
            .iter()
            .map(|finding| rules::evaluate(*finding, window, facts))
            .collect();
        // A loop is churn and spurious reconciles at once; it says more than both.
        if verdicts[index_of(Finding::SelfTriggeringLoop)].is_some() {
            verdicts[index_of(Finding::StatusChurn)] = None;
            verdicts[index_of(Finding::SpuriousReconciles)] = None;
        }
        let mut transitions = Vec::new();
        {
            let mut state = lock(&self.inner.state);
            state.windows += 1;
            state.evaluated_at = Some(now_rfc3339());
            state.signals = key_signals(window, facts);
            if state.history.len() == report::HISTORY {
                state.history.pop_front();
            }
            state.history.push_back(history_point(window, facts));
            for (index, (finding, verdict)) in Finding::ALL.iter().zip(verdicts).enumerate() {
                let symptom = verdict.is_some();
                if let Some(evidence) = verdict {
                    state.evidence[index] = Some(evidence);
                }
                let transition = state.trackers[index].observe(
                    symptom,
                    finding.raise_after(),
                    finding.clear_after(),
                );
                match transition {
                    Some(Transition::Raised) => {
                        state.since[index] = Some(now_rfc3339());
                        state.raised[index] += 1;
                    }
                    Some(Transition::Cleared) => state.since[index] = None,
                    None => {}
                }
                if let Some(transition) = transition {
                    transitions.push((*finding, transition));
                }
            }
        }
        self.publish_report();
        transitions
    }

    /// Logs, counts and reports one transition, with an Event through `recorder` (`None`: a
    /// standby, which writes nothing).
    async fn announce(
        &self,
        finding: Finding,
        transition: Transition,
        recorder: Option<&Recorder>,
    ) {
        let signals = self.inner.metrics.signals();
        let raised = transition == Transition::Raised;
        signals.set_finding(finding.name(), raised);
        let evidence = self.evidence(finding);
        if raised {
            self.log_raised(finding);
        } else {
            // One WARN line per transition: the clear closes what the raise opened.
            tracing::warn!(
                finding = finding.name(),
                cause = %likely_cause(finding, evidence.as_ref()).unwrap_or_default(),
                fix = finding.fix(),
                "finding cleared: {}",
                finding.symptom()
            );
        }
        let note = match (&evidence, raised) {
            (Some(evidence), true) => format!(
                "{}: {}. Likely cause: {}. Fix: {}. See {}",
                finding.symptom(),
                evidence.lines.join("; "),
                likely_cause(finding, Some(evidence)).unwrap_or_default(),
                finding.fix(),
                finding.docs()
            ),
            _ => format!("Cleared: {}", finding.symptom()),
        };
        let event = Event {
            type_: if raised {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: format!(
                "{}{}",
                pascal_case(finding.name()),
                if raised { "" } else { "Cleared" }
            ),
            note: Some(crate::events::truncate(note, crate::events::MAX_NOTE_CHARS)),
            action: "Diagnose".into(),
            secondary: None,
        };
        let Some(recorder) = recorder else {
            return;
        };
        let documents = evidence.map(|e| e.documents).unwrap_or_default();
        let mut references = self.document_references(&documents);
        if references.is_empty() {
            references.push(controller_reference(self.inner.namespace.as_deref()));
        }
        for reference in references {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::warn!(%error, finding = finding.name(), "cannot publish the finding's Event");
            }
        }
    }

    fn log_raised(&self, finding: Finding) {
        let evidence = self.evidence(finding);
        tracing::warn!(
            finding = finding.name(),
            evidence = %evidence.as_ref().map(|e| e.lines.join("; ")).unwrap_or_default(),
            cause = %likely_cause(finding, evidence.as_ref()).unwrap_or_default(),
            fix = finding.fix(),
            docs = %finding.docs(),
            "finding raised: {}",
            finding.symptom()
        );
    }

    fn evidence(&self, finding: Finding) -> Option<Evidence> {
        lock(&self.inner.state).evidence[index_of(finding)].clone()
    }

    /// References of the cached Documents named `namespace/name`, at most a few.
    fn document_references(&self, documents: &[String]) -> Vec<ObjectReference> {
        let inputs = lock(&self.inner.inputs);
        let Some(inputs) = inputs.as_ref() else {
            return Vec::new();
        };
        documents
            .iter()
            .take(EVENTS_PER_FINDING)
            .filter_map(|name| {
                let (namespace, name) = name.split_once('/')?;
                inputs
                    .documents
                    .get(&ObjectRef::new(name).within(namespace))
                    .map(|doc| doc.object_ref(&()))
            })
            .collect()
    }

    fn publish_report(&self) {
        let state = lock(&self.inner.state);
        let findings = Finding::ALL
            .iter()
            .enumerate()
            .map(|(index, finding)| {
                let active = state.trackers.get(index).is_some_and(Tracker::is_raised);
                let evidence = state.evidence.get(index).cloned().flatten();
                FindingReport {
                    finding: finding.name().to_string(),
                    active,
                    symptom: finding.symptom().to_string(),
                    since: state.since.get(index).cloned().flatten(),
                    likely_cause: active
                        .then(|| likely_cause(*finding, evidence.as_ref()))
                        .flatten(),
                    evidence: if active {
                        evidence.map(|e| e.lines).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    causes: finding.causes().iter().map(|c| (*c).to_string()).collect(),
                    fix: finding.fix().to_string(),
                    docs: finding.docs(),
                    raised: state.raised.get(index).copied().unwrap_or_default(),
                }
            })
            .collect();
        let report = Diagnostics {
            window_seconds: self.inner.settings.window.as_secs_f64(),
            windows: state.windows,
            evaluated_at: state.evaluated_at.clone(),
            findings,
            signals: state.signals.clone(),
            history: state.history.iter().cloned().collect(),
        };
        self.inner.report.send_replace(report);
    }
}

/// What the Lease of `leadership` shows now (one GET).
async fn lease_seen(client: &kube::Client, leadership: &Leadership) -> rules::LeaseSeen {
    let (namespace, name) = leadership.lease();
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(lease)) => match lease.spec.as_ref().and_then(crate::leader::record::holder) {
            Some(holder) => rules::LeaseSeen::HeldBy(holder.to_string()),
            None => rules::LeaseSeen::Free,
        },
        Ok(None) => rules::LeaseSeen::Missing,
        Err(error) => rules::LeaseSeen::Unreadable(error.to_string()),
    }
}

/// The numbers of a window a person looks at first.
fn key_signals(window: &Window, facts: &Facts) -> Vec<Signal> {
    let per_second = |name: &str| window.increase(name, all) / window.seconds();
    let signal = |name: &str, value: f64| Signal {
        name: name.to_string(),
        value,
    };
    vec![
        signal(
            "reconciles per second",
            per_second("doc_controller_reconcile_total"),
        ),
        signal(
            "status writes per second",
            per_second("doc_controller_status_patches_total"),
        ),
        signal(
            "API requests per second",
            per_second("doc_controller_api_requests_total"),
        ),
        signal(
            "watch errors per second",
            per_second("doc_controller_watch_errors_total"),
        ),
        signal("reconciles in flight (peak)", facts.in_flight_peak as f64),
        signal("Documents cached", facts.documents_cached as f64),
        signal("ConfigMaps cached", facts.config_maps_cached as f64),
        signal(
            "watches open",
            window.gauge("doc_controller_open_watches", all),
        ),
    ]
}

/// The series of [`report::SERIES`] for one window, and the API errors per status code.
fn history_point(window: &Window, facts: &Facts) -> HistoryPoint {
    let per_second = |name: &str, select: &dyn Fn(&sample::Labels) -> bool| {
        window.increase(name, select) / window.seconds()
    };
    let mut values = std::collections::BTreeMap::new();
    let mut put = |name: &str, value: f64| {
        values.insert(name.to_string(), value);
    };
    put(
        report::SERIES[0],
        per_second("doc_controller_reconcile_total", &all),
    );
    put(
        report::SERIES[1],
        per_second("doc_controller_status_patches_total", &all),
    );
    put(
        report::SERIES[2],
        per_second("doc_controller_api_requests_total", &all),
    );
    put(
        report::SERIES[3],
        per_second("doc_controller_watch_events_total", &|l| {
            l.is("event", &["init"])
        }),
    );
    put(report::SERIES[4], facts.in_flight_peak as f64);
    put(
        report::SERIES[5],
        window.gauge("doc_controller_process_resident_memory_bytes", all),
    );
    for code in [
        "401", "403", "404", "409", "410", "422", "429", "500", "503", "504", "timeout", "error",
    ] {
        let errors = per_second("doc_controller_api_requests_total", &|l| {
            l.is("code", &[code])
        });
        if errors > 0.0 {
            put(&format!("api errors {code} per second"), errors);
        }
    }
    HistoryPoint {
        at: now_rfc3339(),
        values,
    }
}

fn likely_cause(finding: Finding, evidence: Option<&Evidence>) -> Option<String> {
    let cause = evidence.map_or(0, |e| e.cause);
    finding
        .causes()
        .get(cause)
        .or_else(|| finding.causes().first())
        .map(|c| (*c).to_string())
}

fn index_of(finding: Finding) -> usize {
    Finding::ALL
        .iter()
        .position(|f| *f == finding)
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// `status-churn` → `StatusChurn`, an Event reason.
fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The controller's own object, for Events that are about no Document: its Pod when the
/// Deployment says which (`POD_NAME`, `POD_NAMESPACE`); else, for a controller of one namespace,
/// its ServiceAccount there (an Event about a cluster-scoped object must go to `default`, where a
/// namespace-only install may not write); else the Document CRD, which exists wherever the
/// controller runs.
fn controller_reference(namespace: Option<&str>) -> ObjectReference {
    let reference =
        |api_version: &str, kind: &str, name: String, namespace: Option<String>| ObjectReference {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
            name: Some(name),
            namespace,
            ..ObjectReference::default()
        };
    match (
        std::env::var("POD_NAME"),
        std::env::var("POD_NAMESPACE"),
        namespace,
    ) {
        (Ok(name), Ok(pod_namespace), _) => reference("v1", "Pod", name, Some(pod_namespace)),
        (_, _, Some(namespace)) => reference(
            "v1",
            "ServiceAccount",
            CONTROLLER_NAME.to_string(),
            Some(namespace.to_string()),
        ),
        _ => reference(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            <Document as kube::CustomResourceExt>::crd_name().to_string(),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_reasons_are_pascal_case_names() {
        assert_eq!(pascal_case("status-churn"), "StatusChurn");
        assert_eq!(pascal_case("crd-missing"), "CrdMissing");
    }

    #[test]
    fn a_finding_raised_at_once_shows_in_the_report_and_the_metric() {
        let metrics = Arc::new(Metrics::new(&[]).expect("metrics"));
        let doctor = Doctor::new(metrics.clone(), Settings::default(), None);
        let report = doctor.subscribe();
        assert_eq!(report.borrow().active().count(), 0);
        doctor.raise_now(Finding::CrashOnSoftError, vec!["a 404 watch error".into()]);
        let now = report.borrow().clone();
        let raised: Vec<_> = now.active().map(|f| f.finding.as_str()).collect();
        assert_eq!(raised, ["crash-on-soft-error"]);
        assert!(
            metrics
                .render()
                .contains(r#"doc_controller_finding_active{finding="crash-on-soft-error"} 1"#)
        );
    }
}
