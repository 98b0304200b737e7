//! The failure toggles: each one turns a single recommended pattern into the classic mistake.
//!
//! Names are the contract of `docs/faults.md` and the fault catalogue: kebab-case in the config
//! file, the environment (`DOC_CONTROLLER_FAULTS=a,b`) and the CLI (`--fault a --fault b`). The
//! code of each wrong way sits next to the right way it replaces, marked `// FAULT(<name>)`, so
//! `grep -rn 'FAULT(' src/` lists every branch point.
//!
//! # One declaration per toggle
//! [`catalogue!`] below is the only list of toggles. The enum, [`Fault::ALL`], the names, the
//! catalogue row, whether a toggle can switch live, the finding its symptom raises and what the
//! cluster must add for its symptom to show are all derived from it, so they cannot drift apart;
//! `tests/catalogue.rs` checks `docs/faults.md` against it.
//!
//! # The shape of a branch point
//! A wrong way is a `// FAULT(<name>): <symptom>. Fix: <the right way>.` comment directly
//! followed by one statement, which overrides or short-circuits the right way around it (an
//! early `return`, a shadowing `let`, an `if` that replaces a value). What only toggles need
//! besides (this module, imports, fields, parameters) sits between `// region: fault-catalogue`
//! and `// endregion: fault-catalogue` markers.
// region: template-only
//!
//! `cargo run -p new-controller -- --without-fault-catalogue` relies on that shape to make a
//! controller that never had toggles: it drops each comment with its statement, the regions, and
//! the files of the catalogue it lists (docs/template.md).
// endregion: template-only

use crate::diagnosis::Finding;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, RwLock};

/// When a toggle takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// It can change while the controller runs (from the `doc-controller-config` ConfigMap,
    /// with `--live-faults`), and takes effect at once.
    Live,
    /// It shapes the watches, the client or the controller at start: it changes with a restart.
    Restart,
}

/// Declares every toggle once: its catalogue row, variant, name, when it switches, the finding
/// of the self-diagnosis its symptom raises, and the manifest (a path from the repository root)
/// that the cluster needs for the symptom to show as deployed.
macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])+
        $row:literal $variant:ident $name:literal $switch:ident => $finding:ident $(, $setup:literal)?;
    )+) => {
        /// One switchable failure mode. See `docs/faults.md` for what each one shows and how to
        /// fix it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Fault {
            /// Every toggle, in the catalogue's order.
            pub const ALL: &'static [Fault] = &[ $( Fault::$variant, )+ ];

            /// The kebab-case name used in config, environment, CLI and docs.
            pub const fn name(self) -> &'static str {
                match self { $( Fault::$variant => $name, )+ }
            }

            /// The row of the fault catalogue (and of `docs/faults.md`) this toggle is.
            pub const fn row(self) -> u8 {
                match self { $( Fault::$variant => $row, )+ }
            }

            /// When the toggle takes effect.
            pub const fn switch(self) -> Switch {
                match self { $( Fault::$variant => Switch::$switch, )+ }
            }

            /// The finding of the self-diagnosis ([`crate::diagnosis`]) this toggle's symptom
            /// raises; its tests assert it, and `docs/faults.md` links it.
            pub const fn finding(self) -> Finding {
                match self { $( Fault::$variant => Finding::$finding, )+ }
            }

            /// What the wrong way breaks, in one sentence (its doc comment).
            pub fn summary(self) -> &'static str {
                match self { $( Fault::$variant => concat!($($doc),+).trim(), )+ }
            }

            /// The manifest that a cluster needs besides the shipped ones for this toggle's
            /// symptom to show: RBAC for verbs only the wrong way uses, or the objects that make
            /// the API server react (a namespace-only binding), under `yaml/faults/`; or
            /// `yaml/throttling.yaml`, a throttling FlowSchema that the survival suite's 429
            /// storm uses too. `None`: the shipped manifests suffice.
            pub const fn cluster_setup(self) -> Option<&'static str> {
                match self { $( Fault::$variant => catalogue!(@setup $($setup)?), )+ }
            }
        }
    };
    (@setup $setup:literal) => { Some($setup) };
    (@setup) => { None };
}

catalogue! {
    /// Status carries a timestamp of "now" and is patched on every reconcile.
    1 StatusTimestamp "status-timestamp" Live => StatusChurn;
    /// The main watch has no `predicate_filter`: own status writes trigger reconciles again.
    2 NoPredicate "no-predicate" Live => SpuriousReconciles;
    /// The controller replaces whole ConfigMaps (PUT) instead of applying the fields it owns.
    3 RivalWriter "rival-writer" Live => FieldPingPong, "yaml/faults/rival-writer.yaml";
    /// The initial list is one unpaged LIST of everything instead of a streaming list.
    4 UnpagedInitialList "unpaged-initial-list" Restart => ListNotPaged;
    /// Objects are cached as they come, with `managedFields` and everything else.
    5 KeepManagedFields "keep-managed-fields" Restart => LargeCacheObjects;
    /// ConfigMaps of the whole cluster are watched and cached, without a selector.
    6 BroadWatchScope "broad-watch-scope" Restart => WatchScopeTooBroad;
    /// Watches run without bookmarks.
    7 NoBookmarks "no-bookmarks" Restart => WatchGoneWithoutBookmarks;
    /// The bearer token is read once at start and never re-read from its file.
    8 StaticCredentials "static-credentials" Restart => CredentialsRejected;
    /// Documents are watched at cluster scope while RBAC grants one namespace.
    9 ForbiddenWatch "forbidden-watch" Restart => WatchForbidden, "yaml/faults/forbidden-watch.yaml";
    /// Watches have no backoff.
    10 NoBackoff "no-backoff" Restart => WatchRetryHotLoop;
    /// Requests to the API server never leave the process, as if the network dropped them.
    11 ApiUnreachable "api-unreachable" Restart => ApiUnreachable;
    /// No `concurrency(N)`: every ready object is reconciled at once.
    12 UnboundedConcurrency "unbounded-concurrency" Restart => Throttled, "yaml/throttling.yaml";
    /// A watch per Document's ConfigMap instead of one shared reflector.
    13 WatchPerObject "watch-per-object" Restart => TooManyWatches;
    /// Owned objects are read with GET from the API server instead of from the Store.
    14 DirectReads "direct-reads" Live => ExcessiveApiCalls, "yaml/faults/direct-reads.yaml";
    /// Cleanup fails every time, so deleted Documents stay Terminating.
    15 CleanupFails "cleanup-fails" Live => StuckTerminating;
    /// `predicates::generation` alone: finalizer changes no longer trigger a reconcile.
    16 GenerationOnlyPredicate "generation-only-predicate" Live => ReconcilerIdle;
    /// The process serves metrics and health but runs no controller.
    17 ControllerDown "controller-down" Restart => ReconcilerIdle;
    /// Reconciles read the ConfigMap Store before its initial list arrived.
    18 StoreNotReady "store-not-ready" Live => CacheReadBeforeSync;
    /// A predicate that lets each Document through once and never again.
    19 PredicateBlocksAll "predicate-blocks-all" Live => ReconcilerIdle;
    /// The Document watch selects on a label no Document has.
    20 NarrowSelector "narrow-selector" Restart => SelectorMatchesNothing;
    /// Status is written through the Document itself, a verb the shipped RBAC does not grant.
    21 ForbiddenPatch "forbidden-patch" Live => WriteForbidden;
    /// No CRD check at start: a missing CRD shows up as endless watch errors.
    22 SkipPreflight "skip-preflight" Restart => CrdMissing;
    /// Watch errors are counted but not logged.
    23 SilentWatchErrors "silent-watch-errors" Live => WatchErrorsUnlogged;
    /// The first watch error stops the controller (exit code 1).
    24 CrashOnError "crash-on-error" Live => CrashOnSoftError;
    /// Each reconcile blocks its runtime thread with a synchronous sleep.
    25 BlockingReconcile "blocking-reconcile" Live => BlockingInAsync;
    /// No leader election: every replica reconciles and writes, each unaware of the others.
    26 NoLeaderElection "no-leader-election" Restart => WritesWithoutLease;
}

// === impl Fault ===

impl Fault {
    /// Whether the toggle can change while the controller runs.
    pub fn is_live(self) -> bool {
        self.switch() == Switch::Live
    }

    /// Every toggle's name, comma-separated: what an error about an unknown name lists.
    pub fn names() -> String {
        Fault::ALL
            .iter()
            .map(|fault| fault.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A toggle name that is not in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault toggle {name:?}; the toggles are: {}", Fault::names())]
pub struct UnknownFault {
    /// The name as given.
    pub name: String,
}

impl std::str::FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .iter()
            .copied()
            .find(|fault| fault.name() == name)
            .ok_or_else(|| UnknownFault {
                name: name.to_string(),
            })
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses `--fault` values for clap: `--help` lists every toggle with its summary, and an unknown
/// name is one line that lists the valid ones (clap's own message for a value enum spans several
/// lines, and the binary prints only the first).
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultParser;

impl clap::builder::TypedValueParser for FaultParser {
    type Value = Fault;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Fault, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|unknown: UnknownFault| {
            let flag = arg.map_or_else(|| "--fault".to_string(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("invalid value for {flag}: {unknown}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(Fault::ALL.iter().map(|fault| {
            clap::builder::PossibleValue::new(fault.name()).help(fault.summary())
        })))
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
    let mut unknown = Vec::new();
    let faults = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .filter_map(|name| match name.parse::<Fault>() {
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
    fn every_toggle_has_one_name_in_serde_clap_and_the_environment() {
        use clap::builder::TypedValueParser;
        let cmd = clap::Command::new("test");
        for fault in Fault::ALL {
            let from_serde: Fault =
                serde_json::from_value(serde_json::json!(fault.name())).expect("serde name");
            assert_eq!(from_serde, *fault);
            let from_clap = FaultParser
                .parse_ref(&cmd, None, std::ffi::OsStr::new(fault.name()))
                .expect("clap name");
            assert_eq!(from_clap, *fault);
            assert_eq!(fault.name().parse::<Fault>(), Ok(*fault));
        }
    }

    #[test]
    fn the_toggles_are_declared_in_catalogue_order_one_row_each() {
        let rows: Vec<u8> = Fault::ALL.iter().map(|f| f.row()).collect();
        let expected: Vec<u8> = (1..=26).collect();
        assert_eq!(rows, expected);
        assert!(
            Fault::ALL.is_sorted(),
            "the enum's order is the catalogue's"
        );
        for fault in Fault::ALL {
            assert!(!fault.summary().is_empty() && !fault.summary().starts_with(' '));
            if let Some(setup) = fault.cluster_setup() {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(setup);
                assert!(path.is_file(), "{fault}: {setup} is missing");
            }
        }
    }

    #[test]
    fn an_unknown_name_is_one_line_listing_every_toggle() {
        let err = "nonsense".parse::<Fault>().expect_err("unknown");
        let text = err.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"nonsense\""), "{text}");
        for fault in Fault::ALL {
            assert!(text.contains(fault.name()), "{text}");
        }
        let serde_err =
            serde_json::from_value::<Fault>(serde_json::json!("nonsense")).expect_err("unknown");
        assert!(
            serde_err.to_string().contains("status-timestamp"),
            "{serde_err}"
        );
    }
}
