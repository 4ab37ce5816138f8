//! Cross-checks of the content files; every error names the file and the entry.

use super::*;
use crate::base::{COINS, MAX_STACK};
use loh_events::EquipSlot;

/// The most any stack, price or quantity may be.
const MAX: u32 = MAX_STACK;

#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    items: ItemsFile,
    npcs: NpcsFile,
    nodes: NodesFile,
    recipes: RecipesFile,
    shops: ShopsFile,
    prayers: PrayersFile,
    zones: ZonesFile,
    spells: SpellsFile,
) -> Result<Content, ContentError> {
    let items = index("items.toml", "item", items.item, |i| &i.id)?;
    let item_ok = |file: &str, entry: &str, id: &str| {
        if items.contains_key(id) {
            Ok(())
        } else {
            Err(ContentError::new(
                file,
                entry,
                format!("unknown item `{id}`"),
            ))
        }
    };
    for i in items.values() {
        let entry = format!("item \"{}\"", i.id);
        if i.value > MAX {
            return Err(ContentError::new(
                "items.toml",
                entry,
                "value exceeds 2147483647",
            ));
        }
        if i.stackable && i.equip.as_ref().is_some_and(|e| e.slot != EquipSlot::Ammo) {
            return Err(ContentError::new(
                "items.toml",
                entry,
                "only ammunition may be both stackable and worn",
            ));
        }
    }
    if !items.contains_key(COINS) {
        return Err(ContentError::new("items.toml", "item \"coins\"", "missing"));
    }
    for i in items.values() {
        let entry = format!("item \"{}\"", i.id);
        let err = |m: String| ContentError::new("items.toml", entry.clone(), m);
        if let Some(bow) = &i.bow {
            if i.equip.as_ref().is_none_or(|e| e.slot != EquipSlot::Weapon) {
                return Err(err("a bow is wielded: it needs a weapon `equip`".into()));
            }
            if bow.range == 0 || bow.range > 10 || bow.speed == 0 || bow.arrows.is_empty() {
                return Err(err(
                    "a bow needs a range of 1 to 10 tiles, a speed and its arrows".into(),
                ));
            }
            for a in &bow.arrows {
                if items.get(a).is_none_or(|a| a.ammo.is_none()) {
                    return Err(err(format!("`{a}` is not an arrow (an item with `ammo`)")));
                }
            }
        }
        if i.ammo.is_some() && !i.stackable {
            return Err(err("arrows stack: `ammo` needs `stackable`".into()));
        }
        if let Some(rune) = &i.rune_source {
            if !items.contains_key(rune) {
                return Err(err(format!("unknown item `{rune}`")));
            }
            if i.equip.as_ref().is_none_or(|e| e.slot != EquipSlot::Weapon) {
                return Err(err("a staff is wielded: it needs a weapon `equip`".into()));
            }
        }
    }

    let npcs = index("npcs.toml", "npc", npcs.npc, |n| &n.id)?;
    for n in npcs.values() {
        let entry = format!("npc \"{}\"", n.id);
        if n.hitpoints == 0 {
            return Err(ContentError::new(
                "npcs.toml",
                entry,
                "hitpoints must be at least 1",
            ));
        }
        for s in &n.always {
            item_ok("npcs.toml", &entry, &s.item)?;
            qty_ok("npcs.toml", &entry, s.qty)?;
        }
        for l in &n.loot {
            if l.item != "nothing" {
                item_ok("npcs.toml", &entry, &l.item)?;
                qty_ok("npcs.toml", &entry, l.qty)?;
            }
        }
        if !n.loot.is_empty() && n.loot.iter().all(|l| l.weight == 0) {
            return Err(ContentError::new(
                "npcs.toml",
                entry,
                "loot weights sum to 0",
            ));
        }
    }

    let nodes = index("nodes.toml", "node", nodes.node, |n| &n.id)?;
    let tool_kinds: BTreeSet<&str> = items
        .values()
        .filter_map(|i| i.tool.as_ref().map(|t| t.kind.as_str()))
        .collect();
    for n in nodes.values() {
        let entry = format!("node \"{}\"", n.id);
        item_ok("nodes.toml", &entry, &n.item)?;
        if !tool_kinds.contains(n.tool.as_str()) {
            return Err(ContentError::new(
                "nodes.toml",
                entry,
                format!("no item is a `{}` tool", n.tool),
            ));
        }
        level_ok("nodes.toml", &entry, n.level)?;
    }

    let recipes = index("recipes.toml", "recipe", recipes.recipe, |r| &r.id)?;
    for r in recipes.values() {
        let entry = format!("recipe \"{}\"", r.id);
        level_ok("recipes.toml", &entry, r.level)?;
        if r.inputs.is_empty() || r.outputs.is_empty() {
            return Err(ContentError::new(
                "recipes.toml",
                entry,
                "needs inputs and outputs",
            ));
        }
        for s in r.inputs.iter().chain(&r.outputs) {
            item_ok("recipes.toml", &entry, &s.item)?;
            qty_ok("recipes.toml", &entry, s.qty)?;
        }
        if let Some(t) = &r.tool {
            item_ok("recipes.toml", &entry, t)?;
        }
    }

    let shops = index("shops.toml", "shop", shops.shop, |s| &s.id)?;
    for s in shops.values() {
        let entry = format!("shop \"{}\"", s.id);
        for i in &s.stock {
            item_ok("shops.toml", &entry, i)?;
        }
        if let Some(i) = s.quantities.keys().find(|i| !s.stock.contains(i)) {
            return Err(ContentError::new(
                "shops.toml",
                entry,
                format!("`quantities` names `{i}`, which the shop does not stock"),
            ));
        }
        if s.restock_ticks == 0 {
            return Err(ContentError::new(
                "shops.toml",
                entry,
                "restock_ticks must be at least 1",
            ));
        }
        if s.quantity > MAX || s.quantities.values().any(|q| *q > MAX) {
            return Err(ContentError::new(
                "shops.toml",
                entry,
                "a full stock exceeds 2147483647",
            ));
        }
    }

    let prayers = index("prayers.toml", "prayer", prayers.prayer, |p| &p.id)?;
    for p in prayers.values() {
        let entry = format!("prayer \"{}\"", p.id);
        level_ok("prayers.toml", &entry, p.level)?;
        if p.drain_ticks == 0 {
            return Err(ContentError::new(
                "prayers.toml",
                entry,
                "drain_ticks must be at least 1",
            ));
        }
    }

    let spells = index("spells.toml", "spell", spells.spell, |s| &s.id)?;
    for s in spells.values() {
        let entry = format!("spell \"{}\"", s.id);
        level_ok("spells.toml", &entry, s.level)?;
        if s.runes.is_empty() {
            return Err(ContentError::new(
                "spells.toml",
                entry,
                "a spell costs runes",
            ));
        }
        for r in &s.runes {
            item_ok("spells.toml", &entry, &r.item)?;
            qty_ok("spells.toml", &entry, r.qty)?;
        }
    }

    if let Some(map) = &zones.map
        && (map.min_x > map.max_x || map.min_y > map.max_y)
    {
        return Err(ContentError::new("zones.toml", "map", "empty bounds"));
    }
    let mut content = Content {
        map: zones.map,
        items,
        npcs,
        nodes,
        recipes,
        shops,
        prayers,
        spells,
        zones: Vec::new(),
        node_placements: Vec::new(),
        npc_spawns: Vec::new(),
        objects: Vec::new(),
        blocked: BTreeSet::new(),
        node_at: BTreeMap::new(),
        fingerprint: [0; 32],
    };
    let mut seen = BTreeSet::new();
    for z in &zones.zone {
        let entry = format!("zone \"{}\"", z.id);
        let err = |m: String| ContentError::new("zones.toml", entry.clone(), m);
        if !seen.insert(z.id.clone()) {
            return Err(err("duplicate id".into()));
        }
        let b = z.bounds;
        if b.min_x > b.max_x || b.min_y > b.max_y {
            return Err(err("empty bounds".into()));
        }
        if let Some(other) = content.zones.iter().find(|o| o.bounds.overlaps(&b)) {
            return Err(err(format!("overlaps zone \"{}\"", other.id)));
        }
        let inside = |what: &str, x: i32, y: i32| {
            if b.contains(x, y) {
                Ok(())
            } else {
                Err(err(format!("{what} at ({x}, {y}) is outside the zone")))
            }
        };
        for [x, y] in &z.blocked {
            inside("blocked tile", *x, *y)?;
            content.blocked.insert((*x, *y));
        }
        for [x, y] in z.spawn.iter().chain(&z.player_spawns) {
            inside("spawn", *x, *y)?;
            if content.blocked.contains(&(*x, *y)) {
                return Err(err(format!("the spawn tile ({x}, {y}) is blocked")));
            }
        }
        if z.wilderness && z.kind != ZoneKind::Pvp {
            return Err(err("a wilderness is a PvP zone (kind = \"pvp\")".into()));
        }
        if let Some(map) = &zones.map
            && !(map.contains(b.min_x, b.min_y) && map.contains(b.max_x, b.max_y))
        {
            return Err(err("lies outside the map".into()));
        }
        for o in &z.objects {
            inside("object", o.x, o.y)?;
            match (&o.kind, &o.shop) {
                (ObjectKind::Shop, Some(s)) if content.shops.contains_key(s) => {}
                (ObjectKind::Shop, s) => return Err(err(format!("unknown shop {s:?}"))),
                (_, Some(_)) => return Err(err("only a shop object names a shop".into())),
                _ => {}
            }
            let mut o = o.clone();
            o.rules = z.rules;
            content.objects.push(o);
        }
        for n in &z.nodes {
            inside("node", n.x, n.y)?;
            if !content.nodes.contains_key(&n.node) {
                return Err(err(format!("unknown node `{}`", n.node)));
            }
            let index = content.node_placements.len() as u32;
            if content.node_at.insert((n.x, n.y), index).is_some() {
                return Err(err(format!("two nodes on ({}, {})", n.x, n.y)));
            }
            let mut n = n.clone();
            n.rules = z.rules;
            content.node_placements.push(n);
        }
        for s in &z.spawns {
            inside("npc spawn", s.x, s.y)?;
            if !content.npcs.contains_key(&s.npc) {
                return Err(err(format!("unknown npc `{}`", s.npc)));
            }
            let mut s = s.clone();
            s.zone = Some(b);
            s.rules = z.rules;
            content.npc_spawns.push(s);
        }
        content.zones.push(z.clone());
    }
    if content.zones.iter().filter(|z| z.spawn.is_some()).count() != 1 {
        return Err(ContentError::new(
            "zones.toml",
            "(file)",
            "exactly one zone must hold the player spawn",
        ));
    }
    Ok(content)
}

fn index<T>(
    file: &str,
    what: &str,
    list: Vec<T>,
    id: impl Fn(&T) -> &String,
) -> Result<BTreeMap<String, T>, ContentError> {
    let mut map = BTreeMap::new();
    for t in list {
        let key = id(&t).clone();
        if key.is_empty() {
            return Err(ContentError::new(file, format!("{what} \"\""), "empty id"));
        }
        // Clients name content by id in commands, which hold ids to this alphabet.
        if !loh_commands::is_id(&key) {
            return Err(ContentError::new(
                file,
                format!("{what} \"{key}\""),
                format!(
                    "an id is 1 to {} of a-z, 0-9 and _",
                    loh_commands::bounds::MAX_ID_LEN
                ),
            ));
        }
        if map.contains_key(&key) {
            return Err(ContentError::new(
                file,
                format!("{what} \"{key}\""),
                "duplicate id",
            ));
        }
        map.insert(key, t);
    }
    Ok(map)
}

fn qty_ok(file: &str, entry: &str, qty: u32) -> Result<(), ContentError> {
    if qty == 0 || qty > MAX {
        return Err(ContentError::new(
            file,
            entry,
            format!("quantity {qty} is not in 1..=2147483647"),
        ));
    }
    Ok(())
}

fn level_ok(file: &str, entry: &str, level: u8) -> Result<(), ContentError> {
    if !(1..=99).contains(&level) {
        return Err(ContentError::new(
            file,
            entry,
            format!("level {level} is not in 1..=99"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_with(file: &str, text: &str) -> Vec<(&'static str, String)> {
        FILES
            .iter()
            .zip(EMBEDDED)
            .map(|(f, t)| {
                (
                    *f,
                    if *f == file {
                        text.to_owned()
                    } else {
                        t.to_owned()
                    },
                )
            })
            .collect()
    }

    fn parse(files: &[(&'static str, String)]) -> Result<Content, ContentError> {
        let refs: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
        Content::parse(&refs)
    }

    #[test]
    fn the_shipped_content_is_valid_and_has_everything_to_play() {
        let c = Content::embedded();
        for kind in [
            ObjectKind::Bank,
            ObjectKind::Shop,
            ObjectKind::Furnace,
            ObjectKind::Anvil,
            ObjectKind::Altar,
        ] {
            assert!(c.objects.iter().any(|o| o.kind == kind), "{kind:?}");
        }
        assert!(c.zones.iter().any(|z| z.kind == ZoneKind::Pvp));
        assert!(c.zones.iter().any(|z| z.members));
        assert!(!c.npc_spawns.is_empty());
        for skill in ["woodcutting", "mining", "fishing"] {
            assert!(
                c.nodes
                    .values()
                    .any(|n| format!("{:?}", n.skill).to_lowercase() == skill)
            );
        }
        assert_eq!(c.spawn(), (3222, 3218));
        assert!(!c.blocked.contains(&(3223, 3218)));
    }

    #[test]
    fn an_unknown_item_in_a_recipe_names_the_file_and_the_recipe() {
        let bad = EMBEDDED[3].replace(
            "\"bronze_bar\", qty = 1 }]\n\n[[recipe]]\nid = \"smelt_iron_bar\"",
            "\"bronze_barr\", qty = 1 }]\n\n[[recipe]]\nid = \"smelt_iron_bar\"",
        );
        assert_ne!(bad, EMBEDDED[3]);
        let err = parse(&files_with("recipes.toml", &bad)).unwrap_err();
        assert_eq!(err.file, "recipes.toml");
        assert_eq!(err.entry, "recipe \"smelt_bronze_bar\"");
        assert!(
            err.to_string().contains("unknown item `bronze_barr`"),
            "{err}"
        );
    }

    #[test]
    fn a_shop_stock_of_an_item_it_does_not_sell_or_that_never_restocks_is_refused() {
        let shops = EMBEDDED[4];
        assert!(shops.contains("quantities = { bread = 30 }"));
        let bad = shops.replace("quantities = { bread = 30 }", "quantities = { coins = 30 }");
        let err = parse(&files_with("shops.toml", &bad)).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.entry.as_str()),
            ("shops.toml", "shop \"general_store\"")
        );
        assert!(err.to_string().contains("`coins`"), "{err}");
        let bad = shops.replace("restock_ticks = 50", "restock_ticks = 0");
        let err = parse(&files_with("shops.toml", &bad)).unwrap_err();
        assert_eq!(err.entry, "shop \"armoury\"");
        assert!(err.to_string().contains("restock_ticks"), "{err}");
    }

    #[test]
    fn a_duplicate_item_id_is_refused() {
        let text = format!(
            "{}\n[[item]]\nid = \"logs\"\nname = \"Logs\"\nvalue = 1\n",
            EMBEDDED[0]
        );
        let err = parse(&files_with("items.toml", &text)).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.entry.as_str()),
            ("items.toml", "item \"logs\"")
        );
    }

    #[test]
    fn an_id_a_command_could_not_carry_is_refused() {
        let text = format!(
            "{}\n[[item]]\nid = \"Rune Axe\"\nname = \"Rune axe\"\nvalue = 1\n",
            EMBEDDED[0]
        );
        let err = parse(&files_with("items.toml", &text)).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.entry.as_str()),
            ("items.toml", "item \"Rune Axe\"")
        );
    }

    #[test]
    fn a_typo_in_a_field_name_is_a_parse_error_naming_the_file() {
        let text = EMBEDDED[1].replacen("hitpoints", "hitpionts", 1);
        let err = parse(&files_with("npcs.toml", &text)).unwrap_err();
        assert_eq!(err.file, "npcs.toml");
        assert!(err.message.contains("hitpionts"), "{err}");
    }

    #[test]
    fn overlapping_zones_are_refused() {
        let text = format!(
            "{}\n[[zone]]\nid = \"dup\"\nname = \"Dup\"\nkind = \"safe\"\nbounds = {{ min_x = 3210, max_x = 3211, min_y = 3210, max_y = 3211 }}\n",
            EMBEDDED[6]
        );
        let err = parse(&files_with("zones.toml", &text)).unwrap_err();
        assert_eq!(err.entry, "zone \"dup\"");
        assert!(err.message.contains("overlaps zone \"hastinapur\""));
    }

    /// Each new rule of the map, spells and bows names the file and the entry.
    #[test]
    fn a_zone_off_the_map_a_spawn_outside_its_zone_a_safe_wilderness_and_a_bad_bow_are_refused() {
        let zones = EMBEDDED[6];
        let refused = |file: &str, text: &str, entry: &str, says: &str| {
            let err = parse(&files_with(file, text)).unwrap_err();
            assert_eq!((err.file.as_str(), err.entry.as_str()), (file, entry));
            assert!(err.message.contains(says), "{err}");
        };
        let off = format!(
            "{zones}\n[[zone]]\nid = \"far\"\nname = \"Far\"\nkind = \"safe\"\nbounds = {{ min_x = 3700, max_x = 3710, min_y = 3000, max_y = 3010 }}\n"
        );
        refused("zones.toml", &off, "zone \"far\"", "outside the map");
        let spawn = zones.replace(
            "player_spawns = [[3445, 3225]]",
            "player_spawns = [[3500, 3225]]",
        );
        refused(
            "zones.toml",
            &spawn,
            "zone \"indraprastha\"",
            "outside the zone",
        );
        let safe = zones.replace(
            "kind = \"pvp\"\nwilderness = true",
            "kind = \"safe\"\nwilderness = true",
        );
        assert_ne!(safe, zones);
        refused("zones.toml", &safe, "zone \"wilderness\"", "PvP");
        let items = EMBEDDED[0].replace(
            "arrows = [\"iron_arrow\", \"bronze_arrow\"] }\n\n[[item]]\nid = \"oak_shortbow\"",
            "arrows = [\"logs\"] }\n\n[[item]]\nid = \"oak_shortbow\"",
        );
        assert_ne!(items, EMBEDDED[0]);
        refused(
            "items.toml",
            &items,
            "item \"shortbow\"",
            "`logs` is not an arrow",
        );
        let spells = EMBEDDED[7].replacen(
            "{ item = \"mind_rune\", qty = 1 }",
            "{ item = \"soul_rune\", qty = 1 }",
            1,
        );
        refused(
            "spells.toml",
            &spells,
            "spell \"wind_strike\"",
            "unknown item `soul_rune`",
        );
    }

    #[test]
    fn the_content_folder_on_disk_loads_like_the_embedded_copy() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
        let c = Content::load_dir(&dir).unwrap();
        assert_eq!(c.items.len(), Content::embedded().items.len());
    }
}
