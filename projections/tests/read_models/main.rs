//! Every read model, folded from a long random game history played by the real world
//! (`World::decide`/`apply`), equals the state computed directly from the events, on PostgreSQL
//! and on SQLite; and a rebuild into shadow tables gives the same read models again.

use loh_commands::Command;
use loh_events::pg::PgEventStore;
use loh_events::sqlite::SqliteEventStore;
use loh_events::{
    AppendBatch, EventBody, EventStore, GroundItem, ItemQty, NewEvent, Skill, StoredEvent,
};
use loh_projections::flows::{COINS, hour_of, mints_and_burns};
use loh_projections::holdings::slot_name;
use loh_projections::skills::{skill_name, xp_of};
use loh_projections::{Projector, ReadDb};
use loh_testkit::{TestDb, unique_name};
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use uuid::Uuid;

const PLAYERS: u128 = 8;

/// Tiles worth standing on: town, bank, store, armoury, forest, mine, furnace, river, fields,
/// altar, PvP zone (as in the world's property tests).
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

const ITEMS: [&str; 9] = [
    "coins",
    "chisel",
    "bronze_axe",
    "bread",
    "logs",
    "hammer",
    "steel_sword",
    "copper_ore",
    "bronze_sword",
];

fn player(i: u128) -> Uuid {
    Uuid::from_u128(i % PLAYERS + 1)
}

fn command(rng: &mut ChaCha8Rng) -> Command {
    let slot = rng.random_range(0u8..28);
    let qty = [1u32, 2, 3, 5, 10][rng.random_range(0..5)];
    let item = ITEMS[rng.random_range(0..ITEMS.len())].to_owned();
    let spot = SPOTS[rng.random_range(0..SPOTS.len())];
    let other = player(rng.random_range(0..PLAYERS));
    match rng.random_range(0..24) {
        0 => Command::WalkTo {
            x: spot.0,
            y: spot.1,
            run: rng.random(),
        },
        1 => Command::MoveItem {
            from: slot,
            to: rng.random_range(0..28),
        },
        2 => Command::DropItem { slot },
        3 => Command::PickUp {
            ground_id: rng.random_range(1..80),
        },
        4 => Command::Eat { slot },
        5 => Command::BankDeposit { slot, qty },
        6 => Command::BankDepositAll,
        7 => Command::BankWithdraw { item, qty },
        8 | 9 => Command::Equip { slot },
        10 => Command::Unequip {
            equip_slot: "weapon".into(),
        },
        11 | 12 => Command::Gather {
            x: spot.0 - 1,
            y: spot.1 - 1,
        },
        13 => Command::Produce {
            recipe: ["smelt_bronze_bar", "smith_bronze_sword", "cut_sapphire"]
                [rng.random_range(0..3)]
            .into(),
        },
        14 => Command::Buy {
            shop: "general_store".into(),
            item,
            qty,
        },
        15 => Command::Sell {
            shop: "general_store".into(),
            slot,
            qty,
        },
        16 => Command::AttackNpc {
            npc: rng.random_range(0..12),
        },
        17 => Command::AttackPlayer { player_id: other },
        18 => Command::TradeRequest { player_id: other },
        19 => Command::TradeOffer { slot, qty },
        20 => Command::TradeAccept,
        21 => Command::Bury { slot },
        22 => Command::OfferAtAltar { slot },
        _ => Command::Pray {
            prayer: "thick_skin".into(),
            on: rng.random(),
        },
    }
}

/// A game history: every event with its tick, and the world that applied them.
struct History {
    world: World,
    events: Vec<(u64, EventBody)>,
}

/// Plays `ticks` ticks of random input from a fresh world.
fn play(seed: u64, ticks: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ids: Vec<Uuid> = (0..PLAYERS).map(player).collect();
    let mut sim = Sim::new(World::new(MapConfig::default()));
    let mut events = Vec::new();
    let online: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    let out = sim.tick(&ids, &online, &[]);
    events.extend(out.events.into_iter().map(|(_, e)| (1, e)));
    for i in 0..ticks {
        let tick = sim.world.tick() + 1;
        if i % 5 == 0 {
            // Scatter the players now and then, so that every system is within reach.
            for (k, id) in ids.iter().enumerate() {
                let p = sim.world.player(*id).expect("spawned");
                let (x, y) = SPOTS[(k + (i / 5) as usize) % SPOTS.len()];
                let e = EventBody::PlayerMoved {
                    player_id: *id,
                    from_x: p.x,
                    from_y: p.y,
                    x,
                    y,
                    running: false,
                    path_to: None,
                };
                sim.world.apply(&e);
                events.push((tick - 1, e));
            }
        }
        let presence: Vec<(Uuid, bool)> = if rng.random_range(0..10) == 0 {
            vec![(ids[rng.random_range(0..ids.len())], rng.random())]
        } else {
            Vec::new()
        };
        let mut commands: Vec<(Uuid, Command)> = (0..rng.random_range(0..14))
            .map(|_| (player(rng.random_range(0..PLAYERS)), command(&mut rng)))
            .collect();
        commands.sort_by_key(|(p, _)| *p);
        let out = sim.tick(&[], &presence, &commands);
        events.extend(out.events.into_iter().map(|(_, e)| (tick, e)));
        if i % 40 == 39 {
            // What random input rarely reaches: settled trades, recipes, kills, PvP deaths.
            let tick = sim.world.tick();
            for e in scripted(&sim.world, &mut rng, i) {
                sim.world.apply(&e);
                events.push((tick, e));
            }
        }
    }
    History {
        world: sim.world,
        events,
    }
}

/// A settled trade, a recipe, an NPC kill with loot and a PvP death, built from the world's
/// current holdings so that the world can apply them.
fn scripted(world: &World, rng: &mut ChaCha8Rng, i: u64) -> Vec<EventBody> {
    let a = player(rng.random_range(0..PLAYERS));
    let b = player(a.as_u128() % PLAYERS);
    let (pa, pb) = (world.player(a).expect("a"), world.player(b).expect("b"));
    let first = |p: &loh_world::Player| {
        p.inventory
            .slots()
            .next()
            .map(|(_, s)| (s.item.clone(), s.qty))
    };
    let mut out = Vec::new();
    if let (Some((gave, gave_qty)), Some((got, got_qty))) = (first(pa), first(pb)) {
        out.push(EventBody::TradeSettled {
            player_id: a,
            with: b,
            gave: vec![ItemQty {
                item: gave,
                qty: gave_qty.min(3),
            }],
            got: vec![ItemQty {
                item: got,
                qty: got_qty.min(2),
            }],
        });
    }
    out.push(EventBody::ItemsMinted {
        player_id: a,
        item: "copper_ore".into(),
        qty: 1,
        source: "test".into(),
    });
    out.push(EventBody::ItemsProduced {
        player_id: a,
        recipe: "smelt".into(),
        consumed: vec![ItemQty {
            item: "copper_ore".into(),
            qty: 1,
        }],
        produced: vec![ItemQty {
            item: "bronze_bar".into(),
            qty: 1,
        }],
        skill: Skill::Smithing,
        xp: 6_250,
    });
    let ground = |k: u64, item: &str, qty: u32| GroundItem {
        ground_id: 1_000_000 + i * 100 + k,
        item: item.into(),
        qty,
        x: 3222,
        y: 3218,
        owner: Some(a),
        public_at: world.tick() + 100,
        despawn_at: world.tick() + 200,
    };
    out.push(EventBody::NpcDied {
        npc: 0,
        killer: Some(a),
        respawn_at: world.tick() + 10,
        loot: vec![ground(0, "bones", 1), ground(1, "coins", 7)],
    });
    // A PvP death drops the inventory and the equipment (after the trade and the recipe, which
    // the world applies first: so read the holdings as they will be).
    let mut after = world.clone();
    for e in &out {
        after.apply(e);
    }
    let pb = after.player(b).expect("b");
    let mut dropped: Vec<GroundItem> = pb
        .inventory
        .slots()
        .map(|(k, s)| ground(10 + u64::from(k), &s.item, s.qty))
        .collect();
    // Every other round the death is outside PvP: the worn items (up to three) are kept and
    // come back into the inventory, the rest lies in the grave.
    let grave = i % 2 == 1;
    let mut kept = Vec::new();
    for (k, item) in pb.equipment.iter().enumerate() {
        if let Some(item) = item {
            if grave && kept.len() < 3 {
                kept.push(ItemQty {
                    item: item.clone(),
                    qty: 1,
                });
            } else {
                dropped.push(ground(50 + k as u64, item, 1));
            }
        }
    }
    if (!dropped.is_empty() || !kept.is_empty()) && a != b {
        out.push(EventBody::PlayerDied {
            player_id: b,
            killer: if grave { None } else { Some(a) },
            x: 3222,
            y: 3218,
            dropped,
            kept,
        });
    }
    out
}

/// One minute of game time per tick from a fixed start, so the history spans several hours.
const START_US: i64 = 1_780_000_000_000_000;

async fn append(store: &dyn EventStore, history: &History) -> Vec<StoredEvent> {
    append_part(store, history, 0..history.events.len()).await
}

/// Appends the events `part` of `history` (the ones before it must be stored already).
async fn append_part(
    store: &dyn EventStore,
    history: &History,
    part: std::ops::Range<usize>,
) -> Vec<StoredEvent> {
    let lease = store.acquire().await.expect("acquire the shard lease");
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for (_, body) in &history.events[..part.start] {
        *versions.entry(body.stream_id()).or_insert(0) += 1;
    }
    let mut stored = Vec::new();
    for chunk in history.events[part].chunks(400) {
        let events = chunk
            .iter()
            .map(|(tick, body)| {
                let stream_id = body.stream_id();
                let version = versions.entry(stream_id.clone()).or_insert(0);
                *version += 1;
                NewEvent {
                    event_id: Uuid::new_v4(),
                    stream_id,
                    stream_version: *version,
                    tick: *tick,
                    correlation_id: Uuid::new_v4(),
                    causation_id: None,
                    occurred_at_us: START_US + *tick as i64 * 60_000_000,
                    body: body.clone(),
                }
            })
            .collect();
        let appended = store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: vec![],
                },
            )
            .await
            .expect("append");
        stored.extend(appended.events);
    }
    stored
}

type Rows = BTreeSet<Vec<String>>;

/// Every row of `sql`, each column as text (integers formatted), as a set.
async fn rows(db: &ReadDb, sql: &'static str) -> Rows {
    let rows = sqlx::query(sql)
        .fetch_all(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.try_get::<i64, _>(i) {
                    Ok(v) => v.to_string(),
                    Err(_) => r.try_get::<String, _>(i).expect("text or integer"),
                })
                .collect()
        })
        .collect()
}

fn row(cols: impl IntoIterator<Item = String>) -> Vec<String> {
    cols.into_iter().collect()
}

/// What the read models must hold, computed from the world that applied the events and from the
/// events themselves, without the projections' folds.
struct Expected {
    holdings: Rows,
    equipment: Rows,
    wallet: Rows,
    skills: Rows,
    totals: Rows,
    supply: Rows,
    economy: Rows,
    trades: Rows,
    xp: Rows,
    profile: Rows,
}

fn expected(history: &History, stored: &[StoredEvent]) -> Expected {
    let world = &history.world;
    let mut e = Expected {
        holdings: Rows::new(),
        equipment: Rows::new(),
        wallet: Rows::new(),
        skills: Rows::new(),
        totals: Rows::new(),
        supply: Rows::new(),
        economy: Rows::new(),
        trades: Rows::new(),
        xp: Rows::new(),
        profile: Rows::new(),
    };
    // Who reached their skill totals when: the position of the last XP gain that counted.
    let mut reached: BTreeMap<(Uuid, Skill), u64> = BTreeMap::new();
    let mut total_reached: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut xp_so_far: BTreeMap<(Uuid, Skill), u64> = BTreeMap::new();
    let mut deaths: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut kills: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut economy: BTreeMap<(i64, String, &str, String), u64> = BTreeMap::new();
    let mut trades: BTreeMap<(i64, String), (u64, u64)> = BTreeMap::new();
    let mut xp_hourly: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut spawned: BTreeMap<Uuid, (u64, i64)> = BTreeMap::new();
    let mut last_seen: BTreeMap<Uuid, i64> = BTreeMap::new();
    for event in stored {
        let body = event.body().expect("decode");
        let hour = hour_of(event);
        for (flow, reason, item, qty) in mints_and_burns(&body) {
            *economy
                .entry((hour, item.to_owned(), flow.as_str(), reason.to_owned()))
                .or_default() += u64::from(qty);
        }
        if let Some((id, skill, xp)) = xp_of(&body) {
            *xp_hourly.entry((hour, skill_name(skill))).or_default() += u64::from(xp);
            let have = xp_so_far.entry((id, skill)).or_default();
            if *have < 200_000_000 {
                reached.insert((id, skill), event.position);
                total_reached.insert(id, event.position);
            }
            *have = (*have + u64::from(xp)).min(200_000_000);
        }
        match body {
            EventBody::PlayerSpawned { player_id, .. } => {
                spawned.insert(player_id, (event.position, event.occurred_at_us));
                total_reached.insert(player_id, event.position);
                for skill in Skill::ALL {
                    reached.insert((player_id, skill), event.position);
                }
            }
            EventBody::PlayerPresence { player_id, .. } => {
                last_seen.insert(player_id, event.occurred_at_us);
            }
            EventBody::PlayerDied {
                player_id, killer, ..
            } => {
                *deaths.entry(player_id).or_default() += 1;
                if let Some(k) = killer {
                    *kills.entry(k).or_default() += 1;
                }
            }
            EventBody::TradeSettled { gave, got, .. } => {
                for s in gave.iter().chain(&got) {
                    trades.entry((hour, s.item.clone())).or_default().0 += u64::from(s.qty);
                }
                trades.entry((hour, "*".into())).or_default().1 += 1;
            }
            _ => {}
        }
    }
    for ((hour, item, flow, reason), qty) in economy {
        e.economy.insert(row([
            hour.to_string(),
            item,
            flow.into(),
            reason,
            qty.to_string(),
        ]));
    }
    for ((hour, item), (qty, n)) in trades {
        e.trades.insert(row([
            hour.to_string(),
            item,
            qty.to_string(),
            n.to_string(),
        ]));
    }
    for ((hour, skill), xp) in xp_hourly {
        e.xp.insert(row([hour.to_string(), skill, xp.to_string()]));
    }
    let ledger = world.ledger();
    let items: BTreeSet<&String> = ledger.minted.keys().chain(ledger.burned.keys()).collect();
    for item in items {
        e.supply.insert(row([
            item.clone(),
            ledger.minted.get(item).copied().unwrap_or(0).to_string(),
            ledger.burned.get(item).copied().unwrap_or(0).to_string(),
        ]));
    }
    for (id, p) in world.players() {
        let pid = id.to_string();
        let mut inventory: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, s) in p.inventory.slots() {
            *inventory.entry(&s.item).or_default() += u64::from(s.qty);
        }
        for (item, qty) in &inventory {
            e.holdings.insert(row([
                pid.clone(),
                "inventory".into(),
                item.to_string(),
                qty.to_string(),
            ]));
        }
        for (item, qty) in &p.bank {
            e.holdings.insert(row([
                pid.clone(),
                "bank".into(),
                item.clone(),
                qty.to_string(),
            ]));
        }
        for (slot, item) in loh_events::EquipSlot::ALL.iter().zip(&p.equipment) {
            if let Some(item) = item {
                e.equipment
                    .insert(row([pid.clone(), slot_name(*slot), item.clone()]));
            }
        }
        let coins = inventory.get(COINS).copied().unwrap_or(0)
            + u64::from(p.bank.get(COINS).copied().unwrap_or(0));
        e.wallet
            .insert(row([pid.clone(), COINS.into(), coins.to_string()]));
        let (mut level, mut xp) = (0u64, 0u64);
        for skill in Skill::ALL {
            level += u64::from(p.skills.level(skill));
            xp += u64::from(p.skills.xp(skill));
            e.skills.insert(row([
                pid.clone(),
                skill_name(skill),
                p.skills.xp(skill).to_string(),
                p.skills.level(skill).to_string(),
                reached[&(*id, skill)].to_string(),
            ]));
        }
        e.totals.insert(row([
            pid.clone(),
            level.to_string(),
            xp.to_string(),
            total_reached[id].to_string(),
        ]));
        let (spawned_position, spawned_at) = spawned[id];
        e.profile.insert(row([
            pid.clone(),
            spawned_position.to_string(),
            spawned_at.to_string(),
            i64::from(p.online).to_string(),
            i64::from(p.members).to_string(),
            last_seen
                .get(id)
                .map(|t| t.to_string())
                .unwrap_or_else(|| "NULL".into()),
            deaths.get(id).copied().unwrap_or(0).to_string(),
            kills.get(id).copied().unwrap_or(0).to_string(),
        ]));
    }
    e
}

async fn check(db: &ReadDb, e: &Expected, stored: &[StoredEvent], when: &str) {
    let eq = |name: &str, got: &Rows, want: &Rows| {
        assert_eq!(got, want, "{name} ({when})");
    };
    eq(
        "rm_holdings",
        &rows(
            db,
            "SELECT player_id, container, item, qty FROM rm_holdings",
        )
        .await,
        &e.holdings,
    );
    eq(
        "rm_equipment",
        &rows(db, "SELECT player_id, equip_slot, item FROM rm_equipment").await,
        &e.equipment,
    );
    // A wallet row exists once coins moved; a zero balance may or may not have one.
    let mut wallet = rows(db, "SELECT player_id, currency, balance FROM rm_wallet").await;
    for w in &e.wallet {
        if w[2] == "0" && !wallet.iter().any(|r| r[0] == w[0]) {
            wallet.insert(w.clone());
        }
    }
    eq("rm_wallet", &wallet, &e.wallet);
    // The ledger: never negative, each row's balance follows from the previous, and it sums to
    // the balance.
    let ledger = rows(
        db,
        "SELECT player_id, position, amount, balance_after FROM rm_wallet_ledger",
    )
    .await;
    let mut by_player: BTreeMap<&str, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for r in &ledger {
        by_player.entry(&r[0]).or_default().push((
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
        ));
    }
    for (pid, mut entries) in by_player {
        entries.sort();
        let mut balance = 0;
        for (position, amount, after) in entries {
            balance += amount;
            assert_eq!(after, balance, "ledger of {pid} at {position} ({when})");
            assert!(
                after >= 0,
                "negative balance of {pid} at {position} ({when})"
            );
        }
        let want = e.wallet.iter().find(|w| w[0] == pid).expect("a player");
        assert_eq!(balance.to_string(), want[2], "ledger sum of {pid} ({when})");
    }
    eq(
        "rm_skills",
        &rows(
            db,
            "SELECT player_id, skill, xp, level, reached_position FROM rm_skills",
        )
        .await,
        &e.skills,
    );
    eq(
        "rm_skill_totals",
        &rows(
            db,
            "SELECT player_id, total_level, total_xp, reached_position FROM rm_skill_totals",
        )
        .await,
        &e.totals,
    );
    eq(
        "rm_item_supply",
        &rows(db, "SELECT item, minted, burned FROM rm_item_supply").await,
        &e.supply,
    );
    eq(
        "rm_economy_hourly",
        &rows(
            db,
            "SELECT hour, item, flow, reason, qty FROM rm_economy_hourly",
        )
        .await,
        &e.economy,
    );
    eq(
        "rm_trade_hourly",
        &rows(db, "SELECT hour, item, qty, trades FROM rm_trade_hourly").await,
        &e.trades,
    );
    eq(
        "rm_xp_hourly",
        &rows(db, "SELECT hour, skill, xp FROM rm_xp_hourly").await,
        &e.xp,
    );
    eq(
        "rm_profile",
        &rows(
            db,
            "SELECT player_id, spawned_position, spawned_at_us, online, members, \
             COALESCE(CAST(last_seen_us AS TEXT), 'NULL'), deaths, kills FROM rm_profile",
        )
        .await,
        &e.profile,
    );
    // Trade history: two rows per settled trade.
    let settled = stored.iter().filter(|s| s.kind == "TradeSettled").count();
    let history = rows(db, "SELECT player_id, position FROM rm_trade_history").await;
    assert_eq!(history.len(), 2 * settled, "rm_trade_history ({when})");
    // The views answer, and coins in circulation are what is held, the ground included.
    let held = history_coins(e);
    let coins = rows(db, "SELECT coins FROM v_coins_in_circulation").await;
    assert!(
        coins
            .iter()
            .next()
            .is_some_and(|r| r[0].parse::<i64>().unwrap() >= held),
        "coins in circulation {coins:?} ≥ held {held} ({when})"
    );
    let board = rows(db, "SELECT player_id, rank FROM v_leaderboard_overall").await;
    assert_eq!(
        board.len(),
        e.totals.len(),
        "v_leaderboard_overall ({when})"
    );
}

/// Coins held by players (inventories and banks).
fn history_coins(e: &Expected) -> i64 {
    e.wallet.iter().map(|w| w[2].parse::<i64>().unwrap()).sum()
}

async fn fold_and_compare(store: Arc<dyn EventStore>, db: ReadDb, seed: u64, ticks: u64) {
    db.migrate().await.expect("migrate the read db");
    let history = play(seed, ticks);
    let stored = append(&*store, &history).await;
    assert!(
        stored.len() > 2_000,
        "a long history: {} events",
        stored.len()
    );
    let kinds: BTreeSet<&str> = stored.iter().map(|s| s.kind.as_str()).collect();
    for kind in [
        "ItemsMinted",
        "ItemsBurned",
        "BankDeposited",
        "ItemEquipped",
        "ItemDropped",
        "TradeSettled",
        "ItemsProduced",
        "NpcDied",
        "PlayerDied",
    ] {
        assert!(kinds.contains(kind), "the history has {kind}: {kinds:?}");
    }
    eprintln!(
        "{} events of {} kinds: {kinds:?}",
        stored.len(),
        kinds.len()
    );
    let want = expected(&history, &stored);
    let head = stored.last().expect("events").position;
    for projection in loh_projections::all() {
        let projector = Projector::new(projection, db.clone(), store.clone());
        let started = std::time::Instant::now();
        assert_eq!(projector.catch_up().await.expect("catch up"), head);
        eprintln!(
            "{:?} {:<16} folded {head} events in {:>6.1} ms ({:>7.0} events/s)",
            db.backend(),
            projector.name(),
            started.elapsed().as_secs_f64() * 1e3,
            head as f64 / started.elapsed().as_secs_f64()
        );
    }
    check(&db, &want, &stored, "folded live").await;
    for projection in loh_projections::all() {
        let projector = Projector::new(projection, db.clone(), store.clone());
        assert_eq!(projector.rebuild().await.expect("rebuild"), head);
    }
    check(&db, &want, &stored, "after a rebuild").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_folded_from_a_long_random_game_history_equals_the_state_computed_from_the_events_on_postgres()
 {
    let db = TestDb::create().await;
    let shard = unique_name("shard");
    let store = PgEventStore::connect(&db.url, &shard)
        .await
        .expect("connect the store");
    store.migrate().await.expect("migrate");
    let read = ReadDb::connect(&db.url).await.expect("connect the read db");
    fold_and_compare(Arc::new(store), read, 7, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_folded_from_a_long_random_game_history_equals_the_state_computed_from_the_events_on_sqlite()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("loh.db").display());
    let shard = unique_name("shard");
    let store = SqliteEventStore::open(&url, &shard)
        .await
        .expect("open the embedded store");
    let read = ReadDb::connect(&url).await.expect("connect the read db");
    fold_and_compare(Arc::new(store), read, 11, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_read_models_split_into_partitions_by_player_fold_concurrently_to_the_same_state_and_rebuild_whole()
 {
    let (_db, store, read) = on_postgres().await;
    let history = play(23, 600);
    let stored = append(&*store, &history).await;
    let want = expected(&history, &stored);
    let head = stored.last().expect("events").position;

    let runners = loh_projections::arrange(&read, &*store, 4)
        .await
        .expect("arrange");
    assert_eq!(
        runners.len(),
        5 * 4 + 2,
        "economy and membership are not split"
    );
    assert!(
        runners.iter().any(|p| p.name() == "wallet_p3_of_4"),
        "partition names"
    );
    // Small batches, all partitions at once: their transactions interleave.
    let config = loh_projections::RunnerConfig {
        batch_size: 64,
        ..Default::default()
    };
    let tasks: Vec<_> = runners
        .iter()
        .map(|p| {
            let projector =
                Projector::new(p.clone(), read.clone(), store.clone()).with_config(config.clone());
            tokio::spawn(async move { projector.catch_up().await.expect("catch up") })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("partition task"), head);
    }
    check(&read, &want, &stored, "folded in partitions").await;

    // A partition is never rebuilt alone; the whole model's rebuild moves every partition.
    let partition = runners
        .iter()
        .find(|p| p.name() == "skills_p1_of_4")
        .expect("a skills partition")
        .clone();
    let err = Projector::new(partition, read.clone(), store.clone())
        .rebuild()
        .await
        .expect_err("a partition alone");
    assert!(err.to_string().contains("rebuild skills"), "{err}");
    let skills = loh_projections::by_name("skills").expect("skills");
    Projector::new(skills, read.clone(), store.clone())
        .rebuild()
        .await
        .expect("rebuild skills");
    for p in runners.iter().filter(|p| p.name().starts_with("skills_p")) {
        assert_eq!(read.checkpoint(p.name()).await.expect("checkpoint"), head);
        // Nothing is applied twice after the rebuild.
        Projector::new(p.clone(), read.clone(), store.clone())
            .catch_up()
            .await
            .expect("catch up");
    }
    check(&read, &want, &stored, "after rebuilding a split model").await;
}

/// A fresh PostgreSQL database with the store and the read models migrated.
async fn on_postgres() -> (TestDb, Arc<dyn EventStore>, ReadDb) {
    let db = TestDb::create().await;
    let store = PgEventStore::connect(&db.url, &unique_name("shard"))
        .await
        .expect("connect the store");
    store.migrate().await.expect("migrate");
    let read = ReadDb::connect(&db.url).await.expect("connect the read db");
    read.migrate().await.expect("migrate the read db");
    (db, Arc::new(store), read)
}

/// Catches up each of `runners` whose name passes `which`; returns how many.
async fn catch_up_some(
    runners: &[Arc<dyn loh_projections::Projection>],
    read: &ReadDb,
    store: &Arc<dyn EventStore>,
    which: impl Fn(&str) -> bool,
) -> usize {
    let mut n = 0;
    for p in runners.iter().filter(|p| which(p.name())) {
        Projector::new(p.clone(), read.clone(), store.clone())
            .catch_up()
            .await
            .unwrap_or_else(|e| panic!("catch up {}: {e}", p.name()));
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_number_of_partitions_mid_stream_keeps_every_read_model_exact_without_a_rebuild()
 {
    let (_db, store, read) = on_postgres().await;
    let history = play(29, 450);
    let n = history.events.len();
    let (a, b) = (n / 3, 2 * n / 3);
    let mut stored = append_part(&*store, &history, 0..a).await;

    // Four partitions, all caught up to A.
    let four = loh_projections::arrange(&read, &*store, 4)
        .await
        .expect("arrange 4");
    catch_up_some(&four, &read, &store, |_| true).await;
    // Then only partitions 0 and 1 (and the unsplit economy) reach B: 2 and 3 lag behind.
    stored.extend(append_part(&*store, &history, a..b).await);
    let pos_a = stored[a - 1].position;
    let pos_b = stored[b - 1].position;
    catch_up_some(&four, &read, &store, |name| {
        !name.contains("_p") || name.contains("_p0_") || name.contains("_p1_")
    })
    .await;
    assert_eq!(read.checkpoint("wallet").await.expect("checkpoint"), pos_a);
    assert_eq!(read.checkpoint("wallet_p1_of_4").await.expect("cp"), pos_b);

    // Three partitions: the lagging ones are brought to B first, then the checkpoints move.
    let wallet = loh_projections::by_name("wallet").expect("wallet");
    let arranged = loh_projections::partition::arrange(&read, &*store, &wallet, 3, 100)
        .await
        .expect("arrange wallet in 3");
    assert_eq!(arranged.moved_at, Some(pos_b));
    assert_eq!(arranged.before.len(), 4);
    let three = loh_projections::arrange(&read, &*store, 3)
        .await
        .expect("arrange 3");
    for model in ["holdings", "wallet", "skills", "profile", "player_position"] {
        assert_eq!(
            read.checkpoint(model).await.expect("checkpoint"),
            pos_b,
            "{model}"
        );
    }
    let names: Vec<String> = read
        .checkpoints()
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(names.contains(&"skills_p2_of_3".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("_of_4")), "{names:?}");

    // A projector of the old arrangement (another process not restarted yet) refuses to run.
    let stale = four
        .iter()
        .find(|p| p.name() == "wallet_p2_of_4")
        .expect("old partition")
        .clone();
    let err = Projector::new(stale, read.clone(), store.clone())
        .catch_up()
        .await
        .expect_err("an old partition must not apply the log again");
    assert!(err.to_string().contains("--partitions"), "{err}");

    stored.extend(append_part(&*store, &history, b..n).await);
    assert_eq!(
        catch_up_some(&three, &read, &store, |_| true).await,
        5 * 3 + 2
    );
    let want = expected(&history, &stored);
    check(&read, &want, &stored, "after going from 4 partitions to 3").await;

    // And back to one projector per model: nothing to fold, nothing applied twice.
    let one = loh_projections::arrange(&read, &*store, 1)
        .await
        .expect("arrange 1");
    assert_eq!(one.len(), 7);
    catch_up_some(&one, &read, &store, |_| true).await;
    check(&read, &want, &stored, "after going back to one projector").await;
    let head = stored.last().expect("events").position;
    assert_eq!(read.checkpoint("holdings").await.expect("checkpoint"), head);
}
