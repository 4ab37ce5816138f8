//! Which events of a tick each player may see, without testing every event against every player.
//!
//! Events are bucketed by chunk of [`CHUNK`]² tiles; a chunk is wider than the view distance, so
//! whatever a player sees by distance lies in the 3×3 chunks around them. Events whose audience
//! is not who stands near (private messages, presence, events without a tile) are candidates for
//! every player. [`World::sees_from`] still decides each candidate: the index only skips events
//! that cannot pass it, so the result is exactly the one of testing them all.

use super::Player;
use super::social::VIEW_DISTANCE;
use loh_events::EventBody;
use std::collections::HashMap;

/// The side of a chunk, in tiles: one more than the view distance.
pub const CHUNK: i32 = VIEW_DISTANCE as i32 + 1;

fn chunk(x: i32, y: i32) -> (i32, i32) {
    (x.div_euclid(CHUNK), y.div_euclid(CHUNK))
}

/// Whether who sees `body` depends on where it happens only (see [`World::sees_from`]): not a
/// private message (its recipient may be anywhere) nor a presence change (friends anywhere).
///
/// [`World::sees_from`]: super::World::sees_from
fn spatial(body: &EventBody) -> bool {
    !matches!(
        body,
        EventBody::PrivateMessageSent { .. } | EventBody::PlayerPresence { .. }
    )
}

/// A tick's events by chunk.
#[derive(Debug, Default)]
pub struct ViewIndex {
    chunks: HashMap<(i32, i32), Vec<usize>>,
    everywhere: Vec<usize>,
}

impl ViewIndex {
    /// Indexes `events` (each with the tile it happens on, [`super::World::event_tile`]) by
    /// their position in the sequence.
    pub fn new<'a>(events: impl IntoIterator<Item = (&'a EventBody, Option<(i32, i32)>)>) -> Self {
        let mut index = ViewIndex::default();
        for (i, (body, tile)) in events.into_iter().enumerate() {
            match tile {
                Some((x, y)) if spatial(body) => {
                    index.chunks.entry(chunk(x, y)).or_default().push(i)
                }
                _ => index.everywhere.push(i),
            }
        }
        index
    }

    /// Fills `out` with the positions, ascending, of the events `v` may see: a superset of those
    /// [`super::World::sees_from`] accepts for them.
    pub fn candidates(&self, v: &Player, out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.everywhere);
        let (cx, cy) = chunk(v.x, v.y);
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(found) = self.chunks.get(&(cx + dx, cy + dy)) {
                    out.extend_from_slice(found);
                }
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{MapConfig, World};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use uuid::Uuid;

    #[test]
    fn the_index_yields_exactly_what_testing_every_event_against_every_player_yields() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut world = World::new(MapConfig::default());
        let map = MapConfig::default();
        let ids: Vec<Uuid> = (0..80).map(|i| Uuid::from_u128(i + 1)).collect();
        for id in &ids {
            world.apply(&EventBody::PlayerSpawned {
                player_id: *id,
                x: map.spawn_x + rng.random_range(-60..60),
                y: map.spawn_y + rng.random_range(-60..60),
            });
        }
        for _ in 0..40 {
            let (a, b) = (ids[rng.random_range(0..80)], ids[rng.random_range(0..80)]);
            if a != b {
                world.apply(&EventBody::FriendAdded {
                    player_id: a,
                    friend: b,
                });
            }
        }
        let mut events = Vec::new();
        for _ in 0..600 {
            let (a, b) = (ids[rng.random_range(0..80)], ids[rng.random_range(0..80)]);
            let body = match rng.random_range(0..6) {
                0 => EventBody::PlayerSaid {
                    player_id: a,
                    text: "hi".into(),
                },
                1 => EventBody::PrivateMessageSent {
                    player_id: a,
                    to: b,
                    text: "psst".into(),
                },
                2 => EventBody::PlayerPresence {
                    player_id: a,
                    online: rng.random(),
                },
                3 => EventBody::NpcMoved {
                    npc: rng.random_range(0..5),
                    x: map.spawn_x + rng.random_range(-80..80),
                    y: map.spawn_y + rng.random_range(-80..80),
                },
                4 => EventBody::FriendAdded {
                    player_id: a,
                    friend: b,
                },
                _ => EventBody::PlayerMoved {
                    player_id: a,
                    from_x: 0,
                    from_y: 0,
                    x: 0,
                    y: 0,
                    running: false,
                },
            };
            let tile = world.event_tile(&body);
            events.push((body, tile));
        }
        let index = ViewIndex::new(events.iter().map(|(b, t)| (b, *t)));
        let mut candidates = Vec::new();
        let mut seen = 0;
        for id in &ids {
            let v = world.player(*id).expect("spawned");
            let every: Vec<usize> = (0..events.len())
                .filter(|&i| world.sees_from(*id, v, &events[i].0, events[i].1))
                .collect();
            index.candidates(v, &mut candidates);
            let indexed: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&i| world.sees_from(*id, v, &events[i].0, events[i].1))
                .collect();
            assert_eq!(indexed, every, "viewer {id}");
            assert!(candidates.len() < events.len(), "the index skips events");
            seen += every.len();
        }
        assert!(seen > 200, "the viewers see a fair share: {seen}");
    }
}
