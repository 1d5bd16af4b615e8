//! Scan records: the status, result and event log of one asynchronous scan, keyed by
//! scan id. The runner's handler writes the result here BEFORE its job is acked, so
//! an acknowledged job always has its record; a rerun of the same job (at-least-once
//! delivery) overwrites the record with the same result.

#[cfg(feature = "redis")]
pub mod redis;
pub mod sqlite;

pub use sqlite::SqliteScanStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScanStatus {
    /// Enqueued, not yet picked up.
    Queued,
    /// A runner is on it.
    Running,
    /// Finished; `result` holds the report.
    Done,
    /// Given up; `error` says why.
    Failed,
}

impl ScanStatus {
    /// The wire name (`queued`, `running`, `done`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Queued => "queued",
            ScanStatus::Running => "running",
            ScanStatus::Done => "done",
            ScanStatus::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ScanStatus> {
        match s {
            "queued" => Some(ScanStatus::Queued),
            "running" => Some(ScanStatus::Running),
            "done" => Some(ScanStatus::Done),
            "failed" => Some(ScanStatus::Failed),
            _ => None,
        }
    }

    /// Whether the scan is over (done or failed).
    pub fn is_final(self) -> bool {
        matches!(self, ScanStatus::Done | ScanStatus::Failed)
    }
}

/// One entry of a scan's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanEvent {
    /// Position in the scan's log: 1, 2, 3… (assigned by the store).
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened: `queued`, `started`, `progress`, `retry`, `done`, `failed`…
    pub kind: String,
    /// A human-readable line.
    pub message: String,
    /// Structured details, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The record of one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRecord {
    /// The scan id (= the job id).
    pub id: String,
    /// Where it stands.
    /// Who queued the scan (the token's subject); only they (and admins) may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub status: ScanStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Runs started (each `set_status(Running)` counts one).
    pub attempts: u32,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The scan report JSON, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The event log, oldest first.
    #[serde(default)]
    pub events: Vec<ScanEvent>,
}

impl ScanRecord {
    /// A fresh queued record with no events.
    pub fn queued(id: impl Into<String>, now: DateTime<Utc>) -> ScanRecord {
        ScanRecord {
            id: id.into(),
            subject: None,
            status: ScanStatus::Queued,
            created_at: now,
            updated_at: now,
            attempts: 0,
            error: None,
            result: None,
            events: Vec::new(),
        }
    }
}

/// Why a record operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanStoreError {
    /// No record has this id.
    #[error("scan {0} not found")]
    NotFound(String),
    /// A record with this id exists already.
    #[error("scan {0} exists already")]
    Exists(String),
    /// The backing store failed.
    #[error("scan store ({op}): {message}")]
    Backend {
        /// The operation that failed.
        op: &'static str,
        /// The backend's error.
        message: String,
    },
    /// Stored data could not be read back.
    #[error("scan store: corrupt record {id}: {message}")]
    Corrupt {
        /// The scan id.
        id: String,
        /// What was wrong.
        message: String,
    },
}

/// Persistent scan records.
#[async_trait]
pub trait ScanStore: Send + Sync + std::fmt::Debug {
    /// Stores a new record with its events (their `seq` is reassigned 1, 2, …);
    /// [`ScanStoreError::Exists`] if the id is taken.
    async fn create(&self, record: &ScanRecord) -> Result<(), ScanStoreError>;

    /// Appends an event (next `seq`) and returns it.
    async fn push_event(
        &self,
        id: &str,
        kind: &str,
        message: &str,
        data: Option<serde_json::Value>,
    ) -> Result<ScanEvent, ScanStoreError>;

    /// Sets the status; `Running` also counts one attempt.
    async fn set_status(&self, id: &str, status: ScanStatus) -> Result<(), ScanStoreError>;

    /// Status `Done`, the result, and a `done` event, in one atomic step; returns the
    /// event.
    async fn finish(
        &self,
        id: &str,
        result: serde_json::Value,
    ) -> Result<ScanEvent, ScanStoreError>;

    /// Status `Failed`, the error, and a `failed` event, in one atomic step; returns
    /// the event.
    async fn fail(&self, id: &str, error: &str) -> Result<ScanEvent, ScanStoreError>;

    /// The record with all its events; `None` for an unknown (or expired) id.
    async fn get(&self, id: &str) -> Result<Option<ScanRecord>, ScanStoreError>;

    /// The events with `seq > after_seq`, oldest first (empty for an unknown id).
    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Vec<ScanEvent>, ScanStoreError>;
}
