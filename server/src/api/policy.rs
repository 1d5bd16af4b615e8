//! The policy engine's documents over HTTP: the active policy (versioned), its
//! validation, mute rules, and the audit trail of changes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::service::blocking;
use crate::service::engine::PolicyChangeError;
use stella_core::identity::Scope;
use stella_core::policy::compiled::CompiledPolicy;
use stella_core::policy::document::PolicyDocument;
use stella_core::policy::store::{AuditEntry, StoredMute};
use stella_core::server_api::ErrorBody;
use stella_core::verdict::mute_rule::MuteRule;

/// The active policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Stored version; absent for the built-in default (every finding warns).
    pub version: Option<i64>,
    /// The policy's digest, as verdicts report it.
    pub digest: String,
    /// The policy document (see `stella policy schema`).
    #[schema(value_type = Object)]
    pub document: PolicyDocument,
}

/// A validation answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// Whether the document compiles.
    pub valid: bool,
    /// Its digest, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// What is wrong, with the path (`rules[1].match.cvss.min: ...`).
    pub errors: Vec<String>,
}

fn change_error(e: PolicyChangeError) -> ApiError {
    match e {
        PolicyChangeError::Invalid(e) => ApiError::bad_request("invalid_policy", e.to_string()),
        PolicyChangeError::Mute(e) => ApiError::bad_request("invalid_mute", e.to_string()),
        PolicyChangeError::Store(e) => ApiError::unavailable(e.to_string()),
    }
}

/// Reads a policy document: YAML, or JSON (a subset of YAML).
fn compile(body: &[u8]) -> Result<CompiledPolicy, String> {
    let text = std::str::from_utf8(body).map_err(|_| "policy is not UTF-8 text".to_owned())?;
    CompiledPolicy::from_yaml(text).map_err(|e| e.to_string())
}

/// The active policy.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The active policy", body = PolicyView),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(Scope::Scan)?;
    let active = state.scanner.policy.active();
    Ok(Json(PolicyView {
        version: active.version,
        digest: active.policy.digest().to_owned(),
        document: active.policy.document().clone(),
    }))
}

/// Stores a new policy version (YAML or JSON), active for the next scans.
#[utoipa::path(put, path = "/api/v1/policy", tag = "policy",
    security(("bearer" = [])),
    request_body(description = "Policy document, YAML or JSON",
        content((Object = "application/yaml"), (Object = "application/json"))),
    responses(
        (status = 200, description = "Stored; the new version", body = PolicyView),
        (status = 400, description = "Invalid policy", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks policy:write", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(Scope::PolicyWrite)?;
    let compiled = compile(&body).map_err(|e| ApiError::bad_request("invalid_policy", e))?;
    let scanner = state.scanner.clone();
    let actor = caller.subject().to_owned();
    let stored = blocking(move || scanner.policy.put(compiled, Some(&actor), Utc::now()))
        .await?
        .map_err(change_error)?;
    tracing::info!(version = stored.version, digest = %stored.digest, actor = caller.subject(), "policy stored");
    Ok(Json(PolicyView {
        version: Some(stored.version),
        digest: stored.digest,
        document: stored.document,
    }))
}

/// Checks a policy document without storing it.
#[utoipa::path(post, path = "/api/v1/policy/validate", tag = "policy",
    security(("bearer" = [])),
    request_body(description = "Policy document, YAML or JSON",
        content((Object = "application/yaml"), (Object = "application/json"))),
    responses(
        (status = 200, description = "Whether it is valid, and why not", body = Validation),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn validate(caller: Caller, body: Bytes) -> Result<Json<Validation>, ApiError> {
    caller.require(Scope::Scan)?;
    let result = blocking(move || compile(&body)).await?;
    Ok(Json(match result {
        Ok(p) => Validation {
            valid: true,
            digest: Some(p.digest().to_owned()),
            errors: Vec::new(),
        },
        Err(e) => Validation {
            valid: false,
            digest: None,
            errors: vec![e],
        },
    }))
}

/// The mute rules added through the API.
#[utoipa::path(get, path = "/api/v1/policy/mute", tag = "policy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Mute rules", body = Vec<Object>),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn mutes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StoredMute>>, ApiError> {
    caller.require(Scope::Scan)?;
    let scanner = state.scanner.clone();
    let mutes = blocking(move || scanner.policy.mutes())
        .await?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(mutes))
}

/// Adds a mute rule (the policy document's `mutes` entry format).
#[utoipa::path(post, path = "/api/v1/policy/mute", tag = "policy",
    security(("bearer" = [])),
    request_body(content = Object, description = "A mute rule: id, purl, images, namespaces, expires, justification, reason"),
    responses(
        (status = 201, description = "Added, with its id", body = Object),
        (status = 400, description = "Invalid rule", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks policy:write", body = ErrorBody)))]
pub async fn add_mute(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<StoredMute>), ApiError> {
    caller.require(Scope::PolicyWrite)?;
    let mut rule: MuteRule = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_mute", format!("body: {e}")))?;
    if rule.id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_mute",
            "id: must name an advisory",
        ));
    }
    // The author is who holds the token, whatever the body claims.
    rule.author = Some(caller.subject().to_owned());
    rule.provenance = None;
    let scanner = state.scanner.clone();
    let actor = caller.subject().to_owned();
    let stored = blocking(move || scanner.policy.add_mute(rule, Some(&actor), Utc::now()))
        .await?
        .map_err(change_error)?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Removes a mute rule.
#[utoipa::path(delete, path = "/api/v1/policy/mute/{id}", tag = "policy",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The mute's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks policy:write", body = ErrorBody),
        (status = 404, description = "No such mute", body = ErrorBody)))]
pub async fn remove_mute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::PolicyWrite)?;
    let scanner = state.scanner.clone();
    let actor = caller.subject().to_owned();
    let lookup = id.clone();
    let removed = blocking(move || {
        scanner
            .policy
            .remove_mute(&lookup, Some(&actor), Utc::now())
    })
    .await?
    .map_err(change_error)?;
    match removed {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found(format!("no mute {id}"))),
    }
}

/// Query of the audit trail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Most records (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Policy and mute changes, newest first.
#[utoipa::path(get, path = "/api/v1/policy/audit", tag = "policy",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "Audit records", body = Vec<Object>),
        (status = 400, description = "limit is not an integer from 1 to 1000", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks policy:write", body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    caller.require(Scope::PolicyWrite)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit {limit} is not from 1 to 1000"),
        ));
    }
    let scanner = state.scanner.clone();
    let entries = blocking(move || scanner.policy.audit(limit))
        .await?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(entries))
}
