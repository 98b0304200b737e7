//! The APF configuration in effect: the FlowSchemas in matching order and the priority
//! levels with their concurrency limits, computed from the stored objects as the config
//! controller (`apf_controller.go`) computes them.
//!
//! - FlowSchemas are ordered by `matchingPrecedence`, then by name; one naming a missing
//!   priority level is ignored ("dangling"); the mandatory `exempt` and `catch-all` are
//!   supplied from `crate::registry::flowcontrol::bootstrap` when absent, first and last.
//! - A `Limited` level's nominal limit is `ceil(ServerCL × shares / Σ shares)` over every
//!   level (Exempt ones included, with their `nominalConcurrencyShares`, 0 by default); it
//!   may lend `round(nominal × lendablePercent / 100)` seats and borrow
//!   `round(nominal × borrowingLimitPercent / 100)` (ServerCL when unset).
//! - The current limit is what the dispatcher's periodic borrowing adjustment computes for
//!   *idle* levels: every level's lower bound is its nominal limit less what it lends, its
//!   target that lower bound, and the sum of the nominal limits is shared out by the fair
//!   allocation (`computeConcurrencyAllocation`). Approximation: the sandbox does not sample
//!   seat demand, so a busy level never borrows from an idle one as it would on a real server
//!   after the next 10 s adjustment; a level with `lendablePercent: 0` and
//!   `borrowingLimitPercent: 0` has exactly its nominal limit on both.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::rules::Rules;
use crate::auth::attributes::Attributes;
use crate::meta::object::meta_str;
use crate::registry::flowcontrol::bootstrap;

/// What a `Limited` level does with a request when its seats are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitResponse {
    /// Answer 429 at once.
    Reject,
    /// Wait in a queue for a seat.
    Queue {
        /// `queues`.
        queues: u32,
        /// `handSize`: how many queues one flow may use.
        hand_size: u32,
        /// `queueLengthLimit`: requests one queue holds.
        queue_length_limit: u32,
    },
}

/// How a priority level limits its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// `type: Exempt`: never limited.
    Exempt,
    /// `type: Limited`, with the seats the server grants it.
    Limited {
        /// Nominal limit (the `apiserver_flowcontrol_nominal_limit_seats` metric).
        nominal: u32,
        /// Current limit after borrowing (`apiserver_flowcontrol_current_limit_seats`).
        current: u32,
        /// What to do when the current limit is reached.
        response: LimitResponse,
    },
}

/// A priority level in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Level {
    /// Its name.
    pub(crate) name: String,
    /// Its uid, sent in `X-Kubernetes-PF-PriorityLevel-UID`.
    pub(crate) uid: String,
    /// Its limit.
    pub(crate) limit: Limit,
}

/// How a FlowSchema splits its requests into flows (`distinguisherMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Distinguisher {
    /// None: one flow.
    None,
    /// `ByUser`.
    ByUser,
    /// `ByNamespace`.
    ByNamespace,
}

/// A FlowSchema in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schema {
    /// Its name.
    pub(crate) name: String,
    /// Its uid, sent in `X-Kubernetes-PF-FlowSchema-UID`.
    pub(crate) uid: String,
    precedence: i64,
    level: String,
    distinguisher: Distinguisher,
    rules: Rules,
}

impl Schema {
    fn parse(obj: &Value) -> Self {
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        Self {
            name: meta_str(obj, "name").to_owned(),
            uid: meta_str(obj, "uid").to_owned(),
            precedence: spec
                .get("matchingPrecedence")
                .and_then(Value::as_i64)
                .unwrap_or(1000),
            level: spec
                .pointer("/priorityLevelConfiguration/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            distinguisher: match spec
                .pointer("/distinguisherMethod/type")
                .and_then(Value::as_str)
            {
                Some("ByUser") => Distinguisher::ByUser,
                Some("ByNamespace") => Distinguisher::ByNamespace,
                _ => Distinguisher::None,
            },
            rules: Rules::parse(&spec),
        }
    }

    /// The flow of a request within this schema (`computeFlowDistinguisher`).
    pub(crate) fn flow(&self, attrs: &Attributes) -> String {
        let distinguisher = match self.distinguisher {
            Distinguisher::None => "",
            Distinguisher::ByUser => attrs.user.name.as_str(),
            Distinguisher::ByNamespace => attrs.namespace.as_str(),
        };
        format!("{}\u{0}{distinguisher}", self.name)
    }
}

/// A priority level's spec as the concurrency arithmetic needs it.
#[derive(Debug, Clone)]
struct LevelSpec {
    name: String,
    uid: String,
    exempt: bool,
    shares: u32,
    lendable_percent: u32,
    borrowing_percent: Option<u32>,
    response: LimitResponse,
}

fn number(value: &Value, pointer: &str) -> Option<u32> {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

impl LevelSpec {
    fn parse(obj: &Value) -> Self {
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let exempt = spec.get("type").and_then(Value::as_str) == Some("Exempt");
        let part = if exempt { "/exempt" } else { "/limited" };
        let response = match spec
            .pointer("/limited/limitResponse/type")
            .and_then(Value::as_str)
        {
            Some("Queue") => LimitResponse::Queue {
                queues: number(&spec, "/limited/limitResponse/queuing/queues").unwrap_or(64),
                hand_size: number(&spec, "/limited/limitResponse/queuing/handSize").unwrap_or(8),
                queue_length_limit: number(
                    &spec,
                    "/limited/limitResponse/queuing/queueLengthLimit",
                )
                .unwrap_or(50),
            },
            _ => LimitResponse::Reject,
        };
        Self {
            name: meta_str(obj, "name").to_owned(),
            uid: meta_str(obj, "uid").to_owned(),
            exempt,
            shares: number(&spec, &format!("{part}/nominalConcurrencyShares"))
                .unwrap_or(if exempt { 0 } else { 30 }),
            lendable_percent: number(&spec, &format!("{part}/lendablePercent"))
                .unwrap_or(0)
                .min(100),
            borrowing_percent: if exempt {
                None
            } else {
                number(&spec, "/limited/borrowingLimitPercent")
            },
            response,
        }
    }
}

/// Go's `math.Round` (half away from zero) to a seat count.
fn round(x: f64) -> u32 {
    // Seat counts are small non-negative numbers; the cast saturates anyway.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rounded, non-negative seat count far below u32::MAX"
    )]
    let n = x.round().max(0.0) as u32;
    n
}

/// The nominal, lower and upper limits of each level, and the current limits of the
/// non-exempt ones after the idle borrowing adjustment.
fn limits(specs: &[LevelSpec], server_cl: u32) -> Vec<(u32, u32)> {
    let share_sum: f64 = specs.iter().map(|s| f64::from(s.shares)).sum();
    let bounds: Vec<(u32, u32, u32)> = specs
        .iter()
        .map(|s| {
            let nominal = if share_sum > 0.0 {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "ceil of a share of ServerCL, within 0..=ServerCL"
                )]
                let n = (f64::from(server_cl) * f64::from(s.shares) / share_sum).ceil() as u32;
                n
            } else {
                0
            };
            let lendable = round(f64::from(nominal) * f64::from(s.lendable_percent) / 100.0);
            let borrowing = s.borrowing_percent.map_or(server_cl, |p| {
                round(f64::from(nominal) * f64::from(p) / 100.0)
            });
            (
                nominal,
                nominal.saturating_sub(lendable),
                nominal.saturating_add(borrowing),
            )
        })
        .collect();
    let nominal_sum: u32 = bounds.iter().map(|b| b.0).sum();
    // Idle exempt levels keep their lower bound (high watermark 0); the rest is shared.
    let exempt_sum: u32 = specs
        .iter()
        .zip(&bounds)
        .filter(|(s, _)| s.exempt)
        .map(|(_, b)| b.1)
        .sum();
    let remaining = nominal_sum.saturating_sub(exempt_sum);
    let items: Vec<(f64, f64, f64)> = specs
        .iter()
        .zip(&bounds)
        .filter(|(s, _)| !s.exempt)
        .map(|(_, &(_, lower, upper))| (f64::from(lower), f64::from(upper), f64::from(lower)))
        .collect();
    let lower_sum: u32 = specs
        .iter()
        .zip(&bounds)
        .filter(|(s, _)| !s.exempt)
        .map(|(_, b)| b.1)
        .sum();
    let allocated = if remaining <= lower_sum {
        items.iter().map(|i| i.0).collect()
    } else {
        fair_allocation(f64::from(nominal_sum), &items)
    };
    let mut allocated = allocated.into_iter();
    specs
        .iter()
        .zip(&bounds)
        .map(|(s, &(nominal, lower, _))| {
            let current = if s.exempt {
                lower
            } else {
                allocated.next().map_or(lower, round)
            };
            (nominal, current)
        })
        .collect()
}

/// Smallest target the allocation works with, as `MinTarget` of `conc_alloc.go`.
const MIN_TARGET: f64 = 0.001;

/// The fair allocation of `required` seats over items `(lower, upper, target)`: the
/// proportion `p` such that the items' `clamp(p × target, lower, upper)` sum to `required`
/// (found by bisection; the real code walks the sorted bounds, with the same result). When
/// the bounds cannot meet `required`, every item gets the bound that is closest.
fn fair_allocation(required: f64, items: &[(f64, f64, f64)]) -> Vec<f64> {
    let low: f64 = items.iter().map(|i| i.0).sum();
    let high: f64 = items.iter().map(|i| i.1).sum();
    if required <= low {
        return items.iter().map(|i| i.0).collect();
    }
    if required >= high {
        return items.iter().map(|i| i.1).collect();
    }
    let at = |p: f64| -> Vec<f64> {
        items
            .iter()
            .map(|&(lower, upper, target)| (p * target.max(MIN_TARGET)).clamp(lower, upper))
            .collect()
    };
    let sum = |p: f64| at(p).iter().sum::<f64>();
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while sum(hi) < required && hi < 1e15 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if sum(mid) < required {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    at(hi)
}

/// The configuration in effect.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    schemas: Vec<Schema>,
    levels: HashMap<String, Arc<Level>>,
}

impl Config {
    /// Builds the configuration from the stored FlowSchemas and PriorityLevelConfigurations,
    /// with `server_cl` seats to share (`--max-requests-inflight` plus
    /// `--max-mutating-requests-inflight`).
    pub(crate) fn build(schemas: &[Arc<Value>], levels: &[Arc<Value>], server_cl: u32) -> Self {
        let mut specs: Vec<LevelSpec> = levels.iter().map(|l| LevelSpec::parse(l)).collect();
        for mandatory in [bootstrap::EXEMPT, bootstrap::CATCH_ALL] {
            if !specs.iter().any(|s| s.name == mandatory)
                && let Some(obj) = bootstrap::mandatory_level(mandatory)
            {
                specs.push(LevelSpec::parse(&obj));
            }
        }
        let limits = limits(&specs, server_cl);
        let levels: HashMap<String, Arc<Level>> = specs
            .iter()
            .zip(limits)
            .map(|(s, (nominal, current))| {
                let limit = if s.exempt {
                    Limit::Exempt
                } else {
                    Limit::Limited {
                        nominal,
                        current,
                        response: s.response,
                    }
                };
                let level = Level {
                    name: s.name.clone(),
                    uid: s.uid.clone(),
                    limit,
                };
                (s.name.clone(), Arc::new(level))
            })
            .collect();
        let mut schemas: Vec<Schema> = schemas
            .iter()
            .map(|s| Schema::parse(s))
            .filter(|s| levels.contains_key(&s.level))
            .collect();
        schemas.sort_by(|a, b| {
            a.precedence
                .cmp(&b.precedence)
                .then_with(|| a.name.cmp(&b.name))
        });
        if !schemas.iter().any(|s| s.name == bootstrap::EXEMPT)
            && let Some(obj) = bootstrap::mandatory_schema(bootstrap::EXEMPT)
        {
            schemas.insert(0, Schema::parse(&obj));
        }
        if !schemas.iter().any(|s| s.name == bootstrap::CATCH_ALL)
            && let Some(obj) = bootstrap::mandatory_schema(bootstrap::CATCH_ALL)
        {
            schemas.push(Schema::parse(&obj));
        }
        Self { schemas, levels }
    }

    /// The FlowSchema and priority level of a request: the first schema that matches, else
    /// `catch-all` (which matches every authenticated or unauthenticated user anyway).
    pub(crate) fn classify(&self, attrs: &Attributes) -> Option<(&Schema, Arc<Level>)> {
        let schema = self
            .schemas
            .iter()
            .find(|s| s.rules.matches(attrs))
            .or_else(|| self.schemas.iter().find(|s| s.name == bootstrap::CATCH_ALL))?;
        let level = self.levels.get(&schema.level)?.clone();
        Some((schema, level))
    }

    /// The levels in effect, for the limit gauges.
    pub(crate) fn levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.values().map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn objects(values: Vec<Value>) -> Vec<Arc<Value>> {
        values.into_iter().map(Arc::new).collect()
    }

    fn defaults() -> (Vec<Arc<Value>>, Vec<Arc<Value>>) {
        (
            objects(bootstrap::flow_schemas()),
            objects(bootstrap::priority_levels()),
        )
    }

    fn limit_of(config: &Config, name: &str) -> (u32, u32) {
        match config.levels[name].limit {
            Limit::Limited {
                nominal, current, ..
            } => (nominal, current),
            Limit::Exempt => (0, 0),
        }
    }

    #[test]
    fn the_default_levels_get_the_nominal_limits_of_a_1_32_server() {
        let (schemas, levels) = defaults();
        let config = Config::build(&schemas, &levels, 600);
        let nominal = |n: &str| limit_of(&config, n).0;
        // ceil(600 × shares / 245) for catch-all 5, system 30, node-high 40,
        // leader-election 10, workload-high 40, workload-low 100, global-default 20.
        assert_eq!(nominal("catch-all"), 13);
        assert_eq!(nominal("system"), 74);
        assert_eq!(nominal("node-high"), 98);
        assert_eq!(nominal("leader-election"), 25);
        assert_eq!(nominal("workload-high"), 98);
        assert_eq!(nominal("workload-low"), 245);
        assert_eq!(nominal("global-default"), 49);
        assert_eq!(config.levels["exempt"].limit, Limit::Exempt);
        // Idle, every level's target is its lower bound (nominal less what it lends: 258 in
        // all), and the 602 nominal seats are shared in that proportion (× 602/258).
        assert_eq!(limit_of(&config, "catch-all").1, 30);
        assert_eq!(limit_of(&config, "leader-election").1, 58);
        assert_eq!(limit_of(&config, "workload-low").1, 56);
    }

    #[test]
    fn a_level_that_neither_lends_nor_borrows_has_its_nominal_share_of_the_server() {
        let (schemas, mut levels) = defaults();
        levels.push(Arc::new(serde_json::json!({
            "metadata": {"name": "doc-controller-throttled", "uid": "u"},
            "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 3, "lendablePercent": 0, "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"}}},
        })));
        let config = Config::build(&schemas, &levels, 600);
        // ceil(600 × 3 / 248) = ceil(7.26) = 8.
        assert_eq!(limit_of(&config, "doc-controller-throttled"), (8, 8));
        assert_eq!(limit_of(&config, "catch-all").0, 13);
    }

    #[test]
    fn the_fair_allocation_meets_the_required_sum_within_the_bounds() {
        let items = [(2.0, 10.0, 2.0), (1.0, 3.0, 1.0), (0.0, 50.0, 0.0)];
        let alloc = fair_allocation(12.0, &items);
        let sum: f64 = alloc.iter().sum();
        assert!((sum - 12.0).abs() < 1e-6, "{alloc:?}");
        for (a, i) in alloc.iter().zip(&items) {
            assert!(*a >= i.0 - 1e-9 && *a <= i.1 + 1e-9);
        }
    }

    #[test]
    fn schemas_are_tried_by_precedence_then_name_and_dangling_ones_are_ignored() {
        let (mut schemas, levels) = defaults();
        let schema = |name: &str, precedence: i64, level: &str| {
            Arc::new(serde_json::json!({
                "metadata": {"name": name, "uid": name},
                "spec": {"matchingPrecedence": precedence, "priorityLevelConfiguration": {"name": level},
                    "rules": [{"subjects": [{"kind": "User", "user": {"name": "u"}}],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]},
            }))
        };
        schemas.push(schema("b", 50, "system"));
        schemas.push(schema("a", 50, "node-high"));
        schemas.push(schema("0-dangling", 40, "missing"));
        let config = Config::build(&schemas, &levels, 600);
        let user = crate::auth::UserInfo {
            name: "u".into(),
            groups: vec!["system:authenticated".into()],
        };
        let attrs = Attributes::non_resource(user, "get", "/version");
        let (fs, pl) = config.classify(&attrs).unwrap();
        assert_eq!((fs.name.as_str(), pl.name.as_str()), ("a", "node-high"));
        let admin = Attributes::non_resource(crate::auth::UserInfo::admin(), "get", "/version");
        assert_eq!(config.classify(&admin).unwrap().1.name, "exempt");
    }

    #[test]
    fn missing_mandatory_objects_are_supplied() {
        let config = Config::build(&[], &[], 600);
        let user = crate::auth::UserInfo::service_account("a", "b");
        let attrs = Attributes::non_resource(user, "get", "/version");
        let (fs, pl) = config.classify(&attrs).unwrap();
        assert_eq!(
            (fs.name.as_str(), pl.name.as_str()),
            ("catch-all", "catch-all")
        );
        // catch-all alone (5 shares, exempt 0): all 600 seats.
        assert_eq!(limit_of(&config, "catch-all"), (600, 600));
    }
}
