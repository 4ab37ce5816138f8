//! A small world that appends player events to a real store, and the read model they imply.

use async_nats::jetstream;
use loh_events::{AppendBatch, EventBody, EventStore, Lease, NewEvent, StoredEvent};
use loh_nats::{EventStreamDef, POSITION_HEADER};
use loh_projections::PlayerPositionRow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Appends plausible player events (spawn, then moves and chat) to a store, tick by tick.
pub struct World {
    pub store: Arc<dyn EventStore>,
    lease: Lease,
    players: Vec<Uuid>,
    versions: BTreeMap<Uuid, u64>,
    tiles: BTreeMap<Uuid, (i32, i32)>,
    tick: u64,
    rng: u64,
    /// Every event appended so far, in position order.
    pub events: Vec<StoredEvent>,
}

impl World {
    pub async fn new(store: Arc<dyn EventStore>, players: usize) -> World {
        let lease = store.acquire().await.expect("acquire the shard lease");
        World {
            store,
            lease,
            players: (0..players).map(|_| Uuid::new_v4()).collect(),
            versions: BTreeMap::new(),
            tiles: BTreeMap::new(),
            tick: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            events: Vec::new(),
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic, good enough to vary the events.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_body(&mut self) -> EventBody {
        let pick = (self.next_random() % self.players.len() as u64) as usize;
        let player_id = self.players[pick];
        let roll = self.next_random();
        match self.tiles.get(&player_id).copied() {
            None => {
                let (x, y) = (3200 + (roll % 20) as i32, 3200 + (roll / 20 % 20) as i32);
                self.tiles.insert(player_id, (x, y));
                EventBody::PlayerSpawned { player_id, x, y }
            }
            Some(_) if roll.is_multiple_of(3) => EventBody::PlayerSaid {
                player_id,
                text: format!("line {} at tick {}", roll % 1000, self.tick),
            },
            Some((from_x, from_y)) => {
                let dx = (roll / 3 % 3) as i32 - 1;
                let dy = (roll / 9 % 3) as i32 - 1;
                let (x, y) = (from_x + dx, from_y + dy);
                self.tiles.insert(player_id, (x, y));
                EventBody::PlayerMoved {
                    player_id,
                    from_x,
                    from_y,
                    x,
                    y,
                    running: roll.is_multiple_of(2),
                    path_to: None,
                }
            }
        }
    }

    /// Appends `ticks` ticks of `per_tick` events each; returns the stored events.
    pub async fn append(&mut self, ticks: usize, per_tick: usize) -> Vec<StoredEvent> {
        let mut out = Vec::new();
        for _ in 0..ticks {
            self.tick += 1;
            let mut events = Vec::with_capacity(per_tick);
            for _ in 0..per_tick {
                let body = self.next_body();
                let player_id = body.player_id().expect("player events");
                let version = self.versions.entry(player_id).or_insert(0);
                *version += 1;
                events.push(NewEvent {
                    event_id: Uuid::new_v4(),
                    stream_id: loh_events::player_stream(player_id),
                    stream_version: *version,
                    tick: self.tick,
                    correlation_id: Uuid::new_v4(),
                    causation_id: None,
                    occurred_at_us: now_us(),
                    body,
                });
            }
            let appended = self
                .store
                .append(
                    self.lease,
                    AppendBatch {
                        events,
                        journal: vec![],
                    },
                )
                .await
                .expect("append a tick");
            out.extend(appended.events);
        }
        self.events.extend(out.iter().cloned());
        out
    }

    /// The head position.
    pub fn head(&self) -> u64 {
        self.events.last().map(|e| e.position).unwrap_or(0)
    }

    /// The read model the events so far imply, computed independently of the projection.
    pub fn expected(&self) -> Vec<PlayerPositionRow> {
        let mut rows: BTreeMap<Uuid, PlayerPositionRow> = BTreeMap::new();
        for event in &self.events {
            match event.body().expect("decode") {
                EventBody::PlayerSpawned { player_id, x, y }
                | EventBody::PlayerMoved {
                    player_id, x, y, ..
                } => {
                    let row = rows.entry(player_id).or_insert(PlayerPositionRow {
                        player_id,
                        world: event.shard.clone(),
                        x: 0,
                        y: 0,
                        last_say: None,
                        last_say_tick: None,
                        last_position: 0,
                    });
                    row.world = event.shard.clone();
                    row.x = x.into();
                    row.y = y.into();
                    row.last_position = event.position;
                }
                EventBody::PlayerSaid { player_id, text } => {
                    if let Some(row) = rows.get_mut(&player_id) {
                        row.last_say = Some(text);
                        row.last_say_tick = Some(event.tick as i64);
                        row.last_position = event.position;
                    }
                }
                _ => {}
            }
        }
        // Sorted like `all_rows` (by the text form of the id).
        let mut rows: Vec<_> = rows.into_values().collect();
        rows.sort_by_key(|r| r.player_id.to_string());
        rows
    }
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

/// Publishes `event` the way the relay does; `msg_id` overrides `Nats-Msg-Id` (a repeat that
/// JetStream's dedupe window would otherwise drop).
pub async fn publish(
    js: &jetstream::Context,
    def: &EventStreamDef,
    event: &StoredEvent,
    msg_id: Option<String>,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        msg_id
            .unwrap_or_else(|| event.event_id.to_string())
            .as_str(),
    );
    headers.insert(POSITION_HEADER, event.position.to_string().as_str());
    js.publish_with_headers(
        def.subject(&event.stream_id),
        headers,
        serde_json::to_vec(event).expect("json").into(),
    )
    .await
    .expect("publish")
    .await
    .expect("publish ack");
}

/// Polls `check` until it returns true, or panics after `limit` with `what`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
