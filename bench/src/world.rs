//! The tick benchmark: decide + apply of one command per simulated player per tick across the
//! systems, plus the NPC, player, combat and flush phases; in process, no network, no store.

use loh_commands::Command;
use loh_events::EventBody;
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use std::fmt;
use std::time::Instant;
use uuid::Uuid;

/// The tick budget the figures are measured against.
pub const TICK_BUDGET_MS: f64 = 400.0;

/// What [`tick_benchmark`] measured.
#[derive(Debug, Clone)]
pub struct TickBenchReport {
    pub players: usize,
    pub ticks: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub events_per_tick: f64,
    pub rejected_per_tick: f64,
}

impl TickBenchReport {
    /// p50 as a fraction of the 400 ms budget.
    pub fn p50_fraction(&self) -> f64 {
        self.p50_ms / TICK_BUDGET_MS
    }

    /// p99 as a fraction of the 400 ms budget (goal: ≤ 0.05).
    pub fn p99_fraction(&self) -> f64 {
        self.p99_ms / TICK_BUDGET_MS
    }
}

impl fmt::Display for TickBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tick cost, {} players × 1 command each, {} ticks (in process, no store):",
            self.players, self.ticks
        )?;
        writeln!(
            f,
            "  p50 {:.3} ms = {:.4} of the 400 ms budget",
            self.p50_ms,
            self.p50_fraction()
        )?;
        writeln!(
            f,
            "  p99 {:.3} ms = {:.4} of the 400 ms budget (goal ≤ 0.05)",
            self.p99_ms,
            self.p99_fraction()
        )?;
        write!(
            f,
            "  max {:.3} ms; {:.0} events and {:.0} rejections per tick",
            self.max_ms, self.events_per_tick, self.rejected_per_tick
        )
    }
}

/// Groups of players, each at its spot doing one kind of thing every tick.
pub const GROUPS: usize = 9;
/// Where each group stands: movers, chatters, inventory shufflers, woodcutters, shoppers, bankers,
/// fighters, archers and casters.
pub const SPOTS: [(i32, i32); GROUPS] = [
    (3222, 3218), // movers
    (3220, 3220), // chatters
    (3224, 3216), // inventory shufflers
    (3246, 3215), // woodcutters, next to a tree
    (3215, 3216), // shoppers, at the general store
    (3227, 3225), // bankers
    (3251, 3185), // fighters, among the goblins
    (3148, 3233), // archers, in Drona's Range within a bow's reach of the goblin archers
    (3144, 3245), // casters, among the goblin archers and the dark wizard
];

/// The NPCs of Drona's Range (spawn points 8 to 10 of the embedded content: two goblin archers
/// and a dark wizard), whom the archers and casters fight.
pub const DRONA_NPCS: [u32; 3] = [8, 9, 10];

/// What a player of `group` carries and wields before the benchmark starts: archers a shortbow
/// and arrows, casters the runes of wind strikes and the spell chosen.
pub fn arm(world: &mut World, id: Uuid, group: usize) {
    let (kit, then): (&[(&str, u32)], Command) = match group {
        7 => (
            &[("shortbow", 1), ("bronze_arrow", 1_000_000)],
            Command::Equip { slot: 7 },
        ),
        8 => (
            &[("air_rune", 1_000_000), ("mind_rune", 1_000_000)],
            Command::SetAutocast {
                spell: Some("wind_strike".into()),
            },
        ),
        _ => return,
    };
    for (item, qty) in kit {
        world.apply(&EventBody::ItemsMinted {
            player_id: id,
            item: (*item).into(),
            qty: *qty,
            source: "bench".into(),
        });
    }
    let mut rng = world.rng_for(id);
    if let Ok(events) = world.decide(id, &then, &mut rng) {
        for e in &events {
            world.apply(e);
        }
    }
}

/// The command a player of `group` (standing at its spot) sends at `tick`.
pub fn command(group: usize, tick: usize, p: &loh_world::Player) -> Command {
    let even = tick.is_multiple_of(2);
    match group {
        0 => Command::Move {
            x: if p.x == SPOTS[0].0 { p.x + 1 } else { p.x - 1 },
            y: p.y,
            run: false,
        },
        1 => Command::Say {
            text: format!("tick {tick}"),
        },
        2 => Command::MoveItem { from: 0, to: 1 },
        3 => Command::Gather { x: 3245, y: 3215 },
        4 if even => Command::Buy {
            shop: "general_store".into(),
            item: "chisel".into(),
            qty: 1,
        },
        4 => Command::Sell {
            shop: "general_store".into(),
            slot: p
                .inventory
                .slots()
                .find(|(_, s)| s.item == "chisel")
                .map_or(0, |(i, _)| i),
            qty: 1,
        },
        5 if even => Command::BankDeposit { slot: 6, qty: 1 },
        5 => Command::BankWithdraw {
            item: "coins".into(),
            qty: 1,
        },
        6 if even => Command::AttackNpc {
            npc: 2 + (tick % 3) as u32,
        },
        7 | 8 if even => Command::AttackNpc {
            npc: DRONA_NPCS[tick % 3],
        },
        7 => Command::SetAttackStyle {
            style: if tick % 4 == 1 { "rapid" } else { "longrange" }.into(),
        },
        _ => Command::Pray {
            prayer: "thick_skin".into(),
            on: p.prayers.is_empty(),
        },
    }
}

/// A world with `ids` spawned, online, each on its group's spot and armed for it.
fn placed(ids: &[Uuid]) -> Sim {
    let mut sim = Sim::new(World::new(MapConfig::default()));
    let presence: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    sim.tick(ids, &presence, &[]);
    for (i, id) in ids.iter().enumerate() {
        let p = sim.world.player(*id).expect("spawned");
        let (x, y) = SPOTS[i % GROUPS];
        sim.world.apply(&EventBody::PlayerMoved {
            player_id: *id,
            from_x: p.x,
            from_y: p.y,
            x,
            y,
            running: false,
            path_to: None,
        });
        arm(&mut sim.world, *id, i % GROUPS);
    }
    sim
}

/// Runs `ticks` measured ticks with `players` players, each sending one command per tick.
pub fn tick_benchmark(players: usize, ticks: usize) -> TickBenchReport {
    let ids: Vec<Uuid> = (0..players)
        .map(|i| Uuid::from_u128(i as u128 + 1))
        .collect();
    let mut sim = placed(&ids);
    let mut durations = Vec::with_capacity(ticks);
    let (mut events, mut rejected) = (0usize, 0usize);
    let warmup = 5;
    for tick in 0..ticks + warmup {
        let commands: Vec<(Uuid, Command)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let p = sim.world.player(*id).expect("spawned");
                (*id, command(i % GROUPS, tick, p))
            })
            .collect();
        let started = Instant::now();
        let out = sim.tick(&[], &[], &commands);
        let took = started.elapsed().as_secs_f64() * 1000.0;
        if tick >= warmup {
            durations.push(took);
            events += out.events.len();
            rejected += out.rejected.len();
        }
    }
    durations.sort_by(f64::total_cmp);
    let at = |q: f64| durations[((durations.len() as f64 * q) as usize).min(durations.len() - 1)];
    TickBenchReport {
        players,
        ticks,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: durations.last().copied().unwrap_or(0.0),
        events_per_tick: events as f64 / ticks.max(1) as f64,
        rejected_per_tick: rejected as f64 / ticks.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tick_benchmark_runs_and_reports_fractions_of_the_budget() {
        let r = super::tick_benchmark(70, 10);
        assert_eq!(r.ticks, 10);
        assert!(r.events_per_tick > 0.0);
        assert!(r.to_string().contains("of the 400 ms budget"));
    }

    /// The archers and casters stand among their targets, armed, and fight: shots and casts
    /// are part of every measured tick.
    #[test]
    fn the_archers_and_casters_fight_the_npcs_of_drona_s_range() {
        use super::*;
        let content = loh_world::content::Content::embedded();
        for npc in DRONA_NPCS {
            let kind = &content.npc_spawns[npc as usize].npc;
            assert!(kind == "goblin_archer" || kind == "dark_wizard", "{kind}");
        }
        let ids: Vec<Uuid> = (1..=18).map(Uuid::from_u128).collect();
        let mut sim = placed(&ids);
        let (mut shots, mut casts) = (0, 0);
        for tick in 0..20 {
            let commands: Vec<(Uuid, Command)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        *id,
                        command(i % GROUPS, tick, sim.world.player(*id).unwrap()),
                    )
                })
                .collect();
            for (_, e) in sim.tick(&[], &[], &commands).events {
                match e {
                    EventBody::ItemDropped { ground, .. } if ground.item == "bronze_arrow" => {
                        shots += 1
                    }
                    EventBody::ItemsBurned { sink, .. } if sink == "ammo" => shots += 1,
                    EventBody::ItemsBurned { item, .. } if item == "mind_rune" => casts += 1,
                    _ => {}
                }
            }
        }
        assert!(shots > 0 && casts > 0, "{shots} shots, {casts} casts");
    }

    /// The figure: `cargo test -p loh-tick-writer --release --lib
    /// bench::tests::tick_cost_with_2500_players -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark; run in release"]
    fn tick_cost_with_2500_players() {
        println!("{}", super::tick_benchmark(2_500, 200));
    }
}
