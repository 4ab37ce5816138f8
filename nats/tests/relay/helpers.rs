//! A fresh Postgres store and a unique JetStream stream per test, and readers of what the
//! stream holds.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, Lease, NewEvent, StoredEvent};
use loh_nats::relay::{Relay, RelayConfig};
use loh_nats::{EventStreamDef, MSG_ID_HEADER, decode_message, position_header};
use loh_testkit::{TestDb, nats_url, unique_name};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// A test's store, stream and head watch.
pub struct Env {
    pub store: Arc<PgEventStore>,
    pub def: EventStreamDef,
    pub head: watch::Sender<u64>,
    pub nats_url: String,
    lease: Lease,
    players: Vec<Uuid>,
    versions: Vec<u64>,
    tick: u64,
    _stream: StreamGuard,
    _db: TestDb,
}

impl Env {
    /// A migrated store for a fresh database and a unique stream on the test NATS server.
    pub async fn new() -> Env {
        Env::with_nats(nats_url()).await
    }

    /// As [`Env::new`], with the stream on the NATS server at `url`.
    pub async fn with_nats(url: String) -> Env {
        let db = TestDb::create().await;
        let store = PgEventStore::new(db.pool().await, "w1");
        store.migrate().await.expect("migrate");
        let lease = store.acquire().await.expect("lease");
        let token = unique_name("relay");
        let def = EventStreamDef {
            name: token.to_ascii_uppercase(),
            subject_prefix: format!("test.{token}"),
            replicas: 1,
        };
        Env {
            store: Arc::new(store),
            _stream: StreamGuard {
                name: def.name.clone(),
                url: url.clone(),
            },
            def,
            head: watch::Sender::new(0),
            nats_url: url,
            lease,
            players: (0..20).map(|_| Uuid::new_v4()).collect(),
            versions: vec![0; 20],
            tick: 0,
            _db: db,
        }
    }

    /// A JetStream context on a connection of its own.
    pub async fn connect(&self) -> jetstream::Context {
        let client = async_nats::connect(&self.nats_url)
            .await
            .expect("NATS reachable");
        jetstream::new(client)
    }

    /// A relay on a connection of its own, polling every 20 ms.
    pub async fn relay(&self, batch_size: usize) -> Relay {
        let store: Arc<dyn EventStore> = self.store.clone();
        Relay::new(store, self.connect().await, self.def.clone()).with_config(RelayConfig {
            batch_size,
            poll_interval: Duration::from_millis(20),
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
            ..RelayConfig::default()
        })
    }

    /// Appends `n` events in ticks of up to `per_tick`, bumps the head watch, returns the head.
    pub async fn append(&mut self, n: u64, per_tick: u64) -> u64 {
        let mut head = *self.head.borrow();
        let mut left = n;
        while left > 0 {
            self.tick += 1;
            let count = left.min(per_tick);
            let events = (0..count)
                .map(|i| {
                    let p = (i as usize + self.tick as usize) % self.players.len();
                    self.versions[p] += 1;
                    NewEvent {
                        event_id: Uuid::new_v4(),
                        stream_id: loh_events::player_stream(self.players[p]),
                        stream_version: self.versions[p],
                        tick: self.tick,
                        correlation_id: Uuid::new_v4(),
                        causation_id: None,
                        occurred_at_us: 1_700_000_000_000_000 + self.tick as i64,
                        body: EventBody::PlayerSaid {
                            player_id: self.players[p],
                            text: format!("tick {} line {i}", self.tick),
                        },
                    }
                })
                .collect();
            let appended = self
                .store
                .append(
                    self.lease,
                    AppendBatch {
                        events,
                        journal: Vec::new(),
                    },
                )
                .await
                .expect("append");
            head = appended.head.position;
            self.head.send_replace(head);
            left -= count;
        }
        head
    }

    /// Every event of the store, in position order.
    pub async fn stored(&self) -> Vec<StoredEvent> {
        let mut all = Vec::new();
        loop {
            let batch = self
                .store
                .read_from(all.len() as u64 + 1, 5_000)
                .await
                .expect("read");
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    /// Every message the stream holds, in stream order.
    pub async fn stream_contents(&self) -> Vec<Relayed> {
        let js = self.connect().await;
        let stream = js.get_stream(&self.def.name).await.expect("stream exists");
        let count = stream.get_info().await.expect("info").state.messages as usize;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .expect("consumer");
        let mut messages = consumer.messages().await.expect("messages");
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("the stream delivers what it holds")
                .expect("message stream open")
                .expect("message");
            let sequence = m.info().expect("jetstream message").stream_sequence;
            let headers = m.headers.clone().unwrap_or_default();
            out.push(Relayed {
                sequence,
                position: position_header(Some(&headers))
                    .expect("position header parses")
                    .expect("position header present"),
                msg_id: headers
                    .get(MSG_ID_HEADER)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default(),
                subject: m.subject.to_string(),
                event: decode_message(&m).expect("decodes"),
            });
        }
        out
    }

    /// Asserts the stream holds exactly the store's events, each once, in order, as documented.
    pub async fn assert_stream_mirrors_store(&self) {
        let stored = self.stored().await;
        let held = self.stream_contents().await;
        let positions: Vec<u64> = held.iter().map(|r| r.position).collect();
        let expected: Vec<u64> = (1..=stored.len() as u64).collect();
        assert_eq!(
            positions, expected,
            "the stream holds exactly positions 1..=N, in order"
        );
        for (r, e) in held.iter().zip(&stored) {
            assert_eq!(r.msg_id, e.event_id.to_string(), "Msg-Id is the event id");
            assert_eq!(&r.event, e, "the payload is the stored event");
            assert_eq!(r.subject, self.def.subject(&e.stream_id));
        }
        let sequences: Vec<u64> = held.iter().map(|r| r.sequence).collect();
        assert_eq!(
            sequences, expected,
            "nothing else was ever stored (no duplicate, no removed message)"
        );
    }
}

/// One message of the stream.
#[derive(Debug)]
pub struct Relayed {
    pub sequence: u64,
    pub position: u64,
    pub msg_id: String,
    pub subject: String,
    pub event: StoredEvent,
}

/// Waits until `progress` reaches `position`, failing after `secs` seconds.
pub async fn wait_for_position(progress: &mut watch::Receiver<u64>, position: u64, secs: u64) {
    let waited = tokio::time::timeout(
        Duration::from_secs(secs),
        progress.wait_for(|p| *p >= position),
    )
    .await
    .map(|r| r.is_ok());
    match waited {
        Ok(true) => {}
        Ok(false) => panic!("the relay stopped at {}", *progress.borrow()),
        Err(_) => panic!(
            "the relay reached {} of {position} within {secs} s",
            *progress.borrow()
        ),
    }
}

/// Deletes the test's stream when the test ends, also when it panics.
struct StreamGuard {
    name: String,
    url: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(client) = async_nats::connect(&url).await {
                    let _ = jetstream::new(client).delete_stream(&name).await;
                }
            });
        })
        .join();
    }
}
