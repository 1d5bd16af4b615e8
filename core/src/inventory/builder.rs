//! The SBOM builder: image source → layers → final file system → analyzers →
//! SBOM, with each component attributed to the layer that introduced it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::analyzer::{Analyzer, AnalyzerError, Reduced, os_release};
use super::cache::LayerCache;
use super::compose::compose;
use super::layer_tar::{
    FileSystem, LayerError, LayerExtract, LayerLimits, LayerStats, Selection, Want, read_dir,
    read_layer,
};
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

/// How to build: limits, the layer cache, and how many layers to read at once.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Bounds on what reading a layer may cost.
    pub limits: LayerLimits,
    /// Where layer extracts are cached by digest (`None`: no cache).
    pub cache: Option<LayerCache>,
    /// Layers read at once (0: one per CPU).
    pub threads: usize,
}

/// What the analyzers ask the layer reader to keep: the files an analyzer wants
/// (reduced when it reduces them), executables for binary analyzers, and the
/// OS-release files.
#[derive(Debug)]
pub struct AnalyzerSelection<'a> {
    analyzers: &'a [Box<dyn Analyzer>],
}

impl<'a> AnalyzerSelection<'a> {
    /// The selection of these analyzers.
    pub fn new(analyzers: &'a [Box<dyn Analyzer>]) -> Self {
        Self { analyzers }
    }

    /// Names the selection in cache keys: what it keeps depends on which
    /// analyzers there are (and on the crate version, part of every key).
    pub fn id(&self) -> String {
        let names: Vec<&str> = self.analyzers.iter().map(|a| a.name()).collect();
        names.join(",")
    }

    /// The first analyzer that wants `path`.
    fn wanting(&self, path: &str) -> Option<&dyn Analyzer> {
        self.analyzers
            .iter()
            .map(|a| a.as_ref())
            .find(|a| a.wants(path))
    }
}

impl Selection for AnalyzerSelection<'_> {
    fn want(&self, path: &str) -> Want {
        match self.wanting(path) {
            Some(a) if a.reduces() => Want::Reduce,
            Some(_) => Want::Whole,
            None if os_release::wants(path) => Want::Whole,
            None => Want::No,
        }
    }

    fn wants_executables(&self) -> bool {
        self.analyzers.iter().any(|a| a.wants_executables())
    }

    fn reduce(&self, path: &str, bytes: &[u8]) -> Reduced {
        self.wanting(path)
            .map_or(Reduced::Whole, |a| a.reduce(path, bytes))
    }

    fn reduce_executable(&self, path: &str, bytes: &[u8]) -> Reduced {
        self.analyzers
            .iter()
            .filter(|a| a.wants_executables())
            .map(|a| a.reduce(path, bytes))
            .find(|r| *r != Reduced::Nothing)
            .unwrap_or(Reduced::Nothing)
    }
}

/// Build the SBOM of an image. `progress(done, total)` is called after each layer
/// is read.
///
/// Layers are read in parallel (each on its own, or taken from the cache), then
/// applied bottom first by [`build_from_extracts`].
pub fn build(
    source: &dyn ImageSource,
    analyzers: &[Box<dyn Analyzer>],
    options: &BuildOptions,
    progress: impl FnMut(usize, usize),
) -> Result<BuildOutcome, BuildError> {
    let selection = AnalyzerSelection::new(analyzers);
    let all: Vec<usize> = (0..source.layers().len()).collect();
    let extracts = read_layers(source, &selection, options, &all, progress)?;
    build_from_extracts(
        extracts,
        analyzers,
        &options.limits,
        source.metadata().clone(),
    )
}

/// Builds the SBOM from layer extracts, bottom first (all the image's layers, read
/// with the selection of these `analyzers`); the SBOM's subject is `metadata.name`.
///
/// Layer attribution: after each layer, the analyzers whose files that layer
/// changed run on the view so far; a package's layer is the one from which it has
/// been present without a break (an upgrade or a reinstall starts anew).
pub fn build_from_extracts(
    extracts: Vec<LayerExtract>,
    analyzers: &[Box<dyn Analyzer>],
    limits: &LayerLimits,
    metadata: ImageMetadata,
) -> Result<BuildOutcome, BuildError> {
    let mut fs = FileSystem::new();
    let mut stats = Vec::new();
    // purl -> layer it has been present since, per analyzer.
    let mut since: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); analyzers.len()];
    let total = extracts.len();
    for (index, extract) in extracts.into_iter().enumerate() {
        let digest = extract.digest().to_string();
        let s = fs
            .apply(extract, limits)
            .map_err(|source| BuildError::Layer {
                index,
                digest: digest.clone(),
                source,
            })?;
        stats.push(s);
        if digest.is_empty() || index + 1 == total {
            continue;
        }
        // Attribution for all but the top layer (the final pass below covers it).
        let files = fs.files();
        let changed = |a: &dyn Analyzer| {
            files
                .iter()
                .any(|f| f.layer_digest.as_deref() == Some(digest.as_str()) && a.accepts(f))
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
        let accepted: Vec<&FileEntry> = files.iter().filter(|f| a.accepts(f)).collect();
        if accepted.is_empty() {
            continue;
        }
        let analysis = a.analyze(&accepted, os.as_ref());
        errors.extend(analysis.errors);
        for mut pkg in analysis.packages {
            if let Some(layer) = seen.get(&pkg.purl.to_string()) {
                pkg.layer_digest = Some(layer.clone());
            }
            found.push(pkg);
        }
    }
    let sbom = compose(Some(metadata.name.clone()), found);
    Ok(BuildOutcome {
        sbom,
        os,
        metadata,
        errors,
        layers: stats,
    })
}

/// Reads the layers of `source` at `indexes` (0 = bottom; in that order, repeats
/// allowed) into extracts, several at once, taking extracts from the cache where
/// it has them and storing the new ones. `progress(done, indexes.len())` is called
/// after each layer is read.
pub fn read_layers(
    source: &dyn ImageSource,
    selection: &AnalyzerSelection<'_>,
    options: &BuildOptions,
    indexes: &[usize],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<LayerExtract>, BuildError> {
    let total = indexes.len();
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, total.max(1));
    let selection_id = selection.id();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut slots: Vec<Option<LayerExtract>> = (0..total).map(|_| None).collect();
    let mut first_error: Option<(usize, BuildError)> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<LayerExtract, BuildError>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, failed, selection_id) = (&next, &failed, &selection_id);
            scope.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = indexes.get(slot) else {
                        break;
                    };
                    let result = read_one(source, index, selection, selection_id, options);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if tx.send((slot, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (slot, result) in rx {
            match result {
                Ok(extract) => {
                    if let Some(place) = slots.get_mut(slot) {
                        *place = Some(extract);
                    }
                    done += 1;
                    progress(done, total);
                }
                // Report the lowest failing layer, whatever order threads finish in.
                Err(e) if first_error.as_ref().is_none_or(|(i, _)| slot < *i) => {
                    first_error = Some((slot, e));
                }
                Err(_) => {}
            }
        }
    });
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    slots
        .into_iter()
        .zip(indexes)
        .map(|(slot, &index)| slot.ok_or(BuildError::Source(SourceError::NoLayer(index))))
        .collect()
}

/// Reads layer `index`, from the cache when it is there.
fn read_one(
    source: &dyn ImageSource,
    index: usize,
    selection: &AnalyzerSelection<'_>,
    selection_id: &str,
    options: &BuildOptions,
) -> Result<LayerExtract, BuildError> {
    let limits = &options.limits;
    let digest = source
        .layers()
        .get(index)
        .and_then(|l| l.digest.clone())
        .unwrap_or_default();
    if let Some(cache) = &options.cache
        && let Some(mut extract) = cache.get(&digest, selection_id, limits)
    {
        extract.stats.from_cache = true;
        return Ok(extract);
    }
    let layer_err = |source| BuildError::Layer {
        index,
        digest: digest.clone(),
        source,
    };
    let extract = match source.open_layer(index)? {
        LayerData::Tar(reader) => {
            read_layer(&digest, reader, selection, limits).map_err(layer_err)?
        }
        LayerData::Dir(root) => read_dir(&root, selection, limits).map_err(layer_err)?,
    };
    if let Some(cache) = &options.cache
        && let Err(e) = cache.put(&extract, selection_id, limits)
    {
        // A cache that cannot be written slows the next scan; it does not fail this one.
        tracing::warn!(error = %e, "layer cache not written");
    }
    Ok(extract)
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
    let accepted: Vec<&FileEntry> = files.iter().filter(|f| a.accepts(f)).collect();
    a.analyze(&accepted, os)
        .packages
        .iter()
        .map(|p| p.purl.to_string())
        .collect()
}
