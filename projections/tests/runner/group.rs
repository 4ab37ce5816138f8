//! Every read model of a world on one JetStream consumer ([`runner::run_all`]): each event is
//! delivered once for all of them, each applies it once against its own checkpoint, a lost
//! message comes from the store, and the group killed at any moment resumes without loss or
//! repeat.

use crate::helpers::{World, eventually, publish};
use crate::{CHAT_TABLE, ChatCount, Nats, WAIT, chat_rows, expected_chat, message_driven, pg};
use futures::StreamExt;
use loh_events::EventStore;
use loh_projections::player_position;
use loh_projections::runner::{self, GROUP_DURABLE};
use loh_projections::{ProjectionMetrics, Projector, ReadDb};
use loh_testkit::unique_name;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Every projector of the world in `partitions`, on the small batches of [`message_driven`].
async fn group(
    read: &ReadDb,
    store: &Arc<dyn EventStore>,
    nats: &Nats,
    metrics: &ProjectionMetrics,
    partitions: u32,
) -> Vec<Projector> {
    runner::projectors(read, store, &nats.source(), metrics, partitions)
        .await
        .expect("arrange the projectors")
        .into_iter()
        .map(|p| p.with_config(message_driven()))
        .collect()
}

/// Whether every projector of `names` has committed `head`.
async fn all_at(read: &ReadDb, names: &[&'static str], head: u64) -> bool {
    for name in names {
        if read.checkpoint(name).await.expect("checkpoint") != head {
            return false;
        }
    }
    true
}

/// Waits until every projector of `names` has committed `head` and the group's consumer has
/// delivered and been acked everything.
async fn caught_up_and_acked(read: &ReadDb, nats: &Nats, names: &[&'static str], head: u64) {
    eventually(WAIT, "every projector to reach the head", || {
        all_at(read, names, head)
    })
    .await;
    eventually(WAIT, "the consumer to be acked to its end", || {
        nats.consumer_drained(GROUP_DURABLE)
    })
    .await;
}

async fn consumer_names(nats: &Nats) -> Vec<String> {
    let stream = nats.js.get_stream(&nats.def.name).await.expect("stream");
    let names: Vec<_> = stream.consumer_names().collect().await;
    names.into_iter().map(|n| n.expect("name")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_follows_one_consumer_and_applies_each_event_once() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let metrics = ProjectionMetrics::default();
    let projectors = group(&pg.read, &pg.store, &nats, &metrics, 2).await;
    let names: Vec<&'static str> = projectors.iter().map(|p| p.name()).collect();
    assert!(names.len() > loh_projections::names().len(), "{names:?}");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(runner::run_all(projectors, nats.source(), cancel.clone()));
    eventually(WAIT, "the group's consumer", || {
        nats.consumer_exists(GROUP_DURABLE)
    })
    .await;

    // A first few ticks, so that every projector is past its start-up catch-up from the store.
    let mut world = World::new(pg.store.clone(), 6).await;
    for event in world.append(2, 5).await {
        publish(&nats.js, &nats.def, &event, None).await;
    }
    caught_up_and_acked(&pg.read, &nats, &names, world.head()).await;
    let filled: Vec<u64> = names.iter().map(|n| metrics.gap_filled_total(n)).collect();

    let (lost, repeated) = (world.head() + 7, world.head() + 20);
    for event in &world.append(10, 5).await {
        if event.position == lost {
            continue; // lost on the way: must come from the store
        }
        publish(&nats.js, &nats.def, event, None).await;
        if event.position == repeated {
            let again = format!("{}-again", event.event_id);
            publish(&nats.js, &nats.def, event, Some(again)).await;
        }
    }

    caught_up_and_acked(&pg.read, &nats, &names, world.head()).await;
    // One consumer for every read model and partition.
    assert_eq!(consumer_names(&nats).await, [GROUP_DURABLE]);
    // Each projector applied each event once, the lost one from the store.
    for (name, filled) in names.iter().zip(filled) {
        assert_eq!(metrics.applied_total(name), world.head(), "{name}");
        assert!(metrics.gap_filled_total(name) > filled, "{name}");
    }
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );

    cancel.cancel();
    task.await.expect("join").expect("the group stops cleanly");
    nats.cleanup().await;
}

/// Every read model of the world and [`ChatCount`], whose counts would show an event applied
/// twice.
async fn with_chat_counts(
    pg: &crate::Pg,
    nats: &Nats,
    metrics: &ProjectionMetrics,
) -> Vec<Projector> {
    let mut projectors = group(&pg.read, &pg.store, nats, metrics, 1).await;
    projectors.push(
        Projector::new(Arc::new(ChatCount), pg.read.clone(), pg.store.clone())
            .with_metrics(metrics.clone())
            .with_config(message_driven()),
    );
    projectors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_killed_mid_stream_resumes_without_loss_or_repeat() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {} {}",
        CHAT_TABLE.name, CHAT_TABLE.ddl
    )))
    .execute(pg.read.pool())
    .await
    .expect("create the test table");
    let nats = Nats::new(&shard).await;
    let metrics = ProjectionMetrics::default();
    let mut world = World::new(pg.store.clone(), 8).await;
    let mut names: Vec<&'static str> = loh_projections::names();
    names.push("test_chat_count");

    for round in 0..5u64 {
        let cancel = CancellationToken::new();
        let projectors = with_chat_counts(&pg, &nats, &metrics).await;
        let task = tokio::spawn(runner::run_all(projectors, nats.source(), cancel.clone()));
        eventually(WAIT, "the group's consumer", || {
            nats.consumer_exists(GROUP_DURABLE)
        })
        .await;
        // Killed while events arrive, each round a little later.
        let events = world.append(6, 7).await;
        for (i, event) in events.iter().enumerate() {
            publish(&nats.js, &nats.def, event, None).await;
            if i as u64 == 8 * round + 3 {
                tokio::time::sleep(Duration::from_millis(3 * round)).await;
                task.abort();
            }
        }
        assert!(task.await.is_err_and(|e| e.is_cancelled()));
    }

    // Restarted once more, it reaches the head: what it had not committed came again or from
    // the store, what it had was not applied twice.
    let cancel = CancellationToken::new();
    let projectors = with_chat_counts(&pg, &nats, &metrics).await;
    let task = tokio::spawn(runner::run_all(projectors, nats.source(), cancel.clone()));
    let events = world.append(3, 5).await;
    for event in &events {
        publish(&nats.js, &nats.def, event, None).await;
    }
    caught_up_and_acked(&pg.read, &nats, &names, world.head()).await;
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );
    let chat = expected_chat(&world.events);
    assert!(chat.values().any(|(lines, _)| *lines > 1), "{chat:?}");
    assert_eq!(chat_rows(&pg.read).await, chat);

    cancel.cancel();
    task.await.expect("join").expect("the group stops cleanly");
    nats.cleanup().await;
}
