//! The world list (no token): every world that announced itself, with where to connect, whether
//! it is a members world, its population and whether it is up.

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::{Json, Router, routing::get};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A world announces itself every 5 s; one silent for this long is offline (its process died).
pub const OFFLINE_AFTER_US: i64 = 15_000_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/worlds", get(worlds))
}

/// Whether a world can be played now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorldStatus {
    /// Announced itself within the last 15 s.
    Online,
    /// Stopped on purpose.
    Closed,
    /// Silent for more than 15 s: its process stopped without saying so.
    Offline,
}

/// One line of the world list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorldView {
    /// The world's name (its shard).
    pub world: String,
    /// Where clients connect to play in it.
    pub address: String,
    pub members: bool,
    /// Players with a live session, as of `updated_at_us` (0 unless online).
    pub population: u64,
    pub status: WorldStatus,
    /// When the world last announced itself (µs since the Unix epoch).
    pub updated_at_us: i64,
}

/// The world list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorldsView {
    pub worlds: Vec<WorldView>,
    /// Players online in every world together.
    pub total_population: u64,
}

/// The status of a world that last announced `open` at `updated_at_us`, seen at `now_us`.
pub fn status(open: bool, updated_at_us: i64, now_us: i64) -> WorldStatus {
    if !open {
        WorldStatus::Closed
    } else if now_us.saturating_sub(updated_at_us) > OFFLINE_AFTER_US {
        WorldStatus::Offline
    } else {
        WorldStatus::Online
    }
}

/// Every world, by name, with its population and status.
#[utoipa::path(get, path = "/v1/worlds", tag = "public",
    responses((status = 200, body = WorldsView), (status = 503, body = ErrorBody)))]
pub async fn worlds(State(state): State<AppState>) -> Result<Json<WorldsView>, ApiError> {
    let entries = state.store.worlds().await.map_err(|e| {
        tracing::warn!(error = %e, "reading the world list");
        ApiError::Unavailable
    })?;
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let worlds: Vec<WorldView> = entries
        .into_iter()
        .map(|e| {
            let status = status(e.open, e.updated_at_us, now_us);
            WorldView {
                world: e.shard,
                address: e.address,
                members: e.members,
                population: if status == WorldStatus::Online {
                    e.population
                } else {
                    0
                },
                status,
                updated_at_us: e.updated_at_us,
            }
        })
        .collect();
    let total_population = worlds.iter().map(|w| w.population).sum();
    Ok(Json(WorldsView {
        worlds,
        total_population,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_is_online_while_it_announces_closed_when_it_says_so_offline_when_silent() {
        let now = 100_000_000;
        assert_eq!(status(true, now - 5_000_000, now), WorldStatus::Online);
        assert_eq!(
            status(true, now - OFFLINE_AFTER_US, now),
            WorldStatus::Online
        );
        assert_eq!(
            status(true, now - OFFLINE_AFTER_US - 1, now),
            WorldStatus::Offline
        );
        assert_eq!(status(false, now, now), WorldStatus::Closed);
    }
}
