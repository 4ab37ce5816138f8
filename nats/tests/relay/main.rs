//! The relay against real PostgreSQL and real NATS JetStream: every test has its own database
//! and its own stream (deleted at the end).

mod helpers;
mod server;

use helpers::{Env, wait_for_position};
use loh_events::{GENESIS_HASH, NewEvent, StoredEvent};
use loh_nats::encode_event;
use loh_nats::relay::{Error, RelayMetrics};
use prometheus_client::registry::Registry;
use server::NatsServer;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test]
async fn relays_every_committed_event_once_in_position_order_with_its_id_as_msg_id() {
    let mut env = Env::new().await;
    env.append(300, 50).await;
    let metrics = RelayMetrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let relay = env.relay(64).await.with_metrics(metrics.clone());
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));

    wait_for_position(&mut progress, 300, 20).await;
    env.assert_stream_mirrors_store().await;

    // Later commits follow as the head watch moves.
    let head = env.append(120, 7).await;
    wait_for_position(&mut progress, head, 20).await;
    env.assert_stream_mirrors_store().await;

    assert_eq!(metrics.published.get(), 420);
    assert_eq!(metrics.duplicates.get(), 0);
    assert_eq!(metrics.restarts.get(), 0);
    assert_eq!(metrics.position.get(), 420);
    assert_eq!(metrics.lag.get(), 0);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains("loh_relay_events_published_total 420"),
        "{text}"
    );
    assert!(text.contains("loh_relay_lag_events 0"), "{text}");

    cancel.cancel();
    task.await
        .expect("relay task")
        .expect("a cancelled relay ends cleanly");
}

#[tokio::test]
async fn a_relay_without_head_notifications_picks_up_commits_by_polling() {
    let mut env = Env::new().await;
    let relay = env.relay(100).await;
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(None, cancel.clone()));

    let head = env.append(10, 3).await;
    wait_for_position(&mut progress, head, 10).await;
    let head = env.append(25, 25).await;
    wait_for_position(&mut progress, head, 10).await;
    env.assert_stream_mirrors_store().await;

    cancel.cancel();
    task.await.expect("relay task").expect("clean end");
}

#[tokio::test]
async fn a_relay_killed_mid_stream_resumes_without_gaps_or_duplicates() {
    let mut env = Env::new().await;
    let total = env.append(20_000, 500).await;
    let mut kills = 0;
    let mut reached = 0;
    while kills < 6 && reached < total {
        let relay = env.relay(500).await;
        let mut progress = relay.progress();
        let task = tokio::spawn(relay.run(env.head.subscribe(), CancellationToken::new()));
        // Let this incarnation get at least one batch acked past where the last one stopped,
        // then kill it at a random moment of its next batches (publishes and acks in flight).
        wait_for_position(&mut progress, (reached + 500).min(total), 30).await;
        tokio::time::sleep(Duration::from_micros(
            (Uuid::new_v4().as_u128() % 4_000) as u64,
        ))
        .await;
        task.abort();
        assert!(
            task.await.is_err_and(|e| e.is_cancelled()),
            "the relay was killed, not finished"
        );
        reached = *progress.borrow();
        kills += 1;
    }
    assert!(kills >= 3, "the backlog outlasted several kills ({kills})");

    let relay = env.relay(500).await;
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));
    wait_for_position(&mut progress, total, 60).await;
    env.assert_stream_mirrors_store().await;
    cancel.cancel();
    task.await.expect("relay task").expect("clean end");
}

#[tokio::test]
async fn two_relays_racing_on_one_stream_still_store_each_position_once_in_order() {
    let mut env = Env::new().await;
    let total = env.append(6_000, 400).await;
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut progresses = Vec::new();
    for batch in [300, 700] {
        let relay = env.relay(batch).await;
        progresses.push(relay.progress());
        tasks.push(tokio::spawn(
            relay.run(env.head.subscribe(), cancel.clone()),
        ));
    }
    for progress in &mut progresses {
        wait_for_position(progress, total, 60).await;
    }
    env.assert_stream_mirrors_store().await;
    cancel.cancel();
    for task in tasks {
        task.await.expect("relay task").expect("clean end");
    }
}

#[tokio::test]
async fn a_relay_rides_out_its_connection_dropping_mid_stream() {
    let mut env = Env::new().await;
    let total = env.append(10_000, 500).await;
    let js = env.connect().await;
    let client = js.client();
    let store: std::sync::Arc<dyn loh_events::EventStore> = env.store.clone();
    let metrics = RelayMetrics::default();
    let relay =
        loh_nats::relay::Relay::new(store, js, env.def.clone()).with_metrics(metrics.clone());
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));

    wait_for_position(&mut progress, 1_000, 30).await;
    client.force_reconnect().await.expect("reconnect");
    wait_for_position(&mut progress, 5_000, 60).await;
    client.force_reconnect().await.expect("reconnect");
    wait_for_position(&mut progress, total, 60).await;
    env.assert_stream_mirrors_store().await;
    cancel.cancel();
    task.await.expect("relay task").expect("clean end");
}

#[tokio::test]
async fn a_relay_whose_connection_was_closed_is_replaced_without_gaps_or_duplicates() {
    let mut env = Env::new().await;
    let total = env.append(10_000, 500).await;
    let js = env.connect().await;
    let client = js.client();
    let store: std::sync::Arc<dyn loh_events::EventStore> = env.store.clone();
    let metrics = RelayMetrics::default();
    let relay =
        loh_nats::relay::Relay::new(store, js, env.def.clone()).with_metrics(metrics.clone());
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));

    wait_for_position(&mut progress, 1_000, 30).await;
    client.drain().await.expect("close the relay's connection");
    // The closed relay keeps failing and backing off, without ever reaching the end.
    tokio::time::timeout(Duration::from_secs(20), async {
        while metrics.restarts.get() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay notices its closed connection and retries");
    cancel.cancel();
    task.await
        .expect("relay task")
        .expect("a relay failing transiently still ends cleanly when cancelled");

    let relay = env.relay(1_000).await;
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));
    wait_for_position(&mut progress, total, 60).await;
    env.assert_stream_mirrors_store().await;
    cancel.cancel();
    task.await.expect("relay task").expect("clean end");
}

#[tokio::test]
async fn a_nats_server_crash_mid_stream_loses_and_doubles_nothing() {
    let mut server = NatsServer::start().await;
    let mut env = Env::with_nats(server.url()).await;
    let total = env.append(20_000, 500).await;
    let metrics = RelayMetrics::default();
    // Acks time out after 1 s, so an outage of 1.5 s fails the publishes in flight.
    let client = async_nats::connect(server.url()).await.expect("NATS");
    let js = async_nats::jetstream::context::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(client);
    let store: std::sync::Arc<dyn loh_events::EventStore> = env.store.clone();
    let relay =
        loh_nats::relay::Relay::new(store, js, env.def.clone()).with_metrics(metrics.clone());
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(relay.run(env.head.subscribe(), cancel.clone()));

    wait_for_position(&mut progress, 2_000, 30).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Commits keep coming while NATS is down.
    let total = total.max(env.append(1_000, 100).await);
    server.restart().await;
    wait_for_position(&mut progress, total, 90).await;
    assert!(
        metrics.restarts.get() >= 1,
        "the relay resumed after the outage"
    );
    let held = env.stream_contents().await;
    let positions: Vec<u64> = held.iter().map(|r| r.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let stored = env.stored().await;
    for (r, e) in held.iter().zip(&stored) {
        assert_eq!(&r.event, e);
        assert_eq!(r.msg_id, e.event_id.to_string());
    }
    cancel.cancel();
    task.await.expect("relay task").expect("clean end");
}

#[tokio::test]
async fn a_stream_holding_another_history_stops_the_relay() {
    let mut env = Env::new().await;
    env.append(5, 5).await;
    // Position 1 of some other log, published into this shard's stream.
    let player_id = Uuid::new_v4();
    let stranger = StoredEvent::seal(
        "w1",
        1,
        GENESIS_HASH,
        &NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: loh_events::player_stream(player_id),
            stream_version: 1,
            tick: 1,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: 0,
            body: loh_events::EventBody::PlayerSpawned {
                player_id,
                x: 0,
                y: 0,
            },
        },
    )
    .expect("seal");
    let js = env.connect().await;
    env.def.ensure(&js).await.expect("stream");
    let m = encode_event(&env.def, &stranger).expect("encode");
    js.publish_with_headers(m.subject, m.headers, m.payload)
        .await
        .expect("publish")
        .await
        .expect("ack");

    let relay = env.relay(100).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        relay.run(None, CancellationToken::new()),
    )
    .await
    .expect("the relay stops by itself");
    match outcome {
        Err(Error::Diverged {
            position: 1,
            in_stream,
            ..
        }) => assert_eq!(in_stream, stranger.event_id),
        other => panic!("expected a divergence at position 1, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_holding_a_foreign_message_stops_the_relay() {
    let mut env = Env::new().await;
    env.append(3, 3).await;
    let js = env.connect().await;
    env.def.ensure(&js).await.expect("stream");
    js.publish(env.def.subject("not-an-event"), "hello".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let relay = env.relay(100).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        relay.run(None, CancellationToken::new()),
    )
    .await
    .expect("the relay stops by itself");
    assert!(
        matches!(outcome, Err(Error::ForeignMessage(_))),
        "{outcome:?}"
    );
}
