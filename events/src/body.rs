//! The event vocabulary: every fact the world can record.
//!
//! Bodies are serialised as externally tagged JSON (`{"PlayerMoved": {...}}`); those bytes are the
//! stored payload and part of the hash chain, so a body's fields are never reordered or renamed
//! once released. A changed shape gets a new schema version and an upcaster in [`crate::codec`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A fact recorded by the tick writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// A player entered the world for the first time, at a spawn tile.
    PlayerSpawned { player_id: Uuid, x: i32, y: i32 },
    /// A player moved from one tile to another within one tick.
    PlayerMoved {
        player_id: Uuid,
        from_x: i32,
        from_y: i32,
        x: i32,
        y: i32,
        running: bool,
    },
    /// A player said something in local chat.
    PlayerSaid { player_id: Uuid, text: String },
}

impl EventBody {
    /// The stable name stored in the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::PlayerSpawned { .. } => "PlayerSpawned",
            EventBody::PlayerMoved { .. } => "PlayerMoved",
            EventBody::PlayerSaid { .. } => "PlayerSaid",
        }
    }

    /// The schema version this build writes for the body's kind.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// The player whose stream this event belongs to, if any.
    pub fn player_id(&self) -> Option<Uuid> {
        match self {
            EventBody::PlayerSpawned { player_id, .. }
            | EventBody::PlayerMoved { player_id, .. }
            | EventBody::PlayerSaid { player_id, .. } => Some(*player_id),
        }
    }
}

/// The stream id of a player's events.
pub fn player_stream(player_id: Uuid) -> String {
    format!("player-{player_id}")
}
