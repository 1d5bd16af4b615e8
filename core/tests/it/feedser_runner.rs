//! The Feedser runner on the real sample: an interrupted sync resumes to exactly the state
//! of an uninterrupted one (nothing lost, nothing duplicated), the order of feeds does not
//! matter, and an HTTP feed is fetched once and then answered by `304 Not Modified`.

use crate::testdata;

use std::io::Write;

use stella_core::advisory::canonical::CanonicalAdvisory;
use stella_core::feedser::Skipped;
use stella_core::feedser::config::FeedConfig;
use stella_core::feedser::merge::MergeReason;
use stella_core::feedser::runner::{self, SyncReport};
use stella_core::feedser::store::sqlite::SqliteFeedStore;
use stella_core::feedser::store::{
    Changeset, FeedCounts, FeedState, FeedStore, FeedStoreError, StoredMergeEvent, StoredRecord,
};

use crate::loopback_http::{Reply, Server};

/// A fixed clock, so fetch ids (and so provenance) are the same in every run.
fn clock() -> String {
    "2026-01-01T00:00:00Z".to_owned()
}

/// The SQLite store, failing its `fail_at`-th commit as a crash before the commit ends
/// would: nothing of that commit is written.
struct CrashingStore {
    inner: SqliteFeedStore,
    commits: usize,
    fail_at: Option<usize>,
}

impl FeedStore for CrashingStore {
    fn records(&self) -> Result<Vec<StoredRecord>, FeedStoreError> {
        self.inner.records()
    }
    fn skipped(&self, feed: &str) -> Result<Vec<Skipped>, FeedStoreError> {
        self.inner.skipped(feed)
    }
    fn advisories(&self) -> Result<Vec<CanonicalAdvisory>, FeedStoreError> {
        self.inner.advisories()
    }
    fn advisory(&self, id: &str) -> Result<Option<CanonicalAdvisory>, FeedStoreError> {
        self.inner.advisory(id)
    }
    fn feed_states(&self) -> Result<Vec<FeedState>, FeedStoreError> {
        self.inner.feed_states()
    }
    fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, FeedStoreError> {
        self.inner.feed_state(feed)
    }
    fn feed_counts(&self, feed: &str) -> Result<FeedCounts, FeedStoreError> {
        self.inner.feed_counts(feed)
    }
    fn merge_events(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMergeEvent>, FeedStoreError> {
        self.inner.merge_events(after, limit)
    }
    fn meta(&self, key: &str) -> Result<Option<serde_json::Value>, FeedStoreError> {
        self.inner.meta(key)
    }
    fn commit(&mut self, change: &Changeset) -> Result<(), FeedStoreError> {
        self.commits += 1;
        if Some(self.commits) == self.fail_at {
            return Err(FeedStoreError::InvalidChange {
                reason: format!("simulated crash during commit {}", self.commits),
            });
        }
        self.inner.commit(change)
    }
    fn record_failure(
        &mut self,
        feed: &str,
        source: &str,
        at: &str,
        error: &str,
    ) -> Result<(), FeedStoreError> {
        self.inner.record_failure(feed, source, at, error)
    }
}

fn sync(store: &mut dyn FeedStore, config: &FeedConfig) -> Result<SyncReport, FeedStoreError> {
    runner::sync(store, config, &[], &clock, &mut |_| {})
}

/// What a store holds, in a comparable form.
fn contents(store: &dyn FeedStore) -> (Vec<String>, Vec<CanonicalAdvisory>) {
    let mut records: Vec<String> = store
        .records()
        .expect("records")
        .into_iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r.feed,
                r.fetch_id,
                r.record.document,
                r.record.location,
                serde_json::to_string(&r.record.record).expect("json")
            )
        })
        .collect();
    records.sort();
    (records, store.advisories().expect("advisories"))
}

#[test]
fn an_interrupted_sync_resumes_to_the_uninterrupted_state() {
    let config = FeedConfig::sample(&testdata::dir());
    let feeds = config.feeds.len();
    let mut reference = SqliteFeedStore::open_in_memory().expect("store");
    sync(&mut reference, &config).expect("sync");
    let (records, advisories) = contents(&reference);
    assert!(records.len() > 2_000 && advisories.len() > 1_500);

    // Crash at a feed's commit (the 4th), and at the merge commit (after every feed).
    for fail_at in [4, feeds + 1] {
        let mut store = CrashingStore {
            inner: SqliteFeedStore::open_in_memory().expect("store"),
            commits: 0,
            fail_at: Some(fail_at),
        };
        let err = sync(&mut store, &config).expect_err("the crash stops the run");
        assert!(err.to_string().contains("simulated crash"), "{err}");
        store.fail_at = None;
        let report = sync(&mut store, &config).expect("resumed sync");
        assert_eq!(
            contents(&store),
            (records.clone(), advisories.clone()),
            "crash at {fail_at}"
        );
        // The resumed run re-read only what the crash lost.
        let reread: usize = report.feeds.iter().map(|f| f.figures.documents).sum();
        let unchanged: usize = report.feeds.iter().map(|f| f.figures.unchanged).sum();
        if fail_at > feeds {
            assert_eq!(
                reread, 0,
                "every feed was committed before the merge crashed"
            );
            assert!(unchanged > 800);
        } else {
            assert!(
                reread > 0,
                "the feeds from the crashed one on are read again"
            );
        }
        // One Created event per advisory, none twice, nothing retracted.
        let events = store.merge_events(0, usize::MAX).expect("events");
        assert_eq!(events.len(), advisories.len());
        assert!(
            events
                .iter()
                .all(|e| e.event.reason == MergeReason::Created)
        );
    }
}

#[test]
fn the_order_of_feeds_does_not_change_the_result() {
    let config = FeedConfig::sample(&testdata::dir());
    let mut forward = SqliteFeedStore::open_in_memory().expect("store");
    sync(&mut forward, &config).expect("sync");
    let mut reversed_config = config.clone();
    reversed_config.feeds.reverse();
    let mut reversed = SqliteFeedStore::open_in_memory().expect("store");
    sync(&mut reversed, &reversed_config).expect("sync");
    assert_eq!(
        contents(&forward).1,
        contents(&reversed).1,
        "same canonical advisories"
    );
}

#[test]
fn an_http_feed_is_fetched_once_then_answered_not_modified() {
    // The sample's GHSA folder as one zip, served with an ETag.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for path in testdata::files(&testdata::dir().join("feeds-sample/ghsa"), ".json") {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(&std::fs::read(&path).expect("read"))
            .expect("zip write");
    }
    let body = zip.finish().expect("zip").into_inner();
    let etag = "\"ghsa-v1\"";
    let server = Server::start(move |request, _| {
        if request.header("if-none-match") == Some(etag) {
            Reply::status(304)
        } else {
            Reply::ok(body.clone())
                .with("ETag", etag)
                .with("Content-Type", "application/zip")
        }
    });
    let yaml = format!(
        "feeds:\n  - name: ghsa\n    source: ghsa\n    location: {}\n",
        server.url("/ghsa/all.zip")
    );
    let config = FeedConfig::parse(&yaml, std::path::Path::new(".")).expect("config");
    let mut store = SqliteFeedStore::open_in_memory().expect("store");

    let first = sync(&mut store, &config).expect("first sync");
    assert_eq!(first.feeds[0].figures.documents, 10);
    assert_eq!(first.feeds[0].figures.records, 10);
    assert_eq!(first.merge.created, 10);
    let shown = store
        .advisory("GHSA-px8h-6qxv-m22q")
        .expect("lookup")
        .expect("advisory");
    assert!(
        shown
            .provenance
            .iter()
            .any(|p| p.document.ends_with("all.zip!GHSA-px8h-6qxv-m22q.json")),
        "{:?}",
        shown.provenance
    );

    let second = sync(&mut store, &config).expect("second sync");
    assert_eq!(second.feeds[0].figures.documents, 0);
    assert_eq!(second.feeds[0].figures.unchanged, 10);
    assert_eq!(
        second.merge.created + second.merge.updated + second.merge.retracted,
        0
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("if-none-match"), Some(etag));
    assert_eq!(
        store.records().expect("records").len(),
        10,
        "304 keeps the records"
    );
}
