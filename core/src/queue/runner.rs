//! The runner pool: N tokio tasks, each a queue consumer, looping claim → handle →
//! ack. A failed (or panicking) attempt is retried while deliveries remain, then the
//! job is dead-lettered. While a handler runs its runner renews the job's lease every
//! `claim_idle / 3`, so only a dead runner's jobs are reclaimed.
//!
//! Delivery is at-least-once (see [`crate::queue`]): a handler may see the same job
//! again after a crash, so it must be idempotent (results keyed by the job id).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Delivery, JobQueue};

/// How a job attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// May succeed on another attempt (network, registry, store trouble): retried
    /// while attempts remain.
    #[error("{0}")]
    Retry(String),
    /// Cannot succeed (bad input): dead-lettered at once.
    #[error("{0}")]
    Fatal(String),
}

/// Runs jobs.
#[async_trait]
pub trait JobHandler: Send + Sync + std::fmt::Debug {
    /// Runs the job and persists its result; `Ok` means the result is persisted and
    /// the job may be acknowledged. Must be idempotent (see the module docs).
    async fn handle(&self, delivery: &Delivery) -> Result<(), JobError>;

    /// The job is given up (`error` is the last attempt's), e.g. to mark its record
    /// failed. Called before the job moves to the dead letters, so a crash between
    /// the two redelivers the job rather than leaving a record never marked failed.
    async fn dead(&self, delivery: &Delivery, error: &str);
}

/// Live counters of a pool, for metrics.
#[derive(Debug, Default)]
pub struct RunnerCounters {
    claimed: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    in_flight: AtomicU64,
    queue_errors: AtomicU64,
}

/// A snapshot of [`RunnerCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunnerStats {
    /// Deliveries taken.
    pub claimed: u64,
    /// Jobs handled and acknowledged.
    pub done: u64,
    /// Failed attempts (errors and panics).
    pub failed: u64,
    /// Of those, panics.
    pub panicked: u64,
    /// Failed attempts handed back for another try.
    pub retried: u64,
    /// Jobs given up.
    pub dead_lettered: u64,
    /// Jobs being handled now (a gauge).
    pub in_flight: u64,
    /// Queue operations that failed (claim, ack, retry, dead letter).
    pub queue_errors: u64,
}

impl RunnerCounters {
    /// The counters as they stand.
    pub fn snapshot(&self) -> RunnerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RunnerStats {
            claimed: get(&self.claimed),
            done: get(&self.done),
            failed: get(&self.failed),
            panicked: get(&self.panicked),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            in_flight: get(&self.in_flight),
            queue_errors: get(&self.queue_errors),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// `{host}-{pid}`: a consumer-name prefix no other process shares.
pub fn default_name_prefix() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Aborts the handler task when the runner is dropped (pool aborted at shutdown
/// timeout), so no handler outlives its runner.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A panic payload as text.
fn panic_text(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".to_owned())
}

/// Runners taking jobs from one queue.
#[derive(Debug)]
pub struct RunnerPool {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    counters: Arc<RunnerCounters>,
}

impl RunnerPool {
    /// Starts `runners` tasks, consumers `{name_prefix}-0`, `{name_prefix}-1`, …;
    /// the prefix must be unique per process (see [`default_name_prefix`]), since two
    /// runners sharing a consumer name would share pending jobs.
    pub fn start(
        queue: Arc<dyn JobQueue>,
        handler: Arc<dyn JobHandler>,
        runners: usize,
        name_prefix: &str,
    ) -> RunnerPool {
        let (stop, rx) = watch::channel(false);
        let counters = Arc::new(RunnerCounters::default());
        let tasks = (0..runners)
            .map(|i| {
                let r = Runner {
                    queue: Arc::clone(&queue),
                    handler: Arc::clone(&handler),
                    consumer: format!("{name_prefix}-{i}"),
                    stop: rx.clone(),
                    counters: Arc::clone(&counters),
                };
                tokio::spawn(r.run())
            })
            .collect();
        RunnerPool {
            tasks,
            stop,
            counters,
        }
    }

    /// The pool's counters (shared, live).
    pub fn counters(&self) -> Arc<RunnerCounters> {
        Arc::clone(&self.counters)
    }

    /// Graceful drain: runners stop claiming, jobs in flight finish and are acked (or
    /// retried). Runners still busy after `timeout` are aborted — their jobs stay
    /// pending and are reclaimed after `claim_idle`. True when all finished in time.
    /// A runner waiting in `claim` finishes that wait (at most `block`) first.
    pub async fn shutdown(mut self, timeout: Duration) -> bool {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut drained = true;
        for mut t in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
                drained = false;
            }
        }
        drained
    }
}

impl Drop for RunnerPool {
    fn drop(&mut self) {
        // Dropped without shutdown: stop claiming; jobs in flight still finish.
        let _ = self.stop.send(true);
    }
}

struct Runner {
    queue: Arc<dyn JobQueue>,
    handler: Arc<dyn JobHandler>,
    consumer: String,
    stop: watch::Receiver<bool>,
    counters: Arc<RunnerCounters>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Runner {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        while !*self.stop.borrow() {
            // The claim is not cancelled on stop: a delivery it already took would
            // sit pending until reclaimed. It returns within `block`.
            match self.queue.claim(&self.consumer).await {
                Ok(Some(d)) => {
                    backoff = BACKOFF_MIN;
                    bump(&self.counters.claimed);
                    self.counters.in_flight.fetch_add(1, Ordering::Relaxed);
                    self.process(d).await;
                    self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
                Ok(None) => {}
                Err(e) => {
                    bump(&self.counters.queue_errors);
                    tracing::warn!(consumer = %self.consumer, error = %e, "claim failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = self.stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    async fn process(&self, d: Delivery) {
        let max = self.queue.config().max_attempts;
        if d.attempt > max {
            // Delivered again after its runners died mid-run (a crash, not an error):
            // running it once more could crash this runner too.
            let error = format!(
                "gave up after {} deliveries without a result (runners lost the job)",
                d.attempt.saturating_sub(1)
            );
            bump(&self.counters.failed);
            self.give_up(&d, &error).await;
            return;
        }
        let outcome = self.attempt(&d).await;
        match outcome {
            Ok(()) => {
                if let Err(e) = self.queue.ack(&d).await {
                    // The result is persisted; the job is redelivered after
                    // `claim_idle` and the idempotent handler rewrites the same result.
                    bump(&self.counters.queue_errors);
                    tracing::warn!(job = %d.job.id, error = %e, "ack failed");
                } else {
                    bump(&self.counters.done);
                }
            }
            Err(JobError::Fatal(error)) => {
                bump(&self.counters.failed);
                self.give_up(&d, &error).await;
            }
            Err(JobError::Retry(error)) => {
                bump(&self.counters.failed);
                if d.attempt < max {
                    tracing::info!(job = %d.job.id, attempt = d.attempt, %error, "retrying job");
                    match self.queue.retry(&d, &error).await {
                        Ok(()) => bump(&self.counters.retried),
                        Err(e) => {
                            // Left pending: reclaimed after `claim_idle` anyway.
                            bump(&self.counters.queue_errors);
                            tracing::warn!(job = %d.job.id, error = %e, "retry failed");
                        }
                    }
                } else {
                    self.give_up(&d, &error).await;
                }
            }
        }
    }

    /// Runs the handler in its own task (a panic becomes a failed attempt, not a dead
    /// runner), renewing the job's lease while it runs.
    async fn attempt(&self, d: &Delivery) -> Result<(), JobError> {
        let handler = Arc::clone(&self.handler);
        let job = d.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move { handler.handle(&job).await }));
        let period = (self.queue.config().claim_idle / 3).max(Duration::from_millis(10));
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                r = &mut task.0 => {
                    return match r {
                        Ok(r) => r,
                        Err(e) if e.is_panic() => {
                            bump(&self.counters.panicked);
                            let text = panic_text(&*e.into_panic());
                            Err(JobError::Retry(format!("handler panicked: {text}")))
                        }
                        Err(e) => Err(JobError::Retry(format!("handler task ended: {e}"))),
                    };
                }
                _ = beat.tick() => {
                    match self.queue.touch(d).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(
                            job = %d.job.id,
                            "job was reclaimed by another runner while running"
                        ),
                        Err(e) => {
                            bump(&self.counters.queue_errors);
                            tracing::warn!(job = %d.job.id, error = %e, "lease renewal failed");
                        }
                    }
                }
            }
        }
    }

    /// Marks the job dead with the handler, then moves it to the dead letters.
    async fn give_up(&self, d: &Delivery, error: &str) {
        let handler = Arc::clone(&self.handler);
        let (job, err) = (d.clone(), error.to_owned());
        if let Err(e) = tokio::spawn(async move { handler.dead(&job, &err).await }).await {
            tracing::warn!(job = %d.job.id, error = %e, "dead-job handler failed");
        }
        match self.queue.dead_letter(d, error).await {
            Ok(()) => bump(&self.counters.dead_lettered),
            Err(e) => {
                bump(&self.counters.queue_errors);
                tracing::warn!(job = %d.job.id, error = %e, "dead letter failed");
            }
        }
    }
}
