//! The delta-SBOM layer protocol's server side: which layers have no stored analysis,
//! and storing one layer's fragment after checking it.

use std::sync::Arc;

use super::{TaskFailed, blocking};
use crate::metrics::Metrics;
use stella_core::delta::fragment::{FragmentLimits, decode_checked};
use stella_core::delta::manifest::{validate_digest, validate_digests};
use stella_core::delta::{LayerStore, selection_id};
use stella_core::inventory::analyzer::Analyzer;

/// Why a layer request failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A digest is malformed, or there are too many (the client's fault).
    #[error("{0}")]
    InvalidDigest(String),
    /// The fragment does not decode, is too large, or is of another layer or analyzer
    /// selection (the client's fault).
    #[error("{0}")]
    InvalidFragment(String),
    /// The layer store failed.
    #[error("{0}")]
    Unavailable(String),
    /// Checking the fragment failed on the server.
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

/// Stored layer fragments, and the analyzers they must have been read with.
#[derive(Debug)]
pub struct LayerService {
    /// The fragments.
    pub store: Arc<dyn LayerStore>,
    /// Analyzers for composing images from fragments (fragments must match them).
    pub analyzers: Arc<Vec<Box<dyn Analyzer>>>,
    /// Limits on fragments.
    pub fragment_limits: FragmentLimits,
    /// Counts lookups.
    pub metrics: Arc<Metrics>,
}

impl LayerService {
    /// The digests of `layers` with no stored fragment, in request order, no repeats.
    pub async fn missing(&self, layers: &[String]) -> Result<Vec<String>, LayerError> {
        validate_digests(layers).map_err(|e| LayerError::InvalidDigest(e.to_string()))?;
        let missing = self
            .store
            .missing(layers)
            .await
            .map_err(|e| LayerError::Unavailable(e.to_string()))?;
        self.metrics.layer_lookup(layers.len(), missing.len());
        Ok(missing)
    }

    /// Checks that `fragment` decodes within limits, is of layer `digest` and of the
    /// server's analyzer selection, then stores it.
    pub async fn upload(
        self: &Arc<Self>,
        digest: &str,
        fragment: Vec<u8>,
    ) -> Result<(), LayerError> {
        validate_digest(digest).map_err(|e| LayerError::InvalidDigest(e.to_string()))?;
        let this = self.clone();
        let owned_digest = digest.to_owned();
        let (checked, fragment) = blocking(move || {
            let selection = selection_id(&this.analyzers);
            let checked =
                decode_checked(&fragment, &owned_digest, &selection, &this.fragment_limits)
                    .map(|_| ());
            (checked, fragment)
        })
        .await?;
        checked.map_err(|e| LayerError::InvalidFragment(e.to_string()))?;
        self.store
            .put(digest, fragment)
            .await
            .map_err(|e| LayerError::Unavailable(e.to_string()))
    }
}
