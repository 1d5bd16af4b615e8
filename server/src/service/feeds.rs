//! Feedser from the server: per-source status and feed age (`GET /feeds`), and a
//! sync that rebuilds the advisory snapshot scans use (`POST /feeds/sync`).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use super::engine::AdvisoryPool;
use stella_core::feedser::config::FeedConfig;
use stella_core::feedser::runner;
use stella_core::feedser::snapshot;
use stella_core::feedser::store::FeedStore;
use stella_core::feedser::store::sqlite::SqliteFeedStore;

/// Why a feed operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedsError {
    /// The server has no feed store or config.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// A sync is already running.
    #[error("a feed sync is already running")]
    Busy,
    /// The store, config or snapshot failed.
    #[error("{0}")]
    Failed(String),
}

/// One feed's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedStatus {
    /// Feed name.
    pub feed: String,
    /// Source kind (osv, nvd, debian, ...).
    pub source: String,
    /// Last successful sync.
    pub last_success: Option<String>,
    /// Last attempt.
    pub last_attempt: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Hours since the last success.
    pub age_hours: Option<f64>,
    /// Records stored.
    pub records: u64,
}

/// All feeds' state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedsView {
    /// Per feed.
    pub feeds: Vec<FeedStatus>,
    /// Canonical (merged) advisories.
    pub advisories: usize,
    /// When the last sync through the API finished.
    pub last_sync: Option<DateTime<Utc>>,
}

/// What a sync did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSummary {
    /// Per feed: documents, records, error.
    #[schema(value_type = Vec<Object>)]
    pub feeds: Vec<serde_json::Value>,
    /// Canonical advisories after the merge.
    pub advisories: usize,
    /// Advisories in the new snapshot.
    pub snapshot_advisories: u64,
}

/// Feedser for the server.
#[derive(Debug)]
pub struct FeedsService {
    store: Option<PathBuf>,
    config: Option<PathBuf>,
    pool: Arc<AdvisoryPool>,
    running: tokio::sync::Mutex<()>,
    last_sync: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl FeedsService {
    /// Feedser with this store and config, feeding `pool`'s DB.
    pub fn new(store: Option<PathBuf>, config: Option<PathBuf>, pool: Arc<AdvisoryPool>) -> Self {
        Self {
            store,
            config,
            pool,
            running: tokio::sync::Mutex::new(()),
            last_sync: std::sync::Mutex::new(None),
        }
    }

    fn open(&self) -> Result<SqliteFeedStore, FeedsError> {
        let path = self.store.as_ref().ok_or(FeedsError::NotConfigured(
            "the server has no feed store (--feeds-store)",
        ))?;
        SqliteFeedStore::open(path).map_err(|e| FeedsError::Failed(e.to_string()))
    }

    /// Every feed's state.
    pub async fn status(self: &Arc<Self>) -> Result<FeedsView, FeedsError> {
        let last_sync = *self.last_sync.lock().unwrap_or_else(|e| e.into_inner());
        let this = self.clone();
        let mut view = blocking(move || this.read_status())
            .await
            .map_err(|e| FeedsError::Failed(e.to_string()))??;
        view.last_sync = last_sync;
        Ok(view)
    }

    fn read_status(&self) -> Result<FeedsView, FeedsError> {
        let store = self.open()?;
        let failed =
            |e: stella_core::feedser::store::FeedStoreError| FeedsError::Failed(e.to_string());
        let now = Utc::now();
        let mut feeds = Vec::new();
        for state in store.feed_states().map_err(failed)? {
            let counts = store.feed_counts(&state.feed).map_err(failed)?;
            let age_hours = state
                .last_success
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&Utc)).num_minutes() as f64 / 60.0);
            feeds.push(FeedStatus {
                feed: state.feed,
                source: state.source,
                last_success: state.last_success,
                last_attempt: state.last_attempt,
                last_error: state.last_error,
                age_hours,
                records: counts.records,
            });
        }
        Ok(FeedsView {
            feeds,
            advisories: store.advisories().map_err(failed)?.len(),
            last_sync: None,
        })
    }

    /// Syncs every enabled feed, merges, installs the new snapshot and makes scans
    /// use it. One sync at a time.
    pub async fn sync(self: &Arc<Self>) -> Result<SyncSummary, FeedsError> {
        let _running = self.running.try_lock().map_err(|_| FeedsError::Busy)?;
        let this = self.clone();
        let summary = blocking(move || this.run_sync())
            .await
            .map_err(|e| FeedsError::Failed(e.to_string()))??;
        self.pool.reload();
        *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(Utc::now());
        Ok(summary)
    }

    fn run_sync(&self) -> Result<SyncSummary, FeedsError> {
        let config_path = self.config.as_ref().ok_or(FeedsError::NotConfigured(
            "the server has no feeds config (--feeds-config)",
        ))?;
        let config =
            FeedConfig::load(config_path).map_err(|e| FeedsError::Failed(e.to_string()))?;
        let mut store = self.open()?;
        let now = || Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let report = runner::sync(&mut store, &config, &[], &now, &mut |_| {})
            .map_err(|e| FeedsError::Failed(e.to_string()))?;
        let advisories = store
            .advisories()
            .map_err(|e| FeedsError::Failed(e.to_string()))?;
        let stats = snapshot::install(&advisories, self.pool.path(), &now())
            .map_err(|e| FeedsError::Failed(e.to_string()))?;
        Ok(SyncSummary {
            feeds: report
                .feeds
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "feed": f.feed,
                        "documents": f.figures.documents,
                        "records": f.figures.records,
                        "unreadable": f.unreadable.len(),
                        "error": f.error,
                    })
                })
                .collect(),
            advisories: advisories.len(),
            snapshot_advisories: stats.advisories,
        })
    }
}
