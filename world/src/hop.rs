//! World hops (ARCHITECTURE.md, invariant 11: a character is in exactly one world).
//!
//! `HopWorld` is decided here like any command: refused while the character fights or trades,
//! or when the destination is not one of the other worlds the tick's inputs name
//! ([`crate::step::TickInputs::worlds`]). Accepted, it is one `CharacterDeparted` holding the
//! character's portable [`CharacterState`] and its hash; applying it takes the character out of
//! this world, and its holdings are burned with sink `hop` ([`loh_events::value`]), so each
//! world's ledger stays exact.
//!
//! The destination takes the hop as an input of one of its ticks
//! ([`crate::step::TickInputs::arrivals`]): [`World::arrival`] gives `CharacterArrived` with the
//! same state and hash, once per hop — the world remembers every hop id it applied (folded from
//! the events, so a rebuild or snapshot remembers them too) — and applying it puts the character
//! on the spawn tile with its holdings minted with source `hop`. The store writes the outbox in
//! the departure's transaction and marks the hop arrived in the arrival's (`loh_events::hop`).

use crate::inventory::{Inventory, SLOTS, Slot};
use crate::skills::Skills;
use crate::state::Player;
use crate::{Decision, RejectionCode as Code, World, WorldRng};
use loh_events::hop::{CharacterState, Hop};
use loh_events::{EquipSlot, EventBody, ItemQty, Skill, Target};
use rand_chacha::rand_core::RngCore;
use std::collections::BTreeSet;
use uuid::Uuid;

/// What the world keeps of hops: the other worlds a character may hop to now (an input of the
/// tick, not state), the hops it applied, and the characters that left and have not come back.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hops {
    /// Every hop id this world recorded, departing or arriving.
    pub applied: BTreeSet<Uuid>,
    /// Characters that left this world by a hop and have not arrived back: never spawned anew.
    pub departed: BTreeSet<Uuid>,
}

impl World {
    /// The other worlds a character may hop to from now on (the writer sets them from the
    /// tick's inputs).
    pub fn set_hop_worlds(&mut self, worlds: impl IntoIterator<Item = String>) {
        self.hop_worlds = worlds.into_iter().collect();
    }

    /// Whether hop `hop` was recorded in this world (departed from it or arrived in it).
    pub fn hop_applied(&self, hop: Uuid) -> bool {
        self.hops.applied.contains(&hop)
    }

    /// Whether `player_id`'s character left this world by a hop and has not come back.
    pub fn departed(&self, player_id: Uuid) -> bool {
        self.hops.departed.contains(&player_id)
    }

    /// Whether the player fights: attacking, or attacked by an NPC or another player.
    pub fn in_combat(&self, player_id: Uuid, p: &Player) -> bool {
        p.target.is_some()
            || self.npcs.values().any(|n| n.target == Some(player_id))
            || self
                .players
                .values()
                .any(|o| o.target == Some(Target::Player(player_id)))
    }

    pub(super) fn decide_hop(
        &self,
        player_id: Uuid,
        p: &Player,
        world: &str,
        rng: &mut WorldRng,
    ) -> Decision {
        self.rule(
            self.hop_worlds.contains(world),
            Code::NoSuchWorld,
            format!("there is no other world {world} to hop to"),
        )?;
        self.rule(
            !self.trades.contains_key(&player_id),
            Code::InTrade,
            "finish the trade first",
        )?;
        self.rule(
            !self.in_combat(player_id, p),
            Code::InCombat,
            "you cannot hop in combat",
        )?;
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let hop = uuid::Builder::from_random_bytes(bytes).into_uuid();
        // The departure is the stream's next event: the arrival continues after it.
        let state = portable_state(p, p.version + 1);
        Ok(vec![EventBody::CharacterDeparted {
            player_id,
            hop,
            to: world.to_owned(),
            state_hash: state.hash_hex(),
            state,
        }])
    }

    /// The arrival of `hop` here: `CharacterArrived` on the spawn tile, or nothing when the hop
    /// was applied already, is not for a character absent from this world, or its state does
    /// not match its hash or shape.
    pub fn arrival(&self, hop: &Hop) -> Vec<EventBody> {
        let fits = hop.state.xp.len() == Skill::ALL.len()
            && hop.state.inventory.len() == SLOTS
            && hop.state.equipment.len() == EquipSlot::ALL.len();
        if self.hop_applied(hop.hop)
            || self.players.contains_key(&hop.player_id)
            || !fits
            || hop.state.hash_hex() != hop.state_hash
        {
            return Vec::new();
        }
        vec![EventBody::CharacterArrived {
            player_id: hop.player_id,
            hop: hop.hop,
            from: hop.from.clone(),
            x: self.map.spawn_x,
            y: self.map.spawn_y,
            state: hop.state.clone(),
            state_hash: hop.state_hash.clone(),
        }]
    }

    pub(super) fn apply_hop(&mut self, body: &EventBody) {
        match body {
            EventBody::CharacterDeparted { player_id, hop, .. } => {
                self.players.remove(player_id);
                self.trades.remove(player_id);
                self.moved_this_tick.remove(player_id);
                self.ran_this_tick.remove(player_id);
                self.hops.applied.insert(*hop);
                self.hops.departed.insert(*player_id);
            }
            EventBody::CharacterArrived {
                player_id,
                hop,
                x,
                y,
                state,
                ..
            } => {
                self.players
                    .insert(*player_id, arrived_player(state, *x, *y));
                self.hops.applied.insert(*hop);
                self.hops.departed.remove(player_id);
            }
            _ => {}
        }
    }
}

/// The state that travels with the player, at stream version `version`.
pub fn portable_state(p: &Player, version: u64) -> CharacterState {
    let qty = |s: &Slot| ItemQty {
        item: s.item.clone(),
        qty: s.qty,
    };
    CharacterState {
        version,
        xp: Skill::ALL.iter().map(|s| p.skills.xp(*s)).collect(),
        hitpoints: p.hitpoints,
        prayer_points: p.prayer_points,
        inventory: (0..SLOTS as u8)
            .map(|i| p.inventory.slot(i).map(qty))
            .collect(),
        bank: p
            .bank
            .iter()
            .map(|(item, qty)| ItemQty {
                item: item.clone(),
                qty: *qty,
            })
            .collect(),
        equipment: p.equipment.to_vec(),
        members: p.members,
        tier: p.tier,
        paid_through: p.paid_through,
        style: p.style,
        friends: p.friends.iter().copied().collect(),
        ignores: p.ignores.iter().copied().collect(),
    }
}

/// The player a `CharacterArrived` puts on (`x`, `y`): the portable state, nothing else
/// (offline until a session opens; no path, target, prayers or trade).
fn arrived_player(state: &CharacterState, x: i32, y: i32) -> Player {
    let mut p = Player::new(x, y);
    p.version = state.version + 1;
    let mut xp = [0u32; Skill::ALL.len()];
    for (v, s) in xp.iter_mut().zip(&state.xp) {
        *v = *s;
    }
    p.skills = Skills::from_xp(xp);
    p.hitpoints = state.hitpoints;
    p.prayer_points = state.prayer_points;
    p.inventory = Inventory::from_slots(state.inventory.iter().map(|s| {
        s.as_ref().map(|s| Slot {
            item: s.item.clone(),
            qty: s.qty,
        })
    }));
    p.bank = state.bank.iter().map(|s| (s.item.clone(), s.qty)).collect();
    for (slot, item) in p.equipment.iter_mut().zip(&state.equipment) {
        *slot = item.clone();
    }
    p.members = state.members;
    p.tier = state.tier;
    p.paid_through = state.paid_through;
    p.style = state.style;
    p.friends = state.friends.iter().copied().collect();
    p.ignores = state.ignores.iter().copied().collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::value::{Flow, mints_and_burns};
    use std::collections::BTreeMap;

    fn hop_to(world: &str) -> Command {
        Command::HopWorld {
            world: world.into(),
        }
    }

    /// A world that may send characters to `world2`.
    fn source() -> Given {
        let mut g = Given::new();
        g.world.set_hop_worlds(["world2".to_owned()]);
        g
    }

    /// The hop a departure's tick hands to the store's outbox.
    fn outbox(events: &[EventBody]) -> Hop {
        match events {
            [
                EventBody::CharacterDeparted {
                    player_id,
                    hop,
                    to,
                    state,
                    state_hash,
                },
            ] => Hop {
                hop: *hop,
                player_id: *player_id,
                from: "world1".into(),
                to: to.clone(),
                state: state.clone(),
                state_hash: state_hash.clone(),
                departed_position: 1,
            },
            other => panic!("not one departure: {other:?}"),
        }
    }

    fn flows(events: &[EventBody], flow: Flow) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for e in events {
            for (f, reason, item, qty) in mints_and_burns(e) {
                if f == flow {
                    assert_eq!(reason, "hop");
                    *out.entry(item.to_owned()).or_default() += u64::from(qty);
                }
            }
        }
        out
    }

    #[test]
    fn a_hop_is_refused_in_combat() {
        let mut t = source().player(A);
        let npc = t.run_ticks(1).iter().find_map(|e| match e {
            EventBody::NpcSpawned { npc, .. } => Some(*npc),
            _ => None,
        });
        let npc = npc.expect("an NPC spawned");
        t.world.apply(&EventBody::CombatTargetSet {
            player_id: A,
            target: Target::Npc(npc),
        });
        assert_eq!(t.rejects(A, hop_to("world2")), "in_combat");
        t.world
            .apply(&EventBody::CombatTargetCleared { player_id: A });
        assert!(t.decide(A, hop_to("world2")).is_ok());
    }

    #[test]
    fn a_hop_is_refused_in_a_trade_and_to_an_unknown_or_the_same_world() {
        let mut t = source().player(A).player(B).online(A).online(B);
        assert_eq!(t.rejects(A, hop_to("world9")), "no_such_world");
        // The world's own name is never among the other worlds the writer hands in.
        assert_eq!(t.rejects(A, hop_to("world1")), "no_such_world");
        t.world.apply(&EventBody::TradeOpened {
            player_id: A,
            with: B,
        });
        assert_eq!(t.rejects(A, hop_to("world2")), "in_trade");
    }

    #[test]
    fn a_departure_burns_exactly_what_the_arrival_mints() {
        let mut from = source()
            .player(A)
            .minted(A, "coins", 500)
            .minted(A, "logs", 3);
        // Logs do not stack: one of the three goes to the bank.
        from.world.apply(&EventBody::BankDeposited {
            player_id: A,
            slot: 7,
            item: "logs".into(),
            qty: 1,
        });
        from.assert_conserved();
        let held = from.world.holdings();
        let departed = from.when(A, hop_to("world2")).unwrap();
        assert!(from.world.player(A).is_none(), "gone from the source");
        from.assert_conserved();
        let hop = outbox(&departed);

        let mut to = Given::new().player(B);
        let arrived = to.world.arrival(&hop);
        for e in &arrived {
            to.world.apply(e);
        }
        to.assert_conserved();
        let burned = flows(&departed, Flow::Burned);
        let minted = flows(&arrived, Flow::Minted);
        assert_eq!(burned, minted);
        let held: BTreeMap<String, u64> = held.into_iter().map(|(i, q)| (i, q as u64)).collect();
        assert_eq!(burned, held, "everything the character held, bank included");
        let p = to.world.player(A).expect("arrived");
        assert_eq!(p.bank.get("logs"), Some(&1));
        assert_eq!(portable_state(p, hop.state.version), hop.state);
        match &arrived[0] {
            EventBody::CharacterArrived { state_hash, .. } => {
                assert_eq!(*state_hash, hop.state_hash)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_arrival_taken_twice_is_applied_once() {
        let mut from = source().player(A).minted(A, "coins", 50);
        let hop = outbox(&from.when(A, hop_to("world2")).unwrap());
        let mut to = Given::new();
        let first = to.world.arrival(&hop);
        assert_eq!(first.len(), 1);
        for e in &first {
            to.world.apply(e);
        }
        assert!(to.world.arrival(&hop).is_empty(), "the same hop again");
        // Even after the character left again, the old hop does not bring it back.
        to.world.set_hop_worlds(["world1".to_owned()]);
        to.when(A, hop_to("world1")).unwrap();
        assert!(to.world.arrival(&hop).is_empty());
        to.assert_conserved();
    }

    #[test]
    fn a_character_that_left_is_not_spawned_anew_and_a_forged_state_does_not_arrive() {
        let mut from = source().player(A);
        let mut hop = outbox(&from.when(A, hop_to("world2")).unwrap());
        assert!(
            from.world.spawn(A).is_empty(),
            "no fresh character in the source"
        );
        hop.state.bank.push(ItemQty {
            item: "coins".into(),
            qty: 1_000_000,
        });
        assert!(Given::new().world.arrival(&hop).is_empty());
    }

    #[test]
    fn the_stream_version_continues_across_worlds() {
        let mut from = source().player(A);
        let version = from.world.player(A).unwrap().version;
        let hop = outbox(&from.when(A, hop_to("world2")).unwrap());
        assert_eq!(hop.state.version, version + 1);
        let to = Given::new();
        let arrived = to.world.arrival(&hop);
        assert_eq!(to.world.stream_version(&arrived[0]), version + 1);
    }
}
