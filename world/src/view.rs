//! Which events of a tick each player may see, without testing every event against every player.
//!
//! Events are bucketed by chunk of [`CHUNK`]² tiles; a chunk is wider than the view distance, so
//! whatever a player sees by distance lies in the 3×3 chunks around them. Most events are seen by
//! whoever stands within the view distance ("by position"): the list of those visible from a tile
//! is computed once per tick for every tile a player stands on, and shared by everyone there (a
//! crowd on one tile costs one list). Events with a fixed audience ([`audience`]: inventory and
//! bank changes, shop deals, trades) are indexed by the players in it and go to them alone. The
//! rest — private messages, presence, private drops, friend, ignore and payment events, deaths
//! whose loot may be private — are tested one by one with [`World::sees_from`] for each player
//! near them (or for everyone, when they have no tile), and a player who ignores someone has
//! that one's chat taken out. The result is exactly the one of
//! testing every event with [`World::sees_from`] (a test checks it).

use super::social::VIEW_DISTANCE;
use super::{Player, World, chebyshev};
use loh_events::EventBody;
use std::collections::HashMap;
use uuid::Uuid;

/// The side of a chunk, in tiles: one more than the view distance.
pub const CHUNK: i32 = VIEW_DISTANCE as i32 + 1;

fn chunk(x: i32, y: i32) -> (i32, i32) {
    (x.div_euclid(CHUNK), y.div_euclid(CHUNK))
}

/// Whether whoever is within the view distance of `body`'s tile sees it, as it is, and nobody
/// else does ([`World::sees_from`]'s last rule; chat also needs the viewer not to ignore the
/// speaker). The others depend on who looks.
pub fn by_position(body: &EventBody) -> bool {
    !matches!(
        body,
        EventBody::PrivateMessageSent { .. }
            | EventBody::PlayerPresence { .. }
            | EventBody::ItemDropped { .. }
            | EventBody::FriendAdded { .. }
            | EventBody::FriendRemoved { .. }
            | EventBody::IgnoreAdded { .. }
            | EventBody::IgnoreRemoved { .. }
            | EventBody::BankDeposited { .. }
            | EventBody::BankWithdrawn { .. }
            | EventBody::NpcDied { .. }
            | EventBody::PlayerDied { .. }
    ) && !is_payment(body)
        && !has_audience(body)
}

/// Who an event with a fixed audience is for, as far as the event itself says.
enum Fixed {
    /// The player alone.
    Owner(Uuid),
    /// The two parties of a trade.
    Parties(Uuid, Uuid),
    /// One party of a trade; the other is its partner in the trade open now.
    PartyOf(Uuid),
}

fn fixed_audience(body: &EventBody) -> Option<Fixed> {
    match body {
        EventBody::ItemsMinted { player_id, .. }
        | EventBody::ItemsBurned { player_id, .. }
        | EventBody::ItemMoved { player_id, .. }
        | EventBody::BankDeposited { player_id, .. }
        | EventBody::BankWithdrawn { player_id, .. }
        | EventBody::ItemsProduced { player_id, .. }
        | EventBody::ShopBought { player_id, .. }
        | EventBody::ShopSold { player_id, .. }
        | EventBody::CharacterDeparted { player_id, .. }
        | EventBody::CharacterArrived { player_id, .. } => Some(Fixed::Owner(*player_id)),
        EventBody::TradeRequested { player_id, with }
        | EventBody::TradeOpened { player_id, with }
        | EventBody::TradeConfirming { player_id, with }
        | EventBody::TradeSettled {
            player_id, with, ..
        }
        | EventBody::TradeCancelled {
            player_id, with, ..
        } => Some(Fixed::Parties(*player_id, *with)),
        EventBody::TradeOffered { player_id, .. } | EventBody::TradeAccepted { player_id } => {
            Some(Fixed::PartyOf(*player_id))
        }
        _ => None,
    }
}

/// Whether `body` is seen by a fixed set of players only ([`audience`]).
pub fn has_audience(body: &EventBody) -> bool {
    fixed_audience(body).is_some()
}

/// The only players who see `body`, when it has a fixed audience: what is in a player's
/// inventory and bank, and what they buy, sell and make, is theirs alone (the game shows a
/// bystander none of it); a trade — the request, every offer, acceptance, settlement and
/// cancellation — is seen by its two parties. An offer or acceptance names one side: the other
/// is the partner of the trade open in `world` (none when the trade already ended in the same
/// tick: the cancellation tells the partner). `None` for every other event.
pub fn audience(world: &World, body: &EventBody) -> Option<(Uuid, Option<Uuid>)> {
    fixed_audience(body).map(|fixed| match fixed {
        Fixed::Owner(p) => (p, None),
        Fixed::Parties(p, with) => (p, Some(with)),
        Fixed::PartyOf(p) => (p, world.trade(p).map(|t| t.with)),
    })
}

/// Payments, membership and bonds redeemed: the player's own business, seen by nobody else.
pub fn is_payment(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::PurchaseCredited { .. }
            | EventBody::MembershipExtended { .. }
            | EventBody::BondRedeemed { .. }
            | EventBody::MembershipLapsed { .. }
            | EventBody::BondsClawedBack { .. }
            | EventBody::MembershipShortened { .. }
            | EventBody::PurchaseDebtRecorded { .. }
            | EventBody::PurchaseReinstated { .. }
            | EventBody::PaymentNoted { .. }
    )
}

/// A tick's events by chunk, and the lists already computed per tile.
#[derive(Debug, Default)]
pub struct ViewIndex {
    /// Per chunk: the positions of the events by position, then of the others.
    chunks: HashMap<(i32, i32), (Vec<usize>, Vec<usize>)>,
    /// Events without a tile, private messages and presence: tested for everyone.
    everywhere: Vec<usize>,
    /// Events with a fixed [`audience`], by each player in it.
    owned: HashMap<Uuid, Vec<usize>>,
    tiles: Vec<Option<(i32, i32)>>,
    plain: Vec<bool>,
    /// Per tile a player stands on: the events by position visible from it, ascending.
    from_tile: HashMap<(i32, i32), Vec<usize>>,
}

impl ViewIndex {
    /// Indexes `events` (each with the tile it happens on, [`World::event_tile`]) of `world`'s
    /// tick by their position in the sequence.
    pub fn new<'a>(
        world: &World,
        events: impl IntoIterator<Item = (&'a EventBody, Option<(i32, i32)>)>,
    ) -> Self {
        let mut index = ViewIndex::default();
        for (i, (body, tile)) in events.into_iter().enumerate() {
            let plain = by_position(body);
            index.tiles.push(tile);
            index.plain.push(plain);
            if let Some((a, b)) = audience(world, body) {
                index.owned.entry(a).or_default().push(i);
                if let Some(b) = b.filter(|b| *b != a) {
                    index.owned.entry(b).or_default().push(i);
                }
                continue;
            }
            // A private message's recipient and a player's friends may stand anywhere.
            let anywhere = matches!(
                body,
                EventBody::PrivateMessageSent { .. } | EventBody::PlayerPresence { .. }
            );
            match tile {
                Some((x, y)) if !anywhere => {
                    let (by_pos, other) = index.chunks.entry(chunk(x, y)).or_default();
                    if plain { by_pos } else { other }.push(i);
                }
                _ => index.everywhere.push(i),
            }
        }
        index
    }

    /// The tile event `i` happens on, if it has one.
    pub fn tile(&self, i: usize) -> Option<(i32, i32)> {
        self.tiles[i]
    }

    /// Whether event `i` is seen by position alone (and so never redacted).
    pub fn is_plain(&self, i: usize) -> bool {
        self.plain[i]
    }

    /// Fills `out` with the positions, ascending, of the events `viewer` (whose record is `v`)
    /// may see that are not seen by position alone (and those without a tile): each tested
    /// with [`World::sees_from`].
    pub fn personal(
        &self,
        world: &World,
        viewer: Uuid,
        v: &Player,
        events: &[EventBody],
        out: &mut Vec<usize>,
    ) {
        let (cx, cy) = chunk(v.x, v.y);
        out.clear();
        out.extend(
            self.everywhere
                .iter()
                .copied()
                .chain(self.owned.get(&viewer).into_iter().flatten().copied())
                .chain(
                    NEIGHBOURS
                        .iter()
                        .filter_map(|&(dx, dy)| self.chunks.get(&(cx + dx, cy + dy)))
                        .flat_map(|(_, other)| other.iter().copied()),
                )
                .filter(|&i| world.sees_from(viewer, v, &events[i], self.tiles[i])),
        );
        out.sort_unstable();
    }

    /// The events by position in the chunks around `(x, y)`, in no order: every one within the
    /// view distance of the tile is among them (and some farther).
    pub fn by_position_around(&self, x: i32, y: i32) -> impl Iterator<Item = usize> + '_ {
        let (cx, cy) = chunk(x, y);
        NEIGHBOURS
            .iter()
            .filter_map(move |&(dx, dy)| self.chunks.get(&(cx + dx, cy + dy)))
            .flat_map(|(by_pos, _)| by_pos.iter().copied())
    }

    /// Fills `out` with the positions, ascending, of the events `viewer` (whose record is `v`)
    /// may see: exactly those `events` for which [`World::sees_from`] holds.
    pub fn visible(
        &mut self,
        world: &World,
        viewer: Uuid,
        v: &Player,
        events: &[EventBody],
        out: &mut Vec<usize>,
    ) {
        let mut personal = Vec::new();
        self.personal(world, viewer, v, events, &mut personal);
        // By position: shared by everyone on the tile.
        if !self.from_tile.contains_key(&(v.x, v.y)) {
            let mut near: Vec<usize> = self
                .by_position_around(v.x, v.y)
                .filter(|&i| {
                    self.tiles[i].is_some_and(|(x, y)| chebyshev(v.x, v.y, x, y) <= VIEW_DISTANCE)
                })
                .collect();
            near.sort_unstable();
            self.from_tile.insert((v.x, v.y), near);
        }
        let near = &self.from_tile[&(v.x, v.y)];
        let ignored = |i: usize| {
            !v.ignores.is_empty()
                && matches!(&events[i], EventBody::PlayerSaid { player_id, .. } if v.ignores.contains(player_id))
        };
        // Merge the two ascending lists.
        out.clear();
        out.reserve(near.len() + personal.len());
        let (mut a, mut b) = (
            near.iter().copied().peekable(),
            personal.into_iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&x), Some(&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            if let Some(i) = next
                && !(self.plain[i] && ignored(i))
            {
                out.push(i);
            }
        }
    }
}

const NEIGHBOURS: [(i32, i32); 9] = [
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 0),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MapConfig, World};
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
        for k in 0..10 {
            // Crowds: several players on the same tile, some ignoring others.
            let (a, b) = (ids[k], ids[k + 10]);
            let p = world.player(a).map(|p| (p.x, p.y)).expect("spawned");
            world.apply(&EventBody::PlayerMoved {
                player_id: b,
                from_x: 0,
                from_y: 0,
                x: p.0,
                y: p.1,
                running: false,
                path_to: None,
            });
            world.apply(&EventBody::IgnoreAdded {
                player_id: a,
                ignored: ids[rng.random_range(0..80)],
            });
        }
        let mut events = Vec::new();
        for _ in 0..900 {
            let (a, b) = (ids[rng.random_range(0..80)], ids[rng.random_range(0..80)]);
            let body = match rng.random_range(0..11) {
                8 => EventBody::ItemsMinted {
                    player_id: a,
                    item: "logs".into(),
                    qty: 1,
                    source: "test".into(),
                },
                9 => EventBody::TradeRequested {
                    player_id: a,
                    with: b,
                },
                10 => EventBody::TradeAccepted { player_id: a },
                6 => EventBody::PlayerSaid {
                    player_id: a,
                    text: "hello".into(),
                },
                7 => EventBody::BankDeposited {
                    player_id: a,
                    item: "logs".into(),
                    qty: 1,
                    slot: 0,
                },
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
                    path_to: None,
                },
            };
            let tile = world.event_tile(&body);
            events.push((body, tile));
        }
        let mut index = ViewIndex::new(&world, events.iter().map(|(b, t)| (b, *t)));
        let bodies: Vec<EventBody> = events.iter().map(|(b, _)| b.clone()).collect();
        let mut indexed = Vec::new();
        let mut seen = 0;
        for id in &ids {
            let v = world.player(*id).expect("spawned");
            let every: Vec<usize> = (0..events.len())
                .filter(|&i| world.sees_from(*id, v, &events[i].0, events[i].1))
                .collect();
            index.visible(&world, *id, v, &bodies, &mut indexed);
            assert_eq!(indexed, every, "viewer {id}");
            seen += every.len();
        }
        assert!(
            index.from_tile.len() < ids.len(),
            "crowds share their lists"
        );
        assert!(seen > 200, "the viewers see a fair share: {seen}");
    }
}
