//! `GET /quota`, and the admission check every scan request passes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use stella_core::identity::Scope;
use stella_core::quota::{Admission, seconds_until_reset};

/// The caller's quota today.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    /// The token's subject.
    pub subject: String,
    /// The tier.
    pub tier: String,
    /// Scans allowed per UTC day (4294967295: unlimited).
    pub limit: u32,
    /// Scans counted today.
    pub used: u32,
    /// Scans left today.
    pub remaining: u32,
    /// When the counter resets (next UTC midnight).
    pub reset_at: DateTime<Utc>,
    /// Seconds until then.
    pub reset_in_seconds: u64,
}

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

/// Counts one scan for the caller, or refuses with 429 and `Retry-After` = seconds to
/// the next UTC midnight (the server's clock).
pub async fn admit(state: &AppState, caller: &Caller) -> Result<Admission, ApiError> {
    let now = Utc::now();
    let a = state
        .quota
        .admit(caller.subject(), caller.0.max_scans_per_day, now)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    if a.admitted {
        return Ok(a);
    }
    state.metrics.quota_rejection();
    let retry = seconds_until_reset(now);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        format!(
            "daily scan quota of {} used up for {} (tier {}); it resets at {} (in {retry} s)",
            a.limit,
            caller.subject(),
            caller.0.tier,
            a.reset_at.to_rfc3339(),
        ),
    )
    .with_details(serde_json::json!({
        "limit": a.limit,
        "used": a.used,
        "resetAt": a.reset_at,
        "retryAfterSeconds": retry,
    }));
    e.retry_after = Some(retry);
    Err(e)
}
