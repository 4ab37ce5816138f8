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

/// A player with the starter kit and a worn iron sword, standing in town.
fn armed() -> Given {
    let mut t = Given::new()
        .player(A)
        .player(B)
        .minted(A, "iron_sword", 1)
        .at(A, (3210, 3210))
        .at(B, (3210, 3211));
    t.when(A, Command::Equip { slot: 7 }).unwrap();
    t
}

fn grave_of(death: &EventBody) -> (Vec<GroundItem>, Vec<ItemQty>) {
    match death {
        EventBody::PlayerDied { dropped, kept, .. } => (dropped.clone(), kept.clone()),
        other => panic!("not a death: {other:?}"),
    }
}

#[test]
fn dying_outside_pvp_keeps_the_three_most_valuable_items_and_leaves_the_rest_in_a_grave() {
    let mut t = armed();
    let death = t.world.player_death(A, None);
    let (dropped, kept) = grave_of(&death);
    // Worn iron sword (91), bronze axe (16), the first bread (12); stackable coins are never
    // kept, whatever they are worth.
    let kept: Vec<&str> = kept.iter().map(|k| k.item.as_str()).collect();
    assert_eq!(kept, ["iron_sword", "bronze_axe", "bread"]);
    let mut graved: Vec<(&str, u32)> = dropped.iter().map(|g| (g.item.as_str(), g.qty)).collect();
    graved.sort();
    assert_eq!(
        graved,
        [
            ("bread", 1),
            ("bronze_pickaxe", 1),
            ("coins", 25),
            ("hammer", 1),
            ("small_fishing_net", 1)
        ]
    );
    let tick = t.world.tick();
    for g in &dropped {
        assert_eq!((g.x, g.y, g.owner), (3210, 3210, Some(A)));
        assert_eq!(g.public_at, tick + GRAVE_TICKS);
    }
    t.world.apply(&death);
    let a = t.world.player(A).unwrap();
    assert_eq!((a.x, a.y), (3222, 3218));
    let held: Vec<&str> = a.inventory.slots().map(|(_, s)| s.item.as_str()).collect();
    assert_eq!(held, ["iron_sword", "bronze_axe", "bread"]);
    assert!(a.equipment.iter().all(Option::is_none));
    t.assert_conserved();
}

#[test]
fn a_grave_is_its_owners_to_reclaim_until_it_turns_public() {
    let mut t = armed();
    let death = t.world.player_death(A, None);
    t.world.apply(&death);
    let (dropped, _) = grave_of(&death);
    let coins = dropped
        .iter()
        .find(|g| g.item == "coins")
        .unwrap()
        .ground_id;
    // Another player on the grave's tile sees nothing to take, and is told nothing of it.
    let t = t.at(B, (3210, 3210));
    assert_eq!(
        t.rejects(B, Command::PickUp { ground_id: coins }),
        "no_such_item"
    );
    assert!(
        t.world
            .redacted_for(B, &death)
            .is_some_and(|seen| grave_of(&seen) == (Vec::new(), Vec::new()))
    );
    // Its owner walks back and takes it.
    let mut t = t.at(A, (3210, 3211));
    t.when(A, Command::PickUp { ground_id: coins }).unwrap();
    assert_eq!(t.world.player(A).unwrap().inventory.count("coins"), 25);
    // What is left turns public when the grave's time is up, and anyone may take it.
    let hammer = dropped
        .iter()
        .find(|g| g.item == "hammer")
        .unwrap()
        .ground_id;
    let public_at = t.world.tick() + GRAVE_TICKS;
    t.world.begin_tick(public_at);
    t.when(B, Command::PickUp { ground_id: hammer }).unwrap();
    t.assert_conserved();
}

#[test]
fn under_the_rules_before_graves_a_death_outside_pvp_costs_nothing() {
    let mut t = armed();
    t.world.apply(&EventBody::RulesAdopted { rules: 3 });
    let death = t.world.player_death(A, None);
    assert_eq!(grave_of(&death), (Vec::new(), Vec::new()));
    t.world.apply(&death);
    let a = t.world.player(A).unwrap();
    assert_eq!(a.inventory.slots().count(), 7);
    assert!(
        a.equipment
            .iter()
            .any(|e| e.as_deref() == Some("iron_sword"))
    );
}

#[test]
fn a_guard_that_kills_a_player_in_town_leaves_a_grave_and_value_is_conserved() {
    let mut t = Given::new()
        .player(A)
        .minted(A, "steel_sword", 1)
        .at(A, (3220, 3234));
    t.run_ticks(1);
    let guard = t
        .world
        .npcs()
        .find(|(_, n)| n.kind == "guard")
        .map(|(id, _)| *id)
        .unwrap();
    t.when(A, Command::AttackNpc { npc: guard }).unwrap();
    let events = t.run_ticks(400);
    let death = events
        .iter()
        .find(|e| matches!(e, EventBody::PlayerDied { player_id, .. } if *player_id == A))
        .expect("the guard kills a level-3 player");
    let (dropped, kept) = grave_of(death);
    assert_eq!(kept[0].item, "steel_sword");
    assert!(dropped.iter().all(|g| g.owner == Some(A)));
    assert!(dropped.iter().any(|g| g.item == "coins"));
    t.assert_conserved();
}

#[test]
fn reclaiming_a_grave_takes_back_all_that_fits_in_one_go_and_only_for_its_owner() {
    let mut t = armed();
    let death = t.world.player_death(A, None);
    t.world.apply(&death);
    let t = t.at(B, (3210, 3210));
    assert_eq!(t.rejects(B, Command::ReclaimGrave), "no_such_item");
    // Away from the grave there is nothing to reclaim.
    assert_eq!(t.rejects(A, Command::ReclaimGrave), "no_such_item");
    let mut t = t.at(A, (3211, 3211));
    let events = t.when(A, Command::ReclaimGrave).unwrap();
    assert_eq!(events.len(), 5);
    let a = t.world.player(A).unwrap();
    // The kept three, then the grave's five.
    assert_eq!(a.inventory.slots().count(), 8);
    assert_eq!(a.inventory.count("coins"), 25);
    assert_eq!(t.rejects(A, Command::ReclaimGrave), "no_such_item");
    t.assert_conserved();
}

#[test]
fn a_grave_reclaimed_into_a_full_inventory_takes_what_fits() {
    let died = || {
        let mut t = armed();
        let death = t.world.player_death(A, None);
        t.world.apply(&death);
        t
    };
    // 25 logs fill the inventory but the kept three's slots: nothing fits.
    let t = died().minted(A, "logs", 25).at(A, (3210, 3210));
    assert_eq!(t.rejects(A, Command::ReclaimGrave), "inventory_full");
    // With 24 logs and a stack of coins, the grave's coins still fit onto the stack.
    let mut t = died()
        .minted(A, "logs", 24)
        .minted(A, "coins", 1)
        .at(A, (3210, 3210));
    let events = t.when(A, Command::ReclaimGrave).unwrap();
    assert!(
        matches!(&events[..], [EventBody::ItemPickedUp { item, qty: 25, .. }] if item == "coins")
    );
    t.assert_conserved();
}

// ---- Ranged and magic (rules 4) ----

/// A player wielding a shortbow with `arrows` bronze arrows (slot 7 then 8), standing on `at`.
fn archer(arrows: u32, at: (i32, i32)) -> Given {
    let mut t = Given::new().player(A).minted(A, "shortbow", 1);
    if arrows > 0 {
        t = t.minted(A, "bronze_arrow", arrows);
    }
    let mut t = t.at(A, at);
    t.when(A, Command::Equip { slot: 7 }).unwrap();
    t.run_ticks(1);
    t
}

fn npc_of(t: &Given, kind: &str) -> (u32, i32, i32) {
    t.world
        .npcs()
        .find(|(_, n)| n.kind == kind)
        .map(|(id, n)| (*id, n.x, n.y))
        .unwrap_or_else(|| panic!("no {kind} in the world"))
}

fn attacks_by(events: &[EventBody], who: Uuid) -> Vec<(bool, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::PlayerAttacked {
                player_id,
                hit,
                damage,
                ..
            } if *player_id == who => Some((*hit, *damage)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_bow_shoots_from_its_range_and_each_arrow_breaks_or_falls_under_the_target() {
    let t = archer(30, (3211, 3205));
    // The cows graze in the goblin fields: stand 6 tiles from one.
    let (cow, cx, cy) = npc_of(&t, "cow");
    let mut t = t.at(A, (cx - 6, cy));
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(12);
    let shots = attacks_by(&events, A);
    assert!(
        shots.len() >= 2,
        "the archer shoots every 4 ticks: {events:?}"
    );
    let broke = events
        .iter()
        .filter(|e| matches!(e, EventBody::ItemsBurned { sink, item, .. } if sink == "ammo" && item == "bronze_arrow"))
        .count();
    let fell: Vec<&GroundItem> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::ItemDropped { ground, .. } if ground.item == "bronze_arrow" => Some(ground),
            _ => None,
        })
        .collect();
    assert_eq!(broke + fell.len(), shots.len(), "one arrow a shot");
    assert!(fell.iter().all(|g| g.owner == Some(A) && g.qty == 1));
    assert_eq!(
        t.world.player(A).unwrap().inventory.count("bronze_arrow"),
        30 - shots.len() as u64
    );
    // Never a step: the cow stays within the bow's 7 tiles.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventBody::PlayerMoved { player_id, .. } if *player_id == A))
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            EventBody::XpGained {
                skill: Skill::Ranged,
                ..
            }
        )) || shots.iter().all(|(_, d)| *d == 0)
    );
    t.assert_conserved();
}

#[test]
fn out_of_its_range_an_archer_steps_closer_and_without_arrows_stops() {
    let t = archer(5, (3211, 3205));
    let (cow, cx, cy) = npc_of(&t, "cow");
    let mut t = t.at(A, (cx - 10, cy));
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(3);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventBody::PlayerMoved { player_id, .. } if *player_id == A))
    );
    let mut t = archer(0, (cx - 5, cy));
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(2);
    assert!(attacks_by(&events, A).is_empty());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventBody::CombatTargetCleared { player_id } if *player_id == A))
    );
}

#[test]
fn a_wall_blocks_the_line_of_sight() {
    let t = Given::new();
    // The bank's back wall runs along y 3228 from x 3226 to 3229.
    assert!(!t.world.line_of_sight((3227, 3225), (3227, 3231)));
    assert!(!t.world.line_of_sight((3226, 3226), (3229, 3230)));
    assert!(t.world.line_of_sight((3222, 3225), (3222, 3231)));
    // An adjacent target is hit whatever stands between; one beyond reach never is.
    assert!(t.world.can_hit((3227, 3227), (3227, 3228), 1));
    assert!(!t.world.can_hit((3222, 3225), (3222, 3231), 5));
}

#[test]
fn longrange_reaches_two_tiles_further_and_shares_the_xp_with_defence() {
    let mut t = archer(30, (3211, 3205));
    t.when(
        A,
        Command::SetAttackStyle {
            style: "longrange".into(),
        },
    )
    .unwrap();
    let p = t.world.player(A).unwrap();
    assert_eq!(t.world.reach(p, t.world.fighting(p)), 9);
    let (cow, cx, cy) = npc_of(&t, "cow");
    let mut t = t.at(A, (cx - 9, cy));
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(40);
    let hits: u32 = attacks_by(&events, A).iter().map(|(_, d)| d).sum();
    assert!(hits > 0, "forty ticks of shooting at a cow hit it");
    let xp = |skill| {
        events
            .iter()
            .filter_map(|e| match e {
                EventBody::XpGained { skill: s, xp, .. } if *s == skill => Some(*xp),
                _ => None,
            })
            .sum::<u32>()
    };
    assert_eq!(xp(Skill::Ranged), xp(Skill::Defence));
    assert_eq!(xp(Skill::Ranged), 2 * hits);
}

#[test]
fn a_spell_burns_its_runes_every_cast_and_gives_its_xp_even_on_a_splash() {
    let mut t = Given::new()
        .player(A)
        .minted(A, "air_rune", 10)
        .minted(A, "mind_rune", 10);
    t.run_ticks(1);
    let (cow, cx, cy) = npc_of(&t, "cow");
    let mut t = t.at(A, (cx - 8, cy));
    t.when(
        A,
        Command::SetAutocast {
            spell: Some("wind_strike".into()),
        },
    )
    .unwrap();
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(11);
    let casts = attacks_by(&events, A);
    assert_eq!(casts.len(), 3, "a cast every 5 ticks from 8 tiles");
    let a = t.world.player(A).unwrap();
    assert_eq!(a.inventory.count("air_rune"), 7);
    assert_eq!(a.inventory.count("mind_rune"), 7);
    let magic: u32 = events
        .iter()
        .filter_map(|e| match e {
            EventBody::XpGained {
                skill: Skill::Magic,
                xp,
                ..
            } => Some(*xp),
            _ => None,
        })
        .sum();
    let damage: u32 = casts.iter().map(|(_, d)| d).sum();
    assert_eq!(magic, 3 * 5 + 2 * damage);
    t.assert_conserved();
}

#[test]
fn a_staff_of_air_stands_in_for_air_runes_and_without_runes_the_caster_stops() {
    let mut t = Given::new()
        .player(A)
        .minted(A, "staff_of_air", 1)
        .minted(A, "mind_rune", 1);
    t.when(A, Command::Equip { slot: 7 }).unwrap();
    t.run_ticks(1);
    let (cow, cx, cy) = npc_of(&t, "cow");
    let mut t = t.at(A, (cx - 3, cy));
    t.when(
        A,
        Command::SetAutocast {
            spell: Some("wind_strike".into()),
        },
    )
    .unwrap();
    t.when(A, Command::AttackNpc { npc: cow }).unwrap();
    let events = t.run_ticks(8);
    assert_eq!(attacks_by(&events, A).len(), 1, "one mind rune, one cast");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventBody::CombatTargetCleared { player_id } if *player_id == A))
    );
    t.assert_conserved();
}

#[test]
fn a_spell_needs_its_magic_level_and_must_exist() {
    let t = Given::new().player(A);
    let cast = |s: &str| Command::SetAutocast {
        spell: Some(s.into()),
    };
    assert_eq!(t.rejects(A, cast("fire_bolt")), "level_too_low");
    assert_eq!(t.rejects(A, cast("ice_barrage")), "no_such_spell");
    let t = t.xp(A, Skill::Magic, 50_000);
    assert!(t.decide(A, cast("fire_bolt")).is_ok());
    assert!(t.decide(A, Command::SetAutocast { spell: None }).is_ok());
}

/// A player of Prayer 43 with `prayer` on, four tiles from a goblin archer in Drona's Range.
fn praying_near(prayer: &str, kind: &str) -> (Given, Vec<EventBody>) {
    let mut t = Given::new().player(A).xp(A, Skill::Prayer, 60_000);
    t.run_ticks(1);
    let (_, nx, ny) = npc_of(&t, kind);
    let mut t = t.at(A, (nx, ny - 4));
    t.world.apply(&EventBody::PrayerRestored {
        player_id: A,
        points: 43,
    });
    t.when(
        A,
        Command::Pray {
            prayer: prayer.into(),
            on: true,
        },
    )
    .unwrap();
    let events = t.run_ticks(30);
    (t, events)
}

/// The damage of every attack on A by an NPC of `kind`.
fn npc_hits_on_a(t: &Given, kind: &str, events: &[EventBody]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::NpcAttacked {
                npc,
                player_id,
                damage,
                ..
            } if *player_id == A && t.world.content.npc_spawns[*npc as usize].npc == kind => {
                Some(*damage)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn goblin_archers_shoot_from_a_distance_and_protect_from_missiles_blocks_them() {
    let (t, events) = praying_near("protect_from_missiles", "goblin_archer");
    let hits = npc_hits_on_a(&t, "goblin_archer", &events);
    assert!(
        !hits.is_empty(),
        "the archer shoots from 4 tiles: {events:?}"
    );
    assert!(hits.iter().all(|d| *d == 0));
    assert_eq!(t.world.player(A).unwrap().hitpoints, 10);
    // It never came next to the player: it shot from where it stood.
    let (_, nx, ny) = npc_of(&t, "goblin_archer");
    let a = t.world.player(A).unwrap();
    assert!(chebyshev(nx, ny, a.x, a.y) > 1);
}

#[test]
fn dark_wizards_cast_from_a_distance_and_protect_from_magic_blocks_them() {
    let (t, events) = praying_near("protect_from_magic", "dark_wizard");
    let hits = npc_hits_on_a(&t, "dark_wizard", &events);
    assert!(!hits.is_empty(), "the wizard casts from 4 tiles");
    assert!(hits.iter().all(|d| *d == 0));
    // Protection from melee does not help against spells.
    let (t, events) = praying_near("protect_from_melee", "dark_wizard");
    assert!(
        npc_hits_on_a(&t, "dark_wizard", &events)
            .iter()
            .any(|d| *d > 0)
    );
}

#[test]
fn under_the_rules_before_ranged_and_magic_a_bow_is_a_club_and_the_new_names_are_unknown() {
    let mut t = archer(10, (3211, 3205));
    t.world.apply(&EventBody::RulesAdopted { rules: 3 });
    let p = t.world.player(A).unwrap();
    assert!(matches!(t.world.fighting(p), kinds::Fighting::Melee));
    let style = |s: &str| Command::SetAttackStyle { style: s.into() };
    assert_eq!(t.rejects(A, style("rapid")), "bad_style");
    let t = t.xp(A, Skill::Prayer, 60_000);
    assert_eq!(
        t.rejects(
            A,
            Command::Pray {
                prayer: "protect_from_missiles".into(),
                on: true
            }
        ),
        "no_such_prayer"
    );
    // And the NPCs of zones newer than the rules never spawn.
    let mut t = Given::new();
    let archer = t
        .world
        .content
        .npc_spawns
        .iter()
        .position(|s| s.npc == "goblin_archer")
        .unwrap() as u32;
    let mut rng = t.world.rng_for(A);
    assert!(matches!(
        &t.world.npc_step(archer, &mut rng)[..],
        [EventBody::NpcSpawned { .. }]
    ));
    t.world.apply(&EventBody::RulesAdopted { rules: 3 });
    assert!(t.world.npc_step(archer, &mut rng).is_empty());
}

// ---- The map's spawn points and the wilderness (rules 4) ----

#[test]
fn a_player_who_dies_comes_back_at_the_nearest_spawn_point() {
    let t = Given::new().player(A);
    // Near Indraprastha, its spawn point; in the first valley, the home spawn.
    assert_eq!(t.world.respawn_point(3400, 3230), (3445, 3225));
    assert_eq!(t.world.respawn_point(2990, 3100), (2980, 3220));
    assert_eq!(t.world.respawn_point(3200, 3300), (3222, 3218));
    let mut t = t.at(A, (3410, 3230));
    let death = t.world.player_death(A, None);
    t.world.apply(&death);
    let a = t.world.player(A).unwrap();
    assert_eq!((a.x, a.y), (3445, 3225));
    // Under the rules before, everyone came back home.
    t.world.apply(&EventBody::RulesAdopted { rules: 3 });
    assert_eq!(t.world.respawn_point(3400, 3230), (3222, 3218));
}

#[test]
fn in_the_wilderness_players_fight_only_within_its_level_of_each_other() {
    // Level 1 of the wilderness at its southern edge, level 11 eighty tiles north.
    let content = crate::content::Content::embedded();
    assert_eq!(content.wilderness_level(3000, 3400, crate::RULES), Some(1));
    assert_eq!(content.wilderness_level(3000, 3480, crate::RULES), Some(11));
    assert_eq!(content.wilderness_level(3200, 3300, crate::RULES), None);
    assert_eq!(content.wilderness_level(3000, 3480, 3), None);
    // A level-3 player and a strong one (combat level 35): too far apart at level 1…
    let t = Given::new()
        .player(A)
        .player(B)
        .xp(B, Skill::Attack, 13_034_431)
        .at(A, (3000, 3401))
        .at(B, (3001, 3401));
    let attack = Command::AttackPlayer { player_id: A };
    assert_eq!(t.rejects(B, attack.clone()), "level_gap");
    // …but not where the level is 32 or more.
    let t = t.at(A, (3000, 3650)).at(B, (3001, 3650));
    assert!(t.decide(B, attack).is_ok());
}
