//! `GET /quota` (scan requests pass the quota in the scan service).

use axum::Json;
use axum::extract::State;
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use stella_core::identity::Scope;
use stella_core::quota::seconds_until_reset;
use stella_core::server_api::{ErrorBody, QuotaView};

/// The caller's daily scan quota.
#[utoipa::path(get, path = "/api/v1/quota", tag = "quota",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Quota", body = QuotaView),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<QuotaView>, ApiError> {
    caller.require(Scope::Scan)?;
    let now = Utc::now();
    let a = state
        .quota
        .status(caller.subject(), caller.0.max_scans_per_day, now)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(QuotaView {
        subject: caller.subject().to_owned(),
        tier: caller.0.tier.clone(),
        limit: a.limit,
        used: a.used,
        remaining: a.remaining,
        reset_at: a.reset_at,
        reset_in_seconds: seconds_until_reset(now),
    }))
}
