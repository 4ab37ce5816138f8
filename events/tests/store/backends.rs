//! The two stores under test, each with the raw-SQL back doors the tests need to show that the
//! database (not only the Rust code) enforces the invariants.

use loh_events::{EventStore, PgEventStore, SqliteEventStore, StoredEvent};
use loh_testkit::TestDb;
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::time::Duration;

pub const SHARD: &str = "world-1";

/// A fresh database with a migrated store for [`SHARD`].
pub(crate) trait Backend: Sized + Send + Sync + 'static {
    type Store: EventStore + Clone;

    /// Whether `TRUNCATE` exists (PostgreSQL).
    const HAS_TRUNCATE: bool;

    /// The journal's table and a column of it that an `UPDATE` may name: PostgreSQL keeps a row
    /// per tick (migration 0015), SQLite a row per command.
    const JOURNAL: (&'static str, &'static str);

    /// Whether the store skips a `(player, seq)` journaled in an earlier tick (SQLite's unique
    /// key). PostgreSQL's rows per tick hold no such key: the tick writer never repeats a seq.
    const SKIPS_REPEATED_SEQ: bool;

    async fn new() -> Self;

    /// The store of the shard's writer.
    fn store(&self) -> Self::Store;

    /// The store with commits landing late and in shuffled order, where the backend allows it.
    fn late_committing_store(&self) -> Self::Store;

    /// A second writer process for the same shard: its own connections to the same database.
    async fn second_writer(&self) -> Self::Store;

    /// Runs raw SQL as the application would (triggers on); the database's error message if
    /// it refuses.
    async fn raw(&self, sql: &str) -> Result<u64, String>;

    /// Inserts `event` with raw SQL carrying `epoch`, bypassing the store's checks.
    async fn raw_insert(&self, event: &StoredEvent, epoch: i64) -> Result<(), String>;

    /// Overwrites the stored payload at `position`, bypassing the append-only trigger.
    async fn tamper_payload(&self, position: u64, payload: Vec<u8>);
}

pub(crate) struct Pg {
    db: TestDb,
    store: PgEventStore,
}

impl Backend for Pg {
    type Store = PgEventStore;
    const HAS_TRUNCATE: bool = true;
    const JOURNAL: (&'static str, &'static str) = ("command_journal_ticks", "tick");
    const SKIPS_REPEATED_SEQ: bool = false;

    async fn new() -> Self {
        let db = TestDb::create().await;
        let store = PgEventStore::new(db.pool().await, SHARD);
        store.migrate().await.expect("migrate");
        Pg { db, store }
    }

    fn store(&self) -> PgEventStore {
        self.store.clone()
    }

    fn late_committing_store(&self) -> PgEventStore {
        self.store
            .clone()
            .with_commit_jitter(Duration::from_millis(8))
    }

    async fn second_writer(&self) -> PgEventStore {
        PgEventStore::connect(&self.db.url, SHARD)
            .await
            .expect("connect")
    }

    async fn raw(&self, sql: &str) -> Result<u64, String> {
        self.store
            .pool()
            .execute(AssertSqlSafe(sql.to_owned()))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn raw_insert(&self, e: &StoredEvent, epoch: i64) -> Result<(), String> {
        insert_into(self.store.pool(), "events", e, epoch).await
    }

    async fn tamper_payload(&self, position: u64, payload: Vec<u8>) {
        // As the superuser, with triggers off for this session only.
        let mut conn = sqlx::PgConnection::connect(&self.db.url)
            .await
            .expect("connect");
        conn.execute("SET session_replication_role = replica")
            .await
            .expect("replica role");
        let n = sqlx::query("UPDATE events SET payload = $1 WHERE shard = $2 AND position = $3")
            .bind(payload)
            .bind(SHARD)
            .bind(position as i64)
            .execute(&mut conn)
            .await
            .expect("tamper")
            .rows_affected();
        assert_eq!(n, 1);
    }
}

pub(crate) struct Sqlite {
    dir: tempfile::TempDir,
    store: SqliteEventStore,
}

impl Sqlite {
    fn path(&self) -> String {
        self.dir.path().join("loh.db").display().to_string()
    }
}

impl Backend for Sqlite {
    type Store = SqliteEventStore;
    const HAS_TRUNCATE: bool = false;
    const JOURNAL: (&'static str, &'static str) = ("command_journal", "seq");
    const SKIPS_REPEATED_SEQ: bool = true;

    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("loh.db").display().to_string();
        let store = SqliteEventStore::open(&path, SHARD).await.expect("open");
        Sqlite { dir, store }
    }

    fn store(&self) -> SqliteEventStore {
        self.store.clone()
    }

    fn late_committing_store(&self) -> SqliteEventStore {
        self.store.clone()
    }

    async fn second_writer(&self) -> SqliteEventStore {
        SqliteEventStore::open(&self.path(), SHARD)
            .await
            .expect("open again")
    }

    async fn raw(&self, sql: &str) -> Result<u64, String> {
        self.store
            .pool()
            .execute(AssertSqlSafe(sql.to_owned()))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn raw_insert(&self, e: &StoredEvent, epoch: i64) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO events (shard, position, stream_id, stream_version, tick, \
                schema_version, event_id, correlation_id, causation_id, occurred_at_us, kind, \
                payload, prev_hash, hash, epoch) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.shard)
        .bind(e.position as i64)
        .bind(&e.stream_id)
        .bind(e.stream_version as i64)
        .bind(e.tick as i64)
        .bind(i64::from(e.schema_version))
        .bind(e.event_id)
        .bind(e.correlation_id)
        .bind(e.causation_id)
        .bind(e.occurred_at_us)
        .bind(&e.kind)
        .bind(&e.payload)
        .bind(&e.prev_hash[..])
        .bind(&e.hash[..])
        .bind(epoch)
        .execute(self.store.pool())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    async fn tamper_payload(&self, position: u64, payload: Vec<u8>) {
        let mut conn = self.store.pool().acquire().await.expect("connection");
        conn.execute("DROP TRIGGER events_no_update")
            .await
            .expect("drop trigger");
        let n = sqlx::query("UPDATE events SET payload = ? WHERE shard = ? AND position = ?")
            .bind(payload)
            .bind(SHARD)
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .expect("tamper")
            .rows_affected();
        assert_eq!(n, 1);
    }
}

/// Inserts `e` carrying `epoch` into `table` (the log, or one world's partition of it) with raw
/// SQL, bypassing the store's checks: the database's own rules decide.
pub(crate) async fn insert_into(
    pool: &sqlx::PgPool,
    table: &str,
    e: &StoredEvent,
    epoch: i64,
) -> Result<(), String> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (shard, position, stream_id, stream_version, tick, \
            schema_version, event_id, correlation_id, causation_id, occurred_at_us, kind, \
            payload, prev_hash, hash, epoch) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(&e.shard)
    .bind(e.position as i64)
    .bind(&e.stream_id)
    .bind(e.stream_version as i64)
    .bind(e.tick as i64)
    .bind(i32::from(e.schema_version))
    .bind(e.event_id)
    .bind(e.correlation_id)
    .bind(e.causation_id)
    .bind(e.occurred_at_us)
    .bind(&e.kind)
    .bind(&e.payload)
    .bind(&e.prev_hash[..])
    .bind(&e.hash[..])
    .bind(epoch)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}
