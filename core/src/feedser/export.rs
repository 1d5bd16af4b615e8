//! Export of canonical advisories: canonical JSON, the matcher snapshot and a manifest.
//!
//! Layout of an export directory:
//! - `advisories/<shard>/<file-id>.json` (layout [`Layout::Files`]) — one advisory per
//!   file, exactly [`CanonicalAdvisory::canonical_json`] (so a file's SHA-256 is the
//!   advisory's [`CanonicalAdvisory::digest`]); `<file-id>` is [`file_id`] of the id and
//!   `<shard>` the first two hex digits of the SHA-256 of the id, so no directory holds
//!   more than a few thousand files;
//! - or `advisories.jsonl` ([`Layout::Jsonl`]) — one canonical JSON advisory per line,
//!   sorted by id, each line ending in `\n`;
//! - `matcher.db` — the matcher snapshot ([`super::snapshot`]);
//! - `manifest.json` — [`ExportManifest`] as canonical JSON, written last: a directory
//!   without it is an interrupted export.
//!
//! **Root digest.** `root_digest` is the SHA-256 (lower-case hex) of the listing made of
//! one line `<sha256 hex>  <path>\n` (two spaces) per file of `files`, sorted by path
//! bytes — exactly what `sha256sum` prints, so from the export directory:
//!
//! ```text
//! find . -type f ! -name manifest.json ! -name manifest.sig | sed 's|^\./||' \
//!   | LC_ALL=C sort | xargs sha256sum | sha256sum
//! ```
//!
//! **Reproducible.** Nothing depends on the input order, the thread count or the clock:
//! advisories are sorted by id, `created` comes from the inputs (the latest `modified`)
//! or from [`ExportOptions::created`], and the matcher DB is built deterministically.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::snapshot::{self, SnapshotError};
use crate::advisory::canonical::{CanonicalAdvisory, canonical_json, sha256_hex};

/// `format` of every manifest.
pub const FORMAT: &str = "stellaops-feed-export";
/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Name of the matcher snapshot file.
pub const MATCHER_DB: &str = "matcher.db";
/// Name of the JSONL advisories file.
pub const ADVISORIES_JSONL: &str = "advisories.jsonl";
/// Folder of the one-file-per-advisory layout.
pub const ADVISORIES_DIR: &str = "advisories";
/// `created` when neither the options nor any advisory give a time.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// How advisories are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One file per advisory under `advisories/<shard>/`.
    #[default]
    Files,
    /// One `advisories.jsonl` file.
    Jsonl,
}

/// Options of [`write()`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// How advisories are written.
    pub layout: Layout,
    /// `created` of the manifest (RFC 3339); default: the latest `modified` of any
    /// advisory (never the wall clock, so the export is reproducible).
    pub created: Option<String>,
    /// Threads serialising advisories (0: one per core). Does not change the output.
    pub threads: usize,
    /// Leave out `matcher.db`.
    pub skip_matcher_db: bool,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the export directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// `manifest.json`: what an export holds and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// When the data is from (RFC 3339 UTC, seconds).
    pub created: String,
    /// Number of advisories.
    pub advisory_count: u64,
    /// How advisories are written.
    pub layout: Layout,
    /// Every file but the manifest (and a kit's signature), sorted by path.
    pub files: Vec<ManifestFile>,
    /// SHA-256 of the `sha256sum`-style listing of `files` (see the module docs).
    pub root_digest: String,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output directory exists and is not empty.
    #[error("export directory {path} is not empty")]
    NotEmpty {
        /// The directory.
        path: String,
    },
    /// Two advisories share an id.
    #[error("advisory id {id} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// An advisory id cannot name a file (empty).
    #[error("an advisory has an empty id")]
    EmptyId,
    /// `created` is not an RFC 3339 time.
    #[error("created time {value:?} is not RFC 3339")]
    BadCreated {
        /// The value given.
        value: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The matcher snapshot failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `advisories` (any order) to `out_dir` (created if missing, must be empty) and
/// returns the manifest it wrote last as `manifest.json`.
pub fn write(
    advisories: &[CanonicalAdvisory],
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportManifest, ExportError> {
    let mut sorted: Vec<&CanonicalAdvisory> = advisories.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    if sorted.iter().any(|a| a.id.is_empty()) {
        return Err(ExportError::EmptyId);
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(ExportError::DuplicateId {
            id: w[0].id.clone(),
        });
    }
    let created = match &options.created {
        Some(text) => normalise_time(text).ok_or_else(|| ExportError::BadCreated {
            value: text.clone(),
        })?,
        None => latest_modified(advisories),
    };
    prepare_dir(out_dir)?;

    let jsons = serialise(&sorted, options.threads);
    let mut files = Vec::with_capacity(sorted.len() + 2);
    match options.layout {
        Layout::Files => {
            for (a, json) in sorted.iter().zip(&jsons) {
                let rel = advisory_path(&a.id);
                files.push(write_file(out_dir, &rel, json)?);
            }
        }
        Layout::Jsonl => {
            let path = out_dir.join(ADVISORIES_JSONL);
            let file = std::fs::File::create(&path).map_err(io_err(&path))?;
            let mut w = HashingWriter::new(std::io::BufWriter::new(file));
            for json in &jsons {
                w.write_all(json).map_err(io_err(&path))?;
                w.write_all(b"\n").map_err(io_err(&path))?;
            }
            let (size, sha256) = w.finish().map_err(io_err(&path))?;
            files.push(ManifestFile {
                path: ADVISORIES_JSONL.into(),
                size,
                sha256,
            });
        }
    }
    drop(jsons);
    if !options.skip_matcher_db {
        let path = out_dir.join(MATCHER_DB);
        snapshot::build_db(advisories, &path, &created)?;
        files.push(hash_file(out_dir, MATCHER_DB)?);
    }
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let manifest = ExportManifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created,
        advisory_count: sorted.len() as u64,
        layout: options.layout,
        root_digest: root_digest(&files),
        files,
    };
    let path = out_dir.join(MANIFEST);
    std::fs::write(&path, manifest.to_bytes()).map_err(io_err(&path))?;
    Ok(manifest)
}

impl ExportManifest {
    /// The manifest as written: canonical JSON (sorted keys, no whitespace).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_value(self)
            .map(|v| canonical_json(&v))
            .unwrap_or_default()
    }
}

/// The root digest of `files` (see the module docs for the definition).
pub fn root_digest(files: &[ManifestFile]) -> String {
    let mut sorted: Vec<&ManifestFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut listing = String::new();
    for f in sorted {
        listing.push_str(&f.sha256);
        listing.push_str("  ");
        listing.push_str(&f.path);
        listing.push('\n');
    }
    sha256_hex(listing.as_bytes())
}

/// An advisory id as a file name, reversibly ([`id_from_file_id`]): bytes outside
/// `A-Z a-z 0-9 - _ .` and `%` itself become `%XX` (upper-case hex), and so does a
/// leading `.`, so no id can name `.`, `..` or a hidden file.
pub fn file_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The id a [`file_id`] came from; `None` when `name` is not one.
pub fn id_from_file_id(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let id = String::from_utf8(out).ok()?;
    // Only the canonical spelling is accepted, so one id has one file name.
    (file_id(&id) == name).then_some(id)
}

/// Path of an advisory's file in the [`Layout::Files`] layout.
pub fn advisory_path(id: &str) -> String {
    let shard = sha256_hex(id.as_bytes());
    format!(
        "{ADVISORIES_DIR}/{}/{}.json",
        shard.get(..2).unwrap_or("00"),
        file_id(id)
    )
}

/// `text` as RFC 3339 UTC with seconds (`2024-01-02T03:04:05Z`), or `None`.
pub(crate) fn normalise_time(text: &str) -> Option<String> {
    parse_time(text).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// `text` as an instant, when it is RFC 3339.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The latest `modified` of any advisory, or [`EPOCH`].
fn latest_modified(advisories: &[CanonicalAdvisory]) -> String {
    advisories
        .iter()
        .filter_map(|a| a.modified.as_deref().and_then(parse_time))
        .max()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| EPOCH.to_string())
}

fn prepare_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    if entries.next().is_some() {
        return Err(ExportError::NotEmpty {
            path: dir.display().to_string(),
        });
    }
    Ok(())
}

/// Canonical JSON of each advisory, in the given order, on up to `threads` threads.
fn serialise(sorted: &[&CanonicalAdvisory], threads: usize) -> Vec<Vec<u8>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if threads <= 1 || sorted.len() < 2 {
        return sorted.iter().map(|a| a.canonical_json()).collect();
    }
    let chunk = sorted.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = sorted
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|a| a.canonical_json()).collect()))
            .collect();
        // Joined in chunk order, so the result is in input order whatever the scheduling;
        // a panicking worker cannot happen (serialising is infallible) but is re-done here.
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(sorted.len());
        for (h, part) in handles.into_iter().zip(sorted.chunks(chunk)) {
            match h.join() {
                Ok(v) => out.extend::<Vec<Vec<u8>>>(v),
                Err(_) => out.extend(part.iter().map(|a| a.canonical_json())),
            }
        }
        out
    })
}

fn write_file(dir: &Path, rel: &str, bytes: &[u8]) -> Result<ManifestFile, ExportError> {
    let path: PathBuf = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&path, bytes).map_err(io_err(&path))?;
    Ok(ManifestFile {
        path: rel.to_string(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    })
}

/// Size and SHA-256 of an existing file, streamed.
pub(crate) fn hash_file(dir: &Path, rel: &str) -> Result<ManifestFile, ExportError> {
    let path = dir.join(rel);
    let (size, sha256) = hash_path(&path).map_err(io_err(&path))?;
    Ok(ManifestFile {
        path: rel.to_string(),
        size,
        sha256,
    })
}

/// Size and SHA-256 (hex) of the file at `path`, streamed.
pub(crate) fn hash_path(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut w = HashingWriter::new(std::io::sink());
    std::io::copy(&mut file, &mut w)?;
    w.finish()
}

/// A writer that counts and hashes what passes through it.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> std::fmt::Debug for HashingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingWriter")
            .field("size", &self.size)
            .finish()
    }
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        use sha2::Digest;
        Self {
            inner,
            hasher: sha2::Sha256::new(),
            size: 0,
        }
    }

    /// Flushes and returns (size, SHA-256 hex).
    pub(crate) fn finish(mut self) -> std::io::Result<(u64, String)> {
        use sha2::Digest;
        self.inner.flush()?;
        Ok((self.size, crate::hex::encode(&self.hasher.finalize())))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_are_reversible_and_safe() {
        for id in [
            "CVE-2023-23934",
            "GHSA-px8h-6qxv-m22q",
            "../etc/passwd",
            ".hidden",
            "a/b:c%d é",
            "DLA-3346-1",
        ] {
            let f = file_id(id);
            assert!(!f.contains('/') && !f.starts_with('.'), "{f}");
            assert_eq!(id_from_file_id(&f).as_deref(), Some(id));
        }
        assert_eq!(file_id("CVE-2023-1"), "CVE-2023-1");
        assert_eq!(file_id("a/b"), "a%2Fb");
        // Non-canonical spellings and broken escapes are not ids.
        assert_eq!(id_from_file_id("a%2fb"), None);
        assert_eq!(id_from_file_id("a%2"), None);
        assert_eq!(id_from_file_id("%41"), None);
    }

    #[test]
    fn root_digest_matches_sha256sum_listing() {
        let files = vec![
            ManifestFile {
                path: "b".into(),
                size: 0,
                sha256: sha256_hex(b""),
            },
            ManifestFile {
                path: "a".into(),
                size: 1,
                sha256: sha256_hex(b"x"),
            },
        ];
        let listing = format!("{}  a\n{}  b\n", sha256_hex(b"x"), sha256_hex(b""));
        assert_eq!(root_digest(&files), sha256_hex(listing.as_bytes()));
    }

    #[test]
    fn times_are_normalised_to_utc_seconds() {
        assert_eq!(
            normalise_time("2024-01-02T05:04:05.123+02:00").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(normalise_time("yesterday"), None);
    }
}
