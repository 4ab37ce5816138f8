//! The stream definition and wire format against a real NATS server (`LOH_TEST_NATS`).

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use loh_events::{EventBody, GENESIS_HASH, NewEvent, StoredEvent};
use loh_nats::{EventStreamDef, decode_message, decode_stream_message, encode_event};
use loh_testkit::{nats_url, unique_name};
use uuid::Uuid;

fn test_def() -> EventStreamDef {
    let token = unique_name("nats");
    EventStreamDef {
        name: token.to_ascii_uppercase(),
        subject_prefix: format!("test.{token}"),
        replicas: 1,
    }
}

fn events(n: u64) -> Vec<StoredEvent> {
    let mut prev = GENESIS_HASH;
    (1..=n)
        .map(|position| {
            let player_id = Uuid::new_v4();
            let new = NewEvent {
                event_id: Uuid::new_v4(),
                stream_id: loh_events::player_stream(player_id),
                stream_version: 1,
                tick: position,
                correlation_id: Uuid::new_v4(),
                causation_id: None,
                occurred_at_us: 1_700_000_000_000_000,
                body: EventBody::PlayerSpawned {
                    player_id,
                    x: 1,
                    y: 2,
                },
            };
            let e = StoredEvent::seal("w", position, prev, &new).expect("seal");
            prev = e.hash;
            e
        })
        .collect()
}

async fn publish(js: &jetstream::Context, def: &EventStreamDef, e: &StoredEvent) -> u64 {
    let m = encode_event(def, e).expect("encode");
    js.publish_with_headers(m.subject, m.headers, m.payload)
        .await
        .expect("publish")
        .await
        .expect("ack")
        .sequence
}

#[tokio::test]
async fn published_events_read_back_as_the_same_events_and_the_tail_names_the_last() {
    let client = async_nats::connect(nats_url())
        .await
        .expect("NATS reachable");
    let js = jetstream::new(client);
    let def = test_def();
    let stream = def.ensure(&js).await.expect("ensure");
    let tail = def.tail(&js).await.expect("tail of an empty stream");
    assert_eq!(tail.last_event, None);
    assert_eq!(tail.position(), 0);

    let events = events(3);
    for e in &events {
        publish(&js, &def, e).await;
    }
    // A repeat is dropped by the dedupe window.
    let m = encode_event(&def, &events[2]).expect("encode");
    let ack = js
        .publish_with_headers(m.subject, m.headers, m.payload)
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert!(ack.duplicate);

    let tail = def.tail(&js).await.expect("tail");
    assert_eq!(tail.last_sequence, 3);
    assert_eq!(tail.position(), 3);
    assert_eq!(
        tail.last_event.map(|t| t.event_id),
        Some(events[2].event_id)
    );

    let direct = stream.direct_get(2).await.expect("direct get");
    assert_eq!(decode_stream_message(&direct).expect("decode"), events[1]);

    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("reader".into()),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(3)
        .messages()
        .await
        .expect("fetch");
    let mut read = Vec::new();
    while let Some(m) = messages.next().await {
        let m = m.expect("message");
        read.push(decode_message(&m).expect("decode"));
        m.ack().await.expect("ack");
    }
    assert_eq!(read, events);

    js.delete_stream(&def.name).await.expect("delete stream");
}

#[tokio::test]
async fn a_purged_stream_has_no_tail_event_but_keeps_its_sequence() {
    let client = async_nats::connect(nats_url())
        .await
        .expect("NATS reachable");
    let js = jetstream::new(client);
    let def = test_def();
    let stream = def.ensure(&js).await.expect("ensure");
    for e in &events(2) {
        publish(&js, &def, e).await;
    }
    stream.purge().await.expect("purge");
    let tail = def.tail(&js).await.expect("tail");
    assert_eq!(tail.last_sequence, 2);
    assert_eq!(tail.last_event, None);
    js.delete_stream(&def.name).await.expect("delete stream");
}

#[tokio::test]
async fn an_existing_stream_keeps_its_replica_count_whatever_a_process_is_configured_with() {
    let client = loh_nats::connect(&nats_url())
        .await
        .expect("NATS reachable");
    let js = jetstream::new(client);
    let def = test_def();
    let created = def.ensure(&js).await.expect("create with one replica");
    assert_eq!(created.cached_info().config.num_replicas, 1);
    // A process configured for the cluster meets the stream: it is left as it is (a single
    // server could not hold three replicas, and a cluster's stream is never scaled down).
    let again = def
        .clone()
        .with_replicas(3)
        .ensure(&js)
        .await
        .expect("an existing stream is taken as it is");
    assert_eq!(again.cached_info().config.num_replicas, 1);
    // A new stream asked for three replicas on a single server is refused, not made smaller.
    let other = test_def().with_replicas(3);
    assert!(
        other.ensure(&js).await.is_err(),
        "one server cannot hold three copies"
    );
    let _ = js.delete_stream(&def.name).await;
    let _ = js.delete_stream(&other.name).await;
}

/// Roles starting at once against a new server (the Compose files start the tick writer and the
/// projectors together) all declare the stream at once: each gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_declaring_a_new_stream_at_once_all_get_it() {
    let mut clients = Vec::new();
    for _ in 0..6 {
        let client = loh_nats::connect(&nats_url())
            .await
            .expect("NATS reachable");
        clients.push(jetstream::new(client));
    }
    for _ in 0..10 {
        let def = test_def();
        let declaring: Vec<_> = clients
            .iter()
            .cloned()
            .map(|js| {
                let def = def.clone();
                tokio::spawn(async move {
                    def.ensure(&js)
                        .await
                        .map(|s| s.cached_info().config.name.clone())
                })
            })
            .collect();
        for (k, d) in declaring.into_iter().enumerate() {
            let name = d.await.unwrap().unwrap_or_else(|e| panic!("role {k}: {e}"));
            assert_eq!(name, def.name);
        }
        let _ = clients[0].delete_stream(&def.name).await;
    }
}
