//! `POST /scan` (synchronous verdict, or a queued job with `?async=true`),
//! `GET /scan/{id}`, and `GET /scan/{id}/events` (SSE or NDJSON by `Accept`).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::service::engine::{ScanFailure, ScanTarget};
use crate::service::scans::{Requester, ScanCreated, ScanRequest};
use stella_core::identity::Scope;
use stella_core::scan_records::{ScanEvent, ScanRecord};
use stella_core::server_api::{
    EVENT_STREAM_MEDIA_TYPE, ErrorBody, MissingLayers, NDJSON_MEDIA_TYPE, ScanAccepted, ScanParams,
    ScanView,
};

fn failure(e: ScanFailure) -> ApiError {
    match e {
        ScanFailure::BadInput(m) => ApiError::bad_request("invalid_input", m),
        ScanFailure::MissingLayers(layers) => ApiError::new(
            StatusCode::CONFLICT,
            "layers_missing",
            format!(
                "{} layer(s) have no stored analysis: PUT /api/v1/layers/{{digest}} each, then post the manifest again",
                layers.len()
            ),
        )
        .with_details(serde_json::to_value(MissingLayers { missing: layers }).unwrap_or_default()),
        ScanFailure::Unavailable(m) => ApiError::unavailable(m),
        ScanFailure::QuotaExceeded { message, details } => {
            let retry = details.retry_after_seconds;
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
                .with_details(serde_json::to_value(details).unwrap_or_default());
            e.retry_after = Some(retry);
            e
        }
    }
}

/// Scans an SBOM (CycloneDX or SPDX JSON) or a layer manifest. Answers the report
/// with HTTP 200 whatever the verdict (`verdict.status` says it), or with
/// `?async=true` 202 and the scan id. Every accepted scan counts against the
/// caller's daily quota; a body that is not a valid SBOM does not.
#[utoipa::path(post, path = "/api/v1/scan", tag = "scan",
    security(("bearer" = [])),
    params(ScanParams),
    request_body(description = "CycloneDX / SPDX JSON SBOM, or a layer manifest (application/vnd.stella.layer-manifest+json)",
        content((Object = "application/json"), (Object = "application/vnd.stella.layer-manifest+json"))),
    responses(
        (status = 200, description = "The scan report; verdict.status is pass, warn or fail", body = Object),
        (status = 202, description = "Queued (async=true)", body = ScanAccepted),
        (status = 400, description = "Not a valid SBOM or layer manifest", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the scan scope", body = ErrorBody),
        (status = 409, description = "Layer fragments missing (upload them first)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Daily quota used up; Retry-After says when it resets", body = ErrorBody),
        (status = 503, description = "A store is unavailable", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ScanParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Scope::Scan)?;
    let who = Requester {
        subject: caller.subject().to_owned(),
        tier: caller.0.tier.clone(),
        daily_limit: caller.0.max_scans_per_day,
    };
    let request = ScanRequest {
        target: ScanTarget {
            image: params.image,
            image_digest: params.image_digest,
            namespace: params.namespace,
        },
        run_async: params.run_async,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    match state.scans.create(&who, request).await.map_err(failure)? {
        ScanCreated::Report(report) => Ok(Json(report).into_response()),
        ScanCreated::Queued(accepted) => Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, accepted.location.clone())],
            Json(accepted),
        )
            .into_response()),
    }
}

/// The record of a scan the caller queued.
async fn owned_record(state: &AppState, caller: &Caller, id: &str) -> Result<ScanRecord, ApiError> {
    let record = state
        .records
        .get(id)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    match record {
        // Another client's scan is reported as absent, not forbidden: ids are not
        // for discovering other tenants' work.
        Some(r) if r.subject.as_deref() == Some(caller.subject()) || caller.0.has(Scope::Admin) => {
            Ok(r)
        }
        _ => Err(ApiError::not_found(format!("no scan {id}"))),
    }
}

/// A queued scan's status, and its report once done.
#[utoipa::path(get, path = "/api/v1/scan/{id}", tag = "scan",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Scan id")),
    responses(
        (status = 200, description = "The scan", body = ScanView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such scan", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScanView>, ApiError> {
    caller.require(Scope::Scan)?;
    Ok(Json(owned_record(&state, &caller, &id).await?.into()))
}

/// How often the event stream polls the record store.
const EVENT_POLL: Duration = Duration::from_millis(100);

/// The scan's progress as it happens: Server-Sent Events (`Accept:
/// text/event-stream`) or one JSON event per line (`application/x-ndjson`, the
/// default). The stream ends after the `done` or `failed` event.
#[utoipa::path(get, path = "/api/v1/scan/{id}/events", tag = "scan",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Scan id")),
    responses(
        (status = 200, description = "Events", content(
            (String = "application/x-ndjson"),
            (String = "text/event-stream"))),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such scan", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Scope::Scan)?;
    owned_record(&state, &caller, &id).await?;
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(EVENT_STREAM_MEDIA_TYPE));
    let events = event_stream(state, id);
    if sse {
        use futures_util::StreamExt;
        let stream = events.map(|e| {
            Ok::<_, Infallible>(
                Event::default()
                    .event(e.kind.clone())
                    .id(e.seq.to_string())
                    .json_data(&e)
                    .unwrap_or_default(),
            )
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    use futures_util::StreamExt;
    let lines = events.map(|e| {
        let mut line = serde_json::to_vec(&e).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    Ok((
        [(header::CONTENT_TYPE, NDJSON_MEDIA_TYPE)],
        Body::from_stream(lines),
    )
        .into_response())
}

/// The record's events from the first, polling for new ones until the scan ends. The
/// stores write the `done` / `failed` event in the same step as the final status, so
/// the events alone say when to stop (no record reads while polling).
fn event_stream(state: AppState, id: String) -> impl Stream<Item = ScanEvent> + Send {
    struct Cursor {
        state: AppState,
        id: String,
        after: u64,
        pending: std::collections::VecDeque<ScanEvent>,
        finished: bool,
    }
    let cursor = Cursor {
        state,
        id,
        after: 0,
        pending: Default::default(),
        finished: false,
    };
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                c.after = e.seq;
                c.finished = e.kind == "done" || e.kind == "failed";
                return Some((e, c));
            }
            if c.finished {
                return None;
            }
            match c.state.records.events_since(&c.id, c.after).await {
                Ok(events) if !events.is_empty() => c.pending.extend(events),
                Ok(_) => tokio::time::sleep(EVENT_POLL).await,
                Err(_) => return None,
            }
        }
    })
}
