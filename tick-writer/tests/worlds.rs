//! Worlds share one PostgreSQL: each shard's writer appends its own gapless log to the one
//! `events` table, whose event ids are unique across worlds.
//!
//! Before event ids named their shard, the second world on a used database was refused at its
//! first tick, forever (its NPCs' first steps had the ids of the first world's), and its writer
//! answered `server_busy` in a loop.

use loh_events::pg::PgEventStore;
use loh_events::{ChainVerifier, EventStore};
use loh_testkit::TestDb;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::snapshot::SnapshotPolicy;
use loh_tick_writer::tick::{Pacing, TickWriter};
use loh_world::step::EventIds;
use loh_world::{MapConfig, World};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

/// The servers' signing key (one for every world and restart, as in production).
fn key() -> loh_auth::SigningKey {
    static KEY: std::sync::OnceLock<loh_auth::SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| loh_auth::SigningKey::generate().unwrap())
        .clone()
}

/// A world's writer, taking a snapshot every 2 ticks and starting from the newest.
async fn world(db: &TestDb, shard: &str) -> (Arc<dyn EventStore>, TickWriter) {
    let store = PgEventStore::new(db.pool().await, shard);
    store.migrate().await.unwrap();
    let store: Arc<dyn EventStore> = Arc::new(store);
    let writer = TickWriter::start_with_snapshots(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
        SnapshotPolicy::every(key(), 2),
    )
    .await
    .unwrap();
    (store, writer)
}

/// Every event of `store`'s log has the id its world names it by: its tick and its index in
/// the tick's output, in order, and the shard.
async fn ids_name_the_world(store: &dyn EventStore) {
    let ids = EventIds::ordered(store.shard());
    let events = store.read_from(1, 100_000).await.unwrap();
    let (mut tick, mut index) = (0, 0);
    for e in &events {
        if e.tick != tick {
            (tick, index) = (e.tick, 0);
        }
        assert_eq!(
            e.event_id,
            ids.id(e.correlation_id, index, e.tick),
            "event at {} of {}",
            e.position,
            store.shard()
        );
        index += 1;
    }
}

async fn ids(store: &dyn EventStore) -> Vec<Uuid> {
    store
        .read_from(1, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_id)
        .collect()
}

#[tokio::test]
async fn two_worlds_tick_side_by_side_on_one_database() {
    let db = TestDb::create().await;
    let (store_a, mut a) = world(&db, "world-a").await;
    let player = Uuid::from_u128(7);
    let _rx = loh_testkit::writer::connect(&mut a, player, 1, 4096);
    for _ in 0..5 {
        a.run_tick().await.unwrap();
    }
    // The second world starts on a database that already holds the first one's log, and the
    // same player (their character is global) enters it at the same ticks.
    let (store_b, mut b) = world(&db, "world-b").await;
    let _rx = loh_testkit::writer::connect(&mut b, player, 1, 4096);
    for _ in 0..5 {
        b.run_tick().await.unwrap();
        a.run_tick().await.unwrap();
    }
    let (ids_a, ids_b) = (ids(&*store_a).await, ids(&*store_b).await);
    assert!(ids_a.len() > 10 && ids_b.len() > 10, "both worlds wrote");
    let (set_a, set_b): (BTreeSet<_>, BTreeSet<_>) =
        (ids_a.iter().collect(), ids_b.iter().collect());
    assert!(set_a.is_disjoint(&set_b), "no id in both worlds");
    for store in [&store_a, &store_b] {
        let events = store.read_from(1, 100_000).await.unwrap();
        let mut chain = ChainVerifier::new();
        for e in &events {
            chain.check(e).unwrap();
        }
        assert_eq!(store.head().await.unwrap().position, events.len() as u64);
    }
    // A restarted world (from its snapshot) names its events as before (its log says how).
    drop(b);
    // Snapshots are saved in the background: wait for one to start from (10 s at most).
    for _ in 0..100 {
        if !store_b.snapshot_positions().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !store_b.snapshot_positions().await.unwrap().is_empty(),
        "world b has a snapshot to start from"
    );
    let (_, mut b) = world(&db, "world-b").await;
    b.run_tick().await.unwrap();
    let after = ids(&*store_b).await;
    assert!(after.len() > ids_b.len(), "the restarted world wrote on");
    assert!(after.iter().all(|id| !set_a.contains(id)));
    ids_name_the_world(&*store_a).await;
    ids_name_the_world(&*store_b).await;
}
