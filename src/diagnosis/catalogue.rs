//! The findings the controller can raise about itself: one per symptom of the troubleshooting
//! guide's tables, each with the causes that fit it (in the order the guide's "how to verify"
//! tells them apart) and the fix.
//!
//! [`catalogue!`] is the only list: the enum, names, texts, docs anchors and hysteresis come from
//! it, and `tests/catalogue.rs` checks `docs/diagnosis.md` against it. What raises a finding lives
//! in [`super::rules`], one function per finding.

/// Declares every finding once.
macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident $name:literal {
            symptom: $symptom:literal,
            toggles: [$($toggle:ident),* $(,)?],
            raised_when: $raised_when:literal,
            causes: [$($cause:literal),+ $(,)?],
            fix: $fix:literal,
            raise_after: $raise:literal,
            clear_after: $clear:literal $(,)?
        }
    )+) => {
        /// A diagnosis the controller can make about itself. See `docs/diagnosis.md`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(into = "&'static str")]
        pub enum Finding {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Finding {
            /// Every finding, in the order of `docs/diagnosis.md`.
            pub const ALL: &'static [Finding] = &[ $( Finding::$variant, )+ ];

            /// The kebab-case name: the `finding` label, the `/diagnostics` key, the docs anchor.
            pub const fn name(self) -> &'static str {
                match self { $( Finding::$variant => $name, )+ }
            }

            /// The symptom, as the guide's tables name it.
            pub const fn symptom(self) -> &'static str {
                match self { $( Finding::$variant => $symptom, )+ }
            }

            /// The failure toggles whose symptom this finding is (`docs/faults.md`); empty for a
            /// symptom only a combination of toggles shows.
            pub const fn toggles(self) -> &'static [Fault] {
                match self { $( Finding::$variant => &[$(Fault::$toggle),*], )+ }
            }

            /// What raises it, in words (its rule is in [`super::rules`]).
            pub const fn raised_when(self) -> &'static str {
                match self { $( Finding::$variant => $raised_when, )+ }
            }

            /// The likely causes, most likely first (the evidence of a raised finding says
            /// which one it points at).
            pub const fn causes(self) -> &'static [&'static str] {
                match self { $( Finding::$variant => &[$($cause),+], )+ }
            }

            /// What to do about it.
            pub const fn fix(self) -> &'static str {
                match self { $( Finding::$variant => $fix, )+ }
            }

            /// Consecutive windows with the symptom before the finding is raised.
            pub const fn raise_after(self) -> u32 {
                match self { $( Finding::$variant => $raise, )+ }
            }

            /// Consecutive windows without the symptom before a raised finding clears.
            pub const fn clear_after(self) -> u32 {
                match self { $( Finding::$variant => $clear, )+ }
            }
        }
    };
}

use crate::fault::Fault;

/// Where the docs of every finding are, relative to the repository.
pub const DOCS: &str = "docs/diagnosis.md";

catalogue! {
    /// Reconciles happen again and again for Documents that nothing changed, fed by the
    /// controller's own writes.
    SelfTriggeringLoop "self-triggering-loop" {
        symptom: "Reconciler infinite loop: reconcile count increases endlessly, high CPU",
        toggles: [],
        raised_when: "Document changes to neither generation nor finalizers pass the predicate (`doc_controller_document_changes_total{change=\"other\",predicate=\"passed\"}`) and statuses are rewritten for generations already written (`doc_controller_status_rewrites_total`) in the same window",
        causes: [
            "Every status write comes back as a watch event that is reconciled (no predicate_filter), and every reconcile writes a new status (non-deterministic values such as a timestamp)",
            "Another controller and this one keep overwriting each other's writes",
        ],
        fix: "Write a deterministic status and skip the write when it is unchanged, and filter the watch with predicate_filter(predicates::generation.combine(predicates::finalizers))",
        raise_after: 2,
        clear_after: 3,
    }
    /// The status is written although the Document's generation did not change.
    StatusChurn "status-churn" {
        symptom: "Reconciler infinite loop: a status patch on every reconcile",
        toggles: [StatusTimestamp],
        raised_when: "A status is written for a generation whose status was already written (`doc_controller_status_rewrites_total` grows); a deterministic status never is",
        causes: [
            "The status carries non-deterministic values (a timestamp of now), so every reconcile computes a different one",
            "The status depends on something outside the Document that changes on every read",
        ],
        fix: "Compute the status from the spec only, move lastTransitionTime only on a transition, and skip the patch when the status is unchanged",
        raise_after: 1,
        clear_after: 6,
    }
    /// Reconciles of Documents whose generation and finalizers did not change.
    SpuriousReconciles "spurious-reconciles" {
        symptom: "Reconciler infinite loop: status-only or metadata-only changes trigger reconciles",
        toggles: [NoPredicate],
        raised_when: "Two or more Document changes to neither generation nor finalizers pass the predicate in a window (`doc_controller_document_changes_total{change=\"other\",predicate=\"passed\"}`)",
        causes: [
            "The main watch has no predicate_filter: status writes (the controller's own included) and label changes are reconciled",
            "A resync period much shorter than needed",
        ],
        fix: "predicate_filter(predicates::generation.combine(predicates::finalizers)) on the Document watch",
        raise_after: 1,
        clear_after: 6,
    }
    /// An owned ConfigMap keeps being changed behind the controller's back and repaired.
    FieldPingPong "field-ping-pong" {
        symptom: "Reconciler infinite loop: alternating resourceVersion updates of the same object",
        toggles: [RivalWriter],
        raised_when: "Owned ConfigMaps are found changed and repaired at least twice a window, two windows in a row (`doc_controller_reconcile_triggers_total{source=\"owned\"}`)",
        causes: [
            "This controller replaces whole objects (PUT) and so removes fields another writer owns; the other writer puts them back",
            "Two controllers write the same field",
        ],
        fix: "Server-side apply only the fields this controller owns, and compare on those fields only; kubectl get -w shows who writes (managedFields)",
        raise_after: 2,
        clear_after: 3,
    }
    /// A LIST without a page size brought a large list into memory at once.
    ListNotPaged "list-not-paged" {
        symptom: "Memory keeps growing: high baseline memory right after startup",
        toggles: [UnpagedInitialList],
        raised_when: "A LIST is sent without a limit (`doc_controller_unpaged_lists_total`)",
        causes: [
            "The watch's initial list is one LIST of everything (no streaming list, no page size)",
        ],
        fix: "watcher::Config::streaming_lists(), or at least a page_size",
        raise_after: 1,
        clear_after: 30,
    }
    /// Cached objects carry fields the controller never reads.
    LargeCacheObjects "large-cache-objects" {
        symptom: "Memory keeps growing: large objects in the reflector Store",
        toggles: [KeepManagedFields],
        raised_when: "Half or more of the cached Documents carry managedFields (`doc_controller_documents{state=\"with_managed_fields\"}`)",
        causes: [
            "managedFields (and last-applied-configuration) are cached with every object: no .modify() strips them",
            "The objects themselves are large; a metadata_watcher would do",
        ],
        fix: ".modify() the watch stream to clear managedFields before the reflector, or use a metadata_watcher",
        raise_after: 2,
        clear_after: 3,
    }
    /// Far more ConfigMaps are cached than the controller manages.
    WatchScopeTooBroad "watch-scope-too-broad" {
        symptom: "Memory keeps growing: cached object count far above the objects of interest",
        toggles: [BroadWatchScope],
        raised_when: "More than twice as many ConfigMaps as Documents (plus 10) are cached (`doc_controller_cached_objects`)",
        causes: [
            "The ConfigMap watch has no label selector and no namespace: it caches every ConfigMap of the cluster",
        ],
        fix: "Narrow the watch with a label or field selector (the label the controller puts on its objects) and a namespace",
        raise_after: 2,
        clear_after: 3,
    }
    /// Watches resumed from a resourceVersion the API server no longer has.
    WatchGoneWithoutBookmarks "watch-gone-without-bookmarks" {
        symptom: "Watch connection not recovering: 410 Gone",
        toggles: [NoBookmarks],
        raised_when: "A watch error 410 Gone (`doc_controller_watch_errors_total{reason=\"410\"}`); the likely cause is bookmarks off when watches without them were made (`doc_controller_watches_without_bookmarks_total`)",
        causes: [
            "The watch asks for no bookmarks, so its resourceVersion grows old while nothing changes and is compacted away",
            "The watch was disconnected for longer than the API server's watch window",
        ],
        fix: "Keep bookmarks on (kube's default) and default_backoff(): the watcher re-lists and recovers",
        raise_after: 1,
        clear_after: 30,
    }
    /// The API server rejects the controller's credentials.
    CredentialsRejected "credentials-rejected" {
        symptom: "Watch connection not recovering: 401 Unauthorized",
        toggles: [StaticCredentials],
        raised_when: "A request is answered 401 (`doc_controller_api_requests_total{code=\"401\"}`)",
        causes: [
            "The token was read once and kept after it expired or was revoked (a copy instead of the token file)",
            "The kubeconfig's exec plugin or token file is broken",
        ],
        fix: "Let kube own the credentials: Config::infer() in a Pod (the token file is re-read), or an exec plugin",
        raise_after: 1,
        clear_after: 3,
    }
    /// The API server forbids the controller's list or watch.
    WatchForbidden "watch-forbidden" {
        symptom: "Watch not running: 403 Forbidden on list or watch",
        toggles: [ForbiddenWatch],
        raised_when: "A list or watch is answered 403; the last watch error's message tells a cluster-scope request from a missing rule",
        causes: [
            "The watch asks for the cluster scope while RBAC grants one namespace",
            "The ClusterRole lacks list or watch on the resource, or its binding is missing",
        ],
        fix: "Watch the namespace the controller is permitted for (--namespace), or grant list and watch in the ClusterRole and bind it",
        raise_after: 1,
        clear_after: 3,
    }
    /// The API server forbids one of the controller's writes.
    WriteForbidden "write-forbidden" {
        symptom: "Access: 403 Forbidden on a write",
        toggles: [ForbiddenPatch],
        raised_when: "A write (create, update, patch, apply, delete) is answered 403",
        causes: [
            "The code writes through a verb or subresource the RBAC does not grant (e.g. status sent to the main resource)",
            "The ClusterRole lacks the verb",
        ],
        fix: "Write through the granted path (the status subresource for status) and grant exactly the verbs the code uses",
        raise_after: 1,
        clear_after: 3,
    }
    /// Watches fail and are retried many times a second.
    WatchRetryHotLoop "watch-retry-hot-loop" {
        symptom: "Watch connection not recovering: retried in a hot loop",
        toggles: [NoBackoff],
        raised_when: "Five or more watch errors a second, two windows in a row (`doc_controller_watch_errors_total`)",
        causes: [
            "The watch stream has no backoff: every error is retried at once",
        ],
        fix: "default_backoff() on every watch stream",
        raise_after: 2,
        clear_after: 3,
    }
    /// Requests get no answer from the API server.
    ApiUnreachable "api-unreachable" {
        symptom: "Watch not running: connection timeouts in logs",
        toggles: [ApiUnreachable],
        raised_when: "Readiness says the API server is unreachable, or requests time out or fail with none answered, two windows in a row",
        causes: [
            "A NetworkPolicy or firewall drops the traffic to the API server",
            "The API server is down or overloaded",
        ],
        fix: "Allow egress to the API server (NetworkPolicy); a deadline on every request keeps the controller telling",
        raise_after: 2,
        clear_after: 2,
    }
    /// The API server answers 429 Too Many Requests.
    Throttled "throttled" {
        symptom: "API server throttling: frequent 429 Too Many Requests",
        toggles: [UnboundedConcurrency],
        raised_when: "A request is answered 429 (`doc_controller_api_requests_total{code=\"429\"}`); the cause by the window's peak of reconciles in flight, requests per reconcile and open watches",
        causes: [
            "Too many concurrent reconciles for the controller's share of the API server",
            "Too many API calls per reconcile",
            "Too many watch connections",
        ],
        fix: "controller::Config::concurrency(N) sized to the API server's share (--concurrency); read from the Store; share reflectors",
        raise_after: 1,
        clear_after: 3,
    }
    /// More watches are open than the controller's shared reflectors need.
    TooManyWatches "too-many-watches" {
        symptom: "API server throttling: too many watch connections",
        toggles: [WatchPerObject],
        raised_when: "More watches are open than the shared reflectors need, four (`doc_controller_open_watches`), two windows in a row",
        causes: [
            "A watch per object instead of one shared reflector for all of them",
        ],
        fix: "One shared reflector per resource (owns()/watches() on the Controller, or a shared store)",
        raise_after: 2,
        clear_after: 3,
    }
    /// Reconciles make GET or LIST requests for what the caches hold.
    ExcessiveApiCalls "excessive-api-calls" {
        symptom: "API server throttling: excessive API calls in the reconciler",
        toggles: [DirectReads],
        raised_when: "Half a GET of cached ConfigMaps or more per reconcile, over two reconciles or more in a window",
        causes: [
            "Reconciles GET owned objects from the API server instead of reading the reflector's Store",
        ],
        fix: "Read owned objects from the Store; batch writes where possible",
        raise_after: 1,
        clear_after: 6,
    }
    /// Deleted Documents stay Terminating.
    StuckTerminating "stuck-terminating" {
        symptom: "Finalizer deadlock: resource stays in Terminating",
        toggles: [CleanupFails],
        raised_when: "A cached Document is Terminating for longer than `--stuck-after` (`doc_controller_documents{state=\"terminating_stuck\"}`); the cause by the reconcile errors of the window; not on a standby whose leader holds a valid Lease",
        causes: [
            "Cleanup keeps failing, so the finalizer is never released",
            "The controller does not reconcile deletions (down, or a predicate filters them)",
        ],
        fix: "Make cleanup eventually succeed (treat an external resource already gone as done); emergency release: kubectl patch <doc> -p '{\"metadata\":{\"finalizers\":null}}' --type=merge (skips cleanup)",
        raise_after: 1,
        clear_after: 2,
    }
    /// Documents changed but nothing reconciles them.
    ReconcilerIdle "reconciler-idle" {
        symptom: "Reconciler not running: resources change but no reconciler logs appear",
        toggles: [GenerationOnlyPredicate, ControllerDown, PredicateBlocksAll],
        raised_when: "The runner does not run while the API holds Documents; or Documents are behind their generation (and not failing) while nothing is reconciled or in flight, two windows in a row (`doc_controller_documents{state=\"lagging\"}`); not on a standby whose leader holds a valid Lease (reconciling is the leader's)",
        causes: [
            "The controller's runner is not running (the process serves metrics and health only)",
            "A predicate filters finalizer changes (predicates::generation alone): a new Document gets its finalizer and then nothing",
            "A predicate blocks every change after a Document's first sight",
            "No replica leads: the replicas take part in the leader election but none can take the Lease (RBAC for coordination.k8s.io leases, or the API server), so every one is a standby",
        ],
        fix: "Run the controller and alert on reconciles stopping, not only on liveness; predicate_filter(predicates::generation.combine(predicates::finalizers)); grant the Lease (yaml/rbac.yaml's Role) so that a replica can lead",
        raise_after: 2,
        clear_after: 2,
    }
    /// The Document watch caches nothing while the API has Documents.
    SelectorMatchesNothing "selector-matches-nothing" {
        symptom: "Reconciler not running: the Store is empty while kubectl get lists objects",
        toggles: [NarrowSelector],
        raised_when: "The Document watch has a label selector, the cache is empty, and a LIST without the selector finds Documents, two windows in a row",
        causes: [
            "The Document watch's label selector matches no Document",
        ],
        fix: "Drop the selector or fix it: kubectl get documents -l <selector> should list what the controller is for",
        raise_after: 2,
        clear_after: 2,
    }
    /// The API server does not serve Documents.
    CrdMissing "crd-missing" {
        symptom: "Blocker errors: the CRD is not installed (404 on list and watch)",
        toggles: [SkipPreflight],
        raised_when: "A Document watch error 404 Not Found (`doc_controller_watch_errors_total{resource=\"documents\",reason=\"404\"}`)",
        causes: [
            "The CustomResourceDefinition documents.kube.rs is not installed, and no preflight check stopped the controller",
        ],
        fix: "Install the CRD (cargo run --bin crdgen | kubectl apply -f -); check with list(limit 1) before any watch and exit with the install command",
        raise_after: 1,
        clear_after: 2,
    }
    /// Reconciles hold their runtime thread.
    BlockingInAsync "blocking-in-async" {
        symptom: "Profiling: blocking work in async code (long task polls)",
        toggles: [BlockingReconcile],
        raised_when: "A reconcile poll holds its thread for 200 ms or more (`doc_controller_reconcile_slow_polls_total`)",
        causes: [
            "A synchronous sleep, lock or I/O inside the reconcile future holds its runtime worker",
        ],
        fix: "No blocking calls in async code: tokio::time::sleep, async I/O, or spawn_blocking for unavoidable blocking work",
        raise_after: 1,
        clear_after: 3,
    }
    /// Watches fail and the controller says nothing about it.
    WatchErrorsUnlogged "watch-errors-unlogged" {
        symptom: "Watcher errors: a failing program with nothing in the logs",
        toggles: [SilentWatchErrors],
        raised_when: "Watch errors happen in a window and none of them is logged (`doc_controller_watch_errors_logged_total`), two windows in a row",
        causes: [
            "Watch errors are dropped without a log line (only the metrics count them)",
        ],
        fix: "Log every watch error (at WARN) and alert on the error rate",
        raise_after: 2,
        clear_after: 3,
    }
    /// A soft, retryable watch error stops the controller.
    CrashOnSoftError "crash-on-soft-error" {
        symptom: "Stream errors: the process exits on an error it could have retried",
        toggles: [CrashOnError],
        raised_when: "A watch stops the process on a soft error: raised by the watch itself, the moment before the exit (its WARN line is the last a restart leaves)",
        causes: [
            "The watch stream is torn down on its first error (try_for_each / try_next on the stream)",
        ],
        fix: "Retry soft errors with backoff (the watcher recovers) and alert on error rates; restarts only mask the cause",
        raise_after: 1,
        clear_after: 1,
    }
    /// Reconciles read a cache before its initial list arrived.
    CacheReadBeforeSync "cache-read-before-sync" {
        symptom: "Reconciler not running: the Store is not yet initialised (wrong decisions at start)",
        toggles: [StoreNotReady],
        raised_when: "The ConfigMap cache is read before its initial list arrived (`doc_controller_cache_reads_before_sync_total`)",
        causes: [
            "Reconciles read the ConfigMap Store before its initial list arrived, and act on an empty cache",
        ],
        fix: "Wait for the Store (Store::wait_until_ready, or the watch's InitDone) before reading it",
        raise_after: 1,
        clear_after: 30,
    }
    /// This replica writes without holding the Lease: with more than one replica, several write
    /// the same objects at once.
    WritesWithoutLease "writes-without-lease" {
        symptom: "Replicas: more than one replica writes the same objects (every Event published twice, writes racing)",
        toggles: [NoLeaderElection],
        raised_when: "Writes are sent without holding the Lease (`doc_controller_writes_without_lease_total`); the evidence says who holds the Lease now (one GET of it)",
        causes: [
            "The replica takes part in no leader election: it reconciles and writes whatever the Lease says, and so does every replica started like it",
            "Another replica holds the Lease while this one writes without it: replicas with and without the election run side by side (a rolling update between two versions)",
        ],
        fix: "Take part in the leader election (a coordination.k8s.io Lease: get, create, update) and write only while holding it; standbys keep their caches warm and take over when the leader goes",
        raise_after: 1,
        clear_after: 30,
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Finding> for &'static str {
    fn from(finding: Finding) -> Self {
        finding.name()
    }
}

impl Finding {
    /// The anchor of its section in `docs/diagnosis.md`.
    pub fn docs(self) -> String {
        format!("{DOCS}#{}", self.name())
    }
}

impl Finding {
    /// The finding a toggle's symptom raises.
    pub fn of_toggle(fault: Fault) -> Option<Finding> {
        Finding::ALL
            .iter()
            .copied()
            .find(|finding| finding.toggles().contains(&fault))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_toggle_raises_exactly_one_finding() {
        for fault in Fault::ALL {
            let findings: Vec<_> = Finding::ALL
                .iter()
                .filter(|f| f.toggles().contains(fault))
                .collect();
            assert_eq!(findings.len(), 1, "{fault}: {findings:?}");
        }
    }

    #[test]
    fn every_finding_has_a_unique_kebab_name_causes_and_a_fix() {
        let mut names = std::collections::BTreeSet::new();
        for finding in Finding::ALL {
            let name = finding.name();
            assert!(names.insert(name), "{name} twice");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
            assert!(!finding.causes().is_empty() && !finding.fix().is_empty());
            assert!(finding.raise_after() >= 1 && finding.clear_after() >= 1);
        }
    }
}
