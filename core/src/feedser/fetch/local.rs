//! Local locations: one file, a directory walked recursively, or an archive file.
//!
//! Directory walks are sorted (byte order of names) so document order, and therefore
//! batch boundaries, are the same on every run; hidden entries (`.git`, `.DS_Store`) are
//! skipped, and symlinked directories are not followed (a loop, or a walk out of the tree).

use std::fs;
use std::io::Read;
use std::path::Path;

use super::archive;
use super::{FetchError, FetchOptions, LocationKind, Run, is_hidden};

fn io_error(path: &Path, source: std::io::Error) -> FetchError {
    FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The last component of `path`, as the first component of document names.
fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads a whole file, refusing more than `limit` bytes (the size is checked while
/// reading, not trusted from metadata).
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, FetchError> {
    let file = fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            name: path.display().to_string(),
            limit,
        });
    }
    Ok(bytes)
}

/// Fetches a local path; returns whether the listing completed.
pub(crate) fn fetch_path(
    path: &Path,
    kind: LocationKind,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<bool, FetchError> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, e))?;
    let kind = match kind {
        LocationKind::Auto if meta.is_dir() => LocationKind::Dir,
        LocationKind::Auto => {
            if archive::detect_file(path)
                .map_err(|e| io_error(path, e))?
                .is_some()
            {
                LocationKind::Archive
            } else {
                LocationKind::File
            }
        }
        other => other,
    };
    match kind {
        LocationKind::Dir => {
            if !meta.is_dir() {
                return Err(FetchError::Location {
                    location: path.display().to_string(),
                    reason: "not a directory".to_owned(),
                });
            }
            walk(path, &base_name(path), options, run)?;
        }
        LocationKind::Archive => {
            let format = archive::detect_file(path)
                .map_err(|e| io_error(path, e))?
                .ok_or_else(|| FetchError::Archive {
                    archive: path.display().to_string(),
                    reason: "not a zip, tar, tar.gz or tar.zst archive".to_owned(),
                })?;
            archive::fetch_archive_file(path, format, &base_name(path), options, run)?;
        }
        LocationKind::File | LocationKind::Auto => {
            if meta.is_dir() {
                return Err(FetchError::Location {
                    location: path.display().to_string(),
                    reason: "a directory, not a file".to_owned(),
                });
            }
            let name = base_name(path);
            if options.filter.accepts(&name) {
                let bytes = read_limited(path, options.max_document_bytes)?;
                run.document(name, bytes);
            } else {
                run.stats.filtered += 1;
            }
        }
        LocationKind::Http | LocationKind::NvdApi => {
            return Err(FetchError::Location {
                location: path.display().to_string(),
                reason: format!("kind {} needs a URL", kind.name()),
            });
        }
    }
    Ok(!run.stopped())
}

/// Walks `dir` depth-first in sorted order, naming documents `prefix/relative/path`.
fn walk(
    dir: &Path,
    prefix: &str,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<(), FetchError> {
    let mut entries: Vec<(String, std::path::PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_hidden(&name) {
            run.stats.filtered += 1;
            continue;
        }
        entries.push((name, entry.path()));
    }
    entries.sort();
    for (name, path) in entries {
        if run.stopped() {
            return Ok(());
        }
        // symlink_metadata: a symlinked directory is seen as a link and skipped; a
        // symlinked file is followed by the read below.
        let link = fs::symlink_metadata(&path).map_err(|e| io_error(&path, e))?;
        let doc_name = format!("{prefix}/{name}");
        if link.is_dir() {
            walk(&path, &doc_name, options, run)?;
            continue;
        }
        let meta = if link.file_type().is_symlink() {
            match fs::metadata(&path) {
                Ok(m) => m,
                // A dangling link is not a document.
                Err(_) => {
                    run.stats.filtered += 1;
                    continue;
                }
            }
        } else {
            link
        };
        if !meta.is_file() || !options.filter.accepts(&doc_name) {
            run.stats.filtered += 1;
            continue;
        }
        let bytes = read_limited(&path, options.max_document_bytes)?;
        run.document(doc_name, bytes);
    }
    Ok(())
}
