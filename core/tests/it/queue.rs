//! The scan queue, runner pool and scan records: one suite per behaviour, run on the
//! in-process queue and on Redis (polling and blocking claims) against a real
//! redis-server; the record store suite on SQLite and Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::redis_server::RedisServer;
use async_trait::async_trait;
use chrono::Utc;
use stella_core::queue::redis::RedisQueue;
use stella_core::queue::{
    Delivery, Job, JobError, JobHandler, JobQueue, MemoryQueue, QueueConfig, RunnerPool,
};
use stella_core::scan_records::redis::RedisScanStore;
use stella_core::scan_records::{
    ScanRecord, ScanStatus, ScanStore, ScanStoreError, SqliteScanStore,
};
use tokio::time::Instant;

// ---------------------------------------------------------------- backends

/// Which queue a test runs on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    /// RedisQueue::new: claims poll.
    Redis,
    /// RedisQueue::with_client: claims block on a dedicated connection.
    RedisBlocking,
}

/// A backend: makes queue instances sharing one store (one Redis server, one
/// MemoryQueue); each Redis instance has its own client and connection, like a
/// separate process.
struct Backend {
    kind: Kind,
    server: Option<RedisServer>,
    memory: Option<Arc<MemoryQueue>>,
    config: QueueConfig,
    prefix: String,
}

impl Backend {
    fn new(kind: Kind, config: QueueConfig) -> Backend {
        let server = match kind {
            Kind::Memory => None,
            Kind::Redis | Kind::RedisBlocking => Some(RedisServer::start()),
        };
        let memory = match kind {
            Kind::Memory => Some(Arc::new(MemoryQueue::new(config.clone()))),
            _ => None,
        };
        Backend {
            kind,
            server,
            memory,
            config,
            prefix: format!("test-{}:", uuid::Uuid::new_v4()),
        }
    }

    async fn queue(&self) -> Arc<dyn JobQueue> {
        if let Some(m) = &self.memory {
            return m.clone();
        }
        let url = &self.server.as_ref().expect("redis server").url;
        let client = redis::Client::open(url.as_str()).expect("redis url");
        let conn = client
            .get_connection_manager()
            .await
            .expect("redis connection");
        let q = RedisQueue::new(conn, &self.prefix, self.config.clone())
            .await
            .expect("redis queue");
        match self.kind {
            Kind::RedisBlocking => Arc::new(q.with_client(client)),
            _ => Arc::new(q),
        }
    }
}

fn config(max_attempts: u32, claim_idle_ms: u64) -> QueueConfig {
    QueueConfig {
        max_attempts,
        claim_idle: Duration::from_millis(claim_idle_ms),
        block: Duration::from_millis(200),
    }
}

fn job(i: usize) -> Job {
    Job {
        id: format!("scan-{i}"),
        // Not UTF-8: payloads are opaque bytes and must survive the queue unchanged.
        payload: vec![0xff, 0x00, (i % 256) as u8, 0xfe],
    }
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A handler scripted per attempt, recording every call.
#[derive(Debug, Default)]
struct Scripted {
    /// (job id, attempt, consumer) of every handle call.
    calls: Mutex<Vec<(String, u32, String)>>,
    /// Completed (Ok) jobs.
    done: Mutex<Vec<String>>,
    /// (job id, error) of every dead call.
    dead: Mutex<Vec<(String, String)>>,
    behaviour: Behaviour,
}

#[derive(Debug, Default, Clone, Copy)]
enum Behaviour {
    #[default]
    Succeed,
    /// Err(Retry) every time.
    AlwaysFail,
    /// Err(Fatal) every time.
    Fatal,
    /// Panics on the first attempt, then succeeds.
    PanicFirst,
    /// Hangs forever on the first attempt (its runner is then killed), then succeeds.
    HangFirst,
    /// Takes this long, then succeeds.
    Slow(u64),
}

impl Scripted {
    fn new(behaviour: Behaviour) -> Arc<Scripted> {
        Arc::new(Scripted {
            behaviour,
            ..Scripted::default()
        })
    }
    fn calls(&self) -> Vec<(String, u32, String)> {
        self.calls.lock().unwrap().clone()
    }
    fn done(&self) -> Vec<String> {
        self.done.lock().unwrap().clone()
    }
    fn dead(&self) -> Vec<(String, String)> {
        self.dead.lock().unwrap().clone()
    }
}

#[async_trait]
impl JobHandler for Scripted {
    async fn handle(&self, d: &Delivery) -> Result<(), JobError> {
        self.calls
            .lock()
            .unwrap()
            .push((d.job.id.clone(), d.attempt, d.consumer.clone()));
        match self.behaviour {
            Behaviour::Succeed => {}
            Behaviour::AlwaysFail => {
                return Err(JobError::Retry(format!("boom on attempt {}", d.attempt)));
            }
            Behaviour::Fatal => return Err(JobError::Fatal("bad image reference".into())),
            Behaviour::PanicFirst if d.attempt == 1 => panic!("handler exploded"),
            Behaviour::HangFirst if d.attempt == 1 => {
                std::future::pending::<()>().await;
            }
            Behaviour::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Behaviour::PanicFirst | Behaviour::HangFirst => {}
        }
        self.done.lock().unwrap().push(d.job.id.clone());
        Ok(())
    }

    async fn dead(&self, d: &Delivery, error: &str) {
        self.dead
            .lock()
            .unwrap()
            .push((d.job.id.clone(), error.to_owned()));
    }
}

/// Generates one #[tokio::test] per backend for a suite fn taking a `Kind`.
macro_rules! on_each_queue {
    ($suite:ident) => {
        mod $suite {
            use super::*;
            #[tokio::test(flavor = "multi_thread")]
            async fn memory() {
                super::$suite(Kind::Memory).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn redis() {
                super::$suite(Kind::Redis).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn redis_blocking() {
                super::$suite(Kind::RedisBlocking).await;
            }
        }
    };
}

// ---------------------------------------------------------------- queue suites

/// 50 jobs, 3 runners: every job handled exactly once and acked.
async fn exactly_once(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    for i in 0..50 {
        q.enqueue(&job(i)).await.unwrap();
    }
    assert_eq!(q.depth().await.unwrap(), 50);
    let h = Scripted::new(Behaviour::Succeed);
    let pool = RunnerPool::start(q.clone(), h.clone(), 3, "test-host-1");
    let counters = pool.counters();
    wait_until("50 jobs done", Duration::from_secs(30), || {
        counters.snapshot().done == 50
    })
    .await;
    assert!(pool.shutdown(Duration::from_secs(5)).await);

    let mut seen: HashMap<String, u32> = HashMap::new();
    for (id, attempt, _) in h.calls() {
        assert_eq!(attempt, 1, "{id} was redelivered");
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), 50);
    assert!(
        seen.values().all(|&n| n == 1),
        "some job ran twice: {seen:?}"
    );
    let consumers: std::collections::HashSet<_> = h.calls().into_iter().map(|c| c.2).collect();
    assert!(consumers.iter().all(|c| c.starts_with("test-host-1-")));
    assert_eq!(q.depth().await.unwrap(), 0);
    assert!(q.dead_letters(10).await.unwrap().is_empty());
    let s = counters.snapshot();
    assert_eq!((s.claimed, s.done, s.failed, s.in_flight), (50, 50, 0, 0));
}
on_each_queue!(exactly_once);

/// Runner A dies mid-handle (its pool is aborted, no ack): after `claim_idle` a
/// runner on another queue instance (another process on Redis) reclaims the job, as
/// attempt 2, and completes it. Before `claim_idle` nobody takes it.
async fn crash_reclaim(kind: Kind) {
    let b = Backend::new(kind, config(3, 600));
    let (qa, qb) = (b.queue().await, b.queue().await);
    qa.enqueue(&job(7)).await.unwrap();
    let h = Scripted::new(Behaviour::HangFirst);
    let pool_a = RunnerPool::start(qa.clone(), h.clone(), 1, "proc-a");
    wait_until("runner A started the job", Duration::from_secs(10), || {
        !h.calls().is_empty()
    })
    .await;
    // Zero timeout: the hanging runner is aborted — a crash as far as the queue knows.
    assert!(!pool_a.shutdown(Duration::ZERO).await);
    let killed_at = Instant::now();
    assert_eq!(qb.depth().await.unwrap(), 1, "the job is still pending");

    // Not idle long enough yet: a claim right away finds nothing.
    let early = qb.claim("probe").await.unwrap();
    if killed_at.elapsed() < Duration::from_millis(500) {
        assert_eq!(early, None, "reclaimed before claim_idle");
    }

    let pool_b = RunnerPool::start(qb.clone(), h.clone(), 1, "proc-b");
    wait_until(
        "runner B completed the job",
        Duration::from_secs(10),
        || h.done().len() == 1,
    )
    .await;
    assert!(pool_b.shutdown(Duration::from_secs(5)).await);
    let calls = h.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].1, calls[0].2.as_str()), (1, "proc-a-0"));
    assert_eq!((calls[1].1, calls[1].2.as_str()), (2, "proc-b-0"));
    // The last lease renewal was at most claim_idle / 3 before the kill.
    assert!(killed_at.elapsed() >= Duration::from_millis(400));
    assert_eq!(qb.depth().await.unwrap(), 0);
}
on_each_queue!(crash_reclaim);

/// A job whose runner is alive keeps its lease past `claim_idle`: a slow job is not
/// run twice.
async fn lease_renewal(kind: Kind) {
    let b = Backend::new(kind, config(3, 300));
    let q = b.queue().await;
    q.enqueue(&job(1)).await.unwrap();
    let h = Scripted::new(Behaviour::Slow(1200));
    let pool = RunnerPool::start(q.clone(), h.clone(), 2, "lease");
    wait_until("slow job done", Duration::from_secs(10), || {
        h.done().len() == 1
    })
    .await;
    assert!(pool.shutdown(Duration::from_secs(5)).await);
    assert_eq!(h.calls().len(), 1, "reclaimed while its runner was alive");
    assert_eq!(q.depth().await.unwrap(), 0);
}
on_each_queue!(lease_renewal);

/// A handler that always fails: `max_attempts` deliveries, then a dead letter with
/// the payload and the last error; `dead` called once; depth 0.
async fn always_fails(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    q.enqueue(&job(3)).await.unwrap();
    let h = Scripted::new(Behaviour::AlwaysFail);
    let pool = RunnerPool::start(q.clone(), h.clone(), 2, "fail");
    let counters = pool.counters();
    wait_until("dead letter", Duration::from_secs(10), || {
        counters.snapshot().dead_lettered == 1
    })
    .await;
    assert!(pool.shutdown(Duration::from_secs(5)).await);

    let attempts: Vec<u32> = h.calls().iter().map(|c| c.1).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(
        h.dead(),
        [("scan-3".to_owned(), "boom on attempt 3".to_owned())]
    );
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job_id, "scan-3");
    assert_eq!(dead[0].payload, job(3).payload);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].error, "boom on attempt 3");
    assert!((Utc::now() - dead[0].at).num_seconds() < 30);
    assert_eq!(q.depth().await.unwrap(), 0);
    let s = counters.snapshot();
    assert_eq!((s.failed, s.retried, s.dead_lettered, s.done), (3, 2, 1, 0));
}
on_each_queue!(always_fails);

/// A fatal error is dead-lettered at once; dead letters come newest first.
async fn fatal_dead_letters(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    for i in 0..3 {
        q.enqueue(&job(i)).await.unwrap();
    }
    let h = Scripted::new(Behaviour::Fatal);
    let pool = RunnerPool::start(q.clone(), h.clone(), 1, "fatal");
    let counters = pool.counters();
    wait_until("3 dead letters", Duration::from_secs(10), || {
        counters.snapshot().dead_lettered == 3
    })
    .await;
    assert!(pool.shutdown(Duration::from_secs(5)).await);
    assert_eq!(h.calls().len(), 3, "a fatal error is not retried");
    let ids: Vec<String> = q
        .dead_letters(2)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            assert_eq!((d.attempts, d.error.as_str()), (1, "bad image reference"));
            d.job_id
        })
        .collect();
    assert_eq!(ids, ["scan-2", "scan-1"]);
    assert_eq!(q.depth().await.unwrap(), 0);
}
on_each_queue!(fatal_dead_letters);

/// A panicking handler is a failed attempt: retried, and the runner lives on to run
/// the next job.
async fn panicking_handler(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    q.enqueue(&job(1)).await.unwrap();
    q.enqueue(&job(2)).await.unwrap();
    let h = Scripted::new(Behaviour::PanicFirst);
    let pool = RunnerPool::start(q.clone(), h.clone(), 1, "panic");
    let counters = pool.counters();
    wait_until("both jobs done", Duration::from_secs(10), || {
        counters.snapshot().done == 2
    })
    .await;
    assert!(pool.shutdown(Duration::from_secs(5)).await);
    let s = counters.snapshot();
    assert_eq!((s.panicked, s.failed, s.retried, s.done), (2, 2, 2, 2));
    let mut done = h.done();
    done.sort();
    assert_eq!(done, ["scan-1", "scan-2"]);
    assert!(
        h.calls().iter().all(|c| c.2 == "panic-0"),
        "one runner did it all"
    );
    assert_eq!(q.depth().await.unwrap(), 0);
}
on_each_queue!(panicking_handler);

/// Shutdown waits for the job in flight and acks it; a job enqueued afterwards stays
/// queued for the next pool.
async fn graceful_shutdown(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    q.enqueue(&job(1)).await.unwrap();
    let h = Scripted::new(Behaviour::Slow(500));
    let pool = RunnerPool::start(q.clone(), h.clone(), 2, "drain");
    let counters = pool.counters();
    wait_until("job started", Duration::from_secs(10), || {
        !h.calls().is_empty()
    })
    .await;
    assert_eq!(counters.snapshot().in_flight, 1);
    assert!(pool.shutdown(Duration::from_secs(10)).await);
    assert_eq!(h.done(), ["scan-1"]);
    assert_eq!(counters.snapshot().done, 1);
    assert_eq!(q.depth().await.unwrap(), 0, "the in-flight job was acked");

    q.enqueue(&job(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(q.depth().await.unwrap(), 1);
    assert_eq!(h.calls().len(), 1, "a stopped pool took a job");

    let h2 = Scripted::new(Behaviour::Succeed);
    let next = RunnerPool::start(q.clone(), h2.clone(), 1, "next");
    wait_until("next pool ran it", Duration::from_secs(10), || {
        h2.done().len() == 1
    })
    .await;
    assert!(next.shutdown(Duration::from_secs(5)).await);
    assert_eq!(h2.done(), ["scan-2"]);
    assert_eq!(q.depth().await.unwrap(), 0);
}
on_each_queue!(graceful_shutdown);

/// Queue operations without a pool: claim order, retry keeps the count, ack of a
/// stale delivery is harmless, touch reports a lost lease.
async fn queue_operations(kind: Kind) {
    let b = Backend::new(kind, config(5, 600));
    let q = b.queue().await;
    assert_eq!(q.claim("c1").await.unwrap(), None, "empty queue");
    for i in 0..2 {
        q.enqueue(&job(i)).await.unwrap();
    }
    let d0 = q.claim("c1").await.unwrap().expect("first job");
    assert_eq!((d0.job.clone(), d0.attempt), (job(0), 1));
    let d1 = q.claim("c2").await.unwrap().expect("second job");
    assert_eq!((d1.job.clone(), d1.attempt), (job(1), 1));
    assert_eq!(q.depth().await.unwrap(), 2, "pending jobs count");

    // Retry: claimable at once by anyone, delivery count kept.
    q.retry(&d0, "transient").await.unwrap();
    let again = q.claim("c3").await.unwrap().expect("retried job");
    assert_eq!(
        (
            again.job.id.as_str(),
            again.attempt,
            again.delivery_id.as_str()
        ),
        ("scan-0", 2, d0.delivery_id.as_str())
    );
    // c1 lost the job to c3: its lease renewal says so; c3's succeeds.
    assert!(!q.touch(&d0).await.unwrap());
    assert!(q.touch(&again).await.unwrap());
    // Nor can c1 release it: a stale retry leaves c3's job alone.
    q.retry(&d0, "stale").await.unwrap();
    assert_eq!(
        q.claim("c4").await.unwrap(),
        None,
        "stale retry released the job"
    );

    // d1 idles past claim_idle: reclaimed by c3 as attempt 2.
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert!(q.touch(&again).await.unwrap());
    let reclaimed = q.claim("c3").await.unwrap().expect("idle job");
    assert_eq!(
        (reclaimed.job.id.as_str(), reclaimed.attempt),
        ("scan-1", 2)
    );

    q.ack(&again).await.unwrap();
    q.ack(&reclaimed).await.unwrap();
    q.ack(&d1).await.unwrap(); // stale: already acked, no effect
    assert_eq!(q.depth().await.unwrap(), 0);
    // A dead letter of an acked job moves nothing.
    q.dead_letter(&d1, "late").await.unwrap();
    assert!(q.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(q.claim("c1").await.unwrap(), None);
}
on_each_queue!(queue_operations);

/// Redis: the group is created from id 0, so jobs already in the stream when a queue
/// first starts (or after the group was lost) are not skipped; a second instance on
/// the same keys does not fail on the existing group.
#[tokio::test(flavor = "multi_thread")]
async fn redis_group_sees_earlier_jobs() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url.as_str()).unwrap();
    let mut conn = client.get_connection_manager().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg("p:scan-jobs")
        .arg("*")
        .arg("id")
        .arg("early")
        .arg("payload")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let q = RedisQueue::new(conn.clone(), "p:", config(3, 30_000))
        .await
        .unwrap();
    let _second = RedisQueue::new(conn.clone(), "p:", config(3, 30_000))
        .await
        .unwrap();
    let d = q.claim("c").await.unwrap().expect("the early job");
    assert_eq!(d.job.id, "early");
    q.ack(&d).await.unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg("p:scan-jobs")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 0, "ack deletes the entry");

    // The group vanishes (key deleted): the next claim re-creates it.
    let _: () = redis::cmd("DEL")
        .arg("p:scan-jobs")
        .query_async(&mut conn)
        .await
        .unwrap();
    q.enqueue(&job(9)).await.unwrap();
    let mut got = None;
    for _ in 0..3 {
        got = q.claim("c").await.unwrap();
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got.map(|d| d.job), Some(job(9)));
}

// ---------------------------------------------------------------- record suites

async fn store_suite(s: Arc<dyn ScanStore>) {
    let now = Utc::now();
    let mut rec = ScanRecord::queued("scan-a", now);
    rec.events.push(stella_core::scan_records::ScanEvent {
        seq: 99, // reassigned by the store
        at: now,
        kind: "queued".into(),
        message: "scan queued".into(),
        data: Some(serde_json::json!({"image": "alpine:3.20"})),
    });
    s.create(&rec).await.unwrap();
    assert!(matches!(s.create(&rec).await, Err(ScanStoreError::Exists(id)) if id == "scan-a"));

    let got = s.get("scan-a").await.unwrap().expect("record");
    assert_eq!(got.status, ScanStatus::Queued);
    assert_eq!(got.attempts, 0);
    assert_eq!((got.error.clone(), got.result.clone()), (None, None));
    assert_eq!(got.created_at.timestamp_micros(), now.timestamp_micros());
    assert_eq!(got.events.len(), 1);
    assert_eq!(
        (got.events[0].seq, got.events[0].kind.as_str()),
        (1, "queued")
    );
    assert_eq!(
        got.events[0].data,
        Some(serde_json::json!({"image": "alpine:3.20"}))
    );

    s.set_status("scan-a", ScanStatus::Running).await.unwrap();
    let e2 = s
        .push_event("scan-a", "started", "runner r-0", None)
        .await
        .unwrap();
    let e3 = s
        .push_event(
            "scan-a",
            "progress",
            "layers",
            Some(serde_json::json!({"done": 2})),
        )
        .await
        .unwrap();
    assert_eq!((e2.seq, e3.seq), (2, 3));
    assert!(e3.at >= e2.at);
    let since = s.events_since("scan-a", 1).await.unwrap();
    assert_eq!(since, [e2.clone(), e3.clone()]);
    assert_eq!(s.events_since("scan-a", 3).await.unwrap(), []);

    let report = serde_json::json!({"findings": [{"id": "CVE-2024-0001", "score": 9.8}]});
    let done = s.finish("scan-a", report.clone()).await.unwrap();
    assert_eq!((done.seq, done.kind.as_str()), (4, "done"));
    let got = s.get("scan-a").await.unwrap().unwrap();
    assert_eq!(got.status, ScanStatus::Done);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.result, Some(report));
    assert!(got.updated_at >= got.created_at);
    let kinds: Vec<&str> = got.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["queued", "started", "progress", "done"]);
    let seqs: Vec<u64> = got.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    s.create(&ScanRecord::queued("scan-b", now)).await.unwrap();
    s.set_status("scan-b", ScanStatus::Running).await.unwrap();
    s.set_status("scan-b", ScanStatus::Running).await.unwrap();
    let failed = s.fail("scan-b", "registry unreachable").await.unwrap();
    assert_eq!((failed.seq, failed.kind.as_str()), (1, "failed"));
    let got = s.get("scan-b").await.unwrap().unwrap();
    assert_eq!(got.status, ScanStatus::Failed);
    assert_eq!(got.attempts, 2);
    assert_eq!(got.error.as_deref(), Some("registry unreachable"));
    assert_eq!(got.result, None);

    assert_eq!(s.get("nope").await.unwrap(), None);
    assert!(s.events_since("nope", 0).await.unwrap().is_empty());
    assert!(matches!(
        s.push_event("nope", "progress", "x", None).await,
        Err(ScanStoreError::NotFound(_))
    ));
    assert!(matches!(
        s.finish("nope", serde_json::json!({})).await,
        Err(ScanStoreError::NotFound(_))
    ));
    assert!(matches!(
        s.fail("nope", "x").await,
        Err(ScanStoreError::NotFound(_))
    ));
    assert!(matches!(
        s.set_status("nope", ScanStatus::Running).await,
        Err(ScanStoreError::NotFound(_))
    ));

    // Concurrent writers get distinct, gapless sequence numbers.
    s.create(&ScanRecord::queued("scan-c", now)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.push_event("scan-c", "progress", &format!("step {i}"), None)
                    .await
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    let log = s.get("scan-c").await.unwrap().unwrap().events;
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<u64>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_store_sqlite() {
    store_suite(Arc::new(SqliteScanStore::open_in_memory().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_store_sqlite_file_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scans.db");
    store_suite(Arc::new(SqliteScanStore::open(&path).unwrap())).await;
    let reopened = SqliteScanStore::open(&path).unwrap();
    let rec = reopened.get("scan-a").await.unwrap().expect("persisted");
    assert_eq!((rec.status, rec.events.len()), (ScanStatus::Done, 4));
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_store_redis() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url.as_str()).unwrap();
    let mut conn = client.get_connection_manager().await.unwrap();
    store_suite(Arc::new(RedisScanStore::new(conn.clone(), "t:"))).await;
    // Both keys carry the 7-day TTL.
    for key in ["t:scan:scan-a", "t:scan:scan-a:events"] {
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            ttl > 7 * 24 * 3600 - 60 && ttl <= 7 * 24 * 3600,
            "{key}: ttl {ttl}"
        );
    }
    // A short TTL expires the record.
    let short = RedisScanStore::new(conn.clone(), "u:").with_ttl(Duration::from_secs(1));
    short
        .create(&ScanRecord::queued("x", Utc::now()))
        .await
        .unwrap();
    short.push_event("x", "progress", "p", None).await.unwrap();
    assert!(short.get("x").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(short.get("x").await.unwrap(), None);
    assert!(short.events_since("x", 0).await.unwrap().is_empty());
}

#[test]
fn records_serialize_camel_case() {
    let mut r = ScanRecord::queued("s", Utc::now());
    r.status = ScanStatus::Running;
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["status"], "running");
    assert!(v.get("createdAt").is_some() && v.get("updatedAt").is_some());
    assert!(v.get("created_at").is_none());
}

/// submit: the record exists (queued, one event) before the job is claimable; a
/// taken id is refused without enqueueing a second job.
async fn submit_creates_record_then_job(kind: Kind) {
    let b = Backend::new(kind, config(3, 30_000));
    let q = b.queue().await;
    let store = SqliteScanStore::open_in_memory().unwrap();
    let rec = stella_core::queue::submit(q.as_ref(), &store, &job(5), None)
        .await
        .unwrap();
    assert_eq!(
        (rec.id.as_str(), rec.status),
        ("scan-5", ScanStatus::Queued)
    );
    let stored = store.get("scan-5").await.unwrap().expect("record");
    assert_eq!(stored.events.len(), 1);
    assert_eq!(
        (stored.events[0].seq, stored.events[0].kind.as_str()),
        (1, "queued")
    );
    assert!(matches!(
        stella_core::queue::submit(q.as_ref(), &store, &job(5), None).await,
        Err(stella_core::queue::SubmitError::Store(
            ScanStoreError::Exists(_)
        ))
    ));
    assert_eq!(q.depth().await.unwrap(), 1);
    let d = q.claim("c").await.unwrap().expect("job");
    assert_eq!(d.job, job(5));
}
on_each_queue!(submit_creates_record_then_job);

// ---------------------------------------------------------------- model test

/// One step of the model test; deliveries are picked by index modulo how many
/// were made (stale ones included).
#[derive(Debug, Clone)]
enum Op {
    Enqueue,
    Claim(usize),
    Ack(usize),
    Retry(usize),
    Dead(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => Just(Op::Enqueue),
        4 => (0..3usize).prop_map(Op::Claim),
        2 => any::<usize>().prop_map(Op::Ack),
        2 => any::<usize>().prop_map(Op::Retry),
        1 => any::<usize>().prop_map(Op::Dead),
    ]
}

/// The queue's contract as plain data: FIFO waiting jobs, pending jobs (owner,
/// deliveries, released by retry) reclaimed oldest first, dead letters.
#[derive(Default)]
struct Model {
    next: usize,
    waiting: std::collections::VecDeque<usize>,
    pending: std::collections::BTreeMap<usize, (String, u32, bool)>,
    dead: Vec<(String, u32, String)>,
}

fn job_number(d: &Delivery) -> usize {
    d.job
        .id
        .trim_start_matches("scan-")
        .parse()
        .expect("test job id")
}

/// Runs `ops` on a queue and on the model; every claim, the depth after each step and
/// the final dead letters must agree.
async fn run_model(q: Arc<dyn JobQueue>, ops: Vec<Op>) {
    let mut m = Model::default();
    let mut made: Vec<Delivery> = Vec::new();
    for op in ops {
        match op {
            Op::Enqueue => {
                q.enqueue(&job(m.next)).await.unwrap();
                m.waiting.push_back(m.next);
                m.next += 1;
            }
            Op::Claim(c) => {
                let consumer = format!("c{c}");
                let got = q.claim(&consumer).await.unwrap();
                let released = m.pending.iter_mut().find(|(_, p)| p.2);
                let want = if let Some((&n, p)) = released {
                    *p = (consumer.clone(), p.1 + 1, false);
                    Some((n, p.1))
                } else if let Some(n) = m.waiting.pop_front() {
                    m.pending.insert(n, (consumer.clone(), 1, false));
                    Some((n, 1))
                } else {
                    None
                };
                let got_pair = got.as_ref().map(|d| (job_number(d), d.attempt));
                assert_eq!(got_pair, want, "claim by {consumer}");
                if let Some(d) = got {
                    assert_eq!(d.job, job(job_number(&d)), "payload survives");
                    made.push(d);
                }
            }
            Op::Ack(i) | Op::Retry(i) | Op::Dead(i) if made.is_empty() => {
                let _ = i;
            }
            Op::Ack(i) => {
                let d = &made[i % made.len()];
                q.ack(d).await.unwrap();
                m.pending.remove(&job_number(d));
            }
            Op::Retry(i) => {
                let d = &made[i % made.len()];
                q.retry(d, "again").await.unwrap();
                if let Some(p) = m.pending.get_mut(&job_number(d))
                    && p.0 == d.consumer
                {
                    p.2 = true;
                }
            }
            Op::Dead(i) => {
                let d = &made[i % made.len()];
                let error = format!("gave up on {}", d.job.id);
                q.dead_letter(d, &error).await.unwrap();
                if let Some(p) = m.pending.remove(&job_number(d)) {
                    m.dead.push((d.job.id.clone(), p.1, error));
                }
            }
        }
        let depth = (m.waiting.len() + m.pending.len()) as u64;
        assert_eq!(q.depth().await.unwrap(), depth);
    }
    let mut dead: Vec<(String, u32, String)> = q
        .dead_letters(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            assert_eq!(
                d.payload,
                job(d.job_id.trim_start_matches("scan-").parse().unwrap()).payload
            );
            (d.job_id, d.attempts, d.error)
        })
        .collect();
    dead.reverse();
    assert_eq!(dead, m.dead);
}

/// No time-based reclaim and no waiting in claim: the model has no clock.
fn model_config() -> QueueConfig {
    QueueConfig {
        max_attempts: 3,
        claim_idle: Duration::from_secs(600),
        block: Duration::ZERO,
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn memory_queue_follows_model(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(run_model(Arc::new(MemoryQueue::new(model_config())), ops));
    }
}

/// The same model, on Redis: both implementations keep the same contract.
#[test]
fn redis_queue_follows_model() {
    use proptest::strategy::{Strategy, ValueTree};
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::default();
    let ops = proptest::collection::vec(op(), 1..60);
    for case in 0..24 {
        let ops = ops.new_tree(&mut runner).unwrap().current();
        let url = server.url.clone();
        rt.block_on(async move {
            let client = redis::Client::open(url.as_str()).unwrap();
            let conn = client.get_connection_manager().await.unwrap();
            let q = RedisQueue::new(conn, &format!("model{case}:"), model_config())
                .await
                .unwrap();
            run_model(Arc::new(q), ops).await;
        });
    }
}
