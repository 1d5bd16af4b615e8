//! The delta-SBOM layer protocol: which image layers the server has analysed
//! already, their stored fragments (layer extracts), and composing an image SBOM
//! from the fragments of its layers.
//!
//! An image SBOM is not the union of per-layer package lists (a later layer's
//! package database replaces an earlier one, whiteouts delete files), so a layer's
//! fragment is what the SBOM builder reads of it (its [`LayerExtract`]), and the
//! server stacks the fragments of an image's layers and runs the analyzers over
//! them exactly as [`build`](crate::inventory::builder::build) does.
//!
//! Flow: the builder lists the image's layer digests ([`client::manifest_of`]),
//! asks which the server lacks ([`LayerStore::missing`]), reads only those
//! ([`client::fragments_for`]), uploads each (checked with
//! [`fragment::decode_checked`], then [`LayerStore::put`]), then posts the manifest;
//! the server composes the image with [`load_and_compose`].

pub mod client;
pub mod fragment;
pub mod manifest;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::inventory::analyzer::Analyzer;
use crate::inventory::builder::{AnalyzerSelection, BuildError, BuildOutcome, build_from_extracts};
use crate::inventory::layer_tar::LayerExtract;
use crate::inventory::source::ImageMetadata;
pub use fragment::{Fragment, FragmentError, FragmentLimits};
pub use manifest::{LayerManifest, ManifestError, ManifestImage, ManifestLimits};

/// The selection id builders and the server must agree on: the crate version (an
/// extract's meaning follows the layer reader and the analyzers' `reduce`) and the
/// analyzers, in order.
pub fn selection_id(analyzers: &[Box<dyn Analyzer>]) -> String {
    format!(
        "stella-core/{}:{}",
        env!("CARGO_PKG_VERSION"),
        AnalyzerSelection::new(analyzers).id()
    )
}

/// Why the layer store failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerStoreError {
    /// A digest given to the store is not `sha256:<64 hex>`.
    #[error(transparent)]
    Digest(#[from] manifest::DigestError),
    /// The SQLite store failed.
    #[error("layer store {path}: {source}")]
    Sqlite {
        /// The database file (`:memory:` in memory).
        path: String,
        /// Underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The Redis store failed.
    #[error("layer store (redis): {0}")]
    Redis(String),
    /// A blocking task failed or its lock was poisoned by a panic.
    #[error("layer store: {0}")]
    Task(String),
}

/// Fragments stored by layer digest: the server's memory of analysed layers.
#[async_trait]
pub trait LayerStore: Send + Sync + std::fmt::Debug {
    /// The requested digests that have no stored fragment, in request order,
    /// without repeats. Digests must be valid ([`manifest::validate_digest`]).
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, LayerStoreError>;

    /// Stores (or replaces) the fragment of layer `digest`; from then on the digest
    /// is no longer missing. Check the fragment first ([`fragment::decode_checked`]).
    async fn put(&self, digest: &str, fragment: Vec<u8>) -> Result<(), LayerStoreError>;

    /// The stored fragment of layer `digest`.
    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, LayerStoreError>;

    /// The stored fragments of several layers, in order (`None` where absent).
    async fn get_many(&self, digests: &[String]) -> Result<Vec<Option<Vec<u8>>>, LayerStoreError> {
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            out.push(self.get(d).await?);
        }
        Ok(out)
    }

    /// How many layers have a stored fragment.
    async fn count(&self) -> Result<u64, LayerStoreError>;
}

/// Why an image could not be composed from layer fragments.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// These layers (manifest order, no repeats) have no usable stored fragment:
    /// the builder uploads them and posts the manifest again (HTTP 409). A stored
    /// fragment of another analyzer selection (an older server) counts as missing.
    #[error("{} layer fragment(s) missing: {}", .0.len(), .0.join(", "))]
    MissingLayers(Vec<String>),
    /// The manifest was read with other analyzers than the server runs.
    #[error(
        "the image's layers were read with analyzer selection {found:?}, the server uses \
         {expected:?} (client and server versions differ?)"
    )]
    SelectionMismatch {
        /// The server's selection id.
        expected: String,
        /// The manifest's.
        found: String,
    },
    /// As many fragments as manifest layers are needed.
    #[error("{got} fragments for {expected} manifest layers")]
    FragmentCount {
        /// Layers in the manifest.
        expected: usize,
        /// Fragments given.
        got: usize,
    },
    /// A fragment could not be decoded or is not of its layer.
    #[error("layer {digest}: {source}")]
    Fragment {
        /// The layer.
        digest: String,
        /// What is wrong.
        #[source]
        source: FragmentError,
    },
    /// Stacking the layers or analysing them failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] LayerStoreError),
}

/// The metadata the SBOM of a manifest's image is built with: its name is the
/// SBOM's subject.
fn metadata_of(manifest: &LayerManifest) -> ImageMetadata {
    let mut platform = manifest
        .image
        .platform
        .as_deref()
        .unwrap_or_default()
        .split('/');
    let mut part = || {
        platform
            .next()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    let (os, arch, variant) = (part(), part(), part());
    ImageMetadata {
        name: manifest.image.name.clone(),
        manifest_digest: manifest.image.digest.clone(),
        config_digest: None,
        os,
        arch,
        variant,
        diff_ids: Vec::new(),
    }
}

/// Composes the SBOM of a manifest's image from its layers' fragments (one per
/// manifest layer, in manifest order). Each fragment must decode, be of its layer
/// and of `selection_id(analyzers)`, as must the manifest.
pub fn compose_image(
    manifest: &LayerManifest,
    fragments: Vec<Vec<u8>>,
    analyzers: &[Box<dyn Analyzer>],
    limits: &FragmentLimits,
) -> Result<BuildOutcome, ComposeError> {
    let expected = selection_id(analyzers);
    check_selection(manifest, &expected)?;
    if fragments.len() != manifest.layers.len() {
        return Err(ComposeError::FragmentCount {
            expected: manifest.layers.len(),
            got: fragments.len(),
        });
    }
    let mut extracts = Vec::with_capacity(fragments.len());
    for (digest, bytes) in manifest.layers.iter().zip(fragments) {
        let fragment =
            fragment::decode_checked(&bytes, digest, &expected, limits).map_err(|source| {
                ComposeError::Fragment {
                    digest: digest.clone(),
                    source,
                }
            })?;
        extracts.push(fragment.extract);
    }
    Ok(build_from_extracts(
        extracts,
        analyzers,
        &limits.layer,
        metadata_of(manifest),
    )?)
}

fn check_selection(manifest: &LayerManifest, expected: &str) -> Result<(), ComposeError> {
    if manifest.selection == expected {
        Ok(())
    } else {
        Err(ComposeError::SelectionMismatch {
            expected: expected.to_string(),
            found: manifest.selection.clone(),
        })
    }
}

/// The server side of `POST /scan` with a layer manifest: fetches the fragments
/// of the manifest's layers from `store` (one request), and composes the image.
/// Layers without a usable fragment (absent, or stored for another selection, or
/// undecodable) give [`ComposeError::MissingLayers`], all of them at once.
///
/// Decoding and analysing are CPU work: on a multi-thread Tokio runtime they run
/// under `block_in_place`, so the other tasks of this worker move elsewhere.
pub async fn load_and_compose(
    store: &dyn LayerStore,
    manifest: &LayerManifest,
    analyzers: &[Box<dyn Analyzer>],
    limits: &FragmentLimits,
) -> Result<BuildOutcome, ComposeError> {
    let expected = selection_id(analyzers);
    check_selection(manifest, &expected)?;
    let unique = manifest.unique_layers();
    let stored = store.get_many(&unique).await?;
    let work = || compose_stored(manifest, &unique, stored, analyzers, &expected, limits);
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Decodes the fragments of `unique` (the manifest's layers without repeats, as
/// stored) and composes the image.
fn compose_stored(
    manifest: &LayerManifest,
    unique: &[String],
    stored: Vec<Option<Vec<u8>>>,
    analyzers: &[Box<dyn Analyzer>],
    expected: &str,
    limits: &FragmentLimits,
) -> Result<BuildOutcome, ComposeError> {
    let mut extracts: BTreeMap<&str, LayerExtract> = BTreeMap::new();
    let mut missing = Vec::new();
    for (digest, bytes) in unique.iter().zip(stored) {
        let Some(bytes) = bytes else {
            missing.push(digest.clone());
            continue;
        };
        match fragment::decode_checked(&bytes, digest, expected, limits) {
            Ok(f) => {
                extracts.insert(digest, f.extract);
            }
            // Stored before a server upgrade changed the selection, or damaged:
            // the builder uploads it again.
            Err(e) => {
                tracing::warn!(layer = %digest, error = %e, "stored layer fragment unusable");
                missing.push(digest.clone());
            }
        }
    }
    if !missing.is_empty() {
        return Err(ComposeError::MissingLayers(missing));
    }
    // Every unique layer decoded; a repeated layer gets a copy of its extract.
    let mut ordered = Vec::with_capacity(manifest.layers.len());
    for (i, digest) in manifest.layers.iter().enumerate() {
        let again = manifest
            .layers
            .get(i + 1..)
            .is_some_and(|rest| rest.contains(digest));
        let extract = if again {
            extracts.get(digest.as_str()).cloned()
        } else {
            extracts.remove(digest.as_str())
        };
        match extract {
            Some(e) => ordered.push(e),
            None => return Err(ComposeError::MissingLayers(vec![digest.clone()])),
        }
    }
    Ok(build_from_extracts(
        ordered,
        analyzers,
        &limits.layer,
        metadata_of(manifest),
    )?)
}

/// Keeps `digests` that `present` does not contain, in order, without repeats: the
/// `missing` answer every store gives.
fn absent_in_order(digests: &[String], present: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    digests
        .iter()
        .filter(|d| seen.insert(d.as_str()) && !present(d))
        .cloned()
        .collect()
}

/// Validates every digest given to a store.
fn validate_all(digests: &[String]) -> Result<(), LayerStoreError> {
    for d in digests {
        manifest::validate_digest(d)?;
    }
    Ok(())
}
