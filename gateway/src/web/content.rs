//! `GET /v1/content`: what a client needs to draw and name things — items, NPC kinds with their
//! combat stats and loot tables, spawn points, gathering nodes, objects (banks, shops, furnaces,
//! anvils, ranges, altars), shops, recipes, prayers, the map's bounds, zones and blocked tiles —
//! as one JSON document with a strong `ETag` (`304 Not Modified` on a matching
//! `If-None-Match`). Its shape is the shared definitions crate's
//! [`ContentDocument`], which a Rust client reads it into.
//!
//! The document is built once from the world's content and map; it changes only when the
//! server's content does, so clients cache it by its ETag. `docs/protocol.md` describes it.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loh_world::MapConfig;
use loh_world::content::document::{
    AttackStyleSeen, MapBounds, NodePlacementSeen, NpcSpawnSeen, ShopSeen, ZoneSeen,
};
use loh_world::content::{Content, ContentDocument};
use sha2::{Digest, Sha256};

/// The content document, encoded once, and its ETag.
#[derive(Debug, Clone)]
pub struct ContentDoc {
    body: bytes::Bytes,
    etag: HeaderValue,
}

/// The document of `content` on `map` ([`loh_world::content::ContentDocument`], the shape a
/// client reads).
pub fn document(content: &Content, map: &MapConfig) -> ContentDocument {
    // The configured map and, in the world's current rules, the content's whole map.
    let whole = content.map.unwrap_or(loh_world::content::Bounds {
        min_x: map.min_x,
        max_x: map.max_x,
        min_y: map.min_y,
        max_y: map.max_y,
    });
    ContentDocument {
        map: MapBounds {
            min_x: map.min_x.min(whole.min_x),
            max_x: map.max_x.max(whole.max_x),
            min_y: map.min_y.min(whole.min_y),
            max_y: map.max_y.max(whole.max_y),
            spawn_x: map.spawn_x,
            spawn_y: map.spawn_y,
        },
        items: content.items.values().cloned().collect(),
        npcs: content.npcs.values().cloned().collect(),
        npc_spawns: (0u32..)
            .zip(&content.npc_spawns)
            .map(|(npc, s)| NpcSpawnSeen {
                npc,
                kind: s.npc.clone(),
                x: s.x,
                y: s.y,
                wander: s.wander,
            })
            .collect(),
        nodes: content.nodes.values().cloned().collect(),
        node_placements: (0u32..)
            .zip(&content.node_placements)
            .map(|(node, p)| NodePlacementSeen {
                node,
                kind: p.node.clone(),
                x: p.x,
                y: p.y,
            })
            .collect(),
        objects: content.objects.clone(),
        shops: content
            .shops
            .values()
            .map(|s| ShopSeen {
                id: s.id.clone(),
                name: s.name.clone(),
                stock: s.stock.clone(),
                full_stock: s
                    .stock
                    .iter()
                    .map(|i| (i.clone(), s.full_stock(i)))
                    .collect(),
                restock_ticks: s.restock_ticks,
            })
            .collect(),
        recipes: content.recipes.values().cloned().collect(),
        prayers: content.prayers.values().cloned().collect(),
        spells: content.spells.values().cloned().collect(),
        attack_styles: attack_styles(),
        zones: content
            .zones
            .iter()
            .map(|z| ZoneSeen {
                id: z.id.clone(),
                name: z.name.clone(),
                kind: z.kind,
                members: z.members,
                rules: z.rules,
                bounds: z.bounds,
                player_spawns: z.player_spawns.clone(),
                wilderness: z.wilderness,
            })
            .collect(),
        blocked: content.blocked.iter().map(|&(x, y)| [x, y]).collect(),
    }
}

/// The styles of `SetAttackStyle` (`world/src/combat.rs`, `combat/kinds.rs`).
fn attack_styles() -> Vec<AttackStyleSeen> {
    let style = |style: &str, weapon: &str, trains: &[&str], effect: &str| AttackStyleSeen {
        style: style.into(),
        weapon: weapon.into(),
        trains: trains.iter().map(|s| (*s).to_owned()).collect(),
        effect: effect.into(),
    };
    vec![
        style("accurate", "melee", &["attack"], "+3 effective Attack"),
        style(
            "aggressive",
            "melee",
            &["strength"],
            "+3 effective Strength",
        ),
        style("defensive", "melee", &["defence"], "+3 effective Defence"),
        style(
            "controlled",
            "melee",
            &["attack", "strength", "defence"],
            "+1 effective Attack, Strength and Defence",
        ),
        style("accurate", "bow", &["ranged"], "+3 effective Ranged"),
        style("rapid", "bow", &["ranged"], "one tick faster"),
        style(
            "longrange",
            "bow",
            &["ranged", "defence"],
            "two tiles more reach, +3 effective Defence",
        ),
    ]
}

impl ContentDoc {
    /// The document of `content` on `map`.
    pub fn new(content: &Content, map: &MapConfig) -> ContentDoc {
        let body = serde_json::to_vec(&document(content, map)).expect("JSON always encodes");
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        ContentDoc {
            body: body.into(),
            etag: HeaderValue::from_str(&etag).expect("a hex ETag is a valid header"),
        }
    }

    /// The strong ETag, quoted.
    pub fn etag(&self) -> &HeaderValue {
        &self.etag
    }

    /// The answer to a `GET` with `headers`: `304` when `If-None-Match` names this version
    /// (or is `*`), else `200` with the document.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let matches = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t.as_bytes() == self.etag.as_bytes());
        let mut res = if matches {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut res = Response::new(Body::from(self.body.clone()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, self.etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, no-cache"),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn doc() -> ContentDoc {
        ContentDoc::new(&Content::embedded(), &MapConfig::default())
    }

    /// A Rust client (a Bevy game) reads the document into the shared definitions crate's type
    /// and finds what it needs to fight and loot: combat stats and loot tables.
    #[test]
    fn a_rust_client_reads_the_document_into_the_shared_definitions() {
        let d: ContentDocument = serde_json::from_slice(&doc().body).unwrap();
        let goblin = d.npcs.iter().find(|n| n.id == "goblin").unwrap();
        assert_eq!((goblin.hitpoints, goblin.defence_bonus), (5, -15));
        assert!(goblin.loot.iter().any(|l| l.item == "bronze_sword"));
        assert_eq!(d.npc_spawns[0].npc, 0);
        assert!(d.items.iter().any(|i| i.prayer_xp.is_some()));
        assert_eq!(d.map.spawn_x, MapConfig::default().spawn_x);
        // The whole map, its regions, spawn points and wilderness; the spells and styles.
        assert!(d.map.max_x - d.map.min_x + 1 >= 1_000 && d.map.max_y - d.map.min_y + 1 >= 1_000);
        assert!(d.zones.iter().any(|z| z.wilderness && z.rules == 4));
        assert!(
            d.zones
                .iter()
                .filter(|z| !z.player_spawns.is_empty())
                .count()
                >= 2
        );
        assert!(d.zones.iter().any(|z| z.members && z.rules == 4));
        assert!(
            d.spells
                .iter()
                .any(|s| s.id == "fire_bolt" && s.max_hit == 12)
        );
        assert!(d.attack_styles.iter().any(|s| s.style == "longrange"));
        let bow = d.items.iter().find(|i| i.id == "shortbow").unwrap();
        assert_eq!(bow.bow.as_ref().map(|b| b.range), Some(7));
    }

    #[test]
    fn the_document_names_items_npcs_objects_zones_and_blocked_tiles() {
        let v: Value = serde_json::from_slice(&doc().body).unwrap();
        let coins = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "coins")
            .unwrap();
        assert_eq!(coins["name"], "Coins");
        assert_eq!(coins["stackable"], true);
        let axe = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "bronze_axe")
            .unwrap();
        assert_eq!(axe["equip"]["slot"], "weapon");
        assert_eq!(axe["stackable"], false);
        assert!(
            v["objects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["kind"] == "bank" && o["x"] == 3227 && o["y"] == 3226)
        );
        assert!(
            v["objects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["kind"] == "shop" && o["shop"] == "general_store")
        );
        assert!(
            v["zones"]
                .as_array()
                .unwrap()
                .iter()
                .any(|z| z["kind"] == "pvp")
        );
        assert!(
            v["blocked"]
                .as_array()
                .unwrap()
                .contains(&json!([3226, 3228]))
        );
        assert_eq!(v["npc_spawns"][0]["npc"], 0);
        assert_eq!(v["map"]["spawn_x"], 3222);
    }

    #[test]
    fn a_matching_if_none_match_is_answered_304_and_another_200() {
        let d = doc();
        let mut h = HeaderMap::new();
        assert_eq!(d.respond(&h).status(), StatusCode::OK);
        h.insert(header::IF_NONE_MATCH, d.etag().clone());
        let res = d.respond(&h);
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()[header::ETAG], d.etag());
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert_eq!(d.respond(&h).status(), StatusCode::OK);
        assert_eq!(doc().etag(), d.etag(), "the same content has the same tag");
    }
}
