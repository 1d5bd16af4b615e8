//! The SBOM builder: image source → layers → final file system → analyzers →
//! SBOM, with each component attributed to the layer that introduced it.

use std::collections::{BTreeMap, BTreeSet};

use super::analyzer::{Analyzer, AnalyzerError, os_release};
use super::compose::compose;
use super::layer::{FileSystem, LayerError, LayerLimits, LayerStats};
use super::source::{ImageMetadata, ImageSource, LayerData, SourceError};
use super::{FileEntry, OsRelease};
use crate::sbom::Sbom;

/// What building an SBOM produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The image's SBOM.
    pub sbom: Sbom,
    /// The distribution detected, if any.
    pub os: Option<OsRelease>,
    /// Image metadata from the source.
    pub metadata: ImageMetadata,
    /// Files analyzers could not read (the build goes on without them).
    pub errors: Vec<AnalyzerError>,
    /// Per-layer reading statistics, bottom first.
    pub layers: Vec<LayerStats>,
}

/// Why an SBOM could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The image could not be opened or a layer could not be listed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A layer could not be read.
    #[error("layer {index} ({digest}): {source}")]
    Layer {
        /// Layer position, 0 = bottom.
        index: usize,
        /// Its digest, if known.
        digest: String,
        /// What went wrong.
        #[source]
        source: LayerError,
    },
}

/// Build the SBOM of an image. `progress(done, total)` is called after each layer.
///
/// Layer attribution: after each layer, the analyzers whose files that layer
/// changed run on the view so far; a package's layer is the one from which it has
/// been present without a break (an upgrade or a reinstall starts anew).
pub fn build(
    source: &dyn ImageSource,
    analyzers: &[Box<dyn Analyzer>],
    limits: &LayerLimits,
    mut progress: impl FnMut(usize, usize),
) -> Result<BuildOutcome, BuildError> {
    let wants = |p: &str| os_release::wants(p) || analyzers.iter().any(|a| a.wants(p));
    let mut fs = FileSystem::new();
    let mut stats = Vec::new();
    // purl -> layer it has been present since, per analyzer.
    let mut since: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); analyzers.len()];
    let total = source.layers().len();
    for (index, info) in source.layers().iter().enumerate() {
        let digest = info.digest.clone().unwrap_or_default();
        let layer_err = |source| BuildError::Layer {
            index,
            digest: digest.clone(),
            source,
        };
        let s = match source.open_layer(index)? {
            LayerData::Tar(reader) => fs
                .apply_layer(&digest, reader, &wants, limits)
                .map_err(layer_err)?,
            LayerData::Dir(root) => fs.apply_dir(&root, &wants, limits).map_err(layer_err)?,
        };
        stats.push(s);
        progress(index + 1, total);
        if digest.is_empty() || index + 1 == total {
            continue;
        }
        // Attribution for all but the top layer (the final pass below covers it).
        let files = fs.files();
        let changed = |a: &dyn Analyzer| {
            files
                .iter()
                .any(|f| f.layer_digest.as_deref() == Some(digest.as_str()) && a.wants(&f.path))
        };
        let os = detect(&files);
        for (a, seen) in analyzers.iter().zip(since.iter_mut()) {
            if changed(a.as_ref()) {
                let present = purls_found(a.as_ref(), &files, os.as_ref());
                seen.retain(|purl, _| present.contains(purl));
                for purl in present {
                    seen.entry(purl).or_insert_with(|| digest.clone());
                }
            }
        }
    }
    let files = fs.files();
    let os = detect(&files);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (a, seen) in analyzers.iter().zip(&since) {
        let wanted: Vec<&FileEntry> = files.iter().filter(|f| a.wants(&f.path)).collect();
        if wanted.is_empty() {
            continue;
        }
        let analysis = a.analyze(&wanted, os.as_ref());
        errors.extend(analysis.errors);
        for mut pkg in analysis.packages {
            if let Some(layer) = seen.get(&pkg.purl.to_string()) {
                pkg.layer_digest = Some(layer.clone());
            }
            found.push(pkg);
        }
    }
    let metadata = source.metadata().clone();
    let sbom = compose(Some(metadata.name.clone()), found);
    Ok(BuildOutcome {
        sbom,
        os,
        metadata,
        errors,
        layers: stats,
    })
}

fn detect(files: &[FileEntry]) -> Option<OsRelease> {
    let refs: Vec<&FileEntry> = files
        .iter()
        .filter(|f| os_release::wants(&f.path))
        .collect();
    os_release::detect(&refs)
}

/// The purls one analyzer finds in the view so far.
fn purls_found(a: &dyn Analyzer, files: &[FileEntry], os: Option<&OsRelease>) -> BTreeSet<String> {
    let wanted: Vec<&FileEntry> = files.iter().filter(|f| a.wants(&f.path)).collect();
    a.analyze(&wanted, os)
        .packages
        .iter()
        .map(|p| p.purl.to_string())
        .collect()
}
