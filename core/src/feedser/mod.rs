//! Feedser: harvest advisory sources, normalise each record to OSV (the interchange
//! form every connector produces), merge records that describe the same
//! vulnerability into canonical advisories with provenance, and export snapshots.
//!
//! Connectors (`connectors/`, one file per source) are pure parsers: bytes of one
//! source document in, [`Parsed`] out. Fetching (files, archives, HTTP) and cursors
//! live outside them, so they are tested on the real sample without I/O.

pub mod config;
pub mod connectors;
pub mod export;
pub mod fetch;
pub mod kit;
pub mod merge;
pub mod runner;
pub mod schedule;
pub mod snapshot;
pub mod store;
pub mod sync;

use crate::advisory::osv::OsvRecord;

/// A source of advisories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An OSV database (PyPA, Go, RustSec's OSV export, osv.dev exports).
    Osv,
    /// The GitHub Advisory Database (OSV JSON).
    Ghsa,
    /// NVD CVE API 2.0.
    Nvd,
    /// The Debian security tracker (DSA/DLA lists, JSON export).
    Debian,
    /// Alpine secdb.
    Alpine,
    /// RustSec's native advisories (TOML front matter in Markdown).
    Rustsec,
    /// The Node.js security working group's ecosystem advisories.
    NodejsWg,
}

impl Source {
    /// The name used on the command line and in provenance (`osv`, `ghsa`, `nvd`,
    /// `debian`, `alpine`, `rustsec`, `nodejs-wg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Osv => "osv",
            Self::Ghsa => "ghsa",
            Self::Nvd => "nvd",
            Self::Debian => "debian",
            Self::Alpine => "alpine",
            Self::Rustsec => "rustsec",
            Self::NodejsWg => "nodejs-wg",
        }
    }

    /// Every source, in a fixed order.
    pub const ALL: [Source; 7] = [
        Self::Osv,
        Self::Ghsa,
        Self::Nvd,
        Self::Debian,
        Self::Alpine,
        Self::Rustsec,
        Self::NodejsWg,
    ];

    /// The source named `name` (see [`Source::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One advisory as a source published it, normalised to OSV, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The source.
    pub source: Source,
    /// The document it was read from (path inside the input, or URL), for provenance.
    pub document: String,
    /// Where in the document (`DSA-5091-1`, `$.vulnerabilities[3]`, `packages[12]`).
    pub location: String,
    /// The record, in OSV form. Source-only data (NVD CPE configurations, CWE ids,
    /// the native range strings) stays under `database_specific`.
    pub record: OsvRecord,
}

/// An entry of a document that was not turned into a record, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The document.
    pub document: String,
    /// Where in the document.
    pub location: String,
    /// Why (a clear sentence: `no fixed version and no <not-affected> marker`).
    pub reason: String,
}

/// What a connector made of one document: the records, and the entries it skipped.
/// A document that cannot be read at all is a [`ConnectorError`] instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Records read.
    pub records: Vec<SourceRecord>,
    /// Entries skipped, with reasons.
    pub skipped: Vec<Skipped>,
}

/// Why a whole document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {document}: {reason}")]
pub struct ConnectorError {
    /// The source's name.
    pub source_name: &'static str,
    /// The document.
    pub document: String,
    /// What is wrong (with a location when there is one).
    pub reason: String,
}

impl ConnectorError {
    /// An error of `source` about `document`.
    pub fn new(source: Source, document: &str, reason: impl Into<String>) -> Self {
        Self {
            source_name: source.name(),
            document: document.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Refuses a document larger than `max` bytes, before any parsing.
pub(crate) fn check_size(
    source: Source,
    document: &str,
    bytes: &[u8],
    max: usize,
) -> Result<(), ConnectorError> {
    if bytes.len() > max {
        return Err(ConnectorError::new(
            source,
            document,
            format!(
                "document is {} bytes, more than the limit of {max}",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

/// Parses a JSON document within size and nesting limits (depth is checked on the
/// raw bytes, before the parser can recurse).
pub(crate) fn json_document(
    source: Source,
    document: &str,
    bytes: &[u8],
    max_bytes: usize,
    max_depth: usize,
) -> Result<serde_json::Value, ConnectorError> {
    check_size(source, document, bytes, max_bytes)?;
    if crate::json_depth::exceeds(bytes, max_depth) {
        return Err(ConnectorError::new(
            source,
            document,
            format!("JSON nests deeper than the limit of {max_depth}"),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ConnectorError::new(source, document, format!("invalid JSON: {e}")))
}

/// `items.map(f)` on every CPU, in order: chunks run on scoped threads and are joined in
/// sequence, so the result is the same as a sequential map whatever the thread count.
pub(crate) fn parallel_map<'a, T: Sync, U: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> U + Sync,
) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Small inputs are not worth a thread.
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<U>>())
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // A panic in `f` is a bug; surface it on the calling thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
