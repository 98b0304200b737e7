//! What raises each finding: one pure function of a window of metrics and the facts read from the
//! caches, returning the evidence when the symptom is there. No I/O, so every rule is tested with
//! numbers (below) and reads like the PromQL of its alert in `yaml/observability/`.

use super::catalogue::Finding;
use super::sample::{Labels, Window, all};

/// What the doctor knows besides the metrics, read when the window closed.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Whether the controller's runner (watches, reconciles) runs.
    pub controller_running: bool,
    /// Why the API server counts as unreachable now (see `api_health`), if it does.
    pub api_unreachable: Option<String>,
    /// Documents in the cache.
    pub documents_cached: usize,
    /// ConfigMaps in the cache.
    pub config_maps_cached: usize,
    /// Documents Terminating for longer than the bound, by name (`namespace/name`).
    pub stuck_terminating: Vec<String>,
    /// Documents whose status is behind their generation and whose last reconcile did not fail.
    pub lagging: Vec<Lagging>,
    /// Cached Documents that carry `managedFields`.
    pub with_managed_fields: usize,
    /// The Document watch's label selector, if it has one.
    pub selector: Option<String>,
    /// Whether the API holds Documents the cache does not show (a LIST without the selector,
    /// made only when it can tell something: an empty cache behind a selector, or no runner).
    pub documents_in_api: Option<bool>,
    /// The latest watch error message per HTTP reason (`"403"`), for the evidence.
    pub last_watch_errors: Vec<(String, String)>,
    /// The watches failing now: their last item was an error.
    pub failing_watches: Vec<FailingWatch>,
    /// The configured concurrency (0: unbounded).
    pub concurrency: u16,
    /// The most reconciles in flight at once during the window.
    pub in_flight_peak: i64,
    /// Who leads, as this process sees it ([`crate::leader`]): the findings about reconciling
    /// are the leader's to raise, unless nobody leads.
    pub leader: Leader,
    /// What the Lease showed when this process wrote without holding it (read only then).
    pub lease: Option<LeaseSeen>,
}

/// Who leads, as this process sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Leader {
    /// This process: it reconciles.
    #[default]
    ThisReplica,
    /// Another replica holds a valid Lease: this one is its standby.
    Another(String),
    /// Nobody, as far as this standby can tell (the Lease is free, expired or unreadable).
    Nobody,
}

/// The Lease as the doctor read it, for the evidence of `writes-without-lease`.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaseSeen {
    /// Held by this identity.
    HeldBy(String),
    /// There, with no holder.
    Free,
    /// Not there: no replica ever took part in the election.
    Missing,
    /// Could not be read; the error.
    Unreadable(String),
}

/// A watch whose last item was an error.
#[derive(Clone, Debug)]
pub struct FailingWatch {
    /// The watched resource.
    pub resource: String,
    /// The reason of its last error (`"403"`, `"timeout"`).
    pub reason: String,
    /// Whether the controller logged that error.
    pub logged: bool,
}

/// A Document the reconciler has not caught up with.
#[derive(Clone, Debug)]
pub struct Lagging {
    /// `namespace/name`.
    pub name: String,
    /// It has the finalizer but never got a status: the reconcile after the finalizer never ran.
    pub never_published: bool,
}

/// Why a finding fires: the numbers, and which of its causes they point at.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// One line per number that raised it.
    pub lines: Vec<String>,
    /// Index into [`Finding::causes`] of the most likely cause.
    pub cause: usize,
    /// Documents the finding is about, if any (`namespace/name`), for Events on them.
    pub documents: Vec<String>,
}

impl Evidence {
    fn of(lines: Vec<String>) -> Self {
        Evidence {
            lines,
            cause: 0,
            documents: Vec::new(),
        }
    }

    fn cause(mut self, cause: usize) -> Self {
        self.cause = cause;
        self
    }

    fn with(mut self, lines: Vec<String>) -> Self {
        self.lines.extend(lines);
        self
    }

    fn about(mut self, documents: Vec<String>) -> Self {
        self.documents = documents;
        self
    }
}

/// Watch errors per second at which a watch counts as retried in a hot loop; a backoff starting
/// at 0.8 s keeps any watch far below it.
pub const HOT_LOOP_ERRORS_PER_SECOND: f64 = 5.0;

/// Watches one controller needs open: Documents, owned ConfigMaps, the live toggles' ConfigMap;
/// one more is a watch restarting.
pub const EXPECTED_WATCHES: f64 = 4.0;

const WRITE_VERBS: &[&str] = &[
    "create",
    "update",
    "patch",
    "apply",
    "delete",
    "deletecollection",
];
const READ_VERBS: &[&str] = &["list", "watch"];

fn api(w: &Window, select: impl Fn(&Labels) -> bool + Copy) -> f64 {
    w.increase("doc_controller_api_requests_total", select)
}

fn changes(w: &Window, change: &[&str], predicate: &[&str]) -> f64 {
    w.increase("doc_controller_document_changes_total", |l| {
        l.is("change", change) && l.is("predicate", predicate)
    })
}

fn watch_errors(w: &Window, reason: &[&str]) -> f64 {
    w.increase("doc_controller_watch_errors_total", |l| {
        l.is("reason", reason)
    })
}

fn message(facts: &Facts, reason: &str) -> Option<String> {
    facts
        .last_watch_errors
        .iter()
        .find(|(r, _)| r == reason)
        .map(|(_, message)| format!("last watch error: {message}"))
}

/// Whether a watch (of `resource`, or any) is failing now with `reason`.
fn failing(facts: &Facts, resource: Option<&str>, reason: &str) -> bool {
    facts
        .failing_watches
        .iter()
        .any(|w| w.reason == reason && resource.is_none_or(|resource| w.resource == resource))
}

fn names(documents: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = documents
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if documents.len() > SHOWN {
        text.push_str(&format!(" and {} more", documents.len() - SHOWN));
    }
    text
}

/// Reconciles triggered by Document changes that leave generation and finalizers alone.
fn spurious(w: &Window) -> f64 {
    changes(w, &["other"], &["passed"])
}

/// The evidence of `finding` in this window, or `None` when its symptom is not there.
pub fn evaluate(finding: Finding, w: &Window, facts: &Facts) -> Option<Evidence> {
    let per_second = |x: f64| x / w.seconds();
    match finding {
        Finding::SelfTriggeringLoop => {
            let (spurious, rewrites) = (
                spurious(w),
                w.increase("doc_controller_status_rewrites_total", all),
            );
            (spurious > 0.0 && rewrites > 0.0).then(|| {
                Evidence::of(vec![
                    format!("{spurious} reconciles triggered by changes to neither generation nor finalizers"),
                    format!("{rewrites} status writes without a new generation"),
                    format!(
                        "{} of the watched changes were the echo of the controller's own writes",
                        w.increase("doc_controller_own_write_echoes_total", all)
                    ),
                ])
            })
        }
        Finding::StatusChurn => {
            let rewrites = w.increase("doc_controller_status_rewrites_total", all);
            (rewrites > 0.0).then(|| {
                Evidence::of(vec![format!(
                    "{rewrites} status writes for generations whose status was already written"
                )])
            })
        }
        Finding::SpuriousReconciles => {
            // Two at least: kube's predicate forgets an object after an hour, so one status-only
            // change of a long-quiet Document may pass it.
            let spurious = spurious(w);
            (spurious >= 2.0).then(|| {
                Evidence::of(vec![format!(
                    "{spurious} Document changes to neither generation nor finalizers passed to the reconciler (status, labels, annotations)"
                )])
            })
        }
        Finding::FieldPingPong => {
            let repairs = w.increase("doc_controller_reconcile_triggers_total", |l| {
                l.is("source", &["owned"])
            });
            // One repair is what the owner trigger is for (someone edited a ConfigMap); a window
            // after window of them is a fight.
            (repairs >= 2.0).then(|| {
                Evidence::of(vec![format!(
                    "{repairs} owned ConfigMaps found changed behind the controller's back and repaired"
                )])
            })
        }
        Finding::ListNotPaged => {
            let unpaged = w.increase("doc_controller_unpaged_lists_total", all);
            (unpaged > 0.0).then(|| {
                Evidence::of(vec![
                    format!("{unpaged} LIST requests without a limit"),
                    format!("{} Documents cached", facts.documents_cached),
                ])
            })
        }
        Finding::LargeCacheObjects => {
            let (with, cached) = (facts.with_managed_fields, facts.documents_cached);
            (cached > 0 && with * 2 >= cached).then(|| {
                Evidence::of(vec![format!(
                    "{with} of {cached} cached Documents carry managedFields"
                )])
            })
        }
        Finding::WatchScopeTooBroad => {
            let (cms, docs) = (facts.config_maps_cached, facts.documents_cached);
            (cms > 2 * docs + 10).then(|| {
                Evidence::of(vec![format!(
                    "{cms} ConfigMaps cached for {docs} Documents (one each, plus one index per namespace, would do)"
                )])
            })
        }
        Finding::WatchGoneWithoutBookmarks => {
            let gone = watch_errors(w, &["410"]);
            (gone > 0.0).then(|| {
                let without = w
                    .now
                    .sum("doc_controller_watches_without_bookmarks_total", all);
                let mut lines = vec![format!("{gone} watch errors 410 Gone")];
                lines.push(format!("{without} watch requests without bookmarks so far"));
                Evidence::of(lines).cause(if without > 0.0 { 0 } else { 1 })
            })
        }
        Finding::CredentialsRejected => {
            let rejected = api(w, |l| l.is("code", &["401"]));
            (rejected > 0.0 || failing(facts, None, "401")).then(|| {
                let mut lines = vec![format!("{rejected} requests answered 401 Unauthorized")];
                lines.extend(message(facts, "401"));
                Evidence::of(lines)
            })
        }
        Finding::WatchForbidden => {
            let forbidden = api(w, |l| l.is("code", &["403"]) && l.is("verb", READ_VERBS));
            (forbidden > 0.0 || failing(facts, None, "403")).then(|| {
                let mut lines = vec![format!(
                    "{forbidden} list or watch requests answered 403 Forbidden"
                )];
                let last = message(facts, "403");
                let cluster_scope = last
                    .as_deref()
                    .is_some_and(|m| m.contains("at the cluster scope"));
                lines.extend(last);
                Evidence::of(lines).cause(if cluster_scope { 0 } else { 1 })
            })
        }
        Finding::WriteForbidden => {
            let forbidden = api(w, |l| l.is("code", &["403"]) && l.is("verb", WRITE_VERBS));
            (forbidden > 0.0)
                .then(|| Evidence::of(vec![format!("{forbidden} writes answered 403 Forbidden")]))
        }
        Finding::WatchRetryHotLoop => {
            let errors = w.increase("doc_controller_watch_errors_total", all);
            (per_second(errors) >= HOT_LOOP_ERRORS_PER_SECOND).then(|| {
                Evidence::of(vec![format!(
                    "{errors} watch errors in {:.0} s ({:.0} per second)",
                    w.seconds(),
                    per_second(errors)
                )])
            })
        }
        Finding::ApiUnreachable => {
            let unanswered = api(w, |l| l.is("code", &["timeout", "error"]));
            let answered = api(w, |l| !l.is("code", &["timeout", "error", "cancelled"]));
            let silent = unanswered > 0.0 && answered == 0.0;
            (facts.api_unreachable.is_some() || silent).then(|| {
                let mut lines = vec![format!(
                    "{unanswered} requests without an answer, {answered} answered"
                )];
                lines.extend(facts.api_unreachable.clone());
                Evidence::of(lines)
            })
        }
        Finding::Throttled => {
            let throttled = api(w, |l| l.is("code", &["429"]));
            (throttled > 0.0).then(|| {
                let calls = per_reconcile_reads(w);
                let watches = w.gauge("doc_controller_open_watches", all);
                let mut lines = vec![
                    format!("{throttled} requests answered 429 Too Many Requests"),
                    format!(
                        "up to {} reconciles in flight (concurrency {})",
                        facts.in_flight_peak,
                        match facts.concurrency {
                            0 => "unbounded".to_string(),
                            n => n.to_string(),
                        }
                    ),
                ];
                lines.push(format!("{watches} watches open"));
                let cause = if facts.concurrency == 0 || facts.in_flight_peak > 16 {
                    0
                } else if calls.is_some_and(|c| c > 0.5) {
                    1
                } else if watches > EXPECTED_WATCHES {
                    2
                } else {
                    0
                };
                Evidence::of(lines).cause(cause)
            })
        }
        Finding::TooManyWatches => {
            let open = w.gauge("doc_controller_open_watches", all);
            (open > EXPECTED_WATCHES).then(|| {
                Evidence::of(vec![format!(
                    "{open} watches open (a controller with shared reflectors needs {EXPECTED_WATCHES} at most)"
                )])
            })
        }
        Finding::ExcessiveApiCalls => per_reconcile_reads(w).filter(|r| *r >= 0.5).map(|reads| {
            Evidence::of(vec![format!(
                "{reads:.1} GET requests of cached ConfigMaps per reconcile"
            )])
        }),
        // A standby does not reconcile: Documents waiting are the leader's, whose own doctor
        // raises these. A standby that sees no leader does raise them: nothing reconciles.
        Finding::StuckTerminating | Finding::ReconcilerIdle
            if matches!(facts.leader, Leader::Another(_)) =>
        {
            None
        }
        Finding::StuckTerminating => (!facts.stuck_terminating.is_empty()).then(|| {
            let errors = w.increase("doc_controller_reconcile_errors_total", all);
            Evidence::of(vec![
                format!(
                    "{} Documents Terminating past the bound: {}",
                    facts.stuck_terminating.len(),
                    names(&facts.stuck_terminating)
                ),
                format!("{errors} reconcile errors in the window"),
            ])
            .cause(if errors > 0.0 { 0 } else { 1 })
            .about(facts.stuck_terminating.clone())
        }),
        Finding::ReconcilerIdle => {
            let reconciles = w.increase("doc_controller_reconcile_total", all);
            let in_flight = w.gauge("doc_controller_reconciles_in_flight", all);
            if !facts.controller_running {
                return (facts.documents_in_api == Some(true)).then(|| {
                    Evidence::of(vec![
                        "the controller's runner is not running".to_string(),
                        "the API holds Documents".to_string(),
                    ])
                    .cause(0)
                });
            }
            if facts.lagging.is_empty() || reconciles > 0.0 || in_flight > 0.0 {
                return None;
            }
            let lagging: Vec<String> = facts.lagging.iter().map(|l| l.name.clone()).collect();
            let filtered_generations = changes(w, &["generation"], &["filtered"]);
            let never = facts.lagging.iter().all(|l| l.never_published);
            let cause = if facts.leader == Leader::Nobody {
                3
            } else if filtered_generations > 0.0 || !never {
                2
            } else {
                1
            };
            let mut lines = Vec::new();
            if facts.leader == Leader::Nobody {
                lines.push(
                    "this replica is a standby and sees no leader: the Lease is free, expired or cannot be read"
                        .to_string(),
                );
            }
            Some(
                Evidence::of(vec![
                    format!(
                        "{} Documents behind their generation, none reconciled in the window: {}",
                        lagging.len(),
                        names(&lagging)
                    ),
                    format!(
                        "{} Document changes filtered by the predicate ({} of them new generations)",
                        changes(w, &["created", "generation", "finalizers", "other"], &["filtered"]),
                        filtered_generations
                    ),
                ])
                .with(lines)
                .cause(cause)
                .about(lagging),
            )
        }
        Finding::SelectorMatchesNothing => {
            let selector = facts.selector.as_ref()?;
            (facts.documents_cached == 0 && facts.documents_in_api == Some(true)).then(|| {
                Evidence::of(vec![
                    format!("the Document watch selects {selector:?} and caches nothing"),
                    "a LIST without the selector finds Documents".to_string(),
                ])
            })
        }
        Finding::CrdMissing => {
            let missing = w.increase("doc_controller_watch_errors_total", |l| {
                l.is("resource", &["documents"]) && l.is("reason", &["404"])
            });
            (missing > 0.0 || failing(facts, Some("documents"), "404")).then(|| {
                let mut lines = vec![format!("{missing} Document watch errors 404 Not Found")];
                lines.extend(message(facts, "404"));
                Evidence::of(lines)
            })
        }
        Finding::BlockingInAsync => {
            let slow = w.increase("doc_controller_reconcile_slow_polls_total", all);
            (slow > 0.0).then(|| {
                Evidence::of(vec![format!(
                    "{slow} reconcile polls held their runtime thread for 200 ms or more"
                )])
            })
        }
        Finding::WatchErrorsUnlogged => {
            // A failing watch retries with a backoff of up to 30 s: windows pass without an
            // error while it still fails, so its state counts, not only the window's errors.
            let errors = w.increase("doc_controller_watch_errors_total", all);
            let logged = w.increase("doc_controller_watch_errors_logged_total", all);
            let silent: Vec<&str> = facts
                .failing_watches
                .iter()
                .filter(|w| !w.logged)
                .map(|w| w.resource.as_str())
                .collect();
            ((errors > 0.0 && logged == 0.0) || !silent.is_empty()).then(|| {
                Evidence::of(vec![
                    format!("{errors} watch errors in the window, {logged} of them logged"),
                    format!("failing without a log line: {}", silent.join(", ")),
                ])
            })
        }
        // Raised by the watch itself, the moment it is about to stop the process.
        Finding::CrashOnSoftError => None,
        Finding::CacheReadBeforeSync => {
            let early = w.increase("doc_controller_cache_reads_before_sync_total", all);
            (early > 0.0).then(|| {
                Evidence::of(vec![format!(
                    "{early} reads of the ConfigMap cache before its initial list arrived"
                )])
            })
        }
        Finding::WritesWithoutLease => {
            let unleased = w.increase("doc_controller_writes_without_lease_total", all);
            (unleased > 0.0).then(|| {
                let mut lines = vec![format!("{unleased} writes sent without holding the Lease")];
                let mut cause = 0;
                match &facts.lease {
                    Some(LeaseSeen::HeldBy(holder)) => {
                        lines.push(format!(
                            "the Lease is held by {holder}, which writes the same objects"
                        ));
                        cause = 1;
                    }
                    Some(LeaseSeen::Free) => lines.push(
                        "the Lease has no holder: no replica takes part in the election".into(),
                    ),
                    Some(LeaseSeen::Missing) => lines.push(
                        "there is no Lease: no replica ever took part in the election".into(),
                    ),
                    Some(LeaseSeen::Unreadable(error)) => {
                        lines.push(format!("the Lease could not be read: {error}"));
                    }
                    None => {}
                }
                Evidence::of(lines).cause(cause)
            })
        }
    }
}

/// GETs of cached ConfigMaps per reconcile in the window, when there were reconciles to judge.
fn per_reconcile_reads(w: &Window) -> Option<f64> {
    let reconciles = w.increase("doc_controller_reconcile_total", all);
    let gets = api(w, |l| {
        l.is("verb", &["get"]) && l.is("resource", &["configmaps"])
    });
    (reconciles >= 2.0).then(|| gets / reconciles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::sample::Sample;

    fn window<'a>(before: &'a Sample, now: &'a Sample) -> Window<'a> {
        Window { before, now }
    }

    fn counter(name: &str, labels: &[(&str, &str)], value: f64) -> (String, Labels, f64) {
        let labels = Labels::from_pairs(labels);
        (name.to_string(), labels, value)
    }

    fn sample(series: &[(String, Labels, f64)]) -> Sample {
        let borrowed: Vec<(&str, Labels, f64)> = series
            .iter()
            .map(|(n, l, v)| (n.as_str(), l.clone(), *v))
            .collect();
        Sample::of(&borrowed)
    }

    #[test]
    fn status_rewrites_are_churn_and_with_spurious_reconciles_a_loop() {
        let before = sample(&[]);
        let churn = sample(&[counter("doc_controller_status_rewrites_total", &[], 4.0)]);
        let facts = Facts::default();
        let w = window(&before, &churn);
        assert!(evaluate(Finding::StatusChurn, &w, &facts).is_some());
        assert!(evaluate(Finding::SelfTriggeringLoop, &w, &facts).is_none());
        let looping = sample(&[
            counter("doc_controller_status_rewrites_total", &[], 4.0),
            counter(
                "doc_controller_document_changes_total",
                &[("change", "other"), ("predicate", "passed")],
                4.0,
            ),
        ]);
        let w = window(&before, &looping);
        assert!(evaluate(Finding::SelfTriggeringLoop, &w, &facts).is_some());
        assert!(evaluate(Finding::SpuriousReconciles, &w, &facts).is_some());
    }

    #[test]
    fn filtered_changes_are_not_spurious() {
        let before = sample(&[]);
        let now = sample(&[counter(
            "doc_controller_document_changes_total",
            &[("change", "other"), ("predicate", "filtered")],
            40.0,
        )]);
        let w = window(&before, &now);
        assert!(evaluate(Finding::SpuriousReconciles, &w, &Facts::default()).is_none());
    }

    #[test]
    fn a_forbidden_watch_at_the_cluster_scope_points_at_the_scope() {
        let before = sample(&[]);
        let now = sample(&[counter(
            "doc_controller_api_requests_total",
            &[
                ("verb", "watch"),
                ("resource", "documents"),
                ("code", "403"),
            ],
            2.0,
        )]);
        let facts = Facts {
            last_watch_errors: vec![(
                "403".into(),
                "cannot watch resource \"documents\" in API group \"kube.rs\" at the cluster scope"
                    .into(),
            )],
            ..Facts::default()
        };
        let evidence =
            evaluate(Finding::WatchForbidden, &window(&before, &now), &facts).expect("raised");
        assert_eq!(evidence.cause, 0);
        assert!(evaluate(Finding::WriteForbidden, &window(&before, &now), &facts).is_none());
    }

    #[test]
    fn an_idle_reconciler_needs_lagging_documents_and_no_reconcile() {
        let before = sample(&[]);
        let quiet = sample(&[]);
        let mut facts = Facts {
            controller_running: true,
            lagging: vec![Lagging {
                name: "default/stuck".into(),
                never_published: true,
            }],
            ..Facts::default()
        };
        let evidence =
            evaluate(Finding::ReconcilerIdle, &window(&before, &quiet), &facts).expect("raised");
        assert_eq!(
            evidence.cause, 1,
            "a finalizer change that was never followed"
        );
        assert_eq!(evidence.documents, vec!["default/stuck".to_string()]);
        let busy = sample(&[counter(
            "doc_controller_reconcile_total",
            &[("result", "success")],
            3.0,
        )]);
        assert!(evaluate(Finding::ReconcilerIdle, &window(&before, &busy), &facts).is_none());
        facts.lagging.clear();
        assert!(evaluate(Finding::ReconcilerIdle, &window(&before, &quiet), &facts).is_none());
    }

    #[test]
    fn a_standby_leaves_the_reconcilers_findings_to_the_leader() {
        let before = sample(&[]);
        let quiet = sample(&[]);
        let facts = Facts {
            controller_running: true,
            leader: Leader::Another("replica-b".into()),
            lagging: vec![Lagging {
                name: "default/waiting".into(),
                never_published: false,
            }],
            stuck_terminating: vec!["default/gone".into()],
            ..Facts::default()
        };
        let w = window(&before, &quiet);
        assert!(evaluate(Finding::ReconcilerIdle, &w, &facts).is_none());
        assert!(evaluate(Finding::StuckTerminating, &w, &facts).is_none());
        let leader = Facts {
            leader: Leader::ThisReplica,
            ..facts.clone()
        };
        assert!(evaluate(Finding::ReconcilerIdle, &w, &leader).is_some());
        assert!(evaluate(Finding::StuckTerminating, &w, &leader).is_some());
        // A standby that sees no leader at all: nothing reconciles, and it says why.
        let leaderless = Facts {
            leader: Leader::Nobody,
            ..facts
        };
        let evidence = evaluate(Finding::ReconcilerIdle, &w, &leaderless).expect("raised");
        assert_eq!(
            Finding::ReconcilerIdle.causes()[evidence.cause],
            Finding::ReconcilerIdle.causes()[3]
        );
        assert!(evidence.lines.iter().any(|l| l.contains("sees no leader")));
    }

    #[test]
    fn writes_without_the_lease_point_at_the_holder_when_there_is_one() {
        let before = sample(&[]);
        let now = sample(&[counter(
            "doc_controller_writes_without_lease_total",
            &[],
            6.0,
        )]);
        let w = window(&before, &now);
        assert!(
            evaluate(
                Finding::WritesWithoutLease,
                &window(&before, &before),
                &Facts::default()
            )
            .is_none()
        );
        let free = Facts {
            lease: Some(LeaseSeen::Missing),
            ..Facts::default()
        };
        let evidence = evaluate(Finding::WritesWithoutLease, &w, &free).expect("raised");
        assert_eq!(evidence.cause, 0);
        assert_eq!(evidence.lines[0], "6 writes sent without holding the Lease");
        let held = Facts {
            lease: Some(LeaseSeen::HeldBy("doc-controller-b".into())),
            ..Facts::default()
        };
        let evidence = evaluate(Finding::WritesWithoutLease, &w, &held).expect("raised");
        assert_eq!(evidence.cause, 1);
        assert!(evidence.lines[1].contains("doc-controller-b"));
    }

    #[test]
    fn a_hot_loop_is_many_watch_errors_per_second_not_a_few() {
        let before = sample(&[]);
        let errors = |n| {
            sample(&[counter(
                "doc_controller_watch_errors_total",
                &[("reason", "403")],
                n,
            )])
            .after(&before, std::time::Duration::from_secs(10))
        };
        let (few, many) = (errors(3.0), errors(200.0));
        assert!(
            evaluate(
                Finding::WatchRetryHotLoop,
                &window(&before, &few),
                &Facts::default()
            )
            .is_none()
        );
        assert!(
            evaluate(
                Finding::WatchRetryHotLoop,
                &window(&before, &many),
                &Facts::default()
            )
            .is_some()
        );
    }
}
