//! The Redis queue: one stream `{prefix}scan-jobs` with the consumer group `runners`.
//!
//! - A job is an entry with the fields `id` and `payload`; the entry id is the
//!   [`Delivery::delivery_id`].
//! - The attempt count is the entry's times-delivered counter in the group's pending
//!   list: XREADGROUP sets it to 1, every XAUTOCLAIM (crash reclaim, retry) adds one,
//!   so a job reclaimed from a dead runner counts that runner's attempt.
//! - Ack is XACK + XDEL in one MULTI, so the stream holds exactly the jobs not yet
//!   done and XLEN is the depth.
//! - Retry keeps the entry pending but sets its idle time to `claim_idle` (XCLAIM
//!   IDLE JUSTID, which leaves the counter alone), so the next claim reclaims it.
//! - Dead letters go to the stream `{prefix}scan-jobs:dead`, moved by a script (one
//!   atomic step) so a job is never lost nor in both streams.
//!
//! Waiting for work: a blocking XREADGROUP occupies its connection for up to `block`,
//! and a [`ConnectionManager`] multiplexes all commands of the process over ONE
//! connection, so blocking on it would stall every other command (acks, API reads)
//! behind the wait. [`RedisQueue::new`] therefore polls: a non-blocking XREADGROUP
//! every [`POLL_INTERVAL`] until `block` has passed. [`RedisQueue::with_client`]
//! instead opens one dedicated connection per consumer for the blocking XREADGROUP
//! (lower latency, one extra connection per runner); everything else stays on the
//! manager.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, RedisError, Script, Value};
use tokio::sync::Mutex;

use super::{DeadLetter, Delivery, Job, JobQueue, QueueConfig, QueueError};

/// The consumer group all runners join.
pub const GROUP: &str = "runners";

/// How often a polling claim asks for new work.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Reclaims one job idle for at least ARGV[3] ms for consumer ARGV[2] and returns
/// `{entry id, fields, times delivered}`, or nil. XAUTOCLAIM looks at no more than
/// COUNT*10 pending entries per call, so the cursor is followed (bounded) until an
/// idle one turns up; the times-delivered count is read in the same atomic step.
const RECLAIM: &str = r"
local cursor = '0-0'
for _ = 1, 100 do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  for _, e in ipairs(r[2]) do
    if e and e[2] then
      local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
      return {e[1], e[2], p[1][4]}
    end
  end
  cursor = r[1]
  if cursor == '0-0' then return false end
end
return false
";

/// Sets the idle time of entry ARGV[3] to ARGV[4] ms if it is pending for consumer
/// ARGV[2] (1), else leaves it alone (0). JUSTID keeps the times-delivered count.
const SET_IDLE: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
";

/// Moves pending entry ARGV[2] to the dead stream KEYS[2] with error ARGV[3] and time
/// ARGV[4]; 0 when it is no longer pending (acked or dead-lettered by another runner).
const DEAD_LETTER: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local id, payload = '', ''
if #e > 0 then
  local f = e[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'id' then id = f[i + 1] elseif f[i] == 'payload' then payload = f[i + 1] end
  end
end
redis.call('XADD', KEYS[2], '*', 'id', id, 'payload', payload, 'attempts', p[1][4],
  'error', ARGV[3], 'at', ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
";

/// A [`JobQueue`] on a Redis stream.
#[derive(Debug)]
pub struct RedisQueue {
    conn: ConnectionManager,
    config: QueueConfig,
    stream: String,
    dead: String,
    /// With a client: one dedicated connection per consumer for blocking reads.
    blocking: Option<Blocking>,
    reclaim: Script,
    set_idle: Script,
    dead_letter: Script,
}

#[derive(Debug)]
struct Blocking {
    client: Client,
    conns: Mutex<HashMap<String, MultiplexedConnection>>,
}

fn backend(op: &'static str) -> impl Fn(RedisError) -> QueueError {
    move |e| QueueError::Backend {
        op,
        message: e.to_string(),
    }
}

fn reply(op: &'static str, message: impl Into<String>) -> QueueError {
    QueueError::Reply {
        op,
        message: message.into(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisQueue {
    /// A queue on stream `{prefix}scan-jobs`; creates the consumer group (and the
    /// stream) if missing. Claims poll (see the module docs).
    pub async fn new(
        conn: ConnectionManager,
        prefix: &str,
        config: QueueConfig,
    ) -> Result<RedisQueue, QueueError> {
        let q = RedisQueue {
            conn,
            config,
            stream: format!("{prefix}scan-jobs"),
            dead: format!("{prefix}scan-jobs:dead"),
            blocking: None,
            reclaim: Script::new(RECLAIM),
            set_idle: Script::new(SET_IDLE),
            dead_letter: Script::new(DEAD_LETTER),
        };
        q.create_group().await?;
        Ok(q)
    }

    /// Claims block on XREADGROUP ... BLOCK over one dedicated connection per
    /// consumer, opened from `client` on first use.
    pub fn with_client(mut self, client: Client) -> RedisQueue {
        self.blocking = Some(Blocking {
            client,
            conns: Mutex::new(HashMap::new()),
        });
        self
    }

    /// The job stream's key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// The dead-letter stream's key.
    pub fn dead_key(&self) -> &str {
        &self.dead
    }

    /// Creates the group from id 0: acked entries are deleted, so every entry in the
    /// stream is an unfinished job, and one enqueued before the group existed (e.g.
    /// after the key was lost and an API node re-created it) is not skipped.
    async fn create_group(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let r: Result<(), RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match r {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(backend("create group")(e)),
            _ => Ok(()),
        }
    }

    async fn reclaim(&self, consumer: &str) -> Result<Option<Delivery>, QueueError> {
        let mut conn = self.conn.clone();
        let v: Value = match self
            .reclaim
            .key(&self.stream)
            .arg(GROUP)
            .arg(consumer)
            .arg(millis(self.config.claim_idle))
            .invoke_async(&mut conn)
            .await
        {
            Err(e) if is_nogroup(&e) => {
                // The stream (and its group) vanished, e.g. FLUSHDB: re-create it;
                // nothing can be pending in a new group.
                self.create_group().await?;
                return Ok(None);
            }
            r => r.map_err(backend("reclaim"))?,
        };
        let Value::Array(parts) = v else {
            return Ok(None);
        };
        let mut parts = parts.into_iter();
        let (Some(id), Some(Value::Array(fields)), Some(count)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(reply("reclaim", "expected {id, fields, count}"));
        };
        let delivery_id = text(id).ok_or_else(|| reply("reclaim", "entry id not text"))?;
        let attempt = match count {
            Value::Int(n) => u32::try_from(n).unwrap_or(u32::MAX),
            _ => return Err(reply("reclaim", "times delivered not an integer")),
        };
        let (job_id, payload) = job_fields(fields.into_iter())?;
        Ok(Some(Delivery {
            job: Job {
                id: job_id,
                payload,
            },
            delivery_id,
            attempt,
            consumer: consumer.to_owned(),
        }))
    }

    /// XREADGROUP for one new entry, blocking up to `block` when given.
    async fn read_new(
        &self,
        consumer: &str,
        block: Option<Duration>,
    ) -> Result<Option<Delivery>, QueueError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(millis(b).max(1));
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(">");
        let r: Result<Option<StreamReadReply>, RedisError> = match (&self.blocking, block) {
            (Some(b), Some(_)) => {
                let mut conn = b.connection(consumer, self.config.block).await?;
                let r = cmd.query_async(&mut conn).await;
                if r.is_err() {
                    // A broken or timed-out connection is dropped; the next claim
                    // opens a fresh one.
                    b.conns.lock().await.remove(consumer);
                }
                r
            }
            _ => cmd.query_async(&mut self.conn.clone()).await,
        };
        let r = match r {
            Err(e) if is_nogroup(&e) => {
                // The group vanished between the reclaim and this read: re-create it
                // and let the caller claim again.
                self.create_group().await?;
                return Ok(None);
            }
            r => r.map_err(backend("read new"))?,
        };
        let Some(entry) = r
            .and_then(|r| r.keys.into_iter().next())
            .and_then(|k| k.ids.into_iter().next())
        else {
            return Ok(None);
        };
        let delivery_id = entry.id.clone();
        let (id, payload) = entry_fields(entry)?;
        Ok(Some(Delivery {
            job: Job { id, payload },
            delivery_id,
            attempt: 1,
            consumer: consumer.to_owned(),
        }))
    }

    async fn set_idle(&self, delivery: &Delivery, idle: Duration) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .set_idle
            .key(&self.stream)
            .arg(GROUP)
            .arg(&delivery.consumer)
            .arg(&delivery.delivery_id)
            .arg(millis(idle))
            .invoke_async(&mut conn)
            .await
            .map_err(backend("set idle"))?;
        Ok(n == 1)
    }
}

impl Blocking {
    async fn connection(
        &self,
        consumer: &str,
        block: Duration,
    ) -> Result<MultiplexedConnection, QueueError> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(consumer) {
            return Ok(c.clone());
        }
        // The read waits up to `block` for the server's answer: give it that plus slack
        // (the default response timeout, 500 ms, is shorter than the default block).
        let config =
            AsyncConnectionConfig::new().set_response_timeout(Some(block + Duration::from_secs(2)));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(backend("connect"))?;
        conns.insert(consumer.to_owned(), c.clone());
        Ok(c)
    }
}

/// Whether Redis said the stream or its group does not exist (also from a script,
/// where the code arrives inside the message).
fn is_nogroup(e: &RedisError) -> bool {
    e.code() == Some("NOGROUP") || e.to_string().contains("NOGROUP")
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// The `id` and `payload` of a flat field/value list.
fn job_fields(mut fields: impl Iterator<Item = Value>) -> Result<(String, Vec<u8>), QueueError> {
    let (mut id, mut payload) = (None, None);
    while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
        match text(k).as_deref() {
            Some("id") => id = text(v),
            Some("payload") => payload = bytes(v),
            _ => {}
        }
    }
    match (id, payload) {
        (Some(id), Some(payload)) => Ok((id, payload)),
        _ => Err(reply("claim", "job entry without id or payload")),
    }
}

fn entry_fields(mut entry: StreamId) -> Result<(String, Vec<u8>), QueueError> {
    let id = entry.map.remove("id").and_then(text);
    let payload = entry.map.remove("payload").and_then(bytes);
    match (id, payload) {
        (Some(id), Some(payload)) => Ok((id, payload)),
        _ => Err(reply("claim", "job entry without id or payload")),
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("XADD")
            .arg(&self.stream)
            .arg("*")
            .arg("id")
            .arg(&job.id)
            .arg("payload")
            .arg(job.payload.as_slice())
            .query_async(&mut conn)
            .await
            .map_err(backend("enqueue"))?;
        Ok(())
    }

    async fn claim(&self, consumer: &str) -> Result<Option<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + self.config.block;
        loop {
            if let Some(d) = self.reclaim(consumer).await? {
                return Ok(Some(d));
            }
            let now = tokio::time::Instant::now();
            if self.blocking.is_some() {
                let left = deadline.saturating_duration_since(now);
                if left.is_zero() {
                    return self.read_new(consumer, None).await;
                }
                return self.read_new(consumer, Some(left)).await;
            }
            if let Some(d) = self.read_new(consumer, None).await? {
                return Ok(Some(d));
            }
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: (i64, i64) = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&delivery.delivery_id)
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(&delivery.delivery_id)
            .query_async(&mut conn)
            .await
            .map_err(backend("ack"))?;
        Ok(())
    }

    async fn touch(&self, delivery: &Delivery) -> Result<bool, QueueError> {
        self.set_idle(delivery, Duration::ZERO).await
    }

    async fn retry(&self, delivery: &Delivery, _error: &str) -> Result<(), QueueError> {
        self.set_idle(delivery, self.config.claim_idle).await?;
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .dead_letter
            .key(&self.stream)
            .key(&self.dead)
            .arg(GROUP)
            .arg(&delivery.delivery_id)
            .arg(error)
            .arg(Utc::now().to_rfc3339())
            .invoke_async(&mut conn)
            .await
            .map_err(backend("dead letter"))?;
        Ok(())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        redis::cmd("XLEN")
            .arg(&self.stream)
            .query_async(&mut conn)
            .await
            .map_err(backend("depth"))
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let r: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.dead)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(backend("dead letters"))?;
        r.ids
            .into_iter()
            .map(|mut e| {
                let field = |e: &mut StreamId, k: &str| e.map.remove(k).and_then(text);
                let job_id = field(&mut e, "id").unwrap_or_default();
                let error = field(&mut e, "error").unwrap_or_default();
                let attempts = field(&mut e, "attempts")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0);
                let at = field(&mut e, "at")
                    .and_then(|a| DateTime::parse_from_rfc3339(&a).ok())
                    .map(|a| a.with_timezone(&Utc))
                    .ok_or_else(|| reply("dead letters", format!("entry {} without time", e.id)))?;
                let payload = e.map.remove("payload").and_then(bytes).unwrap_or_default();
                Ok(DeadLetter {
                    job_id,
                    payload,
                    attempts,
                    error,
                    at,
                })
            })
            .collect()
    }
}
