//! The content document of `GET /v1/content`: what a client needs to draw and name things, as
//! one JSON value. The server builds it from its content and map; a Rust client reads it with
//! `serde_json::from_slice::<ContentDocument>(&body)`.
//!
//! Entries with an index (`npc_spawns[].npc`, `node_placements[].node`) are numbered as the
//! events number them. The definitions are the content files' own shapes, which refuse fields
//! they do not know: a client reads the document of the server build it was built with.

use crate::{
    Bounds, ItemDef, NodeDef, NpcDef, ObjectDef, PrayerDef, RecipeDef, SpellDef, ZoneKind,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentDocument {
    pub map: MapBounds,
    pub items: Vec<ItemDef>,
    /// NPC kinds: combat stats, aggression, respawn, the loot table.
    pub npcs: Vec<NpcDef>,
    pub npc_spawns: Vec<NpcSpawnSeen>,
    pub nodes: Vec<NodeDef>,
    pub node_placements: Vec<NodePlacementSeen>,
    pub objects: Vec<ObjectDef>,
    pub shops: Vec<ShopSeen>,
    pub recipes: Vec<RecipeDef>,
    pub prayers: Vec<PrayerDef>,
    /// The standard spellbook's combat spells.
    pub spells: Vec<SpellDef>,
    /// The attack styles `SetAttackStyle` takes, by weapon.
    pub attack_styles: Vec<AttackStyleSeen>,
    pub zones: Vec<ZoneSeen>,
    /// Tiles no one may stand on, as `[x, y]`.
    pub blocked: Vec<[i32; 2]>,
}

/// The map's tiles (inclusive) and the player spawn tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapBounds {
    pub min_x: i32,
    pub max_x: i32,
    pub min_y: i32,
    pub max_y: i32,
    pub spawn_x: i32,
    pub spawn_y: i32,
}

/// An NPC spawn point: `npc` is the id events give the NPC spawned there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpcSpawnSeen {
    pub npc: u32,
    pub kind: String,
    pub x: i32,
    pub y: i32,
    pub wander: u32,
}

/// A gathering node on a tile: `node` is the id events give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlacementSeen {
    pub node: u32,
    pub kind: String,
    pub x: i32,
    pub y: i32,
}

/// A shop and the full stock of each item it sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSeen {
    pub id: String,
    pub name: String,
    pub stock: Vec<String>,
    pub full_stock: BTreeMap<String, u32>,
    pub restock_ticks: u64,
}

/// An attack style: what it trains and what it adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackStyleSeen {
    /// As `SetAttackStyle` names it.
    pub style: String,
    /// `melee` or `bow` (spells have no style).
    pub weapon: String,
    /// The skills its XP goes to (Hitpoints aside).
    pub trains: Vec<String>,
    pub effect: String,
}

/// A zone of the map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneSeen {
    pub id: String,
    pub name: String,
    pub kind: ZoneKind,
    pub members: bool,
    /// The rules version that brought it: a world of older rules has none of its NPCs,
    /// objects and nodes.
    pub rules: u32,
    pub bounds: Bounds,
    /// Player spawn points: the dead come back at the nearest (or the home spawn of `map`).
    pub player_spawns: Vec<[i32; 2]>,
    /// A wilderness: level 1 on its southern edge, one more every 8 tiles north
    /// ([`crate::WILDERNESS_TILES_PER_LEVEL`]).
    pub wilderness: bool,
}
