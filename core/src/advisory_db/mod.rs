//! The advisory DB: the embedded SQLite snapshot of advisories that the matcher reads.

mod migrations;
pub mod sqlite;

pub use sqlite::{AdvisoryDb, Candidate, DbStats, PreparedRecord, UpsertOutcome};

/// Errors from the advisory DB.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryDbError {
    /// SQLite failed.
    #[error("advisory DB {path}: {source}")]
    Sqlite {
        /// The DB file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The DB was written by a newer StellaOps.
    #[error(
        "advisory DB {path} has schema version {found}; this build knows up to {known}: upgrade stella"
    )]
    SchemaTooNew {
        /// The DB file.
        path: String,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The DB file does not exist (read-only open).
    #[error(
        "advisory DB {path} does not exist: run `stella db import --db {path} ADVISORIES...` first"
    )]
    Missing {
        /// The DB file.
        path: String,
    },
    /// A stored row could not be decoded.
    #[error("advisory DB {path}: corrupt row for {advisory}: {reason}")]
    Corrupt {
        /// The DB file.
        path: String,
        /// The advisory id of the row.
        advisory: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<crate::sqlite::SqliteError> for AdvisoryDbError {
    fn from(e: crate::sqlite::SqliteError) -> Self {
        use crate::sqlite::SqliteError as E;
        match e {
            E::Sqlite { path, source } => AdvisoryDbError::Sqlite { path, source },
            E::Missing { path } => AdvisoryDbError::Missing { path },
            E::SchemaTooNew { path, found, known } => {
                AdvisoryDbError::SchemaTooNew { path, found, known }
            }
        }
    }
}
