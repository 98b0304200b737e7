//! The `flowcontrol.apiserver.k8s.io/v1` kinds, FlowSchema and PriorityLevelConfiguration:
//! their defaults and validation ([`validation`]) and the objects a fresh server creates
//! ([`bootstrap`]). API Priority and Fairness itself, which reads them, is a filter
//! (`crate::filters::flowcontrol`); their `Dangling` condition is kept by a controller
//! (`crate::controllers::flowcontrol`).

pub(crate) mod bootstrap;
pub(crate) mod validation;

use serde_json::Value;

use super::ResourceInfo;
use super::strategy::Strategy;
use crate::meta::error::ApiError;

/// The API group.
pub(crate) const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// The strategy of both kinds: `generation`, their defaults and validation.
pub(crate) struct FlowControl;

impl Strategy for FlowControl {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, info: &ResourceInfo, obj: &mut Value) {
        validation::default(info, obj);
    }

    fn validate(
        &self,
        info: &ResourceInfo,
        _old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ApiError> {
        validation::validate(info, new)
    }
}
