//! The HTTP read API over the read models: JSON endpoints, OpenAPI, health and metrics.
//!
//! It reads what the projections wrote (through `loh-projections`) and the event store's head
//! (for projection lag); it never writes events and must not depend on the tick writer.
//!
//! Endpoints (PROTOCOL.md, "Query API"):
//! - `GET /v1/players/{player_id}/position`: a player's tile and last chat line.
//! - `GET /dashboard`: the analyst dashboard (charts drawn in the page from the endpoints).
//! - `GET /docs`: a browsable page of the OpenAPI document.
//! - `GET /openapi.json`: the OpenAPI document, generated from this code.
//! - `GET /healthz`: 200 while the read database answers, 503 otherwise.
//! - `GET /metrics`: Prometheus text (projection lag per projector, HTTP request counters).
//!
//! Every error is `{"error":{"code":"snake_case","message":"…"}}` ([`ApiError`]).
//!
//! # Layout
//! - [`routes`]: the handlers. [`wire`]: the JSON bodies. [`error`]: [`ApiError`].
//! - [`metrics`]: [`ApiMetrics`] and the request-counting middleware.
//! - [`openapi`]: the generated document ([`openapi::ApiDoc`]).
//! - [`auth`]: access-token verification with the public key only.
//! - [`cache`]: the Redis cache of the economy tables over closed time ranges.
//! - [`v1`]: player data (own or analyst token), public profiles and leaderboards, the analysts'
//!   economy endpoints (JSON or CSV).
//! - [`boards`]: in-process leaderboard snapshots; [`ranks`]: leaderboard ranks in Redis sorted
//!   sets.

pub mod auth;
pub mod boards;
pub mod cache;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod ranks;
pub mod routes;
pub mod v1;
pub mod wire;

use axum::Router;
use loh_events::EventStore;
use loh_projections::{ProjectionMetrics, ReadDb};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use metrics::{ApiMetrics, HttpMetrics};

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The read database (PostgreSQL, or the embedded SQLite file).
    pub read: ReadDb,
    /// The event store, read only for its head (projection lag on `/metrics`).
    pub store: Arc<dyn EventStore>,
    /// The registry served on `/metrics` and the metrics in it.
    pub metrics: ApiMetrics,
    /// Verifies Bearer access tokens for the player-data and analyst endpoints; without it those
    /// answer 401.
    pub tokens: Option<auth::TokenVerifier>,
    /// Leaderboard ranks in Redis sorted sets (rank lookup, around-me); SQL answers without it.
    pub ranks: Option<ranks::RankIndex>,
    /// In-process leaderboard snapshots for the public leaderboard endpoints.
    pub boards: Arc<boards::BoardCache>,
    /// Redis cache of the economy tables over closed ranges; computed every time without it.
    pub cache: Option<cache::ResponseCache>,
}

impl AppState {
    /// State serving `registry` on `/metrics`, after registering the projection and HTTP
    /// metrics into it (pass `Registry::default()` when nothing else shares it).
    pub fn new(read: ReadDb, store: Arc<dyn EventStore>, mut registry: Registry) -> AppState {
        let projections = ProjectionMetrics::register(&mut registry);
        AppState::with_metrics(
            read,
            store,
            ApiMetrics::from_registry(registry, projections),
        )
    }

    /// State serving `metrics` (e.g. built with [`ApiMetrics::from_registry`] over a registry
    /// whose [`ProjectionMetrics`] the runners of the same process also report into).
    pub fn with_metrics(read: ReadDb, store: Arc<dyn EventStore>, metrics: ApiMetrics) -> AppState {
        AppState {
            read,
            store,
            metrics,
            tokens: None,
            ranks: None,
            boards: Arc::new(boards::BoardCache::default()),
            cache: None,
        }
    }

    /// Keeps the economy tables of closed time ranges in the Redis `cache`.
    pub fn with_cache(mut self, cache: cache::ResponseCache) -> AppState {
        self.cache = Some(cache);
        self
    }

    /// Answers rank lookups from the Redis sorted sets of `ranks`.
    pub fn with_ranks(mut self, ranks: ranks::RankIndex) -> AppState {
        self.ranks = Some(ranks);
        self
    }

    /// Verifies access tokens with `tokens` (the game server's public key).
    pub fn with_tokens(mut self, tokens: auth::TokenVerifier) -> AppState {
        self.tokens = Some(tokens);
        self
    }
}

/// The router of every endpoint, with request metrics.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves [`router`] on `listener` until `cancel`, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "query API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
}
