//! Random play for many players: value is conserved after every tick, no stack passes the
//! maximum (with bonds bought, traded, redeemed, refunded and reinstated), and the same input
//! from the same start gives byte-identical events, through deaths and graves, bows and spells.
//! The random input is [`loh_testkit::history`]'s.

use loh_commands::Command;
use loh_events::EventBody;
use loh_testkit::history;
use loh_world::payments::{Payment, PaymentKind};
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use proptest::prelude::*;
use uuid::Uuid;

const PLAYERS: u128 = 6;
const NOW_US: i64 = 1_800_000_000_000_000;
/// A day a tick, so memberships bought with bonds lapse within a history.
const DAY_US: i64 = 86_400_000_000;

/// Payments of tick `i`: a bond pack bought every 4th tick, refunded 8 ticks later, the
/// refund disputed and won 12 ticks after that.
fn payments(i: usize, ids: &[Uuid]) -> Vec<Payment> {
    let mut out = Vec::new();
    if i.is_multiple_of(4) {
        out.push(Payment {
            id: format!("evt_paid_{i}"),
            what: PaymentKind::Paid {
                player_id: ids[(i / 4) % ids.len()],
                purchase: format!("pi_{i}"),
                product: "bonds_5".into(),
            },
        });
    }
    if i % 12 == 8 {
        out.push(Payment {
            id: format!("evt_refund_{i}"),
            what: PaymentKind::ClawBack {
                purchase: format!("pi_{}", i - 8),
            },
        });
    }
    if i % 24 == 20 {
        out.push(Payment {
            id: format!("evt_won_{i}"),
            what: PaymentKind::DisputeWon {
                purchase: format!("pi_{}", i - 20),
            },
        });
    }
    out
}

/// An NPC's hit that leaves `player` one hitpoint, beside the NPC, which fights them after it
/// (a death outside PvP: a grave).
fn wound(world: &mut World, player: Uuid) {
    let Some(p) = world.player(player) else {
        return;
    };
    let (hitpoints, from_x, from_y) = (p.hitpoints, p.x, p.y);
    let npc = world.npcs().next().map(|(id, n)| (*id, n.x, n.y));
    if let Some((npc, x, y)) = npc.filter(|_| hitpoints > 1) {
        world.apply(&EventBody::PlayerMoved {
            player_id: player,
            from_x,
            from_y,
            x: x + 1,
            y,
            running: false,
            path_to: None,
        });
        world.apply(&EventBody::NpcAttacked {
            npc,
            player_id: player,
            hit: true,
            damage: hitpoints - 1,
            next_at: world.tick(),
        });
    }
}

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
    // Everyone carries a bow, arrows and the runes of a few strikes, so that ranged and magic
    // fights happen within a history.
    for id in &ids {
        for (item, qty) in [
            ("shortbow", 1),
            ("bronze_arrow", 40),
            ("air_rune", 20),
            ("mind_rune", 20),
        ] {
            sim.world.apply(&EventBody::ItemsMinted {
                player_id: *id,
                item: item.into(),
                qty,
                source: "test".into(),
            });
        }
    }
    for (i, commands) in input.iter().enumerate() {
        // Scatter the players now and then, so that every system is within reach.
        if i % 5 == 0 {
            history::scatter(&mut sim.world, &ids, i / 5);
        }
        // And wound one to a single hitpoint now and then, so that deaths (graves in town,
        // drops in the PvP zone) happen within a history.
        if i % 5 == 2 {
            wound(&mut sim.world, ids[(i / 5) % ids.len()]);
        }
        let out = sim.tick_with(
            NOW_US + i as i64 * DAY_US,
            &[],
            &[],
            &payments(i, &ids),
            commands,
        );
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
