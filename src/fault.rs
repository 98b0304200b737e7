//! The failure toggles: each one turns a single recommended pattern into the classic mistake.
//!
//! Names are the contract of `docs/faults.md` and `../shared/fault-catalogue.md`: kebab-case in the
//! config file, the environment (`DOC_CONTROLLER_FAULTS=a,b`) and the CLI (`--fault a --fault b`).
//! The code of each wrong way sits next to the right way it replaces, marked `// FAULT(<name>)`, so
//! `grep -rn 'FAULT(' src/` lists every branch point.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, RwLock};

/// One switchable failure mode. See `docs/faults.md` for what each one shows and how to fix it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[clap(rename_all = "kebab-case")]
pub enum Fault {
    /// Status carries a timestamp of "now" and is patched on every reconcile.
    StatusTimestamp,
    /// The main watch has no `predicate_filter`: own status writes trigger reconciles again.
    NoPredicate,
    /// `predicates::generation` alone: finalizer changes no longer trigger a reconcile.
    GenerationOnlyPredicate,
    /// Objects are cached as they come, with `managedFields` and everything else.
    KeepManagedFields,
    /// The initial list is one unpaged LIST instead of a streaming list.
    UnpagedInitialList,
    /// Requests to the API server never leave the process, as if the network dropped them.
    ApiUnreachable,
    /// No `concurrency(N)`: every ready object is reconciled at once.
    UnboundedConcurrency,
    /// Owned objects are read with GET from the API server instead of from the Store.
    DirectReads,
    /// Cleanup fails every time, so deleted Documents stay Terminating.
    CleanupFails,
    /// Status is written through the Document itself, a verb the shipped RBAC does not grant.
    ForbiddenPatch,
    /// No CRD check at start: a missing CRD shows up as endless watch errors.
    SkipPreflight,
    /// Reconciles read the ConfigMap Store before its initial list arrived.
    StoreNotReady,
    /// ConfigMaps of the whole cluster are watched and cached, without a selector.
    BroadWatchScope,
    /// Watches run without bookmarks.
    NoBookmarks,
    /// The bearer token is read once at start and never re-read from its file.
    StaticCredentials,
    /// Documents are watched at cluster scope while RBAC grants one namespace.
    ForbiddenWatch,
    /// Watches have no backoff.
    NoBackoff,
    /// The Document watch selects on a label no Document has.
    NarrowSelector,
    /// A predicate that lets each Document through once and never again.
    PredicateBlocksAll,
    /// Watch errors are counted but not logged.
    SilentWatchErrors,
    /// The first watch error stops the controller (exit code 1).
    CrashOnError,
    /// The process serves metrics and health but runs no controller.
    ControllerDown,
    /// Each reconcile blocks its runtime thread with a synchronous sleep.
    BlockingReconcile,
    /// A watch per Document's ConfigMap instead of one shared reflector.
    WatchPerObject,
    /// The controller replaces whole ConfigMaps instead of applying the fields it owns.
    RivalWriter,
}

impl Fault {
    /// Every toggle, in the catalogue's order.
    pub const ALL: &'static [Fault] = &[
        Fault::StatusTimestamp,
        Fault::NoPredicate,
        Fault::GenerationOnlyPredicate,
        Fault::KeepManagedFields,
        Fault::UnpagedInitialList,
        Fault::UnboundedConcurrency,
        Fault::DirectReads,
        Fault::CleanupFails,
        Fault::SkipPreflight,
        Fault::StoreNotReady,
        Fault::BroadWatchScope,
        Fault::NoBookmarks,
        Fault::StaticCredentials,
        Fault::ForbiddenWatch,
        Fault::NoBackoff,
        Fault::ApiUnreachable,
        Fault::NarrowSelector,
        Fault::PredicateBlocksAll,
        Fault::ForbiddenPatch,
        Fault::SilentWatchErrors,
        Fault::CrashOnError,
        Fault::ControllerDown,
        Fault::BlockingReconcile,
        Fault::WatchPerObject,
        Fault::RivalWriter,
    ];

    /// Whether the toggle can change while the controller runs (from the `doc-controller-config`
    /// ConfigMap). The others shape watches or the controller at start and need a restart.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Fault::StatusTimestamp
                | Fault::NoPredicate
                | Fault::GenerationOnlyPredicate
                | Fault::PredicateBlocksAll
                | Fault::DirectReads
                | Fault::CleanupFails
                | Fault::StoreNotReady
                | Fault::SilentWatchErrors
                | Fault::CrashOnError
                | Fault::BlockingReconcile
                | Fault::RivalWriter
                | Fault::ForbiddenPatch
        )
    }

    /// The kebab-case name used in config, environment, CLI and docs.
    pub fn name(self) -> &'static str {
        match self {
            Fault::StatusTimestamp => "status-timestamp",
            Fault::NoPredicate => "no-predicate",
            Fault::GenerationOnlyPredicate => "generation-only-predicate",
            Fault::KeepManagedFields => "keep-managed-fields",
            Fault::UnpagedInitialList => "unpaged-initial-list",
            Fault::UnboundedConcurrency => "unbounded-concurrency",
            Fault::DirectReads => "direct-reads",
            Fault::CleanupFails => "cleanup-fails",
            Fault::SkipPreflight => "skip-preflight",
            Fault::StoreNotReady => "store-not-ready",
            Fault::BroadWatchScope => "broad-watch-scope",
            Fault::NoBookmarks => "no-bookmarks",
            Fault::StaticCredentials => "static-credentials",
            Fault::ApiUnreachable => "api-unreachable",
            Fault::ForbiddenPatch => "forbidden-patch",
            Fault::ForbiddenWatch => "forbidden-watch",
            Fault::NoBackoff => "no-backoff",
            Fault::NarrowSelector => "narrow-selector",
            Fault::PredicateBlocksAll => "predicate-blocks-all",
            Fault::SilentWatchErrors => "silent-watch-errors",
            Fault::CrashOnError => "crash-on-error",
            Fault::ControllerDown => "controller-down",
            Fault::BlockingReconcile => "blocking-reconcile",
            Fault::WatchPerObject => "watch-per-object",
            Fault::RivalWriter => "rival-writer",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of toggles switched on. Empty, the default, means every pattern is done right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// A set holding exactly these toggles.
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        Self(faults.into_iter().collect())
    }

    /// Whether `fault` is switched on.
    pub fn is_on(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Whether no toggle is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The toggles switched on, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Fault::name).collect();
        f.write_str(&names.join(","))
    }
}

/// The toggles in force while the controller runs: the ones set at start, with the live ones
/// replaced by what the `doc-controller-config` ConfigMap asks for. Cheap to clone; all clones
/// see the same set.
#[derive(Clone, Debug)]
pub struct LiveFaults {
    at_start: Faults,
    current: Arc<RwLock<Faults>>,
}

/// What a request to change the toggles at run time did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LiveChange {
    /// Live toggles switched on.
    pub switched_on: Vec<Fault>,
    /// Live toggles switched off.
    pub switched_off: Vec<Fault>,
    /// Toggles asked to change that only change with a restart; they stay as they were at start.
    pub need_restart: Vec<Fault>,
}

impl LiveFaults {
    /// Starts with the toggles of the configuration.
    pub fn new(at_start: Faults) -> Self {
        Self {
            current: Arc::new(RwLock::new(at_start.clone())),
            at_start,
        }
    }

    /// Whether `fault` is on now.
    pub fn is_on(&self, fault: Fault) -> bool {
        self.read().is_on(fault)
    }

    /// The toggles on now.
    pub fn snapshot(&self) -> Faults {
        self.read().clone()
    }

    /// Switches the live toggles to `requested` (`None`: back to the start configuration) and
    /// reports what changed and what cannot change without a restart.
    pub fn request(&self, requested: Option<&Faults>) -> LiveChange {
        let requested = requested.unwrap_or(&self.at_start);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut change = LiveChange::default();
        let mut next = BTreeSet::new();
        for &fault in Fault::ALL {
            let want = requested.is_on(fault);
            let on = if fault.is_live() {
                want
            } else {
                if want != self.at_start.is_on(fault) {
                    change.need_restart.push(fault);
                }
                self.at_start.is_on(fault)
            };
            match (current.is_on(fault), on) {
                (false, true) => change.switched_on.push(fault),
                (true, false) => change.switched_off.push(fault),
                _ => {}
            }
            if on {
                next.insert(fault);
            }
        }
        *current = Faults(next);
        change
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Faults> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Parses a comma- or whitespace-separated list of toggle names, as the ConfigMap holds them.
/// Unknown names are returned separately so they can be reported, not silently dropped.
pub fn parse_list(text: &str) -> (Faults, Vec<String>) {
    use clap::ValueEnum;
    let mut unknown = Vec::new();
    let faults = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .filter_map(|name| match Fault::from_str(name, false) {
            Ok(fault) => Some(fault),
            Err(_) => {
                unknown.push(name.to_string());
                None
            }
        })
        .collect::<Vec<_>>();
    (Faults::new(faults), unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn live_toggles_switch_and_restart_only_ones_are_reported_not_applied() {
        let live = LiveFaults::new(Faults::new([Fault::NoBackoff]));
        let change = live.request(Some(&Faults::new([
            Fault::NoPredicate,
            Fault::BroadWatchScope,
        ])));
        assert_eq!(change.switched_on, vec![Fault::NoPredicate]);
        assert_eq!(
            change.need_restart,
            vec![Fault::BroadWatchScope, Fault::NoBackoff]
        );
        assert!(live.is_on(Fault::NoPredicate));
        assert!(
            live.is_on(Fault::NoBackoff),
            "restart-only toggles keep their start value"
        );
        assert!(!live.is_on(Fault::BroadWatchScope));

        let back = live.request(None);
        assert_eq!(back.switched_off, vec![Fault::NoPredicate]);
        assert!(back.need_restart.is_empty());
    }

    #[test]
    fn toggle_lists_parse_with_commas_or_spaces_and_report_unknown_names() {
        let (faults, unknown) = parse_list("no-predicate, status-timestamp\nbogus");
        assert_eq!(
            faults,
            Faults::new([Fault::NoPredicate, Fault::StatusTimestamp])
        );
        assert_eq!(unknown, vec!["bogus".to_string()]);
    }

    #[test]
    fn every_toggle_has_the_same_name_in_serde_clap_and_docs() {
        for fault in Fault::ALL {
            let from_serde: Fault =
                serde_json::from_value(serde_json::json!(fault.name())).expect("serde name");
            assert_eq!(from_serde, *fault);
            let from_clap = Fault::from_str(fault.name(), false).expect("clap name");
            assert_eq!(from_clap, *fault);
        }
        assert_eq!(Fault::ALL.len(), Fault::value_variants().len());
    }
}
