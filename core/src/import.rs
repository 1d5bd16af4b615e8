//! Advisory import: OSV records from files (JSON, PyPA YAML), directories and
//! zip archives (osv.dev's `<ecosystem>/all.zip`) into the advisory DB.
//!
//! A bad document is reported with its location and skipped; it never aborts
//! the import of the others.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::advisory::osv::{OsvLimits, parse_file_bytes};
use crate::advisory_db::{AdvisoryDb, AdvisoryDbError, PreparedRecord, UpsertOutcome};

/// Limits on what one import reads.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// Largest single document, in bytes.
    pub max_document_bytes: u64,
    /// Most entries read from one zip archive.
    pub max_zip_entries: usize,
    /// Per-document parser limits.
    pub osv: OsvLimits,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_document_bytes: 8 * 1024 * 1024,
            max_zip_entries: 1_000_000,
            osv: OsvLimits::default(),
        }
    }
}

/// One document that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFailure {
    /// Where it was: a file path, or `archive.zip!entry.json`.
    pub location: String,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Documents read (parsed or not).
    pub documents: u64,
    /// Records new to the DB.
    pub inserted: u64,
    /// Records whose content changed.
    pub updated: u64,
    /// Records already present with identical content.
    pub unchanged: u64,
    /// Documents that failed.
    pub failures: Vec<ImportFailure>,
}

/// Errors that stop an import as a whole (bad input files do not).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A path given on the command line cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the DB failed.
    #[error(transparent)]
    Store(#[from] AdvisoryDbError),
}

/// A document found by walking the inputs, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A plain file.
    File(PathBuf),
    /// A zip archive, read entry by entry.
    Zip(PathBuf),
}

/// Expand the inputs into the documents to import, in a stable order:
/// directories are walked recursively (sorted), keeping `.json`, `.yaml`,
/// `.yml` and `.zip` files; hidden files are skipped.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<Source>, ImportError> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|source| ImportError::Io {
            path: input.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(classify(input.clone()));
        }
    }
    Ok(out)
}

fn classify(path: PathBuf) -> Source {
    if has_ext(&path, &["zip"]) {
        Source::Zip(path)
    } else {
        Source::File(path)
    }
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn walk(dir: &Path, out: &mut Vec<Source>) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // file_type() does not follow symlinks: a symlinked directory is not walked,
        // so a link loop cannot make the walk run forever.
        let ty = entry.file_type().map_err(io)?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else if has_ext(&path, &["json", "yaml", "yml", "zip"]) {
            out.push(classify(path));
        }
    }
    Ok(())
}

/// Records are written in batches of this many, one transaction each.
const BATCH: usize = 512;

/// Import every source into `db`. `progress` is called after each source with
/// the number of sources done so far.
pub fn import(
    db: &mut AdvisoryDb,
    sources: &[Source],
    limits: &ImportLimits,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(BATCH);
    for (i, source) in sources.iter().enumerate() {
        match source {
            Source::File(path) => {
                let location = path.display().to_string();
                report.documents += 1;
                match read_bounded(path, limits.max_document_bytes) {
                    Ok(bytes) => add(
                        &mut report,
                        &mut batch,
                        &location,
                        &location,
                        &bytes,
                        limits,
                    ),
                    Err(reason) => report.failures.push(ImportFailure { location, reason }),
                }
            }
            Source::Zip(path) => read_zip(path, limits, &mut report, &mut batch)?,
        }
        if batch.len() >= BATCH {
            flush(db, &mut batch, &mut report)?;
        }
        progress(i + 1);
    }
    flush(db, &mut batch, &mut report)?;
    Ok(report)
}

fn add(
    report: &mut ImportReport,
    batch: &mut Vec<PreparedRecord>,
    location: &str,
    name: &str,
    bytes: &[u8],
    limits: &ImportLimits,
) {
    match parse_file_bytes(name, bytes, &limits.osv) {
        Ok(record) => batch.push(PreparedRecord::new(record)),
        Err(e) => report.failures.push(ImportFailure {
            location: location.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn flush(
    db: &mut AdvisoryDb,
    batch: &mut Vec<PreparedRecord>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    for outcome in db.upsert_batch(batch)? {
        match outcome {
            UpsertOutcome::Inserted => report.inserted += 1,
            UpsertOutcome::Updated => report.updated += 1,
            UpsertOutcome::Unchanged => report.unchanged += 1,
        }
    }
    batch.clear();
    Ok(())
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    read_limited(file, max)
}

/// Read at most `max` bytes; more is an error rather than a silent truncation.
fn read_limited(reader: impl Read, max: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("document larger than the {max}-byte limit"));
    }
    Ok(bytes)
}

fn read_zip(
    path: &Path,
    limits: &ImportLimits,
    report: &mut ImportReport,
    batch: &mut Vec<PreparedRecord>,
) -> Result<(), ImportError> {
    let location = path.display().to_string();
    let file = File::open(path).map_err(|source| ImportError::Io {
        path: location.clone(),
        source,
    })?;
    let mut archive = match zip::ZipArchive::new(file) {
        Ok(a) => a,
        Err(e) => {
            report.documents += 1;
            report.failures.push(ImportFailure {
                location,
                reason: format!("not a readable zip archive: {e}"),
            });
            return Ok(());
        }
    };
    if archive.len() > limits.max_zip_entries {
        report.failures.push(ImportFailure {
            location,
            reason: format!(
                "{} entries exceed the {}-entry limit",
                archive.len(),
                limits.max_zip_entries
            ),
        });
        return Ok(());
    }
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                report.documents += 1;
                report.failures.push(ImportFailure {
                    location: format!("{location}!#{i}"),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.to_string(),
            Err(e) => {
                report.documents += 1;
                report.failures.push(ImportFailure {
                    location: format!("{location}!#{i}"),
                    reason: format!("bad entry name: {e}"),
                });
                continue;
            }
        };
        if entry.is_dir() || !has_ext(Path::new(&name), &["json", "yaml", "yml"]) {
            continue;
        }
        report.documents += 1;
        let at = format!("{location}!{name}");
        // The declared size can lie: read_limited bounds what is actually inflated.
        match read_limited(&mut entry, limits.max_document_bytes) {
            Ok(bytes) => add(report, batch, &at, &name, &bytes, limits),
            Err(reason) => report.failures.push(ImportFailure {
                location: at,
                reason,
            }),
        }
    }
    Ok(())
}
