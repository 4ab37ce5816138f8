//! The `wallet` read model: each player's coins (inventory and bank together) and a ledger of
//! every change.
//!
//! Tables (migration `0005_read_models.sql`):
//! - `rm_wallet (player_id, currency, balance)`.
//! - `rm_wallet_ledger (player_id, position, currency, amount, reason, balance_after,
//!   occurred_at_us)`: one row per event that changed the balance (`position` is the event's
//!   position in the log; `amount` is the net change; `reason` the mint source, the burn sink or
//!   the move: `trade`, `dropped`, `picked_up`, `death`, …).
//!
//! The only currency of the event vocabulary is the `coins` item; a premium currency would be a
//! new `currency` value fed by its own events (none exist yet).
//!
//! Reads: [`balances`], [`ledger`] (newest first, by keyset).

use crate::Result;
use crate::db::ReadDb;
use crate::flows::{COINS, holding_changes, player};
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::select::Select;
use loh_events::{EventBody, StoredEvent};
use sqlx::Row;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Balances.
pub const WALLET: TableDef = TableDef {
    name: "rm_wallet",
    key: &["player_id", "currency"],
    columns: &["player_id", "currency", "balance"],
    ddl: "(player_id TEXT NOT NULL, currency TEXT NOT NULL, balance BIGINT NOT NULL DEFAULT 0, \
          PRIMARY KEY (player_id, currency))",
    indexes: &[],
};

/// Every change of a balance.
pub const LEDGER: TableDef = TableDef {
    name: "rm_wallet_ledger",
    key: &["player_id", "position", "currency"],
    columns: &[
        "player_id",
        "position",
        "currency",
        "amount",
        "reason",
        "balance_after",
        "occurred_at_us",
    ],
    ddl: "(player_id TEXT NOT NULL, position BIGINT NOT NULL, currency TEXT NOT NULL, \
          amount BIGINT NOT NULL, reason TEXT NOT NULL, balance_after BIGINT NOT NULL, \
          occurred_at_us BIGINT NOT NULL, PRIMARY KEY (player_id, position, currency))",
    indexes: &[],
};

/// The net coin change of each player in `body`, with its reason.
pub fn coin_changes(body: &EventBody) -> BTreeMap<Uuid, (i64, String)> {
    let mut out: BTreeMap<Uuid, (i64, String)> = BTreeMap::new();
    for c in holding_changes(body) {
        if c.item == COINS {
            let entry = out.entry(c.player_id).or_insert((0, c.reason.clone()));
            entry.0 += c.qty;
        }
    }
    if let EventBody::PlayerDied {
        player_id, dropped, ..
    } = body
    {
        // The dropped stacks are the inventory's and the equipment's; coins are never worn.
        let coins: i64 = dropped
            .iter()
            .filter(|g| g.item == COINS)
            .map(|g| i64::from(g.qty))
            .sum();
        if coins != 0 {
            out.insert(*player_id, (-coins, "death".into()));
        }
    }
    // Moves between the inventory and the bank do not change what a player owns.
    out.retain(|_, (amount, _)| *amount != 0);
    out
}

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wallet;

impl Wallet {
    pub const NAME: &'static str = "wallet";
}

impl Projection for Wallet {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[WALLET, LEDGER]
    }

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let mut ops = Vec::new();
        for (id, (amount, reason)) in coin_changes(body) {
            ops.push(RowOp::Increment {
                table: WALLET.name,
                key: vec![("player_id", player(id)), ("currency", Value::text(COINS))],
                column: "balance",
                by: amount,
            });
            ops.push(RowOp::Statement {
                table: LEDGER.name,
                sql: "INSERT INTO {rm_wallet_ledger} (player_id, position, currency, amount, \
                      reason, balance_after, occurred_at_us) \
                      SELECT player_id, $2, currency, $3, $4, balance, $5 FROM {rm_wallet} \
                      WHERE player_id = $1 AND currency = 'coins' \
                      ON CONFLICT (player_id, position, currency) DO NOTHING",
                values: vec![
                    player(id),
                    Value::int(event.position as i64),
                    Value::int(amount),
                    Value::text(reason),
                    Value::int(event.occurred_at_us),
                ],
            });
        }
        Ok(ops)
    }
}

/// A balance of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub currency: String,
    pub balance: i64,
}

/// One change of a balance (a row of `rm_wallet_ledger`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The position of the event that made the change.
    pub position: i64,
    pub currency: String,
    /// Signed amount.
    pub amount: i64,
    /// The mint source, burn sink or move (`shop`, `trade`, `dropped`, `picked_up`, `death`, …).
    pub reason: String,
    pub balance_after: i64,
    pub occurred_at_us: i64,
}

/// The balances of `player_id`, by currency (a player who never held coins has none).
pub async fn balances(db: &ReadDb, player_id: Uuid) -> Result<Vec<Balance>> {
    let rows = sqlx::query(
        "SELECT currency, balance FROM rm_wallet WHERE player_id = $1 ORDER BY currency",
    )
    .bind(player_id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Balance {
                currency: r.try_get("currency")?,
                balance: r.try_get("balance")?,
            })
        })
        .collect()
}

/// At most `limit` changes of `player_id`'s balances, newest first; only those before position
/// `before` when given (the keyset of the next page).
pub async fn ledger(
    db: &ReadDb,
    player_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LedgerRow>> {
    let mut q = Select::new(
        "SELECT position, currency, amount, reason, balance_after, occurred_at_us \
         FROM rm_wallet_ledger WHERE player_id = ",
    );
    q.text(player_id.to_string());
    if let Some(position) = before {
        q.push(" AND position < ").int(position);
    }
    q.push(" ORDER BY position DESC LIMIT ").int(limit);
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(LedgerRow {
                position: r.try_get("position")?,
                currency: r.try_get("currency")?,
                amount: r.try_get("amount")?,
                reason: r.try_get("reason")?,
                balance_after: r.try_get("balance_after")?,
                occurred_at_us: r.try_get("occurred_at_us")?,
            })
        })
        .collect()
}
