//! Runs Feedser against a store: fetch each configured feed, parse what changed, commit
//! in batches with the cursor, then merge everything once. The decisions live in
//! [`crate::feedser::sync`]; this module does the I/O around them.
//!
//! Isolation: a feed whose fetch fails records its error in its state and commits
//! nothing else; the other feeds and the merge still run. A document a connector cannot
//! read keeps the records it had (nothing is lost to bad input), is reported, and gets a
//! fingerprint in the cursor that matches no content, so the next run reads it again.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::feedser::config::{FeedConfig, FeedSpec};
use crate::feedser::fetch::{self, FetchCursor, FetchOptions, Flow, Item, Location, LocationKind};
use crate::feedser::kit::{ImportedKit, KitInfo};
use crate::feedser::merge::{MergeReason, Precedence};
use crate::feedser::store::{
    Changeset, FeedState, FeedStore, FeedStoreError, FetchRun, MergeChange,
};
use crate::feedser::sync::{
    FeedFigures, FetchedFeed, feed_change, fetch_id, merge_change, parse_documents,
};
use crate::feedser::{ConnectorError, Source};

/// The fingerprint of a document that could not be parsed: matches no content.
const UNREADABLE: &str = "unreadable";

/// Documents parsed and committed together (one transaction, one cursor checkpoint).
const BATCH_DOCUMENTS: usize = 2_000;

/// What happened to one feed.
#[derive(Debug, Clone, Default)]
pub struct FeedReport {
    /// The feed.
    pub feed: String,
    /// Its figures.
    pub figures: FeedFigures,
    /// Documents no connector could read (their old records were kept).
    pub unreadable: Vec<ConnectorError>,
    /// The error that stopped the feed, if any.
    pub error: Option<String>,
}

/// What the merge after a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Canonical advisories after the merge.
    pub advisories: usize,
    /// Created.
    pub created: usize,
    /// Updated.
    pub updated: usize,
    /// Retracted.
    pub retracted: usize,
}

/// What a sync or import did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Per feed, in the order run.
    pub feeds: Vec<FeedReport>,
    /// The merge.
    pub merge: MergeSummary,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// A feed starts.
    Feed(&'a str),
    /// Documents handed out so far by the current feed's fetch.
    Documents(usize),
    /// The merge starts.
    Merging,
}

/// The clock: RFC 3339 UTC now. A parameter so tests can fix it.
pub type Clock<'a> = &'a dyn Fn() -> String;

/// Syncs the feeds of `config` (only those named in `only`, when it is not empty; only
/// enabled ones otherwise), then merges. Fails only when the store fails.
pub fn sync(
    store: &mut dyn FeedStore,
    config: &FeedConfig,
    only: &[String],
    now: Clock<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SyncReport, FeedStoreError> {
    let mut report = SyncReport::default();
    for spec in &config.feeds {
        let wanted = if only.is_empty() {
            spec.enabled
        } else {
            only.contains(&spec.name)
        };
        if !wanted {
            continue;
        }
        progress(Progress::Feed(&spec.name));
        let feed = FeedInput::of_spec(spec);
        report
            .feeds
            .push(run_feed(store, &feed, true, now, progress)?);
    }
    progress(Progress::Merging);
    report.merge = merge(store, &config.precedence, now)?;
    Ok(report)
}

/// Imports local files, directories or archives as feed `feed` of `source` (one-off: no
/// cursor is kept and nothing is removed), then merges.
pub fn import(
    store: &mut dyn FeedStore,
    source: Source,
    feed: &str,
    paths: &[PathBuf],
    precedence: &Precedence,
    now: Clock<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SyncReport, FeedStoreError> {
    let mut report = SyncReport::default();
    let base = PathBuf::from(".");
    for path in paths {
        progress(Progress::Feed(feed));
        let text = path.display().to_string();
        let input = match Location::parse(&text, LocationKind::Auto, &base) {
            Ok(location) => FeedInput {
                name: feed.to_owned(),
                source,
                location,
                options: FetchOptions::for_source(source),
            },
            Err(e) => {
                let error = format!("{text}: {e}");
                store.record_failure(feed, source.name(), &now(), &error)?;
                report.feeds.push(FeedReport {
                    feed: feed.to_owned(),
                    error: Some(error),
                    ..FeedReport::default()
                });
                continue;
            }
        };
        report
            .feeds
            .push(run_feed(store, &input, false, now, progress)?);
    }
    progress(Progress::Merging);
    report.merge = merge(store, precedence, now)?;
    Ok(report)
}

/// Merges every stored record and commits the result (nothing when nothing changed).
pub fn merge(
    store: &mut dyn FeedStore,
    precedence: &Precedence,
    now: Clock<'_>,
) -> Result<MergeSummary, FeedStoreError> {
    let records = store.records()?;
    let previous = store.advisories()?;
    let change = merge_change(&records, &previous, precedence);
    let count = |r: MergeReason| change.events.iter().filter(|e| e.reason == r).count();
    let summary = MergeSummary {
        advisories: previous.len() + count(MergeReason::Created) - count(MergeReason::Retracted),
        created: count(MergeReason::Created),
        updated: count(MergeReason::Updated),
        retracted: count(MergeReason::Retracted),
    };
    if !change.events.is_empty() {
        store.commit(&Changeset {
            feed: None,
            merge: change,
            meta: Vec::new(),
            at: now(),
        })?;
    }
    Ok(summary)
}

/// The store's metadata key of the installed kit.
const INSTALLED_KIT: &str = "installed_kit";

/// The kit installed last by [`install_kit`], if any.
pub fn installed_kit(store: &dyn FeedStore) -> Result<Option<KitInfo>, FeedStoreError> {
    Ok(store
        .meta(INSTALLED_KIT)?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Replaces the store's canonical advisories with a verified kit's, in one commit with
/// its merge events and the kit's identity. A store fed by kits holds no source records:
/// a later `sync` would merge its own records and retract what only the kit asserted.
pub fn install_kit(
    store: &mut dyn FeedStore,
    kit: &ImportedKit,
    now: Clock<'_>,
) -> Result<MergeSummary, FeedStoreError> {
    let previous = store.advisories()?;
    let events = crate::feedser::merge::events(&previous, &kit.advisories);
    let count = |r: MergeReason| events.iter().filter(|e| e.reason == r).count();
    let summary = MergeSummary {
        advisories: kit.advisories.len(),
        created: count(MergeReason::Created),
        updated: count(MergeReason::Updated),
        retracted: count(MergeReason::Retracted),
    };
    let changed: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.reason != MergeReason::Retracted)
        .map(|e| e.canonical_id.as_str())
        .collect();
    let change = MergeChange {
        upserts: kit
            .advisories
            .iter()
            .filter(|a| changed.contains(a.id.as_str()))
            .cloned()
            .collect(),
        retracted: events
            .iter()
            .filter(|e| e.reason == MergeReason::Retracted)
            .map(|e| e.canonical_id.clone())
            .collect(),
        events,
    };
    let info = serde_json::to_value(&kit.info).unwrap_or(serde_json::Value::Null);
    store.commit(&Changeset {
        feed: None,
        merge: change,
        meta: vec![(INSTALLED_KIT.to_owned(), info)],
        at: now(),
    })?;
    Ok(summary)
}

/// One feed to fetch.
struct FeedInput {
    name: String,
    source: Source,
    location: Location,
    options: FetchOptions,
}

impl FeedInput {
    fn of_spec(spec: &FeedSpec) -> Self {
        Self {
            name: spec.name.clone(),
            source: spec.source,
            location: spec.location.clone(),
            options: spec.fetch_options(),
        }
    }
}

/// Fetches one feed, committing a batch of parsed documents at a time. With `keep_cursor`
/// false (one-off import) the fetch starts from an empty cursor and saves none.
fn run_feed(
    store: &mut dyn FeedStore,
    feed: &FeedInput,
    keep_cursor: bool,
    now: Clock<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<FeedReport, FeedStoreError> {
    let started = now();
    let run = FetchRun {
        id: fetch_id(&feed.name, &started),
        started: started.clone(),
        finished: String::new(),
    };
    let old_state = store.feed_state(&feed.name)?;
    let previous_cursor = old_state
        .as_ref()
        .filter(|_| keep_cursor)
        .and_then(|s| serde_json::from_value::<FetchCursor>(s.cursor.clone()).ok())
        .unwrap_or_default();
    let mut batch = Batch::default();
    let mut report = FeedReport {
        feed: feed.name.clone(),
        ..FeedReport::default()
    };
    let mut store_error: Option<FeedStoreError> = None;
    let mut seen = 0usize;
    let mut sink = |item: Item, checkpoint: &FetchCursor| -> Flow {
        seen += 1;
        progress(Progress::Documents(seen));
        match item {
            Item::Changed(doc) => batch.changed.push((doc.name, doc.bytes)),
            Item::Unchanged(_) => batch.unchanged += 1,
            Item::Removed(name) => batch.removed.push(name),
        }
        if batch.changed.len() >= BATCH_DOCUMENTS {
            let cursor = keep_cursor.then_some(checkpoint);
            let state = state_of(feed, old_state.as_ref(), cursor, &started);
            if let Err(e) = batch.commit(store, feed, &run, state, &mut report, false) {
                store_error = Some(e);
                return Flow::Break(());
            }
        }
        Flow::Continue(())
    };
    let result = fetch::fetch(&feed.location, &feed.options, &previous_cursor, &mut sink);
    if let Some(e) = store_error {
        return Err(e);
    }
    match result {
        Ok(outcome) => {
            let finished = now();
            let run = FetchRun {
                finished: finished.clone(),
                ..run
            };
            let cursor = keep_cursor.then_some(&outcome.cursor);
            let state = state_of(feed, old_state.as_ref(), cursor, &finished);
            batch.commit(store, feed, &run, state, &mut report, true)?;
        }
        Err(e) => {
            let error = e.to_string();
            store.record_failure(&feed.name, feed.source.name(), &now(), &error)?;
            report.error = Some(error);
        }
    }
    Ok(report)
}

/// The state to store before the run's outcome is known: the new cursor (the old one
/// for an import), the attempt time; success and error are set by the last commit.
fn state_of(
    feed: &FeedInput,
    old: Option<&FeedState>,
    cursor: Option<&FetchCursor>,
    at: &str,
) -> FeedState {
    let old_cursor = old.map_or(serde_json::Value::Null, |s| s.cursor.clone());
    FeedState {
        feed: feed.name.clone(),
        source: feed.source.name().to_owned(),
        cursor: cursor
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or(old_cursor),
        last_attempt: Some(at.to_owned()),
        last_success: old.and_then(|s| s.last_success.clone()),
        last_error: old.and_then(|s| s.last_error.clone()),
        last_fetch: old.and_then(|s| s.last_fetch.clone()),
    }
}

/// Documents handed out and not yet committed.
#[derive(Default)]
struct Batch {
    changed: Vec<(String, Vec<u8>)>,
    removed: Vec<String>,
    unchanged: usize,
}

impl Batch {
    /// Parses the changed documents and commits them with `state`, then empties itself.
    /// The `last` commit of a run also marks it successful in the state.
    fn commit(
        &mut self,
        store: &mut dyn FeedStore,
        feed: &FeedInput,
        run: &FetchRun,
        mut state: FeedState,
        report: &mut FeedReport,
        last: bool,
    ) -> Result<(), FeedStoreError> {
        let results = parse_documents(feed.source, &self.changed);
        let mut changed = Vec::new();
        let mut unreadable = BTreeSet::new();
        for ((name, _), result) in self.changed.iter().zip(results) {
            match result {
                Ok(parsed) => changed.push((name.clone(), parsed)),
                Err(e) => {
                    unreadable.insert(name.clone());
                    report.unreadable.push(e);
                }
            }
        }
        // Unreadable documents keep a fingerprint no content has, so the next run reads
        // them again (and still sees them go when they are removed).
        if !unreadable.is_empty()
            && let Ok(mut cursor) = serde_json::from_value::<FetchCursor>(state.cursor.clone())
        {
            for (name, fingerprint) in cursor.documents.iter_mut() {
                if unreadable.contains(name) {
                    fingerprint.sha256 = UNREADABLE.to_owned();
                }
            }
            state.cursor = serde_json::to_value(&cursor).unwrap_or(state.cursor);
        }
        if last {
            state.last_success = Some(run.finished.clone());
            state.last_fetch = Some(run.id.clone());
            state.last_error = report.unreadable.first().map(|first| {
                format!(
                    "{} document(s) unreadable, their previous records kept; first: {first}",
                    report.unreadable.len()
                )
            });
        }
        let fetched = FetchedFeed {
            feed: feed.name.clone(),
            fetch: Some(run.clone()),
            changed,
            removed: std::mem::take(&mut self.removed),
            state,
        };
        let figures = FeedFigures::of(&fetched, self.unchanged);
        let previous: Vec<_> = store
            .records()?
            .into_iter()
            .filter(|r| r.feed == feed.name)
            .collect();
        let change = feed_change(&previous, fetched);
        store.commit(&Changeset {
            feed: Some(change),
            at: run.started.clone(),
            ..Changeset::default()
        })?;
        let f = &mut report.figures;
        f.documents += figures.documents;
        f.unchanged += figures.unchanged;
        f.removed += figures.removed;
        f.records += figures.records;
        f.skipped += figures.skipped;
        self.changed.clear();
        self.unchanged = 0;
        Ok(())
    }
}
