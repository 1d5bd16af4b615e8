//! Scan records in Redis: hash `{prefix}scan:{id}` (status, times, attempts, error,
//! result JSON) and list `{prefix}scan:{id}:events` (one JSON event per entry). An
//! event's `seq` is its position in the list (1-based): RPUSH is atomic, so
//! concurrent writers still get distinct, increasing numbers, and nothing is ever
//! removed from the list but by expiry of the whole record.
//!
//! Every write is one Lua script (atomic like MULTI, and able to refuse a write to a
//! record that does not exist, which MULTI cannot), and renews the TTL of both keys:
//! a record lives `ttl` after its last change.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use redis::{RedisError, Script};
use serde::{Deserialize, Serialize};

use super::{ScanEvent, ScanRecord, ScanStatus, ScanStore, ScanStoreError};

/// How long a record is kept after its last change, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Stores a new record: ARGV[1] ttl s, ARGV[2] event count n, then n events, then
/// hash field/value pairs. 0 when the record exists.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, i))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if n > 0 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return 1
";

/// Updates a record: ARGV[1] ttl s, ARGV[2] event JSON or '', ARGV[3] '1' to count
/// an attempt, ARGV[4] a field to delete or '', then field/value pairs to set.
/// Returns the event's seq (0 without one), -1 when the record does not exist.
const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = 0
if ARGV[2] ~= '' then n = redis.call('RPUSH', KEYS[2], ARGV[2]) end
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[1], ARGV[4]) end
if #ARGV >= 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return n
";

/// An event as stored (its seq is its list position).
#[derive(Serialize, Deserialize)]
struct Stored {
    at: DateTime<Utc>,
    kind: String,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

/// A [`ScanStore`] in Redis.
#[derive(Debug, Clone)]
pub struct RedisScanStore {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
    create: Script,
    update: Script,
}

fn backend(op: &'static str) -> impl Fn(RedisError) -> ScanStoreError {
    move |e| ScanStoreError::Backend {
        op,
        message: e.to_string(),
    }
}

fn corrupt(id: &str, message: impl std::fmt::Display) -> ScanStoreError {
    ScanStoreError::Corrupt {
        id: id.to_owned(),
        message: message.to_string(),
    }
}

fn event_json(e: &Stored) -> Result<String, ScanStoreError> {
    serde_json::to_string(e).map_err(|err| ScanStoreError::Backend {
        op: "encode event",
        message: err.to_string(),
    })
}

fn decode(id: &str, seq: u64, s: &str) -> Result<ScanEvent, ScanStoreError> {
    let e: Stored = serde_json::from_str(s).map_err(|err| corrupt(id, err))?;
    Ok(ScanEvent {
        seq,
        at: e.at,
        kind: e.kind,
        message: e.message,
        data: e.data,
    })
}

impl RedisScanStore {
    /// A store under `prefix` keeping records [`DEFAULT_TTL`] after their last change.
    pub fn new(conn: ConnectionManager, prefix: &str) -> RedisScanStore {
        RedisScanStore {
            conn,
            prefix: prefix.to_owned(),
            ttl: DEFAULT_TTL,
            create: Script::new(CREATE),
            update: Script::new(UPDATE),
        }
    }

    /// Keeps records `ttl` after their last change (at least one second).
    pub fn with_ttl(mut self, ttl: Duration) -> RedisScanStore {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    fn keys(&self, id: &str) -> (String, String) {
        let hash = format!("{}scan:{id}", self.prefix);
        let list = format!("{hash}:events");
        (hash, list)
    }

    /// Runs [`UPDATE`]; the new event's seq (0 without one).
    async fn update(
        &self,
        op: &'static str,
        id: &str,
        event: Option<&Stored>,
        count_attempt: bool,
        delete: &str,
        set: &[(&str, String)],
    ) -> Result<u64, ScanStoreError> {
        let (hash, list) = self.keys(id);
        let event = event.map(event_json).transpose()?.unwrap_or_default();
        let mut inv = self.update.key(hash);
        inv.key(list)
            .arg(self.ttl.as_secs())
            .arg(event)
            .arg(if count_attempt { "1" } else { "0" })
            .arg(delete);
        for (k, v) in set {
            inv.arg(*k).arg(v);
        }
        let n: i64 = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(backend(op))?;
        if n < 0 {
            return Err(ScanStoreError::NotFound(id.to_owned()));
        }
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Writes an event-bearing update and returns the event with its seq.
    async fn update_with_event(
        &self,
        op: &'static str,
        id: &str,
        stored: Stored,
        delete: &str,
        set: &[(&str, String)],
    ) -> Result<ScanEvent, ScanStoreError> {
        let seq = self
            .update(op, id, Some(&stored), false, delete, set)
            .await?;
        Ok(ScanEvent {
            seq,
            at: stored.at,
            kind: stored.kind,
            message: stored.message,
            data: stored.data,
        })
    }
}

#[async_trait]
impl ScanStore for RedisScanStore {
    async fn create(&self, record: &ScanRecord) -> Result<(), ScanStoreError> {
        let (hash, list) = self.keys(&record.id);
        let mut inv = self.create.key(hash);
        inv.key(list)
            .arg(self.ttl.as_secs())
            .arg(record.events.len());
        for e in &record.events {
            inv.arg(event_json(&Stored {
                at: e.at,
                kind: e.kind.clone(),
                message: e.message.clone(),
                data: e.data.clone(),
            })?);
        }
        inv.arg("id")
            .arg(&record.id)
            .arg("status")
            .arg(record.status.as_str())
            .arg("createdAt")
            .arg(record.created_at.to_rfc3339())
            .arg("updatedAt")
            .arg(record.updated_at.to_rfc3339())
            .arg("attempts")
            .arg(record.attempts);
        if let Some(e) = &record.error {
            inv.arg("error").arg(e);
        }
        if let Some(s) = &record.subject {
            inv.arg("subject").arg(s);
        }
        if let Some(r) = &record.result {
            inv.arg("result").arg(r.to_string());
        }
        let n: i64 = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(backend("create"))?;
        if n == 0 {
            return Err(ScanStoreError::Exists(record.id.clone()));
        }
        Ok(())
    }

    async fn push_event(
        &self,
        id: &str,
        kind: &str,
        message: &str,
        data: Option<serde_json::Value>,
    ) -> Result<ScanEvent, ScanStoreError> {
        let at = Utc::now();
        let stored = Stored {
            at,
            kind: kind.to_owned(),
            message: message.to_owned(),
            data,
        };
        self.update_with_event(
            "push event",
            id,
            stored,
            "",
            &[("updatedAt", at.to_rfc3339())],
        )
        .await
    }

    async fn set_status(&self, id: &str, status: ScanStatus) -> Result<(), ScanStoreError> {
        let set = [
            ("status", status.as_str().to_owned()),
            ("updatedAt", Utc::now().to_rfc3339()),
        ];
        self.update(
            "set status",
            id,
            None,
            status == ScanStatus::Running,
            "",
            &set,
        )
        .await?;
        Ok(())
    }

    async fn finish(
        &self,
        id: &str,
        result: serde_json::Value,
    ) -> Result<ScanEvent, ScanStoreError> {
        let at = Utc::now();
        let stored = Stored {
            at,
            kind: "done".to_owned(),
            message: "scan finished".to_owned(),
            data: None,
        };
        let set = [
            ("status", ScanStatus::Done.as_str().to_owned()),
            ("updatedAt", at.to_rfc3339()),
            ("result", result.to_string()),
        ];
        self.update_with_event("finish", id, stored, "error", &set)
            .await
    }

    async fn fail(&self, id: &str, error: &str) -> Result<ScanEvent, ScanStoreError> {
        let at = Utc::now();
        let stored = Stored {
            at,
            kind: "failed".to_owned(),
            message: error.to_owned(),
            data: None,
        };
        let set = [
            ("status", ScanStatus::Failed.as_str().to_owned()),
            ("updatedAt", at.to_rfc3339()),
            ("error", error.to_owned()),
        ];
        self.update_with_event("fail", id, stored, "", &set).await
    }

    async fn get(&self, id: &str) -> Result<Option<ScanRecord>, ScanStoreError> {
        let (hash, list) = self.keys(id);
        // MULTI: the hash and its events as one snapshot.
        let (mut h, events): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("HGETALL")
            .arg(&hash)
            .cmd("LRANGE")
            .arg(&list)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend("get"))?;
        if h.is_empty() {
            return Ok(None);
        }
        let mut field = |k: &str| h.remove(k).ok_or_else(|| corrupt(id, format!("no {k}")));
        let time = |s: String| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(id, format!("time {s:?}: {e}")))
        };
        let status = field("status")?;
        let created_at = time(field("createdAt")?)?;
        let updated_at = time(field("updatedAt")?)?;
        let attempts = field("attempts")?.parse().map_err(|e| corrupt(id, e))?;
        let error = h.remove("error");
        let subject = h.remove("subject");
        let result = h
            .remove("result")
            .map(|r| serde_json::from_str(&r).map_err(|e| corrupt(id, e)))
            .transpose()?;
        let events = events
            .iter()
            .zip(1u64..)
            .map(|(e, seq)| decode(id, seq, e))
            .collect::<Result<_, _>>()?;
        Ok(Some(ScanRecord {
            id: id.to_owned(),
            subject,
            status: ScanStatus::parse(&status)
                .ok_or_else(|| corrupt(id, format!("status {status:?}")))?,
            created_at,
            updated_at,
            attempts,
            error,
            result,
            events,
        }))
    }

    async fn events_since(
        &self,
        id: &str,
        after_seq: u64,
    ) -> Result<Vec<ScanEvent>, ScanStoreError> {
        let (_, list) = self.keys(id);
        // seq n sits at index n - 1, so the events after `after_seq` start at index
        // `after_seq`.
        let start = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let events: Vec<String> = redis::cmd("LRANGE")
            .arg(&list)
            .arg(start)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend("events"))?;
        events
            .iter()
            .zip(after_seq.saturating_add(1)..)
            .map(|(e, seq)| decode(id, seq, e))
            .collect()
    }
}
