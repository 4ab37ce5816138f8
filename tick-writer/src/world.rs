//! The authoritative world state and its rules: pure, synchronous, deterministic.
//!
//! [`World::decide`] holds every rule and returns events or a [`Rejection`]; [`World::apply`]
//! folds an event into the state and holds no rule. The tick loop calls them; replay tools and
//! start-up rebuild call [`World::apply`] alone.

use loh_commands::Command;
use loh_events::EventBody;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The map and spawn of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapConfig {
    pub min_x: i32,
    pub max_x: i32,
    pub min_y: i32,
    pub max_y: i32,
    pub spawn_x: i32,
    pub spawn_y: i32,
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig {
            min_x: 3136,
            max_x: 3327,
            min_y: 3136,
            max_y: 3327,
            spawn_x: 3222,
            spawn_y: 3218,
        }
    }
}

impl MapConfig {
    /// Whether `(x, y)` is a tile of the map.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        (self.min_x..=self.max_x).contains(&x) && (self.min_y..=self.max_y).contains(&y)
    }
}

/// What the world knows of a player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub x: i32,
    pub y: i32,
    /// Version of the player's stream (number of events in it).
    pub version: u64,
    pub last_say: Option<String>,
}

/// Why a command changed nothing. `code` is stable and snake_case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &'static str, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// Tiles a player may move per tick.
pub const WALK_TILES: u32 = 1;
pub const RUN_TILES: u32 = 2;

/// The world of one shard.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub map: MapConfig,
    players: BTreeMap<Uuid, Player>,
    /// Tiles each player has moved in the current tick (reset by [`World::begin_tick`]).
    moved_this_tick: BTreeMap<Uuid, u32>,
    /// Whether each player's moves this tick were running.
    ran_this_tick: BTreeMap<Uuid, bool>,
}

impl World {
    pub fn new(map: MapConfig) -> World {
        World {
            map,
            ..World::default()
        }
    }

    pub fn player(&self, id: Uuid) -> Option<&Player> {
        self.players.get(&id)
    }

    pub fn players(&self) -> impl Iterator<Item = (&Uuid, &Player)> {
        self.players.iter()
    }

    /// Forgets per-tick budgets; called at the start of every tick.
    pub fn begin_tick(&mut self) {
        self.moved_this_tick.clear();
        self.ran_this_tick.clear();
    }

    /// The event that brings a new player into the world, if they are not in it yet.
    pub fn spawn(&self, player_id: Uuid) -> Option<EventBody> {
        (!self.players.contains_key(&player_id)).then_some(EventBody::PlayerSpawned {
            player_id,
            x: self.map.spawn_x,
            y: self.map.spawn_y,
        })
    }

    /// Decides a command: the events it causes, or why it is refused. Pure.
    pub fn decide(&self, player_id: Uuid, cmd: &Command) -> Result<Vec<EventBody>, Rejection> {
        cmd.validate()
            .map_err(|e| Rejection::new(e.code(), e.to_string()))?;
        let player = self
            .players
            .get(&player_id)
            .ok_or_else(|| Rejection::new("not_spawned", "the player is not in the world"))?;
        match cmd {
            Command::Move { x, y, run } => self.decide_move(player_id, player, *x, *y, *run),
            Command::Say { text } => Ok(vec![EventBody::PlayerSaid {
                player_id,
                text: text.clone(),
            }]),
        }
    }

    fn decide_move(
        &self,
        player_id: Uuid,
        player: &Player,
        x: i32,
        y: i32,
        run: bool,
    ) -> Result<Vec<EventBody>, Rejection> {
        if !self.map.contains(x, y) {
            return Err(Rejection::new(
                "out_of_bounds",
                format!("({x}, {y}) is outside the map"),
            ));
        }
        let distance = chebyshev(player.x, player.y, x, y);
        if distance == 0 {
            return Err(Rejection::new("no_move", "already on that tile"));
        }
        let running = run || self.ran_this_tick.get(&player_id).copied().unwrap_or(false);
        let budget = if running { RUN_TILES } else { WALK_TILES };
        let used = self.moved_this_tick.get(&player_id).copied().unwrap_or(0);
        if used.saturating_add(distance) > budget {
            return Err(Rejection::new(
                "too_far",
                format!("{distance} tiles exceeds the {budget}-tile step left this tick"),
            ));
        }
        Ok(vec![EventBody::PlayerMoved {
            player_id,
            from_x: player.x,
            from_y: player.y,
            x,
            y,
            running: run,
        }])
    }

    /// Folds an event into the state. Holds no rule.
    pub fn apply(&mut self, body: &EventBody) {
        match body {
            EventBody::PlayerSpawned { player_id, x, y } => {
                self.players.insert(
                    *player_id,
                    Player {
                        x: *x,
                        y: *y,
                        version: 1,
                        last_say: None,
                    },
                );
            }
            EventBody::PlayerMoved {
                player_id,
                from_x,
                from_y,
                x,
                y,
                running,
            } => {
                let moved = chebyshev(*from_x, *from_y, *x, *y);
                *self.moved_this_tick.entry(*player_id).or_default() += moved;
                if *running {
                    self.ran_this_tick.insert(*player_id, true);
                }
                if let Some(p) = self.players.get_mut(player_id) {
                    p.x = *x;
                    p.y = *y;
                    p.version += 1;
                }
            }
            EventBody::PlayerSaid { player_id, text } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.last_say = Some(text.clone());
                    p.version += 1;
                }
            }
        }
    }
}

/// Tiles between two points when diagonal steps count as one.
pub fn chebyshev(ax: i32, ay: i32, bx: i32, by: i32) -> u32 {
    ax.abs_diff(bx).max(ay.abs_diff(by))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(events: &[EventBody]) -> World {
        let mut w = World::new(MapConfig::default());
        for e in events {
            w.apply(e);
        }
        w.begin_tick();
        w
    }

    fn spawned(id: Uuid) -> EventBody {
        EventBody::PlayerSpawned {
            player_id: id,
            x: 3222,
            y: 3218,
        }
    }

    fn mv(x: i32, y: i32, run: bool) -> Command {
        Command::Move { x, y, run }
    }

    #[test]
    fn walking_one_tile_is_accepted_and_moves_the_player() {
        let id = Uuid::from_u128(1);
        let mut w = given(&[spawned(id)]);
        let events = w.decide(id, &mv(3223, 3219, false)).unwrap();
        w.apply(&events[0]);
        assert_eq!(
            (w.player(id).unwrap().x, w.player(id).unwrap().y),
            (3223, 3219)
        );
    }

    #[test]
    fn walking_two_tiles_in_one_tick_is_too_far_but_running_is_not() {
        let id = Uuid::from_u128(1);
        let w = given(&[spawned(id)]);
        assert_eq!(
            w.decide(id, &mv(3224, 3218, false)).unwrap_err().code,
            "too_far"
        );
        assert!(w.decide(id, &mv(3224, 3218, true)).is_ok());
    }

    #[test]
    fn a_second_step_in_the_same_tick_counts_against_the_budget() {
        let id = Uuid::from_u128(1);
        let mut w = given(&[spawned(id)]);
        let e = w.decide(id, &mv(3223, 3218, false)).unwrap();
        w.apply(&e[0]);
        assert_eq!(
            w.decide(id, &mv(3224, 3218, false)).unwrap_err().code,
            "too_far"
        );
        w.begin_tick();
        assert!(w.decide(id, &mv(3224, 3218, false)).is_ok());
    }

    #[test]
    fn leaving_the_map_is_rejected() {
        let id = Uuid::from_u128(1);
        let w = given(&[EventBody::PlayerSpawned {
            player_id: id,
            x: 3136,
            y: 3136,
        }]);
        assert_eq!(
            w.decide(id, &mv(3135, 3136, false)).unwrap_err().code,
            "out_of_bounds"
        );
    }

    #[test]
    fn an_empty_chat_line_is_rejected_and_a_real_one_is_said() {
        let id = Uuid::from_u128(1);
        let w = given(&[spawned(id)]);
        assert_eq!(
            w.decide(id, &Command::Say { text: " ".into() })
                .unwrap_err()
                .code,
            "bad_text"
        );
        assert_eq!(
            w.decide(id, &Command::Say { text: "hi".into() }).unwrap(),
            vec![EventBody::PlayerSaid {
                player_id: id,
                text: "hi".into()
            }]
        );
    }

    #[test]
    fn a_player_not_in_the_world_cannot_act() {
        let w = given(&[]);
        assert_eq!(
            w.decide(Uuid::from_u128(9), &mv(1, 1, false))
                .unwrap_err()
                .code,
            "not_spawned"
        );
    }
}
