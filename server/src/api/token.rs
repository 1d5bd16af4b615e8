//! Tokens: the OAuth2 client-credentials grant at `/connect/token` (where OAuth2 and
//! OIDC servers put it), offline tokens for admins, and the public keys as a JWKS.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::service::blocking;
use stella_core::identity::keys::Jwks;
use stella_core::identity::store::authenticate;
use stella_core::identity::{Scope, TokenKind};
use stella_core::server_api::{
    ErrorBody, OAuthError, OfflineRequest, OfflineToken, TokenRequest, TokenResponse,
};

fn oauth_error(status: StatusCode, code: &str, description: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(OAuthError {
            error: code.to_owned(),
            error_description: description.into(),
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"stella\""),
        );
    }
    response
}

/// `Authorization: Basic base64(id:secret)`, if present and readable.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = text.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (id, secret) = pair.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// OAuth2 client-credentials grant: a 12-hour access token.
#[utoipa::path(post, path = "/connect/token", tag = "identity",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "Bad request or grant type", body = OAuthError),
        (status = 401, description = "Unknown client or wrong secret", body = OAuthError)))]
pub async fn client_credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    // An unreadable form is an OAuth `invalid_request` (RFC 6749 §5.2), not axum's
    // plain-text rejection.
    let Form(request) = match request {
        Ok(form) => form,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()),
    };
    if request.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let (id, secret) = match (
        basic_credentials(&headers),
        request.client_id,
        request.client_secret,
    ) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "give client_id and client_secret (form fields or HTTP Basic)",
            );
        }
    };
    let identity = state.identity.clone();
    // PBKDF2 is deliberately slow: keep it off the async workers.
    let client = blocking(move || authenticate(identity.as_ref(), &id, &secret)).await;
    let client = match client {
        Ok(Ok(Some(client))) => client,
        Ok(Ok(None)) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            );
        }
        Ok(Err(e)) => return ApiError::unavailable(e.to_string()).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let scopes = match client.grant_scopes(request.scope.as_deref()) {
        Ok(scopes) => scopes,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", e.to_string()),
    };
    let tier = match state.tiers.get(&client.tier) {
        Ok(t) => t.clone(),
        Err(e) => return ApiError::unavailable(e.to_string()).into_response(),
    };
    let now = Utc::now();
    match state
        .issuer
        .issue(&client.id, &tier, &scopes, TokenKind::Access, now)
    {
        Ok(issued) => Json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer".into(),
            expires_in: TokenKind::Access.lifetime().num_seconds(),
            scope: Scope::format_list(&scopes),
        })
        .into_response(),
        Err(e) => ApiError::unavailable(e.to_string()).into_response(),
    }
}

/// A 30-day offline token (admin scope).
#[utoipa::path(post, path = "/api/v1/token/offline", tag = "identity",
    security(("bearer" = [])),
    request_body = OfflineRequest,
    responses(
        (status = 200, description = "Token issued", body = OfflineToken),
        (status = 400, description = "Bad subject, tier or scope", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub async fn offline(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<OfflineRequest>,
) -> Result<Json<OfflineToken>, ApiError> {
    caller.require(Scope::Admin)?;
    stella_core::identity::clients::validate_id(&request.subject)
        .map_err(|e| ApiError::bad_request("invalid_subject", e.to_string()))?;
    let tier = state
        .tiers
        .get(&request.tier)
        .map_err(|e| ApiError::bad_request("invalid_tier", e.to_string()))?
        .clone();
    let scopes: BTreeSet<Scope> = match request.scopes {
        None => [Scope::Scan].into(),
        Some(list) => Scope::parse_list(&list.join(" "))
            .map_err(|e| ApiError::bad_request("invalid_scope", e.to_string()))?,
    };
    let issued = state
        .issuer
        .issue(
            &request.subject,
            &tier,
            &scopes,
            TokenKind::Offline,
            Utc::now(),
        )
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(admin = caller.subject(), subject = %request.subject, tier = %tier.name, "offline token issued");
    Ok(Json(OfflineToken {
        token: issued.token,
        expires_at: issued.expires_at,
        kid: state.issuer.active_kid(),
    }))
}

/// The public signing keys (JWKS), for verifying tokens offline.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.issuer.jwks())
}
