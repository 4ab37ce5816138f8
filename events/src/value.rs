//! What each event mints and burns: value entering the game (with its source) and leaving it
//! (with its sink), written once for the world's ledger, the economy read model and
//! `loh replay scan` (ARCHITECTURE.md, invariant 7: at every position minted − burned = Σ
//! holdings).

use crate::EventBody;

/// The item id of coins, the currency.
pub const COINS: &str = "coins";

/// The item id of bonds: bought with real money (minted with source `purchase`, carrying the
/// Stripe event id), tradeable, redeemed for membership (sink `redeem`), clawed back by refunds
/// and disputes (sink `refund`).
pub const BOND: &str = "bond";

/// The sources an `ItemsMinted` may name; any other mint creates value from nothing (a finding
/// of `loh replay scan`).
pub const MINT_SOURCES: &[&str] = &["starter_kit", "purchase", "drop", "gather", "craft", "shop"];

/// Whether the item leaves the game (`burned`) or enters it (`minted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    Minted,
    Burned,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Minted => "minted",
            Flow::Burned => "burned",
        }
    }
}

/// Calls `f(flow, reason, item, qty)` for each mint (reason: its source) and burn (reason: its
/// sink) of `body`, in order. Events that only move value between holders call nothing.
pub fn for_each_flow<'a>(body: &'a EventBody, mut f: impl FnMut(Flow, &'a str, &'a str, u32)) {
    use Flow::{Burned, Minted};
    match body {
        EventBody::ItemsMinted {
            item, qty, source, ..
        } => f(Minted, source, item, *qty),
        EventBody::ItemsBurned {
            item, qty, sink, ..
        } => f(Burned, sink, item, *qty),
        EventBody::GroundItemDespawned { item, qty, .. } => f(Burned, "despawn", item, *qty),
        EventBody::ResourceGathered { item, .. } => f(Minted, "gather", item, 1),
        EventBody::ItemsProduced {
            consumed, produced, ..
        } => {
            for s in consumed {
                f(Burned, "craft", &s.item, s.qty);
            }
            for s in produced {
                f(Minted, "craft", &s.item, s.qty);
            }
        }
        EventBody::ShopBought {
            item, qty, price, ..
        } => {
            f(Burned, "shop", COINS, *price);
            f(Minted, "shop", item, *qty);
        }
        EventBody::ShopSold {
            item, qty, price, ..
        } => {
            f(Burned, "shop", item, *qty);
            f(Minted, "shop", COINS, *price);
        }
        EventBody::PurchaseCredited { bonds, .. } => f(Minted, "purchase", BOND, *bonds),
        EventBody::PurchaseReinstated { bonds, .. } if *bonds > 0 => {
            f(Minted, "purchase", BOND, *bonds)
        }
        EventBody::BondRedeemed { .. } => f(Burned, "redeem", BOND, 1),
        EventBody::BondsClawedBack {
            bank, inventory, ..
        } => {
            let qty = inventory.iter().fold(*bank, |n, s| n.saturating_add(s.qty));
            f(Burned, "refund", BOND, qty)
        }
        EventBody::NpcDied { loot, .. } => {
            for g in loot {
                f(Minted, "npc_drop", &g.item, g.qty);
            }
        }
        EventBody::CharacterDeparted { state, .. } => {
            for (item, qty) in state.items() {
                f(Burned, crate::hop::HOP, item, qty);
            }
        }
        EventBody::CharacterArrived { state, .. } => {
            for (item, qty) in state.items() {
                f(Minted, crate::hop::HOP, item, qty);
            }
        }
        _ => {}
    }
}

/// The mints and burns of `body` as `(flow, reason, item, qty)`, in order.
pub fn mints_and_burns(body: &EventBody) -> Vec<(Flow, &str, &str, u32)> {
    let mut out = Vec::new();
    for_each_flow(body, |flow, reason, item, qty| {
        out.push((flow, reason, item, qty))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ItemQty;
    use uuid::Uuid;

    #[test]
    fn a_shop_purchase_burns_the_price_in_coins_and_mints_the_item() {
        let body = EventBody::ShopBought {
            player_id: Uuid::nil(),
            shop: "general_store".into(),
            item: "bread".into(),
            qty: 2,
            price: 24,
        };
        assert_eq!(
            mints_and_burns(&body),
            [
                (Flow::Burned, "shop", COINS, 24),
                (Flow::Minted, "shop", "bread", 2)
            ]
        );
    }

    #[test]
    fn crafting_burns_its_inputs_before_minting_its_outputs() {
        let body = EventBody::ItemsProduced {
            player_id: Uuid::nil(),
            recipe: "smelt_bronze_bar".into(),
            consumed: vec![ItemQty {
                item: "copper_ore".into(),
                qty: 1,
            }],
            produced: vec![ItemQty {
                item: "bronze_bar".into(),
                qty: 1,
            }],
            skill: crate::Skill::Smithing,
            xp: 6,
        };
        let flows: Vec<Flow> = mints_and_burns(&body).iter().map(|f| f.0).collect();
        assert_eq!(flows, [Flow::Burned, Flow::Minted]);
    }

    #[test]
    fn a_purchase_mints_bonds_and_a_refund_burns_them() {
        let bought = EventBody::PurchaseCredited {
            player_id: Uuid::nil(),
            payment: "evt_1".into(),
            purchase: "pi_1".into(),
            product: "bonds_5".into(),
            bonds: 5,
        };
        assert_eq!(
            mints_and_burns(&bought),
            [(Flow::Minted, "purchase", BOND, 5)]
        );
        let refunded = EventBody::BondsClawedBack {
            player_id: Uuid::nil(),
            payment: "evt_2".into(),
            purchase: "pi_1".into(),
            bank: 2,
            inventory: vec![crate::SlotQty { slot: 3, qty: 1 }],
        };
        assert_eq!(
            mints_and_burns(&refunded),
            [(Flow::Burned, "refund", BOND, 3)]
        );
    }

    #[test]
    fn a_move_between_holders_mints_and_burns_nothing() {
        let body = EventBody::BankDeposited {
            player_id: Uuid::nil(),
            slot: 0,
            item: "logs".into(),
            qty: 1,
        };
        assert!(mints_and_burns(&body).is_empty());
    }
}
