//! Daily quotas in process memory, for the embedded (single-process, no Redis) mode.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{Admission, QuotaError, QuotaStore, UNLIMITED, day};

/// Counters per (UTC day, subject) behind one mutex; past days are dropped as soon as
/// a later day is seen.
#[derive(Debug, Default)]
pub struct MemoryQuota {
    days: Mutex<HashMap<NaiveDate, HashMap<String, u32>>>,
}

impl MemoryQuota {
    /// An empty quota store.
    pub fn new() -> MemoryQuota {
        MemoryQuota::default()
    }

    /// How many days have counters (the current one, unless none was counted).
    pub fn days_held(&self) -> usize {
        self.days
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl QuotaStore for MemoryQuota {
    async fn admit(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError> {
        let today = day(now);
        let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        days.retain(|d, _| *d >= today);
        let used = days
            .entry(today)
            .or_default()
            .entry(subject.to_owned())
            .or_insert(0);
        let admitted = limit == UNLIMITED || *used < limit;
        if admitted {
            *used = used.saturating_add(1);
        }
        Ok(Admission::new(admitted, limit, *used, now))
    }

    async fn status(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError> {
        let days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        let used = days
            .get(&day(now))
            .and_then(|d| d.get(subject))
            .copied()
            .unwrap_or(0);
        Ok(status_admission(limit, used, now))
    }

    async fn refund(&self, subject: &str, admitted_at: DateTime<Utc>) -> Result<u32, QuotaError> {
        let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        // A past day already dropped has nothing left to refund.
        let Some(used) = days
            .get_mut(&day(admitted_at))
            .and_then(|d| d.get_mut(subject))
        else {
            return Ok(0);
        };
        *used = used.saturating_sub(1);
        Ok(*used)
    }
}

/// A status reading: `admitted` says whether the next scan would be admitted.
pub(crate) fn status_admission(limit: u32, used: u32, now: DateTime<Utc>) -> Admission {
    Admission::new(limit == UNLIMITED || used < limit, limit, used, now)
}
