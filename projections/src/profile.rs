//! The `profile` read model: public player profiles with online status, and trade history.
//!
//! Tables (migration `0005_read_models.sql`):
//! - `rm_profile (player_id, spawned_position, spawned_at_us, online, members, last_seen_us,
//!   deaths, kills)`: `online`/`members` are 0 or 1; `last_seen_us` is the time of the last
//!   session opening or closing.
//! - `rm_trade_history (player_id, position, with_player, gave, got, tick, occurred_at_us)`:
//!   one row per settled trade and side (`gave`/`got` are JSON arrays of `{item, qty}`).
//!
//! Reads: [`get`] (a profile), [`trades`] (a player's trades, newest first, by keyset).

use crate::db::ReadDb;
use crate::flows::player;
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::holdings::Stack;
use crate::select::Select;
use crate::{Error, Result};
use loh_events::{EventBody, StoredEvent};
use sqlx::Row;
use uuid::Uuid;

pub const PROFILE: TableDef = TableDef {
    name: "rm_profile",
    key: &["player_id"],
    columns: &[
        "player_id",
        "spawned_position",
        "spawned_at_us",
        "online",
        "members",
        "last_seen_us",
        "deaths",
        "kills",
    ],
    ddl: "(player_id TEXT PRIMARY KEY, spawned_position BIGINT NOT NULL DEFAULT 0, \
          spawned_at_us BIGINT NOT NULL DEFAULT 0, online BIGINT NOT NULL DEFAULT 0, \
          members BIGINT NOT NULL DEFAULT 0, last_seen_us BIGINT NULL, \
          deaths BIGINT NOT NULL DEFAULT 0, kills BIGINT NOT NULL DEFAULT 0)",
    indexes: &[],
};

pub const TRADE_HISTORY: TableDef = TableDef {
    name: "rm_trade_history",
    key: &["player_id", "position"],
    columns: &[
        "player_id",
        "position",
        "with_player",
        "gave",
        "got",
        "tick",
        "occurred_at_us",
    ],
    ddl: "(player_id TEXT NOT NULL, position BIGINT NOT NULL, with_player TEXT NOT NULL, \
          gave TEXT NOT NULL, got TEXT NOT NULL, tick BIGINT NOT NULL, \
          occurred_at_us BIGINT NOT NULL, PRIMARY KEY (player_id, position))",
    indexes: &[],
};

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profile;

impl Profile {
    pub const NAME: &'static str = "profile";
}

fn flag(b: bool) -> Value {
    Value::int(i64::from(b))
}

impl Projection for Profile {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[PROFILE, TRADE_HISTORY]
    }

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let key = |id: &Uuid| vec![("player_id", player(*id))];
        let ops = match body {
            EventBody::PlayerSpawned { player_id, .. } => vec![RowOp::Upsert {
                table: PROFILE.name,
                key: key(player_id),
                values: vec![
                    ("spawned_position", Value::int(event.position as i64)),
                    ("spawned_at_us", Value::int(event.occurred_at_us)),
                ],
            }],
            EventBody::PlayerPresence { player_id, online } => vec![RowOp::Upsert {
                table: PROFILE.name,
                key: key(player_id),
                values: vec![
                    ("online", flag(*online)),
                    ("last_seen_us", Value::int(event.occurred_at_us)),
                ],
            }],
            EventBody::MembershipChanged { player_id, members } => vec![RowOp::Upsert {
                table: PROFILE.name,
                key: key(player_id),
                values: vec![("members", flag(*members))],
            }],
            EventBody::PlayerDied {
                player_id, killer, ..
            } => {
                let mut ops = vec![RowOp::Increment {
                    table: PROFILE.name,
                    key: key(player_id),
                    column: "deaths",
                    by: 1,
                }];
                if let Some(killer) = killer {
                    ops.push(RowOp::Increment {
                        table: PROFILE.name,
                        key: key(killer),
                        column: "kills",
                        by: 1,
                    });
                }
                ops
            }
            EventBody::TradeSettled {
                player_id,
                with,
                gave,
                got,
            } => {
                let json = |v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
                [(player_id, with, gave, got), (with, player_id, got, gave)]
                    .into_iter()
                    .map(|(me, other, out, inc)| RowOp::Upsert {
                        table: TRADE_HISTORY.name,
                        key: vec![
                            ("player_id", player(*me)),
                            ("position", Value::int(event.position as i64)),
                        ],
                        values: vec![
                            ("with_player", player(*other)),
                            ("gave", Value::text(json(out))),
                            ("got", Value::text(json(inc))),
                            ("tick", Value::int(event.tick as i64)),
                            ("occurred_at_us", Value::int(event.occurred_at_us)),
                        ],
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(ops)
    }
}

/// A player's profile (a row of `rm_profile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    pub online: bool,
    pub members: bool,
    /// When the player first entered the world (µs since the Unix epoch).
    pub spawned_at_us: i64,
    /// When a session last opened or closed.
    pub last_seen_us: Option<i64>,
    pub deaths: i64,
    pub kills: i64,
}

/// One side of a settled trade (a row of `rm_trade_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// The position of the `TradeSettled` event.
    pub position: i64,
    pub with_player: Uuid,
    pub gave: Vec<Stack>,
    pub got: Vec<Stack>,
    pub tick: i64,
    pub occurred_at_us: i64,
}

/// The profile of `player_id`; `None` for a player the read model does not know.
pub async fn get(db: &ReadDb, player_id: Uuid) -> Result<Option<ProfileRow>> {
    let row = sqlx::query(
        "SELECT online, members, spawned_at_us, last_seen_us, deaths, kills \
         FROM rm_profile WHERE player_id = $1",
    )
    .bind(player_id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(ProfileRow {
        online: r.try_get::<i64, _>("online")? != 0,
        members: r.try_get::<i64, _>("members")? != 0,
        spawned_at_us: r.try_get("spawned_at_us")?,
        last_seen_us: r.try_get("last_seen_us")?,
        deaths: r.try_get("deaths")?,
        kills: r.try_get("kills")?,
    }))
}

/// At most `limit` of `player_id`'s settled trades, newest first; only those before position
/// `before` when given (the keyset of the next page).
pub async fn trades(
    db: &ReadDb,
    player_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<TradeRow>> {
    let mut q = Select::new(
        "SELECT position, with_player, gave, got, tick, occurred_at_us \
         FROM rm_trade_history WHERE player_id = ",
    );
    q.text(player_id.to_string());
    if let Some(position) = before {
        q.push(" AND position < ").int(position);
    }
    q.push(" ORDER BY position DESC LIMIT ").int(limit);
    let mut trades = Vec::new();
    for r in q.fetch_all(db).await? {
        let with: String = r.try_get("with_player")?;
        let gave: String = r.try_get("gave")?;
        let got: String = r.try_get("got")?;
        trades.push(TradeRow {
            position: r.try_get("position")?,
            with_player: Uuid::parse_str(&with).map_err(|e| {
                Error::Invalid(format!("rm_trade_history.with_player {with:?}: {e}"))
            })?,
            gave: stacks(&gave),
            got: stacks(&got),
            tick: r.try_get("tick")?,
            occurred_at_us: r.try_get("occurred_at_us")?,
        });
    }
    Ok(trades)
}

/// The stacks of a `gave`/`got` column (none when it does not parse).
fn stacks(json: &str) -> Vec<Stack> {
    serde_json::from_str(json).unwrap_or_default()
}
