//! Authentication: `Authorization: Bearer <JWT>` verified against the server's keys
//! and clock; scopes checked per route.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use stella_core::identity::{Identity, Scope};

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    /// Fails with 403 unless the caller's token holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this token lacks the {} scope",
                scope.as_str()
            )))
        }
    }

    /// The token's subject (client id).
    pub fn subject(&self) -> &str {
        &self.0.subject
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not text"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
        let identity = state
            .issuer
            .verify(token.trim(), Utc::now())
            .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
        Ok(Caller(identity))
    }
}
