//! Random play for many players: value is conserved after every tick, no stack passes the
//! maximum, and the same input from the same start gives byte-identical events.

use loh_commands::Command;
use loh_world::phases::Sim;
use loh_world::{MAX_STACK, MapConfig, World};
use proptest::prelude::*;
use uuid::Uuid;

const PLAYERS: u128 = 6;

/// Tiles worth standing on: town, bank, store, armoury, forest, mine, furnace, river, fields,
/// altar, PvP zone.
const SPOTS: [(i32, i32); 11] = [
    (3222, 3218),
    (3227, 3225),
    (3215, 3216),
    (3232, 3211),
    (3246, 3215),
    (3181, 3216),
    (3195, 3221),
    (3212, 3182),
    (3251, 3185),
    (3210, 3231),
    (3200, 3300),
];

fn player(i: u8) -> Uuid {
    Uuid::from_u128(u128::from(i) % PLAYERS + 1)
}

fn item() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "coins",
        "chisel",
        "bronze_axe",
        "bread",
        "logs",
        "hammer",
        "steel_sword",
        "copper_ore",
    ])
    .prop_map(str::to_owned)
}

fn command() -> impl Strategy<Value = Command> {
    let slot = 0u8..30;
    let qty = prop_oneof![Just(0u32), 1u32..5, Just(MAX_STACK), Just(u32::MAX)];
    prop_oneof![
        (0usize..SPOTS.len(), any::<bool>()).prop_map(|(s, run)| Command::WalkTo {
            x: SPOTS[s].0,
            y: SPOTS[s].1,
            run
        }),
        (-1i32..=1, -1i32..=1).prop_map(|(dx, dy)| Command::Move {
            x: 3222 + dx,
            y: 3218 + dy,
            run: false
        }),
        (slot.clone(), slot.clone()).prop_map(|(from, to)| Command::MoveItem { from, to }),
        slot.clone().prop_map(|slot| Command::DropItem { slot }),
        (1u64..40).prop_map(|ground_id| Command::PickUp { ground_id }),
        slot.clone().prop_map(|slot| Command::Eat { slot }),
        (slot.clone(), qty.clone()).prop_map(|(slot, qty)| Command::BankDeposit { slot, qty }),
        Just(Command::BankDepositAll),
        (item(), qty.clone()).prop_map(|(item, qty)| Command::BankWithdraw { item, qty }),
        slot.clone().prop_map(|slot| Command::Equip { slot }),
        Just(Command::Unequip {
            equip_slot: "weapon".into()
        }),
        (0usize..SPOTS.len()).prop_map(|s| Command::Gather {
            x: SPOTS[s].0 - 1,
            y: SPOTS[s].1 - 1
        }),
        prop::sample::select(vec![
            "smelt_bronze_bar",
            "smith_bronze_sword",
            "cut_sapphire"
        ])
        .prop_map(|r| Command::Produce { recipe: r.into() }),
        (item(), qty.clone()).prop_map(|(item, qty)| Command::Buy {
            shop: "general_store".into(),
            item,
            qty
        }),
        (slot.clone(), qty.clone()).prop_map(|(slot, qty)| Command::Sell {
            shop: "general_store".into(),
            slot,
            qty
        }),
        (0u32..12).prop_map(|npc| Command::AttackNpc { npc }),
        any::<u8>().prop_map(|p| Command::AttackPlayer {
            player_id: player(p)
        }),
        Just(Command::Pray {
            prayer: "thick_skin".into(),
            on: true
        }),
        any::<u8>().prop_map(|p| Command::TradeRequest {
            player_id: player(p)
        }),
        (slot, qty).prop_map(|(slot, qty)| Command::TradeOffer { slot, qty }),
        Just(Command::TradeAccept),
        Just(Command::TradeDecline),
    ]
}

/// One tick of input: commands by (player, command), sorted like the tick writer sorts them.
fn ticks() -> impl Strategy<Value = Vec<Vec<(Uuid, Command)>>> {
    prop::collection::vec(
        prop::collection::vec((any::<u8>().prop_map(player), command()), 0..12),
        1..40,
    )
    .prop_map(|ticks| {
        ticks
            .into_iter()
            .map(|mut t| {
                t.sort_by_key(|(p, _)| *p);
                t
            })
            .collect()
    })
}

/// Plays `input` from a fresh world; every event of every tick, as stored bytes.
fn play(input: &[Vec<(Uuid, Command)>], check: bool) -> Vec<Vec<u8>> {
    let ids: Vec<Uuid> = (1..=PLAYERS).map(Uuid::from_u128).collect();
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
            for (k, id) in ids.iter().enumerate() {
                let p = sim.world.player(*id).expect("spawned");
                let (x, y) = SPOTS[(k + i / 5) % SPOTS.len()];
                sim.world.apply(&loh_events::EventBody::PlayerMoved {
                    player_id: *id,
                    from_x: p.x,
                    from_y: p.y,
                    x,
                    y,
                    running: false,
                });
            }
        }
        let out = sim.tick(&[], &[], commands);
        record(out, &sim);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_play_conserves_value_and_never_overflows_a_stack_after_every_tick(input in ticks()) {
        play(&input, true);
    }

    #[test]
    fn the_same_input_from_the_same_start_yields_byte_identical_events(input in ticks()) {
        prop_assert_eq!(play(&input, false), play(&input, false));
    }
}
