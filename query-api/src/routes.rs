//! The handlers.

use crate::wire::{ErrorBody, Health, PlayerPosition};
use crate::{ApiError, AppState, metrics};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use loh_projections::player_position;
use uuid::Uuid;

/// Every route, the error fallbacks and the request metrics.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/players/{player_id}/position", get(player_position))
        .merge(crate::v1::routes())
        .route("/openapi.json", get(openapi))
        .route("/dashboard", get(dashboard))
        .route("/docs", get(docs))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// A player's tile and last chat line.
#[utoipa::path(
    get,
    path = "/v1/players/{player_id}/position",
    tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id (a UUID)")),
    responses(
        (status = 200, description = "The player's position", body = PlayerPosition),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such player (or not projected yet)", body = ErrorBody),
        (status = 503, description = "`unavailable`: the read database does not answer", body = ErrorBody),
    )
)]
pub async fn player_position(
    State(state): State<AppState>,
    Path(player_id): Path<String>,
) -> Result<Json<PlayerPosition>, ApiError> {
    let player_id = Uuid::parse_str(&player_id)
        .map_err(|_| ApiError::BadRequest("player_id must be a UUID".into()))?;
    match player_position::get(&state.read, player_id).await? {
        Some(view) => Ok(Json(view.into())),
        None => Err(ApiError::NotFound(format!("no player {player_id}"))),
    }
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

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::json())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
