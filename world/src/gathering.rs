//! Gathering: woodcutting, mining, fishing. `Gather` starts an action that rolls once per tick
//! (success chance by level and tool) until the inventory is full or the node depletes; nodes
//! respawn after their timer.

use super::{Decision, Player, REACH, Rejection, World, WorldRng, chebyshev};
use crate::content::NodeDef;
use loh_commands::RejectionCode as Code;
use loh_events::EventBody;
use rand::Rng;
use uuid::Uuid;

impl World {
    /// The best power of a `kind` tool the player carries or wields.
    fn tool_power(&self, p: &Player, kind: &str) -> Option<u32> {
        let carried = p.inventory.slots().map(|(_, s)| s.item.as_str());
        let worn = p.equipment.iter().flatten().map(String::as_str);
        carried
            .chain(worn)
            .filter_map(|i| self.content.item(i)?.tool.as_ref())
            .filter(|t| t.kind == kind)
            .map(|t| t.power)
            .max()
    }

    /// Why `p` cannot gather at `node` right now, if they cannot.
    fn gather_check(&self, p: &Player, node: u32) -> Result<&NodeDef, Rejection> {
        let place = &self.content.node_placements[node as usize];
        let def = &self.content.nodes[&place.node];
        self.rule(
            chebyshev(p.x, p.y, place.x, place.y) <= REACH,
            Code::NotInRange,
            "walk next to it first",
        )?;
        self.rule(
            !self.depleted.contains_key(&node),
            Code::NodeDepleted,
            format!("the {} is depleted", def.name),
        )?;
        self.rule(
            p.inventory.room_for(&self.content, &def.item, 1),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(def)
    }

    pub(super) fn decide_gather(&self, player_id: Uuid, p: &Player, x: i32, y: i32) -> Decision {
        let node = *self
            .content
            .node_at
            .get(&(x, y))
            .filter(|n| self.content.node_placements[**n as usize].rules <= self.rules)
            .ok_or_else(|| {
                Rejection::new(Code::NoSuchNode, format!("nothing to gather at ({x}, {y})"))
            })?;
        let def = &self.content.nodes[&self.content.node_placements[node as usize].node];
        self.rule(
            !def.members || p.members,
            Code::MembersOnly,
            format!("the {} is for members", def.name),
        )?;
        self.rule(
            p.skills.level(def.skill) >= def.level,
            Code::LevelTooLow,
            format!("{} needs {:?} level {}", def.name, def.skill, def.level),
        )?;
        self.rule(
            self.tool_power(p, &def.tool).is_some(),
            Code::NoTool,
            format!("you need a {}", def.tool),
        )?;
        self.gather_check(p, node)?;
        Ok(vec![EventBody::GatheringStarted { player_id, node }])
    }

    /// One attempt of an ongoing gathering action (players phase).
    pub(super) fn gather_step(&self, player_id: Uuid, rng: &mut WorldRng) -> Vec<EventBody> {
        let Some(p) = self.players.get(&player_id) else {
            return Vec::new();
        };
        let Some(node) = p.gathering else {
            return Vec::new();
        };
        let def = match self.gather_check(p, node) {
            Ok(def) => def,
            Err(r) => {
                return vec![EventBody::GatheringStopped {
                    player_id,
                    reason: r.code.as_str().to_owned(),
                }];
            }
        };
        let power = self.tool_power(p, &def.tool).unwrap_or(0);
        let level = u32::from(p.skills.level(def.skill));
        let chance = (def.base + 4 * level.saturating_sub(def.level.into()) + 12 * power).min(255);
        if rng.random_range(0..256) >= chance {
            return Vec::new();
        }
        let depleted = def.deplete_one_in > 0 && rng.random_range(0..def.deplete_one_in) == 0;
        let mut events = vec![EventBody::ResourceGathered {
            player_id,
            node,
            item: def.item.clone(),
            skill: def.skill,
            xp: def.xp,
            depleted_until: depleted.then_some(self.tick + u64::from(def.respawn_ticks)),
        }];
        events.extend(self.level_ups(player_id, def.skill, def.xp));
        events
    }

    /// Depleted nodes whose timer ran out (flush phase).
    pub(super) fn node_respawns(&self) -> Vec<EventBody> {
        self.depleted
            .iter()
            .filter(|(_, until)| **until <= self.tick)
            .map(|(node, _)| EventBody::NodeRespawned { node: *node })
            .collect()
    }

    pub(super) fn apply_gathering(&mut self, body: &EventBody) {
        let content = self.content.clone();
        match body {
            EventBody::GatheringStarted { player_id, node } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.gathering = Some(*node);
                    p.target = None;
                    p.path = None;
                }
            }
            EventBody::GatheringStopped { player_id, .. } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.gathering = None;
                }
            }
            EventBody::ResourceGathered {
                player_id,
                node,
                item,
                skill,
                xp,
                depleted_until,
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.add(&content, item, 1);
                    p.skills.add(*skill, *xp);
                }
                if let Some(until) = depleted_until {
                    self.depleted.insert(*node, *until);
                }
            }
            EventBody::NodeRespawned { node } => {
                self.depleted.remove(node);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::{EventBody, Skill};

    const TREE: (i32, i32) = (3245, 3215);
    const OAK: (i32, i32) = (3260, 3225);

    #[test]
    fn chopping_a_tree_yields_logs_and_xp_until_it_falls_then_it_grows_back() {
        let mut t = Given::new().player(A).at(A, (TREE.0 + 1, TREE.1));
        t.when(
            A,
            Command::Gather {
                x: TREE.0,
                y: TREE.1,
            },
        )
        .unwrap();
        let events = t.run_ticks(20);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::ResourceGathered { .. }))
        );
        let p = t.world.player(A).unwrap();
        assert_eq!(
            p.inventory.count("logs"),
            1,
            "a normal tree falls after one log"
        );
        assert_eq!(p.skills.xp(Skill::Woodcutting), 25);
        assert!(events.iter().any(
            |e| matches!(e, EventBody::GatheringStopped { reason, .. } if reason == "node_depleted")
        ));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::NodeRespawned { .. }))
        );
        t.assert_conserved();
    }

    #[test]
    fn an_oak_needs_woodcutting_fifteen() {
        let t = Given::new().player(A).at(A, (OAK.0 + 1, OAK.1));
        assert_eq!(
            t.rejects(A, Command::Gather { x: OAK.0, y: OAK.1 }),
            "level_too_low"
        );
    }

    #[test]
    fn gathering_without_a_tool_or_from_afar_is_refused() {
        let mut t = Given::new().player(A).at(A, (TREE.0 + 1, TREE.1));
        t.when(A, Command::DropItem { slot: 0 }).unwrap();
        assert_eq!(
            t.rejects(
                A,
                Command::Gather {
                    x: TREE.0,
                    y: TREE.1
                }
            ),
            "no_tool"
        );
        let t = Given::new().player(A).at(A, (TREE.0 + 3, TREE.1));
        assert_eq!(
            t.rejects(
                A,
                Command::Gather {
                    x: TREE.0,
                    y: TREE.1
                }
            ),
            "not_in_range"
        );
    }

    #[test]
    fn a_full_inventory_stops_fishing() {
        let mut t = Given::new()
            .player(A)
            .at(A, (3212, 3182))
            .minted(A, "logs", 20);
        t.when(A, Command::Gather { x: 3212, y: 3181 }).unwrap();
        let events = t.run_ticks(60);
        assert!(events.iter().any(|e| matches!(e, EventBody::GatheringStopped { reason, .. } if reason == "inventory_full")));
        assert_eq!(t.world.player(A).unwrap().inventory.free_slots(), 0);
        t.assert_conserved();
    }

    /// The members lands' goods: lobsters caught with a pot and cooked at a range, maples; a
    /// free player gets none of them, a member does.
    #[test]
    fn lobsters_and_maples_are_for_members_and_members_catch_and_cook_them() {
        let lobsters = (3222, 3140);
        let free = Given::new()
            .player(A)
            .minted(A, "lobster_pot", 1)
            .xp(A, Skill::Fishing, 40_000)
            .at(A, (3222, 3141));
        assert_eq!(
            free.rejects(
                A,
                Command::Gather {
                    x: lobsters.0,
                    y: lobsters.1
                }
            ),
            "members_only"
        );
        // A free player is stopped at the coast's border anyway.
        let border = Given::new().player(A).at(A, (3222, 3170));
        assert_eq!(
            border.rejects(
                A,
                Command::Move {
                    x: 3222,
                    y: 3169,
                    run: false
                }
            ),
            "members_only"
        );
        let mut t = Given::new()
            .player(A)
            .member(A)
            .xp(A, Skill::Fishing, 40_000)
            .xp(A, Skill::Cooking, 40_000)
            .at(A, (3222, 3141));
        let mut member = Given {
            world: t.world.clone(),
        }
        .minted(A, "lobster_pot", 1);
        member
            .when(
                A,
                Command::Gather {
                    x: lobsters.0,
                    y: lobsters.1,
                },
            )
            .unwrap();
        let events = member.run_ticks(60);
        assert!(events.iter().any(
            |e| matches!(e, EventBody::ResourceGathered { item, .. } if item == "raw_lobster")
        ));
        let mut member = member.at(A, (3214, 3161));
        member
            .when(
                A,
                Command::Produce {
                    recipe: "cook_lobster".into(),
                },
            )
            .unwrap();
        assert_eq!(
            member.world.player(A).unwrap().inventory.count("lobster"),
            1
        );
        member.assert_conserved();
        // And a free player may not cook one.
        t.world.apply(&EventBody::MembershipChanged {
            player_id: A,
            members: false,
        });
        let t = t.minted(A, "raw_lobster", 1).at(A, (3214, 3161));
        assert_eq!(
            t.rejects(
                A,
                Command::Produce {
                    recipe: "cook_lobster".into()
                }
            ),
            "members_only"
        );
    }

    #[test]
    fn the_gem_rock_is_for_members() {
        let t = Given::new().player(A).at(A, (3301, 3200));
        assert_eq!(
            t.rejects(A, Command::Gather { x: 3300, y: 3200 }),
            "members_only"
        );
    }
}
