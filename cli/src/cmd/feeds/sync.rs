//! `stella feeds sync` and `stella feeds import`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stella_core::feedser::Source;
use stella_core::feedser::config::FeedConfig;
use stella_core::feedser::merge::Precedence;
use stella_core::feedser::runner::{self, Progress, SyncReport};
use stella_core::feedser::schedule;
use stella_core::feedser::store::FeedStore;

use super::{EXIT_PARTIAL, Output, StoreArgs, install_snapshot, now};
use crate::paths;
use crate::progress;

/// Arguments of `stella feeds sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Feeds config file (YAML).
    #[arg(long, short, env = "STELLA_FEEDS_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Advisory DB the scan reads (the matcher snapshot is rebuilt there).
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Sync only this feed (by its name in the config; repeatable). Default: every
    /// enabled feed.
    #[arg(long = "source", visible_alias = "feed", value_name = "NAME")]
    feeds: Vec<String>,
    /// Summary format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Keep running: sync each feed whenever its `interval` (default 6h) has passed since
    /// its last success (15 minutes after a failure), sleeping in between.
    #[arg(long, conflicts_with = "feeds")]
    daemon: bool,
}

/// Arguments of `stella feeds import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The source the files are from.
    #[arg(long, value_parser = parse_source)]
    source: Source,
    /// Feed name to file the records under (default: the source's name).
    #[arg(long)]
    feed: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    /// Advisory DB the scan reads (the matcher snapshot is rebuilt there).
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Summary format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Files, directories or archives (zip, tar, tar.gz, tar.zst).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn parse_source(text: &str) -> Result<Source, String> {
    Source::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        format!("unknown source {text:?}; one of: {}", names.join(", "))
    })
}

/// `stella feeds sync`.
pub fn run_sync(args: SyncArgs) -> anyhow::Result<u8> {
    let config_path = paths::feeds_config(args.config);
    let config = FeedConfig::load(&config_path)
        .with_context(|| format!("feeds config {}", config_path.display()))?;
    for name in &args.feeds {
        if config.feed(name).is_none() {
            anyhow::bail!("no feed named {name:?} in {}", config_path.display());
        }
    }
    let mut store = args.store.open()?;
    if args.daemon {
        return daemon(store.as_mut(), &config, args.db, args.output);
    }
    let report = with_progress(|p| runner::sync(store.as_mut(), &config, &args.feeds, &now, p))?;
    finish(store.as_ref(), &report, args.db, args.output)
}

/// `sync --daemon`: syncs the feeds that are due, then sleeps until the next one is (at
/// least 10 s, at most an hour, so a changed clock is caught up with).
fn daemon(
    store: &mut dyn FeedStore,
    config: &FeedConfig,
    db: Option<PathBuf>,
    output: Output,
) -> anyhow::Result<u8> {
    loop {
        let states = store.feed_states()?;
        let due = schedule::due(config, &states, chrono::Utc::now());
        if !due.is_empty() {
            tracing::info!(feeds = ?due, "syncing due feeds");
            let report = runner::sync(store, config, &due, &now, &mut |_| {})?;
            finish(store, &report, db.clone(), output)?;
        }
        let states = store.feed_states()?;
        let Some(next) = schedule::next_due(config, &states, chrono::Utc::now()) else {
            anyhow::bail!("no enabled feed in the config: nothing to schedule");
        };
        let wait = (next - chrono::Utc::now())
            .to_std()
            .unwrap_or_default()
            .clamp(Duration::from_secs(10), Duration::from_secs(3600));
        tracing::info!(next = %next.to_rfc3339(), "sleeping until the next feed is due");
        std::thread::sleep(wait);
    }
}

/// `stella feeds import`.
pub fn run_import(args: ImportArgs) -> anyhow::Result<u8> {
    let feed = args.feed.unwrap_or_else(|| args.source.name().to_owned());
    let mut store = args.store.open()?;
    let report = with_progress(|p| {
        runner::import(
            store.as_mut(),
            args.source,
            &feed,
            &args.paths,
            &Precedence::default(),
            &now,
            p,
        )
    })?;
    finish(store.as_ref(), &report, args.db, args.output)
}

/// Runs `work` with a progress bar of documents per feed (hidden when not a TTY).
fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(Progress<'_>)) -> T) -> T {
    let bar = progress::spinner("feeds");
    let mut on = |p: Progress<'_>| match p {
        Progress::Feed(name) => {
            bar.set_message(name.to_owned());
            bar.set_position(0);
        }
        Progress::Documents(n) => bar.set_position(n as u64),
        Progress::Merging => bar.set_message("merging"),
    };
    let out = work(&mut on);
    bar.finish_and_clear();
    out
}

/// Rebuilds the snapshot, prints the summary, and picks the exit code.
fn finish(
    store: &dyn FeedStore,
    report: &SyncReport,
    db: Option<PathBuf>,
    output: Output,
) -> anyhow::Result<u8> {
    let advisories = store.advisories()?;
    let db = install_snapshot(&advisories, db)?;
    for f in &report.feeds {
        for e in &f.unreadable {
            eprintln!("stella: {}: unreadable, previous records kept: {e}", f.feed);
        }
        if let Some(e) = &f.error {
            eprintln!("stella: {}: failed: {e}", f.feed);
        }
    }
    let m = &report.merge;
    match output {
        Output::Table => {
            println!(
                "{:<16} {:>9} {:>9} {:>7} {:>8} {:>7}  STATUS",
                "FEED", "DOCUMENTS", "UNCHANGED", "REMOVED", "RECORDS", "SKIPPED"
            );
            for f in &report.feeds {
                let g = &f.figures;
                let status = match (&f.error, f.unreadable.len()) {
                    (Some(_), _) => "failed".to_owned(),
                    (None, 0) => "ok".to_owned(),
                    (None, n) => format!("ok, {n} unreadable"),
                };
                println!(
                    "{:<16} {:>9} {:>9} {:>7} {:>8} {:>7}  {status}",
                    f.feed, g.documents, g.unchanged, g.removed, g.records, g.skipped
                );
            }
            println!(
                "merged: {} advisories ({} created, {} updated, {} retracted); snapshot {}",
                m.advisories,
                m.created,
                m.updated,
                m.retracted,
                db.display()
            );
        }
        Output::Json => {
            let feeds: Vec<serde_json::Value> = report
                .feeds
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "feed": f.feed,
                        "documents": f.figures.documents,
                        "unchanged": f.figures.unchanged,
                        "removed": f.figures.removed,
                        "records": f.figures.records,
                        "skipped": f.figures.skipped,
                        "unreadable": f.unreadable.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "error": f.error,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "feeds": feeds,
                    "merge": {
                        "advisories": m.advisories,
                        "created": m.created,
                        "updated": m.updated,
                        "retracted": m.retracted,
                    },
                    "snapshot": db.display().to_string(),
                }))?
            );
        }
    }
    Ok(
        if report
            .feeds
            .iter()
            .any(|f| f.error.is_some() || !f.unreadable.is_empty())
        {
            EXIT_PARTIAL
        } else {
            0
        },
    )
}
