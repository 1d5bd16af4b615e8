//! Opening the stores' SQLite files one way: WAL, a busy timeout, `synchronous =
//! NORMAL`, foreign keys on, and ordered schema steps recorded in `user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why opening or migrating a SQLite file failed.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// SQLite failed.
    #[error("sqlite {path}: {source}")]
    Sqlite {
        /// The database file (`:memory:` in memory).
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A read-only open found no file.
    #[error("sqlite {path}: no such file")]
    Missing {
        /// The database file.
        path: String,
    },
    /// The file was written by a newer build.
    #[error("sqlite {path} has schema version {found}; this build knows up to {known}")]
    SchemaTooNew {
        /// The database file.
        path: String,
        /// Version found.
        found: i64,
        /// Newest version known.
        known: i64,
    },
}

impl SqliteError {
    /// The path and a SQLite error, for stores whose error type has only a SQLite
    /// variant: `Missing` and `SchemaTooNew` become `SQLITE_CANTOPEN` with this message.
    pub fn into_sqlite(self) -> (String, rusqlite::Error) {
        match self {
            SqliteError::Sqlite { path, source } => (path, source),
            other => {
                let message = other.to_string();
                let path = match other {
                    SqliteError::Missing { path } | SqliteError::SchemaTooNew { path, .. } => path,
                    SqliteError::Sqlite { path, .. } => path,
                };
                let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN);
                (path, rusqlite::Error::SqliteFailure(code, Some(message)))
            }
        }
    }
}

fn sqlite(path: &str) -> impl Fn(rusqlite::Error) -> SqliteError + '_ {
    move |source| SqliteError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// Opens (creating as needed) the file at `path` for reading and writing.
pub fn open(path: &Path) -> Result<Connection, SqliteError> {
    let p = path.display().to_string();
    let conn = Connection::open(path).map_err(sqlite(&p))?;
    configure(conn, &p)
}

/// A database in memory (tests); gone when dropped.
pub fn open_in_memory() -> Result<Connection, SqliteError> {
    let conn = Connection::open_in_memory().map_err(sqlite(":memory:"))?;
    configure(conn, ":memory:")
}

/// Opens an existing file for reading only; a missing file is [`SqliteError::Missing`].
pub fn open_read_only(path: &Path) -> Result<Connection, SqliteError> {
    let p = path.display().to_string();
    if !path.exists() {
        return Err(SqliteError::Missing { path: p });
    }
    // No journal-mode change: a reader must not rewrite the file (snapshots are DELETE mode).
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(&p))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite(&p))?;
    Ok(conn)
}

fn configure(conn: Connection, path: &str) -> Result<Connection, SqliteError> {
    // WAL lets readers run beside a writer; the busy timeout makes a second writer
    // wait instead of failing at once; NORMAL is durable enough under WAL.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .map_err(sqlite(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite(path))?;
    Ok(conn)
}

/// The file's schema version (`PRAGMA user_version`).
pub fn schema_version(conn: &Connection, path: &str) -> Result<i64, SqliteError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite(path))
}

/// Refuses a file whose schema is newer than `steps` know; returns its version.
pub fn check_not_newer(conn: &Connection, path: &str, steps: &[&str]) -> Result<i64, SqliteError> {
    let found = schema_version(conn, path)?;
    let known = steps.len() as i64;
    if found > known {
        return Err(SqliteError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    Ok(found)
}

/// Applies the schema steps the file lacks, in order, in one transaction; step `i`
/// leaves `user_version` at `i + 1`.
pub fn migrate(conn: &mut Connection, path: &str, steps: &[&str]) -> Result<(), SqliteError> {
    let found = check_not_newer(conn, path, steps)?;
    if found == steps.len() as i64 {
        return Ok(());
    }
    let e = sqlite(path);
    let tx = conn.transaction().map_err(&e)?;
    for (i, step) in steps.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step).map_err(&e)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(&e)?;
    }
    tx.commit().map_err(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y INTEGER;",
    ];

    #[test]
    fn migrations_run_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let p = path.display().to_string();
        let mut conn = open(&path).unwrap();
        migrate(&mut conn, &p, &STEPS[..1]).unwrap();
        assert_eq!(schema_version(&conn, &p).unwrap(), 1);
        // The second step depends on the first; re-running the first would fail.
        migrate(&mut conn, &p, STEPS).unwrap();
        migrate(&mut conn, &p, STEPS).unwrap();
        assert_eq!(schema_version(&conn, &p).unwrap(), 2);
        conn.execute("INSERT INTO a (x, y) VALUES (1, 2)", [])
            .unwrap();
        drop(conn);
        let mut again = open(&path).unwrap();
        migrate(&mut again, &p, STEPS).unwrap();
        assert_eq!(schema_version(&again, &p).unwrap(), 2);
    }

    #[test]
    fn a_failing_step_rolls_back_every_step() {
        let mut conn = open_in_memory().unwrap();
        let err = migrate(&mut conn, ":memory:", &[STEPS[0], "NOT SQL"]).unwrap_err();
        assert!(matches!(err, SqliteError::Sqlite { .. }), "{err}");
        assert_eq!(schema_version(&conn, ":memory:").unwrap(), 0);
        migrate(&mut conn, ":memory:", STEPS).unwrap();
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = open_in_memory().unwrap();
        migrate(&mut conn, ":memory:", STEPS).unwrap();
        let err = migrate(&mut conn, ":memory:", &STEPS[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                SqliteError::SchemaTooNew {
                    found: 2,
                    known: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("schema version 2"), "{err}");
    }

    #[test]
    fn read_only_open_of_a_missing_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.sqlite");
        let err = open_read_only(&path).unwrap_err();
        assert!(matches!(err, SqliteError::Missing { .. }), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn read_only_open_reads_but_does_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut conn = open(&path).unwrap();
        migrate(&mut conn, "db", STEPS).unwrap();
        drop(conn);
        let ro = open_read_only(&path).unwrap();
        assert_eq!(schema_version(&ro, "db").unwrap(), 2);
        assert!(ro.execute("INSERT INTO a (x) VALUES (1)", []).is_err());
    }
}
