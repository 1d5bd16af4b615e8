//! The feed store suite, run on every backend (`feed_store_sqlite.rs`, `feed_store_mongo.rs`)
//! through [`Backend`]. Content comes from the real sample: PyPA YAML and GHSA documents
//! read by the OSV connector, the Debian DSA/DLA lists by the Debian connector, and the
//! canonical advisories that [`merge`] builds from them.

#![allow(dead_code)] // each test binary uses the suite through `suite_tests!`

use std::path::Path;

use stella_core::advisory::canonical::CanonicalAdvisory;
use stella_core::feedser::connectors::debian::{ListKind, parse_tracker_json, parse_tracker_list};
use stella_core::feedser::connectors::osv;
use stella_core::feedser::merge::{MergeEvent, MergeReason, Precedence, build, diff, merge};
use stella_core::feedser::store::{
    Changeset, DocumentRecords, FeedChange, FeedCounts, FeedState, FeedStore, FeedStoreError,
    FetchRun, MergeChange, StoredMergeEvent, StoredRecord,
};
use stella_core::feedser::{Parsed, Skipped, Source, SourceRecord};

use crate::testdata;

/// What the suite needs from a backend.
pub trait Backend {
    /// The store type.
    type Store: FeedStore;
    /// A new, empty store.
    fn fresh(&mut self) -> Self::Store;
    /// The store of the last [`Backend::fresh`], opened again through a new connection.
    fn reopen(&mut self) -> Self::Store;
    /// From now on, the store of the last [`Backend::fresh`] fails any write of a merge
    /// event for `canonical_id` (a trigger, a validator), so a commit fails midway.
    fn refuse_event(&mut self, canonical_id: &str);
}

/// One `#[test]` per suite function, each given a backend from `$make(test_name)`, and
/// each carrying the attributes given after the maker (`#[ignore = "why"]` for a backend
/// that needs a server).
#[macro_export]
macro_rules! suite_tests {
    ($make:expr $(, #[$attr:meta])*) => {
        $crate::suite_tests!(@each $make; [$(#[$attr])*];
            records_round_trip_in_document_order,
            documents_replaced_kept_and_removed,
            skipped_entries_follow_their_documents,
            advisories_upsert_retract_and_lookup_by_alias,
            merge_events_log,
            feed_state_and_counts,
            record_failure_keeps_everything_else,
            meta_values,
            failed_commit_changes_nothing,
            invalid_change_is_refused_whole,
            same_changeset_twice,
            reopen_keeps_everything
        );
    };
    (@each $make:expr; $attrs:tt; $($name:ident),*) => {
        $($crate::suite_tests!(@one $make; $attrs; $name);)*
    };
    (@one $make:expr; [$(#[$attr:meta])*]; $name:ident) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            $crate::feed_store::$name(&mut $make(stringify!($name)));
        }
    };
}

// ---------------------------------------------------------------------------------------
// Real sample content

/// One parsed document of the sample.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Document name (path under `feeds-sample/`).
    pub name: String,
    /// What the connector made of it.
    pub parsed: Parsed,
}

/// The sample documents the suite uses, per feed.
#[derive(Debug, Clone)]
pub struct Sample {
    /// PyPA YAML documents (one record each), feed `pypa`.
    pub pypa: Vec<Doc>,
    /// GHSA documents, feed `ghsa`.
    pub ghsa: Vec<Doc>,
    /// The DSA and DLA lists (many records each) and the tracker's JSON export (with a
    /// skipped entry), feed `debian`.
    pub debian: Vec<Doc>,
}

fn osv_docs(root: &Path, folder: &str, source: Source, ext: &str, take: usize) -> Vec<Doc> {
    let paths = testdata::files(&root.join(folder), &format!(".{ext}"));
    assert!(paths.len() >= take, "{folder}: too few files");
    paths
        .into_iter()
        .take(take)
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = rel(root, &p);
            let parsed =
                osv::parse(source, &name, &bytes, ext == "yaml").unwrap_or_else(|e| panic!("{e}"));
            Doc { name, parsed }
        })
        .collect()
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

/// Reads the sample documents.
pub fn sample() -> Sample {
    let root = testdata::dir().join("feeds-sample");
    let debian = [
        ("DSA.list", Some(ListKind::Dsa)),
        ("DLA.list", Some(ListKind::Dla)),
        ("tracker-json-example.json", None),
    ]
    .into_iter()
    .map(|(file, kind)| {
        let p = root.join("debian-tracker").join(file);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = rel(&root, &p);
        let parsed = match kind {
            Some(kind) => parse_tracker_list(&name, &bytes, kind),
            None => parse_tracker_json(&name, &bytes),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        Doc { name, parsed }
    })
    .collect();
    Sample {
        pypa: osv_docs(&root, "osv-pypi", Source::Osv, "yaml", 24),
        ghsa: osv_docs(&root, "ghsa", Source::Ghsa, "json", 10),
        debian,
    }
}

/// The stored form of `docs` for `feed`, every record stamped with `fetch`.
pub fn documents(feed: &str, fetch: &str, docs: &[Doc]) -> Vec<DocumentRecords> {
    docs.iter()
        .map(|d| DocumentRecords {
            document: d.name.clone(),
            records: d
                .parsed
                .records
                .iter()
                .map(|r| StoredRecord {
                    feed: feed.to_owned(),
                    fetch_id: fetch.to_owned(),
                    record: r.clone(),
                })
                .collect(),
            skipped: d.parsed.skipped.clone(),
        })
        .collect()
}

/// A fetch run of `feed` at `at`.
pub fn fetch(feed: &str, at: &str) -> FetchRun {
    FetchRun {
        id: format!("{feed}@{at}"),
        started: at.to_owned(),
        finished: at.to_owned(),
    }
}

/// A successful fetch of `docs` into `feed` at `at`, with a cursor naming the time.
pub fn feed_change(feed: &str, source: Source, at: &str, docs: &[Doc]) -> FeedChange {
    let run = fetch(feed, at);
    FeedChange {
        feed: feed.to_owned(),
        documents: documents(feed, &run.id, docs),
        removed_documents: Vec::new(),
        state: FeedState {
            feed: feed.to_owned(),
            source: source.name().to_owned(),
            cursor: serde_json::json!({ "since": at, "pages": [1, 2], "etag": null }),
            last_attempt: Some(at.to_owned()),
            last_success: Some(at.to_owned()),
            last_error: None,
            last_fetch: Some(run.id.clone()),
        },
        fetch: Some(run),
    }
}

/// Every record of the stored documents of `changes`, as `records()` must return them.
fn expected_records(docs: &[(&str, &[DocumentRecords])]) -> Vec<StoredRecord> {
    let mut keyed: Vec<(String, String, usize, StoredRecord)> = Vec::new();
    for (feed, list) in docs {
        for d in *list {
            for (i, r) in d.records.iter().enumerate() {
                keyed.push((feed.to_string(), d.document.clone(), i, r.clone()));
            }
        }
    }
    keyed.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    keyed.into_iter().map(|k| k.3).collect()
}

fn all_records(s: &Sample) -> Vec<SourceRecord> {
    s.pypa
        .iter()
        .chain(&s.ghsa)
        .chain(&s.debian)
        .flat_map(|d| d.parsed.records.iter().cloned())
        .collect()
}

fn ok<T>(r: Result<T, FeedStoreError>) -> T {
    r.unwrap_or_else(|e| panic!("store error: {e}"))
}

/// Everything a store can be asked, for whole-store comparisons.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    records: Vec<StoredRecord>,
    skipped: Vec<(String, Vec<Skipped>)>,
    advisories: Vec<CanonicalAdvisory>,
    states: Vec<FeedState>,
    counts: Vec<(String, FeedCounts)>,
    events: Vec<StoredMergeEvent>,
    meta: Vec<(String, Option<serde_json::Value>)>,
}

const FEEDS: [&str; 4] = ["pypa", "ghsa", "debian", "nope"];
const META_KEYS: [&str; 3] = ["installed_kit", "export", "absent"];

/// Reads everything.
pub fn snapshot(store: &dyn FeedStore) -> Snapshot {
    Snapshot {
        records: ok(store.records()),
        skipped: FEEDS
            .iter()
            .map(|f| (f.to_string(), ok(store.skipped(f))))
            .collect(),
        advisories: ok(store.advisories()),
        states: ok(store.feed_states()),
        counts: FEEDS
            .iter()
            .map(|f| (f.to_string(), ok(store.feed_counts(f))))
            .collect(),
        events: ok(store.merge_events(0, usize::MAX)),
        meta: META_KEYS
            .iter()
            .map(|k| (k.to_string(), ok(store.meta(k))))
            .collect(),
    }
}

/// A store holding the three feeds, their merge (with its events) and a meta key.
fn populated<B: Backend>(b: &mut B, s: &Sample) -> (B::Store, Changeset) {
    let mut store = b.fresh();
    let outcome = merge(&all_records(s), &Precedence::default());
    let changes = [
        feed_change("pypa", Source::Osv, "2026-01-01T00:00:00Z", &s.pypa),
        feed_change("ghsa", Source::Ghsa, "2026-01-01T00:01:00Z", &s.ghsa),
    ];
    for c in changes {
        ok(store.commit(&Changeset {
            feed: Some(c),
            at: "2026-01-01T00:02:00Z".into(),
            ..Changeset::default()
        }));
    }
    let last = Changeset {
        feed: Some(feed_change(
            "debian",
            Source::Debian,
            "2026-01-01T00:03:00Z",
            &s.debian,
        )),
        merge: MergeChange {
            upserts: outcome.advisories,
            retracted: Vec::new(),
            events: outcome.events,
        },
        meta: vec![(
            "installed_kit".into(),
            serde_json::json!({ "id": "kit-1", "n": 3 }),
        )],
        at: "2026-01-01T00:04:00Z".into(),
    };
    ok(store.commit(&last));
    (store, last)
}

// ---------------------------------------------------------------------------------------
// The suite

/// Records read back equal what was committed, sorted by (feed, document, position),
/// each with its fetch id.
pub fn records_round_trip_in_document_order<B: Backend>(b: &mut B) {
    let s = sample();
    let (store, _) = populated(b, &s);
    let pypa = documents("pypa", "pypa@2026-01-01T00:00:00Z", &s.pypa);
    let ghsa = documents("ghsa", "ghsa@2026-01-01T00:01:00Z", &s.ghsa);
    let debian = documents("debian", "debian@2026-01-01T00:03:00Z", &s.debian);
    let expected = expected_records(&[("debian", &debian), ("ghsa", &ghsa), ("pypa", &pypa)]);
    let got = ok(store.records());
    assert!(
        s.debian[..2].iter().all(|d| d.parsed.records.len() > 50),
        "the Debian lists are multi-record documents"
    );
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    // Document order inside a list is the list's own order, not sorted by id.
    let dla: Vec<&str> = got
        .iter()
        .filter(|r| r.record.document.ends_with("DLA.list"))
        .map(|r| r.record.record.id.as_str())
        .collect();
    let dla_in: Vec<&str> = s.debian[1]
        .parsed
        .records
        .iter()
        .map(|r| r.record.id.as_str())
        .collect();
    assert_eq!(dla, dla_in);
}

/// A change replaces the documents it names, keeps the others, and drops removed ones.
pub fn documents_replaced_kept_and_removed<B: Backend>(b: &mut B) {
    let s = sample();
    let mut store = b.fresh();
    let docs = &s.pypa[..6];
    ok(store.commit(&Changeset {
        feed: Some(feed_change(
            "pypa",
            Source::Osv,
            "2026-02-01T00:00:00Z",
            docs,
        )),
        ..Changeset::default()
    }));
    assert_eq!(ok(store.feed_counts("pypa")).documents, 6);
    // Second fetch: document 1 changed (its record now also names document 2's id as an
    // alias), document 3 is gone, document 4 now yields nothing; 0, 2 and 5 untouched.
    let mut changed = docs[1].clone();
    changed.parsed.records[0]
        .record
        .aliases
        .push(docs[2].parsed.records[0].record.id.clone());
    changed.parsed.records[0].record.modified = "2026-02-02T00:00:00Z".into();
    let emptied = Doc {
        name: docs[4].name.clone(),
        parsed: Parsed::default(),
    };
    let mut second = feed_change(
        "pypa",
        Source::Osv,
        "2026-02-02T00:00:00Z",
        &[changed.clone(), emptied],
    );
    second.removed_documents = vec![docs[3].name.clone()];
    ok(store.commit(&Changeset {
        feed: Some(second),
        ..Changeset::default()
    }));
    let first_fetch = "pypa@2026-02-01T00:00:00Z";
    let second_fetch = "pypa@2026-02-02T00:00:00Z";
    let kept = [&docs[0], &docs[2], &docs[5]];
    let mut expected_docs: Vec<DocumentRecords> = kept
        .iter()
        .flat_map(|d| documents("pypa", first_fetch, std::slice::from_ref(*d)))
        .collect();
    expected_docs.extend(documents("pypa", second_fetch, &[changed]));
    let expected = expected_records(&[("pypa", &expected_docs)]);
    let got = ok(store.records());
    assert_eq!(got, expected);
    assert!(
        got.iter()
            .all(|r| r.record.document != docs[3].name && r.record.document != docs[4].name)
    );
    // The emptied document is still held (it exists, with no records); the removed one is not.
    let counts = ok(store.feed_counts("pypa"));
    assert_eq!(counts.documents, 5);
    assert_eq!(counts.records, 4);
    assert_eq!(
        counts.newest_modified.as_deref(),
        Some("2026-02-02T00:00:00Z")
    );
}

/// Skipped entries are stored per feed and document, in order, and go with their document.
pub fn skipped_entries_follow_their_documents<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, _) = populated(b, &s);
    let expected: Vec<Skipped> = s
        .debian
        .iter()
        .flat_map(|d| d.parsed.skipped.iter().cloned())
        .collect();
    assert!(
        !expected.is_empty(),
        "the tracker export has skipped entries"
    );
    assert_eq!(ok(store.skipped("debian")), expected);
    assert_eq!(
        ok(store.feed_counts("debian")).skipped,
        expected.len() as u64
    );
    assert!(ok(store.skipped("pypa")).is_empty());
    // Replacing the export's document writes its skipped entries once, not twice.
    let again = feed_change(
        "debian",
        Source::Debian,
        "2026-03-01T00:00:00Z",
        &s.debian[2..],
    );
    ok(store.commit(&Changeset {
        feed: Some(again),
        ..Changeset::default()
    }));
    assert_eq!(ok(store.skipped("debian")), expected);
    // Removing it drops its skipped entries and records, and keeps the lists'.
    let mut change = feed_change("debian", Source::Debian, "2026-03-02T00:00:00Z", &[]);
    change.removed_documents = vec![s.debian[2].name.clone()];
    ok(store.commit(&Changeset {
        feed: Some(change),
        ..Changeset::default()
    }));
    assert!(ok(store.skipped("debian")).is_empty());
    let lists: usize = s.debian[..2].iter().map(|d| d.parsed.records.len()).sum();
    assert_eq!(ok(store.feed_counts("debian")).records, lists as u64);
    assert_eq!(ok(store.feed_counts("debian")).documents, 2);
}

/// Advisories are written whole, found by id and by every alias; alias lookups follow
/// updates and retractions.
pub fn advisories_upsert_retract_and_lookup_by_alias<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, last) = populated(b, &s);
    let built = &last.merge.upserts;
    assert_eq!(ok(store.advisories()), *built);
    let mut shared_aliases = 0;
    for a in built {
        assert_eq!(
            ok(store.advisory(&a.id)).as_ref(),
            Some(a),
            "by id {}",
            a.id
        );
        for alias in &a.aliases {
            // A Debian advisory id names several CVEs, so it is an alias of several
            // advisories: the lookup answers the one with the smallest id.
            let naming: Vec<&str> = built
                .iter()
                .filter(|x| x.aliases.contains(alias))
                .map(|x| x.id.as_str())
                .collect();
            shared_aliases += usize::from(naming.len() > 1);
            let own = built.iter().find(|x| x.id == *alias).map(|x| x.id.as_str());
            let expected = own.or_else(|| naming.iter().min().copied());
            assert_eq!(
                ok(store.advisory(alias)).map(|x| x.id),
                expected.map(str::to_owned),
                "by alias {alias}"
            );
        }
    }
    assert!(
        shared_aliases > 0,
        "the sample has aliases shared by advisories"
    );
    assert_eq!(ok(store.advisory("CVE-0000-00000")), None);
    // Update one multi-alias advisory: drop its first alias, add a new one.
    // (Aliases chosen so that no other advisory names them.)
    let only_in = |a: &CanonicalAdvisory, alias: &String| {
        built
            .iter()
            .all(|x| x.id == a.id || (x.id != *alias && !x.aliases.contains(alias)))
    };
    let mut updated = built
        .iter()
        .find(|a| a.aliases.len() >= 2 && only_in(a, &a.aliases[0]))
        .expect("an advisory with two aliases")
        .clone();
    let dropped = updated.aliases.remove(0);
    updated.aliases.push("ZZZ-NEW-ALIAS-1".into());
    updated.summary = Some("updated summary".into());
    // Retract another.
    let retracted = built
        .iter()
        .find(|a| {
            a.id != updated.id && !a.aliases.is_empty() && a.aliases.iter().all(|x| only_in(a, x))
        })
        .expect("a second advisory")
        .clone();
    ok(store.commit(&Changeset {
        merge: MergeChange {
            upserts: vec![updated.clone()],
            retracted: vec![retracted.id.clone()],
            events: Vec::new(),
        },
        at: "2026-04-01T00:00:00Z".into(),
        ..Changeset::default()
    }));
    assert_eq!(ok(store.advisory(&updated.id)), Some(updated.clone()));
    assert_eq!(ok(store.advisory("ZZZ-NEW-ALIAS-1")), Some(updated.clone()));
    assert_eq!(
        ok(store.advisory(&dropped)),
        None,
        "old alias {dropped} no longer leads anywhere"
    );
    assert_eq!(ok(store.advisory(&retracted.id)), None);
    for alias in &retracted.aliases {
        assert_eq!(
            ok(store.advisory(alias)),
            None,
            "alias {alias} of a retracted advisory"
        );
    }
    let mut expected: Vec<CanonicalAdvisory> = built
        .iter()
        .filter(|a| a.id != retracted.id)
        .map(|a| {
            if a.id == updated.id {
                updated.clone()
            } else {
                a.clone()
            }
        })
        .collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ok(store.advisories()), expected);
}

/// Events get increasing sequence numbers from 1, carry the commit's time, and are paged
/// with `after` / `limit`.
pub fn merge_events_log<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, last) = populated(b, &s);
    let first = &last.merge.events;
    assert!(first.len() > 10);
    // A later merge without the GHSA records: updates and retractions against the first.
    let fewer: Vec<SourceRecord> = all_records(&s)
        .into_iter()
        .filter(|r| r.source != Source::Ghsa)
        .collect();
    let second = diff(&last.merge.upserts, &fewer, &Precedence::default());
    assert!(
        second
            .events
            .iter()
            .any(|e| e.reason == MergeReason::Updated)
    );
    ok(store.commit(&Changeset {
        merge: MergeChange {
            upserts: second.advisories.clone(),
            retracted: second
                .events
                .iter()
                .filter(|e| e.reason == MergeReason::Retracted)
                .map(|e| e.canonical_id.clone())
                .collect(),
            events: second.events.clone(),
        },
        at: "2026-05-01T00:00:00Z".into(),
        ..Changeset::default()
    }));
    let all = ok(store.merge_events(0, usize::MAX));
    let events: Vec<MergeEvent> = all.iter().map(|e| e.event.clone()).collect();
    let expected: Vec<MergeEvent> = first.iter().chain(&second.events).cloned().collect();
    assert_eq!(events, expected);
    assert_eq!(all[0].seq, 1);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    assert!(all[..first.len()].iter().all(|e| e.at == last.at));
    assert!(
        all[first.len()..]
            .iter()
            .all(|e| e.at == "2026-05-01T00:00:00Z")
    );
    // Paging.
    let after = all[4].seq;
    assert_eq!(ok(store.merge_events(after, 3)), all[5..8].to_vec());
    assert_eq!(ok(store.merge_events(after, usize::MAX)), all[5..].to_vec());
    assert!(ok(store.merge_events(0, 0)).is_empty());
    let last_seq = all[all.len() - 1].seq;
    assert!(ok(store.merge_events(last_seq, 10)).is_empty());
}

/// Feed states round-trip (cursor JSON included), sorted by feed; counts are derived
/// from the rows.
pub fn feed_state_and_counts<B: Backend>(b: &mut B) {
    let s = sample();
    let (store, _) = populated(b, &s);
    let states = ok(store.feed_states());
    let names: Vec<&str> = states.iter().map(|x| x.feed.as_str()).collect();
    assert_eq!(names, ["debian", "ghsa", "pypa"]);
    let expected = feed_change("ghsa", Source::Ghsa, "2026-01-01T00:01:00Z", &s.ghsa).state;
    assert_eq!(ok(store.feed_state("ghsa")), Some(expected));
    assert_eq!(ok(store.feed_state("nope")), None);
    for (feed, docs) in [("pypa", &s.pypa), ("ghsa", &s.ghsa), ("debian", &s.debian)] {
        let records: Vec<&SourceRecord> = docs.iter().flat_map(|d| &d.parsed.records).collect();
        let newest = records
            .iter()
            .map(|r| r.record.modified.as_str())
            .filter(|m| !m.is_empty())
            .max()
            .map(str::to_owned);
        assert_eq!(
            ok(store.feed_counts(feed)),
            FeedCounts {
                documents: docs.len() as u64,
                records: records.len() as u64,
                skipped: docs.iter().map(|d| d.parsed.skipped.len() as u64).sum(),
                newest_modified: newest,
            },
            "counts of {feed}"
        );
    }
    assert_eq!(ok(store.feed_counts("nope")), FeedCounts::default());
}

/// A failed run updates the feed's last attempt and error only.
pub fn record_failure_keeps_everything_else<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, _) = populated(b, &s);
    let before = snapshot(&store);
    ok(store.record_failure(
        "ghsa",
        "ghsa",
        "2026-06-01T00:00:00Z",
        "HTTP 503 from the API",
    ));
    let after = snapshot(&store);
    let mut expected_states = before.states.clone();
    for st in &mut expected_states {
        if st.feed == "ghsa" {
            st.last_attempt = Some("2026-06-01T00:00:00Z".into());
            st.last_error = Some("HTTP 503 from the API".into());
        }
    }
    assert_eq!(after.states, expected_states);
    assert_eq!(
        Snapshot {
            states: before.states.clone(),
            ..after
        },
        before
    );
    // A feed without a state gets one, with the default cursor.
    ok(store.record_failure("nvd", "nvd", "2026-06-02T00:00:00Z", "timed out"));
    assert_eq!(
        ok(store.feed_state("nvd")),
        Some(FeedState {
            feed: "nvd".into(),
            source: "nvd".into(),
            cursor: serde_json::Value::Null,
            last_attempt: Some("2026-06-02T00:00:00Z".into()),
            last_success: None,
            last_error: Some("timed out".into()),
            last_fetch: None,
        })
    );
}

/// Meta keys are set, replaced, and independent of each other.
pub fn meta_values<B: Backend>(b: &mut B) {
    let mut store = b.fresh();
    assert_eq!(ok(store.meta("installed_kit")), None);
    let kit = serde_json::json!({ "id": "kit-7", "sha256": "ab".repeat(32), "size": 123456789012u64, "f": 0.25 });
    ok(store.commit(&Changeset {
        meta: vec![
            ("installed_kit".into(), kit.clone()),
            ("export".into(), serde_json::json!(["a", 1, null, true])),
        ],
        ..Changeset::default()
    }));
    assert_eq!(ok(store.meta("installed_kit")), Some(kit));
    ok(store.commit(&Changeset {
        meta: vec![("installed_kit".into(), serde_json::json!("kit-8"))],
        ..Changeset::default()
    }));
    assert_eq!(
        ok(store.meta("installed_kit")),
        Some(serde_json::json!("kit-8"))
    );
    assert_eq!(
        ok(store.meta("export")),
        Some(serde_json::json!(["a", 1, null, true]))
    );
    assert_eq!(ok(store.meta("absent")), None);
}

/// A commit that fails on its last write leaves the store exactly as it was.
pub fn failed_commit_changes_nothing<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, last) = populated(b, &s);
    let before = snapshot(&store);
    b.refuse_event("ZZZ-MARKER");
    // A change touching every part: a replaced and a removed document, the state, an
    // upsert, a retraction, meta, and events whose last one the store refuses.
    let mut doc = s.pypa[0].clone();
    doc.parsed.records[0].record.summary = Some("changed".into());
    let mut fc = feed_change("pypa", Source::Osv, "2026-07-01T00:00:00Z", &[doc]);
    fc.removed_documents = vec![s.pypa[1].name.clone()];
    fc.state.cursor = serde_json::json!({ "since": "later" });
    let mut upsert = last.merge.upserts[0].clone();
    upsert.summary = Some("changed".into());
    let event = |id: &str| MergeEvent {
        canonical_id: id.to_owned(),
        before_digest: None,
        after_digest: None,
        sources: vec!["osv".into()],
        reason: MergeReason::Updated,
    };
    let change = Changeset {
        feed: Some(fc),
        merge: MergeChange {
            upserts: vec![upsert.clone()],
            retracted: vec![last.merge.upserts[1].id.clone()],
            events: vec![event(&upsert.id), event("ZZZ-MARKER")],
        },
        meta: vec![("installed_kit".into(), serde_json::json!("other"))],
        at: "2026-07-01T00:00:00Z".into(),
    };
    let err = store.commit(&change);
    assert!(err.is_err(), "the refused event must fail the commit");
    assert_eq!(snapshot(&store), before);
    // The store still works, and numbering has no gap.
    let mut fine = change.clone();
    fine.merge.events.pop();
    ok(store.commit(&fine));
    let events = ok(store.merge_events(0, usize::MAX));
    assert_eq!(events.len(), before.events.len() + 1);
    assert_eq!(events[events.len() - 1].seq, before.events.len() as u64 + 1);
}

/// A changeset that contradicts itself is refused before anything is written.
pub fn invalid_change_is_refused_whole<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, last) = populated(b, &s);
    let before = snapshot(&store);
    let mut fc = feed_change("pypa", Source::Osv, "2026-08-01T00:00:00Z", &s.pypa[..2]);
    fc.documents[1].records[0].feed = "ghsa".into();
    let change = Changeset {
        feed: Some(fc),
        merge: last.merge.clone(),
        at: "2026-08-01T00:00:00Z".into(),
        ..Changeset::default()
    };
    assert!(matches!(
        store.commit(&change),
        Err(FeedStoreError::InvalidChange { .. })
    ));
    let mut fc = feed_change("pypa", Source::Osv, "2026-08-01T00:00:00Z", &s.pypa[..1]);
    fc.removed_documents = vec![s.pypa[0].name.clone()];
    assert!(matches!(
        store.commit(&Changeset {
            feed: Some(fc),
            ..Changeset::default()
        }),
        Err(FeedStoreError::InvalidChange { .. })
    ));
    let mut fc = feed_change("pypa", Source::Osv, "2026-08-01T00:00:00Z", &s.pypa[..1]);
    fc.documents.push(fc.documents[0].clone());
    assert!(matches!(
        store.commit(&Changeset {
            feed: Some(fc),
            ..Changeset::default()
        }),
        Err(FeedStoreError::InvalidChange { .. })
    ));
    let mut fc = feed_change("pypa", Source::Osv, "2026-08-01T00:00:00Z", &s.pypa[..1]);
    fc.state.feed = "ghsa".into();
    assert!(matches!(
        store.commit(&Changeset {
            feed: Some(fc),
            ..Changeset::default()
        }),
        Err(FeedStoreError::InvalidChange { .. })
    ));
    assert_eq!(snapshot(&store), before);
}

/// The same changeset twice leaves the same state; the event log is a log and holds the
/// events twice, so the sync must not replay events: re-merging against the stored
/// advisories (as it does) reports none.
pub fn same_changeset_twice<B: Backend>(b: &mut B) {
    let s = sample();
    let (mut store, last) = populated(b, &s);
    let once = snapshot(&store);
    ok(store.commit(&last));
    let twice = snapshot(&store);
    let n = last.merge.events.len();
    assert_eq!(twice.events.len(), once.events.len() + n);
    let replayed: Vec<&MergeEvent> = twice.events[once.events.len()..]
        .iter()
        .map(|e| &e.event)
        .collect();
    assert_eq!(replayed, last.merge.events.iter().collect::<Vec<_>>());
    assert_eq!(
        Snapshot {
            events: once.events.clone(),
            ..twice
        },
        once
    );
    // What the sync does on a re-run: merge the stored records against the stored
    // advisories: no event, same advisories.
    let records: Vec<SourceRecord> = ok(store.records()).into_iter().map(|r| r.record).collect();
    let rerun = diff(&ok(store.advisories()), &records, &Precedence::default());
    assert!(rerun.events.is_empty());
    assert_eq!(rerun.advisories, ok(store.advisories()));
    assert_eq!(build(&records, &Precedence::default()), last.merge.upserts);
}

/// Everything survives closing and reopening; numbering continues.
pub fn reopen_keeps_everything<B: Backend>(b: &mut B) {
    let s = sample();
    let (store, last) = populated(b, &s);
    let before = snapshot(&store);
    drop(store);
    let mut store = b.reopen();
    assert_eq!(snapshot(&store), before);
    ok(store.commit(&Changeset {
        merge: MergeChange {
            events: last.merge.events[..2].to_vec(),
            ..MergeChange::default()
        },
        at: "2026-09-01T00:00:00Z".into(),
        ..Changeset::default()
    }));
    let seqs: Vec<u64> = ok(store.merge_events(before.events.len() as u64 - 1, 10))
        .iter()
        .map(|e| e.seq)
        .collect();
    let n = before.events.len() as u64;
    assert_eq!(seqs, [n, n + 1, n + 2]);
}
