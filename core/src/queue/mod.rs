//! Scan jobs: a queue (Redis Stream with a consumer group, or in-process), the
//! runner pool that takes jobs from it, and the scan records runners write.
//!
//! # Delivery semantics
//!
//! Delivery is **at-least-once**. A job stays in the queue (pending, owned by the
//! runner that claimed it) until that runner acknowledges it; a runner that crashes
//! or stalls leaves its job pending, and once the job has been idle for
//! [`QueueConfig::claim_idle`] any runner reclaims it (the delivery's
//! [`Delivery::attempt`] then counts up). So a job can run twice: once by a runner
//! that died after writing its result but before the ack, once by the runner that
//! reclaimed it. Handlers must therefore be idempotent — results are keyed by the
//! scan id ([`Job::id`]) and a second run overwrites the first with the same data.
//! A handler persists its result (see [`crate::scan_records`]) BEFORE the job is acked, so an
//! acked job always has its record.
//!
//! A failed attempt is made claimable again at once ([`JobQueue::retry`]); after
//! [`QueueConfig::max_attempts`] deliveries the job is moved to the dead letters
//! ([`JobQueue::dead_letter`]) with its payload and last error, never lost and
//! never in both places.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::scan_records::{ScanEvent, ScanRecord, ScanStore, ScanStoreError};

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub mod runner;

pub use memory::MemoryQueue;
pub use runner::{
    JobError, JobHandler, RunnerCounters, RunnerPool, RunnerStats, default_name_prefix,
};

/// One unit of work: the scan id and an opaque payload (the API's scan request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id; the scan id, which keys its record and makes reruns idempotent.
    pub id: String,
    /// The job's input, opaque to the queue.
    pub payload: Vec<u8>,
}

/// A job handed to one runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The job.
    pub job: Job,
    /// The queue's id of this job's entry (the stream entry id on Redis); the same on
    /// every redelivery of the job.
    pub delivery_id: String,
    /// How many times the job has been delivered, this delivery included (1 first).
    pub attempt: u32,
    /// The consumer the job was delivered to.
    pub consumer: String,
}

/// A job the runners gave up on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The job's id (scan id).
    pub job_id: String,
    /// The job's payload, as enqueued.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// How many deliveries were made.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: String,
    /// When the job was dead-lettered.
    pub at: DateTime<Utc>,
}

/// How the queue redelivers and waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Deliveries before a failing job is dead-lettered.
    pub max_attempts: u32,
    /// A pending job idle this long belongs to a crashed runner and is reclaimed.
    /// Runners renew the lease of jobs they are running (see [`JobQueue::touch`]), so
    /// a long job is not reclaimed while its runner is alive.
    pub claim_idle: Duration,
    /// How long [`JobQueue::claim`] waits for a job before returning `None`.
    pub block: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_attempts: 3,
            claim_idle: Duration::from_secs(30),
            block: Duration::from_secs(1),
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing store (Redis) failed.
    #[error("queue backend ({op}): {message}")]
    Backend {
        /// The operation that failed.
        op: &'static str,
        /// The backend's error.
        message: String,
    },
    /// The backend answered with something this code does not understand.
    #[error("queue backend ({op}): unexpected reply: {message}")]
    Reply {
        /// The operation that failed.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// A job queue shared by API (enqueue, depth) and runners (claim, ack, retry).
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// The queue's configuration (runners read `max_attempts` and `claim_idle`).
    fn config(&self) -> &QueueConfig;

    /// Adds a job at the tail.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;

    /// Takes one job for `consumer`: first reclaims ONE job idle for at least
    /// `claim_idle` (from any consumer, e.g. a crashed one, or released by
    /// [`JobQueue::retry`]), else takes the oldest new job; waits up to `block` for
    /// one. `None` when nothing came.
    async fn claim(&self, consumer: &str) -> Result<Option<Delivery>, QueueError>;

    /// The job is done (its result is persisted): removes it.
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Renews the lease of a job being run, so it is not reclaimed as idle; false
    /// when the job is no longer pending for `delivery.consumer` (it was reclaimed).
    async fn touch(&self, delivery: &Delivery) -> Result<bool, QueueError>;

    /// A failed attempt: makes the job claimable again at once; its delivery count is
    /// kept, so the next delivery has `attempt + 1`.
    async fn retry(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError>;

    /// Gives up: moves the job to the dead letters with its payload, attempts and
    /// `error`, atomically (never lost, never in both).
    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError>;

    /// Jobs not yet acknowledged or dead-lettered (waiting + pending).
    async fn depth(&self) -> Result<u64, QueueError>;

    /// The newest dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
}

/// Why a scan could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The record could not be created.
    #[error(transparent)]
    Store(#[from] ScanStoreError),
    /// The job could not be enqueued (the record is then marked failed).
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Creates the scan's record (status `queued`, one `queued` event) and then enqueues
/// its job — in that order, so a runner never meets a job without a record. When the
/// enqueue fails the record is marked failed with the error.
pub async fn submit(
    queue: &dyn JobQueue,
    store: &dyn ScanStore,
    job: &Job,
    subject: Option<&str>,
) -> Result<ScanRecord, SubmitError> {
    let now = Utc::now();
    let mut record = ScanRecord::queued(job.id.clone(), now);
    record.subject = subject.map(str::to_owned);
    record.events.push(ScanEvent {
        seq: 1,
        at: now,
        kind: "queued".to_owned(),
        message: "scan queued".to_owned(),
        data: None,
    });
    store.create(&record).await?;
    if let Err(e) = queue.enqueue(job).await {
        // Best effort: the caller gets the queue error either way.
        let _ = store.fail(&job.id, &format!("not queued: {e}")).await;
        return Err(e.into());
    }
    Ok(record)
}
