//! Operations and pages: health, metrics, the analyst dashboard and the browsable API docs.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/{file}", get(dashboard_file))
        .route("/docs", get(docs))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// `/healthz`: `{"status":"ok"}`, or `{"status":"degraded","failing":["postgres","redis"]}`
/// naming each dependency that does not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// The dependencies that do not answer (`postgres`: the read database; `redis`: the
    /// leaderboard ranks and response cache, when configured); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

/// The longest a dependency's check may take before it counts as failing.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// 200 while every dependency answers; 503 naming those that do not.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = Health),
        (status = 503, description = "`degraded`: `failing` names the dependencies that do not answer", body = Health),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let read = async {
        match tokio::time::timeout(PROBE_TIMEOUT, state.read.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: read database");
                false
            }
            Err(_) => false,
        }
    };
    let redis = async {
        match &state.ranks {
            Some(ranks) => tokio::time::timeout(PROBE_TIMEOUT, ranks.ping())
                .await
                .unwrap_or(false),
            None => true,
        }
    };
    let (read, redis) = tokio::join!(read, redis);
    let failing: Vec<String> = [("postgres", read), ("redis", redis)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name.to_owned())
        .collect();
    let (status, word) = if failing.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    };
    (
        status,
        Json(Health {
            status: word.into(),
            failing,
        }),
    )
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

/// The dashboard: the public leaderboard with names (no token), and with an analyst token
/// (typed in, or given as `#token=…`) coins in circulation, items minted and burned and XP per
/// hour as charts with axes, units, tooltips and time ranges. Static files; the charts are drawn
/// in the page by uPlot, vendored from the npm registry at a pinned version
/// (`src/dashboard/vendor/README.md`).
async fn dashboard() -> Response {
    dashboard_page("index.html")
}

/// The dashboard's other files.
async fn dashboard_file(Path(file): Path<String>) -> Response {
    dashboard_page(&file)
}

const DASHBOARD_FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/dashboard.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/vendor/uplot-1.6.32/uPlot.min.css"),
    ),
    (
        "uPlot-LICENSE",
        "text/plain; charset=utf-8",
        include_str!("dashboard/vendor/uplot-1.6.32/LICENSE"),
    ),
];

/// The dashboard's own scripts and styles only.
const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn dashboard_page(file: &str) -> Response {
    match DASHBOARD_FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, media, body)) => (
            [
                (header::CONTENT_TYPE, *media),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound("no such file".into()).into_response(),
    }
}

/// A browsable page of the OpenAPI document: every endpoint with its parameters and responses,
/// rendered from `/openapi.json` in the page (no external scripts).
async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("docs.html"),
    )
}
