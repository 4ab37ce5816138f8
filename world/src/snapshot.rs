//! What a client is told so that it can draw the world: its own whole state at join, and the
//! visible state of every player, NPC and ground item when it comes into view.
//!
//! These are views, never stored: the tick writer sends a `Snapshot` frame at a session's first
//! tick and `…Appeared` / `…Disappeared` events as things enter and leave each viewer's view
//! (`docs/protocol.md`, "Join snapshot and view").

use super::{Npc, Player, World, chebyshev, social::VIEW_DISTANCE};
use loh_events::{AttackStyle, EquipSlot, GroundItem, ItemQty, Skill};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A skill's level and experience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkillView {
    pub skill: Skill,
    pub level: u8,
    pub xp: u32,
}

/// Everything a player knows of themself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelfView {
    pub player_id: Uuid,
    pub x: i32,
    pub y: i32,
    pub members: bool,
    pub hitpoints: u32,
    pub prayer_points: u32,
    pub skills: Vec<SkillView>,
    /// The 28 inventory slots, `null` where empty.
    pub inventory: Vec<Option<ItemQty>>,
    /// Worn items by equipment slot.
    pub equipment: BTreeMap<EquipSlot, String>,
    pub bank: BTreeMap<String, u32>,
    pub style: AttackStyle,
    /// The spell the player fights with; left out of the frame when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autocast: Option<String>,
    pub prayers: Vec<String>,
    pub friends: Vec<Uuid>,
    pub ignores: Vec<Uuid>,
    /// Those of `friends` online in this world now (`PlayerPresence` tells changes after). Left
    /// out of the frame when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub friends_online: Vec<Uuid>,
}

/// What others see of a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayerSeen {
    pub player_id: Uuid,
    pub x: i32,
    pub y: i32,
    pub hitpoints: u32,
    pub equipment: BTreeMap<EquipSlot, String>,
    /// The player's display name, as they registered it. The world does not know names (they
    /// are account data, not game facts): the tick writer fills it in from the session, and it
    /// is left out of the frame when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a viewer sees of an NPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NpcSeen {
    pub npc: u32,
    pub kind: String,
    pub x: i32,
    pub y: i32,
    pub hitpoints: u32,
}

fn worn(p: &Player) -> BTreeMap<EquipSlot, String> {
    EquipSlot::ALL
        .iter()
        .filter_map(|s| p.worn(*s).map(|item| (*s, item.to_owned())))
        .collect()
}

impl World {
    /// A player's whole state, as told to them at join.
    pub fn self_view(&self, player_id: Uuid) -> Option<SelfView> {
        let p = self.player(player_id)?;
        Some(SelfView {
            player_id,
            x: p.x,
            y: p.y,
            members: p.members,
            hitpoints: p.hitpoints,
            prayer_points: p.prayer_points,
            skills: Skill::ALL
                .iter()
                .map(|&skill| SkillView {
                    skill,
                    level: p.skills.level(skill),
                    xp: p.skills.xp(skill),
                })
                .collect(),
            inventory: (0..crate::inventory::SLOTS as u8)
                .map(|i| {
                    p.inventory.slot(i).map(|s| ItemQty {
                        item: s.item.clone(),
                        qty: s.qty,
                    })
                })
                .collect(),
            equipment: worn(p),
            bank: p.bank.clone(),
            style: p.style,
            autocast: p.autocast.clone(),
            prayers: p.prayers.iter().cloned().collect(),
            friends: p.friends.iter().copied().collect(),
            ignores: p.ignores.iter().copied().collect(),
            friends_online: p
                .friends
                .iter()
                .copied()
                .filter(|f| self.player(*f).is_some_and(|f| f.online))
                .collect(),
        })
    }

    /// What others see of a player.
    pub fn player_seen(&self, player_id: Uuid) -> Option<PlayerSeen> {
        let p = self.player(player_id)?;
        Some(PlayerSeen {
            player_id,
            x: p.x,
            y: p.y,
            hitpoints: p.hitpoints,
            equipment: worn(p),
            name: None,
        })
    }

    /// What a viewer sees of an NPC.
    pub fn npc_seen(&self, npc: u32, n: &Npc) -> NpcSeen {
        NpcSeen {
            npc,
            kind: n.kind.clone(),
            x: n.x,
            y: n.y,
            hitpoints: n.hitpoints,
        }
    }

    /// A ground item by id.
    pub fn ground_item(&self, ground_id: u64) -> Option<&GroundItem> {
        self.ground.get(&ground_id)
    }

    /// The NPCs within the view distance of `(x, y)`, by id.
    pub fn npcs_in_view(&self, x: i32, y: i32) -> impl Iterator<Item = (u32, &Npc)> {
        self.npcs()
            .filter(move |(_, n)| chebyshev(x, y, n.x, n.y) <= VIEW_DISTANCE)
            .map(|(id, n)| (*id, n))
    }

    /// The ground items `viewer`, standing on `(x, y)`, sees: within the view distance, and
    /// public or theirs.
    pub fn ground_in_view(
        &self,
        viewer: Uuid,
        x: i32,
        y: i32,
    ) -> impl Iterator<Item = &GroundItem> {
        let tick = self.tick();
        self.ground_items().filter(move |g| {
            chebyshev(x, y, g.x, g.y) <= VIEW_DISTANCE
                && (g.owner.is_none() || g.owner == Some(viewer) || tick >= g.public_at)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Given;
    use uuid::Uuid;

    const A: Uuid = Uuid::from_u128(1);

    #[test]
    fn a_new_players_self_view_holds_their_starter_state() {
        let t = Given::new().player(A);
        let me = t.world.self_view(A).unwrap();
        assert_eq!((me.x, me.y), (t.world.map.spawn_x, t.world.map.spawn_y));
        assert_eq!(me.inventory.len(), 28);
        assert_eq!(me.skills.len(), 13);
        assert_eq!(me.hitpoints, 10);
        assert!(t.world.self_view(Uuid::from_u128(99)).is_none());
        assert!(me.friends_online.is_empty());
    }

    /// A client draws its friends list with presence from the snapshot alone: the friends
    /// online now are named (`PlayerPresence` arrives only when that changes).
    #[test]
    fn the_self_view_names_the_friends_online_now() {
        use loh_events::EventBody;
        const B: Uuid = Uuid::from_u128(2);
        const C: Uuid = Uuid::from_u128(3);
        let mut t = Given::new().player(A).player(B).player(C).online(B);
        for friend in [B, C] {
            t.world.apply(&EventBody::FriendAdded {
                player_id: A,
                friend,
            });
        }
        let me = t.world.self_view(A).unwrap();
        assert_eq!(me.friends.len(), 2);
        assert_eq!(me.friends_online, [B]);
        t.world.apply(&EventBody::PlayerPresence {
            player_id: B,
            online: false,
        });
        assert!(t.world.self_view(A).unwrap().friends_online.is_empty());
    }
}
