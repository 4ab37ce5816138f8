//! [`AppState`], what the handlers share.

use crate::auth::TokenVerifier;
use crate::boards::BoardCache;
use crate::cache::ResponseCache;
use crate::metrics::ApiMetrics;
use crate::ranks::RankIndex;
use loh_events::EventStore;
use loh_projections::{ProjectionMetrics, ReadDb};
use prometheus_client::registry::Registry;
use std::sync::Arc;

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
    pub tokens: Option<TokenVerifier>,
    /// Leaderboard ranks in Redis sorted sets (rank lookup, around-me); SQL answers without it.
    pub ranks: Option<RankIndex>,
    /// In-process leaderboard snapshots for the public leaderboard endpoints.
    pub boards: Arc<BoardCache>,
    /// Redis cache of the economy tables over closed ranges; computed every time without it.
    pub cache: Option<ResponseCache>,
    /// Players' display names, for the public endpoints.
    pub names: Arc<crate::names::NameCache>,
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
            boards: Arc::new(BoardCache::default()),
            cache: None,
            names: Arc::default(),
        }
    }

    /// Keeps the economy tables of closed time ranges in the Redis `cache`.
    pub fn with_cache(mut self, cache: ResponseCache) -> AppState {
        self.cache = Some(cache);
        self
    }

    /// Answers rank lookups from the Redis sorted sets of `ranks`.
    pub fn with_ranks(mut self, ranks: RankIndex) -> AppState {
        self.ranks = Some(ranks);
        self
    }

    /// Verifies access tokens with `tokens` (the game server's public key).
    pub fn with_tokens(mut self, tokens: TokenVerifier) -> AppState {
        self.tokens = Some(tokens);
        self
    }
}
