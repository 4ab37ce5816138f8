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

mod interest;

pub use interest::{FastHash, FoldHasher, Interest, Nearest, PlayerGrid};

use bytes::Bytes;
use loh_commands::MAX_SERVER_FRAME;
use loh_events::EventBody;
use loh_world::social::VIEW_DISTANCE;
use loh_world::view::{CHUNK, ViewIndex};
use loh_world::{World, chebyshev};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use uuid::Uuid;

/// Players' display names by id, as the writer learned them from their sessions.
pub type Names = HashMap<Uuid, Arc<str>, FastHash>;

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
pub fn tick_update_frame<'a>(
    tick: u64,
    events: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Bytes {
    let bytes = events.clone().map(<[u8]>::len).sum();
    tick_update_frame_of(tick, events.len(), bytes, events).into()
}

/// The most bytes a `TickUpdate`'s header takes (`{"TickUpdate": {"tick": …, "events": [`, with
/// a 64-bit tick and a 32-bit array length).
const TICK_UPDATE_HEADER: usize = 39;

/// [`tick_update_frame`] of `count` events of `bytes` bytes in all, allocated once at its size:
/// a frame that grew as it was written would double its allocation (2,500 of them a tick in a
/// crowd), and `Bytes` would keep the unused half until the frame is sent.
fn tick_update_frame_of<'a>(
    tick: u64,
    count: usize,
    bytes: usize,
    events: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    use rmp::encode::{write_array_len, write_map_len, write_str, write_uint};
    let mut head = [0u8; TICK_UPDATE_HEADER];
    let mut w = &mut head[..];
    let header = (|| -> Result<(), rmp::encode::ValueWriteError> {
        write_map_len(&mut w, 1)?;
        write_str(&mut w, "TickUpdate")?;
        write_map_len(&mut w, 2)?;
        write_str(&mut w, "tick")?;
        write_uint(&mut w, tick)?;
        write_str(&mut w, "events")?;
        write_array_len(&mut w, count as u32)?;
        Ok(())
    })();
    header.expect("a TickUpdate header fits TICK_UPDATE_HEADER bytes");
    let head_len = TICK_UPDATE_HEADER - w.len();
    let mut out = Vec::with_capacity(head_len + bytes);
    out.extend_from_slice(&head[..head_len]);
    let mut written = 0;
    for e in events {
        out.extend_from_slice(e);
        written += 1;
    }
    debug_assert_eq!(written, count, "the frame's array length");
    debug_assert_eq!(out.len(), head_len + bytes, "the frame's size, as given");
    out
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

/// A tick's committed events as the fan-out needs them, computed once for all viewers: each
/// event encoded once and the players it names found once; the events by chunk
/// ([`ViewIndex`]) and those by position also by the players they name; the online players,
/// NPCs and public ground items by chunk; and per tile a viewer stands on, the lists seen from it
/// (shared by everyone on the tile). A viewer's frame is then assembled from its own events,
/// what it sees from its tile, and the events of the players in its interest, nearest first:
/// the work per viewer grows with what it is sent, not with the crowd around it.
pub struct TickView<'w> {
    world: &'w World,
    tick: u64,
    limits: ViewLimits,
    bodies: Vec<EventBody>,
    encoded: Vec<Bytes>,
    /// The players each event names, each once.
    named: Vec<Vec<Uuid>>,
    index: ViewIndex,
    grid: PlayerGrid,
    /// Events by position with a tile, by each player they name, ascending.
    about: HashMap<Uuid, Vec<u32>, FastHash>,
    /// NPCs and ground items anyone around may see, by chunk.
    npcs: ByChunk<u32>,
    ground: ByChunk<u64>,
    /// Ground items still private to their owner, by owner.
    private: HashMap<Uuid, Vec<(u64, i32, i32)>, FastHash>,
    tiles: HashMap<(i32, i32), Tile, FastHash>,
    /// Per event, the last viewer (by stamp) whose frame took it.
    taken: Vec<u32>,
    stamp: u32,
    scratch: Scratch,
    /// Display names for `PlayerSeen` ([`TickView::with_names`]).
    names: Option<&'w Names>,
    /// Players taken out of interests by the byte budget this tick.
    pub evictions: u64,
}

/// Things with an id on a tile (NPCs, ground items), by chunk.
type ByChunk<Id> = HashMap<(i32, i32), Vec<(Id, i32, i32)>, FastHash>;

/// What is seen from one tile, ascending: the events naming nobody, the NPCs, the public
/// ground items.
#[derive(Clone)]
struct Tile {
    unnamed: Rc<[u32]>,
    npcs: Rc<[u32]>,
    ground: Rc<[u64]>,
}

/// Buffers reused from viewer to viewer.
#[derive(Default)]
struct Scratch {
    personal: Vec<usize>,
    mine: Vec<u32>,
    own: Vec<Bytes>,
    members: Vec<(u32, Uuid)>,
    entered: HashSet<Uuid, FastHash>,
    appeared: Vec<Bytes>,
    others: Vec<u32>,
    group: Vec<u32>,
}

fn chunk_of(x: i32, y: i32) -> (i32, i32) {
    (x.div_euclid(CHUNK), y.div_euclid(CHUNK))
}

fn chunks_around(x: i32, y: i32) -> impl Iterator<Item = (i32, i32)> {
    let (cx, cy) = chunk_of(x, y);
    (-1..=1).flat_map(move |dx| (-1..=1).map(move |dy| (cx + dx, cy + dy)))
}

impl<'w> TickView<'w> {
    /// Indexes `bodies`, the events just committed on `world` at `tick`.
    pub fn new(
        world: &'w World,
        tick: u64,
        limits: ViewLimits,
        bodies: Vec<EventBody>,
    ) -> TickView<'w> {
        let encoded: Vec<Bytes> = bodies.iter().map(encode_event).collect();
        let named: Vec<Vec<Uuid>> = encoded
            .iter()
            .map(|b| {
                let mut ids = named_players(b);
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        let index = ViewIndex::new(world, bodies.iter().map(|b| (b, world.event_tile(b))));
        let mut about: HashMap<Uuid, Vec<u32>, FastHash> = HashMap::default();
        for (i, named) in named.iter().enumerate() {
            if index.is_plain(i) && index.tile(i).is_some() {
                for p in named {
                    about.entry(*p).or_default().push(i as u32);
                }
            }
        }
        let mut npcs: ByChunk<u32> = HashMap::default();
        for (id, n) in world.npcs() {
            npcs.entry(chunk_of(n.x, n.y))
                .or_default()
                .push((*id, n.x, n.y));
        }
        let now = world.tick();
        let mut ground: ByChunk<u64> = HashMap::default();
        let mut private: HashMap<Uuid, Vec<(u64, i32, i32)>, FastHash> = HashMap::default();
        for g in world.ground_items() {
            let entry = (g.ground_id, g.x, g.y);
            match g.owner {
                Some(owner) if now < g.public_at => private.entry(owner).or_default().push(entry),
                _ => ground.entry(chunk_of(g.x, g.y)).or_default().push(entry),
            }
        }
        TickView {
            world,
            tick,
            limits,
            taken: vec![0; bodies.len()],
            bodies,
            encoded,
            named,
            index,
            grid: PlayerGrid::new(world),
            about,
            npcs,
            ground,
            private,
            tiles: HashMap::default(),
            stamp: 0,
            scratch: Scratch::default(),
            names: None,
            evictions: 0,
        }
    }

    /// What is seen from `(x, y)`, computed once per tick and tile.
    fn tile(&mut self, x: i32, y: i32) -> Tile {
        if let Some(t) = self.tiles.get(&(x, y)) {
            return t.clone();
        }
        let near = |tx: i32, ty: i32| chebyshev(x, y, tx, ty) <= VIEW_DISTANCE;
        let mut unnamed: Vec<u32> = self
            .index
            .by_position_around(x, y)
            .filter(|&i| {
                self.named[i].is_empty() && self.index.tile(i).is_some_and(|(tx, ty)| near(tx, ty))
            })
            .map(|i| i as u32)
            .collect();
        let mut npcs = Vec::new();
        let mut ground = Vec::new();
        for c in chunks_around(x, y) {
            for &(id, nx, ny) in self.npcs.get(&c).into_iter().flatten() {
                if near(nx, ny) {
                    npcs.push(id);
                }
            }
            for &(id, gx, gy) in self.ground.get(&c).into_iter().flatten() {
                if near(gx, gy) {
                    ground.push(id);
                }
            }
        }
        unnamed.sort_unstable();
        npcs.sort_unstable();
        ground.sort_unstable();
        let tile = Tile {
            unnamed: unnamed.into(),
            npcs: npcs.into(),
            ground: ground.into(),
        };
        if self.grid.shared(x, y) {
            self.tiles.insert((x, y), tile.clone());
        }
        tile
    }

    /// Names the players this view shows (`PlayerSeen.name`) from `names`.
    pub fn with_names(mut self, names: &'w Names) -> TickView<'w> {
        self.names = Some(names);
        self
    }

    /// What `viewer`s see of `player_id`, named when its name is known.
    fn seen(&self, player_id: Uuid) -> Option<loh_world::snapshot::PlayerSeen> {
        let mut seen = self.world.player_seen(player_id)?;
        seen.name = self
            .names
            .and_then(|n| n.get(&player_id))
            .map(|n| n.to_string());
        Some(seen)
    }

    /// `viewer`'s frame of this tick (a `Snapshot` at the session's first tick, else a
    /// `TickUpdate`), with `interest` brought up to date. `None` when the viewer is not in the
    /// world.
    pub fn frame_for(&mut self, viewer: Uuid, interest: &mut Interest) -> Option<Bytes> {
        let world = self.world;
        let v = world.player(viewer)?;
        let at = (v.x, v.y);
        let (entered, left) = interest.update(&self.grid, viewer, at, self.limits);
        let tile = self.tile(v.x, v.y);
        let (npcs_came, npcs_went) = interest.npcs_now(&tile.npcs);
        let mine_private: Vec<u64> = self
            .private
            .get(&viewer)
            .into_iter()
            .flatten()
            .filter(|&&(_, gx, gy)| chebyshev(v.x, v.y, gx, gy) <= VIEW_DISTANCE)
            .map(|&(id, _, _)| id)
            .collect();
        let (ground_came, ground_went) = if mine_private.is_empty() {
            interest.ground_now(&tile.ground)
        } else {
            let mut all = tile.ground.to_vec();
            all.extend(mine_private);
            all.sort_unstable();
            interest.ground_now(&all)
        };
        if !interest.join() {
            // The session's first tick: its whole state and everything in view.
            let you = world.self_view(viewer)?;
            let players: Vec<_> = interest
                .players()
                .into_iter()
                .filter_map(|p| self.seen(p))
                .collect();
            let npcs: Vec<_> = npcs_came
                .iter()
                .filter_map(|id| world.npc(*id).map(|n| world.npc_seen(*id, n)))
                .collect();
            let ground: Vec<_> = ground_came
                .iter()
                .filter_map(|id| world.ground_item(*id))
                .collect();
            return Some(snapshot_frame(self.tick, &you, &players, &npcs, &ground));
        }
        let mut s = std::mem::take(&mut self.scratch);
        // What left the view, and the NPCs and ground items that came into it.
        s.own.clear();
        for player_id in left {
            s.own
                .push(encode_value(&ViewEvent::PlayerDisappeared { player_id }));
        }
        for npc in npcs_went {
            s.own.push(encode_value(&ViewEvent::NpcDisappeared { npc }));
        }
        for ground_id in ground_went {
            s.own.push(encode_value(&ViewEvent::GroundItemDisappeared {
                ground_id,
            }));
        }
        for id in npcs_came {
            if let Some(n) = world.npc(id) {
                s.own.push(encode_value(&ViewEvent::NpcAppeared(
                    &world.npc_seen(id, n),
                )));
            }
        }
        for id in ground_came {
            if let Some(g) = world.ground_item(id) {
                s.own.push(encode_value(&ViewEvent::GroundItemAppeared(g)));
            }
        }
        // Always sent, in the log's order: the viewer's own events, the personal ones it may
        // see (some redacted for it), and those about no player seen from its tile.
        self.index
            .personal(world, viewer, v, &self.bodies, &mut s.personal);
        s.mine.clear();
        s.mine.extend(s.personal.iter().map(|&i| i as u32));
        s.mine.extend_from_slice(&tile.unnamed);
        for &i in self.about.get(&viewer).into_iter().flatten() {
            let own = self.bodies[i as usize].player_id() == Some(viewer);
            if own || self.in_view(i, at) {
                s.mine.push(i);
            }
        }
        s.mine.sort_unstable();
        for &i in &s.mine {
            let i = i as usize;
            let redacted = (!self.index.is_plain(i) && !self.named[i].contains(&viewer))
                .then(|| world.redacted_for(viewer, &self.bodies[i]))
                .flatten();
            s.own.push(match redacted {
                Some(body) => encode_event(&body),
                None => self.encoded[i].clone(),
            });
        }
        // The other players' events, nearest player first, a player's whole tick or nothing.
        let mut used: usize = s.own.iter().map(Bytes::len).sum();
        let mut others = 0;
        self.stamp += 1;
        let stamp = self.stamp;
        s.entered.clear();
        s.entered.extend(entered);
        interest.by_distance(&self.grid, at, &mut s.members);
        s.appeared.clear();
        s.others.clear();
        let (mut evicted, mut quiet) = (Vec::new(), Vec::new());
        for &(_, p) in &s.members {
            s.group.clear();
            let mut size = 0;
            for &i in self.about.get(&p).into_iter().flatten() {
                let iu = i as usize;
                let ignored = !v.ignores.is_empty()
                    && matches!(&self.bodies[iu], EventBody::PlayerSaid { player_id, .. } if v.ignores.contains(player_id));
                if self.taken[iu] == stamp
                    || self.named[iu].contains(&viewer)
                    || !self.in_view(i, at)
                    || ignored
                {
                    continue;
                }
                size += self.encoded[iu].len();
                s.group.push(i);
            }
            let appears = s.entered.contains(&p);
            let appeared = appears
                .then(|| self.seen(p))
                .flatten()
                .map(|seen| encode_value(&ViewEvent::PlayerAppeared(&seen)));
            size += appeared.as_ref().map_or(0, Bytes::len);
            if used + size <= self.limits.max_bytes {
                used += size;
                others += size;
                for &i in &s.group {
                    self.taken[i as usize] = stamp;
                }
                s.others.extend_from_slice(&s.group);
                s.appeared.extend(appeared);
            } else if appears {
                quiet.push(p);
            } else {
                evicted.push(p);
            }
        }
        s.others.sort_unstable();
        let gone: Vec<Bytes> = evicted
            .iter()
            .map(|&player_id| encode_value(&ViewEvent::PlayerDisappeared { player_id }))
            .collect();
        let parts = s
            .own
            .iter()
            .chain(&s.appeared)
            .map(|b| &b[..])
            .chain(s.others.iter().map(|&i| &self.encoded[i as usize][..]))
            .chain(gone.iter().map(|b| &b[..]));
        let count = s.own.len() + s.appeared.len() + s.others.len() + gone.len();
        let bytes = used + gone.iter().map(Bytes::len).sum::<usize>();
        let frame = Bytes::from(tick_update_frame_of(self.tick, count, bytes, parts));
        self.evictions += (evicted.len() + quiet.len()) as u64;
        let shown = s.members.len() - evicted.len() - quiet.len();
        evicted.append(&mut quiet);
        interest.settle(&evicted, used, self.limits.max_bytes, others, shown);
        self.scratch = s;
        Some(frame)
    }

    /// Whether event `i` (by position, with a tile) is within the view distance of `at`.
    fn in_view(&self, i: u32, at: (i32, i32)) -> bool {
        self.index
            .tile(i as usize)
            .is_some_and(|(x, y)| chebyshev(at.0, at.1, x, y) <= VIEW_DISTANCE)
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
    fn a_frame_is_allocated_once_at_its_size() {
        let encoded: Vec<Bytes> = sample()
            .iter()
            .cycle()
            .take(300)
            .map(encode_event)
            .collect();
        for (tick, n) in [(0u64, 0usize), (43, 1), (70_000, 17), (u64::MAX, 300)] {
            let bytes = encoded[..n].iter().map(Bytes::len).sum();
            let frame = tick_update_frame_of(tick, n, bytes, encoded[..n].iter().map(|b| &b[..]));
            assert_eq!(frame.capacity(), frame.len(), "tick={tick} n={n}");
        }
        // The widest header: a 64-bit tick and a 32-bit array length.
        let empty = std::iter::repeat_n(&[][..], 70_000);
        let frame = tick_update_frame_of(u64::MAX, 70_000, 0, empty);
        assert!(frame.len() <= TICK_UPDATE_HEADER, "{}", frame.len());
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
        let map = loh_world::MapConfig::default();
        let (sx, sy) = (map.spawn_x, map.spawn_y);
        let mut world = World::new(map);
        let viewer = Uuid::from_u128(1_000);
        let others: Vec<Uuid> = (0..50u128).map(|k| Uuid::from_u128(k + 1)).collect();
        let place = |world: &mut World, id: Uuid, x: i32| {
            world.apply(&EventBody::PlayerSpawned {
                player_id: id,
                x,
                y: sy,
            });
            world.apply(&EventBody::PlayerPresence {
                player_id: id,
                online: true,
            });
        };
        place(&mut world, viewer, sx);
        for (k, id) in others.iter().enumerate() {
            // Ten distances, five players at each.
            place(&mut world, *id, sx + 1 + (k / 5) as i32);
        }
        world.begin_tick(1);
        let limits = ViewLimits {
            max_players: 255,
            max_bytes: 1_000,
        };
        let mut interest = Interest::default();
        let join = TickView::new(&world, 1, limits, vec![])
            .frame_for(viewer, &mut interest)
            .unwrap();
        let ServerFrame::Snapshot { players, .. } = loh_commands::decode_server(&join).unwrap()
        else {
            panic!("the first frame is the snapshot")
        };
        // At first as many as the budget holds at a guess of 64 bytes each: the nearest 15.
        let first = 1_000 / 64;
        assert_eq!(players.len(), first);

        let said = |p: Uuid| EventBody::PlayerSaid {
            player_id: p,
            text: "x".repeat(80),
        };
        let mut bodies = vec![EventBody::PlayerSaid {
            player_id: viewer,
            text: "mine".into(),
        }];
        // The farthest speak first in the log: the budget goes by distance, not log order.
        bodies.extend(others.iter().rev().map(|p| said(*p)));
        let own = encode_event(&bodies[0]).len();
        let each = encode_event(&said(others[0])).len();
        let fit = (1_000 - own) / each;
        let mut view = TickView::new(&world, 2, limits, bodies);
        let frame = view.frame_for(viewer, &mut interest).unwrap();
        assert!(frame.len() <= 1_000 + 64 * 50, "{}", frame.len());
        let ServerFrame::TickUpdate { events, .. } = loh_commands::decode_server(&frame).unwrap()
        else {
            panic!("a TickUpdate")
        };
        let kind = |e: &rmpv::Value| e.as_map().unwrap()[0].0.as_str().unwrap().to_owned();
        let speaker = |e: &rmpv::Value| {
            let inner = e.as_map().unwrap()[0].1.as_map().unwrap();
            inner[0].1.as_str().unwrap().parse::<Uuid>().unwrap()
        };
        assert_eq!(speaker(&events[0]), viewer, "own events first");
        let kept: Vec<Uuid> = events[1..1 + fit].iter().map(|e| speaker(e)).collect();
        let mut nearest = others[..fit].to_vec();
        nearest.sort_unstable();
        let mut sorted = kept.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, nearest, "the nearest players' lines fit");
        assert!(
            kept.windows(2).all(|w| w[0] > w[1]),
            "kept lines stay in the log's order"
        );
        let gone: Vec<&rmpv::Value> = events[1 + fit..].iter().map(|e| &**e).collect();
        assert_eq!(gone.len(), first - fit, "each evicted player is told gone");
        assert!(gone.iter().all(|e| kind(e) == "PlayerDisappeared"));
        assert_eq!(view.evictions, (first - fit) as u64);
        for (k, p) in others.iter().enumerate() {
            assert_eq!(interest.contains(p), k < fit, "player {k}");
        }
    }
}
