//! Where each purchase's bonds are now: bonds stack like any item, so the world keeps, beside
//! the stacks, which purchase each held bond came from ("lots", oldest first, per holder: a
//! player, or a ground item). A refund burns exactly that purchase's bonds from whoever holds
//! them after trades, drops and pick-ups ([`crate::payments`]).
//!
//! The payment events move lots themselves; after any other event that moves bonds, the lots of
//! the holders it names follow the counts: a holder with fewer bonds than lots gives its oldest
//! lots up, a holder with more takes them, in the event's order (a trade hands the giver's lots
//! to the receiver; a drop to the ground item; a pick-up back). Lots that leave every holder left
//! the game (despawned, sold, crafted). Folded from events only, like the rest of the state.

use super::World;
use loh_events::EventBody;
use loh_events::value::BOND;
use uuid::Uuid;

/// Who holds bonds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Holder {
    Player(Uuid),
    Ground(u64),
}

/// The holders whose bond count `body` may change (none when it moves no bond), payment events
/// aside.
fn bond_holders(body: &EventBody) -> Vec<Holder> {
    use Holder::{Ground, Player};
    let bond = |item: &str| item == BOND;
    match body {
        EventBody::ItemsMinted {
            player_id, item, ..
        }
        | EventBody::ItemsBurned {
            player_id, item, ..
        }
        | EventBody::ShopBought {
            player_id, item, ..
        }
        | EventBody::ShopSold {
            player_id, item, ..
        } if bond(item) => vec![Player(*player_id)],
        EventBody::ItemDropped {
            player_id, ground, ..
        } if bond(&ground.item) => vec![Player(*player_id), Ground(ground.ground_id)],
        EventBody::ItemPickedUp {
            player_id,
            ground_id,
            item,
            ..
        } if bond(item) => vec![Ground(*ground_id), Player(*player_id)],
        EventBody::GroundItemDespawned {
            ground_id, item, ..
        } if bond(item) => vec![Ground(*ground_id)],
        EventBody::TradeSettled {
            player_id,
            with,
            gave,
            got,
        } if gave.iter().chain(got).any(|s| bond(&s.item)) => {
            vec![Player(*player_id), Player(*with)]
        }
        EventBody::ItemsProduced {
            player_id,
            consumed,
            produced,
            ..
        } if consumed.iter().chain(produced).any(|s| bond(&s.item)) => vec![Player(*player_id)],
        EventBody::PlayerDied {
            player_id, dropped, ..
        } if dropped.iter().any(|g| bond(&g.item)) => std::iter::once(Player(*player_id))
            .chain(dropped.iter().map(|g| Ground(g.ground_id)))
            .collect(),
        // A character leaving the world takes its bonds out of it (their purchase stays behind).
        EventBody::CharacterDeparted {
            player_id, state, ..
        } if state.items().any(|(item, _)| bond(item)) => vec![Player(*player_id)],
        EventBody::NpcDied { loot, .. } if loot.iter().any(|g| bond(&g.item)) => {
            loot.iter().map(|g| Ground(g.ground_id)).collect()
        }
        _ => Vec::new(),
    }
}

impl World {
    /// Bonds `holder` holds now: inventory and bank, or the ground item.
    pub fn bond_count(&self, holder: Holder) -> u64 {
        match holder {
            Holder::Player(id) => self.players.get(&id).map_or(0, |p| {
                p.inventory.count(BOND) + u64::from(p.bank.get(BOND).copied().unwrap_or(0))
            }),
            Holder::Ground(id) => self
                .ground
                .get(&id)
                .filter(|g| g.item == BOND)
                .map_or(0, |g| u64::from(g.qty)),
        }
    }

    /// Who holds bonds of `purchase` now, and how many, by holder.
    pub fn bonds_of(&self, purchase: &str) -> Vec<(Holder, u32)> {
        self.payments
            .lots
            .iter()
            .filter_map(|(h, lots)| {
                let n: u32 = lots
                    .iter()
                    .filter(|(p, _)| p == purchase)
                    .map(|(_, q)| *q)
                    .sum();
                (n > 0).then_some((*h, n))
            })
            .collect()
    }

    fn lots_total(&self, holder: Holder) -> u64 {
        self.payments
            .lots
            .get(&holder)
            .map_or(0, |l| l.iter().map(|(_, q)| u64::from(*q)).sum())
    }

    pub(super) fn bond_lots_add(&mut self, holder: Holder, purchase: &str, qty: u32) {
        if qty == 0 {
            return;
        }
        let lots = self.payments.lots.entry(holder).or_default();
        match lots.last_mut() {
            Some((p, q)) if p == purchase => *q = q.saturating_add(qty),
            _ => lots.push((purchase.to_owned(), qty)),
        }
    }

    /// Takes `qty` bonds off `holder`'s oldest lots; the purchase of the last one taken.
    pub(super) fn bond_lots_take(&mut self, holder: Holder, qty: u32) -> Option<String> {
        let mut taken = self.take_lots(holder, u64::from(qty));
        taken.pop().map(|(p, _)| p)
    }

    /// Removes `qty` bonds of `purchase` from `holder`'s lots.
    pub(super) fn bond_lots_remove(&mut self, holder: Holder, purchase: &str, mut qty: u32) {
        let Some(lots) = self.payments.lots.get_mut(&holder) else {
            return;
        };
        for (p, q) in lots.iter_mut() {
            if p == purchase && qty > 0 {
                let n = (*q).min(qty);
                *q -= n;
                qty -= n;
            }
        }
        lots.retain(|(_, q)| *q > 0);
        if lots.is_empty() {
            self.payments.lots.remove(&holder);
        }
    }

    fn take_lots(&mut self, holder: Holder, mut qty: u64) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let Some(lots) = self.payments.lots.get_mut(&holder) else {
            return out;
        };
        while qty > 0 && !lots.is_empty() {
            let (p, q) = &mut lots[0];
            let n = u64::from(*q).min(qty) as u32;
            out.push((p.clone(), n));
            *q -= n;
            qty -= u64::from(n);
            if *q == 0 {
                lots.remove(0);
            }
        }
        if lots.is_empty() {
            self.payments.lots.remove(&holder);
        }
        out
    }

    /// The holders `body` names, before it is applied (see [`World::follow_bonds`]).
    pub(super) fn bond_holders(&self, body: &EventBody) -> Vec<Holder> {
        if self.payments.lots.is_empty() {
            return Vec::new();
        }
        bond_holders(body)
    }

    /// After `body` moved bonds between `holders`: lots follow the counts (module docs).
    pub(super) fn follow_bonds(&mut self, holders: &[Holder]) {
        let mut pool: Vec<(String, u32)> = Vec::new();
        for &h in holders {
            let (count, lots) = (self.bond_count(h), self.lots_total(h));
            if lots > count {
                pool.extend(self.take_lots(h, lots - count));
            }
        }
        for &h in holders {
            let (count, lots) = (self.bond_count(h), self.lots_total(h));
            let mut want = count.saturating_sub(lots);
            while want > 0 && !pool.is_empty() {
                let (p, q) = &mut pool[0];
                let n = u64::from(*q).min(want) as u32;
                let purchase = p.clone();
                *q -= n;
                want -= u64::from(n);
                if *q == 0 {
                    pool.remove(0);
                }
                self.bond_lots_add(h, &purchase, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::{Payment, PaymentKind};
    use crate::testing::*;
    use loh_commands::Command;

    pub(crate) fn bought(t: &mut Given, id: &str, player_id: Uuid, purchase: &str) {
        let p = Payment {
            id: id.into(),
            what: PaymentKind::Paid {
                player_id,
                purchase: purchase.into(),
                product: "bonds_5".into(),
            },
        };
        for e in t.world.decide_payment(&p) {
            t.world.apply(&e);
        }
    }

    #[test]
    fn a_purchase_puts_five_bonds_of_its_lot_in_the_buyers_bank() {
        let mut t = Given::new().player(A);
        bought(&mut t, "evt_1", A, "pi_1");
        assert_eq!(t.world.bond_count(Holder::Player(A)), 5);
        assert_eq!(t.world.bonds_of("pi_1"), [(Holder::Player(A), 5)]);
        t.assert_conserved();
    }

    #[test]
    fn traded_bonds_keep_their_purchase_with_the_new_holder() {
        let mut t = Given::new().player(A).player(B).online(A).online(B);
        t = t.at(B, (3223, 3218)).at(A, (3222, 3218));
        bought(&mut t, "evt_1", A, "pi_1");
        t.world.apply(&EventBody::BankWithdrawn {
            player_id: A,
            item: BOND.into(),
            qty: 2,
        });
        let slot = t
            .world
            .player(A)
            .unwrap()
            .inventory
            .slots()
            .last()
            .unwrap()
            .0;
        t.when(A, Command::TradeRequest { player_id: B }).unwrap();
        t.when(B, Command::TradeRequest { player_id: A }).unwrap();
        t.when(A, Command::TradeOffer { slot, qty: 2 }).unwrap();
        for _ in 0..2 {
            t.when(A, Command::TradeAccept).unwrap();
            t.when(B, Command::TradeAccept).unwrap();
        }
        assert_eq!(t.world.bond_count(Holder::Player(B)), 2);
        assert_eq!(
            t.world.bonds_of("pi_1"),
            [(Holder::Player(A), 3), (Holder::Player(B), 2)]
        );
        t.assert_conserved();
    }
}
