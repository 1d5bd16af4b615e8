//! The delta-SBOM layer protocol: `POST /layers/missing` (which layers the server
//! has no analysis of) and `PUT /layers/{digest}` (upload one layer's fragment).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::service::layers::LayerError;
use stella_core::identity::Scope;
use stella_core::server_api::{ErrorBody, LayersQuery, MissingLayers};

fn layer_error(e: LayerError) -> ApiError {
    match e {
        LayerError::InvalidDigest(m) => ApiError::bad_request("invalid_digest", m),
        LayerError::InvalidFragment(m) => ApiError::bad_request("invalid_fragment", m),
        LayerError::Unavailable(m) => ApiError::unavailable(m),
        LayerError::Task(e) => e.into(),
    }
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
    let missing = state
        .layers
        .missing(&query.layers)
        .await
        .map_err(layer_error)?;
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
    state
        .layers
        .upload(&digest, body.to_vec())
        .await
        .map_err(layer_error)?;
    Ok(StatusCode::CREATED)
}
