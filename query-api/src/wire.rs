//! The JSON bodies of the query API (wire types, apart from the read-model rows).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A player's tile and last chat line, as of a log position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlayerPosition {
    pub player_id: Uuid,
    /// Tile x.
    pub x: i64,
    /// Tile y.
    pub y: i64,
    /// The last line the player said in local chat, if any.
    pub last_say: Option<String>,
    /// The tick of `last_say`.
    pub last_say_tick: Option<i64>,
    /// The read model reflects every event up to this log position.
    pub as_of_position: u64,
    /// Position of the last event that changed this player's entry.
    pub last_event_position: u64,
}

impl From<loh_projections::player_position::PlayerPositionView> for PlayerPosition {
    fn from(v: loh_projections::player_position::PlayerPositionView) -> PlayerPosition {
        PlayerPosition {
            player_id: v.row.player_id,
            x: v.row.x,
            y: v.row.y,
            last_say: v.row.last_say,
            last_say_tick: v.row.last_say_tick,
            as_of_position: v.as_of_position,
            last_event_position: v.row.last_position,
        }
    }
}

/// `{"status":"ok"}` from `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Every error: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The code (stable, snake_case) and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}
