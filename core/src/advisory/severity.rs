//! Qualitative severity and how it is derived from OSV records.

use serde::{Deserialize, Serialize};

/// Qualitative severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No severity is known.
    Unknown,
    /// Low.
    Low,
    /// Medium (moderate).
    Medium,
    /// High (important).
    High,
    /// Critical.
    Critical,
}

/// Severity and best CVSS score of one affected entry (placeholder until merge).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Qualitative severity.
    pub severity: Severity,
    /// Highest CVSS score, when a vector was given.
    pub cvss: Option<crate::advisory::cvss::CvssScore>,
}

/// Assess an affected entry (placeholder until merge).
pub fn assess(
    _record: &crate::advisory::OsvRecord,
    _affected: &crate::advisory::Affected,
) -> Assessment {
    todo!()
}
