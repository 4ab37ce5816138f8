//! The HTTP read API over the read models: JSON endpoints, OpenAPI, health and metrics.
//!
//! It reads what the projections wrote through the typed read queries of `loh-projections`
//! (each read model's module owns its tables and their SQL: this crate never names a table), and
//! the event store's head (for projection lag); it never writes events and must not depend on
//! the tick writer.
//!
//! Endpoints (PROTOCOL.md, "Query API"):
//! - `GET /v1/players/{player_id}/position`: a player's tile and last chat line (own or analyst
//!   token).
//! - `GET /v1/players/{player_id}/…`: inventory, bank, wallet, wallet ledger, skills, trades
//!   (own or analyst token); `profile` (public).
//! - `GET /v1/players/{player_id}/membership`, `…/purchases`: the premium wallet (tier,
//!   paid-through time, bonds held, debt; purchase history); `GET /v1/economy/purchases`
//!   (analysts: everyone's).
//! - `GET /v1/leaderboards/…`: pages, rank lookup, around a player (public).
//! - `GET /v1/worlds`: the world list, with addresses, populations and status (public).
//! - `GET /v1/economy/…`: flows, supply, trades, XP per hour (analyst token; JSON or CSV).
//! - `GET /dashboard`: the analyst dashboard (charts drawn in the page from the endpoints).
//! - `GET /docs`: a browsable page of the OpenAPI document.
//! - `GET /openapi.json`: the OpenAPI document, generated from this code.
//! - `GET /healthz`: 200 `{"status":"ok"}` while its dependencies answer, else 503
//!   `{"status":"degraded","failing":[…]}` naming each (`postgres`, `redis`).
//! - `GET /metrics`: Prometheus text (projection lag per projector, HTTP request counters).
//!
//! Every error is `{"error":{"code":"snake_case","message":"…"}}` ([`ApiError`]).
//!
//! # Layout
//! Listed so that each module imports only modules below it: no two import each other.
//! - [`routes`] — the router of every module's routes, the error fallbacks, request metrics.
//! - [`openapi`] — the generated document ([`openapi::ApiDoc`]) and `/openapi.json`.
//! - [`history`] — a player's wallet ledger and trade history, in keyset pages.
//! - [`payments`] — membership, bonds held and purchase history.
//! - [`players`] — a player's position (public), inventory, bank, wallet and skills.
//! - [`profiles`] — public profiles and online status.
//! - [`worlds`] — the world list, as each world's game server announces itself.
//! - [`leaderboards`] — leaderboard pages with ETags, rank lookups, around a player.
//! - [`economy`] — the analysts' hourly economy tables, as JSON or CSV.
//! - [`operations`] — health, metrics, the analyst dashboard and the API docs page.
//! - [`access`] — the caller of a Bearer token; own-data and analyst checks.
//! - [`page`] — page queries and opaque keyset cursors.
//! - [`state`] — [`AppState`], what the handlers share.
//! - [`cache`] — the Redis cache of the economy tables over closed time ranges.
//! - [`boards`] — in-process leaderboard snapshots.
//! - [`names`] — players' display names, cached in process.
//! - [`ranks`] — leaderboard ranks in Redis sorted sets.
//! - [`auth`] — access-token verification with the public key only.
//! - [`metrics`] — [`ApiMetrics`] and the request-counting middleware.
//! - [`error`] — [`ApiError`] and the error body.

pub mod access;
pub mod auth;
pub mod boards;
pub mod cache;
pub mod economy;
pub mod error;
pub mod history;
pub mod leaderboards;
pub mod metrics;
pub mod names;
pub mod openapi;
pub mod operations;
pub mod page;
pub mod payments;
pub mod players;
pub mod profiles;
pub mod ranks;
pub mod routes;
pub mod state;
pub mod worlds;

use axum::Router;

pub use error::ApiError;
pub use metrics::{ApiMetrics, HttpMetrics};
pub use state::AppState;

/// The router of every endpoint, with request metrics. The binary serves it behind the front
/// door's hardened HTTP loop (`loh_gateway::http::serve`: header timeout, connection caps,
/// per-address request limits), never bare.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
