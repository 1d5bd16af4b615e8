//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations
//! (utoipa). `docs/openapi.json` is this document, committed; a test fails when
//! it is stale (`stella-server openapi > docs/openapi.json` refreshes it).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{feeds, health, layers, policy, quota, scan, token};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "StellaOps core API",
        description = "SBOM-first scanning, the delta-SBOM layer protocol, quotas, tokens, policy and feeds.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        scan::create, scan::get, scan::events,
        layers::missing, layers::upload,
        quota::get,
        token::client_credentials, token::offline, token::jwks,
        policy::get, policy::put, policy::validate, policy::mutes, policy::add_mute,
        policy::remove_mute, policy::audit,
        feeds::status, feeds::sync,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "scan", description = "Scans and their progress"),
        (name = "layers", description = "The delta-SBOM layer protocol"),
        (name = "quota", description = "Daily scan quota"),
        (name = "identity", description = "Tokens and signing keys"),
        (name = "policy", description = "Policy documents and mutes"),
        (name = "feeds", description = "Advisory feeds"),
        (name = "health", description = "Liveness, readiness, metrics"),
    ),
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme (JWT from `/connect/token`).
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The document as pretty JSON, with a trailing newline (as committed).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
