//! The `holdings` read model: what each player holds in the inventory and the bank, and wears.
//!
//! Tables (migration `0005_read_models.sql`):
//! - `rm_holdings (player_id, container, item, qty)`: `container` is `inventory` or `bank`; one
//!   row per item held (a row reaching 0 is deleted). The inventory is counted per item, not per
//!   slot: which of the 28 slots a mint lands in depends on the item's stackability (content
//!   data) and the current layout, which a pure row fold cannot know; the game client has the
//!   live layout.
//! - `rm_equipment (player_id, equip_slot, item)`: one row per worn item.
//!
//! Reads: [`stacks`] (a container's items), [`worn`] (the equipment).

use crate::Result;
use crate::db::ReadDb;
use crate::flows::{holding_changes, player};
use crate::fold::{Projection, RowOp, TableDef, Value};
use loh_events::{EquipSlot, EventBody, StoredEvent};
use sqlx::Row;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Inventory and bank counts.
pub const HOLDINGS: TableDef = TableDef {
    name: "rm_holdings",
    key: &["player_id", "container", "item"],
    columns: &["player_id", "container", "item", "qty"],
    ddl: "(player_id TEXT NOT NULL, container TEXT NOT NULL, item TEXT NOT NULL, \
          qty BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (player_id, container, item))",
    indexes: &[],
};

/// Worn items.
pub const EQUIPMENT: TableDef = TableDef {
    name: "rm_equipment",
    key: &["player_id", "equip_slot"],
    columns: &["player_id", "equip_slot", "item"],
    ddl: "(player_id TEXT NOT NULL, equip_slot TEXT NOT NULL, item TEXT NOT NULL, \
          PRIMARY KEY (player_id, equip_slot))",
    indexes: &[],
};

/// The name of an equipment slot (`head`, `weapon`, …), as in the protocol.
pub fn slot_name(slot: EquipSlot) -> String {
    serde_json::to_value(slot)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holdings;

impl Holdings {
    pub const NAME: &'static str = "holdings";
}

impl Projection for Holdings {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[HOLDINGS, EQUIPMENT]
    }

    fn fold(&self, _event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let mut ops = Vec::new();
        let mut emptied = BTreeSet::new();
        for c in holding_changes(body) {
            if c.qty < 0 {
                emptied.insert(c.player_id);
            }
            ops.push(RowOp::Increment {
                table: HOLDINGS.name,
                key: vec![
                    ("player_id", player(c.player_id)),
                    ("container", Value::text(c.container)),
                    ("item", Value::text(c.item)),
                ],
                column: "qty",
                by: c.qty,
            });
        }
        match &body {
            EventBody::ItemEquipped {
                player_id,
                item,
                equip_slot,
                ..
            } => {
                // What was worn in the slot goes back to the inventory.
                ops.push(RowOp::Statement {
                    table: HOLDINGS.name,
                    sql: "INSERT INTO {rm_holdings} (player_id, container, item, qty) \
                          SELECT player_id, 'inventory', item, 1 FROM {rm_equipment} \
                          WHERE player_id = $1 AND equip_slot = $2 \
                          ON CONFLICT (player_id, container, item) \
                          DO UPDATE SET qty = {rm_holdings}.qty + excluded.qty",
                    values: vec![player(*player_id), Value::text(slot_name(*equip_slot))],
                });
                ops.push(RowOp::Upsert {
                    table: EQUIPMENT.name,
                    key: vec![
                        ("player_id", player(*player_id)),
                        ("equip_slot", Value::text(slot_name(*equip_slot))),
                    ],
                    values: vec![("item", Value::text(item.clone()))],
                });
            }
            EventBody::ItemUnequipped {
                player_id,
                equip_slot,
                ..
            } => ops.push(RowOp::Delete {
                table: EQUIPMENT.name,
                key: vec![
                    ("player_id", player(*player_id)),
                    ("equip_slot", Value::text(slot_name(*equip_slot))),
                ],
            }),
            // A death that drops (PvP) or leaves a grave empties the inventory and the
            // equipment; what the player kept comes back into the inventory.
            EventBody::PlayerDied {
                player_id,
                dropped,
                kept,
                ..
            } if !dropped.is_empty() || !kept.is_empty() => {
                ops.push(RowOp::Delete {
                    table: HOLDINGS.name,
                    key: vec![
                        ("player_id", player(*player_id)),
                        ("container", Value::text("inventory")),
                    ],
                });
                ops.push(RowOp::Delete {
                    table: EQUIPMENT.name,
                    key: vec![("player_id", player(*player_id))],
                });
                for k in kept {
                    ops.push(RowOp::Increment {
                        table: HOLDINGS.name,
                        key: vec![
                            ("player_id", player(*player_id)),
                            ("container", Value::text("inventory")),
                            ("item", Value::text(k.item.clone())),
                        ],
                        column: "qty",
                        by: i64::from(k.qty),
                    });
                }
            }
            _ => {}
        }
        for id in emptied {
            ops.push(RowOp::Statement {
                table: HOLDINGS.name,
                sql: "DELETE FROM {rm_holdings} WHERE player_id = $1 AND qty = 0",
                values: vec![player(id)],
            });
        }
        Ok(ops)
    }
}

/// Where a player keeps items (the `container` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Inventory,
    Bank,
}

impl Container {
    /// The stored name: `inventory` or `bank`.
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Inventory => "inventory",
            Container::Bank => "bank",
        }
    }
}

/// A count of one item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Stack {
    pub item: String,
    pub qty: i64,
}

/// A worn item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worn {
    /// `head`, `cape`, `neck`, `ammo`, `weapon`, `body`, `shield`, `legs`, `hands`, `feet`, `ring`.
    pub slot: String,
    pub item: String,
}

/// What `player_id` keeps in `container`, per item, by item name.
pub async fn stacks(db: &ReadDb, player_id: Uuid, container: Container) -> Result<Vec<Stack>> {
    let rows = sqlx::query(
        "SELECT item, qty FROM rm_holdings WHERE player_id = $1 AND container = $2 ORDER BY item",
    )
    .bind(player_id.to_string())
    .bind(container.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stack {
                item: r.try_get("item")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect()
}

/// What `player_id` wears, by slot name.
pub async fn worn(db: &ReadDb, player_id: Uuid) -> Result<Vec<Worn>> {
    let rows = sqlx::query(
        "SELECT equip_slot, item FROM rm_equipment WHERE player_id = $1 ORDER BY equip_slot",
    )
    .bind(player_id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Worn {
                slot: r.try_get("equip_slot")?,
                item: r.try_get("item")?,
            })
        })
        .collect()
}
