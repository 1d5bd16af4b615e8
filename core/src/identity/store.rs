//! Persistence of signing keys and OAuth2 clients. The SQLite file holds private
//! keys: it is created readable by its owner only (Unix), and SQLite gives its WAL
//! and shared-memory files the same permissions.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::clients::{ClientRecord, dummy_hash, validate_id, verify_hash};
use super::keys::{KeyRing, StoredKey};
use super::{IdentityError, Scope};

/// Why the identity store failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityStoreError {
    /// SQLite failed.
    #[error("identity store {path}: {source}")]
    Sqlite {
        /// The store file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A row could not be read back.
    #[error("identity store {path}: corrupt {what}")]
    Corrupt {
        /// The store file.
        path: String,
        /// What was unreadable.
        what: String,
    },
    /// Setting the file's permissions failed.
    #[error("identity store {path}: {source}")]
    Io {
        /// The store file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where identity state lives: the signing keys and the registered clients.
pub trait IdentityStore: Send + Sync + std::fmt::Debug {
    /// All stored signing keys (any order; empty on first start).
    fn load_keys(&self) -> Result<Vec<StoredKey>, IdentityStoreError>;
    /// Replaces the stored signing keys with `keys`, atomically.
    fn save_keys(&self, keys: &[StoredKey]) -> Result<(), IdentityStoreError>;
    /// The client with id `id`.
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, IdentityStoreError>;
    /// Inserts or replaces a client.
    fn put_client(&self, client: &ClientRecord) -> Result<(), IdentityStoreError>;
    /// All clients, by id.
    fn list_clients(&self) -> Result<Vec<ClientRecord>, IdentityStoreError>;
    /// Deletes a client; whether it existed.
    fn delete_client(&self, id: &str) -> Result<bool, IdentityStoreError>;
}

/// For server start-up: loads the ring from `store`, or creates a key and saves it
/// when the store has none; keys retired over 30 days ago are dropped (and the
/// store updated).
pub fn load_key_ring(
    store: &dyn IdentityStore,
    now: DateTime<Utc>,
) -> Result<KeyRing, IdentityError> {
    let stored = store.load_keys()?;
    if stored.is_empty() {
        let ring = KeyRing::generate(now)?;
        store.save_keys(&ring.to_stored())?;
        return Ok(ring);
    }
    let mut ring = KeyRing::from_stored(stored)?;
    if ring.prune(now) > 0 {
        store.save_keys(&ring.to_stored())?;
    }
    Ok(ring)
}

/// Looks `id` up in `store` and checks `secret`: the client when both match, `None`
/// otherwise. An unknown id costs one PBKDF2 run too, so timing does not tell
/// which client ids exist.
pub fn authenticate(
    store: &dyn IdentityStore,
    id: &str,
    secret: &str,
) -> Result<Option<ClientRecord>, IdentityStoreError> {
    let client = if validate_id(id).is_ok() {
        store.get_client(id)?
    } else {
        None
    };
    match client {
        Some(c) if c.verify_secret(secret) => Ok(Some(c)),
        Some(_) => Ok(None),
        None => {
            let _ = verify_hash(dummy_hash(), secret);
            Ok(None)
        }
    }
}

/// An [`IdentityStore`] in one SQLite file (WAL mode).
#[derive(Debug)]
pub struct SqliteIdentityStore {
    conn: Mutex<Connection>,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    pkcs8 BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tier TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
";

impl From<crate::sqlite::SqliteError> for IdentityStoreError {
    fn from(e: crate::sqlite::SqliteError) -> Self {
        let (path, source) = e.into_sqlite();
        IdentityStoreError::Sqlite { path, source }
    }
}

fn sqlite(path: &str) -> impl Fn(rusqlite::Error) -> IdentityStoreError + '_ {
    move |source| IdentityStoreError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

impl SqliteIdentityStore {
    /// Opens (creating as needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<SqliteIdentityStore, IdentityStoreError> {
        let p = path.display().to_string();
        let conn = crate::sqlite::open(path)?;
        restrict_permissions(path).map_err(|source| IdentityStoreError::Io {
            path: p.clone(),
            source,
        })?;
        Self::init(conn, p)
    }

    /// A store in memory (tests, embedded mode without persistence).
    pub fn open_in_memory() -> Result<SqliteIdentityStore, IdentityStoreError> {
        Self::init(crate::sqlite::open_in_memory()?, ":memory:".to_owned())
    }

    /// The store's path (`:memory:` for an in-memory store).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn init(conn: Connection, path: String) -> Result<SqliteIdentityStore, IdentityStoreError> {
        conn.execute_batch(SCHEMA).map_err(sqlite(&path))?;
        Ok(SqliteIdentityStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn corrupt(&self, what: impl Into<String>) -> IdentityStoreError {
        IdentityStoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
        }
    }

    fn parse_time(&self, s: &str, what: &str) -> Result<DateTime<Utc>, IdentityStoreError> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.corrupt(format!("{what} time {s:?}")))
    }

    fn client_from_row(&self, row: ClientRow) -> Result<ClientRecord, IdentityStoreError> {
        let (id, secret_hash, tier, scopes, created_at) = row;
        let scopes: BTreeSet<Scope> = Scope::parse_list(&scopes)
            .map_err(|e| self.corrupt(format!("client {id:?} scopes: {e}")))?;
        let created_at = self.parse_time(&created_at, "client")?;
        Ok(ClientRecord {
            id,
            secret_hash,
            tier,
            scopes,
            created_at,
        })
    }
}

type ClientRow = (String, String, String, String, String);

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl IdentityStore for SqliteIdentityStore {
    fn load_keys(&self) -> Result<Vec<StoredKey>, IdentityStoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let e = sqlite(&self.path);
        let mut stmt = conn
            .prepare("SELECT kid, created_at, pkcs8 FROM signing_keys ORDER BY created_at, kid")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        rows.into_iter()
            .map(|(kid, created_at, pkcs8)| {
                Ok(StoredKey {
                    created_at: self.parse_time(&created_at, "signing key")?,
                    kid,
                    pkcs8,
                })
            })
            .collect()
    }

    fn save_keys(&self, keys: &[StoredKey]) -> Result<(), IdentityStoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let e = sqlite(&self.path);
        let tx = conn.transaction().map_err(&e)?;
        tx.execute("DELETE FROM signing_keys", []).map_err(&e)?;
        for k in keys {
            tx.execute(
                "INSERT INTO signing_keys (kid, created_at, pkcs8) VALUES (?1, ?2, ?3)",
                params![k.kid, rfc3339(k.created_at), k.pkcs8],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }

    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, IdentityStoreError> {
        let row = {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.query_row(
                "SELECT id, secret_hash, tier, scopes, created_at FROM clients WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(sqlite(&self.path))?
        };
        row.map(|row| self.client_from_row(row)).transpose()
    }

    fn put_client(&self, client: &ClientRecord) -> Result<(), IdentityStoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT OR REPLACE INTO clients (id, secret_hash, tier, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                client.id,
                client.secret_hash,
                client.tier,
                Scope::format_list(&client.scopes),
                rfc3339(client.created_at)
            ],
        )
        .map_err(sqlite(&self.path))?;
        Ok(())
    }

    fn list_clients(&self) -> Result<Vec<ClientRecord>, IdentityStoreError> {
        let rows: Vec<ClientRow> = {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            let e = sqlite(&self.path);
            let mut stmt = conn
                .prepare(
                    "SELECT id, secret_hash, tier, scopes, created_at FROM clients ORDER BY id",
                )
                .map_err(&e)?;
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?
        };
        rows.into_iter().map(|r| self.client_from_row(r)).collect()
    }

    fn delete_client(&self, id: &str) -> Result<bool, IdentityStoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let n = conn
            .execute("DELETE FROM clients WHERE id = ?1", [id])
            .map_err(sqlite(&self.path))?;
        Ok(n > 0)
    }
}
