//! Movement: a tile grid with blocked tiles; walk 1 or run 2 tiles per tick; server-side paths
//! to a target over several ticks; zone borders (members zones refuse free players).

use super::{Decision, Player, RUN_TILES, Rejection, WALK_TILES, World, chebyshev};
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, Tile};
use uuid::Uuid;

/// The farthest a `WalkTo` target may be (Chebyshev tiles).
pub const MAX_PATH: u32 = 32;
/// Tiles around the start and target a path may detour through.
const PATH_MARGIN: i32 = 8;
/// Steps in a fixed order: diagonals first, so ties resolve the same way every time.
const DIRECTIONS: [(i32, i32); 8] = [
    (1, 1),
    (1, -1),
    (-1, 1),
    (-1, -1),
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
];

/// `p` moving from its tile to `to` in one tick.
fn moved(
    player_id: Uuid,
    p: &Player,
    to: (i32, i32),
    running: bool,
    path_to: Option<Tile>,
) -> EventBody {
    EventBody::PlayerMoved {
        player_id,
        from_x: p.x,
        from_y: p.y,
        x: to.0,
        y: to.1,
        running,
        path_to,
    }
}

impl World {
    /// Whether `p` may enter `(x, y)`: walkable, and a members zone only for members; else the
    /// rejection a command gets.
    fn may_enter(&self, p: &Player, x: i32, y: i32) -> Result<(), Rejection> {
        // The message is made only for the rule that failed: the path search asks about every
        // tile it looks at ([`World::entry_refused`]), and formatting them all up front was a
        // tenth of a spread tick's CPU.
        let Some(code) = self.entry_refused(p, x, y) else {
            return Ok(());
        };
        let message = match code {
            Code::OutOfBounds => format!("({x}, {y}) is outside the map"),
            Code::Blocked => format!("({x}, {y}) is blocked"),
            _ => "that area is for members".to_owned(),
        };
        Err(Rejection::new(code, message))
    }

    /// The first rule of [`World::may_enter`] that `(x, y)` breaks for `p`, without a message.
    fn entry_refused(&self, p: &Player, x: i32, y: i32) -> Option<Code> {
        if !self.on_map(x, y) {
            Some(Code::OutOfBounds)
        } else if self.content.blocked.contains(&(x, y)) {
            Some(Code::Blocked)
        } else if !p.members && self.content.is_members_tile(x, y, self.rules) {
            Some(Code::MembersOnly)
        } else {
            None
        }
    }

    pub(super) fn decide_move(
        &self,
        player_id: Uuid,
        p: &Player,
        x: i32,
        y: i32,
        run: bool,
    ) -> Decision {
        self.rule(
            self.on_map(x, y),
            Code::OutOfBounds,
            format!("({x}, {y}) is outside the map"),
        )?;
        let distance = chebyshev(p.x, p.y, x, y);
        self.rule(distance != 0, Code::NoMove, "already on that tile")?;
        let running = run || self.ran_this_tick.get(&player_id).copied().unwrap_or(false);
        let budget = if running { RUN_TILES } else { WALK_TILES };
        let used = self.moved_this_tick.get(&player_id).copied().unwrap_or(0);
        self.rule(
            used.saturating_add(distance) <= budget,
            Code::TooFar,
            format!("{distance} tiles exceeds the {budget}-tile step left this tick"),
        )?;
        self.may_enter(p, x, y)?;
        if distance == 2 {
            // A run passes a middle tile, which must be enterable too.
            self.may_enter(p, p.x + (x - p.x) / 2, p.y + (y - p.y) / 2)?;
        }
        Ok(vec![moved(player_id, p, (x, y), run, None)])
    }

    pub(super) fn decide_walk_to(
        &self,
        player_id: Uuid,
        p: &Player,
        x: i32,
        y: i32,
        run: bool,
    ) -> Decision {
        self.may_enter(p, x, y)?;
        self.rule((p.x, p.y) != (x, y), Code::NoMove, "already on that tile")?;
        self.rule(
            chebyshev(p.x, p.y, x, y) <= MAX_PATH,
            Code::TooFar,
            format!("a path may reach {MAX_PATH} tiles"),
        )?;
        if self.rules >= crate::ONE_EVENT_WALK_RULES
            && !self.moved_this_tick.contains_key(&player_id)
        {
            // The first step is taken now, in the same event that sets the path.
            let at = self.steps_along(p, (x, y), run);
            if at != (p.x, p.y) {
                return Ok(vec![moved(player_id, p, at, run, Some(Tile { x, y }))]);
            }
        }
        Ok(vec![EventBody::PathSet {
            player_id,
            x,
            y,
            run,
        }])
    }

    /// Where one tick's steps (1 walking, 2 running) along a shortest path from `p`'s tile
    /// toward `to` end: `p`'s own tile when it cannot move.
    fn steps_along(&self, p: &Player, to: (i32, i32), run: bool) -> (i32, i32) {
        let mut at = (p.x, p.y);
        let steps = if run { RUN_TILES } else { WALK_TILES };
        for _ in 0..steps {
            if at == to {
                break;
            }
            match self.next_tile(p, at, to) {
                Some(next) => at = next,
                None => break,
            }
        }
        at
    }

    /// The first tile of a shortest path (8 directions, around blocked tiles) from `from` to
    /// `to`, searched within [`PATH_MARGIN`] tiles of the box the two span.
    fn next_tile(&self, p: &Player, from: (i32, i32), to: (i32, i32)) -> Option<(i32, i32)> {
        if from == to {
            return None;
        }
        // Fast path: a straight or diagonal step that gets closer; the search only when blocked.
        let (dx, dy) = ((to.0 - from.0).signum(), (to.1 - from.1).signum());
        let here = chebyshev(from.0, from.1, to.0, to.1);
        let direct = [(dx, dy), (dx, 0), (0, dy)]
            .into_iter()
            .filter(|d| *d != (0, 0))
            .map(|(ddx, ddy)| (from.0 + ddx, from.1 + ddy))
            .find(|t| {
                chebyshev(t.0, t.1, to.0, to.1) < here
                    && (*t == to || self.entry_refused(p, t.0, t.1).is_none())
            });
        if direct.is_some() {
            return direct;
        }
        let (x0, y0) = (
            from.0.min(to.0) - PATH_MARGIN,
            from.1.min(to.1) - PATH_MARGIN,
        );
        let w = (from.0.max(to.0) + PATH_MARGIN - x0 + 1) as usize;
        let h = (from.1.max(to.1) + PATH_MARGIN - y0 + 1) as usize;
        let index = |(x, y): (i32, i32)| -> Option<usize> {
            let (dx, dy) = (usize::try_from(x - x0).ok()?, usize::try_from(y - y0).ok()?);
            (dx < w && dy < h).then_some(dy * w + dx)
        };
        // Breadth-first from the target, so each tile knows its distance to it.
        let mut dist = vec![u32::MAX; w * h];
        let mut queue = std::collections::VecDeque::from([to]);
        dist[index(to)?] = 0;
        while let Some(at) = queue.pop_front() {
            if at == from {
                break;
            }
            let d = dist[index(at)?];
            for (dx, dy) in DIRECTIONS {
                let next = (at.0 + dx, at.1 + dy);
                let Some(i) = index(next) else { continue };
                if dist[i] == u32::MAX
                    && (next == from || self.entry_refused(p, next.0, next.1).is_none())
                {
                    dist[i] = d + 1;
                    queue.push_back(next);
                }
            }
        }
        let here = dist[index(from)?];
        DIRECTIONS
            .iter()
            .map(|(dx, dy)| (from.0 + dx, from.1 + dy))
            .filter_map(|t| index(t).map(|i| (t, dist[i])))
            .filter(|(_, d)| *d < here)
            .min_by_key(|(_, d)| *d)
            .map(|(t, _)| t)
    }

    /// One step (1 walking, 2 running) along the player's path (players phase).
    pub(super) fn path_step(&self, player_id: Uuid) -> Vec<EventBody> {
        let Some(p) = self.players.get(&player_id) else {
            return Vec::new();
        };
        let Some((tx, ty, run)) = p.path else {
            return Vec::new();
        };
        if self.moved_this_tick.contains_key(&player_id) {
            return Vec::new();
        }
        let at = self.steps_along(p, (tx, ty), run);
        if at == (p.x, p.y) {
            return vec![EventBody::PathCleared { player_id }];
        }
        vec![moved(player_id, p, at, run, None)]
    }

    /// One walking step toward `(tx, ty)`, stopping next to it (combat chasing).
    pub(super) fn step_toward(
        &self,
        player_id: Uuid,
        p: &Player,
        tx: i32,
        ty: i32,
    ) -> Option<EventBody> {
        if self.moved_this_tick.contains_key(&player_id) {
            return None;
        }
        let (x, y) = self.next_tile(p, (p.x, p.y), (tx, ty))?;
        ((x, y) != (tx, ty)).then(|| moved(player_id, p, (x, y), false, None))
    }

    pub(super) fn apply_movement(&mut self, body: &EventBody) {
        match body {
            EventBody::PlayerMoved {
                player_id,
                from_x,
                from_y,
                x,
                y,
                running,
                path_to,
            } => {
                if let Some(to) = path_to {
                    self.set_path(*player_id, (to.x, to.y, *running));
                }
                let moved = chebyshev(*from_x, *from_y, *x, *y);
                *self.moved_this_tick.entry(*player_id).or_default() += moved;
                if *running {
                    self.ran_this_tick.insert(*player_id, true);
                }
                if let Some(p) = self.players.get_mut(player_id) {
                    p.x = *x;
                    p.y = *y;
                    p.gathering = None;
                    if p.path.is_some_and(|(tx, ty, _)| (tx, ty) == (*x, *y)) {
                        p.path = None;
                    }
                }
            }
            EventBody::PathSet {
                player_id,
                x,
                y,
                run,
            } => self.set_path(*player_id, (*x, *y, *run)),
            EventBody::PathCleared { player_id } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.path = None;
                }
            }
            _ => {}
        }
    }

    /// A path set (`PathSet`, or a `PlayerMoved` that starts one): it replaces gathering and
    /// the combat target.
    fn set_path(&mut self, player_id: Uuid, path: (i32, i32, bool)) {
        if let Some(p) = self.players.get_mut(&player_id) {
            p.path = Some(path);
            p.gathering = None;
            p.target = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::EventBody;

    fn mv(x: i32, y: i32, run: bool) -> Command {
        Command::Move { x, y, run }
    }

    #[test]
    fn walking_one_tile_is_accepted_and_moves_the_player() {
        let mut t = Given::new().player(A);
        t.when(A, mv(3223, 3219, false)).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!((p.x, p.y), (3223, 3219));
    }

    #[test]
    fn walking_two_tiles_in_one_tick_is_too_far_but_running_is_not() {
        let t = Given::new().player(A);
        assert_eq!(t.rejects(A, mv(3224, 3218, false)), "too_far");
        assert_eq!(t.rejects(A, mv(3225, 3218, true)), "too_far");
        assert!(t.decide(A, mv(3224, 3218, true)).is_ok());
    }

    #[test]
    fn a_second_step_in_the_same_tick_counts_against_the_budget() {
        let mut t = Given::new().player(A);
        t.when(A, mv(3223, 3218, false)).unwrap();
        assert_eq!(t.rejects(A, mv(3224, 3218, false)), "too_far");
        t.run_ticks(1);
        t.when(A, mv(3224, 3218, false)).unwrap();
    }

    #[test]
    fn leaving_the_map_or_entering_a_blocked_tile_is_rejected() {
        let t = Given::new().player(A).at(A, (2700, 2700));
        assert_eq!(t.rejects(A, mv(2699, 2700, false)), "out_of_bounds");
        let t = Given::new().player(A).at(A, (3226, 3227));
        assert_eq!(t.rejects(A, mv(3226, 3228, false)), "blocked");
    }

    /// The content's map is 1,000 × 1,000 tiles and holds every zone; under the rules before
    /// it the world keeps the configured map, so an old log's refusals stay refusals.
    #[test]
    fn the_map_spans_a_thousand_tiles_each_way_and_older_rules_keep_the_first_valley() {
        let t = Given::new().player(A).at(A, (3136, 3136));
        let map = t.world.content.map.expect("the content describes the map");
        assert!(map.max_x - map.min_x + 1 >= 1_000 && map.max_y - map.min_y + 1 >= 1_000);
        for z in &t.world.content.zones {
            let b = z.bounds;
            assert!(map.contains(b.min_x, b.min_y) && map.contains(b.max_x, b.max_y));
        }
        assert!(t.decide(A, mv(3135, 3136, false)).is_ok());
        let mut t = t;
        t.world.apply(&EventBody::RulesAdopted { rules: 3 });
        assert_eq!(t.rejects(A, mv(3135, 3136, false)), "out_of_bounds");
    }

    /// A player who leaves and comes back (a session closing and opening) stands where they
    /// left: the world keeps them, offline.
    #[test]
    fn a_player_logs_back_in_where_they_logged_out() {
        let mut t = Given::new().player(A).at(A, (3430, 3230));
        t.presence(A, true);
        t.presence(A, false);
        t.run_ticks(3);
        assert!(t.world.spawn(A).is_empty(), "no second spawn");
        t.presence(A, true);
        let a = t.world.player(A).unwrap();
        assert_eq!((a.x, a.y), (3430, 3230));
    }

    #[test]
    fn a_free_player_cannot_enter_a_members_zone_but_a_member_can() {
        let t = Given::new().player(A).at(A, (3290, 3200));
        assert_eq!(t.rejects(A, mv(3291, 3200, false)), "members_only");
        let t = t.member(A);
        assert!(t.decide(A, mv(3291, 3200, false)).is_ok());
    }

    #[test]
    fn a_path_is_walked_over_several_ticks_around_a_wall() {
        let mut t = Given::new().player(A).at(A, (3227, 3227));
        t.when(
            A,
            Command::WalkTo {
                x: 3227,
                y: 3231,
                run: false,
            },
        )
        .unwrap();
        t.run_ticks(8);
        let p = t.world.player(A).unwrap();
        assert_eq!((p.x, p.y), (3227, 3231));
        assert!(p.path.is_none());
    }

    #[test]
    fn running_a_path_covers_two_tiles_a_tick() {
        let mut t = Given::new().player(A);
        t.when(
            A,
            Command::WalkTo {
                x: 3222,
                y: 3210,
                run: true,
            },
        )
        .unwrap();
        t.run_ticks(4);
        assert_eq!(t.world.player(A).unwrap().y, 3210);
    }

    fn walk_to(x: i32, y: i32, run: bool) -> Command {
        Command::WalkTo { x, y, run }
    }

    /// Rules 5: a walk costs the log one event a tick, its first step included.
    #[test]
    fn a_walk_to_is_one_event_that_sets_the_path_and_takes_the_first_step() {
        let mut t = Given::new().player(A).at(A, (3200, 3200));
        let events = t.when(A, walk_to(3200, 3205, false)).unwrap();
        assert_eq!(
            events,
            vec![EventBody::PlayerMoved {
                player_id: A,
                from_x: 3200,
                from_y: 3200,
                x: 3200,
                y: 3201,
                running: false,
                path_to: Some(loh_events::Tile { x: 3200, y: 3205 }),
            }]
        );
        let p = t.world.player(A).unwrap();
        assert_eq!(p.path, Some((3200, 3205, false)));
        // The players phase of the same tick takes no second step.
        let rest = t.run_ticks(5);
        let moves: Vec<_> = rest
            .iter()
            .filter(|e| matches!(e, EventBody::PlayerMoved { player_id, .. } if *player_id == A))
            .collect();
        assert_eq!(moves.len(), 4, "{rest:?}");
        assert!(!rest.iter().any(|e| matches!(e, EventBody::PathSet { .. })));
        let p = t.world.player(A).unwrap();
        assert_eq!((p.x, p.y, p.path), (3200, 3205, None));
    }

    /// A log decided before rules 5 re-decides its walks as it recorded them: a `PathSet`, then
    /// the step in the players phase.
    #[test]
    fn under_older_rules_a_walk_to_is_a_path_set_then_a_step() {
        let mut t = Given::new().player(A).at(A, (3200, 3200));
        t.world.apply(&EventBody::RulesAdopted { rules: 4 });
        let events = t.when(A, walk_to(3200, 3205, false)).unwrap();
        assert_eq!(
            events,
            vec![EventBody::PathSet {
                player_id: A,
                x: 3200,
                y: 3205,
                run: false
            }]
        );
        assert_eq!(t.world.player(A).unwrap().y, 3200);
        // Then the players phase steps, one tile a tick, with moves that carry no path.
        let rest = t.run_ticks(6);
        let moves: Vec<_> = rest
            .iter()
            .filter_map(|e| match e {
                EventBody::PlayerMoved {
                    player_id,
                    y,
                    path_to,
                    ..
                } if *player_id == A => Some((*y, *path_to)),
                _ => None,
            })
            .collect();
        assert_eq!(
            moves,
            (3201..=3205).map(|y| (y, None)).collect::<Vec<_>>(),
            "{rest:?}"
        );
        let p = t.world.player(A).unwrap();
        assert_eq!((p.x, p.y, p.path), (3200, 3205, None));
    }

    /// The one-event walk stops gathering and combat as a `PathSet` does, and runs two tiles.
    #[test]
    fn a_one_event_run_replaces_the_combat_target_and_covers_two_tiles() {
        let mut t = Given::new().player(A).at(A, (3200, 3200));
        t.world.apply(&EventBody::CombatTargetSet {
            player_id: A,
            target: loh_events::Target::Npc(1),
        });
        let events = t.when(A, walk_to(3205, 3200, true)).unwrap();
        assert!(
            matches!(
                events[..],
                [EventBody::PlayerMoved {
                    x: 3202,
                    running: true,
                    path_to: Some(_),
                    ..
                }]
            ),
            "{events:?}"
        );
        let p = t.world.player(A).unwrap();
        assert_eq!(
            (p.x, p.target, p.path),
            (3202, None, Some((3205, 3200, true)))
        );
    }

    /// A player who already stepped this tick, or whose first step is walled off, gets a
    /// `PathSet` as before: the path is walked (or cleared) from the players phase on.
    #[test]
    fn a_walk_to_after_a_step_in_the_same_tick_sets_the_path_only() {
        let mut t = Given::new().player(A).at(A, (3200, 3200));
        t.when(A, mv(3201, 3200, false)).unwrap();
        let events = t.when(A, walk_to(3201, 3205, false)).unwrap();
        assert!(
            matches!(events[..], [EventBody::PathSet { .. }]),
            "{events:?}"
        );
        t.run_ticks(5);
        let p = t.world.player(A).unwrap();
        assert_eq!((p.x, p.y), (3201, 3205));
    }

    #[test]
    fn a_chat_line_is_said_and_an_empty_one_is_rejected() {
        let mut t = Given::new().player(A);
        assert_eq!(t.rejects(A, Command::Say { text: " ".into() }), "bad_text");
        t.when(A, Command::Say { text: "hi".into() }).unwrap();
        assert_eq!(t.world.player(A).unwrap().last_say.as_deref(), Some("hi"));
    }

    #[test]
    fn a_player_not_in_the_world_cannot_act() {
        let t = Given::new();
        assert_eq!(t.rejects(A, mv(1, 1, false)), "not_spawned");
    }
}
