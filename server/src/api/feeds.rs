//! `GET /feeds` (status and feed age per source), `POST /feeds/sync` (admin).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::service::feeds::{FeedsError, FeedsView, SyncSummary};
use stella_core::identity::Scope;
use stella_core::server_api::ErrorBody;

fn feeds_error(e: FeedsError) -> ApiError {
    match e {
        FeedsError::NotConfigured(m) => ApiError::new(StatusCode::CONFLICT, "not_configured", m),
        FeedsError::Busy => ApiError::new(StatusCode::CONFLICT, "sync_running", e.to_string()),
        FeedsError::Failed(m) => ApiError::unavailable(m),
    }
}

/// Per source: last success, last error, feed age, records.
#[utoipa::path(get, path = "/api/v1/feeds", tag = "feeds",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Feed status", body = FeedsView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "No feed store configured", body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FeedsView>, ApiError> {
    caller.require(Scope::Scan)?;
    state.feeds.status().await.map(Json).map_err(feeds_error)
}

/// Syncs every enabled feed and installs the new advisory snapshot (admin).
#[utoipa::path(post, path = "/api/v1/feeds/sync", tag = "feeds",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Synced", body = SyncSummary),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Not configured, or a sync is running", body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SyncSummary>, ApiError> {
    caller.require(Scope::Admin)?;
    tracing::info!(admin = caller.subject(), "feed sync requested");
    state.feeds.sync().await.map(Json).map_err(feeds_error)
}
