//! Daily scan quotas: one counter per subject and UTC day, checked and incremented
//! atomically, reset at the next UTC midnight. The server's UTC clock is the only
//! clock used (callers pass `now`), so client clock skew cannot stretch a day.
//!
//! A scan is reserved before it runs ([`QuotaStore::admit`]) and refunded when it
//! could not run ([`QuotaStore::refund`]): reserving first keeps the count exact at
//! the limit however many requests race, and the refund keeps failed scans free.

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

pub use memory::MemoryQuota;
#[cfg(feature = "redis")]
pub use redis::RedisQuota;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

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

    /// Gives back one scan admitted at `admitted_at` (on that UTC day's counter, not
    /// today's) because it could not run; never goes below zero. Returns the count
    /// left on that day.
    async fn refund(&self, subject: &str, admitted_at: DateTime<Utc>) -> Result<u32, QuotaError>;
}

impl Admission {
    /// The admission for a counter standing at `used` of `limit` on `now`'s UTC day.
    pub fn new(admitted: bool, limit: u32, used: u32, now: DateTime<Utc>) -> Admission {
        Admission {
            admitted,
            limit,
            used,
            remaining: limit.saturating_sub(used),
            reset_at: next_utc_midnight(now),
        }
    }
}

/// The limit that means "unlimited" (Enterprise): scans are admitted and still counted.
pub const UNLIMITED: u32 = u32::MAX;

/// The UTC day `now` falls on: the day a scan is counted against.
pub fn day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// The day as used in counter keys: `YYYY-MM-DD`.
pub fn day_key(now: DateTime<Utc>) -> String {
    day(now).format("%Y-%m-%d").to_string()
}

/// The next UTC midnight after `now` (at exactly midnight: the one a day later).
pub fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    day(now)
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        // Only at chrono's last representable day.
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whole seconds until the counters reset, rounded up and at least 1 (for
/// `Retry-After`, which must not say 0 while the quota is still spent).
pub fn seconds_until_reset(now: DateTime<Utc>) -> u64 {
    let ms = (next_utc_midnight(now) - now).num_milliseconds().max(0);
    let secs = u64::try_from(ms).unwrap_or(0).div_ceil(1000);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn midnight_and_reset() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 12, 31, h, m, s).unwrap();
        let new_year = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(next_utc_midnight(at(23, 59, 59)), new_year);
        assert_eq!(seconds_until_reset(at(23, 59, 59)), 1);
        assert_eq!(next_utc_midnight(at(0, 0, 0)), new_year);
        assert_eq!(seconds_until_reset(at(0, 0, 0)), 86_400);
        assert_eq!(seconds_until_reset(at(12, 0, 0)), 43_200);
        let half = at(23, 59, 59) + chrono::Duration::milliseconds(500);
        assert_eq!(seconds_until_reset(half), 1);
        let early = at(0, 0, 0) + chrono::Duration::milliseconds(1);
        assert_eq!(seconds_until_reset(early), 86_400);
        assert_eq!(day_key(at(23, 59, 59)), "2026-12-31");
        assert_eq!(day_key(new_year), "2027-01-01");
        assert_eq!(seconds_until_reset(DateTime::<Utc>::MAX_UTC), 1);
    }

    #[test]
    fn admission_remaining() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
        let a = Admission::new(true, 3, 1, now);
        assert_eq!(a.remaining, 2);
        assert_eq!(Admission::new(false, 3, 5, now).remaining, 0);
        assert_eq!(
            a.reset_at,
            Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap()
        );
    }
}
