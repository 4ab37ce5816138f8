//! Bank: deposit, withdraw, deposit-all next to a bank booth; every item stacks; capacity is a
//! number of distinct items that follows the membership tier (a lapsed member's bank keeps all
//! it holds, and takes nothing new while over the free size).

use super::inventory::slot_of;
use super::{Decision, MAX_STACK, Player, REACH, Rejection, World};
use crate::content::ObjectKind;
use loh_commands::RejectionCode as Code;
use loh_events::EventBody;
use uuid::Uuid;

/// Distinct items a free player's bank holds.
pub const BANK_FREE: usize = 400;
/// Distinct items a member's bank holds.
pub const BANK_MEMBERS: usize = 800;
/// Distinct items a premium member's bank holds.
pub const BANK_PREMIUM: usize = 1_200;

impl World {
    fn near_bank(&self, p: &Player) -> Result<(), Rejection> {
        let near = self
            .content
            .objects_near(ObjectKind::Bank, p.x, p.y, REACH, self.rules)
            .next()
            .is_some();
        self.rule(near, Code::NotInRange, "no bank within reach")
    }

    fn bank_room(
        &self,
        p: &Player,
        item: &str,
        qty: u32,
        new_items: &mut usize,
    ) -> Result<(), Rejection> {
        let have = p.bank.get(item).copied();
        if have.is_none() {
            let cap = crate::membership::bank_capacity(p.tier);
            self.rule(
                p.bank.len() + *new_items < cap,
                Code::BankFull,
                format!("the bank holds {cap} distinct items"),
            )?;
            *new_items += 1;
        }
        let total = have
            .unwrap_or(0)
            .checked_add(qty)
            .filter(|q| *q <= MAX_STACK);
        self.rule(
            total.is_some(),
            Code::StackFull,
            format!("a bank stack holds at most {MAX_STACK}"),
        )
    }

    pub(super) fn decide_deposit(
        &self,
        player_id: Uuid,
        p: &Player,
        slot: u8,
        qty: u32,
    ) -> Decision {
        self.near_bank(p)?;
        let s = slot_of(p, slot)?;
        let qty = if qty == 0 { s.qty } else { qty.min(s.qty) };
        self.bank_room(p, &s.item, qty, &mut 0)?;
        Ok(vec![EventBody::BankDeposited {
            player_id,
            slot,
            item: s.item.clone(),
            qty,
        }])
    }

    pub(super) fn decide_deposit_all(&self, player_id: Uuid, p: &Player) -> Decision {
        self.near_bank(p)?;
        let mut events = Vec::new();
        let mut new_items = 0;
        let mut pending: Vec<(&str, u32)> = Vec::new();
        for (slot, s) in p.inventory.slots() {
            let before = pending
                .iter()
                .filter(|(i, _)| *i == s.item)
                .map(|(_, q)| *q)
                .sum::<u32>();
            let fresh = !p.bank.contains_key(&s.item) && before == 0;
            let mut probe = new_items;
            if fresh {
                self.bank_room(p, &s.item, s.qty, &mut probe)?;
            }
            let total = p
                .bank
                .get(&s.item)
                .copied()
                .unwrap_or(0)
                .checked_add(before)
                .and_then(|q| q.checked_add(s.qty));
            self.rule(
                total.is_some_and(|t| t <= MAX_STACK),
                Code::StackFull,
                "a bank stack would pass the maximum",
            )?;
            new_items = probe;
            pending.push((&s.item, s.qty));
            events.push(EventBody::BankDeposited {
                player_id,
                slot,
                item: s.item.clone(),
                qty: s.qty,
            });
        }
        self.rule(
            !events.is_empty(),
            Code::EmptyInventory,
            "nothing to deposit",
        )?;
        Ok(events)
    }

    pub(super) fn decide_withdraw(
        &self,
        player_id: Uuid,
        p: &Player,
        item: &str,
        qty: u32,
    ) -> Decision {
        self.near_bank(p)?;
        let have = p.bank.get(item).copied().unwrap_or(0);
        // Only a known item is named back: a rejection never echoes a client's string.
        let message = match self.content.item(item) {
            Some(_) => format!("no {item} in the bank"),
            None => "that item is not in the bank".to_owned(),
        };
        self.rule(have > 0, Code::NotInBank, message)?;
        let qty = qty.min(have);
        self.rule(
            p.inventory.room_for(&self.content, item, qty),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(vec![EventBody::BankWithdrawn {
            player_id,
            item: item.to_owned(),
            qty,
        }])
    }

    pub(super) fn apply_bank(&mut self, body: &EventBody) {
        let content = self.content.clone();
        match body {
            EventBody::BankDeposited {
                player_id,
                slot,
                item,
                qty,
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.take_from(*slot, *qty);
                    let s = p.bank.entry(item.clone()).or_default();
                    *s = s.saturating_add(*qty);
                }
            }
            EventBody::BankWithdrawn {
                player_id,
                item,
                qty,
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    if let Some(s) = p.bank.get_mut(item) {
                        *s -= (*qty).min(*s);
                        if *s == 0 {
                            p.bank.remove(item);
                        }
                    }
                    p.inventory.add(&content, item, *qty);
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

    const BANK: (i32, i32) = (3227, 3225);

    #[test]
    fn depositing_away_from_a_bank_is_not_in_range() {
        let t = Given::new().player(A);
        assert_eq!(t.rejects(A, Command::BankDepositAll), "not_in_range");
    }

    #[test]
    fn deposit_all_then_withdraw_moves_items_and_keeps_value() {
        let mut t = Given::new().player(A).at(A, BANK);
        t.when(A, Command::BankDepositAll).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(p.inventory.free_slots(), 28);
        assert_eq!(p.bank.get("bread"), Some(&2));
        assert_eq!(p.bank.get("coins"), Some(&25));
        t.when(
            A,
            Command::BankWithdraw {
                item: "coins".into(),
                qty: 10,
            },
        )
        .unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!((p.bank["coins"], p.inventory.count("coins")), (15, 10));
        t.assert_conserved();
    }

    #[test]
    fn withdrawing_more_unstackables_than_free_slots_is_inventory_full() {
        let mut t = Given::new().player(A).at(A, BANK).minted(A, "logs", 21);
        t.when(A, Command::BankDeposit { slot: 7, qty: 0 }).unwrap();
        t = t.minted(A, "logs", 1);
        assert_eq!(
            t.rejects(
                A,
                Command::BankWithdraw {
                    item: "logs".into(),
                    qty: 1
                }
            ),
            "inventory_full"
        );
    }

    #[test]
    fn a_free_bank_holds_four_hundred_distinct_items() {
        let mut t = Given::new().player(A).at(A, BANK);
        let p = t.world.players.get_mut(&A).unwrap();
        for i in 0..super::BANK_FREE {
            p.bank.insert(format!("x{i}"), 1);
        }
        assert_eq!(
            t.rejects(A, Command::BankDeposit { slot: 0, qty: 0 }),
            "bank_full"
        );
        t = t.member(A);
        t.when(A, Command::BankDeposit { slot: 0, qty: 0 }).unwrap();
    }
}
