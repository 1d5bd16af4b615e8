//! Fetching: turn a configured feed location into documents for the connectors.
//!
//! A location is a local file, a directory, an archive (zip, tar, tar.gz, tar.zst), an
//! `http(s)://` URL (serving one document or an archive) or the NVD API 2.0 (`nvd-api`).
//! Documents are handed to a callback one at a time, so a huge `all.zip` is never held
//! whole in memory, together with a checkpoint [`FetchCursor`]: the previous cursor with
//! every document handed out so far applied. The caller commits documents in batches and
//! saves the checkpoint after each batch; a rerun after a crash resumes from it (documents
//! already committed come back [`Item::Unchanged`]).
//!
//! Removals ([`Item::Removed`]) are reported only for complete listings (a directory, an
//! archive, a single URL), after every present document was handed out.

pub mod archive;
pub mod http;
pub mod local;
pub mod nvd_api;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Source;
pub use http::HttpOptions;

/// Largest single document accepted from a file or archive entry (an archive entry's
/// declared size is not trusted: reading stops past this).
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

/// What kind of location a feed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LocationKind {
    /// Decide from the location: URL scheme, directory, archive suffix or magic, else file.
    #[default]
    Auto,
    /// One local document.
    File,
    /// A local directory, walked recursively.
    Dir,
    /// A local zip / tar / tar.gz / tar.zst archive.
    Archive,
    /// An `http(s)://` URL serving one document or an archive.
    Http,
    /// The NVD CVE API 2.0, paged by `startIndex` within `lastModified` windows.
    NvdApi,
}

impl LocationKind {
    /// The name used in the config file (`auto`, `file`, `dir`, `archive`, `http`, `nvd-api`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::File => "file",
            Self::Dir => "dir",
            Self::Archive => "archive",
            Self::Http => "http",
            Self::NvdApi => "nvd-api",
        }
    }
}

/// Where a feed's documents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path (file, directory or archive) with the kind asked for.
    Path {
        /// The path (already resolved against the config file's directory).
        path: PathBuf,
        /// `Auto`, `File`, `Dir` or `Archive`.
        kind: LocationKind,
    },
    /// An `http(s)://` URL.
    Http {
        /// The URL.
        url: String,
    },
    /// The NVD API 2.0 at `base_url` (`https://services.nvd.nist.gov/rest/json/cves/2.0`).
    NvdApi {
        /// The endpoint.
        base_url: String,
    },
}

impl Location {
    /// Reads a location as written in a config file: a URL (`http://`, `https://`) or a
    /// path, resolved against `base_dir` when relative. `kind` `nvd-api` requires a URL.
    pub fn parse(text: &str, kind: LocationKind, base_dir: &Path) -> Result<Self, FetchError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FetchError::Location {
                location: text.to_owned(),
                reason: "empty location".to_owned(),
            });
        }
        let is_url = is_http_url(text);
        if !is_url && text.contains("://") {
            return Err(FetchError::Location {
                location: text.to_owned(),
                reason: "only http:// and https:// URLs are supported".to_owned(),
            });
        }
        match kind {
            LocationKind::NvdApi if is_url => Ok(Self::NvdApi {
                base_url: text.to_owned(),
            }),
            LocationKind::NvdApi => Err(FetchError::Location {
                location: text.to_owned(),
                reason: "kind nvd-api needs an http(s) URL".to_owned(),
            }),
            LocationKind::Http | LocationKind::Auto if is_url => Ok(Self::Http {
                url: text.to_owned(),
            }),
            LocationKind::Http => Err(FetchError::Location {
                location: text.to_owned(),
                reason: "kind http needs an http(s) URL".to_owned(),
            }),
            _ if is_url => Err(FetchError::Location {
                location: text.to_owned(),
                reason: format!("kind {} needs a local path, not a URL", kind.name()),
            }),
            _ => {
                let path = Path::new(text);
                let path = if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    base_dir.join(path)
                };
                Ok(Self::Path { path, kind })
            }
        }
    }

    /// How the location is shown in messages and used as a cursor key.
    pub fn display(&self) -> String {
        match self {
            Self::Path { path, .. } => path.display().to_string(),
            Self::Http { url } => url.clone(),
            Self::NvdApi { base_url } => base_url.clone(),
        }
    }
}

/// Whether `text` starts with `http://` or `https://` (case-insensitive).
pub fn is_http_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Whether a file, directory or archive-entry name is hidden (skipped by the local and
/// archive walks alike).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Which document names a source wants (by file name; directories do not matter).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Accepted suffixes, lower case (`.json`, `.yaml`); empty = every name.
    pub extensions: Vec<String>,
    /// Accepted exact file names besides the suffixes (`DSA.list`).
    pub file_names: Vec<String>,
    /// File names never accepted (`index.json`).
    pub excluded_names: Vec<String>,
}

impl Filter {
    /// Every document.
    pub fn all() -> Self {
        Self::default()
    }

    /// The documents `source` reads: `.json`/`.yaml`/`.yml` for OSV and GHSA, `.json` for
    /// NVD, `DSA.list`/`DLA.list`/`.json` for Debian, `.yaml`/`.yml`/`.json` for Alpine, `.md`
    /// for RustSec, `.json` but never `index.json` for the Node.js WG. `schema.json`-like
    /// files are not excluded: the location should point at the records.
    pub fn for_source(source: Source) -> Self {
        let ext = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match source {
            Source::Osv | Source::Ghsa => Self {
                extensions: ext(&[".json", ".yaml", ".yml"]),
                ..Self::default()
            },
            Source::Nvd => Self {
                extensions: ext(&[".json"]),
                ..Self::default()
            },
            Source::Debian => Self {
                extensions: ext(&[".json"]),
                file_names: ext(&["DSA.list", "DLA.list"]),
                ..Self::default()
            },
            Source::Alpine => Self {
                extensions: ext(&[".yaml", ".yml", ".json"]),
                ..Self::default()
            },
            Source::Rustsec => Self {
                extensions: ext(&[".md"]),
                excluded_names: ext(&["README.md"]),
                ..Self::default()
            },
            Source::NodejsWg => Self {
                extensions: ext(&[".json"]),
                excluded_names: ext(&["index.json"]),
                ..Self::default()
            },
        }
    }

    /// Whether a document named `name` (a path; only its last component counts) is wanted.
    pub fn accepts(&self, name: &str) -> bool {
        let file = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
        if self.excluded_names.iter().any(|n| n == file) {
            return false;
        }
        if self.extensions.is_empty() && self.file_names.is_empty() {
            return true;
        }
        if self.file_names.iter().any(|n| n == file) {
            return true;
        }
        let lower = file.to_ascii_lowercase();
        self.extensions.iter().any(|e| lower.ends_with(e.as_str()))
    }
}

/// One document: its stable name (provenance), bytes and SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// `osv-pypi/aiohttp/PYSEC-2021-76.yaml` relative to the location, `all.zip!GHSA-x.json`
    /// for an archive entry, the URL (or `URL!entry`) for HTTP.
    pub name: String,
    /// The bytes as published.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Document {
    /// A document named `name` holding `bytes` (hashes them).
    pub fn new(name: String, bytes: Vec<u8>) -> Self {
        let sha256 = sha256_hex(&bytes);
        Self {
            name,
            bytes,
            sha256,
        }
    }
}

pub use crate::advisory::canonical::sha256_hex;

/// What a fetch says about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// New or different since the previous cursor: parse it.
    Changed(Document),
    /// Same fingerprint as in the previous cursor (name only).
    Unchanged(String),
    /// In the previous cursor, absent from this complete listing.
    Removed(String),
}

impl Item {
    /// The document's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Changed(d) => &d.name,
            Self::Unchanged(n) | Self::Removed(n) => n,
        }
    }
}

/// What a document was last seen as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fingerprint {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
}

/// HTTP validators of one URL, for conditional requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpValidators {
    /// The `ETag` last served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` last served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// SHA-256 of the whole body last served (a 200 with the same body is all Unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

/// Resumable state of one feed's fetch, stored by the store as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FetchCursor {
    /// Per document name, its fingerprint.
    #[serde(default)]
    pub documents: BTreeMap<String, Fingerprint>,
    /// Per URL, its HTTP validators.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http: BTreeMap<String, HttpValidators>,
    /// NVD API paging position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvd: Option<nvd_api::NvdCursor>,
}

impl FetchCursor {
    /// Reads a cursor from the JSON the store kept.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The JSON form to store.
    pub fn to_json(&self) -> String {
        // A map of strings and options always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Counts of one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchStats {
    /// Documents handed out as Changed.
    pub changed: usize,
    /// Documents handed out as Unchanged.
    pub unchanged: usize,
    /// Documents handed out as Removed.
    pub removed: usize,
    /// Entries skipped by the filter (or hidden, or not regular files).
    pub filtered: usize,
    /// HTTP requests sent.
    pub requests: usize,
}

/// The end of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The cursor to store (the last checkpoint).
    pub cursor: FetchCursor,
    /// False when the callback stopped the fetch early (no removals were reported, and
    /// the cursor keeps the documents not yet seen).
    pub complete: bool,
    /// Counts.
    pub stats: FetchStats,
}

/// Why a fetch failed. Everything the callback received before stays valid: the last
/// checkpoint it saw is the cursor to resume from.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The location text is not usable.
    #[error("location {location:?}: {reason}")]
    Location {
        /// The location.
        location: String,
        /// Why.
        reason: String,
    },
    /// A local file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An archive is corrupt or unreadable.
    #[error("archive {archive}: {reason}")]
    Archive {
        /// The archive.
        archive: String,
        /// Why.
        reason: String,
    },
    /// A document is larger than allowed.
    #[error("{name}: larger than {limit} bytes")]
    TooLarge {
        /// The document (or URL).
        name: String,
        /// The limit.
        limit: u64,
    },
    /// An HTTP request failed (after retries where they apply).
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why (status or transport error).
        reason: String,
    },
    /// An NVD API page could not be read.
    #[error("NVD API {url}: {reason}")]
    NvdPage {
        /// The page URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Options of one fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Which documents to hand out.
    pub filter: Filter,
    /// Largest single document (file or archive entry).
    pub max_document_bytes: u64,
    /// HTTP settings (used only for URL locations).
    pub http: HttpOptions,
    /// NVD API settings (used only for `nvd-api`).
    pub nvd: nvd_api::NvdOptions,
}

impl FetchOptions {
    /// Defaults for `source`: its [`Filter::for_source`], default limits and HTTP settings.
    pub fn for_source(source: Source) -> Self {
        Self {
            filter: Filter::for_source(source),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            http: HttpOptions::default(),
            nvd: nvd_api::NvdOptions::default(),
        }
    }
}

/// What the callback says after each item: go on, or stop here.
pub type Flow = ControlFlow<()>;

/// Fetches every document of `location`, comparing with `previous`, and hands each
/// [`Item`] to `sink` with the checkpoint cursor that includes it. Local locations never
/// touch the network.
pub fn fetch(
    location: &Location,
    options: &FetchOptions,
    previous: &FetchCursor,
    sink: &mut dyn FnMut(Item, &FetchCursor) -> Flow,
) -> Result<FetchOutcome, FetchError> {
    fetch_with_client(location, options, None, previous, sink)
}

/// Like [`fetch`], with an [`http::HttpClient`] the caller keeps across fetches of the
/// same feed, so its rate limit also spaces requests of consecutive runs (a new client
/// is made from `options.http` when `client` is `None`; `options.http` is otherwise unused).
pub fn fetch_with_client(
    location: &Location,
    options: &FetchOptions,
    client: Option<&http::HttpClient>,
    previous: &FetchCursor,
    sink: &mut dyn FnMut(Item, &FetchCursor) -> Flow,
) -> Result<FetchOutcome, FetchError> {
    let own;
    let client = match (location, client) {
        (Location::Path { .. }, _) | (_, Some(_)) => client,
        (_, None) => {
            own = http::HttpClient::new(options.http.clone())?;
            Some(&own)
        }
    };
    match (location, client) {
        (Location::Path { path, kind }, _) => {
            let mut run = Run::new(previous, sink);
            let complete = local::fetch_path(path, *kind, options, &mut run)?;
            Ok(run.finish(complete, |_| true))
        }
        (Location::Http { url }, Some(client)) => {
            http::fetch_url(client, url, options, previous, sink)
        }
        (Location::NvdApi { base_url }, Some(client)) => {
            nvd_api::fetch_pages(client, base_url, &options.nvd, previous, sink)
        }
        // Unreachable: a client was made above for every URL location.
        (_, None) => Err(FetchError::Location {
            location: location.display(),
            reason: "no HTTP client".to_owned(),
        }),
    }
}

/// The state of one complete-listing fetch: the checkpoint cursor and the names seen.
pub(crate) struct Run<'a> {
    previous: &'a FetchCursor,
    pub(crate) cursor: FetchCursor,
    seen: std::collections::HashSet<String>,
    sink: &'a mut dyn FnMut(Item, &FetchCursor) -> Flow,
    pub(crate) stats: FetchStats,
    stopped: bool,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        previous: &'a FetchCursor,
        sink: &'a mut dyn FnMut(Item, &FetchCursor) -> Flow,
    ) -> Self {
        Self {
            previous,
            cursor: previous.clone(),
            seen: std::collections::HashSet::new(),
            sink,
            stats: FetchStats::default(),
            stopped: false,
        }
    }

    /// Whether the callback asked to stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Hands out one document read now; returns false when the callback stopped.
    pub(crate) fn document(&mut self, name: String, bytes: Vec<u8>) -> bool {
        let sha256 = sha256_hex(&bytes);
        self.seen.insert(name.clone());
        let same = self
            .previous
            .documents
            .get(&name)
            .is_some_and(|f| f.sha256 == sha256);
        let item = if same {
            self.stats.unchanged += 1;
            Item::Unchanged(name)
        } else {
            self.cursor.documents.insert(
                name.clone(),
                Fingerprint {
                    sha256: sha256.clone(),
                },
            );
            self.stats.changed += 1;
            Item::Changed(Document {
                name,
                bytes,
                sha256,
            })
        };
        self.emit(item)
    }

    /// Hands out a document known unchanged without reading it (HTTP 304).
    pub(crate) fn unchanged(&mut self, name: String) -> bool {
        self.seen.insert(name.clone());
        self.stats.unchanged += 1;
        self.emit(Item::Unchanged(name))
    }

    fn emit(&mut self, item: Item) -> bool {
        if (self.sink)(item, &self.cursor).is_break() {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Reports removals among the previous documents that `owned` says belong to this
    /// listing (when it completed) and returns the outcome.
    pub(crate) fn finish(mut self, complete: bool, owned: impl Fn(&str) -> bool) -> FetchOutcome {
        let complete = complete && !self.stopped;
        if complete {
            let gone: Vec<String> = self
                .previous
                .documents
                .keys()
                .filter(|n| owned(n) && !self.seen.contains(*n))
                .cloned()
                .collect();
            for name in gone {
                self.cursor.documents.remove(&name);
                self.stats.removed += 1;
                if !self.emit(Item::Removed(name)) {
                    break;
                }
            }
        }
        FetchOutcome {
            cursor: self.cursor,
            complete: complete && !self.stopped,
            stats: self.stats,
        }
    }
}
