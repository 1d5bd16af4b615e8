//! Where a scan runs: the image, the Kubernetes namespace and workload labels (when
//! the admission webhook or operator evaluates), and a summary of the SBOM.

use std::collections::BTreeMap;

use serde::Serialize;

use super::mute;
use crate::sbom::Sbom;

/// The scan context a policy is evaluated in. Fields that are unknown (a CI scan has no
/// namespace) are `None` or empty, and conditions on them do not match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanContext {
    /// Image reference, e.g. `registry.example/app:1.2`.
    pub image: Option<String>,
    /// Image digest, e.g. `sha256:…`.
    pub digest: Option<String>,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// The namespace's labels.
    pub namespace_labels: BTreeMap<String, String>,
    /// The workload's (Pod's) labels.
    pub labels: BTreeMap<String, String>,
    /// What the SBOM holds.
    pub sbom: SbomSummary,
}

/// Size and make-up of the scanned SBOM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SbomSummary {
    /// `cyclonedx` or `spdx`.
    pub format: String,
    /// Number of components.
    pub components: usize,
    /// Components per purl type (`deb`, `npm`, …); components without a purl are not counted.
    pub ecosystems: BTreeMap<String, usize>,
}

impl SbomSummary {
    /// Summarises `sbom`, read as `format`.
    pub fn of(format: &str, sbom: &Sbom) -> Self {
        let mut ecosystems = BTreeMap::new();
        for component in &sbom.components {
            if let Some(purl) = &component.purl {
                *ecosystems.entry(purl.ty.clone()).or_insert(0) += 1;
            }
        }
        Self {
            format: format.to_owned(),
            components: sbom.components.len(),
            ecosystems,
        }
    }
}

impl ScanContext {
    /// The part of the context mute rules look at.
    pub fn mute_context(&self) -> mute::Context<'_> {
        mute::Context {
            image: self.image.as_deref(),
            digest: self.digest.as_deref(),
            namespace: self.namespace.as_deref(),
        }
    }
}

/// The purl type (`pkg:TYPE/…`), lower-case as purls spell it; empty when not a purl.
pub fn purl_type(purl: &str) -> &str {
    purl.strip_prefix("pkg:")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}
