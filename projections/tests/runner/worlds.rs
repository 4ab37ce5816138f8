//! Several worlds (shards) projecting into one PostgreSQL read database: each world's projectors
//! keep their own checkpoints, a world's positions are its own, and a rebuild over every world's
//! log equals what the live projectors wrote.

use crate::helpers::{World, eventually, publish};
use crate::{Nats, WAIT};
use loh_events::EventStore;
use loh_events::pg::PgEventStore;
use loh_projections::player_position::{self, PlayerPosition};
use loh_projections::{Error, Projection, ProjectionMetrics, ReadDb, rebuild, runner};
use loh_testkit::{TestDb, unique_name};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Every projector of `store`'s world, following `nats`, until `cancel`.
async fn start(
    read: &ReadDb,
    store: &Arc<dyn EventStore>,
    nats: &Nats,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<loh_projections::Result<()>> {
    let source = nats.source();
    let projectors = runner::projectors(read, store, &source, &ProjectionMetrics::default(), 1)
        .await
        .expect("arrange the world's projectors");
    tokio::spawn(runner::run_all(projectors, source, cancel.clone()))
}

async fn stop(
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<loh_projections::Result<()>>,
) {
    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");
}

/// Appends `ticks` ticks to `world` and publishes them on its stream.
async fn play(world: &mut World, nats: &Nats, ticks: usize) {
    for event in world.append(ticks, 12).await {
        publish(&nats.js, &nats.def, &event, None).await;
    }
}

/// Whether every model's checkpoint of `shard` is `head`.
async fn caught_up(read: &ReadDb, shard: &str, head: u64) -> bool {
    let world = read.in_world(shard);
    for name in loh_projections::names() {
        if world.checkpoint(name).await.expect("checkpoint") != head {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worlds_on_one_database_keep_their_checkpoints_and_positions_apart_and_equal_a_rebuild()
{
    let db = TestDb::create().await;
    let (a, b) = (unique_name("worlda"), unique_name("worldb"));
    let store_a = PgEventStore::connect(&db.url, &a).await.expect("store a");
    store_a.migrate().await.expect("migrate");
    let store_b = PgEventStore::connect(&db.url, &b).await.expect("store b");
    let (store_a, store_b): (Arc<dyn EventStore>, Arc<dyn EventStore>) =
        (Arc::new(store_a), Arc::new(store_b));
    let read = ReadDb::connect(&db.url).await.expect("read db");
    let (nats_a, nats_b) = (Nats::new(&a).await, Nats::new(&b).await);
    let mut world_a = World::new(store_a.clone(), 20).await;
    let mut world_b = World::new(store_b.clone(), 13).await;

    // Both worlds live; world B's log is longer, so a shared checkpoint could not be right for both.
    let cancel_a = CancellationToken::new();
    let cancel_b = CancellationToken::new();
    let tasks_a = start(&read, &store_a, &nats_a, &cancel_a).await;
    let tasks_b = start(&read, &store_b, &nats_b, &cancel_b).await;
    play(&mut world_a, &nats_a, 6).await;
    play(&mut world_b, &nats_b, 9).await;
    eventually(WAIT, "world A caught up", || {
        caught_up(&read, &a, world_a.head())
    })
    .await;
    eventually(WAIT, "world B caught up", || {
        caught_up(&read, &b, world_b.head())
    })
    .await;
    assert_ne!(world_a.head(), world_b.head());

    // World A's projectors are killed (the group's tasks go with it); world B goes on and is
    // unaffected, A's place is kept.
    tasks_a.abort();
    let _ = tasks_a.await;
    let a_stopped_at = world_a.head();
    play(&mut world_a, &nats_a, 4).await;
    play(&mut world_b, &nats_b, 5).await;
    eventually(WAIT, "world B caught up again", || {
        caught_up(&read, &b, world_b.head())
    })
    .await;
    for name in loh_projections::names() {
        assert_eq!(
            read.in_world(&a)
                .checkpoint(name)
                .await
                .expect("checkpoint"),
            a_stopped_at,
            "{name}: world A's checkpoint stays where its projectors were killed"
        );
    }
    // Restarted, world A continues from its own checkpoint.
    let tasks_a = start(&read, &store_a, &nats_a, &cancel_a).await;
    eventually(WAIT, "world A caught up after its restart", || {
        caught_up(&read, &a, world_a.head())
    })
    .await;
    stop(cancel_a, tasks_a).await;
    stop(cancel_b, tasks_b).await;

    // Each world's positions are its own; all rows are both worlds' together.
    let in_a = player_position::in_world(&read, &a, 1_000)
        .await
        .expect("a");
    let in_b = player_position::in_world(&read, &b, 1_000)
        .await
        .expect("b");
    assert_eq!(in_a, world_a.expected());
    assert_eq!(in_b, world_b.expected());
    assert!(in_a.iter().all(|r| r.world == a) && in_b.iter().all(|r| r.world == b));
    let mut both = [world_a.expected(), world_b.expected()].concat();
    both.sort_by_key(|r| r.player_id.to_string());
    let live = player_position::all_rows(&read).await.expect("rows");
    assert_eq!(live, both);
    let mut counts = vec![
        (a.clone(), in_a.len() as u64),
        (b.clone(), in_b.len() as u64),
    ];
    counts.sort();
    assert_eq!(
        player_position::counts_by_world(&read)
            .await
            .expect("counts"),
        counts
    );

    // A rebuild from one world's log alone would drop the other's rows: refused.
    match rebuild::rebuild(&read, store_a.as_ref(), &PlayerPosition, 50).await {
        Err(Error::Invalid(why)) => assert!(why.contains(&b), "{why}"),
        other => panic!("a one-world rebuild of a two-world model must be refused: {other:?}"),
    }
    assert_eq!(player_position::all_rows(&read).await.expect("rows"), live);

    // Rebuilt from both logs: the same rows, each world's checkpoint at its head.
    for model in loh_projections::all() {
        let done = rebuild::rebuild_worlds(
            &read,
            &[store_a.as_ref(), store_b.as_ref()],
            model.as_ref(),
            7,
            |_| {},
        )
        .await
        .expect("rebuild every world");
        assert_eq!(
            done,
            [(a.clone(), world_a.head()), (b.clone(), world_b.head())],
            "{}",
            model.name()
        );
    }
    assert_eq!(player_position::all_rows(&read).await.expect("rows"), live);
    assert!(caught_up(&read, &a, world_a.head()).await);
    assert!(caught_up(&read, &b, world_b.head()).await);
    nats_a.cleanup().await;
    nats_b.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_without_a_world_go_to_the_first_world_that_starts_and_only_to_it() {
    let db = TestDb::create().await;
    let store = PgEventStore::connect(&db.url, "w1").await.expect("store");
    store.migrate().await.expect("migrate");
    let read = ReadDb::connect(&db.url).await.expect("read db");
    // A checkpoint as migration 0010 leaves it when it cannot tell the world (several or none).
    sqlx::query("INSERT INTO projection_checkpoints (shard, name, position) VALUES ('', $1, 42)")
        .bind(PlayerPosition.name())
        .execute(read.pool())
        .await
        .expect("a checkpoint without a world");
    assert!(matches!(
        read.adopt_legacy_checkpoints().await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        read.in_world("w1")
            .adopt_legacy_checkpoints()
            .await
            .expect("w1"),
        1
    );
    assert_eq!(
        read.in_world("w2")
            .adopt_legacy_checkpoints()
            .await
            .expect("w2"),
        0
    );
    assert_eq!(
        read.in_world("w1")
            .checkpoint(PlayerPosition::NAME)
            .await
            .expect("cp"),
        42
    );
    assert_eq!(
        read.in_world("w2")
            .checkpoint(PlayerPosition::NAME)
            .await
            .expect("cp"),
        0
    );
}
