//! The stella-server HTTP API (axum): routes, authentication, metrics, OpenAPI.
//!
//! Handlers are thin: they extract the request, authenticate, call one service
//! (`crate::service`) and map its errors to answers; the services do the work.

pub mod auth;
pub mod error;
pub mod feeds;
pub mod health;
pub mod layers;
pub mod openapi;
pub mod policy;
pub mod quota;
pub mod scan;
pub mod token;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderName, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::service::engine::ScanEngine;
use crate::service::feeds::FeedsService;
use crate::service::layers::LayerService;
use crate::service::scans::ScanService;
use stella_core::identity::Tiers;
use stella_core::identity::store::IdentityStore;
use stella_core::identity::token::Issuer;
use stella_core::queue::JobQueue;
use stella_core::quota::QuotaStore;
use stella_core::scan_records::ScanStore;

/// Everything handlers share; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The server's shared state.
pub struct Shared {
    /// Runs scans: advisory DB, policy, KEV.
    pub scanner: Arc<ScanEngine>,
    /// Signs and verifies tokens.
    pub issuer: Arc<Issuer>,
    /// Registered clients and signing keys.
    pub identity: Arc<dyn IdentityStore>,
    /// Tiers and their daily limits.
    pub tiers: Tiers,
    /// Daily scan counters.
    pub quota: Arc<dyn QuotaStore>,
    /// Scan requests: quota, queueing, running.
    pub scans: Arc<ScanService>,
    /// Layer fragments of the delta-SBOM protocol.
    pub layers: Arc<LayerService>,
    /// Scan jobs.
    pub queue: Arc<dyn JobQueue>,
    /// Scan records.
    pub records: Arc<dyn ScanStore>,
    /// Feedser status and sync.
    pub feeds: Arc<FeedsService>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Redis, when configured (readiness checks it).
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("quota", &self.quota)
            .field("layers", &self.layers)
            .field("queue", &self.queue)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

/// The header carrying request ids (set when the client did not send one).
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// All routes, with metrics, request ids and tracing.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/scan", post(scan::create))
        .route("/scan/{id}", get(scan::get))
        .route("/scan/{id}/events", get(scan::events))
        .route("/layers/missing", post(layers::missing))
        .route(
            "/layers/{digest}",
            // Fragments are bounded by their own limit, not the general body limit.
            put(layers::upload).layer(DefaultBodyLimit::max(
                state.layers.fragment_limits.max_compressed_bytes as usize,
            )),
        )
        .route("/quota", get(quota::get))
        .route("/token/offline", post(token::offline))
        .route("/policy", get(policy::get).put(policy::put))
        .route("/policy/validate", post(policy::validate))
        .route("/policy/mute", get(policy::mutes).post(policy::add_mute))
        .route("/policy/mute/{id}", delete(policy::remove_mute))
        .route("/policy/audit", get(policy::audit))
        .route("/feeds", get(feeds::status))
        .route("/feeds/sync", post(feeds::sync));
    let max_body = state.max_body_bytes;
    Router::new()
        .nest("/api/v1", api)
        .route("/connect/token", post(token::client_credentials))
        .route("/.well-known/jwks.json", get(token::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::map_response(error::json_errors))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            track_metrics,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let id = request
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            request_id = %id,
                            method = %request.method(),
                            path = %request.uri().path(),
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone())),
        )
        .with_state(state)
}

/// Middleware: times every request under its route template (not the raw path, so
/// ids in paths do not explode the label space).
async fn track_metrics(
    State(state): State<AppState>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(method, route, status, start.elapsed().as_secs_f64());
    response
}
