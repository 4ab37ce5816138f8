//! Shops: buy at an item's value, sell at 40% of it, for coins (an item). A purchase burns
//! coins (sink `shop`) and mints the item (source `shop`); a sale the reverse.

use super::inventory::slot_of;
use super::{COINS, Decision, MAX_STACK, Player, REACH, Rejection, World};
use crate::content::{ObjectKind, ShopDef};
use loh_commands::RejectionCode as Code;
use loh_events::EventBody;
use uuid::Uuid;

/// Percent of an item's value a shop pays.
pub const SELL_PERCENT: u64 = 40;

impl World {
    fn shop_near(&self, p: &Player, shop: &str) -> Result<&ShopDef, Rejection> {
        let def = self
            .content
            .shops
            .get(shop)
            .ok_or_else(|| Rejection::new(Code::NoSuchShop, "no such shop"))?;
        let near = self
            .content
            .objects_near(ObjectKind::Shop, p.x, p.y, REACH + 1)
            .any(|o| o.shop.as_deref() == Some(shop));
        self.rule(
            near,
            Code::NotInRange,
            format!("{} is not within reach", def.name),
        )?;
        Ok(def)
    }

    pub(super) fn decide_buy(
        &self,
        player_id: Uuid,
        p: &Player,
        shop: &str,
        item: &str,
        qty: u32,
    ) -> Decision {
        let def = self.shop_near(p, shop)?;
        self.rule(
            def.stock.iter().any(|i| i == item),
            Code::NotInStock,
            // Only a known item is named back.
            match self.content.item(item) {
                Some(_) => format!("{} does not sell {item}", def.name),
                None => format!("{} does not sell that", def.name),
            },
        )?;
        self.members_item(p, item)?;
        let value = self.content.item(item).map_or(0, |d| d.value);
        let price = u64::from(value) * u64::from(qty);
        let price = u32::try_from(price)
            .ok()
            .filter(|p| *p <= MAX_STACK)
            .ok_or_else(|| {
                Rejection::new(Code::BadQuantity, "that costs more coins than can exist")
            })?;
        self.rule(
            p.has(COINS, price),
            Code::NotEnoughCoins,
            format!("{qty} {item} cost {price} coins"),
        )?;
        // Room after paying: the coin stack may empty and free its slot.
        let mut after = p.inventory.clone();
        after.remove(COINS, price);
        self.rule(
            after.room_for(&self.content, item, qty),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(vec![EventBody::ShopBought {
            player_id,
            shop: shop.to_owned(),
            item: item.to_owned(),
            qty,
            price,
        }])
    }

    pub(super) fn decide_sell(
        &self,
        player_id: Uuid,
        p: &Player,
        shop: &str,
        slot: u8,
        qty: u32,
    ) -> Decision {
        self.shop_near(p, shop)?;
        let s = slot_of(p, slot)?;
        self.rule(s.item != COINS, Code::NotSellable, "shops do not buy coins")?;
        self.rule(
            s.item != loh_events::value::BOND,
            Code::NotSellable,
            "shops do not buy bonds",
        )?;
        let qty = if qty == 0 { s.qty } else { qty.min(s.qty) };
        let value = self.content.item(&s.item).map_or(0, |d| d.value);
        let price = u64::from(value) * u64::from(qty) * SELL_PERCENT / 100;
        let price = u32::try_from(price).unwrap_or(MAX_STACK).min(MAX_STACK);
        let mut after = p.inventory.clone();
        after.take_from(slot, qty);
        self.rule(
            after.room_for(&self.content, COINS, price),
            Code::InventoryFull,
            "no room for the coins",
        )?;
        Ok(vec![EventBody::ShopSold {
            player_id,
            shop: shop.to_owned(),
            slot,
            item: s.item.clone(),
            qty,
            price,
        }])
    }

    pub(super) fn apply_shops(&mut self, body: &EventBody) {
        let content = self.content.clone();
        match body {
            EventBody::ShopBought {
                player_id,
                item,
                qty,
                price,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.remove(COINS, *price);
                    p.inventory.add(&content, item, *qty);
                }
            }
            EventBody::ShopSold {
                player_id,
                slot,
                qty,
                price,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.take_from(*slot, *qty);
                    p.inventory.add(&content, COINS, *price);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;

    const STORE: (i32, i32) = (3215, 3216);

    fn buy(item: &str, qty: u32) -> Command {
        Command::Buy {
            shop: "general_store".into(),
            item: item.into(),
            qty,
        }
    }

    #[test]
    fn buying_burns_coins_and_mints_the_item_with_the_shop_as_source_and_sink() {
        let mut t = Given::new().player(A).at(A, STORE);
        t.when(A, buy("chisel", 2)).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(
            (p.inventory.count("chisel"), p.inventory.count("coins")),
            (2, 23)
        );
        let l = t.world.ledger();
        assert_eq!(l.sinks[&("shop".to_owned(), "coins".to_owned())], 2);
        assert_eq!(l.sources[&("shop".to_owned(), "chisel".to_owned())], 2);
        t.assert_conserved();
    }

    #[test]
    fn buying_more_than_the_coins_allow_is_refused() {
        let t = Given::new().player(A).at(A, STORE);
        assert_eq!(t.rejects(A, buy("bronze_axe", 2)), "not_enough_coins");
        assert_eq!(t.rejects(A, buy("rune_scimitar", 1)), "not_in_stock");
        assert_eq!(t.rejects(A, buy("chisel", u32::MAX)), "bad_quantity");
    }

    #[test]
    fn selling_pays_forty_percent_and_far_from_the_keeper_is_not_in_range() {
        let mut t = Given::new().player(A).at(A, STORE);
        t.when(
            A,
            Command::Sell {
                shop: "general_store".into(),
                slot: 0,
                qty: 0,
            },
        )
        .unwrap();
        assert_eq!(t.world.player(A).unwrap().inventory.count("coins"), 25 + 6);
        t.assert_conserved();
        let t = Given::new().player(A);
        assert_eq!(t.rejects(A, buy("chisel", 1)), "not_in_range");
    }

    #[test]
    fn the_armoury_sells_members_items_only_to_members() {
        let t = Given::new()
            .player(A)
            .at(A, (3232, 3211))
            .minted(A, "coins", 1000);
        assert_eq!(
            t.rejects(
                A,
                Command::Buy {
                    shop: "armoury".into(),
                    item: "steel_sword".into(),
                    qty: 1
                }
            ),
            "members_only"
        );
    }
}
