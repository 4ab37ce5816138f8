//! The fan-out path under failure, on real PostgreSQL and NATS: the relay and, separately, the
//! projector are killed mid-stream again and again and restarted; afterwards JetStream holds every
//! position once, in order, and the read model equals the state computed directly from the events.

use futures::StreamExt;
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, player_stream};
use loh_nats::EventStreamDef;
use loh_nats::relay::Relay;
use loh_projections::runner::GROUP_DURABLE;
use loh_projections::{Projector, ReadDb, Source, player_position};
use loh_testkit::{TestDb, nats_url, unique_name};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PLAYERS: u128 = 50;
const TICKS: u64 = 300;

/// Appends a history: every player spawns, then moves and speaks on every tick.
async fn history(store: &PgEventStore) {
    let lease = store.acquire().await.unwrap();
    let mut versions: BTreeMap<Uuid, u64> = BTreeMap::new();
    for tick in 1..=TICKS {
        let mut events = Vec::new();
        for p in 1..=PLAYERS {
            let player_id = Uuid::from_u128(p);
            let v = versions.entry(player_id).or_default();
            *v += 1;
            let body = if *v == 1 {
                EventBody::PlayerSpawned {
                    player_id,
                    x: 3200,
                    y: 3200,
                }
            } else if tick % 3 == 0 {
                EventBody::PlayerSaid {
                    player_id,
                    text: format!("tick {tick}"),
                }
            } else {
                let x = 3200 + (tick as i32 % 7);
                EventBody::PlayerMoved {
                    player_id,
                    from_x: x - 1,
                    from_y: 3200,
                    x,
                    y: 3200,
                    running: false,
                    path_to: None,
                }
            };
            events.push(NewEvent {
                event_id: Uuid::new_v4(),
                stream_id: player_stream(player_id),
                stream_version: *v,
                tick,
                correlation_id: Uuid::new_v4(),
                causation_id: None,
                occurred_at_us: 0,
                body,
            });
        }
        store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: vec![],
                },
            )
            .await
            .unwrap();
    }
}

/// (x, y, last_say) per player, folded directly from the events.
async fn expected(store: &dyn EventStore) -> BTreeMap<Uuid, (i64, i64, Option<String>)> {
    let mut state = BTreeMap::new();
    for e in store.read_from(1, usize::MAX >> 1).await.unwrap() {
        match e.body().unwrap() {
            EventBody::PlayerSpawned { player_id, x, y } => {
                state.insert(player_id, (x as i64, y as i64, None));
            }
            EventBody::PlayerMoved {
                player_id, x, y, ..
            } => {
                let s = state.get_mut(&player_id).unwrap();
                (s.0, s.1) = (x as i64, y as i64);
            }
            EventBody::PlayerSaid { player_id, text } => {
                state.get_mut(&player_id).unwrap().2 = Some(text)
            }
            _ => {}
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_relay_and_the_projector_mid_stream_loses_and_doubles_nothing() {
    let db = TestDb::create().await;
    let store = PgEventStore::connect(&db.url, "world1").await.unwrap();
    store.migrate().await.unwrap();
    history(&store).await;
    let head = store.head().await.unwrap().position;
    let store: Arc<dyn EventStore> = Arc::new(store);

    let def = EventStreamDef {
        name: unique_name("PIPE").to_uppercase(),
        subject_prefix: unique_name("pipe"),
        replicas: 1,
    };
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    def.ensure(&js).await.unwrap();
    let read = ReadDb::connect(&db.url).await.unwrap();
    let projector = Projector::new(
        loh_projections::by_name("player_position").unwrap(),
        read.clone(),
        store.clone(),
    );
    let source = Source::Nats {
        jetstream: js.clone(),
        stream: def.clone(),
    };

    // Kill the relay and the projector, each at its own moments, several times.
    let mut relayed_after_kill = Vec::new();
    let mut stream_info = js.get_stream(&def.name).await.unwrap();
    for round in 0..5u64 {
        let relay_cancel = CancellationToken::new();
        let relay = Relay::new(store.clone(), js.clone(), def.clone());
        let relay_task = tokio::spawn(relay.run(None, relay_cancel.clone()));
        let proj_cancel = CancellationToken::new();
        let p = projector.clone();
        let s = source.clone();
        let pc = proj_cancel.clone();
        let proj_task = tokio::spawn(async move { p.run(s, pc).await });
        // Kill the relay once it has moved on since the last round (not on a wall-clock guess: a
        // loaded machine may take longer than any fixed delay to start publishing), then a little
        // later each round.
        let before = stream_info.info().await.unwrap().state.messages;
        let started = tokio::time::Instant::now();
        while stream_info.info().await.unwrap().state.messages == before
            && !relay_task.is_finished()
            && started.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(5 * round)).await;
        relay_task.abort();
        tokio::time::sleep(Duration::from_millis(25 * round)).await;
        proj_task.abort();
        let _ = relay_task.await;
        let _ = proj_task.await;
        relayed_after_kill.push(stream_info.info().await.unwrap().state.messages);
    }
    let mid_stream = relayed_after_kill
        .iter()
        .filter(|&&n| n > 0 && n < head)
        .count();
    assert!(
        mid_stream >= 2,
        "the relay was not killed mid-stream often enough: {relayed_after_kill:?} of {head}"
    );

    // Then let both finish (the projector may get there first, from the store).
    let cancel = CancellationToken::new();
    let relay = Relay::new(store.clone(), js.clone(), def.clone());
    let relayed = relay.progress();
    let relay_task = tokio::spawn(relay.run(None, cancel.clone()));
    let p = projector.clone();
    let c = cancel.clone();
    let proj_task = tokio::spawn(async move { p.run(source, c).await });
    let mut caught_up = false;
    for _ in 0..300 {
        if read.checkpoint("player_position").await.unwrap() == head && *relayed.borrow() == head {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        caught_up,
        "the projector or the relay never reached the head {head}"
    );
    cancel.cancel();
    relay_task.await.unwrap().unwrap();
    proj_task.await.unwrap().unwrap();

    // JetStream holds positions 1..=head, each once, in order.
    let stream = js.get_stream(&def.name).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    for want in 1..=head {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let got = loh_nats::decode_message(&msg).unwrap().position;
        assert_eq!(got, want, "JetStream skipped or repeated a position");
    }
    assert_eq!(stream.clone().info().await.unwrap().state.messages, head);

    // The read model equals the state folded directly from the events.
    let want = expected(store.as_ref()).await;
    let rows = player_position::all_rows(&read).await.unwrap();
    let got: BTreeMap<Uuid, (i64, i64, Option<String>)> = rows
        .into_iter()
        .map(|r| (r.player_id, (r.x, r.y, r.last_say)))
        .collect();
    assert_eq!(got, want);
    let _ = js.delete_stream(&def.name).await;
}

/// The durable consumers on the stream.
async fn consumers(js: &async_nats::jetstream::Context, def: &EventStreamDef) -> Vec<String> {
    let stream = js.get_stream(&def.name).await.unwrap();
    let mut names: Vec<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loh_projections_run_in_partitions_and_a_new_number_of_them_keeps_the_read_models_exact() {
    let db = TestDb::create().await;
    let store = PgEventStore::connect(&db.url, "world1").await.unwrap();
    store.migrate().await.unwrap();
    history(&store).await;
    let head = store.head().await.unwrap().position;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let def = EventStreamDef {
        name: unique_name("PART").to_uppercase(),
        subject_prefix: unique_name("part"),
        replicas: 1,
    };
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    def.ensure(&js).await.unwrap();
    let cancel = CancellationToken::new();
    let relay =
        tokio::spawn(Relay::new(store.clone(), js.clone(), def.clone()).run(None, cancel.clone()));
    let read = ReadDb::connect(&db.url).await.unwrap();
    let want = expected(store.as_ref()).await;

    // A consumer of a projector run on its own, as an earlier version ran each: it goes.
    js.get_stream(&def.name)
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("proj_player_position".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(consumers(&js, &def).await, ["proj_player_position"]);

    for partitions in [3, 2] {
        let running = loh::app::start_projections(
            db.url.clone().into(),
            nats_url().into(),
            crate::settings(Some(def.clone())),
            "127.0.0.1:0".parse().unwrap(),
            partitions,
            &["world1".to_owned()],
        )
        .await
        .unwrap();
        let mut caught_up = false;
        for _ in 0..300 {
            if read.checkpoint("player_position").await.unwrap() == head {
                caught_up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(caught_up, "{partitions} partitions never reached {head}");
        // One checkpoint and one durable consumer per partition; the old ones are gone.
        let names: Vec<String> = read
            .checkpoints()
            .await
            .unwrap()
            .into_iter()
            .filter(|(n, _)| n.starts_with("player_position"))
            .map(|(n, p)| {
                assert_eq!(p, head, "{n}");
                n
            })
            .collect();
        let layout: Vec<String> = (0..partitions)
            .map(|i| format!("player_position_p{i}_of_{partitions}"))
            .collect();
        assert_eq!(names, layout);
        // The partitions, like every read model, share one durable consumer; the consumers of
        // projectors run on their own (an earlier version, or the other partition count) are gone.
        let mut found = Vec::new();
        for _ in 0..100 {
            found = consumers(&js, &def).await;
            if found == [GROUP_DURABLE] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(found, [GROUP_DURABLE]);
        // Every delivered message is acknowledged.
        let stream = js.get_stream(&def.name).await.unwrap();
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(GROUP_DURABLE).await.unwrap();
        let mut info = consumer.info().await.unwrap().clone();
        for _ in 0..100 {
            if info.num_ack_pending == 0 && info.num_pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            info = consumer.info().await.unwrap().clone();
        }
        assert_eq!((info.num_ack_pending, info.num_pending), (0, 0), "{info:?}");
        // Every player's row is exactly the fold of the log, whichever partition wrote it.
        let got: BTreeMap<Uuid, (i64, i64, Option<String>)> = player_position::all_rows(&read)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.player_id, (r.x, r.y, r.last_say)))
            .collect();
        assert_eq!(got, want, "{partitions} partitions");
        running.shutdown().await.unwrap();
    }
    cancel.cancel();
    relay.await.unwrap().unwrap();
    let _ = js.delete_stream(&def.name).await;
}
