//! The `player_position` read model: where each player stands and what they last said.
//!
//! Table `rm_player_position` (migrations `0003_projections.sql`, `0010_world_read_models.sql`):
//! one row per player that has spawned or moved; `shard` is the world the position is in (the
//! world whose log last moved the player: a character is in one world at a time) and
//! `last_position` the position, in that world's log, of the last event that changed the row.

use crate::db::ReadDb;
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::{Error, Result};
use loh_events::{EventBody, StoredEvent};
use sqlx::Row;
use uuid::Uuid;

/// The read model's table.
pub const TABLE: TableDef = TableDef {
    name: "rm_player_position",
    key: &["player_id"],
    columns: &[
        "player_id",
        "x",
        "y",
        "last_say",
        "last_say_tick",
        "last_position",
        "shard",
    ],
    ddl: "(player_id TEXT PRIMARY KEY, x BIGINT NOT NULL, y BIGINT NOT NULL, \
          last_say TEXT NULL, last_say_tick BIGINT NULL, last_position BIGINT NOT NULL, \
          shard TEXT NOT NULL DEFAULT '')",
    indexes: &["CREATE INDEX IF NOT EXISTS rm_player_position_shard \
                ON rm_player_position (shard, player_id)"],
};

/// The fold: `PlayerSpawned`/`PlayerMoved` set the position and its world, `PlayerSaid` the last
/// chat line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlayerPosition;

impl PlayerPosition {
    /// The read model's name.
    pub const NAME: &'static str = "player_position";
}

impl Projection for PlayerPosition {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[TABLE]
    }

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let position = Value::int(event.position as i64);
        let op = match body {
            EventBody::PlayerSpawned { player_id, x, y }
            | EventBody::PlayerMoved {
                player_id, x, y, ..
            } => RowOp::Upsert {
                table: TABLE.name,
                key: vec![("player_id", Value::text(player_id.to_string()))],
                values: vec![
                    ("x", Value::int(*x)),
                    ("y", Value::int(*y)),
                    ("last_position", position),
                    ("shard", Value::text(event.shard.clone())),
                ],
            },
            // A player without a position (never spawned) has no row to carry a chat line.
            EventBody::PlayerSaid { player_id, text } => RowOp::Update {
                table: TABLE.name,
                key: vec![("player_id", Value::text(player_id.to_string()))],
                values: vec![
                    ("last_say", Value::text(text)),
                    ("last_say_tick", Value::int(event.tick as i64)),
                    ("last_position", position),
                ],
            },
            // Other events (items, skills, combat, …) are other read models' business.
            _ => return Ok(Vec::new()),
        };
        Ok(vec![op])
    }
}

/// One row of `rm_player_position`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlayerPositionRow {
    pub player_id: Uuid,
    /// The world the position is in.
    pub world: String,
    pub x: i64,
    pub y: i64,
    /// The last thing the player said in local chat, if anything.
    pub last_say: Option<String>,
    /// The tick of `last_say`.
    pub last_say_tick: Option<i64>,
    /// Position, in `world`'s log, of the last event that changed this row.
    pub last_position: u64,
}

/// A player's row and the position the read model is complete up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerPositionView {
    pub row: PlayerPositionRow,
    /// The projection's checkpoint when the row was read: every event up to here is reflected.
    pub as_of_position: u64,
}

fn row_from(row: &sqlx::any::AnyRow) -> Result<PlayerPositionRow> {
    let id: String = row.try_get("player_id")?;
    let player_id = Uuid::parse_str(&id)
        .map_err(|e| Error::Invalid(format!("rm_player_position.player_id {id:?}: {e}")))?;
    let last_position: i64 = row.try_get("last_position")?;
    Ok(PlayerPositionRow {
        player_id,
        world: row.try_get("shard")?,
        x: row.try_get("x")?,
        y: row.try_get("y")?,
        last_say: row.try_get("last_say")?,
        last_say_tick: row.try_get("last_say_tick")?,
        last_position: last_position.max(0) as u64,
    })
}

/// The row of `player_id`, with the checkpoint (of the row's world) it is current as of; `None`
/// for an unknown player.
pub async fn get(db: &ReadDb, player_id: Uuid) -> Result<Option<PlayerPositionView>> {
    let row = sqlx::query(
        "SELECT p.player_id, p.shard, p.x, p.y, p.last_say, p.last_say_tick, p.last_position, \
                (SELECT MIN(c.position) FROM projection_checkpoints c \
                 WHERE c.shard = p.shard \
                   AND (c.name = 'player_position' OR c.name LIKE 'player_position_p%_of_%')) \
                AS as_of \
         FROM rm_player_position p \
         WHERE p.player_id = $1",
    )
    .bind(player_id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let parsed = row_from(&row)?;
    let as_of: Option<i64> = row.try_get("as_of")?;
    let as_of_position = (as_of.unwrap_or(0).max(0) as u64).max(parsed.last_position);
    Ok(Some(PlayerPositionView {
        row: parsed,
        as_of_position,
    }))
}

/// Every row, ordered by player id (tests and tools compare read models with this).
pub async fn all_rows(db: &ReadDb) -> Result<Vec<PlayerPositionRow>> {
    let rows = sqlx::query(
        "SELECT player_id, shard, x, y, last_say, last_say_tick, last_position \
         FROM rm_player_position ORDER BY player_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_from).collect()
}

/// The rows of the players whose position is in world `world`, ordered by player id, at most
/// `limit`: a world's positions are its own.
pub async fn in_world(db: &ReadDb, world: &str, limit: u32) -> Result<Vec<PlayerPositionRow>> {
    let rows = sqlx::query(
        "SELECT player_id, shard, x, y, last_say, last_say_tick, last_position \
         FROM rm_player_position WHERE shard = $1 ORDER BY player_id LIMIT $2",
    )
    .bind(world)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_from).collect()
}

/// How many players have their position in each world, by world.
pub async fn counts_by_world(db: &ReadDb) -> Result<Vec<(String, u64)>> {
    let rows = sqlx::query(
        "SELECT shard, COUNT(*) AS players FROM rm_player_position GROUP BY shard ORDER BY shard",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let players: i64 = r.try_get("players")?;
            Ok((r.try_get("shard")?, players.max(0) as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_events::{GENESIS_HASH, NewEvent};

    fn stored(position: u64, tick: u64, body: EventBody) -> StoredEvent {
        let player_id = body.player_id().unwrap_or_default();
        let new = NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: loh_events::player_stream(player_id),
            stream_version: position,
            tick,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: 0,
            body,
        };
        StoredEvent::seal("w1", position, GENESIS_HASH, &new).expect("seal")
    }

    #[test]
    fn a_spawn_upserts_the_position_and_remembers_the_event_position() {
        let player_id = Uuid::new_v4();
        let ops = PlayerPosition
            .apply(&stored(
                7,
                3,
                EventBody::PlayerSpawned {
                    player_id,
                    x: 3200,
                    y: -5,
                },
            ))
            .expect("apply");
        assert_eq!(
            ops,
            vec![RowOp::Upsert {
                table: "rm_player_position",
                key: vec![("player_id", Value::text(player_id.to_string()))],
                values: vec![
                    ("x", Value::int(3200)),
                    ("y", Value::int(-5)),
                    ("last_position", Value::int(7)),
                    ("shard", Value::text("w1")),
                ],
            }]
        );
    }

    #[test]
    fn a_move_overwrites_only_the_position_columns() {
        let player_id = Uuid::new_v4();
        let ops = PlayerPosition
            .apply(&stored(
                9,
                4,
                EventBody::PlayerMoved {
                    player_id,
                    from_x: 1,
                    from_y: 1,
                    x: 2,
                    y: 3,
                    running: true,
                    path_to: None,
                },
            ))
            .expect("apply");
        let RowOp::Upsert { values, .. } = &ops[0] else {
            panic!("a move is an upsert: {ops:?}")
        };
        let columns: Vec<_> = values.iter().map(|(c, _)| *c).collect();
        assert_eq!(columns, ["x", "y", "last_position", "shard"]);
    }

    #[test]
    fn a_chat_line_updates_an_existing_row_with_its_tick() {
        let player_id = Uuid::new_v4();
        let ops = PlayerPosition
            .apply(&stored(
                11,
                42,
                EventBody::PlayerSaid {
                    player_id,
                    text: "hi".into(),
                },
            ))
            .expect("apply");
        assert_eq!(
            ops,
            vec![RowOp::Update {
                table: "rm_player_position",
                key: vec![("player_id", Value::text(player_id.to_string()))],
                values: vec![
                    ("last_say", Value::text("hi")),
                    ("last_say_tick", Value::int(42)),
                    ("last_position", Value::int(11)),
                ],
            }]
        );
    }

    #[test]
    fn the_table_definition_lists_its_key_among_its_columns() {
        for key in TABLE.key {
            assert!(TABLE.columns.contains(key));
        }
        for column in TABLE.columns {
            assert!(TABLE.ddl.contains(column), "{column} in the DDL");
        }
    }
}
