//! API errors: every failure answers JSON `{"error": CODE, "message": TEXT, ...}`
//! with the matching status code, never a bare 500 page.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::service::TaskFailed;
use stella_core::server_api::ErrorBody;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body (boxed: handlers return `Result<_, ApiError>` everywhere).
    pub body: Box<ErrorBody>,
    /// `Retry-After` seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` value, for 401.
    pub authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: code.to_owned(),
                message: message.into(),
                details: None,
            }),
            retry_after: None,
            authenticate: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        e.authenticate = Some("Bearer realm=\"stella\"");
        e
    }

    /// 403: the token lacks a scope.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503: a store the request needs failed; logged, the message kept short.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(error = %message, "request failed: a store is unavailable");
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after = Some(5);
        e
    }

    /// Adds details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = Some(details);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(*self.body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = self.authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        response
    }
}

/// Largest rejection text read back when rewriting an error answer as JSON.
const MAX_REJECTION_TEXT: usize = 4096;

/// Middleware: an error answer that is not JSON (axum's extractor rejections answer
/// `text/plain`: a query or JSON body that does not deserialize, a missing content
/// type, a body over the limit; the router's 404/405 answer an empty body) becomes the
/// documented [`ErrorBody`]. 415 and 422 become 400, the status the API documents for
/// a malformed request. JSON error answers (every [`ApiError`], OAuth errors) pass.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT)
        .await
        .unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    let (status, code) = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::BAD_REQUEST => (StatusCode::BAD_REQUEST, "invalid_request"),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "too_large"),
        StatusCode::NOT_FOUND => (status, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => (status, "method_not_allowed"),
        s if s.is_server_error() => (s, "internal"),
        s => (s, "error"),
    };
    let mut rewritten = ApiError::new(status, code, message).into_response();
    // 405 keeps its Allow header; 401/429/503 their challenge and retry hints.
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            rewritten.headers_mut().insert(name, v.clone());
        }
    }
    rewritten
}

/// A failed blocking task is a 503 (a panic in a scan is a server fault).
impl From<TaskFailed> for ApiError {
    fn from(e: TaskFailed) -> Self {
        ApiError::unavailable(e.to_string())
    }
}
