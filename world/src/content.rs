//! Game content as data: items, NPCs, gathering nodes, recipes, shops, prayers, zones and
//! spells, read from TOML files under `content/` and validated at start.
//!
//! [`Content::embedded`] is the repository's `content/` folder compiled in (so `loh up` works
//! from any directory); [`Content::load_dir`] reads another folder. Every validation error names
//! the file and the entry. The definitions' shapes are the shared crate [`loh_defs`], which a
//! client can depend on without the server.

mod validate;

pub use loh_defs::*;

use crate::base::chebyshev;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The content files, in load order.
pub const FILES: [&str; 8] = [
    "items.toml",
    "npcs.toml",
    "nodes.toml",
    "recipes.toml",
    "shops.toml",
    "prayers.toml",
    "zones.toml",
    "spells.toml",
];

const EMBEDDED: [&str; 8] = [
    include_str!("../../content/items.toml"),
    include_str!("../../content/npcs.toml"),
    include_str!("../../content/nodes.toml"),
    include_str!("../../content/recipes.toml"),
    include_str!("../../content/shops.toml"),
    include_str!("../../content/prayers.toml"),
    include_str!("../../content/zones.toml"),
    include_str!("../../content/spells.toml"),
];

/// A content file that does not parse or does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content/{file}: {entry}: {message}")]
pub struct ContentError {
    /// The file, e.g. `items.toml`.
    pub file: String,
    /// The entry, e.g. `item "bronze_axe"`, or `(file)` for a parse error.
    pub entry: String,
    pub message: String,
}

impl ContentError {
    pub(crate) fn new(file: &str, entry: impl Into<String>, message: impl Into<String>) -> Self {
        ContentError {
            file: file.to_owned(),
            entry: entry.into(),
            message: message.into(),
        }
    }
}

/// All content, indexed and validated.
#[derive(Debug, Clone)]
pub struct Content {
    pub items: BTreeMap<String, ItemDef>,
    pub npcs: BTreeMap<String, NpcDef>,
    pub nodes: BTreeMap<String, NodeDef>,
    pub recipes: BTreeMap<String, RecipeDef>,
    pub shops: BTreeMap<String, ShopDef>,
    pub prayers: BTreeMap<String, PrayerDef>,
    /// The standard spellbook's combat spells.
    pub spells: BTreeMap<String, SpellDef>,
    /// The whole map's tiles, when the content describes them (since rules 4).
    pub map: Option<Bounds>,
    /// Zones in file order; the first holds the player spawn.
    pub zones: Vec<ZoneDef>,
    /// Every node placement, indexed by its position in this list (the `node` of events).
    pub node_placements: Vec<NodePlacement>,
    /// Every NPC spawn point, indexed by its position in this list (the `npc` of events).
    pub npc_spawns: Vec<NpcSpawnPoint>,
    /// Every placed object.
    pub objects: Vec<ObjectDef>,
    /// Tiles no one may stand on.
    pub blocked: BTreeSet<(i32, i32)>,
    /// Node placement by tile.
    pub node_at: BTreeMap<(i32, i32), u32>,
    /// SHA-256 over the content files (name and text, in [`FILES`] order): a saved world
    /// ([`crate::image`]) is only restored onto the content it was folded with.
    pub fingerprint: [u8; 32],
}

impl Content {
    /// The repository's `content/` folder, compiled in; parsed and validated once.
    pub fn embedded() -> Arc<Content> {
        static EMBEDDED_CONTENT: OnceLock<Arc<Content>> = OnceLock::new();
        EMBEDDED_CONTENT
            .get_or_init(|| {
                let files: Vec<(&str, &str)> = FILES.iter().copied().zip(EMBEDDED).collect();
                Arc::new(Content::parse(&files).expect("the embedded content is valid"))
            })
            .clone()
    }

    /// Reads and validates the content files of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Content, ContentError> {
        let mut texts = Vec::new();
        for file in FILES {
            let text = std::fs::read_to_string(dir.join(file))
                .map_err(|e| ContentError::new(file, "(file)", e.to_string()))?;
            texts.push((file, text));
        }
        let files: Vec<(&str, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
        Content::parse(&files)
    }

    /// Parses and validates content from `(file name, text)` pairs, one per [`FILES`] entry.
    pub fn parse(files: &[(&str, &str)]) -> Result<Content, ContentError> {
        let text = |name: &str| {
            files
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| ContentError::new(name, "(file)", "missing"))
        };
        let items: ItemsFile = parse_file("items.toml", text("items.toml")?)?;
        let npcs: NpcsFile = parse_file("npcs.toml", text("npcs.toml")?)?;
        let nodes: NodesFile = parse_file("nodes.toml", text("nodes.toml")?)?;
        let recipes: RecipesFile = parse_file("recipes.toml", text("recipes.toml")?)?;
        let shops: ShopsFile = parse_file("shops.toml", text("shops.toml")?)?;
        let prayers: PrayersFile = parse_file("prayers.toml", text("prayers.toml")?)?;
        let zones: ZonesFile = parse_file("zones.toml", text("zones.toml")?)?;
        let spells: SpellsFile = parse_file("spells.toml", text("spells.toml")?)?;
        let mut content =
            validate::build(items, npcs, nodes, recipes, shops, prayers, zones, spells)?;
        let mut h = Sha256::new();
        for name in FILES {
            let t = text(name)?;
            h.update((name.len() as u64).to_be_bytes());
            h.update(name.as_bytes());
            h.update((t.len() as u64).to_be_bytes());
            h.update(t.as_bytes());
        }
        content.fingerprint = h.finalize().into();
        Ok(content)
    }

    pub fn item(&self, id: &str) -> Option<&ItemDef> {
        self.items.get(id)
    }

    /// The zone holding tile `(x, y)`, if any.
    pub fn zone_at(&self, x: i32, y: i32) -> Option<&ZoneDef> {
        self.zones.iter().find(|z| z.bounds.contains(x, y))
    }

    /// The zone holding `(x, y)` in a world deciding by `rules` ([`ZoneDef::rules`]), if any.
    pub fn zone_in_force(&self, x: i32, y: i32, rules: u32) -> Option<&ZoneDef> {
        self.zone_at(x, y).filter(|z| z.rules <= rules)
    }

    /// Whether `(x, y)` lies in a PvP zone a world deciding by `rules` has.
    pub fn is_pvp(&self, x: i32, y: i32, rules: u32) -> bool {
        self.zone_in_force(x, y, rules)
            .is_some_and(|z| z.kind == ZoneKind::Pvp)
    }

    /// Whether `(x, y)` lies in a members-only zone a world deciding by `rules` has.
    pub fn is_members_tile(&self, x: i32, y: i32, rules: u32) -> bool {
        self.zone_in_force(x, y, rules).is_some_and(|z| z.members)
    }

    /// The wilderness level of `(x, y)` in a world deciding by `rules`, if it is in one.
    pub fn wilderness_level(&self, x: i32, y: i32, rules: u32) -> Option<u32> {
        self.zone_in_force(x, y, rules)
            .and_then(|z| z.wilderness_level(x, y))
    }

    /// The player spawn points beyond the home spawn, of the zones a world deciding by `rules`
    /// has.
    pub fn player_spawns(&self, rules: u32) -> impl Iterator<Item = (i32, i32)> + '_ {
        self.zones
            .iter()
            .filter(move |z| z.rules <= rules)
            .flat_map(|z| z.player_spawns.iter().map(|[x, y]| (*x, *y)))
    }

    /// The player spawn tile.
    pub fn spawn(&self) -> (i32, i32) {
        self.zones
            .iter()
            .find_map(|z| z.spawn)
            .map_or((0, 0), |[x, y]| (x, y))
    }

    /// Objects of `kind` within `range` tiles (Chebyshev) of `(x, y)`, of the zones a world
    /// deciding by `rules` has ([`ZoneDef::rules`]).
    pub fn objects_near(
        &self,
        kind: ObjectKind,
        x: i32,
        y: i32,
        range: u32,
        rules: u32,
    ) -> impl Iterator<Item = &ObjectDef> {
        self.objects.iter().filter(move |o| {
            o.kind == kind && o.rules <= rules && chebyshev(o.x, o.y, x, y) <= range
        })
    }
}

fn parse_file<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, ContentError> {
    toml::from_str(text).map_err(|e| ContentError::new(file, "(file)", e.to_string()))
}
