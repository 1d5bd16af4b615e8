//! Daily scan quotas: one counter per subject and UTC day, checked and incremented
//! atomically, reset at the next UTC midnight. The server's UTC clock is the only
//! clock used (callers pass `now`), so client clock skew cannot stretch a day.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What the quota says about one scan request (or, for [`QuotaStore::status`], the
/// counter as it stands).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    /// Whether the scan was admitted (counted).
    pub admitted: bool,
    /// Scans allowed per UTC day.
    pub limit: u32,
    /// Scans counted today, this one included when admitted.
    pub used: u32,
    /// Scans left today.
    pub remaining: u32,
    /// When the counter resets: the next UTC midnight.
    pub reset_at: DateTime<Utc>,
}

/// Why the quota could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// The backing store failed.
    #[error("quota store: {0}")]
    Store(String),
}

/// A per-subject daily counter.
#[async_trait]
pub trait QuotaStore: Send + Sync + std::fmt::Debug {
    /// Counts one scan for `subject` if fewer than `limit` were counted on `now`'s UTC
    /// day; never admits more than `limit`, however many callers race.
    async fn admit(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError>;

    /// The counter for `subject` on `now`'s UTC day, without counting.
    async fn status(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError>;
}
