//! Membership: a tier and a paid-through time (Unix seconds). Bonds redeemed and subscription
//! invoices extend it; it lapses in the tick whose clock reaches the paid-through time. The
//! clock is the tick's own reading, handed to [`crate::step::step`] and kept in the log, so a
//! re-run lapses in the same tick. Members zones, items, nodes and recipes need a members tier;
//! the bank's size follows the tier. A lapsed member keeps every item where it is.

use super::{Decision, Player, World};
use crate::inventory::slot_of;
use loh_commands::RejectionCode as Code;
use loh_events::value::BOND;
use loh_events::{EventBody, Tier};
use uuid::Uuid;

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Days of membership one bond buys.
pub const BOND_DAYS: u32 = 14;

/// Distinct items a bank holds for `tier`.
pub fn bank_capacity(tier: Tier) -> usize {
    match tier {
        Tier::Free => crate::bank::BANK_FREE,
        Tier::Member => crate::bank::BANK_MEMBERS,
        Tier::Premium => crate::bank::BANK_PREMIUM,
    }
}

/// `days` days after `from` (Unix seconds), saturating.
pub fn days_after(from: i64, days: u32) -> i64 {
    from.saturating_add(i64::from(days).saturating_mul(DAY))
}

impl World {
    /// The tick's clock reading, in Unix seconds (0 before the first step).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Sets the tick's clock reading (microseconds since the Unix epoch); [`crate::step::step`]
    /// calls it with the clock the writer read for the tick.
    pub fn set_clock(&mut self, now_us: i64) {
        self.now = now_us.div_euclid(1_000_000);
    }

    /// Redeems the bond in `slot`: burned, membership (at least the `member` tier) extended by
    /// [`BOND_DAYS`] from the later of now and the paid-through time.
    pub(super) fn decide_redeem(&self, player_id: Uuid, p: &Player, slot: u8) -> Decision {
        let s = slot_of(p, slot)?;
        self.rule(
            s.item == BOND,
            Code::NotABond,
            format!("{} is not a bond", s.item),
        )?;
        self.rule(
            !self.trades.contains_key(&player_id),
            Code::InTrade,
            "finish the trade first",
        )?;
        let from = if p.tier.is_member() {
            p.paid_through.max(self.now)
        } else {
            self.now
        };
        Ok(vec![EventBody::BondRedeemed {
            player_id,
            slot,
            tier: p.tier.max(Tier::Member),
            paid_through: days_after(from, BOND_DAYS),
        }])
    }

    /// The members whose paid-through time the tick's clock reached, in id order.
    pub(super) fn lapses(&self) -> Vec<EventBody> {
        if self.now <= 0 {
            return Vec::new();
        }
        self.players
            .iter()
            .filter(|(_, p)| p.tier.is_member() && p.paid_through <= self.now)
            .map(|(id, _)| EventBody::MembershipLapsed { player_id: *id })
            .collect()
    }

    pub(super) fn apply_membership(&mut self, body: &EventBody) {
        let set = |p: &mut Player, tier: Tier, paid_through: i64| {
            p.tier = tier;
            p.paid_through = paid_through;
            p.members = tier.is_member();
        };
        match body {
            // Before payments, membership was a flag with no end.
            EventBody::MembershipChanged { player_id, members } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    let (tier, until) = if *members {
                        (Tier::Member, i64::MAX)
                    } else {
                        (Tier::Free, 0)
                    };
                    set(p, tier, until);
                }
            }
            EventBody::MembershipExtended {
                player_id,
                tier,
                paid_through,
                ..
            }
            | EventBody::BondRedeemed {
                player_id,
                tier,
                paid_through,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    set(p, *tier, *paid_through);
                }
            }
            EventBody::MembershipShortened {
                player_id,
                paid_through,
                ..
            }
            | EventBody::PurchaseReinstated {
                player_id,
                paid_through,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    let tier = p.tier;
                    set(p, tier, *paid_through);
                }
            }
            EventBody::MembershipLapsed { player_id } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    let until = p.paid_through;
                    set(p, Tier::Free, until);
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

    fn bonded(n: u32) -> Given {
        let mut t = Given::new().player(A).minted(A, BOND, n);
        t.world.set_clock(1_000_000 * 1_000_000);
        t
    }

    #[test]
    fn redeeming_a_bond_burns_it_and_makes_the_player_a_member_for_fourteen_days() {
        let mut t = bonded(2);
        let slot = 7;
        t.when(A, Command::RedeemBond { slot }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!((p.tier, p.members), (Tier::Member, true));
        assert_eq!(p.paid_through, 1_000_000 + 14 * DAY);
        assert_eq!(p.inventory.count(BOND), 1);
        t.when(A, Command::RedeemBond { slot }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(
            p.paid_through,
            1_000_000 + 28 * DAY,
            "a second bond adds on"
        );
        assert_eq!(t.world.ledger().sinks[&("redeem".into(), BOND.into())], 2);
        t.assert_conserved();
    }

    #[test]
    fn only_a_bond_can_be_redeemed() {
        let t = bonded(1);
        assert_eq!(t.rejects(A, Command::RedeemBond { slot: 0 }), "not_a_bond");
        assert_eq!(t.rejects(A, Command::RedeemBond { slot: 20 }), "empty_slot");
    }

    #[test]
    fn membership_lapses_at_its_paid_through_time_and_the_members_zone_is_refused_after() {
        let mut t = bonded(1).at(A, (3290, 3200));
        t.world.set_clock(1_000_000 * 1_000_000);
        t.when(A, Command::RedeemBond { slot: 7 }).unwrap();
        let until = t.world.player(A).unwrap().paid_through;
        let walk = || Command::Move {
            x: 3291,
            y: 3200,
            run: false,
        };
        assert!(t.decide(A, walk()).is_ok(), "a member may enter");

        // The tick before the paid-through time changes nothing.
        let mut sim = crate::phases::Sim::new(t.world.clone());
        let mine = |out: crate::phases::TickOutput| -> Vec<EventBody> {
            out.events
                .into_iter()
                .map(|(_, e)| e)
                .filter(|e| e.player_id() == Some(A))
                .collect()
        };
        let out = sim.tick_at((until - 1) * 1_000_000, &[], &[], &[]);
        assert!(mine(out).is_empty());
        assert!(sim.world.player(A).unwrap().members);
        // The tick that reaches it lapses the membership.
        let out = sim.tick_at(until * 1_000_000, &[], &[], &[]);
        assert_eq!(mine(out), [EventBody::MembershipLapsed { player_id: A }]);
        // And the next one refuses the members zone.
        let out = sim.tick_at((until + 1) * 1_000_000, &[], &[], &[(A, walk())]);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].1.code.as_str(), "members_only");
        assert_eq!(sim.world.player(A).unwrap().tier, Tier::Free);
    }

    #[test]
    fn a_lapsed_member_keeps_members_items_in_the_bank_but_the_bank_shrinks_to_the_free_size() {
        let mut t = Given::new().player(A);
        for i in 0..500 {
            t.world.apply(&EventBody::ItemsMinted {
                player_id: A,
                item: format!("thing_{i}"),
                qty: 1,
                source: "test".into(),
            });
            t.world.apply(&EventBody::BankDeposited {
                player_id: A,
                slot: 7,
                item: format!("thing_{i}"),
                qty: 1,
            });
        }
        t = t.member(A).minted(A, "steel_sword", 1);
        t = t.at(A, (3227, 3225));
        t.when(A, Command::BankDeposit { slot: 7, qty: 0 }).unwrap();
        t.world.apply(&EventBody::MembershipLapsed { player_id: A });
        let p = t.world.player(A).unwrap();
        assert_eq!(p.bank.get("steel_sword"), Some(&1), "untouched");
        assert_eq!(p.bank.len(), 501);
        // Over the free size: nothing new goes in, what is there can come out.
        t = t.minted(A, "logs", 1);
        let slot = t
            .world
            .player(A)
            .unwrap()
            .inventory
            .slots()
            .last()
            .unwrap()
            .0;
        assert_eq!(
            t.rejects(A, Command::BankDeposit { slot, qty: 0 }),
            "bank_full"
        );
        assert!(
            t.decide(
                A,
                Command::BankWithdraw {
                    item: "thing_1".into(),
                    qty: 1
                }
            )
            .is_ok()
        );
    }
}
