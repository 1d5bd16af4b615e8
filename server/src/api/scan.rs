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
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, join_error};
use super::quota::admit;
use crate::service::engine::{ScanFailure, ScanTarget};
use crate::service::scans::{JobPayload, is_manifest};
use stella_core::identity::Scope;
use stella_core::queue::{Job, submit};
use stella_core::scan_records::{ScanEvent, ScanRecord};

/// Query parameters of `POST /scan`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ScanParams {
    /// Queue the scan and answer its id at once (202) instead of the verdict.
    #[serde(default, rename = "async")]
    pub run_async: bool,
    /// Image reference the SBOM describes (policy `images` conditions, mutes).
    pub image: Option<String>,
    /// Image digest.
    pub image_digest: Option<String>,
    /// Kubernetes namespace the image runs in.
    pub namespace: Option<String>,
}

/// A queued scan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanAccepted {
    /// The scan id.
    pub id: String,
    /// `queued`.
    pub status: String,
    /// Where to read its record.
    pub location: String,
    /// Where to follow its progress.
    pub events: String,
}

/// A scan's record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    /// The scan id.
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The scan report (schema "2", as `stella scan --output json`), once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
}

impl From<ScanRecord> for ScanView {
    fn from(r: ScanRecord) -> Self {
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempts: r.attempts,
            error: r.error,
            report: r.result,
        }
    }
}

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
        .with_details(serde_json::json!({ "missing": layers })),
        ScanFailure::Unavailable(m) => ApiError::unavailable(m),
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let manifest = is_manifest(content_type, &body);
    let target = ScanTarget {
        image: params.image,
        image_digest: params.image_digest,
        namespace: params.namespace,
    };
    let service = state.scans.clone();
    let parse_body = body.clone();
    let input = tokio::task::spawn_blocking(move || service.read(manifest, &parse_body))
        .await
        .map_err(join_error)?
        .map_err(failure)?;
    admit(&state, &caller).await?;
    if params.run_async {
        let id = uuid::Uuid::new_v4().to_string();
        let payload = JobPayload {
            subject: caller.subject().to_owned(),
            target,
            manifest,
            body: body.to_vec(),
        };
        let job = Job {
            id: id.clone(),
            payload: payload.encode(),
        };
        submit(
            state.queue.as_ref(),
            state.records.as_ref(),
            &job,
            Some(caller.subject()),
        )
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let location = format!("/api/v1/scan/{id}");
        let accepted = ScanAccepted {
            events: format!("{location}/events"),
            location: location.clone(),
            id,
            status: "queued".into(),
        };
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            Json(accepted),
        )
            .into_response());
    }
    let _permit = state
        .sync_scans
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("server shutting down"))?;
    let report = state
        .scans
        .run(input, &target, &|_, _| {})
        .await
        .map_err(|e| {
            state.metrics.scan("error");
            failure(e)
        })?;
    state.metrics.scan(report.verdict.status.as_str());
    Ok(Json(report).into_response())
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
        .is_some_and(|a| a.contains("text/event-stream"));
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
        [(header::CONTENT_TYPE, "application/x-ndjson")],
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
