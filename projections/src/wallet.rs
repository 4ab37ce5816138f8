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

use crate::flows::{COINS, holding_changes, player};
use crate::fold::{Projection, RowOp, TableDef, Value};
use loh_events::{EventBody, StoredEvent};
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

    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        let body = event.body()?;
        let mut ops = Vec::new();
        for (id, (amount, reason)) in coin_changes(&body) {
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
