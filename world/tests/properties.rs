//! Random play for many players: value is conserved after every tick, no stack passes the
//! maximum, and the same input from the same start gives byte-identical events. The random
//! input is [`loh_testkit::history`]'s.

use loh_commands::Command;
use loh_testkit::history;
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use proptest::prelude::*;
use uuid::Uuid;

const PLAYERS: u128 = 6;

/// Plays `input` from a fresh world; every event of every tick, as stored bytes.
fn play(input: &[Vec<(Uuid, Command)>], check: bool) -> Vec<Vec<u8>> {
    let ids = history::players(PLAYERS);
    let mut sim = Sim::new(World::new(MapConfig::default()));
    let online: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    let mut bytes = Vec::new();
    let mut record = |out: loh_world::phases::TickOutput, sim: &Sim| {
        for (cause, e) in out.events {
            let mut b = cause.as_bytes().to_vec();
            b.extend(serde_json::to_vec(&e).expect("events encode"));
            bytes.push(b);
        }
        if check {
            sim.world.check_conservation().unwrap();
        }
    };
    let out = sim.tick(&ids, &online, &[]);
    record(out, &sim);
    for (i, commands) in input.iter().enumerate() {
        // Scatter the players now and then, so that every system is within reach.
        if i % 5 == 0 {
            history::scatter(&mut sim.world, &ids, i / 5);
        }
        let out = sim.tick(&[], &[], commands);
        record(out, &sim);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_play_conserves_value_and_never_overflows_a_stack_after_every_tick(input in history::ticks(PLAYERS)) {
        play(&input, true);
    }

    #[test]
    fn the_same_input_from_the_same_start_yields_byte_identical_events(input in history::ticks(PLAYERS)) {
        prop_assert_eq!(play(&input, false), play(&input, false));
    }
}
