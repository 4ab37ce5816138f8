//! World hops on one PostgreSQL (ARCHITECTURE.md, invariant 11): a character hops from one
//! world's writer to another's, with writers dropped mid-way (the in-process equivalent of
//! SIGKILL: nothing after the last COMMIT happens) and a zombie writer fenced out, and ends in
//! exactly one world with the same state, nothing lost or minted twice.

use loh_commands::{Command, ServerFrame};
use loh_events::hop::Hop;
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, WorldEntry};
use loh_testkit::TestDb;
use loh_testkit::writer::frames;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Intake, Pacing, TickError, TickWriter, now_us};
use loh_world::{MapConfig, World};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

const P: Uuid = Uuid::from_u128(0x5eed);

async fn store(db: &TestDb, shard: &str) -> Arc<dyn EventStore> {
    let store = PgEventStore::new(db.pool().await, shard);
    store.migrate().await.unwrap();
    Arc::new(store)
}

/// A writer of `store`'s world, started as a restarted process would: it takes the lease and
/// rebuilds from the log.
async fn writer(store: &Arc<dyn EventStore>) -> TickWriter {
    TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .unwrap()
}

/// The world announces itself as its game server does, so other worlds may send characters.
async fn announce(store: &Arc<dyn EventStore>, address: &str) {
    let entry = WorldEntry {
        shard: store.shard().to_owned(),
        address: address.to_owned(),
        members: false,
        population: 0,
        open: true,
        updated_at_us: now_us(),
    };
    store.announce(&entry).await.unwrap();
}

/// The events of `store`'s log about `player`, by kind.
async fn kinds(store: &Arc<dyn EventStore>, player: Uuid) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in store.read_from(1, 100_000).await.unwrap() {
        if e.body().unwrap().player_id() == Some(player) {
            *out.entry(e.kind.clone()).or_default() += 1;
        }
    }
    out
}

/// What the ledger of `world` moved through `hop`, per item (sinks or sources).
fn through_hop(flows: &BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    flows
        .iter()
        .filter(|((reason, _), _)| reason == "hop")
        .map(|((_, item), q)| (item.clone(), *q))
        .collect()
}

#[tokio::test]
async fn a_hop_survives_both_writers_dying_between_departure_and_arrival_and_arrives_once() {
    let db = TestDb::create().await;
    let (store_a, store_b) = (store(&db, "world1").await, store(&db, "world2").await);
    announce(&store_a, "ws://127.0.0.1:7777").await;
    announce(&store_b, "ws://127.0.0.1:7778").await;
    let mut a = writer(&store_a).await;
    let b_zombie = writer(&store_b).await;

    // The character lives in world1 and plays there.
    assert_eq!(store_a.character_home(P, now_us()).await.unwrap(), "world1");
    let mut rx = loh_testkit::writer::connect(&mut a, P, 1, 4096);
    for _ in 0..3 {
        a.run_tick().await.unwrap();
    }
    let before = a.world().player(P).expect("spawned in world1").clone();
    let held = a.world().holdings();
    frames(&mut rx);

    // Hop: the departure commits in world1's tick, with the outbox row and the new home.
    a.take(Intake::Command {
        player_id: P,
        seq: 1,
        cmd: Command::HopWorld {
            world: "world2".into(),
        },
        received_at_us: now_us(),
    });
    a.run_tick().await.unwrap();
    let told = frames(&mut rx);
    assert!(
        told.iter()
            .any(|f| matches!(f, ServerFrame::Accepted { seq: 1, .. })),
        "{told:?}"
    );
    assert!(
        told.iter()
            .any(|f| matches!(f, ServerFrame::Hop { world, address }
            if world == "world2" && address == "ws://127.0.0.1:7778")),
        "{told:?}"
    );
    assert!(a.world().player(P).is_none(), "gone from world1");
    assert_eq!(store_a.character_home(P, now_us()).await.unwrap(), "world2");
    let in_flight: Vec<Hop> = store_b.arriving_hops(10).await.unwrap();
    assert_eq!(in_flight.len(), 1, "one hop in flight to world2");
    assert_eq!(in_flight[0].player_id, P);
    assert_eq!(in_flight[0].state.hash_hex(), in_flight[0].state_hash);

    // Both writers die before the arrival: nothing after their last COMMIT happens.
    drop(a);
    // world2 restarts (its old process is a zombie that still thinks it holds the lease), and
    // the player connects to it before the hop arrives.
    let mut b = writer(&store_b).await;
    let mut b_zombie = b_zombie;
    assert!(
        matches!(b_zombie.run_tick().await, Err(TickError::Fenced)),
        "the zombie's tick, holding the arrival, is refused"
    );
    let mut rx_b = loh_testkit::writer::connect(&mut b, P, 2, 4096);
    b.run_tick().await.unwrap();
    assert!(
        store_b.arriving_hops(10).await.unwrap().is_empty(),
        "arrived"
    );
    let after = b.world().player(P).expect("arrived in world2");
    assert_eq!(after.inventory, before.inventory);
    assert_eq!(after.bank, before.bank);
    assert_eq!(after.skills, before.skills);
    assert_eq!(after.equipment, before.equipment);
    assert!(after.online, "its session was open when it arrived");
    assert!(
        frames(&mut rx_b)
            .iter()
            .any(|f| matches!(f, ServerFrame::Snapshot { .. })),
        "the player is shown its state"
    );

    // world1 restarts: the character is not there, and connecting does not spawn a new one.
    let mut a = writer(&store_a).await;
    assert!(a.world().player(P).is_none());
    let _rx = loh_testkit::writer::connect(&mut a, P, 3, 4096);
    a.run_tick().await.unwrap();
    assert!(
        a.world().player(P).is_none(),
        "never spawned anew in world1"
    );

    // world2 restarts again: the hop does not arrive a second time.
    drop(b);
    let mut b = writer(&store_b).await;
    b.run_tick().await.unwrap();
    b.run_tick().await.unwrap();
    let (log_a, log_b) = (kinds(&store_a, P).await, kinds(&store_b, P).await);
    assert_eq!(log_a.get("CharacterDeparted"), Some(&1), "{log_a:?}");
    assert_eq!(log_a.get("PlayerSpawned"), Some(&1), "{log_a:?}");
    assert_eq!(log_b.get("CharacterArrived"), Some(&1), "{log_b:?}");
    assert_eq!(log_b.get("PlayerSpawned"), None, "{log_b:?}");

    // Each world's value is conserved, and what left world1 is what entered world2.
    a.world().check_conservation().unwrap();
    b.world().check_conservation().unwrap();
    let burned = through_hop(&a.world().ledger().sinks);
    let minted = through_hop(&b.world().ledger().sources);
    assert_eq!(burned, minted);
    let held: BTreeMap<String, u64> = held.into_iter().map(|(i, q)| (i, q as u64)).collect();
    assert_eq!(burned, held);

    // The database itself refuses a second arrival of the same hop.
    let arrived = store_b
        .read_from(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "CharacterArrived")
        .unwrap();
    let lease = store_b.acquire().await.unwrap();
    let mut again = match arrived.body().unwrap() {
        EventBody::CharacterArrived { .. } => NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: arrived.stream_id.clone(),
            stream_version: arrived.stream_version + 100,
            tick: arrived.tick + 100,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: now_us(),
            body: arrived.body().unwrap(),
        },
        other => panic!("{other:?}"),
    };
    again.causation_id = Some(again.correlation_id);
    let refused = store_b
        .append(
            lease,
            AppendBatch {
                events: vec![again],
                journal: vec![],
            },
        )
        .await;
    assert!(
        matches!(refused, Err(loh_events::Error::Conflict(_))),
        "{refused:?}"
    );
}
