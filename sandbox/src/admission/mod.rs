//! What a write goes through between the kind's strategy and the store: the structural
//! schema of custom resources ([`schema`], applied by [`custom`]), `fieldValidation`
//! ([`fieldvalidation`]), the patch types ([`patch`]), server-side apply and
//! `metadata.managedFields` ([`ssa`], applied by [`managed`]), and the admission plugins the
//! sandbox has ([`namespace_lifecycle`]).

pub(crate) mod custom;
pub(crate) mod fieldvalidation;
pub(crate) mod managed;
pub(crate) mod namespace_lifecycle;
pub(crate) mod patch;
pub(crate) mod schema;
pub(crate) mod ssa;
