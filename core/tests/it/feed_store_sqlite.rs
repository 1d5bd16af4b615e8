//! The feed store suite on the SQLite backend (a temporary file per test), plus what only
//! SQLite has: schema versions, corrupt rows, the in-memory store.

use crate::feed_store;

use std::path::PathBuf;

use crate::feed_store::Backend;
use rusqlite::Connection;
use stella_core::feedser::store::sqlite::{SCHEMA_VERSION, SqliteFeedStore};
use stella_core::feedser::store::{Changeset, FeedStore, FeedStoreError};

/// A store file in a temporary folder removed with the backend.
#[derive(Debug)]
struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("feeds.sqlite");
        Sqlite { _dir: dir, path }
    }
}

impl Backend for Sqlite {
    type Store = SqliteFeedStore;

    fn fresh(&mut self) -> SqliteFeedStore {
        SqliteFeedStore::open(&self.path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn reopen(&mut self) -> SqliteFeedStore {
        SqliteFeedStore::open(&self.path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refuse_event(&mut self, canonical_id: &str) {
        // A second connection installs a trigger; the store's next commit hits it after
        // every other write of the transaction.
        let conn = Connection::open(&self.path).expect("second connection");
        conn.execute_batch(&format!(
            "CREATE TRIGGER refuse_marker BEFORE INSERT ON merge_events
             WHEN NEW.canonical_id = '{canonical_id}'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ))
        .expect("trigger");
    }
}

fn make(_test: &str) -> Sqlite {
    Sqlite::new()
}

suite_tests!(make);

#[test]
fn newer_schema_is_refused() {
    let b = Sqlite::new();
    drop(SqliteFeedStore::open(&b.path).expect("create"));
    let conn = Connection::open(&b.path).expect("open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    match SqliteFeedStore::open(&b.path) {
        Err(FeedStoreError::SchemaTooNew { found, known, .. }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn corrupt_rows_are_named() {
    let mut b = Sqlite::new();
    let s = feed_store::sample();
    let mut store = b.fresh();
    store
        .commit(&Changeset {
            feed: Some(feed_store::feed_change(
                "pypa",
                stella_core::feedser::Source::Osv,
                "2026-01-01T00:00:00Z",
                &s.pypa[..2],
            )),
            ..Changeset::default()
        })
        .expect("commit");
    let conn = Connection::open(&b.path).expect("open");
    conn.execute(
        "UPDATE records SET json = '{\"id\": 7}' WHERE pos = 0 AND document = ?1",
        [&s.pypa[1].name],
    )
    .expect("corrupt a row");
    match store.records() {
        Err(FeedStoreError::Corrupt { what, .. }) => {
            assert_eq!(what, format!("record pypa/{}#0", s.pypa[1].name));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    conn.execute("UPDATE records SET json = '{}', source = 'gopher'", [])
        .expect("corrupt source");
    assert!(matches!(
        store.records(),
        Err(FeedStoreError::Corrupt { reason, .. }) if reason.contains("gopher")
    ));
}

#[test]
fn in_memory_store_works_and_starts_empty() {
    let s = feed_store::sample();
    let mut store = SqliteFeedStore::open_in_memory().expect("in memory");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert!(store.records().expect("records").is_empty());
    let change = Changeset {
        feed: Some(feed_store::feed_change(
            "debian",
            stella_core::feedser::Source::Debian,
            "2026-01-01T00:00:00Z",
            &s.debian,
        )),
        ..Changeset::default()
    };
    store.commit(&change).expect("commit");
    let n: usize = s.debian.iter().map(|d| d.parsed.records.len()).sum();
    assert_eq!(store.records().expect("records").len(), n);
}
