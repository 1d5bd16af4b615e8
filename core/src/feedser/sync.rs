//! Sync decisions, without I/O: how a feed's fetched documents become a [`FeedChange`],
//! and how the store's records become a [`MergeChange`] against the stored advisories.
//!
//! A sync is two kinds of commit: one per feed (its documents and state; a failing feed
//! commits nothing but its error), then one merge over every stored record. The merge
//! reads only the store, so a crash between the commits is repaired by the next merge.

use std::collections::{BTreeSet, HashMap};

use crate::advisory::canonical::{CanonicalAdvisory, record_sha256};
use crate::feedser::connectors::parse_document;
use crate::feedser::merge::{MergeReason, Precedence, build, events};
use crate::feedser::store::{
    DocumentRecords, FeedChange, FeedState, FetchRun, MergeChange, StoredRecord,
};
use crate::feedser::{ConnectorError, Parsed, Source, SourceRecord, parallel_map};

/// What one feed's fetch produced, parsed.
#[derive(Debug, Clone, Default)]
pub struct FetchedFeed {
    /// The feed's name.
    pub feed: String,
    /// The fetch run.
    pub fetch: Option<FetchRun>,
    /// Documents read and parsed (name, result).
    pub changed: Vec<(String, Parsed)>,
    /// Documents that no longer exist at the feed's location.
    pub removed: Vec<String>,
    /// The feed's state to store (cursor, times).
    pub state: FeedState,
}

/// Parses documents of `source` on every CPU; results in input order.
pub fn parse_documents(
    source: Source,
    documents: &[(String, Vec<u8>)],
) -> Vec<Result<Parsed, ConnectorError>> {
    parallel_map(documents, |(name, bytes)| {
        parse_document(source, name, bytes)
    })
}

/// Turns a fetch into the feed part of a changeset. `previous` are the feed's stored
/// records; a record whose content, document and location did not change keeps the fetch
/// id it had, so re-fetching unchanged data changes no advisory.
pub fn feed_change(previous: &[StoredRecord], fetched: FetchedFeed) -> FeedChange {
    let mine: Vec<&StoredRecord> = previous.iter().filter(|r| r.feed == fetched.feed).collect();
    let digests = parallel_map(&mine, |r| record_sha256(&r.record.record));
    let kept: HashMap<(&str, &str, String), &str> = mine
        .iter()
        .zip(digests)
        .map(|(r, d)| {
            (
                (r.record.document.as_str(), r.record.location.as_str(), d),
                r.fetch_id.as_str(),
            )
        })
        .collect();
    let fetch_id = fetched
        .fetch
        .as_ref()
        .map(|f| f.id.clone())
        .unwrap_or_default();
    let documents = fetched
        .changed
        .into_iter()
        .map(|(document, parsed)| {
            let records = parsed
                .records
                .into_iter()
                .map(|record| {
                    let key = (
                        record.document.as_str(),
                        record.location.as_str(),
                        record_sha256(&record.record),
                    );
                    let fetch_id = kept
                        .get(&key)
                        .map_or_else(|| fetch_id.clone(), |id| (*id).to_owned());
                    StoredRecord {
                        feed: fetched.feed.clone(),
                        fetch_id,
                        record,
                    }
                })
                .collect();
            DocumentRecords {
                document,
                records,
                skipped: parsed.skipped,
            }
        })
        .collect();
    FeedChange {
        feed: fetched.feed,
        fetch: fetched.fetch,
        documents,
        removed_documents: fetched.removed,
        state: fetched.state,
    }
}

/// Merges every stored record and says what changed relative to `previous` (the stored
/// advisories). Provenance entries carry the fetch of their record.
pub fn merge_change(
    records: &[StoredRecord],
    previous: &[CanonicalAdvisory],
    precedence: &Precedence,
) -> MergeChange {
    let plain: Vec<SourceRecord> = records.iter().map(|r| r.record.clone()).collect();
    let mut advisories = build(&plain, precedence);
    attach_fetches(&mut advisories, records);
    let events = events(previous, &advisories);
    let changed: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.reason != MergeReason::Retracted)
        .map(|e| e.canonical_id.as_str())
        .collect();
    let retracted = events
        .iter()
        .filter(|e| e.reason == MergeReason::Retracted)
        .map(|e| e.canonical_id.clone())
        .collect();
    let upserts = advisories
        .iter()
        .filter(|a| changed.contains(a.id.as_str()))
        .cloned()
        .collect();
    MergeChange {
        upserts,
        retracted,
        events,
    }
}

/// Sets `fetch` on every provenance entry from the stored record it names. When two
/// feeds hold the same content under the same name (same source, document, location,
/// digest), the alphabetically first fetch id is used, whatever the record order.
fn attach_fetches(advisories: &mut [CanonicalAdvisory], records: &[StoredRecord]) {
    // Keyed without the digest: hashing every record again would double the merge's cost,
    // and (source, document, location) is unique except across feeds reading one file.
    let mut by_place: HashMap<(&str, &str, &str), Vec<&StoredRecord>> = HashMap::new();
    for r in records {
        let key = (
            r.record.source.name(),
            r.record.document.as_str(),
            r.record.location.as_str(),
        );
        by_place.entry(key).or_default().push(r);
    }
    for advisory in advisories {
        for p in &mut advisory.provenance {
            let key = (p.source.as_str(), p.document.as_str(), p.location.as_str());
            let fetch = match by_place.get(&key).map(Vec::as_slice) {
                Some([only]) => Some(only.fetch_id.as_str()),
                Some(several) => several
                    .iter()
                    .filter(|r| record_sha256(&r.record.record) == p.sha256)
                    .map(|r| r.fetch_id.as_str())
                    .min(),
                None => None,
            };
            p.fetch = fetch.filter(|id| !id.is_empty()).map(str::to_owned);
        }
    }
}

/// Per-feed figures of one sync, for the progress line and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFigures {
    /// Documents parsed.
    pub documents: usize,
    /// Documents unchanged since the last run (not parsed).
    pub unchanged: usize,
    /// Documents removed.
    pub removed: usize,
    /// Records read.
    pub records: usize,
    /// Entries skipped.
    pub skipped: usize,
}

impl FeedFigures {
    /// The figures of `fetched` plus `unchanged` documents that were not re-read.
    pub fn of(fetched: &FetchedFeed, unchanged: usize) -> Self {
        Self {
            documents: fetched.changed.len(),
            unchanged,
            removed: fetched.removed.len(),
            records: fetched.changed.iter().map(|(_, p)| p.records.len()).sum(),
            skipped: fetched.changed.iter().map(|(_, p)| p.skipped.len()).sum(),
        }
    }
}

/// The fetch id of a run of `feed` started at `started` (RFC 3339).
pub fn fetch_id(feed: &str, started: &str) -> String {
    format!("{feed}@{started}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::osv::OsvRecord;
    use crate::feedser::Source;
    use crate::feedser::merge::MergeReason;

    fn rec(source: Source, doc: &str, id: &str, aliases: &[&str], summary: &str) -> SourceRecord {
        SourceRecord {
            source,
            document: doc.into(),
            location: id.into(),
            record: OsvRecord {
                id: id.into(),
                modified: "2024-01-01T00:00:00Z".into(),
                aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                summary: Some(summary.into()),
                ..OsvRecord::default()
            },
        }
    }

    fn fetched(feed: &str, fetch: &str, docs: Vec<(&str, Vec<SourceRecord>)>) -> FetchedFeed {
        FetchedFeed {
            feed: feed.into(),
            fetch: Some(FetchRun {
                id: fetch.into(),
                started: "s".into(),
                finished: "f".into(),
            }),
            changed: docs
                .into_iter()
                .map(|(d, records)| {
                    (
                        d.to_owned(),
                        Parsed {
                            records,
                            skipped: vec![],
                        },
                    )
                })
                .collect(),
            removed: vec![],
            state: FeedState::default(),
        }
    }

    fn stored(change: &FeedChange) -> Vec<StoredRecord> {
        change
            .documents
            .iter()
            .flat_map(|d| d.records.clone())
            .collect()
    }

    #[test]
    fn unchanged_records_keep_their_fetch_and_changed_ones_take_the_new_one() {
        let first = feed_change(
            &[],
            fetched(
                "ghsa",
                "ghsa@1",
                vec![(
                    "a.json",
                    vec![
                        rec(Source::Ghsa, "a.json", "GHSA-1", &["CVE-2024-1"], "one"),
                        rec(Source::Ghsa, "a.json", "GHSA-2", &["CVE-2024-2"], "two"),
                    ],
                )],
            ),
        );
        let before = stored(&first);
        assert!(before.iter().all(|r| r.fetch_id == "ghsa@1"));
        let second = feed_change(
            &before,
            fetched(
                "ghsa",
                "ghsa@2",
                vec![(
                    "a.json",
                    vec![
                        rec(Source::Ghsa, "a.json", "GHSA-1", &["CVE-2024-1"], "one"),
                        rec(
                            Source::Ghsa,
                            "a.json",
                            "GHSA-2",
                            &["CVE-2024-2"],
                            "two, edited",
                        ),
                    ],
                )],
            ),
        );
        let records = stored(&second);
        let ids: Vec<(&str, &str)> = records
            .iter()
            .map(|r| (r.record.record.id.as_str(), r.fetch_id.as_str()))
            .collect();
        assert_eq!(ids, vec![("GHSA-1", "ghsa@1"), ("GHSA-2", "ghsa@2")]);
    }

    #[test]
    fn rerun_is_silent_and_removing_a_feed_retracts_only_its_contribution() {
        let p = Precedence::default();
        let ghsa = stored(&feed_change(
            &[],
            fetched(
                "ghsa",
                "ghsa@1",
                vec![(
                    "a.json",
                    vec![rec(Source::Ghsa, "a.json", "GHSA-1", &["CVE-2024-1"], "g")],
                )],
            ),
        ));
        let nvd = stored(&feed_change(
            &[],
            fetched(
                "nvd",
                "nvd@1",
                vec![
                    (
                        "c1.json",
                        vec![rec(Source::Nvd, "c1.json", "CVE-2024-1", &[], "n")],
                    ),
                    (
                        "c9.json",
                        vec![rec(Source::Nvd, "c9.json", "CVE-2024-9", &[], "n")],
                    ),
                ],
            ),
        ));
        let all: Vec<StoredRecord> = ghsa.iter().chain(&nvd).cloned().collect();
        let first = merge_change(&all, &[], &p);
        assert_eq!(first.upserts.len(), 2);
        assert!(
            first
                .events
                .iter()
                .all(|e| e.reason == MergeReason::Created)
        );
        let cve1 = first
            .upserts
            .iter()
            .find(|a| a.id == "CVE-2024-1")
            .expect("CVE-2024-1 merged");
        let fetches: Vec<Option<&str>> =
            cve1.provenance.iter().map(|p| p.fetch.as_deref()).collect();
        assert_eq!(fetches, vec![Some("ghsa@1"), Some("nvd@1")]);

        // Same records again, against what the first run stored: nothing to write.
        let again = merge_change(&all, &first.upserts, &p);
        assert_eq!(again, MergeChange::default());

        // GHSA gone: CVE-2024-1 loses its GHSA part (updated), CVE-2024-9 untouched.
        let gone = merge_change(&nvd, &first.upserts, &p);
        assert!(gone.retracted.is_empty());
        assert_eq!(gone.events.len(), 1);
        assert_eq!(gone.events[0].canonical_id, "CVE-2024-1");
        assert_eq!(gone.events[0].reason, MergeReason::Updated);
        assert_eq!(gone.events[0].sources, vec!["ghsa".to_owned()]);

        // Everything gone: both retracted.
        let none = merge_change(&[], &first.upserts, &p);
        assert_eq!(none.retracted, vec!["CVE-2024-1", "CVE-2024-9"]);
        assert!(none.upserts.is_empty());
    }
}
