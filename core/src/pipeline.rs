//! The scan pipeline: SBOM bytes in, findings and verdict out. Callers (the CLI
//! today, the server and operator later) render the outcome as they need.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::advisory_db::AdvisoryDbError;
use crate::matcher::{CandidateSource, MatchStats, match_sbom};
use crate::policy::compiled::CompiledPolicy;
use crate::policy::context::{SbomSummary, ScanContext};
use crate::policy::evaluate::{Evaluation, KnownExploited, evaluate};
use crate::policy::generated;
use crate::policy::mute::MuteSet;
use crate::sbom::{self, Limits, Sbom, SbomError, SbomFormat};
use crate::verdict::Verdict;

/// How to scan.
#[derive(Clone)]
pub struct ScanOptions {
    /// Limits on the SBOM document.
    pub sbom_limits: Limits,
    /// The policy that gives the verdict.
    pub policy: Arc<CompiledPolicy>,
    /// Mute rules from outside the policy (VEX documents, ignore files).
    pub mutes: Vec<MuteSet>,
    /// The CISA KEV catalog, when loaded.
    pub kev: Option<Arc<dyn KnownExploited + Send + Sync>>,
    /// Where the scan runs (image, namespace, labels); the SBOM summary is filled in.
    pub context: ScanContext,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            sbom_limits: Limits::default(),
            policy: Arc::new(generated::from_flags(None, false)),
            mutes: Vec::new(),
            kev: None,
            context: ScanContext::default(),
        }
    }
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("sbom_limits", &self.sbom_limits)
            .field("policy", &self.policy.digest())
            .field("mutes", &self.mutes.len())
            .field("kev", &self.kev.is_some())
            .field("context", &self.context)
            .finish()
    }
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
    Store(#[from] AdvisoryDbError),
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
    let mut context = options.context.clone();
    context.sbom = SbomSummary::of(format.name(), &sbom);
    // Without an explicit image, the SBOM's subject (the image it was built from) is it.
    if context.image.is_none() {
        context.image.clone_from(&sbom.subject);
    }
    let evaluation = Evaluation {
        context: &context,
        mutes: &options.mutes,
        kev: options.kev.as_deref().map(|k| k as &dyn KnownExploited),
        now,
    };
    let verdict = evaluate(&options.policy, matched.findings, &evaluation);
    Ok(ScanOutcome {
        format,
        sbom,
        stats: matched.stats,
        verdict,
    })
}
