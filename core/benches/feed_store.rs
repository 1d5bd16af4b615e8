//! Feed store throughput (goal: ingest + merge > 20k records/s overall, so the store must
//! be well above that): commit of the whole sample (every connector's records, one
//! changeset per feed, the merge's advisories and events with the last one) into a new
//! SQLite store, in memory and in a file; and reading every record back.

#[path = "../tests/it/testdata.rs"]
mod testdata;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stella_core::feedser::connectors::debian::{ListKind, parse_tracker_json, parse_tracker_list};
use stella_core::feedser::connectors::{alpine, nodejs_wg, nvd, osv, rustsec};
use stella_core::feedser::merge::{Precedence, merge};
use stella_core::feedser::store::sqlite::SqliteFeedStore;
use stella_core::feedser::store::{
    Changeset, DocumentRecords, FeedChange, FeedState, FeedStore, FetchRun, MergeChange,
    StoredRecord,
};
use stella_core::feedser::{Parsed, Source};

/// A feed's name, source and parsed documents (name, what the connector made of it).
type FeedDocs = (&'static str, Source, Vec<(String, Parsed)>);

/// Every source of the sample, one feed each.
fn sample() -> Vec<FeedDocs> {
    let root = testdata::dir().join("feeds-sample");
    let read = |folder: &str, ext: &str, f: &dyn Fn(&str, &[u8]) -> Parsed| {
        let paths = testdata::files(&root.join(folder), &format!(".{ext}"));
        paths
            .iter()
            .map(|p| {
                let name = p.strip_prefix(&root).unwrap_or(p).display().to_string();
                let bytes = std::fs::read(p).expect("readable sample file");
                let parsed = f(&name, &bytes);
                (name, parsed)
            })
            .collect::<Vec<_>>()
    };
    let osv_json = |s: Source| move |n: &str, b: &[u8]| osv::parse(s, n, b, false).expect("parses");
    let mut pypa_go_crates = read("osv-pypi", "yaml", &|n, b| {
        osv::parse(Source::Osv, n, b, true).expect("parses")
    });
    pypa_go_crates.extend(read("osv-go", "json", &osv_json(Source::Osv)));
    pypa_go_crates.extend(read("osv-crates", "json", &osv_json(Source::Osv)));
    let mut debian = read("debian-tracker", "list", &|n, b| {
        let kind = if n.ends_with("DSA.list") {
            ListKind::Dsa
        } else {
            ListKind::Dla
        };
        parse_tracker_list(n, b, kind).expect("parses")
    });
    debian.extend(read("debian-tracker", "json", &|n, b| {
        parse_tracker_json(n, b).expect("parses")
    }));
    let mut nvd_docs = read("nvd", "json", &|n, b| nvd::parse(n, b).expect("parses"));
    nvd_docs.extend(read("nvd-api-pages", "json", &|n, b| {
        nvd::parse(n, b).expect("parses")
    }));
    vec![
        ("osv", Source::Osv, pypa_go_crates),
        (
            "ghsa",
            Source::Ghsa,
            read("ghsa", "json", &osv_json(Source::Ghsa)),
        ),
        ("debian", Source::Debian, debian),
        (
            "alpine",
            Source::Alpine,
            read("alpine-secdb", "yaml", &|n, b| {
                alpine::parse_secdb(n, b).expect("parses")
            }),
        ),
        ("nvd", Source::Nvd, nvd_docs),
        (
            "nodejs-wg",
            Source::NodejsWg,
            read("npm-nodejs-wg", "json", &|n, b| {
                nodejs_wg::parse(n, b).expect("parses")
            }),
        ),
        (
            "rustsec",
            Source::Rustsec,
            read("rustsec-native", "md", &|n, b| {
                rustsec::parse(n, b).expect("parses")
            }),
        ),
    ]
}

/// One changeset per feed; the last also carries the merge of everything.
fn changesets() -> (Vec<Changeset>, u64) {
    let at = "2026-01-01T00:00:00Z";
    let feeds = sample();
    let all: Vec<_> = feeds
        .iter()
        .flat_map(|(_, _, docs)| docs.iter().flat_map(|(_, p)| p.records.iter().cloned()))
        .collect();
    let outcome = merge(&all, &Precedence::default());
    let n = feeds.len();
    let mut out = Vec::new();
    for (i, (feed, source, docs)) in feeds.into_iter().enumerate() {
        let fetch = FetchRun {
            id: format!("{feed}@{at}"),
            started: at.into(),
            finished: at.into(),
        };
        let documents = docs
            .into_iter()
            .map(|(document, parsed)| DocumentRecords {
                document,
                records: parsed
                    .records
                    .into_iter()
                    .map(|record| StoredRecord {
                        feed: feed.into(),
                        fetch_id: fetch.id.clone(),
                        record,
                    })
                    .collect(),
                skipped: parsed.skipped,
            })
            .collect();
        let merge = if i + 1 == n {
            MergeChange {
                upserts: outcome.advisories.clone(),
                retracted: Vec::new(),
                events: outcome.events.clone(),
            }
        } else {
            MergeChange::default()
        };
        out.push(Changeset {
            feed: Some(FeedChange {
                feed: feed.into(),
                documents,
                removed_documents: Vec::new(),
                state: FeedState {
                    feed: feed.into(),
                    source: source.name().into(),
                    cursor: serde_json::json!({ "since": at }),
                    last_attempt: Some(at.into()),
                    last_success: Some(at.into()),
                    last_error: None,
                    last_fetch: Some(fetch.id.clone()),
                },
                fetch: Some(fetch),
            }),
            merge,
            meta: Vec::new(),
            at: at.into(),
        });
    }
    (out, all.len() as u64)
}

fn commit_all(store: &mut SqliteFeedStore, changes: &[Changeset]) {
    for c in changes {
        store.commit(c).expect("commit");
    }
}

fn bench(c: &mut Criterion) {
    let (changes, records) = changesets();
    eprintln!(
        "feed_store bench: {records} records in {} feeds",
        changes.len()
    );
    let mut g = c.benchmark_group("feed_store");
    g.sample_size(20);
    g.throughput(Throughput::Elements(records));
    g.bench_function("commit_sample_in_memory", |b| {
        b.iter_batched(
            || SqliteFeedStore::open_in_memory().expect("store"),
            |mut store| commit_all(&mut store, &changes),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("commit_sample_file", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temporary folder");
                let store = SqliteFeedStore::open(&dir.path().join("f.sqlite")).expect("store");
                (dir, store)
            },
            |(dir, mut store)| {
                commit_all(&mut store, &changes);
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    let mut store = SqliteFeedStore::open_in_memory().expect("store");
    commit_all(&mut store, &changes);
    g.bench_function("read_records", |b| {
        b.iter(|| store.records().expect("records").len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
