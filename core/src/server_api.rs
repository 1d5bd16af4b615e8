//! The stella-server HTTP API's wire contract: media types and the request and
//! response bodies, as `stella-server` sends and reads them and `stella` reads and
//! sends them. One definition for both sides; with the `openapi` feature the types
//! also describe themselves for the server's OpenAPI document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scan_records::ScanRecord;

/// The scan progress events of `GET /scan/{id}/events`, one per NDJSON line or SSE
/// message: the records' own events, sent as stored.
pub use crate::scan_records::ScanEvent;

/// The media type of a layer manifest body (`POST /scan` by the delta protocol).
pub const LAYER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.stella.layer-manifest+json";

/// The media type of a layer fragment (`PUT /layers/{digest}`).
pub const FRAGMENT_MEDIA_TYPE: &str = "application/octet-stream";

/// The media type of an event stream with one JSON event per line.
pub const NDJSON_MEDIA_TYPE: &str = "application/x-ndjson";

/// The media type of an event stream as Server-Sent Events.
pub const EVENT_STREAM_MEDIA_TYPE: &str = "text/event-stream";

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `invalid_sbom`, `quota_exceeded`, `unauthorized`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// More about it (missing layers, quota figures, validation errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Option<serde_json::Value>,
}

/// Query parameters of `POST /scan`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase")]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl ScanAccepted {
    /// The answer for the newly queued scan `id`.
    pub fn queued(id: String) -> ScanAccepted {
        let location = format!("/api/v1/scan/{id}");
        ScanAccepted {
            events: format!("{location}/events"),
            location,
            id,
            status: "queued".into(),
        }
    }
}

/// A scan's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The scan report (schema "2", as `stella scan --output json`), once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
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

/// Layer digests to look up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LayersQuery {
    /// Layer digests (`sha256:` + 64 lowercase hex), at most 512.
    #[cfg_attr(feature = "openapi", schema(max_items = 512))]
    pub layers: Vec<String>,
}

/// The layers with no stored analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingLayers {
    /// Digests to upload, in request order, without repeats.
    pub missing: Vec<String>,
}

/// The caller's quota today.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The `details` of a 429 `quota_exceeded` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaExceeded {
    /// Scans allowed per UTC day.
    pub limit: u32,
    /// Scans counted today.
    pub used: u32,
    /// When the counter resets (next UTC midnight).
    pub reset_at: DateTime<Utc>,
    /// Seconds until then (also the `Retry-After` header).
    pub retry_after_seconds: u64,
}

/// The client-credentials token request (form fields, RFC 6749 §4.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^client_credentials$"))]
    pub grant_type: String,
    /// The client id (or in HTTP Basic authentication).
    pub client_id: Option<String>,
    /// The client secret (or in HTTP Basic authentication).
    pub client_secret: Option<String>,
    /// Space-separated scopes wanted (default: all the client holds).
    pub scope: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires (43200: 12 h).
    pub expires_in: i64,
    /// Scopes granted.
    pub scope: String,
}

/// An OAuth2 error answer (RFC 6749 §5.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`.
    pub error: String,
    /// What went wrong.
    pub error_description: String,
}

/// Request for an offline token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfflineRequest {
    /// The token's subject (who its scans are counted for).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    pub subject: String,
    /// The tier (`Free`, `Team`, `Enterprise`).
    pub tier: String,
    /// Scopes (default: `scan`).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// An offline token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfflineToken {
    /// The JWT (30 days), verifiable with the JWKS and no network.
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The signing key's id.
    pub kid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_answer_links_the_record_and_events() {
        let a = ScanAccepted::queued("abc".into());
        assert_eq!(a.location, "/api/v1/scan/abc");
        assert_eq!(a.events, "/api/v1/scan/abc/events");
        assert_eq!(a.status, "queued");
    }

    #[test]
    fn error_bodies_round_trip_without_details() {
        let text = r#"{"error":"not_found","message":"no scan x"}"#;
        let body: ErrorBody = serde_json::from_str(text).unwrap();
        assert!(body.details.is_none());
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
    }

    #[test]
    fn scan_params_use_the_query_names() {
        let params = ScanParams {
            run_async: true,
            image_digest: Some("sha256:x".into()),
            ..ScanParams::default()
        };
        let value = serde_json::to_value(&params).unwrap();
        assert_eq!(value["async"], true);
        assert_eq!(value["imageDigest"], "sha256:x");
    }
}
