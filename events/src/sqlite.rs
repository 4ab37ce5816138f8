//! The embedded SQLite event store of `loh up` (ARCHITECTURE.md, "Embedded default").
//!
//! Same meaning as the PostgreSQL store: an append is one `BEGIN IMMEDIATE` transaction (so
//! appenders serialise and commit in position order) that checks the lease's epoch, seals the
//! events onto the chain, inserts them and the journal, and commits. The schema
//! (`migrations/sqlite/0001_events.sql`) enforces fencing, contiguity and append-only in the
//! database with triggers; their `RAISE(ABORT, 'loh: fenced …')` maps to [`Error::Fenced`].
//!
//! The database file is shared with the other embedded tables (accounts, projections): open it
//! once with [`SqliteEventStore::open`] and share [`SqliteEventStore::pool`].

use crate::pg::{
    limit_i64, outcome_columns, outcome_from_columns, seal_all, to_hash, to_i64, to_u64,
};
use crate::store::statement_chunks;
use crate::{
    AppendBatch, Appended, Checkpoint, Error, EventStore, GENESIS_HASH, Head, JournalEntry, Lease,
    Result, Snapshot, StoredEvent, WorldEntry,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

macro_rules! event_columns {
    () => {
        "shard, position, stream_id, stream_version, tick, schema_version, event_id, \
         correlation_id, causation_id, occurred_at_us, kind, payload, prev_hash, hash"
    };
}

/// Rows per multi-row INSERT (15 parameters each for events, 9 for journal entries: well under
/// SQLite's parameter limit). A batch is cut by [`statement_chunks`]: chunks of this many rows,
/// then the rest in falling powers of two, so that a connection prepares at most eight statement
/// shapes, each once. sqlx keeps every prepared statement in its connection's cache; one rest of
/// any size (1 to 199 rows, as before) put a new program of up to ~200 KiB in each connection's
/// cache nearly every tick: 8.75 MiB of prepared statements at the peak of an embedded 1,000-bot
/// crowd (`heaptrack`, docs/BENCHMARKS.md), re-prepared at every new size, and pushing the fixed
/// statements out of the cache.
const INSERT_CHUNK: usize = 128;

/// The embedded store's writer lock ([`SqliteEventStore::writer_gate`]).
pub type WriterGate = Arc<tokio::sync::Mutex<()>>;

/// An append-only, hash-chained event log of one shard in an embedded SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    pool: SqlitePool,
    shard: String,
    /// Serialises this process's appenders before they reach SQLite's write lock.
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteEventStore {
    /// Opens (creating it if missing) the database at `path_or_url` — a file path or a
    /// `sqlite:` URL — in WAL mode with a 5 s busy timeout, foreign keys on and full sync, and
    /// runs every SQLite migration ([`loh_migrations::SQLITE`]).
    pub async fn open(path_or_url: &str, shard: &str) -> Result<SqliteEventStore> {
        let options = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url)?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = pool_options().connect_with(options).await?;
        let store = SqliteEventStore::new(pool, shard);
        store.migrate().await?;
        Ok(store)
    }

    /// A store for `shard` over an existing pool (already migrated, or call
    /// [`SqliteEventStore::migrate`]), made with [`pool_options`] so that a connection a failed
    /// COMMIT left inside a transaction is closed rather than reused.
    pub fn new(pool: SqlitePool, shard: &str) -> SqliteEventStore {
        SqliteEventStore {
            pool,
            shard: shard.to_owned(),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Runs every SQLite migration not yet applied.
    pub async fn migrate(&self) -> Result<()> {
        loh_migrations::SQLITE.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, shared with the other embedded tables.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The lock this process's appenders take before SQLite's write lock, for the other writers
    /// of the same file in this process (the embedded projectors) to take too. Queued on it, a
    /// projector's batch and the tick's append take turns in order. Meeting at SQLite's lock
    /// instead, the loser polls through SQLite's busy handler, sleeping up to 100 ms between
    /// tries, and a projector writing batch after batch can take the lock back between an
    /// append's tries.
    pub fn writer_gate(&self) -> WriterGate {
        self.write_lock.clone()
    }

    /// [`EventStore::append`] on `conn`, under the write lock.
    async fn append_on(
        &self,
        conn: &mut SqliteConnection,
        lease: Lease,
        batch: AppendBatch,
    ) -> Result<Appended> {
        let mut tx = sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?;
        let row =
            sqlx::query("SELECT epoch, head_position, head_hash FROM event_shards WHERE shard = ?")
                .bind(&self.shard)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Err(Error::Fenced);
        };
        let epoch: i64 = row.try_get("epoch")?;
        let head = head_from_row(&row)?;
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
        for chunk in statement_chunks(&events, INSERT_CHUNK) {
            insert_events(&mut tx, chunk, lease.epoch).await?;
        }
        for chunk in statement_chunks(&batch.journal, INSERT_CHUNK) {
            insert_journal(&mut tx, &self.shard, chunk).await?;
        }
        // World hops: the outbox and the character's home move with the tick (invariant 11).
        crate::hop::sqlite::record(&mut tx, &self.shard, &batch.events, &events, map_db_error)
            .await?;
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

    async fn already_stored(
        &self,
        conn: &mut SqliteConnection,
        batch: &AppendBatch,
    ) -> Result<Option<Vec<StoredEvent>>> {
        // As in the Postgres store: a batch whose first id is new but shares a later one with
        // the log fails the unique index at insert time.
        let found = sqlx::query("SELECT 1 FROM events WHERE event_id = ?")
            .bind(batch.events[0].event_id)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let mut stored = Vec::with_capacity(batch.events.len());
        for chunk in batch.events.chunks(INSERT_CHUNK) {
            let sql = format!(
                concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM events WHERE event_id IN ({})"
                ),
                placeholders(chunk.len())
            );
            // A retry's lookup, of any size: not kept in the connection's statement cache.
            let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for event in chunk {
                query = query.bind(event.event_id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                stored.push(stored_from_row(&row)?);
            }
        }
        stored.sort_by(|a, b| (&a.shard, a.position).cmp(&(&b.shard, b.position)));
        let n = batch.events.len();
        if stored.len() != n || stored.iter().any(|e| e.shard != self.shard) {
            return Err(Error::Conflict(format!(
                "{} of the batch's {n} event ids are already stored",
                stored.len()
            )));
        }
        crate::the_batch_itself(stored, &batch.events).map(Some)
    }
}

/// The pool every embedded table shares: 8 connections, and a connection that comes back to it
/// inside a transaction is closed rather than handed out again.
pub fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(8)
        .after_release(|conn, _| Box::pin(async move { reusable(conn).await }))
}

/// Whether a connection coming back to the pool may be handed out again: not when it is still
/// inside a transaction. A COMMIT that fails (a full disk: SQLITE_FULL) or a ROLLBACK that fails
/// after SQLite rolled back by itself leaves sqlx counting an open transaction; back in the pool,
/// the next `begin` on it would open a savepoint instead (keeping SQLite's write lock once it
/// writes, for every other connection of the process and of the file) or fail. The ping first
/// lets a dropped transaction's pending rollback run. Every user of the shared pool relies on it:
/// the store's appends, read models, accounts, sessions, the payment inbox.
async fn reusable(conn: &mut SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    sqlx::Connection::ping(conn).await?;
    Ok(!sqlx::Connection::is_in_transaction(conn))
}

impl SqliteEventStore {
    /// [`EventStore::append`] behind this process's writer lock, on a connection of its own;
    /// run to its end by [`crate::to_the_end`].
    async fn append_locked(&self, lease: Lease, batch: AppendBatch) -> Result<Appended> {
        let _writer = self.write_lock.lock().await;
        // A COMMIT that fails (a full disk: SQLITE_FULL) leaves the connection counted inside a
        // transaction; the pool closes it when it comes back ([`pool_options`]).
        let mut conn = self.pool.acquire().await?;
        self.append_on(&mut conn, lease, batch).await
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    fn shard(&self) -> &str {
        &self.shard
    }

    async fn acquire(&self) -> Result<Lease> {
        let epoch: i64 = sqlx::query_scalar(
            "INSERT INTO event_shards (shard, epoch) VALUES (?, 1) \
             ON CONFLICT (shard) DO UPDATE SET epoch = epoch + 1 \
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
        crate::to_the_end(async move { store.append_locked(lease, batch).await }).await
    }

    async fn head(&self) -> Result<Head> {
        let row = sqlx::query("SELECT head_position, head_hash FROM event_shards WHERE shard = ?")
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
            " FROM events WHERE shard = ? AND position >= ? ORDER BY position LIMIT ?"
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
            " FROM events WHERE shard = ? AND stream_id = ? AND stream_version >= ? \
              ORDER BY stream_version LIMIT ?"
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
        let rows = sqlx::query(
            "SELECT command_id, tick, player_id, seq, command, outcome_code, outcome_message, \
                    received_at_us \
             FROM command_journal WHERE shard = ? AND tick >= ? ORDER BY tick, id LIMIT ?",
        )
        .bind(&self.shard)
        .bind(to_i64(from_tick, "tick")?)
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
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
            .collect()
    }

    async fn last_seqs(&self) -> Result<Vec<(Uuid, u64)>> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT player_id, max(seq) FROM command_journal WHERE shard = ? \
             GROUP BY player_id ORDER BY player_id",
        )
        .bind(&self.shard)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(player, seq)| Ok((player, to_u64(seq, "seq")?)))
            .collect()
    }

    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO checkpoints (shard, position, hash, signature, created_at_us) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (shard, position) DO NOTHING",
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
             WHERE shard = ? ORDER BY position",
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
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shard) DO UPDATE SET \
             address = excluded.address, members = excluded.members, \
             population = excluded.population, open = excluded.open, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(&self.shard)
        .bind(&entry.address)
        .bind(i64::from(entry.members))
        .bind(to_i64(entry.population, "population")?)
        .bind(i64::from(entry.open))
        .bind(entry.updated_at_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn worlds(&self) -> Result<Vec<WorldEntry>> {
        let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
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
                        members: members != 0,
                        population: to_u64(population, "population")?,
                        open: open != 0,
                        updated_at_us,
                    })
                },
            )
            .collect()
    }

    async fn character_home(&self, player_id: Uuid, now_us: i64) -> Result<String> {
        // One statement: the row is made if there is none, and the (first) owner read back.
        let (shard,): (String,) = sqlx::query_as(
            "INSERT INTO characters (player_id, shard, since_us) VALUES (?, ?, ?) \
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
        crate::hop::sqlite::arriving(&self.pool, &self.shard, limit).await
    }

    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        sqlx::query(
            "INSERT INTO snapshots (shard, position, hash, tick, state, state_hash, signature, \
             created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
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
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT position FROM snapshots WHERE shard = ? ORDER BY position DESC")
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
             FROM snapshots WHERE shard = ? AND position = ?",
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
            "DELETE FROM snapshots WHERE shard = ? AND position NOT IN \
             (SELECT position FROM snapshots WHERE shard = ? \
              ORDER BY position DESC LIMIT ?)",
        )
        .bind(&self.shard)
        .bind(&self.shard)
        .bind(limit_i64(keep))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// One multi-row INSERT of sealed events; the triggers check each row's epoch and position.
async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[StoredEvent],
    epoch: i64,
) -> Result<()> {
    let sql = format!(
        concat!(
            "INSERT INTO events (",
            event_columns!(),
            ", epoch) VALUES {}"
        ),
        value_rows(events.len(), 15)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for e in events {
        query = query
            .bind(&e.shard)
            .bind(to_i64(e.position, "position")?)
            .bind(&e.stream_id)
            .bind(to_i64(e.stream_version, "stream_version")?)
            .bind(to_i64(e.tick, "tick")?)
            .bind(i64::from(e.schema_version))
            .bind(e.event_id)
            .bind(e.correlation_id)
            .bind(e.causation_id)
            .bind(e.occurred_at_us)
            .bind(&e.kind)
            .bind(&e.payload)
            .bind(&e.prev_hash[..])
            .bind(&e.hash[..])
            .bind(epoch);
    }
    query.execute(&mut *conn).await.map_err(map_db_error)?;
    Ok(())
}

/// One multi-row INSERT of journal entries; an entry whose `(shard, player, seq)` is stored
/// already is skipped, as a batch retried after a COMMIT it did not hear of meets its own rows.
/// One statement for up to [`INSERT_CHUNK`] entries, not one each: a crowd tick journals 2,500
/// commands, and every statement is a round trip to the connection's worker thread.
async fn insert_journal(
    conn: &mut SqliteConnection,
    shard: &str,
    entries: &[JournalEntry],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO command_journal \
            (shard, tick, player_id, seq, command_id, command, outcome_code, outcome_message, \
             received_at_us) \
         VALUES {} ON CONFLICT DO NOTHING",
        value_rows(entries.len(), 9)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for entry in entries {
        let (code, message) = outcome_columns(&entry.outcome);
        query = query
            .bind(shard)
            .bind(to_i64(entry.tick, "tick")?)
            .bind(entry.player_id)
            .bind(to_i64(entry.seq, "seq")?)
            .bind(entry.command_id)
            .bind(&entry.command)
            .bind(code)
            .bind(message)
            .bind(entry.received_at_us);
    }
    query.execute(&mut *conn).await.map_err(map_db_error)?;
    Ok(())
}

/// `rows` rows of `columns` placeholders each, for a multi-row `VALUES`: `(?, ?), (?, ?)`.
fn value_rows(rows: usize, columns: usize) -> String {
    let row = format!("({})", placeholders(columns));
    vec![row; rows].join(", ")
}

/// `n` anonymous placeholders (`?, ?, …`), bound in order. Not numbered (`?1`): SQLite keeps
/// numbered and named parameters in a list it scans for every bound value, so a 3,000-value
/// batch cost millions of steps (the largest item of the embedded crowd's profile).
fn placeholders(n: usize) -> String {
    let mut out = String::with_capacity(3 * n);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('?');
    }
    out
}

/// Maps the triggers' refusals to the store's errors: `loh: fenced` is [`Error::Fenced`];
/// a unique violation or `loh: not contiguous` is [`Error::Conflict`].
fn map_db_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        let message = db.message();
        if message.contains("loh: fenced") {
            return Error::Fenced;
        }
        if db.is_unique_violation() || message.contains("loh: not contiguous") {
            return Error::Conflict(message.to_owned());
        }
    }
    Error::Database(e)
}

fn stored_from_row(row: &SqliteRow) -> Result<StoredEvent> {
    let schema_version: i64 = row.try_get("schema_version")?;
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

fn head_from_row(row: &SqliteRow) -> Result<Head> {
    Ok(Head {
        position: to_u64(row.try_get("head_position")?, "head_position")?,
        hash: to_hash(row.try_get("head_hash")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::statement_sizes;

    #[test]
    fn a_batch_of_any_size_is_inserted_in_at_most_eight_statement_shapes() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..=1_000 {
            let sizes: Vec<usize> = statement_sizes(n, INSERT_CHUNK).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}: {sizes:?}");
            assert!(sizes.is_sorted_by(|a, b| a >= b), "{n}: {sizes:?}");
            shapes.extend(sizes);
        }
        assert_eq!(
            shapes.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, INSERT_CHUNK]
        );
        assert_eq!(
            statement_sizes(300, INSERT_CHUNK).collect::<Vec<_>>(),
            [128, 128, 32, 8, 4]
        );
    }
}
