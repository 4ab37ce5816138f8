//! Every replay tool on histories made by the real tick writer, with planted cheats.

mod helpers;

use helpers::Game;
use loh_auth::SigningKey;
use loh_auth::{CheckpointClaims, sign_checkpoint};
use loh_commands::Command;
use loh_events::EventBody;
use loh_replay::resimulate::{ResimReport, resimulate, resimulate_from};
use loh_replay::scan::{Range, scan};
use loh_replay::state::{At, state_at, state_at_from};
use loh_replay::timeline::{Filter, timeline, to_csv, to_table};
use loh_replay::{Problem, VerifyReport, verify, verify_signed};
use loh_world::{MapConfig, World};

#[tokio::test]
async fn timeline_lists_accepted_and_rejected_commands_and_the_events_of_the_player_in_order() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let entries = timeline(g.store.as_ref(), g.alice, &Filter::default(), |_| {})
        .await
        .expect("timeline");
    let commands: Vec<_> = entries.iter().filter(|e| e.source == "command").collect();
    assert_eq!(commands.len(), 6, "{}", to_table(&entries));
    assert!(commands.iter().any(|e| {
        e.outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("rejected"))
    }));
    assert!(entries.iter().any(|e| e.kind == "PlayerSpawned"));
    assert!(entries.iter().any(|e| e.kind == "ItemDropped"));
    let picked = entries
        .iter()
        .find(|e| e.kind == "ItemPickedUp")
        .expect("picked up");
    assert_eq!(picked.detail["item"], "bronze_axe", "{:?}", picked.detail);
    assert!(
        !entries.iter().any(|e| e.kind == "PlayerSaid"),
        "bob's chat is not alice's"
    );
    let keys: Vec<_> = entries
        .iter()
        .map(|e| (e.tick, e.source == "event"))
        .collect();
    assert!(keys.is_sorted(), "ordered by tick, commands first");
    assert!(
        entries
            .iter()
            .all(|e| e.wall_time.ends_with('Z') && e.wall_time_us > 0)
    );
}

#[tokio::test]
async fn timeline_filters_by_tick_time_and_kind_and_renders_json_and_csv() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let all = timeline(g.store.as_ref(), g.alice, &Filter::default(), |_| {})
        .await
        .expect("timeline");
    let moves = Filter {
        kinds: vec!["playermoved".into()],
        ..Filter::default()
    };
    let moved = timeline(g.store.as_ref(), g.alice, &moves, |_| {})
        .await
        .expect("moves");
    assert_eq!(moved.len(), 3);
    let rejected = Filter {
        kinds: vec!["rejected".into()],
        ..Filter::default()
    };
    let refused = timeline(g.store.as_ref(), g.alice, &rejected, |_| {})
        .await
        .expect("rejected");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].kind, "Move");
    let window = Filter {
        from_tick: Some(2),
        to_tick: Some(3),
        ..Filter::default()
    };
    let some = timeline(g.store.as_ref(), g.alice, &window, |_| {})
        .await
        .expect("window");
    assert!(!some.is_empty() && some.iter().all(|e| (2..=3).contains(&e.tick)));
    let t = all
        .iter()
        .find(|e| e.kind == "ItemDropped")
        .expect("drop")
        .wall_time_us;
    let since = Filter {
        from_us: Some(t),
        ..Filter::default()
    };
    let later = timeline(g.store.as_ref(), g.alice, &since, |_| {})
        .await
        .expect("since");
    assert!(later.iter().all(|e| e.wall_time_us >= t) && later.len() < all.len());
    let json = serde_json::to_string(&all).expect("json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json)
            .expect("parse")
            .as_array()
            .map(Vec::len),
        Some(all.len())
    );
    let csv = to_csv(&all);
    assert_eq!(csv.lines().count(), all.len() + 1);
    assert!(csv.starts_with("tick,wall_time_us,"));
}

#[tokio::test]
async fn state_at_a_tick_shows_holdings_skills_position_and_wallet_of_that_moment() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let drop_tick = timeline(
        g.store.as_ref(),
        g.alice,
        &Filter {
            kinds: vec!["ItemDropped".into()],
            ..Filter::default()
        },
        |_| {},
    )
    .await
    .expect("timeline")[0]
        .tick;
    let before = state_at(g.store.as_ref(), g.alice, At::Tick(drop_tick - 1))
        .await
        .expect("state")
        .expect("alice");
    let at = state_at(g.store.as_ref(), g.alice, At::Tick(drop_tick))
        .await
        .expect("state")
        .expect("alice");
    let now = state_at(g.store.as_ref(), g.alice, At::Tick(u64::MAX))
        .await
        .expect("state")
        .expect("alice");
    assert_eq!(
        before.inventory.len(),
        at.inventory.len() + 1,
        "the axe is on the ground"
    );
    assert_eq!(
        now.inventory.len(),
        before.inventory.len(),
        "and picked up again"
    );
    assert_eq!(now.wallet.total, 25);
    assert_eq!(now.skills.len(), 13);
    let spawn = state_at(g.store.as_ref(), g.alice, At::Tick(1))
        .await
        .expect("state")
        .expect("alice");
    assert_eq!(now.x, spawn.x + 3, "three steps east");
    assert!(
        state_at(g.store.as_ref(), g.alice, At::Tick(0))
            .await
            .expect("state")
            .is_none()
    );
    let time: At = loh_replay::time::format_us(i64::MAX / 2)
        .parse()
        .expect("time");
    assert!(matches!(time, At::Time(_)));
    assert!(now.to_string().contains("wallet: 25 coins"));
}

#[tokio::test]
async fn scan_finds_nothing_on_an_honest_history() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[tokio::test]
async fn scan_finds_a_planted_duplication_with_its_evidence_positions() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let (ground_id, item, qty) = g.last_dropped().await;
    let planted = g
        .plant(vec![EventBody::ItemPickedUp {
            player_id: g.alice,
            ground_id,
            item,
            qty,
        }])
        .await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let dup = findings
        .iter()
        .find(|f| f.rule == "duplicated_item")
        .expect("duplicated item found");
    assert_eq!(dup.player, Some(g.alice));
    assert!(
        dup.positions.contains(&planted) && dup.positions.len() == 2,
        "{dup:?}"
    );
}

#[tokio::test]
async fn scan_finds_coins_minted_from_nowhere_and_items_taken_from_an_empty_slot() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let minted = g
        .plant(vec![EventBody::ItemsMinted {
            player_id: g.bob,
            item: "coins".into(),
            qty: 1_000_000,
            source: "gm_gift".into(),
        }])
        .await;
    let burned = g
        .plant(vec![EventBody::BankDeposited {
            player_id: g.bob,
            slot: 27,
            item: "coins".into(),
            qty: 5,
        }])
        .await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let lost: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "value_not_conserved")
        .collect();
    assert!(
        lost.iter()
            .any(|f| f.positions == vec![minted] && f.message.contains("gm_gift")),
        "{findings:#?}"
    );
    assert!(
        lost.iter()
            .any(|f| f.positions == vec![burned] && f.message.contains("slot 27")),
        "{findings:#?}"
    );
    assert!(
        lost.iter().all(|f| f.tick >= lost[0].tick),
        "nothing before the plant"
    );
}

#[tokio::test]
async fn scan_finds_a_planted_speed_hack() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let (x, y) = {
        let w = g.world().await;
        let p = w.player(g.alice).expect("alice");
        (p.x, p.y)
    };
    let planted = g
        .plant(vec![EventBody::PlayerMoved {
            player_id: g.alice,
            from_x: x,
            from_y: y,
            x: x + 7,
            y,
            running: true,
            path_to: None,
        }])
        .await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let hack = findings
        .iter()
        .find(|f| f.rule == "speed_hack")
        .expect("speed hack found");
    assert_eq!(
        (hack.player, hack.positions.clone()),
        (Some(g.alice), vec![planted])
    );
    let before = scan(
        g.store.as_ref(),
        Range {
            from_tick: None,
            to_tick: Some(hack.tick - 1),
        },
        |_| {},
    )
    .await
    .expect("scan");
    assert!(before.is_empty(), "the range bounds the report");
}

#[tokio::test]
async fn scan_finds_a_flood_of_rejected_commands_and_actions_beyond_the_tick_budget() {
    let mut g = Game::sqlite().await;
    for _ in 0..6 {
        for _ in 0..8 {
            g.send(
                g.bob,
                Command::Move {
                    x: 0,
                    y: 0,
                    run: false,
                },
            );
        }
        g.tick().await;
    }
    let flooded = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let flood = flooded
        .iter()
        .find(|f| f.rule == "rejection_flood")
        .expect("flood found");
    assert_eq!((flood.player, flood.commands.len()), (Some(g.bob), 48));
    let tick = g.plant_commands(g.alice, 12).await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let budget = findings
        .iter()
        .find(|f| f.rule == "action_budget")
        .expect("budget found");
    assert_eq!(
        (budget.player, budget.tick, budget.commands.len()),
        (Some(g.alice), tick, 12)
    );
}

#[tokio::test]
async fn verify_finds_a_tampered_byte_and_says_where() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    assert!(
        verify(g.store.as_ref(), |_| {})
            .await
            .expect("verify")
            .is_intact()
    );
    g.tamper(5).await;
    let report = verify(g.store.as_ref(), |_| {}).await.expect("verify");
    assert!(
        matches!(report, VerifyReport::Broken { verified: 4, .. }),
        "{report}"
    );
    assert!(report.to_string().contains("position 5"));
}

#[tokio::test]
async fn resimulate_reproduces_a_history_of_the_real_tick_writer_byte_for_byte() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    // A disconnect, and a player who enters later.
    g.driver
        .writer
        .take(loh_tick_writer::tick::Intake::Disconnect {
            player_id: g.bob,
            conn_id: 1,
        });
    g.tick().await;
    g.tick().await;
    let report = resimulate(g.store.as_ref(), World::new(MapConfig::default()), |_| {})
        .await
        .expect("resimulate");
    assert!(report.is_identical(), "{report}");
    let ResimReport::Identical { events, .. } = report else {
        unreachable!()
    };
    assert_eq!(events, g.store.head().await.expect("head").position);
}

/// A fight to the death outside PvP, the grave and its reclaim, through the real tick writer:
/// the re-simulation reproduces them byte for byte.
#[tokio::test]
async fn resimulate_reproduces_a_death_its_grave_and_the_reclaim_byte_for_byte() {
    let mut g = Game::sqlite().await;
    let alice = g.alice;
    g.send(
        alice,
        Command::WalkTo {
            x: 3220,
            y: 3230,
            run: false,
        },
    );
    for _ in 0..15 {
        g.tick().await;
    }
    // The town guard (NPC 0) is far too strong for a new player.
    g.send(alice, Command::AttackNpc { npc: 0 });
    let mut grave = None;
    for _ in 0..400 {
        g.tick().await;
        let w = g.world().await;
        grave = w
            .ground_items()
            .find(|i| i.owner == Some(alice))
            .map(|i| (i.x, i.y));
        if grave.is_some() {
            break;
        }
    }
    let (x, y) = grave.expect("alice died and left a grave");
    let head = g.store.head().await.expect("head").position;
    let deaths: Vec<usize> = g
        .store
        .read_from(1, head as usize)
        .await
        .expect("read")
        .iter()
        .filter_map(|e| match e.body().expect("body") {
            EventBody::PlayerDied {
                player_id, kept, ..
            } if player_id == alice => Some(kept.len()),
            _ => None,
        })
        .collect();
    assert_eq!(deaths, [3], "one death, the three most valuable items kept");
    g.send(alice, Command::WalkTo { x, y, run: true });
    for _ in 0..30 {
        g.tick().await;
    }
    g.send(alice, Command::ReclaimGrave);
    g.tick().await;
    let w = g.world().await;
    assert!(
        w.ground_items().all(|i| i.owner != Some(alice)),
        "the grave was reclaimed"
    );
    assert!(w.player(alice).unwrap().inventory.count("coins") >= 25);
    w.check_conservation().expect("value is conserved");
    g.assert_resimulates_byte_for_byte().await;
}

/// A magic fight: runes bought, a spell chosen, goblin archers that shoot back from afar, made
/// by the real tick writer; the re-simulation reproduces it byte for byte.
#[tokio::test]
async fn resimulate_reproduces_a_fight_with_spells_and_arrows_byte_for_byte() {
    let mut g = Game::sqlite().await;
    let alice = g.alice;
    g.walk_to_the_bow_and_rune_shop(alice).await;
    for (item, qty) in [("air_rune", 3), ("mind_rune", 3)] {
        g.send(
            alice,
            Command::Buy {
                shop: "archery_and_runes".into(),
                item: item.into(),
                qty,
            },
        );
        g.tick().await;
    }
    g.send(
        alice,
        Command::SetAutocast {
            spell: Some("wind_strike".into()),
        },
    );
    g.tick().await;
    g.fight_a_goblin_archer(alice, 3231, 40).await;
    let w = g.world().await;
    let a = w.player(alice).unwrap();
    assert_eq!(
        a.inventory.count("mind_rune"),
        0,
        "three casts burned the runes"
    );
    assert!(a.skills.xp(loh_events::Skill::Magic) >= 15);
    w.check_conservation().expect("value is conserved");
    g.assert_resimulates_byte_for_byte().await;
}

/// A bow fight: bob gives alice his coins in a trade, she buys a shortbow and arrows and shoots
/// a goblin archer, arrows breaking and falling; the re-simulation reproduces it byte for byte.
#[tokio::test]
async fn resimulate_reproduces_a_bow_fight_byte_for_byte() {
    let mut g = Game::sqlite().await;
    let (alice, bob) = (g.alice, g.bob);
    g.send(alice, Command::TradeRequest { player_id: bob });
    g.tick().await;
    g.send(bob, Command::TradeRequest { player_id: alice });
    g.tick().await;
    // The starter kit's coins are in slot 6.
    g.send(bob, Command::TradeOffer { slot: 6, qty: 25 });
    g.tick().await;
    for _ in 0..2 {
        g.send(alice, Command::TradeAccept);
        g.send(bob, Command::TradeAccept);
        g.tick().await;
    }
    assert_eq!(
        g.world()
            .await
            .player(alice)
            .unwrap()
            .inventory
            .count("coins"),
        50
    );
    g.walk_to_the_bow_and_rune_shop(alice).await;
    let shop = |item: &str, qty| Command::Buy {
        shop: "archery_and_runes".into(),
        item: item.into(),
        qty,
    };
    g.send(alice, shop("shortbow", 1));
    g.tick().await;
    // Two loaves of bread sold pay for a handful of arrows.
    for slot in [4, 5] {
        g.send(
            alice,
            Command::Sell {
                shop: "archery_and_runes".into(),
                slot,
                qty: 1,
            },
        );
        g.tick().await;
    }
    g.send(alice, shop("bronze_arrow", 6));
    g.tick().await;
    let bow = g
        .world()
        .await
        .player(alice)
        .unwrap()
        .inventory
        .slots()
        .find(|(_, s)| s.item == "shortbow")
        .map(|(slot, _)| slot)
        .expect("alice bought a shortbow");
    assert_eq!(
        g.world()
            .await
            .player(alice)
            .unwrap()
            .inventory
            .count("bronze_arrow"),
        6
    );
    g.send(alice, Command::Equip { slot: bow });
    g.tick().await;
    g.fight_a_goblin_archer(alice, 3233, 30).await;
    let w = g.world().await;
    assert!(
        w.player(alice).unwrap().inventory.count("bronze_arrow") < 6,
        "alice shot arrows"
    );
    assert!(
        w.player(alice)
            .unwrap()
            .skills
            .xp(loh_events::Skill::Ranged)
            > 0
            || w.ground_items().any(|i| i.item == "bronze_arrow"),
        "the arrows flew at the archer"
    );
    w.check_conservation().expect("value is conserved");
    g.assert_resimulates_byte_for_byte().await;
    // And the investigator's scan finds nothing wrong in an honest fight: arrows broken and
    // runes burned are sinks, not losses.
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[tokio::test]
async fn resimulate_reports_the_first_divergence_with_both_sides() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let (x, y) = {
        let w = g.world().await;
        let p = w.player(g.alice).expect("alice");
        (p.x, p.y)
    };
    let planted = g
        .plant(vec![EventBody::PlayerMoved {
            player_id: g.alice,
            from_x: x,
            from_y: y,
            x: x + 7,
            y,
            running: true,
            path_to: None,
        }])
        .await;
    let report = resimulate(g.store.as_ref(), World::new(MapConfig::default()), |_| {})
        .await
        .expect("resimulate");
    let ResimReport::Diverged(d) = &report else {
        panic!("{report}")
    };
    assert_eq!(d.position, planted, "{report}");
    // The re-simulation of that tick makes something else there, or nothing: NPCs wander in
    // a tick without commands.
    assert!(d.stored.is_some() && d.replayed != d.stored, "{report}");
}

#[tokio::test]
async fn verify_checks_the_checkpoints_the_tick_writer_signed() {
    let (mut g, key) = Game::sqlite_signed().await;
    g.play_honestly().await;
    let checkpoints = g.store.checkpoints().await.expect("checkpoints");
    assert!(checkpoints.len() >= 3, "{checkpoints:?}");
    let report = verify_signed(g.store.as_ref(), Some(key.public_pem()), |_| {})
        .await
        .expect("verify");
    let VerifyReport::Intact {
        checkpoints: n,
        signatures_checked,
        count,
        unsigned_tail,
        ..
    } = report
    else {
        panic!("{report}")
    };
    assert_eq!((n, signatures_checked), (checkpoints.len() as u64, true));
    let last = checkpoints.last().expect("a checkpoint").position;
    assert_eq!(
        unsigned_tail,
        count - last,
        "the events after the last checkpoint"
    );
}

#[tokio::test]
async fn verify_finds_a_rewritten_and_rechained_history_by_its_signed_checkpoint() {
    let (mut g, key) = Game::sqlite_signed().await;
    g.play_honestly().await;
    g.rewrite(5).await;
    let report = verify_signed(g.store.as_ref(), Some(key.public_pem()), |_| {})
        .await
        .expect("verify");
    let VerifyReport::Broken {
        problem: Problem::CheckpointHash { position },
        ..
    } = &report
    else {
        panic!("{report}")
    };
    assert!(*position >= 5, "{report}");
}

#[tokio::test]
async fn verify_finds_a_checkpoint_signed_by_another_key() {
    let (mut g, key) = Game::sqlite_signed().await;
    g.play_honestly().await;
    let other = tokio::task::spawn_blocking(|| SigningKey::generate().expect("key"))
        .await
        .expect("keygen");
    // A position the writer did not sign (it signed the head).
    let e = &g.store.read_from(3, 1).await.expect("read")[0];
    let head = loh_events::Head {
        position: e.position,
        hash: e.hash,
    };
    let forged = loh_events::Checkpoint {
        position: head.position,
        hash: head.hash,
        signature: sign_checkpoint(
            &other,
            &CheckpointClaims::new(helpers::SHARD, head.position, &head.hash),
        )
        .expect("sign"),
        created_at_us: 0,
    };
    g.store.put_checkpoint(&forged).await.expect("put");
    assert!(
        verify(g.store.as_ref(), |_| {})
            .await
            .expect("verify")
            .is_intact(),
        "hashes match"
    );
    let report = verify_signed(g.store.as_ref(), Some(key.public_pem()), |_| {})
        .await
        .expect("verify");
    assert!(
        matches!(report, VerifyReport::Broken { problem: Problem::CheckpointSignature { position, .. }, .. } if position == head.position),
        "{report}"
    );
}

#[tokio::test]
async fn export_writes_a_bundle_that_verify_checks_offline_and_one_changed_byte_breaks() {
    let (mut g, key) = Game::sqlite_signed().await;
    g.play_honestly().await;
    let out = tempfile::tempdir().expect("tempdir");
    let manifest = loh_replay::bundle::export(
        g.store.as_ref(),
        g.alice,
        Some(key.public_pem().to_owned()),
        out.path(),
        |_| {},
    )
    .await
    .expect("export");
    assert_eq!(manifest.player, g.alice);
    for file in [
        "manifest.json",
        "events.jsonl",
        "checkpoints.json",
        "journal.json",
        "timeline.json",
        "findings.json",
    ] {
        assert!(out.path().join(file).exists(), "{file}");
    }
    drop(g);
    let report =
        loh_replay::bundle::verify_bundle(out.path(), key.public_pem()).expect("verify bundle");
    assert!(
        matches!(
            report,
            VerifyReport::Intact {
                signatures_checked: true,
                ..
            }
        ),
        "{report}"
    );

    // Checked with another key (a forger's bundle carries the forger's key in its manifest):
    // the checkpoints' signatures fail; the bundle's own key is never trusted.
    let other = tokio::task::spawn_blocking(|| SigningKey::generate().expect("key"))
        .await
        .expect("keygen");
    let report =
        loh_replay::bundle::verify_bundle(out.path(), other.public_pem()).expect("verify bundle");
    assert!(
        matches!(
            report,
            VerifyReport::Broken {
                problem: Problem::CheckpointSignature { .. },
                ..
            }
        ),
        "{report}"
    );

    // Without its checkpoints the chain still links, but nothing proves the server wrote it.
    let cps = out.path().join("checkpoints.json");
    let saved = std::fs::read(&cps).expect("read");
    std::fs::write(&cps, "[]").expect("write");
    let report = loh_replay::bundle::verify_bundle(out.path(), key.public_pem()).expect("verify");
    assert!(!report.is_intact(), "{report}");
    if manifest.anchor_checkpoint.is_none() {
        assert!(
            matches!(
                report,
                VerifyReport::Broken {
                    problem: Problem::NoCheckpoint,
                    ..
                }
            ),
            "{report}"
        );
    }
    std::fs::write(&cps, saved).expect("write");

    let path = out.path().join("events.jsonl");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let i = lines.len() / 2;
    let at = lines[i].find("\"payload\":\"").expect("payload") + 11;
    let mut bytes = lines[i].clone().into_bytes();
    bytes[at] = if bytes[at] == b'7' { b'6' } else { b'7' };
    lines[i] = String::from_utf8(bytes).expect("utf-8");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let report =
        loh_replay::bundle::verify_bundle(out.path(), key.public_pem()).expect("verify bundle");
    assert!(
        matches!(
            report,
            VerifyReport::Broken {
                problem: Problem::Chain(loh_events::ChainBreak::HashMismatch { .. }),
                ..
            }
        ),
        "{report}"
    );
}

#[tokio::test]
async fn every_tool_reads_a_postgres_history_of_the_real_tick_writer() {
    let db = loh_testkit::TestDb::create().await;
    let store = loh_events::PgEventStore::connect(&db.url, helpers::SHARD)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let key = tokio::task::spawn_blocking(|| SigningKey::generate().expect("key"))
        .await
        .expect("keygen");
    let mut g = Game::on(std::sync::Arc::new(store), Some(key.clone())).await;
    g.play_honestly().await;
    let report = verify_signed(g.store.as_ref(), Some(key.public_pem()), |_| {})
        .await
        .expect("verify");
    assert!(
        matches!(
            report,
            VerifyReport::Intact {
                checkpoints: 3..,
                signatures_checked: true,
                ..
            }
        ),
        "{report}"
    );
    let resim = resimulate(g.store.as_ref(), World::new(MapConfig::default()), |_| {})
        .await
        .expect("resimulate");
    assert!(resim.is_identical(), "{resim}");
    assert!(
        scan(g.store.as_ref(), Range::default(), |_| {})
            .await
            .expect("scan")
            .is_empty()
    );
    let entries = timeline(g.store.as_ref(), g.alice, &Filter::default(), |_| {})
        .await
        .expect("timeline");
    assert_eq!(entries.iter().filter(|e| e.source == "command").count(), 6);
    let now = state_at(g.store.as_ref(), g.alice, At::Tick(u64::MAX))
        .await
        .expect("state")
        .expect("alice");
    assert_eq!(now.wallet.total, 25);
}

#[tokio::test]
async fn diff_finds_every_row_a_read_model_has_wrong_and_nothing_in_a_faithful_one() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let live = loh_projections::ReadDb::connect(g.sqlite_url.as_deref().expect("url"))
        .await
        .expect("read db");
    let scratch = tempfile::tempdir().expect("tempdir");
    for name in loh_projections::names() {
        let projection = loh_projections::by_name(name).expect("projection");
        if projection.partition_of().is_some() {
            continue;
        }
        loh_projections::Projector::new(projection, live.clone(), g.store.clone())
            .catch_up()
            .await
            .expect("catch up");
        let dir = scratch.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let report = loh_replay::diff::diff(g.store.clone(), &live, name, &dir)
            .await
            .expect("diff");
        assert!(
            report.differences.is_empty(),
            "{name}: {:#?}",
            report.differences
        );
        assert!(report.position > 0, "{name}");
    }
    sqlx::query("UPDATE rm_player_position SET x = x + 100")
        .execute(live.pool())
        .await
        .expect("corrupt the read model");
    let dir = scratch.path().join("again");
    std::fs::create_dir_all(&dir).expect("dir");
    let report = loh_replay::diff::diff(g.store.clone(), &live, "player_position", &dir)
        .await
        .expect("diff");
    assert_eq!(report.differences.len(), 2, "{:#?}", report.differences);
    assert!(
        report
            .differences
            .iter()
            .all(|d| d.table == "rm_player_position" && d.live.is_some() && d.rebuilt.is_some())
    );
}

#[tokio::test]
async fn scan_finds_impossible_xp_and_a_lopsided_trade_between_linked_accounts() {
    let mut g = Game::sqlite().await;
    g.play_honestly().await;
    let xp = g
        .plant(vec![EventBody::XpGained {
            player_id: g.alice,
            skill: loh_events::Skill::Attack,
            xp: 50_000,
        }])
        .await;
    let coins = |qty| {
        vec![loh_events::ItemQty {
            item: "coins".into(),
            qty,
        }]
    };
    let mut trades = Vec::new();
    for _ in 0..2 {
        trades.push(
            g.plant(vec![EventBody::TradeSettled {
                player_id: g.bob,
                with: g.alice,
                gave: coins(20),
                got: Vec::new(),
            }])
            .await,
        );
    }
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let rate = findings
        .iter()
        .find(|f| f.rule == "xp_rate")
        .expect("xp rate found");
    assert_eq!(
        (rate.player, rate.positions.clone()),
        (Some(g.alice), vec![xp])
    );
    let lopsided: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "lopsided_trade")
        .collect();
    assert_eq!(
        lopsided.len(),
        1,
        "the first trade alone does not link them: {findings:#?}"
    );
    assert_eq!(lopsided[0].positions, trades);
}

#[tokio::test]
async fn scan_reports_a_refunded_purchase_whose_bonds_moved_to_another_account_and_its_debt() {
    use loh_world::payments::{Payment, PaymentKind};
    let bond = loh_events::value::BOND;
    let g = Game::sqlite().await;
    let (alice, bob) = (g.alice, g.bob);
    let bought = Payment {
        id: "evt_paid".into(),
        what: PaymentKind::Paid {
            player_id: alice,
            purchase: "pi_1".into(),
            product: "bonds_5".into(),
        },
    };
    g.plant(g.world().await.decide_payment(&bought)).await;
    g.plant(vec![EventBody::BankWithdrawn {
        player_id: alice,
        item: bond.into(),
        qty: 5,
    }])
    .await;
    let slot = |w: &loh_world::World| {
        w.player(alice)
            .unwrap()
            .inventory
            .slots()
            .find(|(_, s)| s.item == bond)
            .unwrap()
            .0
    };
    // Two go to bob in a trade; alice drops the other three and they despawn.
    g.plant(vec![EventBody::TradeSettled {
        player_id: alice,
        with: bob,
        gave: vec![loh_events::ItemQty {
            item: bond.into(),
            qty: 2,
        }],
        got: vec![],
    }])
    .await;
    let w = g.world().await;
    let ground = loh_events::GroundItem {
        ground_id: 999,
        item: bond.into(),
        qty: 3,
        x: 3222,
        y: 3218,
        owner: Some(alice),
        public_at: 0,
        despawn_at: 0,
    };
    g.plant(vec![
        EventBody::ItemDropped {
            player_id: alice,
            slot: slot(&w),
            ground: ground.clone(),
        },
        EventBody::GroundItemDespawned {
            ground_id: 999,
            item: bond.into(),
            qty: 3,
        },
    ])
    .await;
    let refund = Payment {
        id: "evt_refund".into(),
        what: PaymentKind::ClawBack {
            purchase: "pi_1".into(),
        },
    };
    let clawed = g.world().await.decide_payment(&refund);
    assert!(
        matches!(&clawed[..], [EventBody::BondsClawedBack { player_id, .. }, EventBody::PurchaseDebtRecorded { bonds: 3, .. }] if *player_id == bob),
        "{clawed:?}"
    );
    let at = g.plant(clawed).await;
    let findings = scan(g.store.as_ref(), Range::default(), |_| {})
        .await
        .expect("scan");
    let moved: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "refunded_bonds_moved")
        .collect();
    assert_eq!(moved.len(), 1, "{findings:#?}");
    assert_eq!(moved[0].player, Some(alice));
    assert_eq!(moved[0].positions, vec![at]);
    assert!(moved[0].message.contains(&bob.to_string()));
    let debt: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "purchase_debt")
        .collect();
    assert_eq!(debt.len(), 1, "{findings:#?}");
    assert_eq!(debt[0].positions, vec![at + 1]);
    assert!(
        findings.iter().all(|f| f.rule != "value_not_conserved"),
        "bonds are minted and burned through known sources: {findings:#?}"
    );
}

#[tokio::test]
async fn state_and_resimulate_from_a_snapshot_agree_with_genesis_and_still_find_a_planted_event() {
    let (mut g, key) = Game::sqlite_snapshotting(3).await;
    g.play_honestly().await;
    g.driver.writer.finish_snapshot().await;
    let store = g.store.as_ref();
    let head = store.head().await.expect("head").position;
    let fresh = World::new(MapConfig::default());
    let (start, refused) = loh_replay::snapshot::newest(store, &fresh, key.public_pem(), |_| true)
        .await
        .expect("snapshots");
    assert!(refused.is_empty(), "{refused:?}");
    let start = start.expect("a snapshot");
    assert!(
        start.position < head,
        "the test needs a tail after the snapshot"
    );

    // Re-simulation from the snapshot re-runs only the tail, identically.
    let whole = resimulate(store, fresh.clone(), |_| {})
        .await
        .expect("resimulate");
    let tail = resimulate_from(store, fresh.clone(), Some(start.clone()), |_| {})
        .await
        .expect("resimulate");
    let (
        ResimReport::Identical {
            ticks: t1,
            events: e1,
            ..
        },
        ResimReport::Identical {
            ticks: t2,
            events: e2,
            ..
        },
    ) = (&whole, &tail)
    else {
        panic!("{whole} / {tail}")
    };
    assert_eq!(*e1, head);
    assert_eq!(*e2, head - start.position);
    assert!(t2 < t1);

    // A player's state now, and at a tick before the snapshot (an older snapshot or genesis).
    for at in [At::Tick(u64::MAX), At::Tick(start.event_tick - 1)] {
        let within = |e: &loh_events::StoredEvent| at.includes(e.tick, e.occurred_at_us);
        let (from, _) = loh_replay::snapshot::newest(store, &fresh, key.public_pem(), within)
            .await
            .expect("snapshots");
        if let Some(s) = &from {
            assert!(at.includes(s.event_tick, 0));
        }
        let a = state_at_from(store, g.alice, at, from)
            .await
            .expect("state");
        let b = state_at(store, g.alice, at).await.expect("state");
        assert_eq!(a, b, "{at:?}");
    }

    // Another key's snapshots are all refused: fold from position 1.
    let other = SigningKey::generate().expect("key");
    let (none, refused) = loh_replay::snapshot::newest(store, &fresh, other.public_pem(), |_| true)
        .await
        .expect("snapshots");
    assert!(none.is_none());
    assert_eq!(
        refused.len(),
        store.snapshot_positions().await.expect("list").len()
    );

    // A forged event after the snapshot is still found from it.
    let (x, y) = {
        let w = g.world().await;
        let p = w.player(g.alice).expect("alice");
        (p.x, p.y)
    };
    let planted = g
        .plant(vec![EventBody::PlayerMoved {
            player_id: g.alice,
            from_x: x,
            from_y: y,
            x: x + 7,
            y,
            running: true,
            path_to: None,
        }])
        .await;
    let report = resimulate_from(g.store.as_ref(), fresh, Some(start), |_| {})
        .await
        .expect("resimulate");
    let ResimReport::Diverged(d) = &report else {
        panic!("{report}")
    };
    assert_eq!(d.position, planted, "{report}");
}
