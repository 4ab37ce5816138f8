//! Operations and pages: health, metrics, the analyst dashboard and the browsable API docs.

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router, routing::get};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/docs", get(docs))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// `{"status":"ok"}` from `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// 200 while the read database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The read database answers", body = Health),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.read.ping().await {
        Ok(()) => Ok(Json(Health {
            status: "ok".into(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError::Unavailable)
        }
    }
}

/// Prometheus text: projection lag per projector (refreshed on each scrape) and HTTP counters.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    for projection in loh_projections::all() {
        match loh_projections::status::status(&state.read, &*state.store, projection.name()).await {
            Ok(status) => state.metrics.projections().observe(&status),
            Err(e) => {
                tracing::warn!(projector = projection.name(), error = %e, "projection status failed")
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// The analyst dashboard: leaderboard, coins in circulation and items minted and burned over time
/// as charts (one static page; it reads the public and the economy endpoints with the analyst
/// token typed in, or given as `#token=…`).
async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("dashboard.html"),
    )
}

/// A browsable page of the OpenAPI document: every endpoint with its parameters and responses,
/// rendered from `/openapi.json` in the page (no external scripts).
async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("docs.html"),
    )
}
