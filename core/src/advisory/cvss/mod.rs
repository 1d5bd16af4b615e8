//! CVSS base scores computed from vectors (v3.0, v3.1, v4.0).

use serde::{Deserialize, Serialize};

/// A CVSS base score with the vector it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// Base score, 0.0–10.0.
    pub score: f64,
}
