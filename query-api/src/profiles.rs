//! Public profiles with online status (no token).

use crate::access::parse_player;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Json, Router, routing::get};
use loh_projections::skills::{self, Board};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/players/{player_id}/profile", get(profile))
}

/// A public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub player_id: Uuid,
    /// The player's display name; `null` for an id without an account.
    #[serde(default)]
    pub name: Option<String>,
    pub online: bool,
    pub members: bool,
    /// When the player first entered the world (µs since the Unix epoch).
    pub spawned_at_us: i64,
    /// When a session last opened or closed.
    pub last_seen_us: Option<i64>,
    pub deaths: i64,
    pub kills: i64,
    pub total_level: i64,
    pub total_xp: i64,
    pub overall_rank: i64,
}

/// A player's public profile and online status.
#[utoipa::path(get, path = "/v1/players/{player_id}/profile", tag = "public",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    responses((status = 200, body = ProfileView), (status = 404, body = ErrorBody)))]
pub async fn profile(
    State(state): State<AppState>,
    Path(player_id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let player_id = parse_player(&player_id)?;
    let row = loh_projections::profile::get(&state.read, player_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no player {player_id}")))?;
    let (total_level, total_xp, overall_rank) =
        match skills::standing(&state.read, Board::Overall, player_id).await? {
            Some(e) => (e.level, e.xp, e.rank),
            None => (0, 0, 0),
        };
    let name = state.names.one(&state.read, player_id).await?;
    Ok(Json(ProfileView {
        player_id,
        name,
        online: row.online,
        members: row.members,
        spawned_at_us: row.spawned_at_us,
        last_seen_us: row.last_seen_us,
        deaths: row.deaths,
        kills: row.kills,
        total_level,
        total_xp,
        overall_rank,
    }))
}
