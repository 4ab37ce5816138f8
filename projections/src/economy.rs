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
//!
//! Reads, each ordered and limited: [`flows`], [`supply`], [`trade_volume`], [`xp`].

use crate::Result;
use crate::db::ReadDb;
use crate::flows::{Flow, hour_of, mints_and_burns};
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::select::Select;
use crate::skills::{skill_name, xp_of};
use loh_events::{EventBody, StoredEvent};
use sqlx::Row;

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

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let hour = Value::int(hour_of(event));
        let mut ops = Vec::new();
        for (flow, reason, item, qty) in mints_and_burns(body) {
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
        if let Some((_, skill, xp)) = xp_of(body) {
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

/// The hours an hourly read covers: those starting in `[from rounded down to its hour, to)`
/// (Unix seconds; each bound open when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hours {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Items minted (by source) or burned (by sink) in an hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// The Unix second the hour starts at.
    pub hour: i64,
    pub item: String,
    /// `minted` or `burned`.
    pub flow: String,
    /// The mint's source or the burn's sink.
    pub reason: String,
    pub qty: i64,
}

/// An item's supply since the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyRow {
    pub item: String,
    pub minted: i64,
    pub burned: i64,
    /// `minted - burned`.
    pub in_circulation: i64,
}

/// An item changing hands in settled trades in an hour (`item = *`: the number of trades).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeVolumeRow {
    pub hour: i64,
    pub item: String,
    pub qty: i64,
    pub trades: i64,
}

/// XP gained in a skill in an hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XpRow {
    pub hour: i64,
    pub skill: String,
    pub xp: i64,
}

/// Appends the conditions of `hours`, and `column = only` when given.
fn within(q: &mut Select, hours: Hours, column: &str, only: Option<&str>) {
    if let Some(from) = hours.from {
        q.push(" AND hour >= ").int(from - from.rem_euclid(3600));
    }
    if let Some(to) = hours.to {
        q.push(" AND hour < ").int(to);
    }
    if let Some(only) = only {
        q.push(&format!(" AND {column} = ")).text(only);
    }
}

/// At most `limit` rows of `rm_economy_hourly` in `hours` (of the item `item` when given), by
/// hour, item, flow and reason.
pub async fn flows(
    db: &ReadDb,
    hours: Hours,
    item: Option<&str>,
    limit: i64,
) -> Result<Vec<FlowRow>> {
    let mut q =
        Select::new("SELECT hour, item, flow, reason, qty FROM rm_economy_hourly WHERE 1 = 1");
    within(&mut q, hours, "item", item);
    q.push(" ORDER BY hour, item, flow, reason LIMIT ")
        .int(limit);
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(FlowRow {
                hour: r.try_get("hour")?,
                item: r.try_get("item")?,
                flow: r.try_get("flow")?,
                reason: r.try_get("reason")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect()
}

/// At most `limit` items' supply (only `item` when given), by item.
pub async fn supply(db: &ReadDb, item: Option<&str>, limit: i64) -> Result<Vec<SupplyRow>> {
    let mut q = Select::new(
        "SELECT item, minted, burned, minted - burned AS in_circulation FROM rm_item_supply \
         WHERE 1 = 1",
    );
    if let Some(item) = item {
        q.push(" AND item = ").text(item);
    }
    q.push(" ORDER BY item LIMIT ").int(limit);
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(SupplyRow {
                item: r.try_get("item")?,
                minted: r.try_get("minted")?,
                burned: r.try_get("burned")?,
                in_circulation: r.try_get("in_circulation")?,
            })
        })
        .collect()
}

/// At most `limit` rows of `rm_trade_hourly` in `hours` (of the item `item` when given), by hour
/// and item.
pub async fn trade_volume(
    db: &ReadDb,
    hours: Hours,
    item: Option<&str>,
    limit: i64,
) -> Result<Vec<TradeVolumeRow>> {
    let mut q = Select::new("SELECT hour, item, qty, trades FROM rm_trade_hourly WHERE 1 = 1");
    within(&mut q, hours, "item", item);
    q.push(" ORDER BY hour, item LIMIT ").int(limit);
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(TradeVolumeRow {
                hour: r.try_get("hour")?,
                item: r.try_get("item")?,
                qty: r.try_get("qty")?,
                trades: r.try_get("trades")?,
            })
        })
        .collect()
}

/// At most `limit` rows of `rm_xp_hourly` in `hours` (of the skill `skill` when given), by hour
/// and skill.
pub async fn xp(db: &ReadDb, hours: Hours, skill: Option<&str>, limit: i64) -> Result<Vec<XpRow>> {
    let mut q = Select::new("SELECT hour, skill, xp FROM rm_xp_hourly WHERE 1 = 1");
    within(&mut q, hours, "skill", skill);
    q.push(" ORDER BY hour, skill LIMIT ").int(limit);
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(XpRow {
                hour: r.try_get("hour")?,
                skill: r.try_get("skill")?,
                xp: r.try_get("xp")?,
            })
        })
        .collect()
}
