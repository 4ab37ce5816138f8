//! The world's saved form: every piece of state the events fold into, as deterministic,
//! versioned bytes, so that the tick writer can start from a snapshot and fold only the tail of
//! the log (`tick-writer/src/snapshot.rs`), and the replay tools can too.
//!
//! Layout: `LOHW`, the format version ([`IMAGE_VERSION`], u32 big-endian), the content's
//! fingerprint ([`crate::content::Content::fingerprint`], 32 bytes), then the state as compact
//! MessagePack (structs as arrays, in field order). Every map of the state is a `BTreeMap` or
//! `BTreeSet`, so the same state always gives the same bytes.
//!
//! Not saved: the map, the content and the seed (configuration, handed in with the fresh world
//! the image is restored onto), the clock reading and the per-tick movement budgets (each tick's
//! step sets them; a fold from position 1 leaves them unset as well).
//!
//! **Changing any state record** (a field of [`World`], [`crate::Player`], [`crate::Npc`],
//! [`crate::Trade`], the inventory, skills, ledger or payments) changes these bytes: bump
//! [`IMAGE_VERSION`]; saved images of the old version are then refused and the log is folded
//! from position 1 instead. The test `the_image_format_is_pinned` fails until you do.

use crate::World;
use crate::hop::Hops;
use crate::ledger::Ledger;
use crate::payments::Payments;
use crate::state::{Npc, Player, Trade};
use loh_events::GroundItem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The version of the saved form; bump it with any change of the state records.
pub const IMAGE_VERSION: u32 = 4;

const MAGIC: &[u8; 4] = b"LOHW";
const HEADER: usize = 4 + 4 + 32;

/// Why an image was not restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Not an image (too short, or another magic).
    #[error("not a saved world (bad magic or too short)")]
    Magic,
    /// Saved by another version of the state's format: fold from the log instead.
    #[error("saved world format version {found}, this build reads {expected}")]
    Version { found: u32, expected: u32 },
    /// Folded with other content: fold from the log instead.
    #[error("saved with other content (fingerprint {found}, this world's is {expected})")]
    Content { found: String, expected: String },
    /// The state's bytes do not decode.
    #[error("saved world does not decode: {0}")]
    Decode(String),
}

/// The state, borrowed for encoding. Field order is the format.
#[derive(Serialize)]
struct StateRef<'a> {
    tick: u64,
    world_version: u64,
    next_ground_id: u64,
    players: &'a BTreeMap<Uuid, Player>,
    npcs: &'a BTreeMap<u32, Npc>,
    npc_respawns: &'a BTreeMap<u32, u64>,
    ground: &'a BTreeMap<u64, GroundItem>,
    depleted: &'a BTreeMap<u32, u64>,
    trades: &'a BTreeMap<Uuid, Trade>,
    ledger: &'a Ledger,
    payments: &'a Payments,
    hops: &'a Hops,
    shop_stock: &'a BTreeMap<String, BTreeMap<String, u32>>,
    rules: u32,
}

/// The state, owned, as decoded. Same fields, same order as [`StateRef`].
#[derive(Deserialize)]
struct State {
    tick: u64,
    world_version: u64,
    next_ground_id: u64,
    players: BTreeMap<Uuid, Player>,
    npcs: BTreeMap<u32, Npc>,
    npc_respawns: BTreeMap<u32, u64>,
    ground: BTreeMap<u64, GroundItem>,
    depleted: BTreeMap<u32, u64>,
    trades: BTreeMap<Uuid, Trade>,
    ledger: Ledger,
    payments: Payments,
    hops: Hops,
    shop_stock: BTreeMap<String, BTreeMap<String, u32>>,
    rules: u32,
}

/// The format version and content fingerprint an image was saved with.
pub fn image_header(image: &[u8]) -> Result<(u32, [u8; 32]), ImageError> {
    if image.len() < HEADER || &image[..4] != MAGIC {
        return Err(ImageError::Magic);
    }
    let version = u32::from_be_bytes(image[4..8].try_into().expect("4 bytes"));
    let content = image[8..HEADER].try_into().expect("32 bytes");
    Ok((version, content))
}

impl World {
    /// The world's state as deterministic, versioned bytes ([`crate::image`]).
    pub fn image(&self) -> Vec<u8> {
        let state = StateRef {
            tick: self.tick,
            world_version: self.world_version,
            next_ground_id: self.next_ground_id,
            players: &self.players,
            npcs: &self.npcs,
            npc_respawns: &self.npc_respawns,
            ground: &self.ground,
            depleted: &self.depleted,
            trades: &self.trades,
            ledger: &self.ledger,
            payments: &self.payments,
            hops: &self.hops,
            shop_stock: &self.shop_stock,
            rules: self.rules,
        };
        let mut out = Vec::with_capacity(HEADER + 512 * (1 + self.players.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&IMAGE_VERSION.to_be_bytes());
        out.extend_from_slice(&self.content.fingerprint);
        rmp_serde::encode::write(&mut out, &state).expect("the world's state always encodes");
        out
    }

    /// This world (fresh: its map, content, seed and event ids are kept) with the state saved in
    /// `image`.
    /// Refused when the image is of another format version or other content, or does not
    /// decode.
    pub fn restored(&self, image: &[u8]) -> Result<World, ImageError> {
        let (version, content) = image_header(image)?;
        if version != IMAGE_VERSION {
            return Err(ImageError::Version {
                found: version,
                expected: IMAGE_VERSION,
            });
        }
        if content != self.content.fingerprint {
            return Err(ImageError::Content {
                found: hex(&content),
                expected: hex(&self.content.fingerprint),
            });
        }
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(&image[HEADER..]));
        let s = State::deserialize(&mut de).map_err(|e| ImageError::Decode(e.to_string()))?;
        if de.position() as usize != image.len() - HEADER {
            return Err(ImageError::Decode("trailing bytes after the state".into()));
        }
        let mut world = World::with_content(self.map.clone(), self.content.clone(), self.seed);
        world.event_ids = self.event_ids.clone();
        world.tick = s.tick;
        world.world_version = s.world_version;
        world.next_ground_id = s.next_ground_id;
        world.players = s.players;
        world.npcs = s.npcs;
        world.npc_respawns = s.npc_respawns;
        world.ground = s.ground;
        world.depleted = s.depleted;
        world.trades = s.trades;
        world.ledger = s.ledger;
        world.payments = s.payments;
        world.hops = s.hops;
        world.shop_stock = s.shop_stock;
        world.rules = s.rules;
        Ok(world)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Given;
    use sha2::{Digest, Sha256};

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    fn rich() -> World {
        let mut t = Given::new().player(A).player(B);
        let mut sim = crate::phases::Sim::new(t.world.clone());
        for _ in 0..5 {
            sim.tick(&[], &[], &[]);
        }
        t.world = sim.world;
        t.world
    }

    #[test]
    fn an_image_restores_to_the_same_state_and_the_same_bytes() {
        let w = rich();
        let image = w.image();
        let back = World::default().restored(&image).unwrap();
        assert_eq!(format!("{back:?}"), format!("{w:?}"));
        assert_eq!(back.image(), image);
    }

    #[test]
    fn an_image_of_another_version_other_content_or_cut_short_is_refused() {
        let image = rich().image();
        let mut other = image.clone();
        other[7] ^= 1;
        assert!(matches!(
            World::default().restored(&other),
            Err(ImageError::Version { .. })
        ));
        let mut other = image.clone();
        other[8] ^= 1;
        assert!(matches!(
            World::default().restored(&other),
            Err(ImageError::Content { .. })
        ));
        let cut = &image[..image.len() - 3];
        assert!(matches!(
            World::default().restored(cut),
            Err(ImageError::Decode(_))
        ));
        let mut longer = image.clone();
        longer.push(0);
        assert!(World::default().restored(&longer).is_err());
        assert!(matches!(
            World::default().restored(b"LOH"),
            Err(ImageError::Magic)
        ));
    }

    /// Fails when a state record changes shape: bump [`IMAGE_VERSION`], then update the pin.
    /// The world is made of events alone (no content), so content edits leave the pin alone.
    #[test]
    fn the_image_format_is_pinned() {
        use loh_events::EventBody as E;
        let mut w = World::default();
        w.set_tick(3);
        for e in [
            E::PlayerSpawned {
                player_id: A,
                x: 1,
                y: 2,
            },
            E::PlayerSpawned {
                player_id: B,
                x: 3,
                y: 4,
            },
            E::ItemsMinted {
                player_id: A,
                item: "coins".into(),
                qty: 9,
                source: "test".into(),
            },
            E::FriendAdded {
                player_id: A,
                friend: B,
            },
            E::PrayerActivated {
                player_id: B,
                prayer: "thick_skin".into(),
            },
            E::NpcSpawned {
                npc: 5,
                kind: "goblin".into(),
                x: 6,
                y: 7,
                hitpoints: 8,
            },
            E::ItemDropped {
                player_id: A,
                slot: 0,
                ground: GroundItem {
                    ground_id: 7,
                    item: "coins".into(),
                    qty: 1,
                    x: 1,
                    y: 2,
                    owner: Some(A),
                    public_at: 3,
                    despawn_at: 4,
                },
            },
            E::ShopStockChanged {
                shop: "general_store".into(),
                item: "chisel".into(),
                stock: 2,
            },
        ] {
            w.apply(&e);
        }
        let body = &w.image()[HEADER..];
        let digest = Sha256::digest(body);
        assert_eq!(
            (IMAGE_VERSION, hex(&digest[..8])),
            (4, "3f811ff0a427b301".to_owned()),
            "the saved form of the world changed: bump IMAGE_VERSION and update this pin"
        );
    }
}
