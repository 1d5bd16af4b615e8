//! `/healthz` (the process answers), `/readyz` (its stores answer), `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per dependency: `ok` or what failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `advisory-db`, `redis`, `queue`.
    pub name: String,
    /// `ok`, or the error.
    pub status: String,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// Readiness: the advisory DB opens and Redis (when configured) answers PING.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "A dependency is down", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = Vec::new();
    let scanner = state.scanner.clone();
    let db = crate::service::blocking(move || scanner.advisories.check()).await;
    checks.push(Check {
        name: "advisory-db".into(),
        status: match db {
            Ok(Ok(_)) => "ok".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        },
    });
    if let Some(redis) = &state.redis {
        let mut conn = redis.clone();
        let ping = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        checks.push(Check {
            name: "redis".into(),
            status: match ping {
                Ok(Ok(_)) => "ok".into(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 2 s".into(),
            },
        });
    }
    let ready = checks.iter().all(|c| c.status == "ok");
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ready { "ok" } else { "unavailable" };
    (
        code,
        Json(Health {
            status: status.into(),
            checks,
        }),
    )
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(depth) = state.queue.depth().await {
        state.metrics.set_queue_depth(depth);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
