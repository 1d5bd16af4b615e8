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
