//! The `economy` read model, for analysts: value entering and leaving the game, trade volume
//! and XP, per UTC hour.
//!
//! Tables (migration `0005_read_models.sql`; `hour` is the Unix second the hour starts at, from
//! the event's `occurred_at_us`):
//! - `rm_economy_hourly (hour, item, flow, reason, qty)`: `flow` is `minted` (with the source
//!   as `reason`) or `burned` (with the sink), exactly the world's value ledger.
//! - `rm_item_supply (item, minted, burned)`: totals since the start; in circulation is
//!   `minted - burned` (coins in circulation: `item = 'coins'`).
//! - `rm_trade_hourly (hour, item, qty, trades)`: items changing hands in settled trades (both
//!   directions), and the number of settled trades (`item = '*'`).
//! - `rm_xp_hourly (hour, skill, xp)`: XP gained.

use crate::flows::{Flow, hour_of, mints_and_burns};
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::skills::{skill_name, xp_of};
use loh_events::{EventBody, StoredEvent};

pub const ECONOMY_HOURLY: TableDef = TableDef {
    name: "rm_economy_hourly",
    key: &["hour", "item", "flow", "reason"],
    columns: &["hour", "item", "flow", "reason", "qty"],
    ddl: "(hour BIGINT NOT NULL, item TEXT NOT NULL, flow TEXT NOT NULL, reason TEXT NOT NULL, \
          qty BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (hour, item, flow, reason))",
    indexes: &["CREATE INDEX IF NOT EXISTS rm_economy_hourly_item \
                ON rm_economy_hourly (item, hour)"],
};

pub const ITEM_SUPPLY: TableDef = TableDef {
    name: "rm_item_supply",
    key: &["item"],
    columns: &["item", "minted", "burned"],
    ddl: "(item TEXT PRIMARY KEY, minted BIGINT NOT NULL DEFAULT 0, \
          burned BIGINT NOT NULL DEFAULT 0)",
    indexes: &[],
};

pub const TRADE_HOURLY: TableDef = TableDef {
    name: "rm_trade_hourly",
    key: &["hour", "item"],
    columns: &["hour", "item", "qty", "trades"],
    ddl: "(hour BIGINT NOT NULL, item TEXT NOT NULL, qty BIGINT NOT NULL DEFAULT 0, \
          trades BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (hour, item))",
    indexes: &[],
};

pub const XP_HOURLY: TableDef = TableDef {
    name: "rm_xp_hourly",
    key: &["hour", "skill"],
    columns: &["hour", "skill", "xp"],
    ddl: "(hour BIGINT NOT NULL, skill TEXT NOT NULL, xp BIGINT NOT NULL DEFAULT 0, \
          PRIMARY KEY (hour, skill))",
    indexes: &[],
};

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Economy;

impl Economy {
    pub const NAME: &'static str = "economy";
}

impl Projection for Economy {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[ECONOMY_HOURLY, ITEM_SUPPLY, TRADE_HOURLY, XP_HOURLY]
    }

    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        let body = event.body()?;
        let hour = Value::int(hour_of(event));
        let mut ops = Vec::new();
        for (flow, reason, item, qty) in mints_and_burns(&body) {
            ops.push(RowOp::Increment {
                table: ECONOMY_HOURLY.name,
                key: vec![
                    ("hour", hour.clone()),
                    ("item", Value::text(item)),
                    ("flow", Value::text(flow.as_str())),
                    ("reason", Value::text(reason)),
                ],
                column: "qty",
                by: qty.into(),
            });
            ops.push(RowOp::Increment {
                table: ITEM_SUPPLY.name,
                key: vec![("item", Value::text(item))],
                column: match flow {
                    Flow::Minted => "minted",
                    Flow::Burned => "burned",
                },
                by: qty.into(),
            });
        }
        if let EventBody::TradeSettled { gave, got, .. } = &body {
            for s in gave.iter().chain(got) {
                ops.push(RowOp::Increment {
                    table: TRADE_HOURLY.name,
                    key: vec![
                        ("hour", hour.clone()),
                        ("item", Value::text(s.item.clone())),
                    ],
                    column: "qty",
                    by: s.qty.into(),
                });
            }
            ops.push(RowOp::Increment {
                table: TRADE_HOURLY.name,
                key: vec![("hour", hour.clone()), ("item", Value::text("*"))],
                column: "trades",
                by: 1,
            });
        }
        if let Some((_, skill, xp)) = xp_of(&body) {
            ops.push(RowOp::Increment {
                table: XP_HOURLY.name,
                key: vec![("hour", hour), ("skill", Value::text(skill_name(skill)))],
                column: "xp",
                by: xp.into(),
            });
        }
        Ok(ops)
    }
}
