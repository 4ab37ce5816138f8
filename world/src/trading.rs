//! Trading: request and accept; an offer screen, then a confirm screen; any change resets both
//! acceptances; settlement is one event swapping both sides, or nothing. Cancelled on
//! disconnect, on moving apart, or when either side lacks room.

use super::inventory::slot_of;
use super::state::TradeStage;
use super::{Decision, Player, Rejection, Trade, World, chebyshev};
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, ItemQty};
use uuid::Uuid;

/// Tiles within which two players may trade.
pub const TRADE_RANGE: u32 = 15;

impl World {
    fn open_trade(&self, player_id: Uuid) -> Result<(&Trade, &Trade), Rejection> {
        let mine = self
            .trades
            .get(&player_id)
            .ok_or_else(|| Rejection::new(Code::NoTrade, "no trade is open"))?;
        let theirs = self
            .trades
            .get(&mine.with)
            .ok_or_else(|| Rejection::new(Code::NoTrade, "no trade is open"))?;
        Ok((mine, theirs))
    }

    pub(super) fn decide_trade_request(
        &self,
        player_id: Uuid,
        p: &Player,
        other: Uuid,
    ) -> Decision {
        self.rule(
            other != player_id,
            Code::BadTarget,
            "you cannot trade with yourself",
        )?;
        let o = self
            .players
            .get(&other)
            .ok_or_else(|| Rejection::new(Code::NoSuchPlayer, "no such player"))?;
        self.rule(o.online, Code::Offline, "that player is offline")?;
        self.rule(
            chebyshev(p.x, p.y, o.x, o.y) <= TRADE_RANGE,
            Code::NotInRange,
            "too far away to trade",
        )?;
        self.rule(
            !self.trades.contains_key(&player_id) && !self.trades.contains_key(&other),
            Code::InTrade,
            "one of you is already trading",
        )?;
        if o.trade_request == Some(player_id) {
            Ok(vec![EventBody::TradeOpened {
                player_id,
                with: other,
            }])
        } else {
            Ok(vec![EventBody::TradeRequested {
                player_id,
                with: other,
            }])
        }
    }

    pub(super) fn decide_trade_offer(
        &self,
        player_id: Uuid,
        p: &Player,
        slot: u8,
        qty: u32,
    ) -> Decision {
        let (mine, _) = self.open_trade(player_id)?;
        self.rule(
            mine.stage == TradeStage::Offer,
            Code::WrongStage,
            "the offer screen is closed",
        )?;
        let s = slot_of(p, slot)?;
        let offered: u64 = mine
            .offer
            .iter()
            .filter(|o| o.item == s.item)
            .map(|o| u64::from(o.qty))
            .sum();
        let left = p.inventory.count(&s.item).saturating_sub(offered);
        self.rule(
            left > 0,
            Code::NotEnoughItems,
            format!("all your {} is on offer", s.item),
        )?;
        let qty = if qty == 0 { s.qty } else { qty.min(s.qty) };
        let qty = u32::try_from(u64::from(qty).min(left)).unwrap_or(qty);
        Ok(vec![EventBody::TradeOffered {
            player_id,
            slot,
            item: s.item.clone(),
            qty,
        }])
    }

    /// Whether `p` can give `gave` and receive `got` at once.
    fn can_swap(&self, p: &Player, gave: &[ItemQty], got: &[ItemQty]) -> bool {
        let holds = gave.iter().all(|o| p.has(&o.item, o.qty));
        let mut after = p.inventory.clone();
        for o in gave {
            after.remove(&o.item, o.qty);
        }
        let incoming: Vec<(&str, u32)> = got.iter().map(|o| (o.item.as_str(), o.qty)).collect();
        holds && after.room_for_all(&self.content, &incoming)
    }

    pub(super) fn decide_trade_accept(&self, player_id: Uuid) -> Decision {
        let (mine, theirs) = self.open_trade(player_id)?;
        self.rule(
            !mine.accepted,
            Code::AlreadyAccepted,
            "you already accepted",
        )?;
        let with = mine.with;
        let accepted = EventBody::TradeAccepted { player_id };
        if !theirs.accepted {
            return Ok(vec![accepted]);
        }
        let (me, them) = (&self.players[&player_id], &self.players[&with]);
        if !self.can_swap(me, &mine.offer, &theirs.offer)
            || !self.can_swap(them, &theirs.offer, &mine.offer)
        {
            return Ok(vec![EventBody::TradeCancelled {
                player_id,
                with,
                reason: "no_room".into(),
            }]);
        }
        Ok(match mine.stage {
            TradeStage::Offer => vec![accepted, EventBody::TradeConfirming { player_id, with }],
            TradeStage::Confirm => vec![
                accepted,
                EventBody::TradeSettled {
                    player_id,
                    with,
                    gave: mine.offer.clone(),
                    got: theirs.offer.clone(),
                },
            ],
        })
    }

    pub(super) fn decide_trade_decline(&self, player_id: Uuid) -> Decision {
        let (mine, _) = self.open_trade(player_id)?;
        Ok(vec![EventBody::TradeCancelled {
            player_id,
            with: mine.with,
            reason: "declined".into(),
        }])
    }

    /// A trade whose sides moved apart is cancelled (players phase; once, by the lower id).
    pub(super) fn trade_step(&self, player_id: Uuid) -> Vec<EventBody> {
        let Some(t) = self.trades.get(&player_id) else {
            return Vec::new();
        };
        if t.with < player_id {
            return Vec::new();
        }
        let (a, b) = (&self.players[&player_id], &self.players[&t.with]);
        if chebyshev(a.x, a.y, b.x, b.y) > TRADE_RANGE {
            return vec![EventBody::TradeCancelled {
                player_id,
                with: t.with,
                reason: "moved_apart".into(),
            }];
        }
        Vec::new()
    }

    pub(super) fn apply_trading(&mut self, body: &EventBody) {
        let content = self.content.clone();
        let fresh = |with| Trade {
            with,
            stage: TradeStage::Offer,
            offer: Vec::new(),
            accepted: false,
        };
        match body {
            EventBody::TradeRequested { player_id, with } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.trade_request = Some(*with);
                }
            }
            EventBody::TradeOpened { player_id, with } => {
                for (a, b) in [(player_id, with), (with, player_id)] {
                    self.trades.insert(*a, fresh(*b));
                    if let Some(p) = self.players.get_mut(a) {
                        p.trade_request = None;
                    }
                }
            }
            EventBody::TradeOffered {
                player_id,
                item,
                qty,
                ..
            } => {
                let Some(with) = self.trades.get(player_id).map(|t| t.with) else {
                    return;
                };
                if let Some(t) = self.trades.get_mut(player_id) {
                    match t.offer.iter_mut().find(|o| o.item == *item) {
                        Some(o) => o.qty = o.qty.saturating_add(*qty),
                        None => t.offer.push(ItemQty {
                            item: item.clone(),
                            qty: *qty,
                        }),
                    }
                }
                for id in [*player_id, with] {
                    if let Some(t) = self.trades.get_mut(&id) {
                        t.accepted = false;
                    }
                }
            }
            EventBody::TradeAccepted { player_id } => {
                if let Some(t) = self.trades.get_mut(player_id) {
                    t.accepted = true;
                }
            }
            EventBody::TradeConfirming { player_id, with } => {
                for id in [player_id, with] {
                    if let Some(t) = self.trades.get_mut(id) {
                        t.stage = TradeStage::Confirm;
                        t.accepted = false;
                    }
                }
            }
            EventBody::TradeSettled {
                player_id,
                with,
                gave,
                got,
            } => {
                for (id, out, inc) in [(player_id, gave, got), (with, got, gave)] {
                    if let Some(p) = self.players.get_mut(id) {
                        for o in out {
                            p.inventory.remove(&o.item, o.qty);
                        }
                        for o in inc {
                            p.inventory.add(&content, &o.item, o.qty);
                        }
                    }
                    self.trades.remove(id);
                }
            }
            EventBody::TradeCancelled {
                player_id, with, ..
            } => {
                self.trades.remove(player_id);
                self.trades.remove(with);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::EventBody;

    fn opened() -> Given {
        let mut t = Given::new().player(A).player(B).online(A).online(B);
        t.when(A, Command::TradeRequest { player_id: B }).unwrap();
        t.when(B, Command::TradeRequest { player_id: A }).unwrap();
        t
    }

    #[test]
    fn both_accepting_both_screens_swaps_both_sides_in_one_event() {
        let mut t = opened();
        t.when(A, Command::TradeOffer { slot: 6, qty: 10 }).unwrap();
        t.when(B, Command::TradeOffer { slot: 0, qty: 0 }).unwrap();
        t.when(A, Command::TradeAccept).unwrap();
        t.when(B, Command::TradeAccept).unwrap();
        t.when(A, Command::TradeAccept).unwrap();
        let events = t.when(B, Command::TradeAccept).unwrap();
        assert!(matches!(
            events.last(),
            Some(EventBody::TradeSettled { .. })
        ));
        let (a, b) = (t.world.player(A).unwrap(), t.world.player(B).unwrap());
        assert_eq!(
            (a.inventory.count("coins"), b.inventory.count("coins")),
            (15, 35)
        );
        assert_eq!(
            (
                a.inventory.count("bronze_axe"),
                b.inventory.count("bronze_axe")
            ),
            (2, 0)
        );
        assert!(t.world.trade(A).is_none());
        t.assert_conserved();
    }

    #[test]
    fn a_change_to_an_offer_resets_both_acceptances() {
        let mut t = opened();
        t.when(A, Command::TradeAccept).unwrap();
        t.when(B, Command::TradeOffer { slot: 6, qty: 1 }).unwrap();
        assert!(!t.world.trade(A).unwrap().accepted);
    }

    #[test]
    fn a_side_without_room_cancels_the_trade_and_nothing_moves() {
        let mut t = opened().minted(B, "logs", 21);
        t.when(A, Command::TradeOffer { slot: 0, qty: 1 }).unwrap();
        t.when(A, Command::TradeAccept).unwrap();
        let events = t.when(B, Command::TradeAccept).unwrap();
        assert!(
            matches!(&events[0], EventBody::TradeCancelled { reason, .. } if reason == "no_room")
        );
        assert_eq!(t.world.player(A).unwrap().inventory.count("bronze_axe"), 1);
    }

    #[test]
    fn moving_apart_or_disconnecting_cancels_the_trade() {
        let mut t = opened().at(B, (3222, 3240));
        let events = t.run_ticks(1);
        assert!(events.iter().any(
            |e| matches!(e, EventBody::TradeCancelled { reason, .. } if reason == "moved_apart")
        ));
        let mut t = opened();
        let events = t.presence(B, false);
        assert!(events.iter().any(
            |e| matches!(e, EventBody::TradeCancelled { reason, .. } if reason == "disconnected")
        ));
        assert!(t.world.trade(A).is_none());
    }

    #[test]
    fn offering_without_a_trade_is_no_trade() {
        let t = Given::new().player(A);
        assert_eq!(
            t.rejects(A, Command::TradeOffer { slot: 0, qty: 1 }),
            "no_trade"
        );
    }
}
