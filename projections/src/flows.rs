//! What an event does to items, described once for every read model that counts them.
//!
//! The rules mirror the world's `apply` (`loh-world`): [`mints_and_burns`] is the value ledger's
//! view (value entering and leaving the game), written once in [`loh_events::value`] for the
//! world, this crate and the replay tools; [`holding_changes`] a player's inventory and bank
//! counts.

use crate::fold::Value;
use loh_events::{EventBody, StoredEvent};
use uuid::Uuid;

pub use loh_events::value::{BOND, COINS, Flow, mints_and_burns};

/// A change of one player's count of one item in one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub player_id: Uuid,
    /// `inventory` or `bank`.
    pub container: &'static str,
    pub item: String,
    /// Signed quantity.
    pub qty: i64,
    /// Why: the mint's source, the burn's sink, or the move (`bank`, `trade`, `dropped`, …).
    pub reason: String,
}

fn change(player_id: Uuid, container: &'static str, item: &str, qty: i64, reason: &str) -> Change {
    Change {
        player_id,
        container,
        item: item.to_owned(),
        qty,
        reason: reason.to_owned(),
    }
}

/// The inventory and bank changes of `body`, in order. Worn items and a PvP death's drained
/// inventory are not here (they need the read model's current rows; see `holdings`).
pub fn holding_changes(body: &EventBody) -> Vec<Change> {
    const INV: &str = "inventory";
    match body {
        EventBody::ItemsMinted {
            player_id,
            item,
            qty,
            source,
        } => vec![change(*player_id, INV, item, (*qty).into(), source)],
        EventBody::ItemsBurned {
            player_id,
            item,
            qty,
            sink,
            ..
        } => vec![change(*player_id, INV, item, -i64::from(*qty), sink)],
        EventBody::ItemDropped {
            player_id, ground, ..
        } => vec![change(
            *player_id,
            INV,
            &ground.item,
            -i64::from(ground.qty),
            "dropped",
        )],
        EventBody::ItemPickedUp {
            player_id,
            item,
            qty,
            ..
        } => vec![change(*player_id, INV, item, (*qty).into(), "picked_up")],
        EventBody::BankDeposited {
            player_id,
            item,
            qty,
            ..
        } => vec![
            change(*player_id, INV, item, -i64::from(*qty), "bank"),
            change(*player_id, "bank", item, (*qty).into(), "bank"),
        ],
        EventBody::BankWithdrawn {
            player_id,
            item,
            qty,
        } => vec![
            change(*player_id, "bank", item, -i64::from(*qty), "bank"),
            change(*player_id, INV, item, (*qty).into(), "bank"),
        ],
        EventBody::ItemEquipped {
            player_id, item, ..
        } => vec![change(*player_id, INV, item, -1, "equipped")],
        EventBody::ItemUnequipped {
            player_id, item, ..
        } => vec![change(*player_id, INV, item, 1, "unequipped")],
        EventBody::ResourceGathered {
            player_id, item, ..
        } => vec![change(*player_id, INV, item, 1, "gather")],
        EventBody::ItemsProduced {
            player_id,
            consumed,
            produced,
            ..
        } => consumed
            .iter()
            .map(|s| change(*player_id, INV, &s.item, -i64::from(s.qty), "craft"))
            .chain(
                produced
                    .iter()
                    .map(|s| change(*player_id, INV, &s.item, s.qty.into(), "craft")),
            )
            .collect(),
        EventBody::ShopBought {
            player_id,
            item,
            qty,
            price,
            ..
        } => vec![
            change(*player_id, INV, COINS, -i64::from(*price), "shop"),
            change(*player_id, INV, item, (*qty).into(), "shop"),
        ],
        EventBody::ShopSold {
            player_id,
            item,
            qty,
            price,
            ..
        } => vec![
            change(*player_id, INV, item, -i64::from(*qty), "shop"),
            change(*player_id, INV, COINS, (*price).into(), "shop"),
        ],
        EventBody::PurchaseCredited {
            player_id, bonds, ..
        }
        | EventBody::PurchaseReinstated {
            player_id, bonds, ..
        } if *bonds > 0 => vec![change(
            *player_id,
            "bank",
            BOND,
            (*bonds).into(),
            "purchase",
        )],
        EventBody::BondRedeemed { player_id, .. } => {
            vec![change(*player_id, INV, BOND, -1, "redeem")]
        }
        EventBody::BondsClawedBack {
            player_id,
            bank,
            inventory,
            ..
        } => {
            let mut out = Vec::new();
            if *bank > 0 {
                out.push(change(
                    *player_id,
                    "bank",
                    BOND,
                    -i64::from(*bank),
                    "refund",
                ));
            }
            let inv: i64 = inventory.iter().map(|s| i64::from(s.qty)).sum();
            if inv > 0 {
                out.push(change(*player_id, INV, BOND, -inv, "refund"));
            }
            out
        }
        EventBody::TradeSettled {
            player_id,
            with,
            gave,
            got,
        } => {
            let mut out = Vec::new();
            for (id, given, taken) in [(player_id, gave, got), (with, got, gave)] {
                for s in given {
                    out.push(change(*id, INV, &s.item, -i64::from(s.qty), "trade"));
                }
                for s in taken {
                    out.push(change(*id, INV, &s.item, s.qty.into(), "trade"));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// A player id as a key value.
pub fn player(id: Uuid) -> Value {
    Value::text(id.to_string())
}

/// The start of the UTC hour the event occurred in, in Unix seconds.
pub fn hour_of(event: &StoredEvent) -> i64 {
    let seconds = event.occurred_at_us.div_euclid(1_000_000);
    seconds - seconds.rem_euclid(3600)
}
