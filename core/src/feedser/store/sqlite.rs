//! The embedded feed store: one SQLite file (WAL, versioned schema in `user_version`).
//!
//! Records, skipped entries, advisories and events are kept as JSON text beside the few
//! columns that reads sort or filter on; every write of a [`Changeset`] happens in one
//! transaction with cached prepared statements.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    Changeset, FeedChange, FeedCounts, FeedState, FeedStore, FeedStoreError, MergeChange,
    StoredMergeEvent, StoredRecord, validate,
};
use crate::advisory::canonical::CanonicalAdvisory;
use crate::feedser::{Skipped, Source, SourceRecord};

/// Schema steps; index + 1 is the `user_version` each step produces.
const STEPS: &[&str] = &[
    // 1: the first layout.
    "CREATE TABLE documents (
         feed     TEXT NOT NULL,
         document TEXT NOT NULL,
         PRIMARY KEY (feed, document)
     ) STRICT;
     CREATE TABLE records (
         feed      TEXT NOT NULL,
         document  TEXT NOT NULL,
         pos       INTEGER NOT NULL,
         source    TEXT NOT NULL,
         record_id TEXT NOT NULL,
         location  TEXT NOT NULL,
         fetch_id  TEXT NOT NULL,
         modified  TEXT NOT NULL,  -- copied out of the JSON for `newest_modified`
         json      TEXT NOT NULL   -- the OSV record
     ) STRICT;
     CREATE UNIQUE INDEX records_key ON records (feed, document, pos);
     CREATE TABLE skipped (
         feed     TEXT NOT NULL,
         document TEXT NOT NULL,
         pos      INTEGER NOT NULL,
         location TEXT NOT NULL,
         reason   TEXT NOT NULL,
         PRIMARY KEY (feed, document, pos)
     ) STRICT;
     CREATE TABLE fetches (
         id       TEXT PRIMARY KEY,
         feed     TEXT NOT NULL,
         started  TEXT NOT NULL,
         finished TEXT NOT NULL
     ) STRICT;
     CREATE TABLE feed_state (
         feed         TEXT PRIMARY KEY,
         source       TEXT NOT NULL,
         cursor       TEXT NOT NULL,  -- JSON
         last_attempt TEXT,
         last_success TEXT,
         last_error   TEXT,
         last_fetch   TEXT
     ) STRICT;
     CREATE TABLE advisories (
         id   TEXT PRIMARY KEY,
         json TEXT NOT NULL
     ) STRICT;
     -- Every id an advisory answers to (its own id included), for `advisory(id)`.
     CREATE TABLE advisory_ids (
         alias TEXT NOT NULL,
         id    TEXT NOT NULL,
         PRIMARY KEY (alias, id)
     ) STRICT;
     CREATE INDEX advisory_ids_by_id ON advisory_ids (id);
     CREATE TABLE merge_events (
         seq          INTEGER PRIMARY KEY AUTOINCREMENT,
         at           TEXT NOT NULL,
         canonical_id TEXT NOT NULL,
         json         TEXT NOT NULL
     );
     CREATE TABLE meta (
         key  TEXT PRIMARY KEY,
         json TEXT NOT NULL
     ) STRICT;",
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = STEPS.len() as i64;

/// A feed store in one SQLite file.
#[derive(Debug)]
pub struct SqliteFeedStore {
    conn: Connection,
    path: String,
}

fn sqlite(path: &str) -> impl Fn(rusqlite::Error) -> FeedStoreError + '_ {
    move |source| FeedStoreError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

impl SqliteFeedStore {
    /// Opens (creating and migrating as needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<SqliteFeedStore, FeedStoreError> {
        Self::init(crate::sqlite::open(path)?, path.display().to_string())
    }

    /// A store in memory (tests, benchmarks); gone when dropped.
    pub fn open_in_memory() -> Result<SqliteFeedStore, FeedStoreError> {
        Self::init(crate::sqlite::open_in_memory()?, ":memory:".to_owned())
    }

    /// The store's path (`:memory:` for an in-memory store).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn init(mut conn: Connection, path: String) -> Result<SqliteFeedStore, FeedStoreError> {
        // A sync writes megabytes per commit: checkpoint (and fsync) every 16 MiB of WAL
        // rather than SQLite's default 4 MiB.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 4096; PRAGMA temp_store = MEMORY;")
            .map_err(sqlite(&path))?;
        conn.set_prepared_statement_cache_capacity(64);
        crate::sqlite::migrate(&mut conn, &path, STEPS)?;
        Ok(SqliteFeedStore { conn, path })
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, FeedStoreError> {
        Ok(crate::sqlite::schema_version(&self.conn, &self.path)?)
    }

    fn corrupt(&self, what: String, reason: impl ToString) -> FeedStoreError {
        FeedStoreError::Corrupt {
            store: self.path.clone(),
            what,
            reason: reason.to_string(),
        }
    }
}

/// Writes one feed's part of a changeset inside `tx`.
fn write_feed(tx: &Transaction<'_>, path: &str, change: &FeedChange) -> Result<(), FeedStoreError> {
    let e = sqlite(path);
    let feed = change.feed.as_str();
    let mut del_records = tx
        .prepare_cached("DELETE FROM records WHERE feed = ?1 AND document = ?2")
        .map_err(&e)?;
    let mut del_skipped = tx
        .prepare_cached("DELETE FROM skipped WHERE feed = ?1 AND document = ?2")
        .map_err(&e)?;
    let mut del_document = tx
        .prepare_cached("DELETE FROM documents WHERE feed = ?1 AND document = ?2")
        .map_err(&e)?;
    let mut ins_document = tx
        .prepare_cached("INSERT OR IGNORE INTO documents (feed, document) VALUES (?1, ?2)")
        .map_err(&e)?;
    let mut ins_record = tx
        .prepare_cached(
            "INSERT INTO records (feed, document, pos, source, record_id, location, fetch_id, modified, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(&e)?;
    let mut ins_skipped = tx
        .prepare_cached(
            "INSERT INTO skipped (feed, document, pos, location, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(&e)?;
    for doc in &change.documents {
        let d = doc.document.as_str();
        del_records.execute(params![feed, d]).map_err(&e)?;
        del_skipped.execute(params![feed, d]).map_err(&e)?;
        ins_document.execute(params![feed, d]).map_err(&e)?;
        for (pos, stored) in doc.records.iter().enumerate() {
            let r = &stored.record;
            let json = record_json(path, r)?;
            ins_record
                .execute(params![
                    feed,
                    d,
                    pos as i64,
                    r.source.name(),
                    r.record.id,
                    r.location,
                    stored.fetch_id,
                    r.record.modified,
                    json
                ])
                .map_err(&e)?;
        }
        for (pos, s) in doc.skipped.iter().enumerate() {
            ins_skipped
                .execute(params![feed, d, pos as i64, s.location, s.reason])
                .map_err(&e)?;
        }
    }
    for d in &change.removed_documents {
        del_records.execute(params![feed, d]).map_err(&e)?;
        del_skipped.execute(params![feed, d]).map_err(&e)?;
        del_document.execute(params![feed, d]).map_err(&e)?;
    }
    if let Some(fetch) = &change.fetch {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO fetches (id, feed, started, finished) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(&e)?
        .execute(params![fetch.id, feed, fetch.started, fetch.finished])
        .map_err(&e)?;
    }
    let s = &change.state;
    let cursor = serde_json::to_string(&s.cursor).map_err(|err| invalid(err.to_string()))?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO feed_state
             (feed, source, cursor, last_attempt, last_success, last_error, last_fetch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(&e)?
    .execute(params![
        feed,
        s.source,
        cursor,
        s.last_attempt,
        s.last_success,
        s.last_error,
        s.last_fetch
    ])
    .map_err(&e)?;
    Ok(())
}

/// Writes the merge result and its events inside `tx`.
fn write_merge(
    tx: &Transaction<'_>,
    path: &str,
    merge: &MergeChange,
    at: &str,
) -> Result<(), FeedStoreError> {
    let e = sqlite(path);
    let mut del_adv = tx
        .prepare_cached("DELETE FROM advisories WHERE id = ?1")
        .map_err(&e)?;
    let mut del_ids = tx
        .prepare_cached("DELETE FROM advisory_ids WHERE id = ?1")
        .map_err(&e)?;
    let mut ins_adv = tx
        .prepare_cached("INSERT OR REPLACE INTO advisories (id, json) VALUES (?1, ?2)")
        .map_err(&e)?;
    let mut ins_id = tx
        .prepare_cached("INSERT OR IGNORE INTO advisory_ids (alias, id) VALUES (?1, ?2)")
        .map_err(&e)?;
    // Retractions first, so an id retracted and upserted in one change ends up present.
    for id in &merge.retracted {
        del_adv.execute(params![id]).map_err(&e)?;
        del_ids.execute(params![id]).map_err(&e)?;
    }
    for a in &merge.upserts {
        let json = serde_json::to_string(a).map_err(|err| invalid(err.to_string()))?;
        // No digest column: computing `CanonicalAdvisory::digest` (canonical JSON + SHA-256)
        // was most of a commit's time, and the merge events already carry the digests.
        ins_adv.execute(params![a.id, json]).map_err(&e)?;
        // The alias rows follow the new version: drop the old ones, write the current set.
        del_ids.execute(params![a.id]).map_err(&e)?;
        ins_id.execute(params![a.id, a.id]).map_err(&e)?;
        for alias in &a.aliases {
            ins_id.execute(params![alias, a.id]).map_err(&e)?;
        }
    }
    let mut ins_event = tx
        .prepare_cached("INSERT INTO merge_events (at, canonical_id, json) VALUES (?1, ?2, ?3)")
        .map_err(&e)?;
    for ev in &merge.events {
        let json = serde_json::to_string(ev).map_err(|err| invalid(err.to_string()))?;
        ins_event
            .execute(params![at, ev.canonical_id, json])
            .map_err(&e)?;
    }
    Ok(())
}

fn record_json(path: &str, r: &SourceRecord) -> Result<String, FeedStoreError> {
    serde_json::to_string(&r.record).map_err(|err| FeedStoreError::Corrupt {
        store: path.to_owned(),
        what: format!("record {}", r.record.id),
        reason: format!("cannot be written as JSON: {err}"),
    })
}

fn invalid(reason: String) -> FeedStoreError {
    FeedStoreError::InvalidChange { reason }
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl FeedStore for SqliteFeedStore {
    fn records(&self) -> Result<Vec<StoredRecord>, FeedStoreError> {
        let e = sqlite(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT feed, document, pos, source, location, fetch_id, json
                 FROM records ORDER BY feed, document, pos",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (feed, document, pos, source, location, fetch_id, json) = row.map_err(&e)?;
            let what = || format!("record {feed}/{document}#{pos}");
            let source = Source::from_name(&source)
                .ok_or_else(|| self.corrupt(what(), format!("unknown source `{source}`")))?;
            let record = serde_json::from_str(&json).map_err(|err| self.corrupt(what(), err))?;
            out.push(StoredRecord {
                feed,
                fetch_id,
                record: SourceRecord {
                    source,
                    document,
                    location,
                    record,
                },
            });
        }
        Ok(out)
    }

    fn skipped(&self, feed: &str) -> Result<Vec<Skipped>, FeedStoreError> {
        let e = sqlite(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT document, location, reason FROM skipped WHERE feed = ?1
                 ORDER BY document, pos",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map(params![feed], |r| {
                Ok(Skipped {
                    document: r.get(0)?,
                    location: r.get(1)?,
                    reason: r.get(2)?,
                })
            })
            .map_err(&e)?;
        rows.collect::<Result<_, _>>().map_err(&e)
    }

    fn advisories(&self) -> Result<Vec<CanonicalAdvisory>, FeedStoreError> {
        let e = sqlite(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, json FROM advisories ORDER BY id")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(&e)?;
            out.push(
                serde_json::from_str(&json)
                    .map_err(|err| self.corrupt(format!("advisory {id}"), err))?,
            );
        }
        Ok(out)
    }

    fn advisory(&self, id: &str) -> Result<Option<CanonicalAdvisory>, FeedStoreError> {
        let e = sqlite(&self.path);
        // Its own id first; otherwise the first advisory naming `id` as an alias.
        let found: Option<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.json FROM advisory_ids i JOIN advisories a ON a.id = i.id
                 WHERE i.alias = ?1 ORDER BY (i.id = ?1) DESC, i.id LIMIT 1",
            )
            .map_err(&e)?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(&e)?;
        found
            .map(|(id, json)| {
                serde_json::from_str(&json)
                    .map_err(|err| self.corrupt(format!("advisory {id}"), err))
            })
            .transpose()
    }

    fn feed_states(&self) -> Result<Vec<FeedState>, FeedStoreError> {
        self.states(None)
    }

    fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, FeedStoreError> {
        Ok(self.states(Some(feed))?.into_iter().next())
    }

    fn feed_counts(&self, feed: &str) -> Result<FeedCounts, FeedStoreError> {
        let e = sqlite(&self.path);
        self.conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM documents WHERE feed = ?1),
                        (SELECT count(*) FROM records WHERE feed = ?1),
                        (SELECT count(*) FROM skipped WHERE feed = ?1),
                        (SELECT max(modified) FROM records WHERE feed = ?1 AND modified <> '')",
            )
            .map_err(&e)?
            .query_row(params![feed], |r| {
                Ok(FeedCounts {
                    documents: to_u64(r.get(0)?),
                    records: to_u64(r.get(1)?),
                    skipped: to_u64(r.get(2)?),
                    newest_modified: r.get(3)?,
                })
            })
            .map_err(&e)
    }

    fn merge_events(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMergeEvent>, FeedStoreError> {
        let e = sqlite(&self.path);
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, at, json FROM merge_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, json) = row.map_err(&e)?;
            let event = serde_json::from_str(&json)
                .map_err(|err| self.corrupt(format!("merge event {seq}"), err))?;
            out.push(StoredMergeEvent {
                seq: to_u64(seq),
                at,
                event,
            });
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<serde_json::Value>, FeedStoreError> {
        let e = sqlite(&self.path);
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT json FROM meta WHERE key = ?1")
            .map_err(&e)?
            .query_row(params![key], |r| r.get(0))
            .optional()
            .map_err(&e)?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|err| self.corrupt(format!("meta {key}"), err))
        })
        .transpose()
    }

    fn commit(&mut self, change: &Changeset) -> Result<(), FeedStoreError> {
        validate(change)?;
        let path = self.path.clone();
        let e = sqlite(&path);
        // Dropping the transaction on any error below rolls everything back.
        let tx = self.conn.transaction().map_err(&e)?;
        if let Some(feed) = &change.feed {
            write_feed(&tx, &path, feed)?;
        }
        write_merge(&tx, &path, &change.merge, &change.at)?;
        {
            let mut set = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, json) VALUES (?1, ?2)")
                .map_err(&e)?;
            for (key, value) in &change.meta {
                let json = serde_json::to_string(value).map_err(|err| invalid(err.to_string()))?;
                set.execute(params![key, json]).map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    fn record_failure(
        &mut self,
        feed: &str,
        source: &str,
        at: &str,
        error: &str,
    ) -> Result<(), FeedStoreError> {
        let e = sqlite(&self.path);
        // A new state gets the default cursor (JSON null); an existing one keeps its
        // source, cursor, last success and last fetch.
        self.conn
            .prepare_cached(
                "INSERT INTO feed_state (feed, source, cursor, last_attempt, last_error)
                 VALUES (?1, ?2, 'null', ?3, ?4)
                 ON CONFLICT (feed) DO UPDATE SET
                     last_attempt = excluded.last_attempt, last_error = excluded.last_error",
            )
            .map_err(&e)?
            .execute(params![feed, source, at, error])
            .map_err(&e)?;
        Ok(())
    }
}

impl SqliteFeedStore {
    fn states(&self, feed: Option<&str>) -> Result<Vec<FeedState>, FeedStoreError> {
        let e = sqlite(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT feed, source, cursor, last_attempt, last_success, last_error, last_fetch
                 FROM feed_state WHERE ?1 IS NULL OR feed = ?1 ORDER BY feed",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map(params![feed], |r| {
                Ok((
                    FeedState {
                        feed: r.get(0)?,
                        source: r.get(1)?,
                        cursor: serde_json::Value::Null,
                        last_attempt: r.get(3)?,
                        last_success: r.get(4)?,
                        last_error: r.get(5)?,
                        last_fetch: r.get(6)?,
                    },
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (mut state, cursor) = row.map_err(&e)?;
            state.cursor = serde_json::from_str(&cursor)
                .map_err(|err| self.corrupt(format!("feed state {} (cursor)", state.feed), err))?;
            out.push(state);
        }
        Ok(out)
    }
}
