//! `stella feeds`: run Feedser from the command line. Sync configured feeds or import
//! files into the feed store, show what it holds, export snapshots, build and import
//! offline kits.
//!
//! Every command that changes the canonical advisories also rebuilds the matcher
//! snapshot at the scan's advisory DB (`--db`), so `stella scan` uses the merged data.

mod kit;
mod show;
mod status;
mod sync;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use stella_core::advisory::canonical::CanonicalAdvisory;
use stella_core::feedser::snapshot;
use stella_core::feedser::store::FeedStore;
use stella_core::feedser::store::sqlite::SqliteFeedStore;

use crate::paths;

/// Exit code when some feeds or documents failed and the rest was synced.
pub const EXIT_PARTIAL: u8 = 3;

/// `stella feeds ...`
#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Fetch the configured feeds, merge, and rebuild the matcher snapshot.
    #[command(
        after_help = "Exit codes: 0 every feed synced, 3 some feeds or documents failed (the \
                      rest was synced and merged), 2 usage, config or store error."
    )]
    Sync(sync::SyncArgs),
    /// Import local files, directories or archives of one source, then merge.
    #[command(
        after_help = "Exit codes: 0 imported, 3 some paths or documents failed (the rest was \
                      imported and merged), 2 usage or store error."
    )]
    Import(sync::ImportArgs),
    /// Per feed: last success, cursor, record counts, feed age, last error.
    Status(status::StatusArgs),
    /// Print one canonical advisory, found by any of its ids.
    Show(show::ShowArgs),
    /// Write the deterministic export: canonical JSON, matcher DB, manifest.
    Export(kit::ExportArgs),
    /// Offline kits: build a signed kit, or verify and import one.
    #[command(subcommand)]
    Kit(kit::KitCommand),
    /// Make an Ed25519 key pair for signing kits.
    Keygen(kit::KeygenArgs),
}

/// Run a `feeds` subcommand; returns the process exit code.
pub fn run(cmd: FeedsCommand) -> anyhow::Result<u8> {
    match cmd {
        FeedsCommand::Sync(a) => sync::run_sync(a),
        FeedsCommand::Import(a) => sync::run_import(a),
        FeedsCommand::Status(a) => status::run(a),
        FeedsCommand::Show(a) => show::run(a),
        FeedsCommand::Export(a) => kit::run_export(a),
        FeedsCommand::Kit(c) => kit::run(c),
        FeedsCommand::Keygen(a) => kit::run_keygen(a),
    }
}

/// Where the feed store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Feed store: an SQLite file (created if missing), or a `mongodb://` URL.
    #[arg(long, env = "STELLA_FEED_STORE")]
    store: Option<String>,
    /// MongoDB database name, for a `mongodb://` store.
    #[arg(long, default_value = "stellaops", env = "STELLA_MONGO_DATABASE")]
    mongo_database: String,
}

impl StoreArgs {
    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Box<dyn FeedStore>> {
        let store = paths::feed_store(self.store.clone());
        if store.starts_with("mongodb://") || store.starts_with("mongodb+srv://") {
            return open_mongo(&store, &self.mongo_database);
        }
        let path = Path::new(&store);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Box::new(SqliteFeedStore::open(path)?))
    }
}

fn open_mongo(url: &str, database: &str) -> anyhow::Result<Box<dyn FeedStore>> {
    use stella_core::feedser::store::mongo::MongoFeedStore;
    Ok(Box::new(MongoFeedStore::connect(url, database)?))
}

/// Output format of the feeds commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable table or lines.
    Table,
    /// JSON.
    Json,
}

/// The current time, RFC 3339 UTC with seconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Rebuilds the matcher snapshot at `db` (default place when `None`) from `advisories`.
pub fn install_snapshot(
    advisories: &[CanonicalAdvisory],
    db: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    let path = paths::db_path(db);
    snapshot::install(advisories, &path, &now())?;
    Ok(path)
}
