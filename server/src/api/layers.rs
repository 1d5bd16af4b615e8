//! The delta-SBOM layer protocol: `POST /layers/missing` (which layers the server
//! has no analysis of) and `PUT /layers/{digest}` (upload one layer's fragment).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, join_error};
use stella_core::delta::fragment::decode_checked;
use stella_core::delta::manifest::{validate_digest, validate_digests};
use stella_core::identity::Scope;

/// Layer digests to look up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayersQuery {
    /// Layer digests (`sha256:` + 64 lowercase hex), at most 512.
    #[schema(max_items = 512)]
    pub layers: Vec<String>,
}

/// The layers with no stored analysis.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingLayers {
    /// Digests to upload, in request order, without repeats.
    pub missing: Vec<String>,
}

/// Which of these layers the server has not analysed yet (Redis SDIFF against the
/// analysed set).
#[utoipa::path(post, path = "/api/v1/layers/missing", tag = "layers",
    security(("bearer" = [])),
    request_body = LayersQuery,
    responses(
        (status = 200, description = "Layers to upload", body = MissingLayers),
        (status = 400, description = "Bad digest or too many", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn missing(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<MissingLayers>, ApiError> {
    caller.require(Scope::Scan)?;
    let query: LayersQuery = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("body: {e}")))?;
    validate_digests(&query.layers)
        .map_err(|e| ApiError::bad_request("invalid_digest", e.to_string()))?;
    let missing = state
        .scans
        .layers
        .missing(&query.layers)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    state
        .metrics
        .layer_lookup(query.layers.len(), missing.len());
    Ok(Json(MissingLayers { missing }))
}

/// Stores one layer's fragment (its encoded extract, as `stella` reads it). The
/// fragment must decode within limits, be of layer `digest` and of the server's
/// analyzer selection.
#[utoipa::path(put, path = "/api/v1/layers/{digest}", tag = "layers",
    security(("bearer" = [])),
    params(("digest" = String, Path, description = "Layer digest, sha256:<64 hex>",
        pattern = "^sha256:[0-9a-f]{64}$")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored"),
        (status = 400, description = "Bad digest or fragment", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 413, description = "Fragment too large", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(digest): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Scan)?;
    validate_digest(&digest).map_err(|e| ApiError::bad_request("invalid_digest", e.to_string()))?;
    let scans = state.scans.clone();
    let check_digest = digest.clone();
    let check_body = body.clone();
    tokio::task::spawn_blocking(move || {
        let selection = stella_core::delta::selection_id(&scans.analyzers);
        decode_checked(
            &check_body,
            &check_digest,
            &selection,
            &scans.fragment_limits,
        )
        .map(|_| ())
    })
    .await
    .map_err(join_error)?
    .map_err(|e| ApiError::bad_request("invalid_fragment", e.to_string()))?;
    state
        .scans
        .layers
        .put(&digest, body.to_vec())
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(StatusCode::CREATED)
}
