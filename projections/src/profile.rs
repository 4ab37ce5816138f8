//! The `profile` read model: public player profiles with online status, and trade history.
//!
//! Tables (migration `0005_read_models.sql`):
//! - `rm_profile (player_id, spawned_position, spawned_at_us, online, members, last_seen_us,
//!   deaths, kills)`: `online`/`members` are 0 or 1; `last_seen_us` is the time of the last
//!   session opening or closing.
//! - `rm_trade_history (player_id, position, with_player, gave, got, tick, occurred_at_us)`:
//!   one row per settled trade and side (`gave`/`got` are JSON arrays of `{item, qty}`).

use crate::flows::player;
use crate::fold::{Projection, RowOp, TableDef, Value};
use loh_events::{EventBody, StoredEvent};

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

    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        let key = |id| vec![("player_id", player(id))];
        let ops = match event.body()? {
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
                    ("online", flag(online)),
                    ("last_seen_us", Value::int(event.occurred_at_us)),
                ],
            }],
            EventBody::MembershipChanged { player_id, members } => vec![RowOp::Upsert {
                table: PROFILE.name,
                key: key(player_id),
                values: vec![("members", flag(members))],
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
                [
                    (player_id, with, &gave, &got),
                    (with, player_id, &got, &gave),
                ]
                .into_iter()
                .map(|(me, other, out, inc)| RowOp::Upsert {
                    table: TRADE_HISTORY.name,
                    key: vec![
                        ("player_id", player(me)),
                        ("position", Value::int(event.position as i64)),
                    ],
                    values: vec![
                        ("with_player", player(other)),
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
