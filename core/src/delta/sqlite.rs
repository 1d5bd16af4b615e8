//! The embedded (no-Redis) layer store: fragments in one SQLite table.
//!
//! Every call runs on Tokio's blocking pool (`spawn_blocking`): fragments are
//! megabytes and a write may wait for the WAL, which must not stall the async
//! workers. One connection behind a mutex serialises the calls; WAL keeps other
//! processes' readers going beside a writer.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::{
    LayerStore, LayerStoreError, absent_in_order, manifest::validate_digest, validate_all,
};

/// Digests per `IN (...)` query (SQLite's variable limit is far above).
const CHUNK: usize = 500;

/// Layer fragments in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteLayerStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl SqliteLayerStore {
    /// Opens (creating as needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, LayerStoreError> {
        let conn = crate::sqlite::open(path).map_err(from_sqlite)?;
        Self::init(conn, path.display().to_string())
    }

    /// A store in memory (tests); gone when dropped.
    pub fn open_in_memory() -> Result<Self, LayerStoreError> {
        let conn = crate::sqlite::open_in_memory().map_err(from_sqlite)?;
        Self::init(conn, ":memory:".to_string())
    }

    fn init(conn: Connection, path: String) -> Result<Self, LayerStoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS layer_fragments (
                 digest TEXT PRIMARY KEY NOT NULL,
                 bytes BLOB NOT NULL,
                 stored_at INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(sqlite(&path))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::from(path),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, LayerStoreError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| LayerStoreError::Task("connection lock poisoned".to_string()))?;
            f(&mut guard).map_err(sqlite(&path))
        })
        .await
        .map_err(|e| LayerStoreError::Task(e.to_string()))?
    }
}

fn sqlite(path: &str) -> impl Fn(rusqlite::Error) -> LayerStoreError + '_ {
    move |source| LayerStoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

#[async_trait]
impl LayerStore for SqliteLayerStore {
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, LayerStoreError> {
        validate_all(digests)?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = digests.to_vec();
        let present = self
            .with_conn(move |conn| {
                // One read transaction: the answer is one snapshot of the table.
                let tx = conn.transaction()?;
                let mut present = std::collections::BTreeSet::new();
                for chunk in wanted.chunks(CHUNK) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    let mut stmt = tx.prepare(&format!(
                        "SELECT digest FROM layer_fragments WHERE digest IN ({marks})"
                    ))?;
                    let rows =
                        stmt.query_map(params_from_iter(chunk), |r| r.get::<_, String>(0))?;
                    for row in rows {
                        present.insert(row?);
                    }
                }
                tx.commit()?;
                Ok(present)
            })
            .await?;
        Ok(absent_in_order(digests, |d| present.contains(d)))
    }

    async fn put(&self, digest: &str, fragment: Vec<u8>) -> Result<(), LayerStoreError> {
        validate_digest(digest)?;
        let digest = digest.to_string();
        let now = chrono::Utc::now().timestamp();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO layer_fragments (digest, bytes, stored_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes,
                     stored_at = excluded.stored_at",
                rusqlite::params![digest, fragment, now],
            )
            .map(|_| ())
        })
        .await
    }

    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, LayerStoreError> {
        validate_digest(digest)?;
        let digest = digest.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT bytes FROM layer_fragments WHERE digest = ?1",
                [digest],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
        })
        .await
    }

    async fn get_many(&self, digests: &[String]) -> Result<Vec<Option<Vec<u8>>>, LayerStoreError> {
        validate_all(digests)?;
        let wanted = digests.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let mut out = Vec::with_capacity(wanted.len());
            {
                let mut stmt =
                    tx.prepare_cached("SELECT bytes FROM layer_fragments WHERE digest = ?1")?;
                for d in &wanted {
                    out.push(stmt.query_row([d], |r| r.get::<_, Vec<u8>>(0)).optional()?);
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn count(&self) -> Result<u64, LayerStoreError> {
        self.with_conn(|conn| {
            conn.query_row("SELECT COUNT(*) FROM layer_fragments", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map(|n| u64::try_from(n).unwrap_or_default())
    }
}

fn from_sqlite(e: crate::sqlite::SqliteError) -> LayerStoreError {
    let (path, source) = e.into_sqlite();
    LayerStoreError::Sqlite { path, source }
}
