//! The append benchmark behind `loh bench append`: the store's append against a raw `COPY` of
//! the same rows, on the same PostgreSQL.

use loh_events::pg::{COPY_EVENTS, copy_binary, copy_in, seal_all};
use loh_events::{
    AppendBatch, EventBody, EventStore, GENESIS_HASH, Head, JournalEntry, NewEvent, Outcome,
    PgEventStore, Result, player_stream,
};
use loh_migrations::scratch;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::fmt;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Players (streams) the generated events are spread over.
const STREAMS: usize = 1_000;

/// What [`append_vs_copy`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Events appended (and rows copied).
    pub events: usize,
    /// Events per append, and rows per `COPY` in the per-batch comparison.
    pub batch: usize,
    /// Journal rows (a tick's commands) each append also stores; the raw `COPY`s have none.
    pub journal: usize,
    /// Mean payload size of the generated events, bytes.
    pub payload_bytes: usize,
    /// Time spent in `PgEventStore::append` (seal, lock, fence, COPY, trigger, COMMIT).
    pub append_time: Duration,
    /// Time spent in raw per-batch `COPY`s of the same rows into a table without triggers.
    pub copy_time: Duration,
    /// Time of one raw `COPY` of all the rows at once (the ceiling, for reference).
    pub bulk_copy_time: Duration,
    /// Time to seal the same events alone (JSON encoding and SHA-256 chaining, no I/O): the
    /// part of `append_time` that is the hash chain rather than the database.
    pub seal_time: Duration,
}

impl BenchReport {
    /// Events per second through the store.
    pub fn append_rate(&self) -> f64 {
        rate(self.events, self.append_time)
    }

    /// Rows per second of raw `COPY`, one `COPY` (and COMMIT) per batch.
    pub fn copy_rate(&self) -> f64 {
        rate(self.events, self.copy_time)
    }

    /// Rows per second of one raw `COPY` of every row.
    pub fn bulk_copy_rate(&self) -> f64 {
        rate(self.events, self.bulk_copy_time)
    }

    /// Append rate ÷ per-batch COPY rate (the goal is ≥ 0.5).
    pub fn ratio(&self) -> f64 {
        self.append_rate() / self.copy_rate()
    }

    /// Append rate ÷ single bulk COPY rate.
    pub fn bulk_ratio(&self) -> f64 {
        self.append_rate() / self.bulk_copy_rate()
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "events: {}, batch: {}, journal rows per append: {}, mean payload: {} bytes",
            self.events, self.batch, self.journal, self.payload_bytes
        )?;
        writeln!(
            f,
            "append (store):        {:>10.0} events/s  ({:.3} s)",
            self.append_rate(),
            self.append_time.as_secs_f64()
        )?;
        let appends = self.events.div_ceil(self.batch).max(1) as f64;
        let per_append = self.append_time.as_secs_f64() / appends;
        writeln!(
            f,
            "one append (a tick):   {:>10.1} ms        ({:.3} of the 400 ms tick)",
            per_append * 1000.0,
            per_append / 0.4
        )?;
        writeln!(
            f,
            "raw COPY per batch:    {:>10.0} rows/s    ({:.3} s)",
            self.copy_rate(),
            self.copy_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "raw COPY all at once:  {:>10.0} rows/s    ({:.3} s)",
            self.bulk_copy_rate(),
            self.bulk_copy_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "ratio append / COPY per batch: {:.2} (goal >= 0.5)",
            self.ratio()
        )?;
        writeln!(
            f,
            "ratio append / COPY all at once: {:.2}",
            self.bulk_ratio()
        )?;
        write!(
            f,
            "sealing alone (JSON + SHA-256, part of append): {:.3} s",
            self.seal_time.as_secs_f64()
        )
    }
}

/// Measures the store's append against raw `COPY` on the PostgreSQL at `pg_url`.
///
/// In one run it creates a scratch database `loh_bench_<uuid>` on that server (the URL's role
/// needs `CREATEDB`; the scratch database is dropped at the end), migrates it, generates
/// `events` events with ~110-byte payloads over 1,000 player streams, and appends them through
/// [`PgEventStore`] in batches of `batch`, each with `journal` journal rows (a tick's commands:
/// distinct players, accepted, 16 bytes each; `0` for events alone). After each append it
/// `COPY`s the same sealed rows (same columns, same bytes) into an identical table (`LIKE` the
/// world's partition `INCLUDING ALL`: the same indexes, none of the triggers), one `COPY` per
/// batch, and times the two separately, so both run under the same cache and checkpoint
/// conditions.
/// Finally it `COPY`s all rows at once into a third identical table, for reference.
///
/// `loh bench append --events 100000 --batch 500` prints the returned report:
///
/// ```no_run
/// # async fn run() -> loh_events::Result<()> {
/// let report = loh_bench::append::append_vs_copy("postgres://postgres@127.0.0.1/postgres", 100_000, 500, 0).await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub async fn append_vs_copy(
    pg_url: &str,
    events: usize,
    batch: usize,
    journal: usize,
) -> Result<BenchReport> {
    let batch = batch.max(1);
    let (scratch, url) = scratch::create_database(pg_url, "loh_bench").await?;
    let result = async {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await?;
        let report = run(&pool, events, batch, journal).await;
        pool.close().await;
        report
    }
    .await;
    scratch::drop_database(pg_url, &scratch).await?;
    result
}

async fn run(pool: &PgPool, events: usize, batch: usize, journal: usize) -> Result<BenchReport> {
    let store = PgEventStore::new(pool.clone(), "bench");
    store.migrate().await?;
    let lease = store.acquire().await?;
    // The world's partition holds the log's keys (migration 0014); the copies get the same.
    let partition = store.events_partition().await?;
    for copy in ["events_copy", "events_bulk"] {
        let create = format!("CREATE TABLE {copy} (LIKE \"{partition}\" INCLUDING ALL)");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(pool)
            .await?;
    }
    let copy_per_batch = COPY_EVENTS.replacen("COPY events ", "COPY events_copy ", 1);
    let copy_bulk = COPY_EVENTS.replacen("COPY events ", "COPY events_bulk ", 1);

    let batches = generate(events, batch);
    let started = Instant::now();
    let mut head = Head {
        position: 0,
        hash: GENESIS_HASH,
    };
    for events in &batches {
        let sealed = seal_all("bench", head, events)?;
        if let Some(last) = sealed.last() {
            head = Head {
                position: last.position,
                hash: last.hash,
            };
        }
    }
    let seal_time = started.elapsed();
    let payload_bytes = {
        let encoded: Vec<usize> = batches
            .iter()
            .flatten()
            .map(|e| e.encode().map(|b| b.payload.len()))
            .collect::<Result<_>>()?;
        encoded.iter().sum::<usize>() / encoded.len().max(1)
    };

    let (mut append_time, mut copy_time) = (Duration::ZERO, Duration::ZERO);
    let mut sealed = Vec::with_capacity(events);
    let commanders: Vec<Uuid> = (0..journal).map(|_| Uuid::new_v4()).collect();
    for (tick, events) in batches.into_iter().enumerate() {
        let journal = commands(&commanders, tick as u64 + 1);
        let started = Instant::now();
        let appended = store.append(lease, AppendBatch { events, journal }).await?;
        append_time += started.elapsed();

        let started = Instant::now();
        let mut conn = pool.acquire().await?;
        let data = copy_binary(&appended.events, lease.epoch)?;
        copy_in(&mut conn, &copy_per_batch, data).await?;
        copy_time += started.elapsed();
        sealed.extend(appended.events);
    }

    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let data = copy_binary(&sealed, lease.epoch)?;
    copy_in(&mut conn, &copy_bulk, data).await?;
    let bulk_copy_time = started.elapsed();

    Ok(BenchReport {
        events,
        batch,
        journal,
        payload_bytes,
        append_time,
        copy_time,
        bulk_copy_time,
        seal_time,
    })
}

/// One tick's journal: a command of each of `players`, numbered by the tick, accepted.
fn commands(players: &[Uuid], tick: u64) -> Vec<JournalEntry> {
    players
        .iter()
        .map(|&player_id| JournalEntry {
            command_id: Uuid::new_v4(),
            tick,
            player_id,
            seq: tick,
            command: b"\x81\xa6WalkTo\x83\xa1x\xcd\x0c\x80\xa1y".to_vec(),
            outcome: Outcome::Accepted,
            received_at_us: 1_700_000_000_000_000 + tick as i64 * 400_000,
        })
        .collect()
}

/// `events` plausible events (mostly moves, some chat) over [`STREAMS`] players, in batches.
fn generate(events: usize, batch: usize) -> Vec<Vec<NewEvent>> {
    let players: Vec<Uuid> = (0..STREAMS).map(|_| Uuid::new_v4()).collect();
    let mut versions = vec![0u64; STREAMS];
    let mut out = Vec::with_capacity(events.div_ceil(batch));
    let mut current = Vec::with_capacity(batch);
    for i in 0..events {
        let p = (i * 7919) % STREAMS;
        versions[p] += 1;
        let tick = (i / batch) as u64;
        let player_id = players[p];
        let body = if i % 10 == 9 {
            EventBody::PlayerSaid {
                player_id,
                text: "buying lobsters 150gp ea".to_owned(),
            }
        } else {
            let (x, y) = (3200 + (i % 64) as i32, 3200 + (i / 64 % 64) as i32);
            EventBody::PlayerMoved {
                player_id,
                from_x: x - 1,
                from_y: y,
                x,
                y,
                running: i % 3 == 0,
                path_to: None,
            }
        };
        current.push(NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: player_stream(player_id),
            stream_version: versions[p],
            tick,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: 1_700_000_000_000_000 + tick as i64 * 400_000,
            body,
        });
        if current.len() == batch {
            out.push(std::mem::replace(&mut current, Vec::with_capacity(batch)));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
