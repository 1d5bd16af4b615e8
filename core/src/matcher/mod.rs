//! Matching SBOM components against advisories: one finding per
//! (component, vulnerability), whichever ids the advisories use.

pub mod range;

use crate::advisory::Severity;
use crate::advisory::cvss::CvssScore;
use serde::{Deserialize, Serialize};

/// A vulnerability found in one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Primary id: the CVE when one is known, else the first advisory id.
    pub id: String,
    /// Every other id of the vulnerability (advisory ids and their aliases), sorted.
    pub aliases: Vec<String>,
    /// Ids of the advisory records that matched (a subset of `id` + `aliases`).
    pub advisories: Vec<String>,
    /// The component's `bom_ref`.
    pub component_ref: String,
    /// Component name.
    pub package_name: String,
    /// Component purl (canonical form).
    pub purl: String,
    /// Installed version.
    pub installed_version: String,
    /// Versions that fix it (from `fixed` events of the matching ranges), sorted.
    pub fixed_versions: Vec<String>,
    /// Highest severity any matching advisory gives.
    pub severity: Severity,
    /// Highest CVSS base score any matching advisory gives, with its vector.
    pub cvss: Option<CvssScore>,
    /// One-line summary from the first advisory that has one.
    pub summary: Option<String>,
    /// Digest of the layer that introduced the component, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_digest: Option<String>,
}
