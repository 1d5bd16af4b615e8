//! The embedded queue: in-process, same semantics as the Redis one (waiting FIFO,
//! pending jobs with owner and lease, idle reclaim, dead letters). Jobs live only as
//! long as the process; the embedded server has one process, so a crash loses its
//! runners and its queue together.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{DeadLetter, Delivery, Job, JobQueue, QueueConfig, QueueError};

/// A job claimed by a runner and not yet acknowledged.
#[derive(Debug)]
struct Pending {
    job: Job,
    owner: String,
    /// Reclaimable by any runner from this instant on (claim + `claim_idle`; now for
    /// a retried job).
    lease_until: Instant,
    /// Deliveries so far.
    attempts: u32,
}

#[derive(Debug, Default)]
struct State {
    /// New jobs with their entry number, oldest first.
    waiting: VecDeque<(u64, Job)>,
    /// Claimed jobs by entry number (oldest first, like a Redis PEL).
    pending: BTreeMap<u64, Pending>,
    /// Dead letters, oldest first.
    dead: Vec<DeadLetter>,
    next: u64,
}

/// An in-process [`JobQueue`].
#[derive(Debug)]
pub struct MemoryQueue {
    config: QueueConfig,
    state: Mutex<State>,
    /// Wakes waiting claims when a job is enqueued or released.
    notify: Notify,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> MemoryQueue {
        MemoryQueue {
            config,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; a poisoned lock still holds
        // consistent state, so keep going rather than fail every later call.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One non-waiting claim attempt; otherwise the instant the earliest lease ends.
    fn try_claim(&self, consumer: &str) -> Result<Delivery, Option<Instant>> {
        let now = Instant::now();
        let mut st = self.state();
        let idle = st.pending.iter_mut().find(|(_, p)| p.lease_until <= now);
        if let Some((&n, p)) = idle {
            p.owner = consumer.to_owned();
            p.lease_until = now + self.config.claim_idle;
            p.attempts = p.attempts.saturating_add(1);
            return Ok(Delivery {
                job: p.job.clone(),
                delivery_id: n.to_string(),
                attempt: p.attempts,
                consumer: consumer.to_owned(),
            });
        }
        if let Some((n, job)) = st.waiting.pop_front() {
            st.pending.insert(
                n,
                Pending {
                    job: job.clone(),
                    owner: consumer.to_owned(),
                    lease_until: now + self.config.claim_idle,
                    attempts: 1,
                },
            );
            return Ok(Delivery {
                job,
                delivery_id: n.to_string(),
                attempt: 1,
                consumer: consumer.to_owned(),
            });
        }
        Err(st.pending.values().map(|p| p.lease_until).min())
    }

    fn entry(delivery: &Delivery) -> Option<u64> {
        delivery.delivery_id.parse().ok()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        {
            let mut st = self.state();
            let n = st.next;
            st.next += 1;
            st.waiting.push_back((n, job.clone()));
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn claim(&self, consumer: &str) -> Result<Option<Delivery>, QueueError> {
        let deadline = Instant::now() + self.config.block;
        loop {
            // Register for a wake-up before looking, so an enqueue between the look
            // and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake = match self.try_claim(consumer) {
                Ok(d) => return Ok(Some(d)),
                Err(lease) => lease.map_or(deadline, |l| l.min(deadline)),
            };
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        if let Some(n) = Self::entry(delivery) {
            self.state().pending.remove(&n);
        }
        Ok(())
    }

    async fn touch(&self, delivery: &Delivery) -> Result<bool, QueueError> {
        let Some(n) = Self::entry(delivery) else {
            return Ok(false);
        };
        let mut st = self.state();
        match st.pending.get_mut(&n) {
            Some(p) if p.owner == delivery.consumer => {
                p.lease_until = Instant::now() + self.config.claim_idle;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn retry(&self, delivery: &Delivery, _error: &str) -> Result<(), QueueError> {
        // Only the owner releases the job: one reclaimed meanwhile by another runner
        // (this attempt overran its lease) stays with that runner.
        if let Some(n) = Self::entry(delivery)
            && let Some(p) = self.state().pending.get_mut(&n)
            && p.owner == delivery.consumer
        {
            p.lease_until = Instant::now();
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError> {
        let Some(n) = Self::entry(delivery) else {
            return Ok(());
        };
        let mut st = self.state();
        // Only a job still pending moves; one already acked or dead-lettered by a
        // runner that reclaimed it must not come back as a second letter.
        if let Some(p) = st.pending.remove(&n) {
            st.dead.push(DeadLetter {
                job_id: p.job.id,
                payload: p.job.payload,
                attempts: p.attempts,
                error: error.to_owned(),
                at: chrono::Utc::now(),
            });
        }
        Ok(())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        let st = self.state();
        Ok((st.waiting.len() + st.pending.len()) as u64)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self
            .state()
            .dead
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}
