//! The server's services, one per area; API handlers call these and nothing else.

pub mod engine;
pub mod feeds;
pub mod layers;
pub mod scans;

/// A blocking task that panicked or was cancelled: a server fault.
#[derive(Debug, thiserror::Error)]
#[error("worker task failed: {0}")]
pub struct TaskFailed(String);

/// Runs `work` on a blocking thread (SQLite, parsing, matching, PBKDF2), off the
/// async workers.
pub async fn blocking<T, F>(work: F) -> Result<T, TaskFailed>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| TaskFailed(e.to_string()))
}
