//! Fan-out of a committed tick to its viewers: every event is encoded to MessagePack once, and
//! each viewer's frame is assembled from those bytes, within the viewer's interest.
//!
//! **Join and view.** A session's first tick sends a `Snapshot` (the player's whole state and
//! everything in view) instead of a `TickUpdate`; afterwards players, NPCs and ground items
//! entering or leaving the view are announced (`…Appeared` with their visible state,
//! `…Disappeared`), so a client that folds the snapshot and the updates holds the server's view.
//!
//! **Interest** is bounded twice ([`ViewLimits`], documented in `docs/protocol.md`):
//! - at most `max_players` other players, kept from tick to tick: players who left the view
//!   distance (or went offline) leave the set, free places are filled nearest first (ties by id).
//!   Events by position that name only players outside the set are not sent.
//! - at most `max_bytes` of events about other players per tick, nearest first. A player one of
//!   whose events does not fit leaves the view (`PlayerDisappeared`) and the set shrinks, growing
//!   back a few places a tick: no frame grows with the crowd, and nothing the client holds is
//!   silently stale. Own and personal events, NPCs, ground items and departures always go.

use bytes::Bytes;
use loh_commands::MAX_SERVER_FRAME;
use loh_events::EventBody;
use loh_world::{World, chebyshev};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The bounds of one viewer's interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewLimits {
    /// Most other players a viewer is shown (the OSRS client shows at most 255).
    pub max_players: usize,
    /// Most bytes of events in one viewer's `TickUpdate`.
    pub max_bytes: usize,
}

impl Default for ViewLimits {
    fn default() -> Self {
        ViewLimits {
            max_players: 255,
            max_bytes: 4 * 1024,
        }
    }
}

impl ViewLimits {
    /// The limits, with the byte budget held under the largest frame a server sends.
    pub fn clamped(self) -> ViewLimits {
        ViewLimits {
            max_players: self.max_players,
            max_bytes: self.max_bytes.clamp(512, MAX_SERVER_FRAME - 1024),
        }
    }
}

/// An event's wire form: an externally tagged map with string keys and UUID strings, as the
/// protocol shows it (the same value `serde_json` would give, in field order).
pub fn encode_event(body: &EventBody) -> Bytes {
    encode_value(body)
}

/// Any serialisable value in the protocol's MessagePack form (maps with string keys,
/// human-readable ids).
pub fn encode_value<T: serde::Serialize + ?Sized>(value: &T) -> Bytes {
    let mut out = Vec::with_capacity(96);
    let mut ser = rmp_serde::Serializer::new(&mut out)
        .with_struct_map()
        .with_human_readable();
    value
        .serialize(&mut ser)
        .expect("events always encode to MessagePack");
    out.into()
}

/// The players an encoded event names: every 36-character string that is a UUID (MessagePack
/// `str8` of length 36: `d9 24`). Found once per event, not per viewer.
pub fn named_players(bytes: &[u8]) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 38 <= bytes.len() {
        if bytes[i] == 0xd9
            && bytes[i + 1] == 36
            && let Ok(s) = std::str::from_utf8(&bytes[i + 2..i + 38])
            && let Ok(id) = Uuid::try_parse(s)
        {
            out.push(id);
            i += 38;
        } else {
            i += 1;
        }
    }
    out
}

/// A `TickUpdate` frame assembled from encoded events:
/// `{"TickUpdate": {"tick": tick, "events": [events…]}}`, byte for byte what
/// `encode_server` gives for the same values.
pub fn tick_update_frame<'a>(tick: u64, events: impl ExactSizeIterator<Item = &'a [u8]>) -> Bytes {
    use rmp::encode::{write_array_len, write_map_len, write_str, write_uint};
    let mut out = Vec::with_capacity(32);
    // Writing to a Vec cannot fail.
    let header = (|| -> Result<(), rmp::encode::ValueWriteError> {
        write_map_len(&mut out, 1)?;
        write_str(&mut out, "TickUpdate")?;
        write_map_len(&mut out, 2)?;
        write_str(&mut out, "tick")?;
        write_uint(&mut out, tick)?;
        write_str(&mut out, "events")?;
        write_array_len(&mut out, events.len() as u32)?;
        Ok(())
    })();
    header.expect("writing to a Vec");
    for e in events {
        out.extend_from_slice(e);
    }
    out.into()
}

/// The players of one chunk, with their tiles.
type Residents = Vec<(Uuid, i32, i32)>;

/// The online players by chunk of the view distance, built once per tick, and the players
/// around each tile a viewer stands on, nearest first: computed once per tile and tick, shared
/// by everyone on it (a crowd on one tile costs one sort).
#[derive(Debug, Default)]
pub struct PlayerGrid {
    chunks: HashMap<(i32, i32), Residents>,
    /// Each online player's tile.
    tiles: HashMap<Uuid, (i32, i32), UuidHash>,
    around: std::cell::RefCell<HashMap<(i32, i32), Nearest>>,
}

/// Players by distance then id, around one tile.
type Nearest = std::rc::Rc<[(u32, Uuid)]>;

const SIDE: i32 = loh_world::social::VIEW_DISTANCE as i32 + 1;

impl PlayerGrid {
    /// Every online player of `world`.
    pub fn new(world: &World) -> PlayerGrid {
        let mut grid = PlayerGrid::default();
        for (id, p) in world.players().filter(|(_, p)| p.online) {
            grid.tiles.insert(*id, (p.x, p.y));
            grid.chunks
                .entry((p.x.div_euclid(SIDE), p.y.div_euclid(SIDE)))
                .or_default()
                .push((*id, p.x, p.y));
        }
        grid
    }

    /// The online players within the view distance of `(x, y)` (the viewer among them),
    /// nearest first (ties by id).
    fn near(&self, x: i32, y: i32) -> Nearest {
        if let Some(list) = self.around.borrow().get(&(x, y)) {
            return list.clone();
        }
        let (cx, cy) = (x.div_euclid(SIDE), y.div_euclid(SIDE));
        let mut out = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &(id, px, py) in self.chunks.get(&(cx + dx, cy + dy)).into_iter().flatten() {
                    let d = chebyshev(x, y, px, py);
                    if d <= loh_world::social::VIEW_DISTANCE {
                        out.push((d, id));
                    }
                }
            }
        }
        out.sort_unstable();
        let list: Nearest = out.into();
        self.around.borrow_mut().insert((x, y), list.clone());
        list
    }
}

/// Hashing for sets of random (v4) player ids: their bytes folded into one word, no SipHash.
/// Ids are chosen by the server, not by clients, so nobody picks colliding ones.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidHash;

impl std::hash::BuildHasher for UuidHash {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

/// The hasher of [`UuidHash`].
#[derive(Debug, Default, Clone, Copy)]
pub struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// Places a viewer's player set grows back by per tick after the byte budget shrank it.
const REGROW_PER_TICK: usize = 8;

/// What one viewer is shown, kept across ticks: the other players (bounded), the NPCs and the
/// ground items in view, and whether the join snapshot went out.
#[derive(Debug, Default, Clone)]
pub struct Interest {
    players: HashSet<Uuid, UuidHash>,
    /// Most other players shown now: the byte budget shrinks it, and it grows back by
    /// [`REGROW_PER_TICK`] a tick up to the limit. `None` until the first tick.
    cap: Option<usize>,
    npcs: std::collections::BTreeSet<u32>,
    ground: std::collections::BTreeSet<u64>,
    joined: bool,
}

impl Interest {
    /// Drops the players who left the view (or the world), then fills free places nearest
    /// first. Returns who entered and who left. A full set that lost nobody costs one check per
    /// member.
    pub fn update(
        &mut self,
        grid: &PlayerGrid,
        viewer: Uuid,
        at: (i32, i32),
        max_players: usize,
    ) -> (Vec<Uuid>, Vec<Uuid>) {
        let cap = self
            .cap
            .map_or(max_players, |c| (c + REGROW_PER_TICK).min(max_players));
        self.cap = Some(cap);
        let mut left = Vec::new();
        self.players.retain(|id| {
            let stays = grid.tiles.get(id).is_some_and(|&(x, y)| {
                chebyshev(at.0, at.1, x, y) <= loh_world::social::VIEW_DISTANCE
            });
            if !stays {
                left.push(*id);
            }
            stays
        });
        left.sort_unstable();
        let mut entered = Vec::new();
        if self.players.len() < cap {
            for &(_, id) in grid.near(at.0, at.1).iter() {
                if self.players.len() >= cap {
                    break;
                }
                if id != viewer && self.players.insert(id) {
                    entered.push(id);
                }
            }
        }
        (entered, left)
    }

    /// Takes `players` out (the byte budget could not carry their events): the set shrinks to
    /// what is left and grows back over the next ticks.
    pub fn evict(&mut self, players: &[Uuid]) {
        for p in players {
            self.players.remove(p);
        }
        if !players.is_empty() {
            self.cap = Some(self.players.len());
        }
    }

    /// Whether `player` is in the viewer's interest.
    pub fn contains(&self, player: &Uuid) -> bool {
        self.players.contains(player)
    }

    /// The other players shown, by id.
    pub fn players(&self) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self.players.iter().copied().collect();
        out.sort_unstable();
        out
    }

    /// Whether the join snapshot was sent; marks it sent.
    pub fn join(&mut self) -> bool {
        std::mem::replace(&mut self.joined, true)
    }

    /// Replaces the NPCs in view with `now`; returns those that came and went.
    pub fn npcs_now(&mut self, now: std::collections::BTreeSet<u32>) -> (Vec<u32>, Vec<u32>) {
        diff(&mut self.npcs, now)
    }

    /// Replaces the ground items in view with `now`; returns those that came and went.
    pub fn ground_now(&mut self, now: std::collections::BTreeSet<u64>) -> (Vec<u64>, Vec<u64>) {
        diff(&mut self.ground, now)
    }
}

fn diff<T: Ord + Copy>(
    shown: &mut std::collections::BTreeSet<T>,
    now: std::collections::BTreeSet<T>,
) -> (Vec<T>, Vec<T>) {
    let came = now.difference(shown).copied().collect();
    let went = shown.difference(&now).copied().collect();
    *shown = now;
    (came, went)
}

/// A view-only event of `docs/protocol.md`: something coming into or going out of view.
#[derive(serde::Serialize)]
pub enum ViewEvent<'a> {
    PlayerAppeared(&'a loh_world::snapshot::PlayerSeen),
    PlayerDisappeared { player_id: Uuid },
    NpcAppeared(&'a loh_world::snapshot::NpcSeen),
    NpcDisappeared { npc: u32 },
    GroundItemAppeared(&'a loh_events::GroundItem),
    GroundItemDisappeared { ground_id: u64 },
}

/// The `Snapshot` frame: `{"Snapshot": {"tick", "you", "players", "npcs", "ground"}}`.
pub fn snapshot_frame(
    tick: u64,
    you: &loh_world::snapshot::SelfView,
    players: &[loh_world::snapshot::PlayerSeen],
    npcs: &[loh_world::snapshot::NpcSeen],
    ground: &[&loh_events::GroundItem],
) -> Bytes {
    #[derive(serde::Serialize)]
    enum Frame<'a> {
        Snapshot {
            tick: u64,
            you: &'a loh_world::snapshot::SelfView,
            players: &'a [loh_world::snapshot::PlayerSeen],
            npcs: &'a [loh_world::snapshot::NpcSeen],
            ground: &'a [&'a loh_events::GroundItem],
        },
    }
    encode_value(&Frame::Snapshot {
        tick,
        you,
        players,
        npcs,
        ground,
    })
}

/// The other players an event is about: at most two are kept (an event names one or two),
/// inline, so that no viewer's event costs an allocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subjects {
    ids: [Uuid; 2],
    len: u8,
}

impl Subjects {
    /// The first two of `ids`.
    pub fn of(ids: impl IntoIterator<Item = Uuid>) -> Subjects {
        let mut out = Subjects::default();
        for id in ids.into_iter().take(2) {
            out.ids[out.len as usize] = id;
            out.len += 1;
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Uuid> {
        self.ids[..self.len as usize].iter()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One other-player event waiting for the byte budget.
#[derive(Debug)]
struct Other {
    distance: u32,
    /// The other players it is about.
    subjects: Subjects,
    /// A `PlayerAppeared`: when it does not fit, the player is quietly not added.
    appears: bool,
    bytes: Bytes,
}

/// One viewer's events of a tick, before the byte budget: what is always sent (own, personal,
/// NPCs, ground items, players leaving) and the events about other players, with distance.
#[derive(Debug, Default)]
pub struct Picked {
    own: Vec<Bytes>,
    others: Vec<Other>,
}

impl Picked {
    pub fn clear(&mut self) {
        self.own.clear();
        self.others.clear();
    }

    /// An event always sent.
    pub fn own(&mut self, bytes: Bytes) {
        self.own.push(bytes);
    }

    /// An event about the other players `subjects`, `distance` tiles away.
    pub fn other(&mut self, distance: u32, subjects: Subjects, bytes: Bytes) {
        self.others.push(Other {
            distance,
            subjects,
            appears: false,
            bytes,
        });
    }

    /// `player` came into view (`bytes` is its `PlayerAppeared`).
    pub fn appears(&mut self, distance: u32, player: Uuid, bytes: Bytes) {
        self.others.push(Other {
            distance,
            subjects: Subjects::of([player]),
            appears: true,
            bytes,
        });
    }

    /// The frame: what is always sent, then the events about other players nearest first
    /// within `max_bytes`. A player one of whose events does not fit leaves the view (a
    /// `PlayerDisappeared` closes the frame; none of their later events is sent), so what the
    /// client folds stays exact. Returns the frame and the players to take out of the interest.
    pub fn frame(&mut self, tick: u64, max_bytes: usize) -> (Bytes, Vec<Uuid>) {
        self.others.sort_by_key(|o| o.distance);
        let mut used: usize = self.own.iter().map(Bytes::len).sum();
        let mut parts: Vec<&[u8]> = self.own.iter().map(|b| &b[..]).collect();
        let mut out: HashSet<Uuid, UuidHash> = HashSet::default();
        let mut evicted = Vec::new();
        let mut quiet = Vec::new();
        for o in &self.others {
            if o.subjects.iter().any(|s| out.contains(s)) {
                continue;
            }
            if used + o.bytes.len() <= max_bytes {
                used += o.bytes.len();
                parts.push(&o.bytes);
                continue;
            }
            for s in o.subjects.iter() {
                if out.insert(*s) {
                    if o.appears {
                        quiet.push(*s);
                    } else {
                        evicted.push(*s);
                    }
                }
            }
        }
        let gone: Vec<Bytes> = evicted
            .iter()
            .map(|&player_id| encode_value(&ViewEvent::PlayerDisappeared { player_id }))
            .collect();
        parts.extend(gone.iter().map(|b| &b[..]));
        evicted.extend(quiet);
        (tick_update_frame(tick, parts.into_iter()), evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_commands::{ServerFrame, encode_server};
    use std::sync::Arc;

    fn sample() -> Vec<EventBody> {
        let p = Uuid::from_u128(0x6f1c_2a4e_0d1b_4c39_9a57_3f0f_0e7b_9a11);
        vec![
            EventBody::PlayerSaid {
                player_id: p,
                text: "hi".into(),
            },
            EventBody::PlayerSpawned {
                player_id: p,
                x: 3222,
                y: 3218,
            },
        ]
    }

    #[test]
    fn an_assembled_frame_equals_the_encoded_server_frame() {
        for n in [0usize, 1, 2, 15, 16, 17, 300] {
            let bodies: Vec<EventBody> = sample().into_iter().cycle().take(n).collect();
            let encoded: Vec<Bytes> = bodies.iter().map(encode_event).collect();
            for tick in [0u64, 43, 200, 70_000, 5_000_000_000] {
                let frame = tick_update_frame(tick, encoded.iter().map(|b| &b[..]));
                let values = encoded
                    .iter()
                    .map(|b| Arc::new(rmp_serde::from_slice::<rmpv::Value>(b).unwrap()))
                    .collect();
                let expected = encode_server(&ServerFrame::TickUpdate {
                    tick,
                    events: values,
                });
                assert_eq!(&frame[..], &expected[..], "n={n} tick={tick}");
            }
        }
    }

    #[test]
    fn an_event_is_encoded_with_uuid_strings_and_the_named_players_are_found() {
        let bytes = encode_event(&sample()[0]);
        let value: rmpv::Value = rmp_serde::from_slice(&bytes).unwrap();
        let inner = value.as_map().unwrap()[0].1.as_map().unwrap();
        assert_eq!(
            inner[0].1.as_str(),
            Some("6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11")
        );
        assert_eq!(
            named_players(&bytes),
            vec![Uuid::from_u128(0x6f1c_2a4e_0d1b_4c39_9a57_3f0f_0e7b_9a11)]
        );
    }

    #[test]
    fn a_frame_keeps_own_events_and_the_nearest_players_within_the_budget() {
        // One MessagePack string of 99 bytes in all.
        let big = encode_value(&"x".repeat(97));
        assert_eq!(big.len(), 99);
        let mut picked = Picked::default();
        picked.own(big.clone());
        for d in (0..50u32).rev() {
            picked.other(
                d,
                Subjects::of([Uuid::from_u128(u128::from(d) + 1)]),
                big.clone(),
            );
        }
        let (frame, evicted) = picked.frame(1, 1_000);
        assert_eq!(evicted.len(), 41, "own 99 + 9 others of 99 fit in 1,000");
        let nearest: Vec<Uuid> = (0..9u128).map(|d| Uuid::from_u128(d + 1)).collect();
        assert!(
            evicted.iter().all(|p| !nearest.contains(p)),
            "the nearest stay"
        );
        let ServerFrame::TickUpdate { events, .. } = loh_commands::decode_server(&frame).unwrap()
        else {
            panic!("a TickUpdate")
        };
        assert_eq!(events.len(), 1 + 9 + 41, "each evicted player is told gone");
        let last = events.last().unwrap().as_map().unwrap();
        assert_eq!(last[0].0.as_str(), Some("PlayerDisappeared"));
    }
}
