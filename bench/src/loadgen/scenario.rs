//! What each bot asks for, one command per tick: the scenarios of `--scenario`. Each is small and
//! plays by the rules a real client would follow; a rejection is counted, not avoided.
//!
//! - `crowd`: everyone at the spawn: `WalkTo` a tile within 3 of it, `Say`, `MoveItem`.
//! - `spread`: each bot walks (`WalkTo`, at most 32 tiles ahead) toward its own far target on a
//!   large map (`loh up --map-tiles`), and picks another when it arrives.
//! - `market`: at the general store's keeper: `Buy`, `Sell`, and trades between bot pairs
//!   (`TradeRequest`, `TradeOffer`, `TradeAccept`).
//! - `combat`: by an NPC spawn point near the spawn: `AttackNpc` on NPCs seen in `TickUpdate`s,
//!   and `SetAttackStyle`.
//! - `hop`: over several worlds: plays as `crowd`, and every few ticks (`--hop-every`) asks
//!   `HopWorld` to another world of the run, then follows the `Hop` frame there as a client does.
//!
//! A bot knows its tile and the NPCs in view from its `Snapshot` (the first frame of a session),
//! then from its `TickUpdate` events.

use super::frame::Seen;
use loh_commands::Command;
use loh_world::MapConfig;
use loh_world::content::{Content, ObjectKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// A `WalkTo` target is at most this far (the server's path limit).
pub const MAX_WALK: i32 = 32;
/// A shop keeper is within reach at this distance.
const SHOP_REACH: i32 = 2;
/// The shop of the `market` scenario.
pub const SHOP: &str = "general_store";

/// A load scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Crowd,
    Spread,
    Market,
    Combat,
    Hop,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Crowd,
        Scenario::Spread,
        Scenario::Market,
        Scenario::Combat,
        Scenario::Hop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Crowd => "crowd",
            Scenario::Spread => "spread",
            Scenario::Market => "market",
            Scenario::Combat => "combat",
            Scenario::Hop => "hop",
        }
    }

    /// The default account prefix. `spread` walks its bots far away, so they have accounts of
    /// their own and the other scenarios' bots stay by the spawn from run to run.
    pub fn account_prefix(self) -> &'static str {
        match self {
            Scenario::Spread => "lgs",
            Scenario::Hop => "lgh",
            _ => "lg",
        }
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}: crowd, spread, market, combat or hop"))
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The places every bot of a run shares: the map, the spawn, the shop keeper, the NPC spawn
/// points near the spawn, and the bots' player ids (for trades).
#[derive(Debug)]
pub struct Places {
    pub map: MapConfig,
    pub spawn: (i32, i32),
    pub keeper: (i32, i32),
    /// NPC spawn points within a walk of the spawn.
    pub hunting_grounds: Vec<(i32, i32)>,
    /// Each bot's player id, once its `Welcome` came.
    pub players: Vec<OnceLock<Uuid>>,
    /// `hop`: the worlds' names, and how many commands apart a bot asks `HopWorld`.
    pub worlds: Vec<String>,
    pub hop_every: u64,
}

impl Places {
    /// The places of the compiled-in content on a map of `map_tiles` (see [`MapConfig::square`]).
    pub fn new(map_tiles: u32, bots: usize) -> Places {
        let content = Content::embedded();
        let spawn = content.spawn();
        let keeper = content
            .objects
            .iter()
            .find(|o| o.kind == ObjectKind::Shop && o.shop.as_deref() == Some(SHOP))
            .map_or(spawn, |o| (o.x, o.y));
        let mut hunting_grounds: Vec<_> = content
            .npc_spawns
            .iter()
            .map(|s| (s.x, s.y))
            .filter(|&(x, y)| chebyshev((x, y), spawn) <= MAX_WALK)
            .collect();
        if hunting_grounds.is_empty() {
            hunting_grounds.push(spawn);
        }
        Places {
            map: MapConfig::square(map_tiles),
            spawn,
            keeper,
            hunting_grounds,
            players: (0..bots).map(|_| OnceLock::new()).collect(),
            worlds: Vec::new(),
            hop_every: 10,
        }
    }

    /// The same places, for bots hopping between `worlds` every `hop_every` commands.
    pub fn with_worlds(mut self, worlds: Vec<String>, hop_every: u64) -> Places {
        self.worlds = worlds;
        self.hop_every = hop_every.max(2);
        self
    }
}

/// One bot's mind: what it knows and what it asks next.
#[derive(Debug)]
pub struct Plan {
    scenario: Scenario,
    n: usize,
    rng: StdRng,
    places: Arc<Places>,
    /// This bot's player id.
    pub me: Option<Uuid>,
    /// `hop`: the world this bot plays in now.
    pub here: Option<String>,
    /// This bot's tile, when known.
    pub pos: Option<(i32, i32)>,
    /// NPCs seen, by id: their last known tile.
    npcs: BTreeMap<u32, (i32, i32)>,
    /// `spread`: where this bot is heading.
    target: Option<(i32, i32)>,
    /// Commands asked so far.
    count: u64,
}

impl Plan {
    pub fn new(scenario: Scenario, n: usize, seed: u64, places: Arc<Places>) -> Plan {
        Plan {
            scenario,
            n,
            rng: StdRng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            places,
            me: None,
            here: None,
            pos: None,
            npcs: BTreeMap::new(),
            target: None,
            count: 0,
        }
    }

    /// Learns from a `Snapshot`: the bot's own state (`you`) and the NPCs in view.
    pub fn observe_snapshot(&mut self, you: &rmpv::Value, npcs: &[impl AsRef<rmpv::Value>]) {
        if let (Some(x), Some(y)) = (get(you, "x"), get(you, "y")) {
            self.pos = Some((x as i32, y as i32));
        }
        self.npcs.clear();
        for npc in npcs {
            let npc = npc.as_ref();
            if let (Some(id), Some(x), Some(y)) = (get(npc, "npc"), get(npc, "x"), get(npc, "y")) {
                self.npcs.insert(id as u32, (x as i32, y as i32));
            }
        }
    }

    /// Learns from one event of a `TickUpdate`: its own tile, and the NPCs in view.
    pub fn observe(&mut self, seen: &Seen<'_>) {
        match *seen {
            Seen::Player { player_id, x, y } => {
                if self.me.is_some() && Uuid::parse_str(player_id).ok() == self.me {
                    self.pos = Some((x as i32, y as i32));
                }
            }
            Seen::Npc { npc, x, y } => {
                self.npcs.insert(npc as u32, (x as i32, y as i32));
            }
            Seen::NpcGone { npc } => {
                self.npcs.remove(&(npc as u32));
            }
        }
    }

    /// The command for this tick.
    pub fn next_command(&mut self) -> Command {
        self.count += 1;
        match self.scenario {
            Scenario::Crowd => self.crowd(),
            Scenario::Spread => self.spread(),
            Scenario::Market => self.market(),
            Scenario::Combat => self.combat(),
            Scenario::Hop => self.hop(),
        }
    }

    fn hop(&mut self) -> Command {
        let every = self.places.hop_every.max(2);
        if self.count % every == self.n as u64 % every {
            let others: Vec<&String> = self
                .places
                .worlds
                .iter()
                .filter(|w| Some(*w) != self.here.as_ref())
                .collect();
            if !others.is_empty() {
                let world = others[self.rng.random_range(0..others.len())].clone();
                return Command::HopWorld { world };
            }
        }
        self.crowd()
    }

    fn crowd(&mut self) -> Command {
        let (sx, sy) = self.places.spawn;
        match self.rng.random_range(0..3) {
            0 => Command::WalkTo {
                x: sx + self.rng.random_range(-3..=3),
                y: sy + self.rng.random_range(-3..=3),
                run: false,
            },
            1 => Command::Say {
                text: format!("bot {} says hi ({})", self.n, self.count),
            },
            _ => Command::MoveItem {
                from: self.rng.random_range(0..28),
                to: self.rng.random_range(0..28),
            },
        }
    }

    fn spread(&mut self) -> Command {
        let pos = self.pos.unwrap_or(self.places.spawn);
        let target = match self.target {
            Some(t) if chebyshev(t, pos) > 2 => t,
            _ => {
                let map = &self.places.map;
                let t = (
                    self.rng.random_range(map.min_x + 1..map.max_x),
                    self.rng.random_range(map.min_y + 1..map.max_y),
                );
                self.target = Some(t);
                t
            }
        };
        // A waypoint up to 32 tiles ahead, a little off the straight line so that a blocked
        // tile is not asked for twice.
        let step = |from: i32, to: i32, jitter: i32| {
            from + (to - from).clamp(-MAX_WALK + 3, MAX_WALK - 3) + jitter
        };
        Command::WalkTo {
            x: step(pos.0, target.0, self.rng.random_range(-3..=3)),
            y: step(pos.1, target.1, self.rng.random_range(-3..=3)),
            run: false,
        }
    }

    fn market(&mut self) -> Command {
        let keeper = self.places.keeper;
        let at_shop = self.pos.is_some_and(|p| chebyshev(p, keeper) <= SHOP_REACH);
        if !at_shop {
            return Command::WalkTo {
                x: keeper.0 + self.rng.random_range(-SHOP_REACH..=SHOP_REACH),
                y: keeper.1 + self.rng.random_range(-SHOP_REACH..=SHOP_REACH),
                run: false,
            };
        }
        let partner = self
            .places
            .players
            .get(self.n ^ 1)
            .and_then(|p| p.get().copied());
        match (self.count % 6, partner) {
            (0, _) | (3, None) => Command::Buy {
                shop: SHOP.to_owned(),
                item: "bread".to_owned(),
                qty: 1,
            },
            (1, _) | (4, None) => Command::Sell {
                shop: SHOP.to_owned(),
                slot: self.rng.random_range(0..6),
                qty: 1,
            },
            (2, Some(player_id)) => Command::TradeRequest { player_id },
            (3, Some(_)) => Command::TradeOffer {
                slot: self.rng.random_range(0..6),
                qty: 1,
            },
            _ => Command::TradeAccept,
        }
    }

    fn combat(&mut self) -> Command {
        let home = self.places.hunting_grounds[self.n % self.places.hunting_grounds.len()];
        let pos = self.pos.unwrap_or(self.places.spawn);
        let nearest = self
            .npcs
            .iter()
            .min_by_key(|&(&id, &t)| (chebyshev(t, pos), id))
            .map(|(&id, &t)| (id, t));
        match nearest {
            Some((npc, _)) if self.count % 2 == 1 => Command::AttackNpc { npc },
            Some(_) => Command::SetAttackStyle {
                style: ["accurate", "aggressive", "defensive", "controlled"]
                    [self.rng.random_range(0..4)]
                .to_owned(),
            },
            None => Command::WalkTo {
                x: home.0 + self.rng.random_range(-3..=3),
                y: home.1 + self.rng.random_range(-3..=3),
                run: false,
            },
        }
    }
}

/// The integer field `key` of a map.
fn get(map: &rmpv::Value, key: &str) -> Option<i64> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))?
        .1
        .as_i64()
}

/// Chebyshev distance between two tiles.
pub fn chebyshev(a: (i32, i32), b: (i32, i32)) -> i32 {
    (a.0 - b.0).abs().max((a.1 - b.1).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(scenario: Scenario, n: usize) -> Plan {
        Plan::new(scenario, n, 7, Arc::new(Places::new(1_000, 4)))
    }

    #[test]
    fn a_square_map_of_a_thousand_tiles_holds_the_default_map() {
        let map = MapConfig::square(1_000);
        assert_eq!(
            (map.max_x - map.min_x + 1, map.max_y - map.min_y + 1),
            (1_000, 1_000)
        );
        let d = MapConfig::default();
        assert!(map.contains(d.min_x, d.min_y) && map.contains(d.max_x, d.max_y));
        assert_eq!(MapConfig::square(10), {
            let mut m = MapConfig::default();
            m.min_x = m.min_x.min(m.spawn_x - 5);
            m.min_y = m.min_y.min(m.spawn_y - 5);
            m
        });
    }

    #[test]
    fn crowd_walks_stay_within_three_tiles_of_the_spawn() {
        let mut p = plan(Scenario::Crowd, 0);
        let spawn = p.places.spawn;
        for _ in 0..200 {
            match p.next_command() {
                Command::WalkTo { x, y, .. } => assert!(chebyshev((x, y), spawn) <= 3),
                Command::Say { text } => assert!(!text.is_empty() && text.len() <= 200),
                Command::MoveItem { from, to } => assert!(from < 28 && to < 28),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn spread_waypoints_are_within_a_path_and_follow_the_bots_own_moves() {
        let mut p = plan(Scenario::Spread, 3);
        p.me = Some(Uuid::from_u128(9));
        let other = Uuid::from_u128(10).to_string();
        p.observe(&Seen::Player {
            player_id: &other,
            x: 1,
            y: 1,
        });
        assert_eq!(p.pos, None, "another player's move is not the bot's own");
        let me = Uuid::from_u128(9).to_string();
        p.observe(&Seen::Player {
            player_id: &me,
            x: 3000,
            y: 3100,
        });
        assert_eq!(p.pos, Some((3000, 3100)));
        for _ in 0..100 {
            let Command::WalkTo { x, y, .. } = p.next_command() else {
                panic!("spread only walks")
            };
            assert!(chebyshev((x, y), (3000, 3100)) <= MAX_WALK);
        }
    }

    #[test]
    fn the_join_snapshot_tells_a_bot_its_tile_and_the_npcs_in_view() {
        let mut p = plan(Scenario::Combat, 0);
        let map = |pairs: &[(&str, i64)]| {
            rmpv::Value::Map(pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect())
        };
        let you = map(&[("x", 3300), ("y", 3301)]);
        let npcs = [Arc::new(map(&[("npc", 2), ("x", 3302), ("y", 3301)]))];
        p.observe_snapshot(&you, &npcs);
        assert_eq!(p.pos, Some((3300, 3301)));
        let cmds: Vec<_> = (0..2).map(|_| p.next_command()).collect();
        assert!(cmds.contains(&Command::AttackNpc { npc: 2 }), "{cmds:?}");
    }

    #[test]
    fn hop_asks_for_another_world_every_few_commands_and_plays_between() {
        let places = Places::new(1_000, 4).with_worlds(vec!["a".into(), "b".into(), "c".into()], 5);
        let mut p = Plan::new(Scenario::Hop, 2, 7, Arc::new(places));
        p.here = Some("b".into());
        let cmds: Vec<_> = (0..20).map(|_| p.next_command()).collect();
        let hops: Vec<_> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::HopWorld { world } => Some(world.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(hops.len(), 4, "{cmds:?}");
        assert!(hops.iter().all(|w| *w == "a" || *w == "c"), "{hops:?}");
    }

    #[test]
    fn combat_attacks_an_npc_it_has_seen() {
        let mut p = plan(Scenario::Combat, 1);
        assert!(matches!(p.next_command(), Command::WalkTo { .. }));
        p.observe(&Seen::Npc {
            npc: 4,
            x: 3205,
            y: 3206,
        });
        let cmds: Vec<_> = (0..2).map(|_| p.next_command()).collect();
        assert!(cmds.contains(&Command::AttackNpc { npc: 4 }), "{cmds:?}");
    }
}
