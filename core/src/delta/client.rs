//! The builder's side of the protocol (`stella scan IMAGE --server`): describe an
//! image by its layer digests without reading any layer, then read only the layers
//! the server lacks into fragments. For a registry source only those blobs are
//! downloaded: the layer list comes from the image manifest.

use std::collections::BTreeSet;

use super::fragment::{FragmentError, encode_fragment};
use super::manifest::{
    DigestError, LayerManifest, MAX_LAYERS, ManifestImage, valid_platform, validate_digest,
};
use crate::inventory::analyzer::Analyzer;
use crate::inventory::builder::{AnalyzerSelection, BuildError, BuildOptions, read_layers};
use crate::inventory::source::ImageSource;

/// Why an image cannot take part in the protocol, or its layers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// A layer has no digest (a `dir:` source): scan it locally or send its SBOM.
    #[error(
        "layer {index} has no digest, so the server cannot know it: scan this source \
         locally or upload its SBOM instead"
    )]
    NoDigest {
        /// Layer position, 0 = bottom.
        index: usize,
    },
    /// A layer digest is not `sha256:<64 hex>`.
    #[error("layer {index}: {error}")]
    Digest {
        /// Layer position, 0 = bottom.
        index: usize,
        /// What is wrong.
        error: DigestError,
    },
    /// The image has no layers.
    #[error("the image has no layers")]
    NoLayers,
    /// The image has more layers than a manifest may list.
    #[error("the image has {0} layers, more than the protocol's {MAX_LAYERS}")]
    TooManyLayers(usize),
    /// A layer could not be read.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A fragment could not be encoded.
    #[error(transparent)]
    Fragment(#[from] FragmentError),
}

/// The layer digests of `source`, bottom first, each checked.
fn layer_digests(source: &dyn ImageSource) -> Result<Vec<String>, DeltaError> {
    let layers = source.layers();
    if layers.is_empty() {
        return Err(DeltaError::NoLayers);
    }
    if layers.len() > MAX_LAYERS {
        return Err(DeltaError::TooManyLayers(layers.len()));
    }
    layers
        .iter()
        .enumerate()
        .map(|(index, l)| {
            let d = l.digest.clone().ok_or(DeltaError::NoDigest { index })?;
            validate_digest(&d).map_err(|error| DeltaError::Digest { index, error })?;
            Ok(d)
        })
        .collect()
}

/// The layer manifest of `source` (no layer is read): its name, manifest digest
/// and platform from the source's metadata, its layer digests, and the analyzer
/// selection id the fragments will be read with ([`super::selection_id`]).
pub fn manifest_of(
    source: &dyn ImageSource,
    selection_id: &str,
) -> Result<LayerManifest, DeltaError> {
    let layers = layer_digests(source)?;
    let meta = source.metadata();
    let platform = match (&meta.os, &meta.arch, &meta.variant) {
        (Some(os), Some(arch), Some(v)) => Some(format!("{os}/{arch}/{v}")),
        (Some(os), Some(arch), None) => Some(format!("{os}/{arch}")),
        _ => None,
    };
    Ok(LayerManifest::new(
        ManifestImage {
            name: meta.name.clone(),
            digest: meta
                .manifest_digest
                .clone()
                .filter(|d| validate_digest(d).is_ok()),
            // Optional: one the server would refuse is left out rather than failing the scan.
            platform: platform.filter(|p| valid_platform(p)),
        },
        selection_id,
        layers,
    ))
}

/// Reads the layers of `source` whose digests are in `missing` (each once, however
/// often it repeats in the image) and encodes their fragments: `(digest, fragment)`
/// bottom first. Other layers are neither read nor downloaded. `progress(done,
/// total)` is called after each layer is read.
pub fn fragments_for(
    source: &dyn ImageSource,
    analyzers: &[Box<dyn Analyzer>],
    options: &BuildOptions,
    missing: &BTreeSet<String>,
    progress: impl FnMut(usize, usize),
) -> Result<Vec<(String, Vec<u8>)>, DeltaError> {
    let digests = layer_digests(source)?;
    let mut taken = BTreeSet::new();
    let indexes: Vec<usize> = digests
        .iter()
        .enumerate()
        .filter(|(_, d)| missing.contains(*d) && taken.insert(d.as_str()))
        .map(|(i, _)| i)
        .collect();
    let selection = AnalyzerSelection::new(analyzers);
    let extracts = read_layers(source, &selection, options, &indexes, progress)?;
    let selection_id = super::selection_id(analyzers);
    extracts
        .iter()
        .map(|e| Ok((e.digest().to_string(), encode_fragment(e, &selection_id)?)))
        .collect()
}
