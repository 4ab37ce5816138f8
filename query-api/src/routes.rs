//! The router: every module's routes, the error fallbacks and the request metrics.

use crate::error::ApiError;
use crate::state::AppState;
use crate::{
    economy, history, leaderboards, metrics, openapi, operations, payments, players, profiles,
    worlds,
};
use axum::Router;

/// Every route, the error fallbacks and the request metrics.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(players::routes())
        .merge(history::routes())
        .merge(payments::routes())
        .merge(profiles::routes())
        .merge(worlds::routes())
        .merge(leaderboards::routes())
        .merge(economy::routes())
        .merge(openapi::routes())
        .merge(operations::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
