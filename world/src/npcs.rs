//! NPC spawns: one NPC per spawn point (its id is the point's index), respawn timers, wandering
//! within bounds, aggression and chasing.

use super::{GROUND_DESPAWN_TICKS, GROUND_PRIVATE_TICKS, Npc, World, WorldRng, chebyshev};
use loh_events::{EventBody, GroundItem};
use rand::Rng;
use uuid::Uuid;

/// Tiles an NPC may stray from its spawn point while chasing.
pub const LEASH: u32 = 8;
/// One in this many idle ticks an NPC takes a wandering step.
pub const WANDER_ONE_IN: u32 = 8;

impl World {
    /// What NPC spawn point `npc` does this tick (NPC phase): spawn, chase, or wander.
    pub(super) fn npc_step(&self, npc: u32, rng: &mut WorldRng) -> Vec<EventBody> {
        let point = &self.content.npc_spawns[npc as usize];
        if point.rules > self.rules {
            // A spawn point of a zone newer than the rules this world decides by.
            return Vec::new();
        }
        let Some(n) = self.npcs.get(&npc) else {
            let due = self.npc_respawns.get(&npc).is_none_or(|t| *t <= self.tick);
            if !due {
                return Vec::new();
            }
            let def = &self.content.npcs[&point.npc];
            return vec![EventBody::NpcSpawned {
                npc,
                kind: point.npc.clone(),
                x: point.x,
                y: point.y,
                hitpoints: def.hitpoints,
            }];
        };
        let def = &self.content.npcs[&n.kind];
        let within = |x: i32, y: i32, range: u32| {
            chebyshev(point.x, point.y, x, y) <= range
                && point.zone.is_none_or(|z| z.contains(x, y))
                && self.walkable(x, y)
        };
        // Chase the target, or an aggressive NPC hunts the nearest player in range.
        let target = n.target.and_then(|t| self.players.get(&t)).or_else(|| {
            if !def.aggressive {
                return None;
            }
            self.players
                .values()
                .filter(|p| {
                    chebyshev(n.x, n.y, p.x, p.y) <= def.aggro_range && within(p.x, p.y, LEASH)
                })
                .min_by_key(|p| chebyshev(n.x, n.y, p.x, p.y))
        });
        if let Some(p) = target {
            if self.can_hit((n.x, n.y), (p.x, p.y), self.npc_reach(def)) {
                return Vec::new();
            }
            let (x, y) = (n.x + (p.x - n.x).signum(), n.y + (p.y - n.y).signum());
            if within(x, y, LEASH) && !(x == p.x && y == p.y) {
                return vec![EventBody::NpcMoved { npc, x, y }];
            }
            return Vec::new();
        }
        if point.wander == 0 || rng.random_range(0..WANDER_ONE_IN) != 0 {
            return Vec::new();
        }
        let (dx, dy) = (rng.random_range(-1..=1), rng.random_range(-1..=1));
        let (x, y) = (n.x + dx, n.y + dy);
        if (dx, dy) != (0, 0) && within(x, y, point.wander) {
            vec![EventBody::NpcMoved { npc, x, y }]
        } else {
            Vec::new()
        }
    }

    /// An aggressive NPC with no target picks a player it can hit (next to it in melee, within
    /// its range and in sight otherwise; NPC phase, after moving).
    pub(super) fn npc_aggression(&self, npc: u32) -> Option<Uuid> {
        let n = self.npcs.get(&npc)?;
        let def = &self.content.npcs[&n.kind];
        if !def.aggressive || n.target.is_some() {
            return None;
        }
        // Within its reach, and for an NPC that attacks from afar, within its notice too.
        let reach = self.npc_reach(def).min(def.aggro_range.max(1));
        self.players
            .iter()
            .find(|(_, p)| self.can_hit((n.x, n.y), (p.x, p.y), reach))
            .map(|(id, _)| *id)
    }

    /// The event of NPC `npc` dying, with its loot rolled onto its tile.
    pub(super) fn npc_death(
        &self,
        npc: u32,
        killer: Option<Uuid>,
        rng: &mut WorldRng,
    ) -> EventBody {
        let n = &self.npcs[&npc];
        let def = &self.content.npcs[&n.kind];
        let mut drops: Vec<(String, u32)> =
            def.always.iter().map(|s| (s.item.clone(), s.qty)).collect();
        let total: u32 = def.loot.iter().map(|l| l.weight).sum();
        if total > 0 {
            let mut roll = rng.random_range(0..total);
            for l in &def.loot {
                if roll < l.weight {
                    if l.item != "nothing" {
                        drops.push((l.item.clone(), l.qty));
                    }
                    break;
                }
                roll -= l.weight;
            }
        }
        let loot = drops
            .into_iter()
            .enumerate()
            .map(|(k, (item, qty))| GroundItem {
                ground_id: self.next_ground_id + k as u64,
                item,
                qty,
                x: n.x,
                y: n.y,
                owner: killer,
                public_at: self.tick + GROUND_PRIVATE_TICKS,
                despawn_at: self.tick + GROUND_DESPAWN_TICKS,
            })
            .collect();
        EventBody::NpcDied {
            npc,
            killer,
            respawn_at: self.tick + u64::from(def.respawn_ticks),
            loot,
        }
    }

    pub(super) fn apply_npcs(&mut self, body: &EventBody) {
        match body {
            EventBody::NpcSpawned {
                npc,
                kind,
                x,
                y,
                hitpoints,
            } => {
                self.npc_respawns.remove(npc);
                self.npcs.insert(
                    *npc,
                    Npc {
                        kind: kind.clone(),
                        x: *x,
                        y: *y,
                        hitpoints: *hitpoints,
                        target: None,
                        next_attack_at: 0,
                    },
                );
            }
            EventBody::NpcMoved { npc, x, y } => {
                if let Some(n) = self.npcs.get_mut(npc) {
                    (n.x, n.y) = (*x, *y);
                }
            }
            EventBody::NpcDied {
                npc,
                respawn_at,
                loot,
                ..
            } => {
                self.npcs.remove(npc);
                self.npc_respawns.insert(*npc, *respawn_at);
                for g in loot {
                    self.put_on_ground(g.clone());
                }
                for p in self.players.values_mut() {
                    if p.target == Some(loh_events::Target::Npc(*npc)) {
                        p.target = None;
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_events::EventBody;

    #[test]
    fn every_spawn_point_spawns_its_npc_on_the_first_tick() {
        let mut t = Given::new();
        let events = t.run_ticks(1);
        let spawned = events
            .iter()
            .filter(|e| matches!(e, EventBody::NpcSpawned { .. }))
            .count();
        assert_eq!(spawned, t.world.content.npc_spawns.len());
    }

    #[test]
    fn npcs_wander_only_within_their_radius_and_zone() {
        let mut t = Given::new();
        t.run_ticks(300);
        for (id, n) in t.world.npcs() {
            let point = &t.world.content.npc_spawns[*id as usize];
            assert!(crate::chebyshev(point.x, point.y, n.x, n.y) <= point.wander);
            assert!(point.zone.unwrap().contains(n.x, n.y));
        }
    }

    #[test]
    fn a_dead_npc_respawns_at_its_spawn_point_when_its_timer_runs_out() {
        let mut t = Given::new();
        t.run_ticks(1);
        let id = *t.world.npcs().next().unwrap().0;
        let respawn_at = t.world.tick() + 10;
        t.world.apply(&EventBody::NpcDied {
            npc: id,
            killer: None,
            respawn_at,
            loot: vec![],
        });
        t.run_ticks(5);
        assert!(t.world.npc(id).is_none(), "respawned before its timer");
        let events = t.run_ticks(10);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::NpcSpawned { npc, .. } if *npc == id))
        );
        let n = t.world.npc(id).expect("the NPC is back");
        let point = &t.world.content.npc_spawns[id as usize];
        assert!(crate::chebyshev(point.x, point.y, n.x, n.y) <= point.wander);
    }

    #[test]
    fn an_aggressive_goblin_hunts_a_player_who_comes_within_range() {
        let mut t = Given::new().player(A);
        t.run_ticks(1);
        let (id, goblin) = t
            .world
            .npcs()
            .find(|(_, n)| n.kind == "goblin")
            .map(|(id, n)| (*id, (n.x, n.y)))
            .unwrap();
        t = t.at(A, (goblin.0 + 3, goblin.1));
        let before = crate::chebyshev(goblin.0, goblin.1, goblin.0 + 3, goblin.1);
        t.run_ticks(3);
        let n = t.world.npc(id).unwrap();
        let a = t.world.player(A).unwrap();
        assert!(
            crate::chebyshev(n.x, n.y, a.x, a.y) < before,
            "the goblin did not close in"
        );
    }
}
