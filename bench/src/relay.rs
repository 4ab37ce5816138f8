//! Relay throughput against a raw JetStream publish loop (`loh bench relay`).
//!
//! One run: append `events` events to a scratch PostgreSQL database (created next to `pg_url`'s
//! and dropped afterwards), then
//! 1. relay them with a [`Relay`] into a fresh stream, timed from the relay's start until
//!    JetStream acknowledged the last position;
//! 2. publish the very same messages (same subjects under another prefix, same headers and
//!    bytes, encoded before the clock starts) with a plain async-nats loop into another fresh
//!    stream, pipelined like the relay: publish a window of [`RelayConfig::batch_size`]
//!    messages, then await the acks of the window before, in order (two windows in flight).
//!
//! The ratio relay ÷ raw is what the relay costs over the bare transport (store reads, encoding,
//! ordering guards). Both streams are deleted at the end.

use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, StoredEvent};
use loh_nats::relay::{Relay, RelayConfig};
use loh_nats::{EncodedEvent, EventStreamDef, encode_event};
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The scratch database could not be created, reached or dropped.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] loh_events::Error),
    /// NATS could not be reached or refused a publish.
    #[error("nats: {0}")]
    Nats(String),
    /// The relay stopped with a fatal error.
    #[error("relay: {0}")]
    Relay(#[from] loh_nats::relay::Error),
}

/// The outcome of [`relay_vs_raw_publish`].
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub events: u64,
    /// Events per publish window (the relay's batch size), in both runs.
    pub window: usize,
    /// Relay start to the last ack.
    pub relay: Duration,
    /// First raw publish to the last ack.
    pub raw: Duration,
    /// For reference: reading every event from the store in batches of one window, alone.
    pub store_read: Duration,
    /// For reference: encoding every event to its message, alone.
    pub encode: Duration,
}

impl BenchReport {
    /// Relayed events per second.
    pub fn relay_rate(&self) -> f64 {
        self.events as f64 / self.relay.as_secs_f64().max(1e-9)
    }

    /// Raw-published events per second.
    pub fn raw_rate(&self) -> f64 {
        self.events as f64 / self.raw.as_secs_f64().max(1e-9)
    }

    /// Relay rate ÷ raw rate (1.0 = the relay costs nothing over the transport).
    pub fn ratio(&self) -> f64 {
        self.relay_rate() / self.raw_rate().max(1e-9)
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "relay (store → JetStream): {} events in {:.3} s = {:.0} events/s",
            self.events,
            self.relay.as_secs_f64(),
            self.relay_rate()
        )?;
        writeln!(
            f,
            "raw JetStream publish:     {} events in {:.3} s = {:.0} events/s (windows of {})",
            self.events,
            self.raw.as_secs_f64(),
            self.raw_rate(),
            self.window
        )?;
        writeln!(
            f,
            "  for reference, alone: store reads {:.3} s, encoding {:.3} s",
            self.store_read.as_secs_f64(),
            self.encode.as_secs_f64()
        )?;
        write!(f, "ratio relay ÷ raw: {:.2}", self.ratio())
    }
}

/// Runs the benchmark with `events` events (see the module docs). `pg_url` names any database
/// of a server where the user may create databases; `nats_url` a server with JetStream.
pub async fn relay_vs_raw_publish(
    pg_url: &str,
    nats_url: &str,
    events: u64,
) -> Result<BenchReport, BenchError> {
    let (db_name, url) = loh_migrations::scratch::create_database(pg_url, "loh_bench").await?;
    let pool = PgPoolOptions::new().max_connections(4).connect(&url).await;
    let outcome = match pool {
        Ok(pool) => {
            let outcome = run(pool.clone(), nats_url, events).await;
            pool.close().await;
            outcome
        }
        Err(e) => Err(e.into()),
    };
    let dropped = loh_migrations::scratch::drop_database(pg_url, &db_name).await;
    let report = outcome?;
    dropped?;
    Ok(report)
}

async fn run(pool: sqlx::PgPool, nats_url: &str, events: u64) -> Result<BenchReport, BenchError> {
    let store = PgEventStore::new(pool, "bench");
    store.migrate().await?;
    append_events(&store, events).await?;
    // A live events table has planner statistics; a scratch one gets them now, as autovacuum
    // would shortly, so the relay's reads use the primary key as they would in production.
    store.pool().execute("ANALYZE events").await?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let window = RelayConfig::default().batch_size;

    let token = Uuid::new_v4().simple().to_string();
    let relay_def = EventStreamDef {
        name: format!("LOH_BENCH_RELAY_{token}"),
        subject_prefix: format!("bench.relay.{token}"),
        replicas: 1,
    };
    let raw_def = EventStreamDef {
        name: format!("LOH_BENCH_RAWPB_{token}"),
        subject_prefix: format!("bench.rawpb.{token}"),
        replicas: 1,
    };
    let nats = |e: &dyn fmt::Display| BenchError::Nats(e.to_string());

    // 1. The relay, on a connection of its own.
    let client = async_nats::connect(nats_url).await.map_err(|e| nats(&e))?;
    let js = jetstream::new(client.clone());
    relay_def.ensure(&js).await.map_err(|e| nats(&e))?;
    let relay = Relay::new(store.clone(), js.clone(), relay_def.clone());
    let mut progress = relay.progress();
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(relay.run(None, cancel.clone()));
    let caught_up = progress.wait_for(|p| *p >= events).await.is_ok();
    let relay_time = started.elapsed();
    cancel.cancel();
    task.await
        .map_err(|e| BenchError::Nats(format!("relay task: {e}")))??;
    if !caught_up {
        return Err(BenchError::Nats(
            "the relay stopped before the last ack".into(),
        ));
    }

    // 2. The raw loop, on another connection, with the same messages encoded beforehand.
    let raw_client = async_nats::connect(nats_url).await.map_err(|e| nats(&e))?;
    let raw_js = jetstream::new(raw_client.clone());
    raw_def.ensure(&raw_js).await.map_err(|e| nats(&e))?;
    let started = Instant::now();
    let stored = read_all(store.as_ref(), events, window).await?;
    let read_time = started.elapsed();
    let started = Instant::now();
    let mut encoded: Vec<EncodedEvent> = Vec::with_capacity(stored.len());
    for event in &stored {
        encoded.push(encode_event(&raw_def, event).map_err(|e| nats(&e))?);
    }
    let encode_time = started.elapsed();

    let started = Instant::now();
    let mut in_flight: Vec<PublishAckFuture> = Vec::new();
    let mut encoded = encoded.into_iter().peekable();
    while encoded.peek().is_some() {
        let mut acks = Vec::with_capacity(window);
        for m in encoded.by_ref().take(window) {
            acks.push(
                raw_js
                    .publish_with_headers(m.subject, m.headers, m.payload)
                    .await
                    .map_err(|e| nats(&e))?,
            );
        }
        for ack in std::mem::replace(&mut in_flight, acks) {
            ack.await.map_err(|e| nats(&e))?;
        }
    }
    for ack in in_flight {
        ack.await.map_err(|e| nats(&e))?;
    }
    let raw_time = started.elapsed();

    for def in [&relay_def, &raw_def] {
        js.delete_stream(&def.name).await.map_err(|e| nats(&e))?;
    }
    Ok(BenchReport {
        events,
        window,
        relay: relay_time,
        raw: raw_time,
        store_read: read_time,
        encode: encode_time,
    })
}

/// Appends `n` movement events of 100 players, 500 per tick.
async fn append_events(store: &PgEventStore, n: u64) -> Result<(), BenchError> {
    let lease = store.acquire().await?;
    let players: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    let mut versions = vec![0u64; players.len()];
    let mut appended = 0u64;
    let mut tick = 0u64;
    while appended < n {
        tick += 1;
        let count = (n - appended).min(500);
        let events = (0..count)
            .map(|i| {
                let p = ((appended + i) % players.len() as u64) as usize;
                versions[p] += 1;
                let x = (versions[p] % 64) as i32;
                NewEvent {
                    event_id: Uuid::new_v4(),
                    stream_id: loh_events::player_stream(players[p]),
                    stream_version: versions[p],
                    tick,
                    correlation_id: Uuid::new_v4(),
                    causation_id: None,
                    occurred_at_us: 1_700_000_000_000_000 + tick as i64 * 400_000,
                    body: EventBody::PlayerMoved {
                        player_id: players[p],
                        from_x: x,
                        from_y: 10,
                        x: x + 1,
                        y: 10,
                        running: false,
                        path_to: None,
                    },
                }
            })
            .collect();
        store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: Vec::new(),
                },
            )
            .await?;
        appended += count;
    }
    Ok(())
}

async fn read_all(
    store: &dyn EventStore,
    n: u64,
    batch: usize,
) -> Result<Vec<StoredEvent>, BenchError> {
    let mut all = Vec::with_capacity(n as usize);
    while (all.len() as u64) < n {
        let next = store.read_from(all.len() as u64 + 1, batch).await?;
        if next.is_empty() {
            break;
        }
        all.extend(next);
    }
    Ok(all)
}
