//! The feed store: what Feedser keeps between runs. Source records per feed and document,
//! the canonical advisories merged from them, the merge events, and each feed's state
//! (cursor, last success, last error, counts).
//!
//! One trait, [`FeedStore`], two backends: SQLite ([`sqlite`], the embedded default) and
//! MongoDB (`mongo`, behind the default cargo feature `mongo`). The same test suite runs on
//! both (`core/tests/it/feed_store*.rs`).
//!
//! Atomicity: everything one sync step changes (a feed's documents, its state, the
//! advisories and events of the merge that followed) is one [`Changeset`], written by
//! [`FeedStore::commit`] in one transaction. A crash before the commit ends leaves the
//! store as it was; running the step again then produces the same changeset, so nothing
//! is lost or duplicated.

#[cfg(feature = "mongo")]
pub mod mongo;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::advisory::canonical::CanonicalAdvisory;
use crate::feedser::merge::MergeEvent;
use crate::feedser::{Skipped, SourceRecord};

/// A source record as stored: the record, the feed that produced it, and the fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The configured feed's name (`pypa`, `debian`); several feeds may share a source.
    pub feed: String,
    /// The fetch that last changed this record (see [`FetchRun::id`]).
    pub fetch_id: String,
    /// The record.
    pub record: SourceRecord,
}

/// One run of one feed's fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRun {
    /// Unique id (`<feed>@<started>`), recorded in provenance.
    pub id: String,
    /// RFC 3339 start time.
    pub started: String,
    /// RFC 3339 end time.
    pub finished: String,
}

/// The records and skipped entries of one document, replacing what the store held for
/// that (feed, document).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentRecords {
    /// The document name (see [`SourceRecord::document`]).
    pub document: String,
    /// Its records, in document order, each with the fetch that last changed it (the
    /// sync keeps a record's old fetch id when its content did not change).
    pub records: Vec<StoredRecord>,
    /// Its skipped entries.
    pub skipped: Vec<Skipped>,
}

/// What a feed's last runs left behind: shown by `stella feeds status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeedState {
    /// The feed's name.
    pub feed: String,
    /// Its source's name (`osv`, `debian`, ...).
    pub source: String,
    /// The fetch cursor (opaque to the store: the fetch layer's JSON).
    pub cursor: serde_json::Value,
    /// RFC 3339 time of the last attempt, successful or not.
    pub last_attempt: Option<String>,
    /// RFC 3339 time of the last successful run.
    pub last_success: Option<String>,
    /// The last run's error, with context; `None` after a success.
    pub last_error: Option<String>,
    /// Id of the last successful fetch.
    pub last_fetch: Option<String>,
}

/// Counts the store derives from its rows (never stored separately, so never stale).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeedCounts {
    /// Documents held.
    pub documents: u64,
    /// Records held.
    pub records: u64,
    /// Skipped entries held.
    pub skipped: u64,
    /// Latest `modified` of the feed's records (RFC 3339 text, compared as text).
    pub newest_modified: Option<String>,
}

/// The part of a [`Changeset`] that belongs to one feed's fetch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeedChange {
    /// The feed.
    pub feed: String,
    /// The fetch that produced the change.
    pub fetch: Option<FetchRun>,
    /// Documents whose records are replaced (absent documents keep theirs).
    pub documents: Vec<DocumentRecords>,
    /// Documents that no longer exist: their records and skipped entries go.
    pub removed_documents: Vec<String>,
    /// The feed's state after the change.
    pub state: FeedState,
}

/// The result of a merge, to store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeChange {
    /// Advisories created or updated (written whole, replacing the old version).
    pub upserts: Vec<CanonicalAdvisory>,
    /// Canonical ids of advisories that no longer exist.
    pub retracted: Vec<String>,
    /// One event per changed advisory.
    pub events: Vec<MergeEvent>,
}

/// Everything one step changes, written atomically by [`FeedStore::commit`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changeset {
    /// The feed's fetch result, if this step fetched.
    pub feed: Option<FeedChange>,
    /// The merge that followed.
    pub merge: MergeChange,
    /// Store-wide metadata to set (e.g. `installed_kit` after a kit import).
    pub meta: Vec<(String, serde_json::Value)>,
    /// RFC 3339 time written on the merge events.
    pub at: String,
}

/// A merge event as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMergeEvent {
    /// Position in the log, from 1, increasing.
    pub seq: u64,
    /// RFC 3339 time of the commit that wrote it.
    pub at: String,
    /// The event.
    pub event: MergeEvent,
}

/// Errors of the feed stores.
#[derive(Debug, thiserror::Error)]
pub enum FeedStoreError {
    /// SQLite failed.
    #[error("feed store {path}: {source}")]
    Sqlite {
        /// The store file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// MongoDB failed.
    #[error("feed store (MongoDB {database}): {reason}")]
    Mongo {
        /// The database name.
        database: String,
        /// What the driver said.
        reason: String,
    },
    /// A stored row could not be decoded.
    #[error("feed store {store}: corrupt {what}: {reason}")]
    Corrupt {
        /// The store (path or database).
        store: String,
        /// Which row (`record pypa/PYSEC-2021-76.yaml#0`, `advisory CVE-…`).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A changeset contradicts itself (a record filed under another feed or document, a
    /// state for another feed, a document both replaced and removed); nothing was written.
    #[error("invalid feed store change: {reason}")]
    InvalidChange {
        /// What is inconsistent.
        reason: String,
    },
    /// The store was written by a newer StellaOps.
    #[error("feed store {store} has schema version {found}; this build knows up to {known}")]
    SchemaTooNew {
        /// The store.
        store: String,
        /// Version found.
        found: i64,
        /// Newest version known.
        known: i64,
    },
}

/// What Feedser keeps between runs. Reads return data sorted as documented, so callers
/// (merge, export) see the same order from every backend.
pub trait FeedStore: Send {
    /// Every stored record, sorted by (feed, document, position in document).
    fn records(&self) -> Result<Vec<StoredRecord>, FeedStoreError>;

    /// The skipped entries of `feed`, sorted by (document, position).
    fn skipped(&self, feed: &str) -> Result<Vec<Skipped>, FeedStoreError>;

    /// Every canonical advisory, sorted by id.
    fn advisories(&self) -> Result<Vec<CanonicalAdvisory>, FeedStoreError>;

    /// The advisory whose id or one of whose aliases is `id` (exact match).
    fn advisory(&self, id: &str) -> Result<Option<CanonicalAdvisory>, FeedStoreError>;

    /// Every feed's state, sorted by feed name.
    fn feed_states(&self) -> Result<Vec<FeedState>, FeedStoreError>;

    /// One feed's state.
    fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, FeedStoreError>;

    /// Counts of what the store holds for `feed`.
    fn feed_counts(&self, feed: &str) -> Result<FeedCounts, FeedStoreError>;

    /// Merge events with `seq > after`, oldest first, at most `limit`.
    fn merge_events(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMergeEvent>, FeedStoreError>;

    /// A store-wide metadata value.
    fn meta(&self, key: &str) -> Result<Option<serde_json::Value>, FeedStoreError>;

    /// Writes `change` in one transaction: all of it or none of it.
    fn commit(&mut self, change: &Changeset) -> Result<(), FeedStoreError>;

    /// Records a failed run of `feed` (last attempt and error), touching nothing else.
    /// Creates the state when the feed has none yet.
    fn record_failure(
        &mut self,
        feed: &str,
        source: &str,
        at: &str,
        error: &str,
    ) -> Result<(), FeedStoreError>;
}

/// Checks that a changeset is consistent before a backend writes any of it: every record
/// and skipped entry of a document names that document and the change's feed, no document
/// is listed twice or both replaced and removed, and the state belongs to the feed.
pub(crate) fn validate(change: &Changeset) -> Result<(), FeedStoreError> {
    let Some(fc) = &change.feed else {
        return Ok(());
    };
    let invalid = |reason: String| Err(FeedStoreError::InvalidChange { reason });
    if fc.state.feed != fc.feed {
        return invalid(format!(
            "feed `{}` carries the state of feed `{}`",
            fc.feed, fc.state.feed
        ));
    }
    let removed: std::collections::HashSet<&str> =
        fc.removed_documents.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    for doc in &fc.documents {
        if removed.contains(doc.document.as_str()) {
            return invalid(format!(
                "feed `{}`: document `{}` is both replaced and removed",
                fc.feed, doc.document
            ));
        }
        if !seen.insert(doc.document.as_str()) {
            return invalid(format!(
                "feed `{}`: document `{}` is replaced twice",
                fc.feed, doc.document
            ));
        }
        for r in &doc.records {
            if r.feed != fc.feed || r.record.document != doc.document {
                return invalid(format!(
                    "feed `{}`, document `{}`: record {} belongs to feed `{}`, document `{}`",
                    fc.feed, doc.document, r.record.record.id, r.feed, r.record.document
                ));
            }
        }
        if let Some(s) = doc.skipped.iter().find(|s| s.document != doc.document) {
            return invalid(format!(
                "feed `{}`, document `{}`: skipped entry {} belongs to document `{}`",
                fc.feed, doc.document, s.location, s.document
            ));
        }
    }
    Ok(())
}

impl From<crate::sqlite::SqliteError> for FeedStoreError {
    fn from(e: crate::sqlite::SqliteError) -> Self {
        use crate::sqlite::SqliteError as E;
        match e {
            E::Sqlite { path, source } => FeedStoreError::Sqlite { path, source },
            E::SchemaTooNew { path, found, known } => FeedStoreError::SchemaTooNew {
                store: path,
                found,
                known,
            },
            // The feed store never opens read-only.
            missing @ E::Missing { .. } => {
                let (path, source) = missing.into_sqlite();
                FeedStoreError::Sqlite { path, source }
            }
        }
    }
}
