//! Shops: stock that sells out and restocks, and prices that move with it, for coins (an item).
//! A purchase burns coins (sink `shop`) and mints the item (source `shop`); a sale the reverse.
//!
//! Each shop holds each item it stocks up to a full stock (`shops.toml`); players buy what it
//! holds, and a shop takes any item but coins and bonds, which it then sells on. Every
//! `restock_ticks` each item below its full stock gains one, and each above it loses one, as in
//! OSRS (<https://oldschool.runescape.wiki/w/Shop#Stock>). A shop at its full stock sells at
//! the item's value and buys at 40% of it; each item fewer than full raises the price it sells
//! at by 3% of the value, and each more lowers both prices by 3%, never below 10% (the general
//! store's OSRS figures: sells at 100%, buys at 40%, changes 3% per item). A purchase or sale
//! of several is priced item by item, the stock moving with each.
//!
//! Under rules older than version 2 ([`crate::RULES`]) stock was unlimited and prices fixed
//! (the value; 40% of it for a sale): a log decided by them re-decides that way.

use super::inventory::slot_of;
use super::{COINS, Decision, MAX_STACK, Player, REACH, Rejection, World};
use crate::content::{ObjectKind, ShopDef};
use loh_commands::RejectionCode as Code;
use loh_events::EventBody;
use uuid::Uuid;

/// Percent of an item's value a shop at full stock pays.
pub const SELL_PERCENT: i64 = 40;
/// Percent of an item's value a shop at full stock asks.
pub const BUY_PERCENT: i64 = 100;
/// How far each item below or above the full stock moves a price, in percent of the value.
pub const CHANGE_PERCENT: i64 = 3;
/// The lowest price, in percent of the value.
pub const FLOOR_PERCENT: i64 = 10;

/// The sum of `max(FLOOR_PERCENT, first + step · k)` for `k` in `0..n` (`step` is ±3): the
/// percentages of value paid for `n` items priced one by one, in closed form (a stack can be
/// two billion items).
fn percent_sum(first: i64, step: i64, n: u64) -> i128 {
    let n = i128::from(n);
    let (first, step, floor) = (
        i128::from(first),
        i128::from(step),
        i128::from(FLOOR_PERCENT),
    );
    // Terms at or above the floor: the first `m` when falling, the last `n - m` when rising.
    let linear =
        |from: i128, count: i128| count * (first + step * from) + step * count * (count - 1) / 2;
    if step < 0 {
        // first + step·k ≥ floor  ⇔  k ≤ (first − floor) / |step|
        let m = if first < floor {
            0
        } else {
            ((first - floor) / -step + 1).min(n)
        };
        linear(0, m) + floor * (n - m)
    } else {
        // first + step·k < floor  ⇔  k < (floor − first) / step, rounded up
        let m = if first >= floor {
            0
        } else {
            ((floor - first + step - 1) / step).min(n)
        };
        floor * m + linear(m, n - m)
    }
}

/// Coins for buying `qty` of an item of `value` from a shop holding `stock` of a `full` stock.
pub fn buy_price(value: u32, full: u32, stock: u32, qty: u32) -> u128 {
    let first = BUY_PERCENT + CHANGE_PERCENT * (i64::from(full) - i64::from(stock));
    let percent = percent_sum(first, CHANGE_PERCENT, u64::from(qty));
    (i128::from(value) * percent / 100) as u128
}

/// Coins for selling `qty` of an item of `value` to a shop holding `stock` of a `full` stock.
pub fn sell_price(value: u32, full: u32, stock: u32, qty: u32) -> u128 {
    let first = SELL_PERCENT - CHANGE_PERCENT * (i64::from(stock) - i64::from(full));
    let percent = percent_sum(first, -CHANGE_PERCENT, u64::from(qty));
    (i128::from(value) * percent / 100) as u128
}

/// The first rules with shop stock ([`crate::RULES`]).
const STOCK_RULES: u32 = 2;

impl World {
    /// Whether shops have stock under the rules this world decides by.
    fn shops_have_stock(&self) -> bool {
        self.rules >= STOCK_RULES
    }

    /// How many of `item` `shop` holds now.
    pub fn shop_stock(&self, shop: &str, item: &str) -> u32 {
        match self.shop_stock.get(shop).and_then(|s| s.get(item)) {
            Some(stock) => *stock,
            None => self
                .content
                .shops
                .get(shop)
                .map_or(0, |d| d.full_stock(item)),
        }
    }

    /// The tile of `shop`'s keeper, where its stock changes are seen from.
    pub(crate) fn shop_tile(&self, shop: &str) -> Option<(i32, i32)> {
        self.content
            .objects
            .iter()
            .find(|o| o.kind == ObjectKind::Shop && o.shop.as_deref() == Some(shop))
            .map(|o| (o.x, o.y))
    }

    /// Every item whose stock is off its full stock moves one toward it, each shop every
    /// `restock_ticks` (flush phase).
    pub(super) fn restocks(&self) -> Vec<EventBody> {
        let mut events = Vec::new();
        for (shop, items) in &self.shop_stock {
            let Some(def) = self.content.shops.get(shop) else {
                continue;
            };
            if !self.tick.is_multiple_of(def.restock_ticks) {
                continue;
            }
            for (item, stock) in items {
                let full = def.full_stock(item);
                let stock = if *stock < full { stock + 1 } else { stock - 1 };
                events.push(EventBody::ShopStockChanged {
                    shop: shop.clone(),
                    item: item.clone(),
                    stock,
                });
            }
        }
        events
    }

    fn shop_near(&self, p: &Player, shop: &str) -> Result<&ShopDef, Rejection> {
        let def = self
            .content
            .shops
            .get(shop)
            .ok_or_else(|| Rejection::new(Code::NoSuchShop, "no such shop"))?;
        let near = self
            .content
            .objects_near(ObjectKind::Shop, p.x, p.y, REACH + 1, self.rules)
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
        if !self.shops_have_stock() {
            return self.decide_buy_unlimited(player_id, p, def, item, qty);
        }
        let stock = self.shop_stock(shop, item);
        self.rule(
            stock > 0,
            Code::NotInStock,
            // Only a known item is named back.
            match self.content.item(item) {
                Some(_) if def.full_stock(item) > 0 => {
                    format!("{} is sold out of {item}", def.name)
                }
                Some(_) => format!("{} does not sell {item}", def.name),
                None => format!("{} does not sell that", def.name),
            },
        )?;
        self.rule(
            qty <= stock,
            Code::NotInStock,
            format!("{} has only {stock} {item}", def.name),
        )?;
        self.members_item(p, item)?;
        let value = self.content.item(item).map_or(0, |d| d.value);
        let price = buy_price(value, def.full_stock(item), stock, qty);
        let price = self.affordable(p, item, qty, price)?;
        Ok(vec![
            EventBody::ShopBought {
                player_id,
                shop: shop.to_owned(),
                item: item.to_owned(),
                qty,
                price,
            },
            EventBody::ShopStockChanged {
                shop: shop.to_owned(),
                item: item.to_owned(),
                stock: stock - qty,
            },
        ])
    }

    /// `Buy` under the rules before shop stock: any quantity of a stocked item at its value.
    fn decide_buy_unlimited(
        &self,
        player_id: Uuid,
        p: &Player,
        def: &ShopDef,
        item: &str,
        qty: u32,
    ) -> Decision {
        self.rule(
            def.stock.iter().any(|i| i == item),
            Code::NotInStock,
            match self.content.item(item) {
                Some(_) => format!("{} does not sell {item}", def.name),
                None => format!("{} does not sell that", def.name),
            },
        )?;
        self.members_item(p, item)?;
        let value = self.content.item(item).map_or(0, |d| d.value);
        let price = u128::from(value) * u128::from(qty);
        let price = self.affordable(p, item, qty, price)?;
        Ok(vec![EventBody::ShopBought {
            player_id,
            shop: def.id.clone(),
            item: item.to_owned(),
            qty,
            price,
        }])
    }

    /// `price` as coins when it can exist, `p` has them, and `qty` of `item` fit once paid.
    fn affordable(&self, p: &Player, item: &str, qty: u32, price: u128) -> Result<u32, Rejection> {
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
        Ok(price)
    }

    pub(super) fn decide_sell(
        &self,
        player_id: Uuid,
        p: &Player,
        shop: &str,
        slot: u8,
        qty: u32,
    ) -> Decision {
        let def = self.shop_near(p, shop)?;
        let s = slot_of(p, slot)?;
        self.rule(s.item != COINS, Code::NotSellable, "shops do not buy coins")?;
        self.rule(
            s.item != loh_events::value::BOND,
            Code::NotSellable,
            "shops do not buy bonds",
        )?;
        let qty = if qty == 0 { s.qty } else { qty.min(s.qty) };
        let value = self.content.item(&s.item).map_or(0, |d| d.value);
        let stock = self.shop_stock(shop, &s.item);
        let price = if self.shops_have_stock() {
            sell_price(value, def.full_stock(&s.item), stock, qty)
        } else {
            u128::from(value) * u128::from(qty) * SELL_PERCENT as u128 / 100
        };
        let price = u32::try_from(price).unwrap_or(MAX_STACK).min(MAX_STACK);
        let mut after = p.inventory.clone();
        after.take_from(slot, qty);
        self.rule(
            after.room_for(&self.content, COINS, price),
            Code::InventoryFull,
            "no room for the coins",
        )?;
        let mut events = vec![EventBody::ShopSold {
            player_id,
            shop: shop.to_owned(),
            slot,
            item: s.item.clone(),
            qty,
            price,
        }];
        if self.shops_have_stock() {
            events.push(EventBody::ShopStockChanged {
                shop: shop.to_owned(),
                item: s.item.clone(),
                stock: stock.saturating_add(qty).min(MAX_STACK),
            });
        }
        Ok(events)
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
            EventBody::ShopStockChanged { shop, item, stock } => {
                let full = content.shops.get(shop).map_or(0, |d| d.full_stock(item));
                let items = self.shop_stock.entry(shop.clone()).or_default();
                if *stock == full {
                    items.remove(item);
                } else {
                    items.insert(item.clone(), *stock);
                }
                if items.is_empty() {
                    self.shop_stock.remove(shop);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::EventBody;

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
        // More than the shop holds.
        assert_eq!(t.rejects(A, buy("chisel", u32::MAX)), "not_in_stock");
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

    /// The prices item by item, as the closed form must give them.
    fn naive(value: u32, full: u32, stock: u32, qty: u32, buying: bool) -> u128 {
        let mut percent: i128 = 0;
        for k in 0..i64::from(qty) {
            let p = if buying {
                BUY_PERCENT + CHANGE_PERCENT * (i64::from(full) - (i64::from(stock) - k))
            } else {
                SELL_PERCENT - CHANGE_PERCENT * (i64::from(stock) + k - i64::from(full))
            };
            percent += i128::from(p.max(FLOOR_PERCENT));
        }
        (i128::from(value) * percent / 100) as u128
    }

    #[test]
    fn prices_in_closed_form_equal_prices_item_by_item() {
        for value in [0, 1, 7, 100, 2_147_483_647] {
            for full in [0, 1, 10, 30] {
                for stock in [0, 1, 5, 10, 29, 30, 31, 60] {
                    for qty in [0, 1, 2, 3, 9, 10, 40] {
                        if qty <= stock {
                            assert_eq!(
                                buy_price(value, full, stock, qty),
                                naive(value, full, stock, qty, true),
                                "buy {value} {full} {stock} {qty}"
                            );
                        }
                        assert_eq!(
                            sell_price(value, full, stock, qty),
                            naive(value, full, stock, qty, false),
                            "sell {value} {full} {stock} {qty}"
                        );
                    }
                }
            }
        }
        // At full stock: one item at its value, sold at 40%; a second costs 3% more.
        assert_eq!(buy_price(100, 10, 10, 1), 100);
        assert_eq!(buy_price(100, 10, 10, 2), 203);
        assert_eq!(sell_price(100, 10, 10, 1), 40);
        assert_eq!(
            sell_price(100, 0, 0, 20),
            10 * 20 + 3 * (10 + 9 + 8 + 7 + 6 + 5 + 4 + 3 + 2 + 1)
        );
    }

    #[test]
    fn a_shop_sells_out_and_restocks_one_item_at_a_time() {
        let mut t = Given::new()
            .player(A)
            .at(A, STORE)
            .minted(A, "coins", 10_000);
        // Ten axes at full stock, priced one by one as the stock falls.
        let events = t.when(A, buy("bronze_axe", 10)).unwrap();
        assert!(events.contains(&EventBody::ShopStockChanged {
            shop: "general_store".into(),
            item: "bronze_axe".into(),
            stock: 0,
        }));
        let value = t.world.content.item("bronze_axe").unwrap().value;
        let paid = events.iter().find_map(|e| match e {
            EventBody::ShopBought { price, .. } => Some(*price),
            _ => None,
        });
        assert_eq!(
            paid,
            Some(value * (100 + 103 + 106 + 109 + 112 + 115 + 118 + 121 + 124 + 127) / 100)
        );
        assert_eq!(t.world.shop_stock("general_store", "bronze_axe"), 0);
        assert_eq!(t.rejects(A, buy("bronze_axe", 1)), "not_in_stock");
        t.assert_conserved();

        // One comes back at the next restock tick (every 20), and the rest one a restock.
        let mut restocked = Vec::new();
        for _ in 0..40 {
            restocked.extend(t.run_ticks(1).into_iter().filter_map(|e| match e {
                EventBody::ShopStockChanged { stock, .. } => Some(stock),
                _ => None,
            }));
        }
        assert_eq!(restocked, [1, 2]);
        assert_eq!(t.world.shop_stock("general_store", "bronze_axe"), 2);
        t.when(A, buy("bronze_axe", 2)).unwrap();
    }

    #[test]
    fn what_players_sell_the_shop_sells_on_until_it_wears_off() {
        let mut t = Given::new().player(A).at(A, STORE).minted(A, "bones", 1);
        assert_eq!(t.rejects(A, buy("bones", 1)), "not_in_stock");
        t.when(
            A,
            Command::Sell {
                shop: "general_store".into(),
                slot: 7,
                qty: 0,
            },
        )
        .unwrap();
        assert_eq!(t.world.shop_stock("general_store", "bones"), 1);
        assert_eq!(
            t.world.event_tile(&EventBody::ShopStockChanged {
                shop: "general_store".into(),
                item: "bones".into(),
                stock: 1,
            }),
            Some((3215, 3215)),
            "the stock change is seen from the shop keeper's tile"
        );
        t.run_ticks(20);
        assert_eq!(t.world.shop_stock("general_store", "bones"), 0);
        assert_eq!(t.rejects(A, buy("bones", 1)), "not_in_stock");
        t.assert_conserved();
    }

    /// A log decided before shop stock re-decides as it was: unlimited stock at fixed prices.
    #[test]
    fn under_the_original_rules_stock_is_unlimited_and_prices_fixed() {
        let mut t = Given::new()
            .player(A)
            .at(A, STORE)
            .minted(A, "coins", 10_000);
        t.world.apply(&EventBody::RulesAdopted {
            rules: crate::ORIGINAL_RULES,
        });
        let value = t.world.content.item("bronze_axe").unwrap().value;
        let events = t.when(A, buy("bronze_axe", 15)).unwrap();
        assert_eq!(
            events,
            [EventBody::ShopBought {
                player_id: A,
                shop: "general_store".into(),
                item: "bronze_axe".into(),
                qty: 15,
                price: 15 * value,
            }]
        );
        assert_eq!(t.rejects(A, buy("bones", 1)), "not_in_stock");
        assert!(
            t.run_ticks(40)
                .iter()
                .all(|e| !matches!(e, EventBody::ShopStockChanged { .. }))
        );
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
