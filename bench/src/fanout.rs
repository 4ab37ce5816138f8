//! The fan-out benchmark: the tick writer's assembly of every viewer's frame from a tick's
//! committed events ([`loh_tick_writer::fanout::TickView`]), with `players` players of a load
//! generator scenario (`crowd`: all at the spawn; `spread`: scattered over a large map) each
//! sending one command per tick. In process: the world's step, then one frame per player, no
//! store, no sockets — a component figure, not a player count (`loh loadgen` gives those).

use crate::loadgen::scenario::{Places, Plan, Scenario};
use crate::world::TICK_BUDGET_MS;
use loh_commands::Command;
use loh_events::EventBody;
use loh_tick_writer::fanout::{Interest, Names, TickView, ViewLimits};
use loh_world::World;
use loh_world::phases::Sim;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// What [`fan_out_benchmark`] measured; times in milliseconds per tick.
#[derive(Debug, Clone)]
pub struct FanOutReport {
    pub scenario: Scenario,
    pub players: usize,
    pub ticks: usize,
    pub events_per_tick: f64,
    pub step_p50_ms: f64,
    pub step_p99_ms: f64,
    pub fanout_p50_ms: f64,
    pub fanout_p99_ms: f64,
    /// Bytes of one viewer's frame, median and p99 over every viewer and tick.
    pub frame_p50_bytes: usize,
    pub frame_p99_bytes: usize,
    pub evictions_per_tick: f64,
    /// Other players in a viewer's view at the end, mean over viewers.
    pub shown_mean: f64,
}

impl fmt::Display for FanOutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |ms: f64| ms / TICK_BUDGET_MS;
        writeln!(
            f,
            "fan-out, {} {} players × 1 command each, {} ticks (in process: step + every frame, no store, no sockets):",
            self.scenario, self.players, self.ticks
        )?;
        writeln!(
            f,
            "  world step  p50 {:.2} ms = {:.4} of the 400 ms tick; p99 {:.2} ms = {:.4}",
            self.step_p50_ms,
            r(self.step_p50_ms),
            self.step_p99_ms,
            r(self.step_p99_ms)
        )?;
        writeln!(
            f,
            "  fan-out     p50 {:.2} ms = {:.4} of the 400 ms tick; p99 {:.2} ms = {:.4}",
            self.fanout_p50_ms,
            r(self.fanout_p50_ms),
            self.fanout_p99_ms,
            r(self.fanout_p99_ms)
        )?;
        write!(
            f,
            "  {:.0} events per tick; {:.1} other players in view (mean); frame per player per tick p50 {} B, p99 {} B; {:.1} interest evictions per tick",
            self.events_per_tick,
            self.shown_mean,
            self.frame_p50_bytes,
            self.frame_p99_bytes,
            self.evictions_per_tick
        )
    }
}

fn quantile<T: Copy + PartialOrd>(sorted: &[T], q: f64) -> T {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Runs `ticks` measured ticks (after a few of warm-up, which include everyone's join
/// snapshot) of `scenario` with `players` players on a map of `map_tiles` (see
/// [`loh_world::MapConfig::square`]).
pub fn fan_out_benchmark(
    scenario: Scenario,
    players: usize,
    ticks: usize,
    map_tiles: u32,
    limits: ViewLimits,
) -> anyhow::Result<FanOutReport> {
    anyhow::ensure!(
        matches!(scenario, Scenario::Crowd | Scenario::Spread),
        "the fan-out benchmark plays crowd or spread"
    );
    anyhow::ensure!(
        players > 0 && ticks > 0,
        "players and ticks must be above 0"
    );
    let places = Arc::new(Places::new(map_tiles, players));
    let map = places.map.clone();
    let mut sim = Sim::new(World::new(map.clone()));
    let ids: Vec<Uuid> = (0..players)
        .map(|i| Uuid::from_u128(0x1000_0000 + i as u128))
        .collect();
    let presence: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    // Everyone named, as the writer names players with a session (12 letters, the longest).
    let names: Names = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, Arc::from(format!("player{i:06}").as_str())))
        .collect();
    sim.tick(&ids, &presence, &[]);
    if scenario == Scenario::Spread {
        // A world that has run a while: everyone somewhere on the map, walking on.
        let mut rng = StdRng::seed_from_u64(11);
        for id in &ids {
            let p = sim.world.player(*id).expect("spawned");
            let (x, y) = (
                rng.random_range(map.min_x..=map.max_x),
                rng.random_range(map.min_y..=map.max_y),
            );
            let moved = EventBody::PlayerMoved {
                player_id: *id,
                from_x: p.x,
                from_y: p.y,
                x,
                y,
                running: false,
                path_to: None,
            };
            sim.world.apply(&moved);
        }
    }
    let mut plans: Vec<Plan> = (0..players)
        .map(|n| {
            let mut plan = Plan::new(scenario, n, 7, places.clone());
            plan.me = Some(ids[n]);
            plan
        })
        .collect();
    let mut interests: HashMap<Uuid, Interest> =
        ids.iter().map(|id| (*id, Interest::default())).collect();
    let warmup = 3;
    let (mut steps, mut fanouts, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    let (mut events, mut evictions) = (0usize, 0u64);
    for tick in 0..warmup + ticks {
        let commands: Vec<(Uuid, Command)> = ids
            .iter()
            .zip(&mut plans)
            .map(|(id, plan)| {
                plan.pos = sim.world.player(*id).map(|p| (p.x, p.y));
                (*id, plan.next_command())
            })
            .collect();
        let started = Instant::now();
        let out = sim.tick(&[], &[], &commands);
        let stepped = Instant::now();
        let bodies: Vec<EventBody> = out.events.into_iter().map(|(_, body)| body).collect();
        let count = bodies.len();
        let mut view =
            TickView::new(&sim.world, sim.world.tick(), limits, bodies).with_names(&names);
        let mut sizes = Vec::with_capacity(players);
        for id in &ids {
            let interest = interests.get_mut(id).expect("every player has one");
            if let Some(frame) = view.frame_for(*id, interest) {
                sizes.push(frame.len());
            }
        }
        let done = Instant::now();
        if tick >= warmup {
            steps.push((stepped - started).as_secs_f64() * 1e3);
            fanouts.push((done - stepped).as_secs_f64() * 1e3);
            frames.extend(sizes);
            events += count;
            evictions += view.evictions;
        }
    }
    steps.sort_by(f64::total_cmp);
    fanouts.sort_by(f64::total_cmp);
    frames.sort_unstable();
    Ok(FanOutReport {
        scenario,
        players,
        ticks,
        events_per_tick: events as f64 / ticks as f64,
        step_p50_ms: quantile(&steps, 0.50),
        step_p99_ms: quantile(&steps, 0.99),
        fanout_p50_ms: quantile(&fanouts, 0.50),
        fanout_p99_ms: quantile(&fanouts, 0.99),
        frame_p50_bytes: quantile(&frames, 0.50),
        frame_p99_bytes: quantile(&frames, 0.99),
        evictions_per_tick: evictions as f64 / ticks as f64,
        shown_mean: interests.values().map(Interest::shown).sum::<usize>() as f64 / players as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fan_out_benchmark_keeps_every_frame_within_the_view_budget() {
        let limits = ViewLimits {
            max_players: 40,
            max_bytes: 2_048,
        };
        for scenario in [Scenario::Crowd, Scenario::Spread] {
            let report = fan_out_benchmark(scenario, 150, 8, 400, limits).unwrap();
            println!("{report}");
            assert!(report.events_per_tick > 100.0, "{report}");
            assert!(report.frame_p50_bytes > 20, "{report}");
            // Own events and departures come on top of the budget; a viewer says little.
            assert!(report.frame_p99_bytes < 2_048 + 1_024, "{report}");
        }
        let crowd = fan_out_benchmark(Scenario::Crowd, 150, 4, 400, limits).unwrap();
        assert!(
            crowd.evictions_per_tick > 0.0,
            "a crowd overflows 2 KiB: {crowd}"
        );
    }
}
