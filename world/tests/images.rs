//! A world restored from its image and then folded through the rest of the log equals the
//! world folded from position 1, for random histories of many players cut anywhere; and the
//! live world of the tick step saves the same bytes as the fold of its events. The random input
//! is [`loh_testkit::history`]'s.

use loh_commands::Command;
use loh_events::EventBody;
use loh_testkit::history;
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use proptest::prelude::*;
use uuid::Uuid;

const PLAYERS: u128 = 6;

/// Plays `input` from a fresh world; the live world at the end and every event with its tick.
fn play(input: &[Vec<(Uuid, Command)>]) -> (World, Vec<(u64, EventBody)>) {
    let ids = history::players(PLAYERS);
    let mut sim = Sim::new(World::new(MapConfig::default()));
    let online: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    let mut log = Vec::new();
    let out = sim.tick(&ids, &online, &[]);
    log.extend(out.events.into_iter().map(|(_, e)| (1, e)));
    for (i, commands) in input.iter().enumerate() {
        if i % 5 == 0 {
            let tick = sim.world.tick();
            let moves = history::scatter(&mut sim.world, &ids, i / 5);
            log.extend(moves.into_iter().map(|e| (tick, e)));
        }
        let out = sim.tick_at(1_800_000_000_000_000 + i as i64, &[], &[], commands);
        let tick = sim.world.tick();
        log.extend(out.events.into_iter().map(|(_, e)| (tick, e)));
    }
    (sim.world, log)
}

fn fold(mut world: World, events: &[(u64, EventBody)]) -> World {
    for (tick, e) in events {
        world.set_tick(*tick);
        world.apply(e);
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_world_restored_from_its_image_and_folded_through_the_tail_equals_the_fold_from_position_one(
        input in history::ticks(PLAYERS),
        cut in 0.0f64..=1.0,
    ) {
        let (live, log) = play(&input);
        let at = ((log.len() as f64) * cut) as usize;
        let fresh = World::new(MapConfig::default());
        let mut whole = fold(fresh.clone(), &log);
        let head = fold(fresh.clone(), &log[..at]);
        let image = head.image();
        let mut resumed = fold(fresh.restored(&image).expect("its own image restores"), &log[at..]);
        whole.begin_tick(live.tick());
        resumed.begin_tick(live.tick());
        // Debug shows every field, so a field the image forgets is found here.
        prop_assert_eq!(format!("{resumed:?}"), format!("{whole:?}"));
        prop_assert_eq!(resumed.image(), whole.image());
        // The writer saves its live world: it must save what the fold of its events saves.
        prop_assert_eq!(live.image(), whole.image());
    }
}
