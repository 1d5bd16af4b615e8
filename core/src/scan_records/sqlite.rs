//! The embedded scan record store: one SQLite file (WAL), tables `scans` and
//! `scan_events`. Every call runs on the blocking pool (`spawn_blocking`) behind one
//! mutex, in a transaction where it writes more than one row.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{ScanEvent, ScanRecord, ScanStatus, ScanStore, ScanStoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scans (
    id         TEXT PRIMARY KEY,
    subject    TEXT,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    error      TEXT,
    result     TEXT             -- the report JSON
) STRICT;
CREATE TABLE IF NOT EXISTS scan_events (
    scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT,               -- JSON
    PRIMARY KEY (scan_id, seq)
) STRICT;
";

/// A [`ScanStore`] in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteScanStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(op: &'static str) -> impl Fn(rusqlite::Error) -> ScanStoreError {
    move |e| ScanStoreError::Backend {
        op,
        message: e.to_string(),
    }
}

fn open_failed(e: crate::sqlite::SqliteError) -> ScanStoreError {
    backend("open")(e.into_sqlite().1)
}

fn corrupt(id: &str, message: impl std::fmt::Display) -> ScanStoreError {
    ScanStoreError::Corrupt {
        id: id.to_owned(),
        message: message.to_string(),
    }
}

fn time(id: &str, s: &str) -> Result<DateTime<Utc>, ScanStoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(id, format!("time {s:?}: {e}")))
}

fn json(id: &str, s: Option<String>) -> Result<Option<serde_json::Value>, ScanStoreError> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(id, e)))
        .transpose()
}

impl SqliteScanStore {
    /// Opens (creating as needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<SqliteScanStore, ScanStoreError> {
        Self::init(crate::sqlite::open(path).map_err(open_failed)?)
    }

    /// A store in memory (tests); gone when dropped.
    pub fn open_in_memory() -> Result<SqliteScanStore, ScanStoreError> {
        Self::init(crate::sqlite::open_in_memory().map_err(open_failed)?)
    }

    fn init(conn: Connection) -> Result<SqliteScanStore, ScanStoreError> {
        conn.execute_batch(SCHEMA).map_err(backend("schema"))?;
        Ok(SqliteScanStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, ScanStoreError> + Send + 'static,
    ) -> Result<T, ScanStoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| ScanStoreError::Backend {
            op,
            message: e.to_string(),
        })?
    }
}

/// Appends an event to `id`'s log inside `tx` (the scan must exist).
fn append(
    tx: &Transaction<'_>,
    id: &str,
    at: DateTime<Utc>,
    kind: &str,
    message: &str,
    data: Option<serde_json::Value>,
) -> Result<ScanEvent, ScanStoreError> {
    let seq: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM scan_events WHERE scan_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(backend("push event"))?;
    let data_text = data.as_ref().map(serde_json::Value::to_string);
    tx.execute(
        "INSERT INTO scan_events (scan_id, seq, at, kind, message, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, seq, at.to_rfc3339(), kind, message, data_text],
    )
    .map_err(backend("push event"))?;
    Ok(ScanEvent {
        seq: u64::try_from(seq).unwrap_or(0),
        at,
        kind: kind.to_owned(),
        message: message.to_owned(),
        data,
    })
}

/// Updates `id`'s row in `tx`; `NotFound` when there is none.
fn update(
    tx: &Transaction<'_>,
    op: &'static str,
    id: &str,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<(), ScanStoreError> {
    let n = tx.execute(sql, args).map_err(backend(op))?;
    if n == 0 {
        return Err(ScanStoreError::NotFound(id.to_owned()));
    }
    Ok(())
}

fn events(conn: &Connection, id: &str, after: u64) -> Result<Vec<ScanEvent>, ScanStoreError> {
    let mut st = conn
        .prepare_cached(
            "SELECT seq, at, kind, message, data FROM scan_events
             WHERE scan_id = ?1 AND seq > ?2 ORDER BY seq",
        )
        .map_err(backend("events"))?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = st
        .query_map(params![id, after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(backend("events"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, kind, message, data) = row.map_err(backend("events"))?;
        out.push(ScanEvent {
            seq: u64::try_from(seq).map_err(|e| corrupt(id, e))?,
            at: time(id, &at)?,
            kind,
            message,
            data: json(id, data)?,
        });
    }
    Ok(out)
}

#[async_trait]
impl ScanStore for SqliteScanStore {
    async fn create(&self, record: &ScanRecord) -> Result<(), ScanStoreError> {
        let r = record.clone();
        self.with("create", move |c| {
            let tx = c.transaction().map_err(backend("create"))?;
            let result = r.result.as_ref().map(serde_json::Value::to_string);
            let n = tx
                .execute(
                    "INSERT INTO scans (id, status, created_at, updated_at, attempts, error, result, subject)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
                    params![
                        r.id,
                        r.status.as_str(),
                        r.created_at.to_rfc3339(),
                        r.updated_at.to_rfc3339(),
                        r.attempts,
                        r.error,
                        result,
                        r.subject
                    ],
                )
                .map_err(backend("create"))?;
            if n == 0 {
                return Err(ScanStoreError::Exists(r.id));
            }
            for e in r.events {
                append(&tx, &r.id, e.at, &e.kind, &e.message, e.data)?;
            }
            tx.commit().map_err(backend("create"))
        })
        .await
    }

    async fn push_event(
        &self,
        id: &str,
        kind: &str,
        message: &str,
        data: Option<serde_json::Value>,
    ) -> Result<ScanEvent, ScanStoreError> {
        let (id, kind, message) = (id.to_owned(), kind.to_owned(), message.to_owned());
        self.with("push event", move |c| {
            let tx = c.transaction().map_err(backend("push event"))?;
            let now = Utc::now();
            update(
                &tx,
                "push event",
                &id,
                "UPDATE scans SET updated_at = ?2 WHERE id = ?1",
                &[&id, &now.to_rfc3339()],
            )?;
            let e = append(&tx, &id, now, &kind, &message, data)?;
            tx.commit().map_err(backend("push event"))?;
            Ok(e)
        })
        .await
    }

    async fn set_status(&self, id: &str, status: ScanStatus) -> Result<(), ScanStoreError> {
        let id = id.to_owned();
        self.with("set status", move |c| {
            let tx = c.transaction().map_err(backend("set status"))?;
            let started = i64::from(status == ScanStatus::Running);
            update(
                &tx,
                "set status",
                &id,
                "UPDATE scans SET status = ?2, updated_at = ?3, attempts = attempts + ?4
                 WHERE id = ?1",
                &[&id, &status.as_str(), &Utc::now().to_rfc3339(), &started],
            )?;
            tx.commit().map_err(backend("set status"))
        })
        .await
    }

    async fn finish(
        &self,
        id: &str,
        result: serde_json::Value,
    ) -> Result<ScanEvent, ScanStoreError> {
        let id = id.to_owned();
        self.with("finish", move |c| {
            let tx = c.transaction().map_err(backend("finish"))?;
            let now = Utc::now();
            update(
                &tx,
                "finish",
                &id,
                "UPDATE scans SET status = 'done', updated_at = ?2, result = ?3, error = NULL
                 WHERE id = ?1",
                &[&id, &now.to_rfc3339(), &result.to_string()],
            )?;
            let e = append(&tx, &id, now, "done", "scan finished", None)?;
            tx.commit().map_err(backend("finish"))?;
            Ok(e)
        })
        .await
    }

    async fn fail(&self, id: &str, error: &str) -> Result<ScanEvent, ScanStoreError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.with("fail", move |c| {
            let tx = c.transaction().map_err(backend("fail"))?;
            let now = Utc::now();
            update(
                &tx,
                "fail",
                &id,
                "UPDATE scans SET status = 'failed', updated_at = ?2, error = ?3 WHERE id = ?1",
                &[&id, &now.to_rfc3339(), &error],
            )?;
            let e = append(&tx, &id, now, "failed", &error, None)?;
            tx.commit().map_err(backend("fail"))?;
            Ok(e)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<ScanRecord>, ScanStoreError> {
        let id = id.to_owned();
        self.with("get", move |c| {
            // One read transaction, so the row and its events are one snapshot.
            let tx = c.transaction().map_err(backend("get"))?;
            let row = tx
                .query_row(
                    "SELECT status, created_at, updated_at, attempts, error, result, subject
                     FROM scans WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, Option<String>>(6)?,
                        ))
                    },
                )
                .optional()
                .map_err(backend("get"))?;
            let Some((status, created, updated, attempts, error, result, subject)) = row else {
                return Ok(None);
            };
            let events = events(&tx, &id, 0)?;
            Ok(Some(ScanRecord {
                status: ScanStatus::parse(&status)
                    .ok_or_else(|| corrupt(&id, format!("status {status:?}")))?,
                created_at: time(&id, &created)?,
                updated_at: time(&id, &updated)?,
                attempts: u32::try_from(attempts).map_err(|e| corrupt(&id, e))?,
                error,
                result: json(&id, result)?,
                events,
                subject,
                id,
            }))
        })
        .await
    }

    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Vec<ScanEvent>, ScanStoreError> {
        let id = id.to_owned();
        self.with("events", move |c| events(c, &id, after_seq))
            .await
    }
}
