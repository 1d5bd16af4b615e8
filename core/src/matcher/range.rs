//! OSV `affected` evaluation (the schema's Evaluation section): ranges and
//! `versions` lists against one version.

use crate::advisory::Affected;
use crate::ecosystem::EcosystemKind;

/// placeholder until merge
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// affected
    pub affected: bool,
    /// fixed
    pub fixed: Vec<String>,
}

/// placeholder until merge
pub fn evaluate(_affected: &Affected, _kind: EcosystemKind, _version: &str) -> Evaluation {
    todo!()
}
