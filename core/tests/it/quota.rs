//! Daily quotas: one suite of behaviours run against both backends (in-memory and a
//! real redis-server), so the embedded and the Redis mode count the same way.
//!
//! Redis deletes a key whose EXPIREAT is in the past, so the Redis runs use days
//! around the real clock (or in the future), never fixed dates in the past.

#[cfg(feature = "redis")]
use crate::redis_server;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use stella_core::quota::{
    MemoryQuota, QuotaStore, UNLIMITED, day_key, next_utc_midnight, seconds_until_reset,
};

/// A backend under test; holds the Redis server alive while the test runs.
struct Backend {
    quota: Arc<dyn QuotaStore>,
    #[cfg(feature = "redis")]
    _server: Option<redis_server::RedisServer>,
}

fn memory() -> Backend {
    Backend {
        quota: Arc::new(MemoryQuota::new()),
        #[cfg(feature = "redis")]
        _server: None,
    }
}

#[cfg(feature = "redis")]
async fn connection(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("redis url");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("connect to redis")
}

/// A random key prefix, so tests stay apart on a shared `STELLA_TEST_REDIS_URL`.
#[cfg(feature = "redis")]
fn prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4().simple())
}

#[cfg(feature = "redis")]
async fn redis() -> Backend {
    let server = redis_server::RedisServer::start();
    let conn = connection(&server.url).await;
    Backend {
        quota: Arc::new(stella_core::quota::RedisQuota::new(conn, prefix())),
        _server: Some(server),
    }
}

/// A time on a future day (so Redis expiries lie ahead), at `h:m:s` UTC.
fn future_day_at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    let day = Utc::now().date_naive() + Duration::days(400);
    day.and_time(NaiveTime::from_hms_opt(h, m, s).unwrap())
        .and_utc()
}

/// 64 clients race, each admitting until refused: exactly `limit` scans get in.
async fn concurrent_clients_admit_exactly_the_limit(quotas: Vec<Arc<dyn QuotaStore>>) {
    const CLIENTS: usize = 64;
    const LIMIT: u32 = 333;
    let now = Utc::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let q = quotas[i % quotas.len()].clone();
        tasks.push(tokio::spawn(async move {
            let (mut admitted, mut refused) = (0u32, 0u32);
            loop {
                let a = q.admit("tenant-a", LIMIT, now).await.unwrap();
                assert!(a.used <= LIMIT, "counter went past the limit: {a:?}");
                if a.admitted {
                    admitted += 1;
                } else {
                    refused += 1;
                    assert_eq!(a.remaining, 0);
                    break;
                }
            }
            (admitted, refused)
        }));
    }
    let mut admitted = 0;
    let mut refused = 0;
    for t in tasks {
        let (a, r) = t.await.unwrap();
        admitted += a;
        refused += r;
    }
    assert_eq!(admitted, LIMIT);
    assert_eq!(
        refused, CLIENTS as u32,
        "every client is refused once at the end"
    );
    for q in &quotas {
        let s = q.status("tenant-a", LIMIT, now).await.unwrap();
        assert_eq!((s.used, s.remaining, s.admitted), (LIMIT, 0, false));
        // Refused attempts are not counted.
        let again = q.admit("tenant-a", LIMIT, now).await.unwrap();
        assert!(!again.admitted);
        assert_eq!(again.used, LIMIT);
    }
}

/// A new UTC day starts at zero; the old day's count stays with the old day.
async fn new_day_starts_at_zero(q: Arc<dyn QuotaStore>) {
    let now = Utc::now();
    for _ in 0..3 {
        assert!(q.admit("s", 3, now).await.unwrap().admitted);
    }
    assert!(!q.admit("s", 3, now).await.unwrap().admitted);
    let tomorrow = now + Duration::days(1);
    assert_eq!(q.status("s", 3, tomorrow).await.unwrap().used, 0);
    let a = q.admit("s", 3, tomorrow).await.unwrap();
    assert!(a.admitted);
    assert_eq!((a.used, a.remaining), (1, 2));
    assert_eq!(a.reset_at, next_utc_midnight(tomorrow));
}

/// Subjects count separately, also when one subject's id contains the other's.
async fn subjects_are_independent(q: Arc<dyn QuotaStore>) {
    let now = Utc::now();
    for _ in 0..2 {
        assert!(q.admit("alice", 2, now).await.unwrap().admitted);
    }
    assert!(!q.admit("alice", 2, now).await.unwrap().admitted);
    let b = q.admit("bob", 2, now).await.unwrap();
    assert!(b.admitted);
    assert_eq!(b.used, 1);
    let tricky = format!("alice:{}", day_key(now));
    assert_eq!(q.status(&tricky, 2, now).await.unwrap().used, 0);
    assert_eq!(q.status("alice", 2, now).await.unwrap().used, 2);
}

/// `reset_at` is the next UTC midnight, also one second before and at midnight.
async fn reset_at_is_next_midnight(q: Arc<dyn QuotaStore>) {
    let late = future_day_at(23, 59, 59);
    let midnight = late + Duration::seconds(1);
    assert_eq!(midnight.time(), NaiveTime::MIN);
    let a = q.admit("r", 10, late).await.unwrap();
    assert_eq!(a.reset_at, midnight);
    assert_eq!(seconds_until_reset(late), 1);
    // One second later is a new day: the counter is fresh and resets a day later.
    let b = q.admit("r", 10, midnight).await.unwrap();
    assert_eq!(b.used, 1);
    assert_eq!(b.reset_at, midnight + Duration::days(1));
    assert_eq!(seconds_until_reset(midnight), 86_400);
}

/// `status` reads without counting; a limit of 0 refuses everything.
async fn status_does_not_count(q: Arc<dyn QuotaStore>) {
    let now = Utc::now();
    for _ in 0..5 {
        let s = q.status("s", 2, now).await.unwrap();
        assert_eq!((s.used, s.remaining, s.admitted), (0, 2, true));
    }
    q.admit("s", 2, now).await.unwrap();
    assert_eq!(q.status("s", 2, now).await.unwrap().used, 1);
    let z = q.admit("zero", 0, now).await.unwrap();
    assert!(!z.admitted);
    assert_eq!(z.used, 0);
}

/// `u32::MAX` is unlimited, and scans are still counted.
async fn unlimited_is_counted(q: Arc<dyn QuotaStore>) {
    let now = Utc::now();
    for i in 1..=50 {
        let a = q.admit("ent", UNLIMITED, now).await.unwrap();
        assert!(a.admitted);
        assert_eq!(a.used, i);
    }
    assert_eq!(q.status("ent", UNLIMITED, now).await.unwrap().used, 50);
}

/// A refund gives back one scan on the day it was admitted, never below zero, and
/// frees room under the limit.
async fn refunds_give_back_a_scan(q: Arc<dyn QuotaStore>) {
    let now = Utc::now();
    for _ in 0..2 {
        assert!(q.admit("f", 2, now).await.unwrap().admitted);
    }
    assert!(!q.admit("f", 2, now).await.unwrap().admitted);
    assert_eq!(q.refund("f", now).await.unwrap(), 1);
    assert_eq!(q.status("f", 2, now).await.unwrap().used, 1);
    assert!(q.admit("f", 2, now).await.unwrap().admitted);
    for expected in [1, 0, 0, 0] {
        assert_eq!(q.refund("f", now).await.unwrap(), expected);
    }
    assert_eq!(q.status("f", 2, now).await.unwrap().used, 0);
    // A subject never counted stays at zero.
    assert_eq!(q.refund("nobody", now).await.unwrap(), 0);
    assert_eq!(q.status("nobody", 2, now).await.unwrap().used, 0);
}

/// A refund goes to the day the scan was admitted on, not to the day it ends.
async fn refunds_hit_the_admission_day(q: Arc<dyn QuotaStore>) {
    let late = future_day_at(23, 59, 59);
    let next = late + Duration::seconds(1);
    q.admit("d", 10, late).await.unwrap();
    q.admit("d", 10, next).await.unwrap();
    q.admit("d", 10, next).await.unwrap();
    assert_eq!(q.refund("d", late).await.unwrap(), 0);
    assert_eq!(q.status("d", 10, next).await.unwrap().used, 2);
}

/// Reservations racing refunds at the limit: the count ends exact, never past the
/// limit nor below zero.
async fn refunds_racing_admissions_stay_exact(q: Arc<dyn QuotaStore>) {
    const CLIENTS: usize = 32;
    const LIMIT: u32 = 50;
    let now = Utc::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let mut kept = 0u32;
            // Each client reserves 10 times and refunds every other reservation.
            for i in 0..10 {
                let a = q.admit("race", LIMIT, now).await.unwrap();
                assert!(a.used <= LIMIT, "counter went past the limit: {a:?}");
                if !a.admitted {
                    continue;
                }
                if i % 2 == 0 {
                    q.refund("race", now).await.unwrap();
                } else {
                    kept += 1;
                }
            }
            kept
        }));
    }
    let mut kept = 0;
    for t in tasks {
        kept += t.await.unwrap();
    }
    assert!(kept <= LIMIT);
    assert_eq!(q.status("race", LIMIT, now).await.unwrap().used, kept);
}

/// Runs each behaviour on each backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let b = super::memory();
                    super::$name(b.quota.clone()).await;
                }
            )*
        }
        #[cfg(feature = "redis")]
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let b = super::redis().await;
                    super::$name(b.quota.clone()).await;
                }
            )*
        }
    };
}

suite!(
    new_day_starts_at_zero,
    subjects_are_independent,
    reset_at_is_next_midnight,
    status_does_not_count,
    unlimited_is_counted,
    refunds_give_back_a_scan,
    refunds_hit_the_admission_day,
    refunds_racing_admissions_stay_exact,
);

#[tokio::test(flavor = "multi_thread")]
async fn memory_concurrent_clients_admit_exactly_the_limit() {
    let b = memory();
    concurrent_clients_admit_exactly_the_limit(vec![b.quota.clone()]).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn redis_concurrent_clients_admit_exactly_the_limit() {
    let b = redis().await;
    concurrent_clients_admit_exactly_the_limit(vec![b.quota.clone()]).await;
}

/// Two servers (two connection managers) sharing Redis share one count.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn redis_count_is_global_across_instances() {
    use stella_core::quota::RedisQuota;
    let server = redis_server::RedisServer::start();
    let prefix = prefix();
    let a: Arc<dyn QuotaStore> = Arc::new(RedisQuota::new(connection(&server.url).await, &prefix));
    let b: Arc<dyn QuotaStore> = Arc::new(RedisQuota::new(connection(&server.url).await, &prefix));
    concurrent_clients_admit_exactly_the_limit(vec![a.clone(), b.clone()]).await;
    // And a third sees it too, while another prefix (tenant) does not.
    let other = RedisQuota::new(connection(&server.url).await, "other:");
    assert_eq!(
        other
            .status("tenant-a", 333, Utc::now())
            .await
            .unwrap()
            .used,
        0
    );
}

/// The Redis key is `{prefix}quota:{subject}:{day}` and expires after the day's
/// midnight (plus the grace), from the server's `now`.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn redis_key_expires_after_midnight() {
    use redis::AsyncCommands as _;
    use stella_core::quota::RedisQuota;
    use stella_core::quota::redis::EXPIRY_GRACE_SECS;
    let server = redis_server::RedisServer::start();
    let mut conn = connection(&server.url).await;
    let q = RedisQuota::new(conn.clone(), "p:");
    let times = [
        Utc::now(),
        future_day_at(23, 59, 59),
        future_day_at(0, 0, 0),
    ];
    for (i, now) in times.into_iter().enumerate() {
        let subject = format!("sub{i}");
        q.admit(&subject, 5, now).await.unwrap();
        let key = format!("p:quota:{subject}:{}", now.format("%Y-%m-%d"));
        assert_eq!(q.key(&subject, now), key);
        let expire_at: i64 = conn.expire_time(&key).await.unwrap();
        assert_eq!(
            expire_at,
            next_utc_midnight(now).timestamp() + EXPIRY_GRACE_SECS,
            "{key}"
        );
        let ttl: i64 = conn.ttl(&key).await.unwrap();
        let until_midnight = (next_utc_midnight(now) - Utc::now()).num_seconds();
        assert!(
            ttl > until_midnight,
            "ttl {ttl} ends before midnight ({until_midnight})"
        );
        let value: u32 = conn.get(&key).await.unwrap();
        assert_eq!(value, 1);
    }
    // A refused scan creates no key.
    let now = Utc::now();
    assert!(!q.admit("nobody", 0, now).await.unwrap().admitted);
    let exists: bool = conn.exists(q.key("nobody", now)).await.unwrap();
    assert!(!exists);
}

/// The memory backend keeps only the current day.
#[tokio::test(flavor = "multi_thread")]
async fn memory_drops_past_days() {
    let q = MemoryQuota::new();
    let d1 = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
    q.admit("a", 5, d1).await.unwrap();
    q.admit("b", 5, d1).await.unwrap();
    assert_eq!(q.days_held(), 1);
    q.admit("a", 5, d1 + Duration::days(1)).await.unwrap();
    assert_eq!(q.days_held(), 1);
    assert_eq!(q.status("a", 5, d1).await.unwrap().used, 0);
}
