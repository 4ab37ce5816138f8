//! The shared definitions of Legends of Hastinapur: the shapes of the content files (items, NPC
//! kinds with their combat stats and loot tables, gathering nodes, recipes, shops, prayers and the
//! map's zones with their objects), as the server reads them from `content/*.toml` and serves
//! them at `GET /v1/content`.
//!
//! A client (a Bevy or other Rust game) depends on this crate alone to read the content files or
//! the content document: it links no server code, no storage and no async runtime. The server's
//! rules about these definitions (loading, validation, lookups) are `loh_world::content`.
//!
//! # Layout
//!
//! - this file: the content files' shapes ([`ItemDef`], [`NpcDef`], [`ZoneDef`], …);
//! - [`document`]: the content document of `GET /v1/content` ([`ContentDocument`]).

pub mod document;

pub use document::ContentDocument;

use loh_events::{EquipSlot, Skill};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsFile {
    pub item: Vec<ItemDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcsFile {
    pub npc: Vec<NpcDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesFile {
    pub node: Vec<NodeDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipesFile {
    pub recipe: Vec<RecipeDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopsFile {
    pub shop: Vec<ShopDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrayersFile {
    pub prayer: Vec<PrayerDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZonesFile {
    pub zone: Vec<ZoneDef>,
}

/// An item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub stackable: bool,
    /// Shop price in coins.
    pub value: u32,
    #[serde(default)]
    pub members: bool,
    pub equip: Option<EquipDef>,
    pub tool: Option<ToolDef>,
    /// Hitpoints restored when eaten.
    pub heals: Option<u32>,
    /// Prayer XP for burying it (bones); offered at an altar, 3.5 times as much.
    pub prayer_xp: Option<u32>,
}

/// How an item is worn.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquipDef {
    pub slot: EquipSlot,
    #[serde(default)]
    pub attack_bonus: i32,
    #[serde(default)]
    pub strength_bonus: i32,
    #[serde(default)]
    pub defence_bonus: i32,
    #[serde(default)]
    pub prayer_bonus: i32,
    #[serde(default = "one")]
    pub attack_level: u8,
    #[serde(default = "one")]
    pub defence_level: u8,
}

/// A gathering tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub kind: String,
    pub power: u32,
}

/// An item and quantity in content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    pub item: String,
    pub qty: u32,
}

/// A weighted loot entry; item `nothing` drops nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LootDef {
    pub item: String,
    pub qty: u32,
    pub weight: u32,
}

/// An NPC kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcDef {
    pub id: String,
    pub name: String,
    pub hitpoints: u32,
    pub attack: u32,
    pub strength: u32,
    pub defence: u32,
    #[serde(default)]
    pub attack_bonus: i32,
    #[serde(default)]
    pub strength_bonus: i32,
    #[serde(default)]
    pub defence_bonus: i32,
    /// Ticks between swings.
    #[serde(default = "four")]
    pub attack_speed: u32,
    #[serde(default)]
    pub aggressive: bool,
    /// Tiles within which an aggressive NPC notices a player.
    #[serde(default)]
    pub aggro_range: u32,
    pub respawn_ticks: u32,
    #[serde(default)]
    pub always: Vec<Stack>,
    #[serde(default)]
    pub loot: Vec<LootDef>,
}

/// A kind of gathering node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    pub id: String,
    pub name: String,
    pub skill: Skill,
    pub level: u8,
    pub xp: u32,
    pub item: String,
    /// The tool kind needed (`axe`, `pickaxe`, `net`).
    pub tool: String,
    /// Base success chance out of 256.
    pub base: u32,
    /// After a success the node depletes with chance 1/n; 0 never depletes.
    pub deplete_one_in: u32,
    pub respawn_ticks: u32,
    #[serde(default)]
    pub members: bool,
}

/// A production recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeDef {
    pub id: String,
    pub skill: Skill,
    pub level: u8,
    pub xp: u32,
    pub station: Option<ObjectKind>,
    pub tool: Option<String>,
    #[serde(default)]
    pub members: bool,
    pub inputs: Vec<Stack>,
    pub outputs: Vec<Stack>,
}

/// A shop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopDef {
    pub id: String,
    pub name: String,
    /// The items the shop stocks, each up to its full stock.
    pub stock: Vec<String>,
    /// The full stock of each item, unless `quantities` says otherwise.
    #[serde(default = "ten")]
    pub quantity: u32,
    /// Full stocks of single items, overriding `quantity`.
    #[serde(default)]
    pub quantities: std::collections::BTreeMap<String, u32>,
    /// Ticks between restocks: each item below its full stock gains one, and each above it
    /// (sold to the shop by players) loses one.
    #[serde(default = "twenty")]
    pub restock_ticks: u64,
}

impl ShopDef {
    /// How many of `item` the shop holds when nobody has bought or sold any: its full stock,
    /// 0 for an item it does not stock.
    pub fn full_stock(&self, item: &str) -> u32 {
        if self.stock.iter().any(|i| i == item) {
            self.quantities.get(item).copied().unwrap_or(self.quantity)
        } else {
            0
        }
    }
}

fn ten() -> u32 {
    10
}

fn twenty() -> u64 {
    20
}

/// A prayer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrayerDef {
    pub id: String,
    pub name: String,
    pub level: u8,
    /// One point drains every this many ticks (before the prayer bonus).
    pub drain_ticks: u32,
    #[serde(default = "hundred")]
    pub attack_mult: u32,
    #[serde(default = "hundred")]
    pub strength_mult: u32,
    #[serde(default = "hundred")]
    pub defence_mult: u32,
    /// The damage type this prayer protects from (`melee`).
    pub protect: Option<String>,
}

/// Safe or PvP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    Safe,
    Pvp,
}

/// Inclusive tile bounds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min_x: i32,
    pub max_x: i32,
    pub min_y: i32,
    pub max_y: i32,
}

impl Bounds {
    pub fn contains(&self, x: i32, y: i32) -> bool {
        (self.min_x..=self.max_x).contains(&x) && (self.min_y..=self.max_y).contains(&y)
    }

    pub fn overlaps(&self, o: &Bounds) -> bool {
        self.min_x <= o.max_x
            && o.min_x <= self.max_x
            && self.min_y <= o.max_y
            && o.min_y <= self.max_y
    }
}

/// What stands on an object tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Bank,
    Shop,
    Furnace,
    Anvil,
    Range,
    Altar,
}

/// A placed object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDef {
    pub kind: ObjectKind,
    pub x: i32,
    pub y: i32,
    /// For `shop`: the shop id.
    pub shop: Option<String>,
}

/// A gathering node on a tile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlacement {
    pub node: String,
    pub x: i32,
    pub y: i32,
}

/// An NPC spawn point.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcSpawnPoint {
    pub npc: String,
    pub x: i32,
    pub y: i32,
    /// Tiles the NPC may wander from its point.
    #[serde(default)]
    pub wander: u32,
    /// The zone's bounds, filled in at load.
    #[serde(skip)]
    pub zone: Option<Bounds>,
}

/// A zone of the map.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneDef {
    pub id: String,
    pub name: String,
    pub kind: ZoneKind,
    #[serde(default)]
    pub members: bool,
    pub bounds: Bounds,
    pub spawn: Option<[i32; 2]>,
    #[serde(default)]
    pub blocked: Vec<[i32; 2]>,
    #[serde(default)]
    pub objects: Vec<ObjectDef>,
    #[serde(default)]
    pub nodes: Vec<NodePlacement>,
    #[serde(default)]
    pub spawns: Vec<NpcSpawnPoint>,
}

fn one() -> u8 {
    1
}

fn four() -> u32 {
    4
}

fn hundred() -> u32 {
    100
}
