//! The records the world keeps per player, NPC and trade.

use super::inventory::Inventory;
use super::skills::Skills;
use loh_events::{AttackStyle, EquipSlot, ItemQty, Skill, Target, Tier};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// What the world knows of a player.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Player {
    pub x: i32,
    pub y: i32,
    /// Version of the player's stream (number of events in it).
    pub version: u64,
    pub last_say: Option<String>,
    /// Whether the player reaches members content now (`tier` is not free).
    pub members: bool,
    /// The membership tier ([`crate::membership`]).
    pub tier: Tier,
    /// Until when (Unix seconds) the membership is paid; it lapses at this time.
    pub paid_through: i64,
    pub online: bool,
    pub skills: Skills,
    pub hitpoints: u32,
    pub prayer_points: u32,
    pub inventory: Inventory,
    /// Every item stacks in the bank; capacity counts distinct items.
    pub bank: BTreeMap<String, u32>,
    pub equipment: [Option<String>; 11],
    /// The node being gathered, if any.
    pub gathering: Option<u32>,
    pub target: Option<Target>,
    pub next_attack_at: u64,
    pub style: AttackStyle,
    /// The spell the player fights with instead of their weapon ([`crate::combat`]).
    pub autocast: Option<String>,
    pub prayers: BTreeSet<String>,
    /// The tick the active prayer set last changed (drain is counted from it).
    pub prayer_since: u64,
    /// A server-side path: the target tile and whether to run.
    pub path: Option<(i32, i32, bool)>,
    pub friends: BTreeSet<Uuid>,
    pub ignores: BTreeSet<Uuid>,
    /// The player this one asked to trade.
    pub trade_request: Option<Uuid>,
}

impl Player {
    /// A new player on `(x, y)`: Hitpoints 10, everything else 1.
    pub fn new(x: i32, y: i32) -> Player {
        let skills = Skills::new();
        Player {
            x,
            y,
            version: 1,
            last_say: None,
            members: false,
            tier: Tier::Free,
            paid_through: 0,
            online: false,
            hitpoints: skills.level(Skill::Hitpoints).into(),
            prayer_points: skills.level(Skill::Prayer).into(),
            skills,
            inventory: Inventory::default(),
            bank: BTreeMap::new(),
            equipment: Default::default(),
            gathering: None,
            target: None,
            next_attack_at: 0,
            style: AttackStyle::Accurate,
            autocast: None,
            prayers: BTreeSet::new(),
            prayer_since: 0,
            path: None,
            friends: BTreeSet::new(),
            ignores: BTreeSet::new(),
            trade_request: None,
        }
    }

    pub fn worn(&self, slot: EquipSlot) -> Option<&str> {
        self.equipment[slot.index()].as_deref()
    }

    /// Whether the player holds `qty` of `item` in the inventory.
    pub fn has(&self, item: &str, qty: u32) -> bool {
        u64::from(qty) <= self.inventory.count(item)
    }
}

/// An NPC in the world, from spawn point `spawn`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Npc {
    pub kind: String,
    pub x: i32,
    pub y: i32,
    pub hitpoints: u32,
    /// The player it fights back against or hunts.
    pub target: Option<Uuid>,
    pub next_attack_at: u64,
}

/// Screens of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TradeStage {
    Offer,
    Confirm,
}

/// One side of an open trade.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trade {
    pub with: Uuid,
    pub stage: TradeStage,
    pub offer: Vec<ItemQty>,
    pub accepted: bool,
}
