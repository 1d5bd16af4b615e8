//! The scan pipeline: SBOM bytes in, findings and verdict out. Callers (the CLI
//! today, the server and operator later) render the outcome as they need.

use chrono::{DateTime, Utc};

use crate::matcher::{CandidateSource, MatchStats, match_sbom};
use crate::sbom::{self, Limits, Sbom, SbomError, SbomFormat};
use crate::store::StoreError;
use crate::verdict::{Verdict, VerdictConfig, evaluate};

/// How to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Limits on the SBOM document.
    pub sbom_limits: Limits,
    /// Thresholds and ignores.
    pub verdict: VerdictConfig,
}

/// What a scan produced.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// The SBOM's format.
    pub format: SbomFormat,
    /// The SBOM as read.
    pub sbom: Sbom,
    /// Which components were matched, which skipped and why.
    pub stats: MatchStats,
    /// The verdict, with kept and ignored findings.
    pub verdict: Verdict,
}

/// Why a scan could not run (a failing verdict is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The SBOM is unreadable or invalid.
    #[error("invalid SBOM: {0}")]
    Sbom(#[from] SbomError),
    /// The advisory DB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Read an SBOM document (CycloneDX or SPDX JSON) and scan it.
pub fn scan_sbom_bytes(
    bytes: &[u8],
    advisories: &impl CandidateSource,
    options: &ScanOptions,
    now: DateTime<Utc>,
) -> Result<ScanOutcome, ScanError> {
    let (format, sbom) = sbom::read_any(bytes, &options.sbom_limits)?;
    scan_sbom(format, sbom, advisories, options, now)
}

/// Scan an SBOM already in the model (read from a document or built from an image).
pub fn scan_sbom(
    format: SbomFormat,
    sbom: Sbom,
    advisories: &impl CandidateSource,
    options: &ScanOptions,
    now: DateTime<Utc>,
) -> Result<ScanOutcome, ScanError> {
    let matched = match_sbom(&sbom, advisories)?;
    let verdict = evaluate(matched.findings, &options.verdict, now);
    Ok(ScanOutcome {
        format,
        sbom,
        stats: matched.stats,
        verdict,
    })
}
