//! The `membership` read model against the world it reads: a generated history of purchases,
//! subscription invoices, refunds, disputes (won and lost), redeemed and traded bonds and lapses
//! by the clock, played by the real world (`Sim`, the tick writer's own step), folded by the
//! runner from JetStream into PostgreSQL. Every player's row equals the world's membership
//! (tier, paid-through, the debt of the purchases they bought), and delivering every payment
//! event again (past JetStream's dedupe window) changes nothing.

use super::{Nats, WAIT, message_driven, pg, spawn_run};
use crate::helpers::{eventually, publish};
use loh_commands::Command;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, StoredEvent};
use loh_projections::membership::{self, Membership};
use loh_projections::{ProjectionMetrics, Projector, ReadDb};
use loh_testkit::unique_name;
use loh_world::payments::{Payment, PaymentKind};
use loh_world::phases::Sim;
use loh_world::{MapConfig, World};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PLAYERS: u128 = 5;
/// The clock of the first tick; each tick is two days later, so a bond's 14 days last 7.
const START_US: i64 = 1_780_000_000_000_000;
const TICK_US: i64 = 2 * 86_400 * 1_000_000;

fn player(i: u128) -> Uuid {
    Uuid::from_u128(i % PLAYERS + 1)
}

/// The events of a generated history, with their ticks and clock readings, and the world
/// that applied them.
struct History {
    world: World,
    events: Vec<(u64, i64, EventBody)>,
}

/// Plays `ticks` ticks: payments of every kind (new purchases, repeats of applied Stripe
/// events, refunds and disputes of earlier purchases or of none), bond withdrawals, trades
/// of bonds and redemptions, with the players standing by the bank.
fn play(seed: u64, ticks: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ids: Vec<Uuid> = (0..PLAYERS).map(player).collect();
    let mut sim = Sim::new(World::new(MapConfig::default()));
    let mut events = Vec::new();
    let online: Vec<(Uuid, bool)> = ids.iter().map(|id| (*id, true)).collect();
    let out = sim.tick_at(START_US, &ids, &online, &[]);
    events.extend(out.events.into_iter().map(|(_, e)| (1, START_US, e)));
    // Everyone next to the bank, so bonds can come out of it.
    for id in &ids {
        let p = sim.world.player(*id).expect("spawned");
        let e = EventBody::PlayerMoved {
            player_id: *id,
            from_x: p.x,
            from_y: p.y,
            x: 3227,
            y: 3225,
            running: false,
            path_to: None,
        };
        sim.world.apply(&e);
        events.push((1, START_US, e));
    }
    let mut purchases: Vec<String> = Vec::new();
    let mut sent: Vec<Payment> = Vec::new();
    for i in 0..ticks {
        let tick = sim.world.tick() + 1;
        let now_us = START_US + tick as i64 * TICK_US;
        let now = now_us / 1_000_000;
        let mut payments = Vec::new();
        for _ in 0..[0, 0, 1, 1, 2][rng.random_range(0..5)] {
            let buyer = player(rng.random_range(0..PLAYERS));
            let id = format!("evt_{i}_{}", payments.len());
            let old = |rng: &mut ChaCha8Rng| {
                if purchases.is_empty() || rng.random_range(0..8) == 0 {
                    "pi_never_bought".to_owned()
                } else {
                    purchases[rng.random_range(0..purchases.len())].clone()
                }
            };
            let what = match rng.random_range(0..10) {
                0..=3 => {
                    let purchase = format!("pi_{i}_{}", payments.len());
                    purchases.push(purchase.clone());
                    let product = ["bonds_1", "bonds_5", "bonds_5", "gold"][rng.random_range(0..4)];
                    PaymentKind::Paid {
                        player_id: buyer,
                        purchase,
                        product: product.into(),
                    }
                }
                4 => {
                    let purchase = format!("in_{i}_{}", payments.len());
                    purchases.push(purchase.clone());
                    PaymentKind::Renewed {
                        player_id: buyer,
                        purchase,
                        product: ["membership", "premium"][rng.random_range(0..2)].into(),
                        paid_through: now + rng.random_range(-86_400..40 * 86_400),
                    }
                }
                5..=6 => PaymentKind::ClawBack {
                    purchase: old(&mut rng),
                },
                7 => PaymentKind::DisputeWon {
                    purchase: old(&mut rng),
                },
                // A Stripe event delivered again.
                _ if !sent.is_empty() => {
                    payments.push(sent[rng.random_range(0..sent.len())].clone());
                    continue;
                }
                _ => continue,
            };
            payments.push(Payment { id, what });
        }
        sent.extend(payments.iter().cloned());
        let mut commands: Vec<(Uuid, Command)> = Vec::new();
        for id in &ids {
            let p = sim.world.player(*id).expect("spawned");
            let bond_slot = p
                .inventory
                .slots()
                .find(|(_, s)| s.item == "bond")
                .map(|(k, _)| k);
            match rng.random_range(0..6) {
                0 if p.bank.contains_key("bond") => commands.push((
                    *id,
                    Command::BankWithdraw {
                        item: "bond".into(),
                        qty: rng.random_range(1..3),
                    },
                )),
                1 => {
                    if let Some(slot) = bond_slot {
                        commands.push((*id, Command::RedeemBond { slot }));
                    }
                }
                2 => {
                    // A bond handed to someone else through both trade screens.
                    let other = player(id.as_u128() + rng.random_range(0..PLAYERS - 1));
                    if let Some(slot) = bond_slot {
                        commands.extend([
                            (*id, Command::TradeRequest { player_id: other }),
                            (other, Command::TradeRequest { player_id: *id }),
                            (*id, Command::TradeOffer { slot, qty: 1 }),
                            (*id, Command::TradeAccept),
                            (other, Command::TradeAccept),
                            (*id, Command::TradeAccept),
                            (other, Command::TradeAccept),
                        ]);
                    }
                }
                3 => {
                    if let Some(slot) = bond_slot {
                        commands.push((*id, Command::BankDeposit { slot, qty: 0 }));
                    }
                }
                _ => {}
            }
        }
        let out = sim.tick_with(now_us, &[], &[], &payments, &commands);
        events.extend(out.events.into_iter().map(|(_, e)| (tick, now_us, e)));
    }
    History {
        world: sim.world,
        events,
    }
}

async fn append(store: &dyn EventStore, history: &History) -> Vec<StoredEvent> {
    let lease = store.acquire().await.expect("acquire the shard lease");
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut stored = Vec::new();
    for chunk in history.events.chunks(400) {
        let events = chunk
            .iter()
            .map(|(tick, at, body)| {
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
                    occurred_at_us: *at,
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

/// The world's membership of every player, as the read model should hold it: tier,
/// paid-through, and the debt of the purchases they bought.
fn expected(world: &World) -> BTreeMap<Uuid, membership::MembershipRow> {
    let mut debt: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    for p in world.payments().purchases.values() {
        let d = debt.entry(p.buyer).or_default();
        d.0 += i64::from(p.debt_bonds);
        d.1 += i64::from(p.debt_days);
    }
    world
        .players()
        .map(|(id, p)| {
            let (debt_bonds, debt_days) = debt.get(id).copied().unwrap_or_default();
            let row = membership::MembershipRow {
                tier: p.tier.as_str().to_owned(),
                paid_through: p.paid_through,
                debt_bonds,
                debt_days,
            };
            (*id, row)
        })
        .collect()
}

/// The read model's row of every player (a player without one is free, never paid, no debt).
async fn folded(db: &ReadDb, world: &World) -> BTreeMap<Uuid, membership::MembershipRow> {
    let mut out = BTreeMap::new();
    for (id, _) in world.players() {
        let row =
            membership::get(db, *id)
                .await
                .expect("read")
                .unwrap_or(membership::MembershipRow {
                    tier: "free".into(),
                    paid_through: 0,
                    debt_bonds: 0,
                    debt_days: 0,
                });
        out.insert(*id, row);
    }
    out
}

async fn checkpoint_is(read: &ReadDb, position: u64) -> bool {
    read.checkpoint(Membership::NAME).await.expect("checkpoint") == position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_fold_equals_the_worlds_membership_and_a_redelivery_changes_nothing() {
    let history = play(41, 400);
    let kinds: BTreeMap<&str, usize> = history.events.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.2.kind()).or_default() += 1;
        m
    });
    for kind in [
        "PurchaseCredited",
        "MembershipExtended",
        "BondRedeemed",
        "MembershipLapsed",
        "BondsClawedBack",
        "MembershipShortened",
        "PurchaseDebtRecorded",
        "PurchaseReinstated",
        "PaymentNoted",
        "TradeSettled",
    ] {
        assert!(
            kinds.contains_key(kind),
            "the history has {kind}: {kinds:?}"
        );
    }
    let want = expected(&history.world);
    assert!(
        want.values().any(|m| m.debt_bonds > 0 || m.debt_days > 0),
        "some debt stands at the end: {want:?}"
    );
    assert!(want.values().any(|m| m.tier != "free"), "{want:?}");

    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let metrics = ProjectionMetrics::default();
    let projector = Projector::new(Arc::new(Membership), pg.read.clone(), pg.store.clone())
        .with_metrics(metrics.clone())
        .with_config(message_driven());
    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, nats.source(), &cancel);
    let durable = projector.durable_name();
    eventually(WAIT, "the durable consumer", || {
        nats.consumer_exists(&durable)
    })
    .await;

    let stored = append(&*pg.store, &history).await;
    let head = stored.last().expect("events").position;
    for event in &stored {
        publish(&nats.js, &nats.def, event, None).await;
    }
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, head)
    })
    .await;
    assert_eq!(folded(&pg.read, &history.world).await, want);
    let history_rows = membership::purchases(&pg.read, None, None, 100_000)
        .await
        .expect("purchases");
    let applied = metrics.applied_total(Membership::NAME);

    // Every payment event delivered again, as after a relay restart past the dedupe window.
    for event in stored
        .iter()
        .filter(|e| e.body().is_ok_and(|b| loh_world::view::is_payment(&b)))
    {
        let again = format!("{}-redelivered", event.event_id);
        publish(&nats.js, &nats.def, event, Some(again)).await;
    }
    eventually(WAIT, "the repeats to be acknowledged", || {
        nats.consumer_drained(&durable)
    })
    .await;
    assert_eq!(folded(&pg.read, &history.world).await, want);
    assert_eq!(
        membership::purchases(&pg.read, None, None, 100_000)
            .await
            .expect("purchases"),
        history_rows
    );
    assert_eq!(metrics.applied_total(Membership::NAME), applied);
    assert!(checkpoint_is(&pg.read, head).await);

    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");
    nats.cleanup().await;
}
