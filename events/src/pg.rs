//! The PostgreSQL event store: the source of truth (ARCHITECTURE.md, invariants 1–5).
//!
//! An append is one transaction: it locks the shard row (`SELECT … FOR UPDATE` on
//! `event_shards`), checks the lease's epoch, seals the events onto the chain, writes them with
//! one binary `COPY`, writes the journal as one row per tick (a second `COPY`, module
//! `journal`), and commits.
//! The schema (`migrations/postgres/0001_events.sql`) enforces the rest in the database itself: a
//! statement trigger over the `COPY`'s rows refuses a stale epoch (SQLSTATE `LH001`, mapped to
//! [`Error::Fenced`]) and any position that does not continue the head (`LH002`), and advances
//! the head; other triggers refuse UPDATE, DELETE and TRUNCATE of the log.
//!
//! Because appenders serialise on the shard row, positions are taken and committed in the same
//! order: a reader following `read_from(last + 1)` never skips an event that commits late.

use crate::{
    AppendBatch, Appended, Checkpoint, Error, EventStore, GENESIS_HASH, Hash, Head, JournalEntry,
    Lease, NewEvent, Outcome, Result, Snapshot, StoredEvent, WorldEntry,
};
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};
use std::time::Duration;
use uuid::Uuid;

mod journal;

/// The columns of `events` in COPY order (also the order [`copy_binary`] writes).
macro_rules! event_columns {
    () => {
        "shard, position, stream_id, stream_version, tick, schema_version, event_id, \
         correlation_id, causation_id, occurred_at_us, kind, payload, prev_hash, hash"
    };
}

/// `COPY` of sealed events into `events`, binary format (see [`copy_binary`]).
pub const COPY_EVENTS: &str = concat!(
    "COPY events (",
    event_columns!(),
    ", epoch) FROM STDIN (FORMAT binary)"
);

/// An append-only, hash-chained event log of one shard in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    shard: String,
    /// Test hook: the longest random pause before each COMMIT (shard lock held).
    commit_jitter: Option<Duration>,
}

impl PgEventStore {
    /// Connects a pool of up to 16 connections to `url` for `shard`. Does not migrate; call
    /// [`PgEventStore::migrate`].
    pub async fn connect(url: &str, shard: &str) -> Result<PgEventStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        Ok(PgEventStore::new(pool, shard))
    }

    /// A store for `shard` over an existing pool.
    pub fn new(pool: PgPool, shard: &str) -> PgEventStore {
        PgEventStore {
            pool,
            shard: shard.to_owned(),
            commit_jitter: None,
        }
    }

    /// Runs every PostgreSQL migration ([`loh_migrations::POSTGRES`]) not yet applied.
    pub async fn migrate(&self) -> Result<()> {
        loh_migrations::POSTGRES.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for callers that share it (projections, accounts).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The name of this world's partition of `events` (migration 0012's `loh_world_partitions`;
    /// it holds the log's keys since 0014), whether or not it exists yet.
    pub async fn events_partition(&self) -> Result<String> {
        Ok(
            sqlx::query_scalar("SELECT 'events_' || loh_world_suffix($1)")
                .bind(&self.shard)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Test hook: pause a random time up to `max` before each COMMIT, with the shard row locked,
    /// so commits land late and in shuffled wall-clock order relative to other writers' work.
    #[cfg(feature = "testing")]
    pub fn with_commit_jitter(mut self, max: Duration) -> PgEventStore {
        self.commit_jitter = Some(max);
        self
    }

    async fn jitter(&self) {
        if let Some(max) = self.commit_jitter {
            let max_us = max.as_micros().max(1);
            let us = Uuid::new_v4().as_u128() % max_us;
            tokio::time::sleep(Duration::from_micros(us as u64)).await;
        }
    }

    /// Locks the shard row for the rest of the transaction and returns (epoch, head).
    async fn lock_shard(&self, conn: &mut PgConnection) -> Result<Option<(i64, Head)>> {
        let row = sqlx::query(
            "SELECT epoch, head_position, head_hash FROM event_shards WHERE shard = $1 FOR UPDATE",
        )
        .bind(&self.shard)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|row| {
            let epoch: i64 = row.try_get("epoch")?;
            Ok((epoch, head_from_row(&row)?))
        })
        .transpose()
    }

    /// The stored events of `batch` if its first event id is stored (idempotent retry):
    /// `Ok(Some)` when all are stored, [`Error::Conflict`] when only some are.
    async fn already_stored(
        &self,
        conn: &mut PgConnection,
        batch: &AppendBatch,
    ) -> Result<Option<Vec<StoredEvent>>> {
        // A batch whose first id is new and that shares a later id with the log fails the
        // unique index on `event_id` at COPY time (a conflict), so one probe decides the common
        // case without a lookup per event.
        // Planned at each call with its values, not as a cached generic plan: under a
        // 2,500-player crowd the cached statement averaged 21.8 ms a tick over a log growing to
        // 500,000 events (`pg_stat_statements`), planned each call 0.03 ms.
        let first = batch.events[0].event_id;
        let found = sqlx::query("SELECT 1 FROM events WHERE shard = $1 AND event_id = $2")
            .bind(&self.shard)
            .bind(first)
            .persistent(false)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let ids: Vec<Uuid> = batch.events.iter().map(|e| e.event_id).collect();
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE event_id = ANY($1) ORDER BY shard, position"
        ))
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let stored = rows
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>>>()?;
        let all_here = stored.len() == ids.len() && stored.iter().all(|e| e.shard == self.shard);
        if !all_here {
            return Err(Error::Conflict(format!(
                "{} of the batch's {} event ids are already stored",
                stored.len(),
                ids.len()
            )));
        }
        crate::the_batch_itself(stored, &batch.events).map(Some)
    }
}

impl PgEventStore {
    /// [`EventStore::append`] of a non-empty batch; run to its end by [`crate::to_the_end`].
    async fn append_now(&self, lease: Lease, batch: AppendBatch) -> Result<Appended> {
        let mut tx = self.pool.begin().await?;
        let Some((epoch, head)) = self.lock_shard(&mut tx).await? else {
            return Err(Error::Fenced);
        };
        if epoch != lease.epoch {
            return Err(Error::Fenced);
        }
        if !batch.events.is_empty()
            && let Some(events) = self.already_stored(&mut tx, &batch).await?
        {
            return Ok(Appended {
                events,
                head,
                already_stored: true,
            });
        }

        let events = seal_all(&self.shard, head, &batch.events)?;
        if !events.is_empty() {
            let data = copy_binary(&events, lease.epoch)?;
            copy_in(&mut tx, COPY_EVENTS, data)
                .await
                .map_err(map_db_error)?;
        }
        insert_journal(&mut tx, &self.shard, &batch.journal).await?;
        // World hops: the outbox and the character's home move with the tick (invariant 11).
        crate::hop::pg::record(&mut tx, &self.shard, &batch.events, &events).await?;
        self.jitter().await;
        tx.commit().await.map_err(map_db_error)?;

        let head = events.last().map_or(head, |e| Head {
            position: e.position,
            hash: e.hash,
        });
        Ok(Appended {
            events,
            head,
            already_stored: false,
        })
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    fn shard(&self) -> &str {
        &self.shard
    }

    async fn acquire(&self) -> Result<Lease> {
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO event_shards (shard, epoch) VALUES ($1, 1) \
             ON CONFLICT (shard) DO UPDATE SET epoch = event_shards.epoch + 1 \
             RETURNING epoch",
        )
        .bind(&self.shard)
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(shard = %self.shard, epoch, "sequencer lease acquired");
        Ok(Lease { epoch })
    }

    async fn append(&self, lease: Lease, batch: AppendBatch) -> Result<Appended> {
        if batch.events.is_empty() && batch.journal.is_empty() {
            return Ok(Appended {
                events: Vec::new(),
                head: self.head().await?,
                already_stored: false,
            });
        }
        let store = self.clone();
        crate::to_the_end(async move { store.append_now(lease, batch).await }).await
    }

    async fn head(&self) -> Result<Head> {
        let row = sqlx::query("SELECT head_position, head_hash FROM event_shards WHERE shard = $1")
            .bind(&self.shard)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => head_from_row(&row),
            None => Ok(Head {
                position: 0,
                hash: GENESIS_HASH,
            }),
        }
    }

    async fn read_from(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE shard = $1 AND position >= $2 ORDER BY position LIMIT $3"
        ))
        .bind(&self.shard)
        .bind(to_i64(from.max(1), "position")?)
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE shard = $1 AND stream_id = $2 AND stream_version >= $3 \
              ORDER BY stream_version LIMIT $4"
        ))
        .bind(&self.shard)
        .bind(stream_id)
        .bind(to_i64(from_version, "stream_version")?)
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    async fn read_journal(&self, from_tick: u64, limit: usize) -> Result<Vec<JournalEntry>> {
        // The rows journaled before migration 0015, one a command, come first: every tick a world
        // journaled after it is later than theirs.
        let rows = sqlx::query(
            "SELECT command_id, tick, player_id, seq, command, outcome_code, outcome_message, \
                    received_at_us \
             FROM command_journal WHERE shard = $1 AND tick >= $2 ORDER BY tick, id LIMIT $3",
        )
        .bind(&self.shard)
        .bind(to_i64(from_tick, "tick")?)
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|row| {
                let code: Option<String> = row.try_get("outcome_code")?;
                let message: Option<String> = row.try_get("outcome_message")?;
                Ok(JournalEntry {
                    command_id: row.try_get("command_id")?,
                    tick: to_u64(row.try_get("tick")?, "tick")?,
                    player_id: row.try_get("player_id")?,
                    seq: to_u64(row.try_get("seq")?, "seq")?,
                    command: row.try_get("command")?,
                    outcome: outcome_from_columns(code, message),
                    received_at_us: row.try_get("received_at_us")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Then the ticks' rows, a few at a time (a full tick's row is about a megabyte), until
        // `limit` entries are read; each page starts after the last row read, on the key (ids
        // start at 1, so `(from_tick, 0)` is before every row of `from_tick`).
        let mut after = (to_i64(from_tick, "tick")?, 0i64);
        while out.len() < limit {
            let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT tick, id, journal FROM command_journal_ticks \
                 WHERE shard = $1 AND (tick, id) > ($2, $3) ORDER BY tick, id LIMIT 8",
            )
            .bind(&self.shard)
            .bind(after.0)
            .bind(after.1)
            .fetch_all(&self.pool)
            .await?;
            let Some(&(tick, id, _)) = rows.last() else {
                break;
            };
            after = (tick, id);
            for (tick, _, bytes) in rows {
                out.extend(journal::decode(to_u64(tick, "tick")?, &bytes)?);
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn last_seqs(&self) -> Result<Vec<(Uuid, u64)>> {
        use futures::TryStreamExt;
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT player_id, max(seq) FROM command_journal WHERE shard = $1 \
             GROUP BY player_id ORDER BY player_id",
        )
        .bind(&self.shard)
        .fetch_all(&self.pool)
        .await?;
        let mut last = std::collections::BTreeMap::new();
        for (player, seq) in rows {
            last.insert(player, to_u64(seq, "seq")?);
        }
        // Each tick's `seqs` (24 bytes an entry), streamed: the commands themselves are not read.
        let mut ticks = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT seqs FROM command_journal_ticks WHERE shard = $1",
        )
        .bind(&self.shard)
        .fetch(&self.pool);
        while let Some(seqs) = ticks.try_next().await? {
            for (player, seq) in journal::decode_seqs(&seqs)? {
                let at = last.entry(player).or_insert(seq);
                *at = (*at).max(seq);
            }
        }
        Ok(last.into_iter().collect())
    }

    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO checkpoints (shard, position, hash, signature, created_at_us) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shard, position) DO NOTHING",
        )
        .bind(&self.shard)
        .bind(to_i64(checkpoint.position, "position")?)
        .bind(&checkpoint.hash[..])
        .bind(&checkpoint.signature)
        .bind(checkpoint.created_at_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let rows: Vec<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
            "SELECT position, hash, signature, created_at_us FROM checkpoints \
             WHERE shard = $1 ORDER BY position",
        )
        .bind(&self.shard)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(position, hash, signature, created_at_us)| {
                Ok(Checkpoint {
                    position: to_u64(position, "position")?,
                    hash: to_hash(hash)?,
                    signature,
                    created_at_us,
                })
            })
            .collect()
    }

    async fn announce(&self, entry: &WorldEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO worlds (shard, address, members, population, open, updated_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (shard) DO UPDATE SET \
             address = excluded.address, members = excluded.members, \
             population = excluded.population, open = excluded.open, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(&self.shard)
        .bind(&entry.address)
        .bind(entry.members)
        .bind(to_i64(entry.population, "population")?)
        .bind(entry.open)
        .bind(entry.updated_at_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn worlds(&self) -> Result<Vec<WorldEntry>> {
        let rows: Vec<(String, String, bool, i64, bool, i64)> = sqlx::query_as(
            "SELECT shard, address, members, population, open, updated_at_us FROM worlds \
             ORDER BY shard",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(shard, address, members, population, open, updated_at_us)| {
                    Ok(WorldEntry {
                        shard,
                        address,
                        members,
                        population: to_u64(population, "population")?,
                        open,
                        updated_at_us,
                    })
                },
            )
            .collect()
    }

    async fn character_home(&self, player_id: Uuid, now_us: i64) -> Result<String> {
        // One statement: the row is made if there is none, and the (first) owner read back.
        let (shard,): (String,) = sqlx::query_as(
            "INSERT INTO characters (player_id, shard, since_us) VALUES ($1, $2, $3) \
             ON CONFLICT (player_id) DO UPDATE SET shard = characters.shard RETURNING shard",
        )
        .bind(player_id.to_string())
        .bind(&self.shard)
        .bind(now_us)
        .fetch_one(&self.pool)
        .await?;
        Ok(shard)
    }

    async fn arriving_hops(&self, limit: usize) -> Result<Vec<crate::hop::Hop>> {
        crate::hop::pg::arriving(&self.pool, &self.shard, limit).await
    }

    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        sqlx::query(
            "INSERT INTO snapshots (shard, position, hash, tick, state, state_hash, signature, \
             created_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (shard, position) DO NOTHING",
        )
        .bind(&self.shard)
        .bind(to_i64(snapshot.position, "position")?)
        .bind(&snapshot.hash[..])
        .bind(to_i64(snapshot.tick, "tick")?)
        .bind(&snapshot.state)
        .bind(&snapshot.state_hash[..])
        .bind(&snapshot.signature)
        .bind(snapshot.created_at_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn snapshot_positions(&self) -> Result<Vec<u64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT position FROM snapshots WHERE shard = $1 ORDER BY position DESC",
        )
        .bind(&self.shard)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(position,)| to_u64(position, "position"))
            .collect()
    }

    async fn snapshot(&self, position: u64) -> Result<Option<Snapshot>> {
        let row: Option<(i64, Vec<u8>, i64, Vec<u8>, Vec<u8>, String, i64)> = sqlx::query_as(
            "SELECT position, hash, tick, state, state_hash, signature, created_at_us \
             FROM snapshots WHERE shard = $1 AND position = $2",
        )
        .bind(&self.shard)
        .bind(to_i64(position, "position")?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(
            |(position, hash, tick, state, state_hash, signature, created_at_us)| {
                Ok(Snapshot {
                    position: to_u64(position, "position")?,
                    hash: to_hash(hash)?,
                    tick: to_u64(tick, "tick")?,
                    state,
                    state_hash: to_hash(state_hash)?,
                    signature,
                    created_at_us,
                })
            },
        )
        .transpose()
    }

    async fn prune_snapshots(&self, keep: usize) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM snapshots WHERE shard = $1 AND position NOT IN \
             (SELECT position FROM snapshots WHERE shard = $2 \
              ORDER BY position DESC LIMIT $3)",
        )
        .bind(&self.shard)
        .bind(&self.shard)
        .bind(limit_i64(keep))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Seals the batch's events onto the chain after `head`.
pub fn seal_all(shard: &str, head: Head, batch: &[NewEvent]) -> Result<Vec<StoredEvent>> {
    let mut prev = head.hash;
    let mut events = Vec::with_capacity(batch.len());
    for (i, event) in batch.iter().enumerate() {
        let stored = StoredEvent::seal(shard, head.position + 1 + i as u64, prev, event)?;
        prev = stored.hash;
        events.push(stored);
    }
    Ok(events)
}

/// Stores a batch's journal: one row of `command_journal_ticks` per tick (migration 0015), in
/// one binary `COPY`.
///
/// The `COPY` runs inside a savepoint. A batch retried after a COMMIT it did not hear of meets its
/// own rows on `command_journal_ticks_retry_key` (the tick and its first entry's player and seq);
/// only then are the rows stored again one by one, each skipped if already there.
///
/// One row a tick instead of one a command: a spread tick's 10,000 commands took about 60 ms of
/// PostgreSQL time as rows with their two index entries, a quarter of the append
/// (docs/BENCHMARKS.md, "The journal as one row per tick").
async fn insert_journal(
    conn: &mut PgConnection,
    shard: &str,
    journal: &[JournalEntry],
) -> Result<()> {
    if journal.is_empty() {
        return Ok(());
    }
    let rows = journal::tick_rows(journal)?;
    let data = journal::copy_rows(shard, &rows)?;
    sqlx::raw_sql("SAVEPOINT loh_journal")
        .execute(&mut *conn)
        .await?;
    match copy_in(conn, journal::COPY_JOURNAL_TICKS, data).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT loh_journal")
                .execute(&mut *conn)
                .await?;
            insert_journal_skipping_stored(conn, shard, rows).await
        }
        Err(e) => Err(map_db_error(e)),
    }
}

/// Stores a batch's tick rows one `INSERT` each, skipping a row already stored: [`insert_journal`]'s
/// way when its `COPY` met one.
async fn insert_journal_skipping_stored(
    conn: &mut PgConnection,
    shard: &str,
    rows: Vec<journal::TickRow>,
) -> Result<()> {
    for row in rows {
        sqlx::query(
            "INSERT INTO command_journal_ticks \
                (shard, tick, first_player, first_seq, entries, seqs, journal) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (shard, tick, first_player, first_seq) DO NOTHING",
        )
        .bind(shard)
        .bind(row.tick)
        .bind(row.first_player)
        .bind(row.first_seq)
        .bind(row.entries)
        .bind(row.seqs)
        .bind(row.journal)
        .execute(&mut *conn)
        .await
        .map_err(map_db_error)?;
    }
    Ok(())
}

/// The most bytes [`copy_in`] sends in one `CopyData` message. sqlx copies a message whole into
/// the connection's write buffer, which keeps its largest size for as long as the pooled
/// connection lives: a tick's `COPY` sent whole (megabytes, tens of them when the world catches
/// up) stayed in every connection that ever carried one. In pieces, a connection holds at most
/// this much more than sqlx's own 8 KiB (`docs/BENCHMARKS.md`, memory per player).
pub const COPY_CHUNK: usize = 256 * 1024;

/// Runs `statement` (a `COPY … FROM STDIN`) with `data` as its input, in `CopyData` messages of
/// at most [`COPY_CHUNK`] bytes; the rows copied.
pub async fn copy_in(
    conn: &mut PgConnection,
    statement: &str,
    data: Vec<u8>,
) -> std::result::Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    for chunk in data.chunks(COPY_CHUNK) {
        copy.send(chunk).await?;
    }
    copy.finish().await
}

/// A PostgreSQL binary `COPY` stream, written field by field.
struct CopyBinary(Vec<u8>);

impl CopyBinary {
    fn new(capacity: usize) -> CopyBinary {
        let mut buf = Vec::with_capacity(21 + capacity);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyBinary(buf)
    }

    fn row(&mut self, fields: i16) {
        self.0.extend_from_slice(&fields.to_be_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let len = i32::try_from(bytes.len()).map_err(Error::codec)?;
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn null(&mut self) {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn int8(&mut self, v: i64) {
        self.0.extend_from_slice(&8i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn int4(&mut self, v: i32) {
        self.0.extend_from_slice(&4i32.to_be_bytes());
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn bytes_or_null(&mut self, bytes: Option<&[u8]>) -> Result<()> {
        match bytes {
            Some(b) => self.bytes(b),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

/// Encodes sealed events as one PostgreSQL binary `COPY` stream for [`COPY_EVENTS`] (the
/// columns of `event_columns!` then `epoch`).
pub fn copy_binary(events: &[StoredEvent], epoch: i64) -> Result<Vec<u8>> {
    let size: usize = events
        .iter()
        .map(|e| 260 + e.payload.len() + e.stream_id.len() + e.kind.len() + e.shard.len())
        .sum();
    let mut buf = CopyBinary::new(size);
    for e in events {
        buf.row(15);
        buf.bytes(e.shard.as_bytes())?;
        buf.int8(to_i64(e.position, "position")?);
        buf.bytes(e.stream_id.as_bytes())?;
        buf.int8(to_i64(e.stream_version, "stream_version")?);
        buf.int8(to_i64(e.tick, "tick")?);
        buf.int4(i32::from(e.schema_version));
        buf.bytes(e.event_id.as_bytes())?;
        buf.bytes(e.correlation_id.as_bytes())?;
        buf.bytes_or_null(e.causation_id.as_ref().map(|id| id.as_bytes().as_slice()))?;
        buf.int8(e.occurred_at_us);
        buf.bytes(e.kind.as_bytes())?;
        buf.bytes(&e.payload)?;
        buf.bytes(&e.prev_hash)?;
        buf.bytes(&e.hash)?;
        buf.int8(epoch);
    }
    Ok(buf.finish())
}

/// Maps the database's refusals to the store's errors: a stale epoch (`LH001`) is
/// [`Error::Fenced`]; a unique violation (`23505`) or a position that does not continue the head
/// (`LH002`) is [`Error::Conflict`].
pub(crate) fn map_db_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        match db.code().as_deref() {
            Some("LH001") => return Error::Fenced,
            Some("23505") | Some("LH002") => {
                let what = db.constraint().unwrap_or("sequence");
                return Error::Conflict(format!("{what}: {}", db.message()));
            }
            _ => {}
        }
    }
    Error::Database(e)
}

fn stored_from_row(row: &PgRow) -> Result<StoredEvent> {
    let schema_version: i32 = row.try_get("schema_version")?;
    Ok(StoredEvent {
        position: to_u64(row.try_get("position")?, "position")?,
        shard: row.try_get("shard")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: to_u64(row.try_get("stream_version")?, "stream_version")?,
        tick: to_u64(row.try_get("tick")?, "tick")?,
        schema_version: u16::try_from(schema_version).map_err(Error::codec)?,
        event_id: row.try_get("event_id")?,
        correlation_id: row.try_get("correlation_id")?,
        causation_id: row.try_get("causation_id")?,
        occurred_at_us: row.try_get("occurred_at_us")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        prev_hash: to_hash(row.try_get("prev_hash")?)?,
        hash: to_hash(row.try_get("hash")?)?,
    })
}

fn head_from_row(row: &PgRow) -> Result<Head> {
    Ok(Head {
        position: to_u64(row.try_get("head_position")?, "head_position")?,
        hash: to_hash(row.try_get("head_hash")?)?,
    })
}

/// The journal's outcome columns: `(NULL, NULL)` for accepted.
pub(crate) fn outcome_columns(outcome: &Outcome) -> (Option<&str>, Option<&str>) {
    match outcome {
        Outcome::Accepted => (None, None),
        Outcome::Rejected { code, message } => (Some(code), Some(message)),
    }
}

pub(crate) fn outcome_from_columns(code: Option<String>, message: Option<String>) -> Outcome {
    match code {
        None => Outcome::Accepted,
        Some(code) => Outcome::Rejected {
            code,
            message: message.unwrap_or_default(),
        },
    }
}

pub(crate) fn to_hash(bytes: Vec<u8>) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| Error::Codec(format!("a hash is 32 bytes, found {}", b.len())))
}

pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Codec(format!("{what} {v} exceeds i64")))
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Codec(format!("stored {what} {v} is negative")))
}

pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
