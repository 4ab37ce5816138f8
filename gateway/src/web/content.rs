//! `GET /v1/content`: what a client needs to draw and name things — items, NPC kinds and spawn
//! points, gathering nodes, objects (banks, shops, furnaces, anvils, ranges, altars), shops,
//! recipes, prayers, the map's bounds, zones and blocked tiles — as one JSON document with a
//! strong `ETag` (`304 Not Modified` on a matching `If-None-Match`).
//!
//! The document is built once from the world's content and map; it changes only when the
//! server's content does, so clients cache it by its ETag. `docs/protocol.md` describes it.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loh_world::MapConfig;
use loh_world::content::{Content, ObjectKind, ZoneKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The content document, encoded once, and its ETag.
#[derive(Debug, Clone)]
pub struct ContentDoc {
    body: bytes::Bytes,
    etag: HeaderValue,
}

/// The wire name of an object kind (as in `content/zones.toml`).
pub fn object_kind(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Bank => "bank",
        ObjectKind::Shop => "shop",
        ObjectKind::Furnace => "furnace",
        ObjectKind::Anvil => "anvil",
        ObjectKind::Range => "range",
        ObjectKind::Altar => "altar",
    }
}

fn zone_kind(kind: ZoneKind) -> &'static str {
    match kind {
        ZoneKind::Safe => "safe",
        ZoneKind::Pvp => "pvp",
    }
}

/// The document's JSON value.
pub fn document(content: &Content, map: &MapConfig) -> Value {
    let stacks = |s: &[loh_world::content::Stack]| -> Value {
        s.iter()
            .map(|s| json!({"item": s.item, "qty": s.qty}))
            .collect()
    };
    let items: Vec<Value> = content
        .items
        .values()
        .map(|i| {
            json!({
                "id": i.id,
                "name": i.name,
                "stackable": i.stackable,
                "value": i.value,
                "members": i.members,
                "equip": i.equip.as_ref().map(|e| json!({
                    "slot": e.slot,
                    "attack_bonus": e.attack_bonus,
                    "strength_bonus": e.strength_bonus,
                    "defence_bonus": e.defence_bonus,
                    "prayer_bonus": e.prayer_bonus,
                    "attack_level": e.attack_level,
                    "defence_level": e.defence_level,
                })),
                "tool": i.tool.as_ref().map(|t| json!({"kind": t.kind, "power": t.power})),
                "heals": i.heals,
                "prayer_xp": i.prayer_xp,
            })
        })
        .collect();
    let npcs: Vec<Value> = content
        .npcs
        .values()
        .map(|n| {
            json!({
                "id": n.id,
                "name": n.name,
                "hitpoints": n.hitpoints,
                "attack": n.attack,
                "strength": n.strength,
                "defence": n.defence,
                "attack_speed": n.attack_speed,
                "aggressive": n.aggressive,
            })
        })
        .collect();
    let npc_spawns: Vec<Value> = content
        .npc_spawns
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"npc": i, "kind": s.npc, "x": s.x, "y": s.y, "wander": s.wander}))
        .collect();
    let nodes: Vec<Value> = content
        .nodes
        .values()
        .map(|n| {
            json!({
                "id": n.id,
                "name": n.name,
                "skill": n.skill,
                "level": n.level,
                "xp": n.xp,
                "item": n.item,
                "tool": n.tool,
                "members": n.members,
            })
        })
        .collect();
    let node_placements: Vec<Value> = content
        .node_placements
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"node": i, "kind": p.node, "x": p.x, "y": p.y}))
        .collect();
    let objects: Vec<Value> = content
        .objects
        .iter()
        .map(|o| json!({"kind": object_kind(o.kind), "x": o.x, "y": o.y, "shop": o.shop}))
        .collect();
    let shops: Vec<Value> = content
        .shops
        .values()
        .map(|s| {
            let full: serde_json::Map<String, Value> = s
                .stock
                .iter()
                .map(|i| (i.clone(), s.full_stock(i).into()))
                .collect();
            json!({
                "id": s.id, "name": s.name, "stock": s.stock,
                "full_stock": full, "restock_ticks": s.restock_ticks,
            })
        })
        .collect();
    let recipes: Vec<Value> = content
        .recipes
        .values()
        .map(|r| {
            json!({
                "id": r.id,
                "skill": r.skill,
                "level": r.level,
                "xp": r.xp,
                "station": r.station.map(object_kind),
                "tool": r.tool,
                "members": r.members,
                "inputs": stacks(&r.inputs),
                "outputs": stacks(&r.outputs),
            })
        })
        .collect();
    let prayers: Vec<Value> = content
        .prayers
        .values()
        .map(|p| json!({"id": p.id, "name": p.name, "level": p.level}))
        .collect();
    let zones: Vec<Value> = content
        .zones
        .iter()
        .map(|z| {
            json!({
                "id": z.id,
                "name": z.name,
                "kind": zone_kind(z.kind),
                "members": z.members,
                "bounds": {
                    "min_x": z.bounds.min_x,
                    "max_x": z.bounds.max_x,
                    "min_y": z.bounds.min_y,
                    "max_y": z.bounds.max_y,
                },
            })
        })
        .collect();
    let blocked: Vec<[i32; 2]> = content.blocked.iter().map(|&(x, y)| [x, y]).collect();
    json!({
        "map": {
            "min_x": map.min_x,
            "max_x": map.max_x,
            "min_y": map.min_y,
            "max_y": map.max_y,
            "spawn_x": map.spawn_x,
            "spawn_y": map.spawn_y,
        },
        "items": items,
        "npcs": npcs,
        "npc_spawns": npc_spawns,
        "nodes": nodes,
        "node_placements": node_placements,
        "objects": objects,
        "shops": shops,
        "recipes": recipes,
        "prayers": prayers,
        "zones": zones,
        "blocked": blocked,
    })
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

    fn doc() -> ContentDoc {
        ContentDoc::new(&Content::embedded(), &MapConfig::default())
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
