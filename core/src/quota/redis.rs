//! Daily quotas in Redis, shared by every server of a deployment. One Lua script
//! checks, increments and sets the expiry atomically, so racing servers never admit
//! more than the limit. The day and the expiry come from the calling server's `now`,
//! never from Redis' clock or the client's. (Servers must keep their clocks right: a
//! server whose clock is more than a day behind Redis' sets expiries in the past, which
//! Redis applies at once, and its counts would be lost.)

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use super::memory::status_admission;
use super::{Admission, QuotaError, QuotaStore, UNLIMITED, day_key, next_utc_midnight};

/// How long a counter outlives its day: a server whose clock is a little behind can
/// still count against yesterday's key without recreating it.
pub const EXPIRY_GRACE_SECS: i64 = 600;

/// KEYS[1] the counter; ARGV[1] the limit, or -1 for unlimited; ARGV[2] EXPIREAT
/// (unix seconds). Returns {admitted (0/1), used}. A refused scan creates no key.
const ADMIT_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if limit >= 0 and used >= limit then
  return {0, used}
end
used = redis.call('INCR', KEYS[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return {1, used}
";

/// KEYS[1] the counter. Decrements it when above zero (keeping its expiry); creates
/// no key. Returns the count left.
const REFUND_SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used <= 0 then
  return 0
end
return redis.call('DECR', KEYS[1])
";

/// A [`QuotaStore`] on Redis: key `{prefix}quota:{subject}:{YYYY-MM-DD}`.
#[derive(Clone)]
pub struct RedisQuota {
    conn: ConnectionManager,
    prefix: String,
    script: redis::Script,
    refund_script: redis::Script,
}

impl std::fmt::Debug for RedisQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQuota")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn store_error(e: redis::RedisError) -> QuotaError {
    QuotaError::Store(format!("redis: {e}"))
}

impl RedisQuota {
    /// A quota store on `conn`, its keys starting with `prefix` (e.g. `"stella:"`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> RedisQuota {
        RedisQuota {
            conn,
            prefix: prefix.into(),
            script: redis::Script::new(ADMIT_SCRIPT),
            refund_script: redis::Script::new(REFUND_SCRIPT),
        }
    }

    /// The counter key of `subject` on `now`'s UTC day. The day is always the last
    /// 10 characters, so subjects containing `:` cannot collide with other days.
    pub fn key(&self, subject: &str, now: DateTime<Utc>) -> String {
        format!("{}quota:{subject}:{}", self.prefix, day_key(now))
    }
}

#[async_trait]
impl QuotaStore for RedisQuota {
    async fn admit(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError> {
        let expire_at = next_utc_midnight(now).timestamp() + EXPIRY_GRACE_SECS;
        let limit_arg: i64 = if limit == UNLIMITED {
            -1
        } else {
            i64::from(limit)
        };
        let mut conn = self.conn.clone();
        let (admitted, used): (i64, i64) = self
            .script
            .key(self.key(subject, now))
            .arg(limit_arg)
            .arg(expire_at)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let used = u32::try_from(used.max(0)).unwrap_or(u32::MAX);
        Ok(Admission::new(admitted == 1, limit, used, now))
    }

    async fn status(
        &self,
        subject: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Admission, QuotaError> {
        let mut conn = self.conn.clone();
        let used: Option<i64> = conn
            .get(self.key(subject, now))
            .await
            .map_err(store_error)?;
        let used = u32::try_from(used.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
        Ok(status_admission(limit, used, now))
    }

    async fn refund(&self, subject: &str, admitted_at: DateTime<Utc>) -> Result<u32, QuotaError> {
        let mut conn = self.conn.clone();
        let used: i64 = self
            .refund_script
            .key(self.key(subject, admitted_at))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(u32::try_from(used.max(0)).unwrap_or(u32::MAX))
    }
}
