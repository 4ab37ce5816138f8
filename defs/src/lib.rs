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
    /// The whole map's tiles (since rules 4); without it, the server's configured map.
    pub map: Option<Bounds>,
    pub zone: Vec<ZoneDef>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpellsFile {
    pub spell: Vec<SpellDef>,
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
    /// A bow: wielded, it shoots the arrows it takes from the inventory.
    pub bow: Option<BowDef>,
    /// An arrow: what it adds to a bow's hit.
    pub ammo: Option<AmmoDef>,
    /// A staff that stands in for this rune: spells cast while wielding it burn none of it.
    pub rune_source: Option<String>,
}

/// A bow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BowDef {
    /// Tiles it reaches (before the longrange style's two more).
    pub range: u32,
    /// Ticks between shots (the rapid style is one faster).
    pub speed: u32,
    /// The arrows it fires, the best first.
    pub arrows: Vec<String>,
}

/// An arrow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmmoDef {
    pub ranged_strength: i32,
}

/// A combat spell of the standard spellbook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpellDef {
    pub id: String,
    pub name: String,
    /// The Magic level it needs.
    pub level: u8,
    /// Its maximum hit.
    pub max_hit: u32,
    /// Magic XP for each cast, hit or splash (OSRS's base XP, rounded down).
    pub xp: u32,
    /// The runes each cast burns.
    pub runes: Vec<Stack>,
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
    #[serde(default)]
    pub ranged_attack: i32,
    #[serde(default)]
    pub ranged_strength: i32,
    #[serde(default)]
    pub ranged_defence: i32,
    #[serde(default)]
    pub magic_attack: i32,
    #[serde(default)]
    pub magic_defence: i32,
    #[serde(default = "one")]
    pub attack_level: u8,
    #[serde(default = "one")]
    pub defence_level: u8,
    /// The Ranged level it needs (bows).
    #[serde(default = "one")]
    pub ranged_level: u8,
    /// The Magic level it needs (staves).
    #[serde(default = "one")]
    pub magic_level: u8,
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
    /// How it attacks: `melee` (the default), `ranged` or `magic`. Its `attack` and `strength`
    /// are its accuracy and power in that style.
    #[serde(default)]
    pub attack_type: DamageType,
    /// Tiles it attacks from (1 for melee).
    #[serde(default = "one_u32")]
    pub attack_range: u32,
    /// Its Magic level: its defence against spells.
    #[serde(default = "one_u32")]
    pub magic: u32,
    #[serde(default)]
    pub ranged_defence_bonus: i32,
    #[serde(default)]
    pub magic_defence_bonus: i32,
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
    /// The damage type this prayer protects from.
    pub protect: Option<DamageType>,
}

/// A kind of attack, and what a protection prayer protects from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageType {
    #[default]
    Melee,
    Ranged,
    Magic,
}

/// Safe or PvP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    Safe,
    Pvp,
}

/// Tiles of a wilderness level (as in OSRS).
pub const WILDERNESS_TILES_PER_LEVEL: i32 = 8;

impl ZoneDef {
    /// The wilderness level of `(x, y)` in this zone, if it is a wilderness holding the tile.
    pub fn wilderness_level(&self, x: i32, y: i32) -> Option<u32> {
        (self.wilderness && self.bounds.contains(x, y))
            .then(|| 1 + ((y - self.bounds.min_y) / WILDERNESS_TILES_PER_LEVEL) as u32)
    }
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
    /// Its zone's `rules`, filled in at load.
    #[serde(skip)]
    pub rules: u32,
}

/// A gathering node on a tile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlacement {
    pub node: String,
    pub x: i32,
    pub y: i32,
    /// Its zone's `rules`, filled in at load.
    #[serde(skip)]
    pub rules: u32,
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
    /// Its zone's `rules`, filled in at load.
    #[serde(skip)]
    pub rules: u32,
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
    /// The rules version that brought the zone (1 unless said): a world deciding by older
    /// rules spawns none of its NPCs and uses none of its objects and nodes, so that a log
    /// from before it re-simulates as it was decided.
    #[serde(default = "one_u32")]
    pub rules: u32,
    pub bounds: Bounds,
    /// The new players' spawn (one zone, the home town, holds it).
    pub spawn: Option<[i32; 2]>,
    /// More player spawn points: a player who dies respawns at the nearest one (or the home
    /// spawn, if nearer).
    #[serde(default)]
    pub player_spawns: Vec<[i32; 2]>,
    /// A wilderness (a PvP zone): its level is 1 on its southern edge and one more every
    /// [`WILDERNESS_TILES_PER_LEVEL`] tiles north; players attack each other only when their
    /// combat levels differ by no more than the level where both stand.
    #[serde(default)]
    pub wilderness: bool,
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

fn one_u32() -> u32 {
    1
}

fn four() -> u32 {
    4
}

fn hundred() -> u32 {
    100
}
