use super::*;
use crate::testing::*;
use loh_commands::Command;
use rand_chacha::rand_core::SeedableRng;

/// The chicken's spawn point in town (spawn index 1).
const CHICKEN: u32 = 1;

fn spawned_npcs() -> Given {
    let mut t = Given::new().player(A).player(B);
    t.run_ticks(1);
    t
}

#[test]
fn ninety_nine_strength_aggressive_with_no_bonus_hits_at_most_eleven() {
    let eff = effective(99, 100, style_bonus(AttackStyle::Aggressive).1);
    assert_eq!(max_hit(eff, 0), 11);
    assert_eq!(max_hit(effective(1, 100, 0), 0), 1);
}

#[test]
fn hit_chance_follows_the_osrs_formula() {
    // A > D: 1 − (D + 2) / (2 (A + 1)); A ≤ D: A / (2 (D + 1)).
    let mut rng = WorldRng::seed_from_u64(7);
    let n = 20_000;
    let hits = (0..n).filter(|_| rolls_hit(300, 100, &mut rng)).count() as f64 / n as f64;
    let expected = 1.0 - 102.0 / 602.0;
    assert!((hits - expected).abs() < 0.02, "{hits} vs {expected}");
    let hits = (0..n).filter(|_| rolls_hit(100, 300, &mut rng)).count() as f64 / n as f64;
    let expected = 100.0 / 602.0;
    assert!((hits - expected).abs() < 0.02, "{hits} vs {expected}");
}

#[test]
fn killing_a_chicken_mints_its_loot_on_the_ground_for_the_killer_first() {
    let mut t = spawned_npcs();
    let n = t.world.npc(CHICKEN).unwrap().clone();
    t = t
        .at(A, (n.x + 1, n.y))
        .xp(A, Skill::Attack, 13_034_431)
        .xp(A, Skill::Strength, 13_034_431);
    t.when(A, Command::AttackNpc { npc: CHICKEN }).unwrap();
    let events = t.run_ticks(40);
    let died = events.iter().find_map(|e| match e {
        EventBody::NpcDied { killer, loot, .. } => Some((*killer, loot.clone())),
        _ => None,
    });
    let (killer, loot) = died.expect("the chicken died");
    assert_eq!(killer, Some(A));
    assert!(loot.iter().any(|g| g.item == "bones" && g.owner == Some(A)));
    assert!(events.iter().any(|e| matches!(
        e,
        EventBody::XpGained {
            skill: Skill::Hitpoints,
            ..
        }
    )));
    t.assert_conserved();
}

#[test]
fn an_npc_fights_back_and_protect_from_melee_blocks_its_damage() {
    let mut t = spawned_npcs();
    let guard = t.world.npc(0).unwrap().clone();
    t = t
        .at(A, (guard.x + 1, guard.y))
        .xp(A, Skill::Prayer, 60_000)
        .xp(A, Skill::Hitpoints, 13_034_431);
    t.world.players.get_mut(&A).unwrap().prayer_points = 99;
    t.when(
        A,
        Command::Pray {
            prayer: "protect_from_melee".into(),
            on: true,
        },
    )
    .unwrap();
    t.when(A, Command::AttackNpc { npc: 0 }).unwrap();
    let events = t.run_ticks(12);
    let swings: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::NpcAttacked { damage, .. } => Some(*damage),
            _ => None,
        })
        .collect();
    assert!(!swings.is_empty(), "the guard fought back");
    assert!(swings.iter().all(|d| *d == 0));
}

#[test]
fn players_fight_only_in_a_pvp_zone() {
    let t = Given::new().player(A).player(B);
    assert_eq!(
        t.rejects(A, Command::AttackPlayer { player_id: B }),
        "not_in_pvp"
    );
    let t = t.at(A, (3200, 3300)).at(B, (3201, 3300));
    assert!(t.decide(A, Command::AttackPlayer { player_id: B }).is_ok());
}

#[test]
fn dying_in_the_pvp_zone_drops_everything_for_the_killer() {
    let mut t = Given::new()
        .player(A)
        .player(B)
        .at(A, (3200, 3300))
        .at(B, (3201, 3300))
        .xp(A, Skill::Attack, 13_034_431)
        .xp(A, Skill::Strength, 13_034_431);
    t.when(B, Command::Equip { slot: 0 }).unwrap();
    t.when(A, Command::AttackPlayer { player_id: B }).unwrap();
    let events = t.run_ticks(200);
    let dropped = events.iter().find_map(|e| match e {
        EventBody::PlayerDied {
            player_id,
            dropped,
            killer,
            ..
        } if *player_id == B => Some((dropped.clone(), *killer)),
        _ => None,
    });
    let (dropped, killer) = dropped.expect("B died");
    assert_eq!(killer, Some(A));
    assert!(dropped.iter().any(|g| g.item == "bronze_axe"));
    let b = t.world.player(B).unwrap();
    assert_eq!((b.x, b.y, b.inventory.free_slots()), (3222, 3218, 28));
    t.assert_conserved();
}

#[test]
fn an_unknown_attack_style_is_refused() {
    let t = Given::new().player(A);
    assert_eq!(
        t.rejects(
            A,
            Command::SetAttackStyle {
                style: "wild".into()
            }
        ),
        "bad_style"
    );
}
