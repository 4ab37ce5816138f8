//! The read database: PostgreSQL or the embedded SQLite file, through `sqlx::AnyPool`.
//!
//! Everything here is plain SQL that means the same on both backends (`$n` placeholders,
//! `INSERT … ON CONFLICT`, `ALTER TABLE … RENAME`). Table and column names come from the code
//! ([`crate::TableDef`], [`crate::RowOp`]) and are checked to be plain identifiers before they are
//! spliced into SQL; values are always bound.

use crate::fold::{Column, RowOp, Value, is_identifier};
use crate::{Error, Result};
use loh_events::sqlite::WriterGate;
use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// Which database the read models live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend of a database URL (`postgres://…`, `postgresql://…`, `sqlite:…`).
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(Error::Invalid(
                "a read database URL starts with postgres:// or sqlite:".into(),
            ))
        }
    }
}

/// A pool on the read database. Cheap to clone.
///
/// Several worlds (shards) may project into one read database: each keeps its own checkpoints
/// (keyed by world and projector). A `ReadDb` is either scoped to one world ([`ReadDb::in_world`],
/// what a projector of that world uses) or unscoped (the query API's): an unscoped one reads the
/// checkpoints of every world and writes none.
#[derive(Debug, Clone)]
pub struct ReadDb {
    pool: AnyPool,
    backend: Backend,
    world: Option<Arc<str>>,
    /// The embedded event store's writer lock, when the read models share its SQLite file in
    /// this process ([`ReadDb::sharing_writes`]).
    gate: Option<WriterGate>,
}

impl ReadDb {
    /// Connects to `url`: `postgres://…` or, in embedded mode, the event store's SQLite file
    /// (`sqlite:///path/loh.db?mode=rwc`). Does not run migrations (see [`ReadDb::migrate`]).
    pub async fn connect(url: &str) -> Result<ReadDb> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let max = match backend {
            Backend::Postgres => 8,
            Backend::Sqlite => 4,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .connect(url)
            .await?;
        Ok(ReadDb {
            pool,
            backend,
            world: None,
            gate: None,
        })
    }

    /// Wraps an existing pool of the given backend (unscoped).
    pub fn from_pool(pool: AnyPool, backend: Backend) -> ReadDb {
        ReadDb {
            pool,
            backend,
            world: None,
            gate: None,
        }
    }

    /// The same database scoped to world `shard`: its checkpoints are that world's.
    pub fn in_world(&self, shard: &str) -> ReadDb {
        ReadDb {
            pool: self.pool.clone(),
            backend: self.backend,
            world: Some(shard.into()),
            gate: self.gate.clone(),
        }
    }

    /// This database with its projectors' batches committed in turn with the embedded event
    /// store's appends, on `gate` ([`loh_events::sqlite::SqliteEventStore::writer_gate`]): the
    /// read models then share the store's SQLite file and its one writer in this process.
    pub fn sharing_writes(mut self, gate: Option<WriterGate>) -> ReadDb {
        self.gate = gate;
        self
    }

    /// The world this handle is scoped to, if any.
    pub fn world(&self) -> Option<&str> {
        self.world.as_deref()
    }

    /// The world this handle is scoped to; writing a checkpoint needs one.
    pub(crate) fn scope(&self) -> Result<&str> {
        self.world().ok_or_else(|| {
            Error::Invalid("writing a checkpoint needs a read database scoped to a world".into())
        })
    }

    /// Gives the checkpoints that have no world (written before worlds shared a read database,
    /// migration 0010, when it could not tell whose they were) to this handle's world, unless it
    /// has checkpoints already. The first world whose projectors start takes them; returns how
    /// many it took.
    pub async fn adopt_legacy_checkpoints(&self) -> Result<u64> {
        let world = self.scope()?;
        let adopted = sqlx::query(
            "UPDATE projection_checkpoints SET shard = $1 WHERE shard = '' \
             AND NOT EXISTS (SELECT 1 FROM projection_checkpoints WHERE shard = $1)",
        )
        .bind(world)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if adopted > 0 {
            tracing::info!(world, adopted, "adopted the checkpoints that had no world");
        }
        Ok(adopted)
    }

    /// The worlds that hold a checkpoint of read model `model` (or of its partitions).
    pub async fn worlds_of(&self, model: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT shard FROM projection_checkpoints \
             WHERE name = $1 OR name LIKE $2 ORDER BY shard",
        )
        .bind(model)
        .bind(partitions_like(model))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("shard")?)).collect()
    }

    /// The pool, for read queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs every migration of the backend (the same set the event store runs; idempotent).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => loh_migrations::POSTGRES.run(&self.pool).await?,
            Backend::Sqlite => loh_migrations::SQLITE.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The checkpoint of read model (or projector) `name` in this handle's world: the last
    /// position whose effects its read model holds (`0` when it has none). For a model consumed
    /// in partitions ([`crate::partition`]) it is the lowest of its partitions' checkpoints:
    /// every event up to it is reflected for every player. Unscoped, the lowest over every world
    /// (positions of different worlds' logs: only "0 = nothing yet" compares across worlds).
    pub async fn checkpoint(&self, name: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT MIN(position) AS position FROM projection_checkpoints \
             WHERE (name = $1 OR name LIKE $2) AND ($3 IS NULL OR shard = $3)",
        )
        .bind(name)
        .bind(partitions_like(name))
        .bind(self.world().map(str::to_owned))
        .fetch_one(&self.pool)
        .await?;
        let position: Option<i64> = row.try_get("position")?;
        Ok(position.map(to_position).unwrap_or(0))
    }

    /// Every checkpoint of this handle's world (unscoped: of every world), by name.
    pub async fn checkpoints(&self) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT name, position FROM projection_checkpoints \
             WHERE ($1 IS NULL OR shard = $1) ORDER BY name, shard",
        )
        .bind(self.world().map(str::to_owned))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, to_position(r.try_get("position")?))))
            .collect()
    }

    /// Every checkpoint of every world: `(world, projector, position)`, by world then name.
    pub async fn world_checkpoints(&self) -> Result<Vec<(String, String, u64)>> {
        let rows = sqlx::query(
            "SELECT shard, name, position FROM projection_checkpoints ORDER BY shard, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("shard")?,
                    r.try_get("name")?,
                    to_position(r.try_get("position")?),
                ))
            })
            .collect()
    }

    /// The checkpoint of projector `name` (the model `model` itself, or one of its partitions) in
    /// this handle's world. Creates it at 0 only when `model` has no checkpoint at all in this
    /// world (a new read database, or a new world); when
    /// `model` runs in another arrangement of partitions, refuses: this projector would apply the
    /// log a second time on top of the rows the others wrote.
    pub(crate) async fn ensure_checkpoint(&self, name: &str, model: &str) -> Result<u64> {
        let world = self.scope()?;
        sqlx::query(
            "INSERT INTO projection_checkpoints (shard, name, position) SELECT $4, $1, 0 \
             WHERE NOT EXISTS (SELECT 1 FROM projection_checkpoints \
                               WHERE shard = $4 AND (name = $2 OR name LIKE $3)) \
             ON CONFLICT (shard, name) DO NOTHING",
        )
        .bind(name)
        .bind(model)
        .bind(partitions_like(model))
        .bind(world)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT position FROM projection_checkpoints WHERE shard = $1 AND name = $2",
        )
        .bind(world)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(to_position(row.try_get("position")?)),
            None => Err(Error::Invalid(format!(
                "projector {name} has no checkpoint while read model {model} runs with another \
                 number of partitions; start every projections process with the same \
                 --partitions (starting re-arranges the checkpoints)"
            ))),
        }
    }

    /// In one transaction: moves the checkpoint of `name` from `expected` to `new` and applies
    /// `ops`. Returns `false` (and changes nothing) when the checkpoint was not `expected`:
    /// another runner or a rebuild moved it, and the caller must reload it.
    pub(crate) async fn commit_batch(
        &self,
        name: &str,
        expected: u64,
        new: u64,
        ops: &[RowOp],
    ) -> Result<bool> {
        let world = self.scope()?;
        let _turn = match &self.gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        // The checkpoint is written first: it takes the row lock (PostgreSQL) or the write lock
        // (SQLite) before any read-model row, so competing runners and a rebuild's swap queue up
        // on it instead of deadlocking, and the loser sees a moved checkpoint.
        let moved = sqlx::query(
            "UPDATE projection_checkpoints SET position = $1 \
             WHERE shard = $4 AND name = $2 AND position = $3",
        )
        .bind(to_sql(new))
        .bind(name)
        .bind(to_sql(expected))
        .bind(world)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        apply_ops(&mut tx, ops, "").await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The `LIKE` pattern of the checkpoints of `model`'s partitions (`<model>_p<i>_of_<n>`).
pub(crate) fn partitions_like(model: &str) -> String {
    format!("{model}_p%_of_%")
}

/// A stored position (`BIGINT`) as a `u64`.
pub(crate) fn to_position(v: i64) -> u64 {
    v.max(0) as u64
}

/// A position as a `BIGINT`.
pub(crate) fn to_sql(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// Applies `ops` on `conn`, writing to `<table><suffix>` (the suffix names shadow tables), in
/// as few statements as [`plan`] can make of them.
pub(crate) async fn apply_ops(conn: &mut AnyConnection, ops: &[RowOp], suffix: &str) -> Result<()> {
    for (sql, values) in plan(ops, suffix)? {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The statements that apply `ops` with the same effect as one statement per operation in order,
/// but fewer of them (a tick's events make hundreds of operations, and each statement is a round
/// trip to the database):
/// - operations on different tables commute (the row operations touch only their own table), so
///   each table's operations are taken together, in their order;
/// - consecutive upserts of a table with the same columns become one multi-row upsert, the last
///   one of each key winning (as it would, applied in order);
/// - increments commute with each other: a table's consecutive increments (of any column) become
///   one multi-row increment per key and column set, each key's amounts summed;
/// - a [`RowOp::Statement`] may read any table: everything before it is applied first.
pub(crate) fn plan(ops: &[RowOp], suffix: &str) -> Result<Vec<(String, Vec<Value>)>> {
    let mut out = Vec::new();
    let mut tables: Vec<(&'static str, Vec<&RowOp>)> = Vec::new();
    for op in ops {
        if let RowOp::Statement { .. } = op {
            flush(&mut tables, suffix, &mut out)?;
            out.push(statement(op, suffix)?);
            continue;
        }
        match tables.iter_mut().find(|(t, _)| *t == op.table()) {
            Some((_, queue)) => queue.push(op),
            None => tables.push((op.table(), vec![op])),
        }
    }
    flush(&mut tables, suffix, &mut out)?;
    Ok(out)
}

/// Rows per multi-row statement, at most; fewer rows go by powers of two, so that a table has
/// few distinct statements (each is prepared once per connection).
const MAX_ROWS: usize = 64;

fn flush(
    tables: &mut Vec<(&'static str, Vec<&RowOp>)>,
    suffix: &str,
    out: &mut Vec<(String, Vec<Value>)>,
) -> Result<()> {
    for (_, queue) in tables.drain(..) {
        let mut start = 0;
        while start < queue.len() {
            let mut end = start + 1;
            if matches!(queue[start], RowOp::Increment { .. }) {
                // Increments commute with each other, whatever their key or column: a run of
                // them is merged per shape.
                while end < queue.len() && matches!(queue[end], RowOp::Increment { .. }) {
                    end += 1;
                }
                let mut shapes: Vec<Vec<&RowOp>> = Vec::new();
                for op in &queue[start..end] {
                    match shapes.iter_mut().find(|s| same_shape(s[0], op)) {
                        Some(shape) => shape.push(op),
                        None => shapes.push(vec![op]),
                    }
                }
                for shape in shapes {
                    merge(&shape, suffix, out)?;
                }
            } else {
                while end < queue.len() && same_shape(queue[start], queue[end]) {
                    end += 1;
                }
                merge(&queue[start..end], suffix, out)?;
            }
            start = end;
        }
    }
    Ok(())
}

fn same_columns(a: &[Column], b: &[Column]) -> bool {
    a.iter().map(|(c, _)| c).eq(b.iter().map(|(c, _)| c))
}

fn same_shape(a: &RowOp, b: &RowOp) -> bool {
    match (a, b) {
        (
            RowOp::Upsert {
                key: k1,
                values: v1,
                ..
            },
            RowOp::Upsert {
                key: k2,
                values: v2,
                ..
            },
        ) => same_columns(k1, k2) && same_columns(v1, v2),
        (
            RowOp::Increment {
                key: k1,
                column: c1,
                ..
            },
            RowOp::Increment {
                key: k2,
                column: c2,
                ..
            },
        ) => same_columns(k1, k2) && c1 == c2,
        _ => false,
    }
}

/// One run of operations of the same shape ([`same_shape`]) as multi-row statements.
fn merge(run: &[&RowOp], suffix: &str, out: &mut Vec<(String, Vec<Value>)>) -> Result<()> {
    let shape = match run.first() {
        Some(first) if run.len() > 1 => insert_shape(first, suffix)?,
        _ => None,
    };
    let Some(shape) = shape else {
        for op in run {
            out.push(statement(op, suffix)?);
        }
        return Ok(());
    };
    let increment = matches!(run[0], RowOp::Increment { .. });
    // One row per key: an upsert's last values win, an increment's amounts add up.
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut by_key: HashMap<Vec<Value>, usize> = HashMap::new();
    for op in run {
        let row = insert_row(op);
        let key = row[..shape.key.len()].to_vec();
        match by_key.get(&key) {
            Some(&i) if increment => {
                let (Some(Value::Int(Some(sum))), Some(Value::Int(Some(by)))) =
                    (rows[i].last_mut(), row.last())
                else {
                    unreachable!("an increment row ends with its amount")
                };
                *sum = sum.checked_add(*by).ok_or_else(|| {
                    Error::Invalid(format!("increments of {} overflow", shape.table))
                })?;
            }
            Some(&i) => rows[i] = row,
            None => {
                by_key.insert(key, rows.len());
                rows.push(row);
            }
        }
    }
    for chunk in loh_events::store::statement_chunks(&rows, MAX_ROWS) {
        out.push(insert(&shape, chunk));
    }
    Ok(())
}

/// An upsert or an increment as `INSERT INTO table (columns) VALUES … ON CONFLICT (key) action`.
struct InsertShape {
    /// The table, suffixed, checked.
    table: String,
    columns: Vec<&'static str>,
    key: Vec<&'static str>,
    on_conflict: String,
}

/// The shape of `op` when it is an upsert or an increment.
fn insert_shape(op: &RowOp, suffix: &str) -> Result<Option<InsertShape>> {
    let (key, columns, on_conflict) = match op {
        RowOp::Upsert { key, values, .. } => {
            let key_names = names(key)?;
            let value_names = names(values)?;
            let on_conflict = if value_names.is_empty() {
                "DO NOTHING".to_owned()
            } else {
                let sets: Vec<String> = value_names
                    .iter()
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect();
                format!("DO UPDATE SET {}", sets.join(", "))
            };
            let columns = key_names.iter().chain(&value_names).copied().collect();
            (key_names, columns, on_conflict)
        }
        RowOp::Increment { key, column, .. } => {
            let column = ident(column)?;
            let key_names = names(key)?;
            let table = format!("{}{suffix}", op.table());
            let on_conflict =
                format!("DO UPDATE SET {column} = {table}.{column} + excluded.{column}");
            let columns = key_names.iter().copied().chain([column]).collect();
            (key_names, columns, on_conflict)
        }
        _ => return Ok(None),
    };
    let table = format!("{}{suffix}", ident(op.table())?);
    ident(&table)?;
    Ok(Some(InsertShape {
        table,
        columns,
        key,
        on_conflict,
    }))
}

/// The values an upsert or increment inserts, in its shape's column order (key first).
fn insert_row(op: &RowOp) -> Vec<Value> {
    match op {
        RowOp::Upsert { key, values, .. } => {
            key.iter().chain(values).map(|(_, v)| v.clone()).collect()
        }
        RowOp::Increment { key, by, .. } => key
            .iter()
            .map(|(_, v)| v.clone())
            .chain([Value::int(*by)])
            .collect(),
        _ => Vec::new(),
    }
}

/// The statement inserting `rows` in `shape`, with its values in placeholder order.
fn insert(shape: &InsertShape, rows: &[Vec<Value>]) -> (String, Vec<Value>) {
    let mut n = 0;
    let tuples: Vec<String> = rows
        .iter()
        .map(|row| {
            let placeholders: Vec<String> = row
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) {}",
        shape.table,
        shape.columns.join(", "),
        tuples.join(", "),
        shape.key.join(", "),
        shape.on_conflict,
    );
    (sql, rows.iter().flatten().cloned().collect())
}

fn ident(name: &str) -> Result<&str> {
    if is_identifier(name) {
        Ok(name)
    } else {
        Err(Error::Invalid(format!(
            "{name:?} is not a plain SQL identifier"
        )))
    }
}

fn names(columns: &[Column]) -> Result<Vec<&'static str>> {
    columns.iter().map(|(c, _)| ident(c)).collect()
}

/// The SQL of one row operation and its values, in placeholder order.
pub(crate) fn statement(op: &RowOp, suffix: &str) -> Result<(String, Vec<Value>)> {
    if let Some(shape) = insert_shape(op, suffix)? {
        return Ok(insert(&shape, &[insert_row(op)]));
    }
    let table = format!("{}{}", ident(op.table())?, suffix);
    ident(&table)?;
    let where_key = |key: &[Column], first: usize| -> Result<String> {
        Ok(names(key)?
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", first + i))
            .collect::<Vec<_>>()
            .join(" AND "))
    };
    match op {
        RowOp::Update { key, values, .. } => {
            if values.is_empty() {
                return Err(Error::Invalid(format!("an update of {table} sets nothing")));
            }
            let sets: Vec<String> = names(values)?
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE {table} SET {} WHERE {}",
                sets.join(", "),
                where_key(key, values.len() + 1)?
            );
            Ok((
                sql,
                values.iter().chain(key).map(|(_, v)| v.clone()).collect(),
            ))
        }
        RowOp::Delete { key, .. } => {
            let sql = format!("DELETE FROM {table} WHERE {}", where_key(key, 1)?);
            Ok((sql, key.iter().map(|(_, v)| v.clone()).collect()))
        }
        RowOp::Statement { sql, values, .. } => Ok((splice_tables(sql, suffix)?, values.clone())),
        RowOp::Upsert { .. } | RowOp::Increment { .. } => {
            unreachable!("upserts and increments are inserts (insert_shape)")
        }
    }
}

/// `sql` with every `{table}` replaced by `table<suffix>`, each name checked to be a plain
/// identifier.
fn splice_tables(sql: &str, suffix: &str) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| Error::Invalid(format!("unclosed table name in {sql:?}")))?;
        out.push_str(ident(&after[..close])?);
        out.push_str(suffix);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embedded, a projector's batch commits in turn with the event store's appends: while the
    /// store's writer holds the gate, the batch waits for it rather than for SQLite's lock.
    #[tokio::test]
    async fn an_embedded_batch_waits_its_turn_behind_the_event_store_s_writer() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let path = dir.path().join("loh.db");
        let path = path.to_str().expect("a UTF-8 path");
        let store = loh_events::sqlite::SqliteEventStore::open(path, "world1")
            .await
            .expect("the embedded store");
        let db = ReadDb::connect(&format!("sqlite://{path}?mode=rwc"))
            .await
            .expect("the read database")
            .sharing_writes(Some(store.writer_gate()))
            .in_world("world1");
        assert_eq!(db.ensure_checkpoint("p", "p").await.expect("checkpoint"), 0);
        let appending = store.writer_gate().lock_owned().await;
        let batch = tokio::spawn({
            let db = db.clone();
            async move { db.commit_batch("p", 0, 1, &[]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !batch.is_finished(),
            "committed while an append held the writer"
        );
        assert_eq!(db.checkpoint("p").await.expect("read"), 0);
        drop(appending);
        assert!(batch.await.expect("the batch's task").expect("committed"));
        assert_eq!(db.checkpoint("p").await.expect("read"), 1);
    }

    fn key() -> Vec<Column> {
        vec![("player_id", Value::text("p1"))]
    }

    #[test]
    fn an_upsert_inserts_key_and_values_and_overwrites_only_the_values() {
        let op = RowOp::Upsert {
            table: "rm_t",
            key: key(),
            values: vec![("x", Value::int(1)), ("note", Value::Text(None))],
        };
        let (sql, values) = statement(&op, "__shadow").expect("sql");
        assert_eq!(
            sql,
            "INSERT INTO rm_t__shadow (player_id, x, note) VALUES ($1, $2, $3) \
             ON CONFLICT (player_id) DO UPDATE SET x = excluded.x, note = excluded.note"
        );
        assert_eq!(
            values,
            [Value::text("p1"), Value::int(1), Value::Text(None)]
        );
    }

    #[test]
    fn update_increment_and_delete_bind_the_key_last_or_alone() {
        let update = RowOp::Update {
            table: "rm_t",
            key: key(),
            values: vec![("x", Value::int(2))],
        };
        let (sql, values) = statement(&update, "").expect("sql");
        assert_eq!(sql, "UPDATE rm_t SET x = $1 WHERE player_id = $2");
        assert_eq!(values, [Value::int(2), Value::text("p1")]);

        let increment = RowOp::Increment {
            table: "rm_t",
            key: key(),
            column: "n",
            by: -3,
        };
        let (sql, values) = statement(&increment, "").expect("sql");
        assert_eq!(
            sql,
            "INSERT INTO rm_t (player_id, n) VALUES ($1, $2) ON CONFLICT (player_id) \
             DO UPDATE SET n = rm_t.n + excluded.n"
        );
        assert_eq!(values, [Value::text("p1"), Value::int(-3)]);

        let delete = RowOp::Delete {
            table: "rm_t",
            key: key(),
        };
        let (sql, _) = statement(&delete, "").expect("sql");
        assert_eq!(sql, "DELETE FROM rm_t WHERE player_id = $1");
    }

    #[test]
    fn a_plan_merges_runs_per_table_keeps_the_last_upsert_sums_increments_and_stops_at_statements()
    {
        let upsert = |k: &str, x: i64| RowOp::Upsert {
            table: "rm_a",
            key: vec![("k", Value::text(k))],
            values: vec![("x", Value::int(x))],
        };
        let increment = |k: &str, by: i64| RowOp::Increment {
            table: "rm_b",
            key: vec![("k", Value::text(k))],
            column: "n",
            by,
        };
        let ops = vec![
            upsert("k1", 1),
            increment("k1", 2),
            upsert("k2", 2),
            upsert("k1", 3),
            increment("k1", 3),
            increment("k2", 1),
            RowOp::Statement {
                table: "rm_a",
                sql: "DELETE FROM {rm_a} WHERE x > $1",
                values: vec![Value::int(9)],
            },
            upsert("k3", 4),
        ];
        let plan = plan(&ops, "").expect("plan");
        let sql: Vec<&str> = plan.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            sql,
            [
                "INSERT INTO rm_a (k, x) VALUES ($1, $2), ($3, $4) ON CONFLICT (k) \
                 DO UPDATE SET x = excluded.x",
                "INSERT INTO rm_b (k, n) VALUES ($1, $2), ($3, $4) ON CONFLICT (k) \
                 DO UPDATE SET n = rm_b.n + excluded.n",
                "DELETE FROM rm_a WHERE x > $1",
                "INSERT INTO rm_a (k, x) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET x = excluded.x",
            ]
        );
        assert_eq!(
            plan[0].1,
            [
                Value::text("k1"),
                Value::int(3),
                Value::text("k2"),
                Value::int(2)
            ],
            "the last upsert of k1 wins"
        );
        assert_eq!(
            plan[1].1,
            [
                Value::text("k1"),
                Value::int(5),
                Value::text("k2"),
                Value::int(1)
            ],
            "increments of a key are summed"
        );
    }

    #[test]
    fn interleaved_increments_of_different_columns_merge_per_column() {
        let increment = |column: &'static str, by: i64| RowOp::Increment {
            table: "rm_supply",
            key: vec![("item", Value::text("logs"))],
            column,
            by,
        };
        let ops = vec![
            increment("minted", 2),
            increment("burned", 1),
            increment("minted", 3),
            increment("burned", 4),
        ];
        let plan = plan(&ops, "").expect("plan");
        let got: Vec<(&str, &[Value])> = plan
            .iter()
            .map(|(sql, values)| (sql.as_str(), values.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "INSERT INTO rm_supply (item, minted) VALUES ($1, $2) ON CONFLICT (item) \
                     DO UPDATE SET minted = rm_supply.minted + excluded.minted",
                    &[Value::text("logs"), Value::int(5)][..]
                ),
                (
                    "INSERT INTO rm_supply (item, burned) VALUES ($1, $2) ON CONFLICT (item) \
                     DO UPDATE SET burned = rm_supply.burned + excluded.burned",
                    &[Value::text("logs"), Value::int(5)][..]
                ),
            ]
        );
    }

    #[test]
    fn a_long_run_goes_in_chunks_of_at_most_64_then_powers_of_two() {
        let ops: Vec<RowOp> = (0..100)
            .map(|i| RowOp::Increment {
                table: "rm_b",
                key: vec![("k", Value::int(i))],
                column: "n",
                by: 1,
            })
            .collect();
        let sizes: Vec<usize> = plan(&ops, "__shadow")
            .expect("plan")
            .iter()
            .map(|(_, values)| values.len() / 2)
            .collect();
        assert_eq!(sizes, [64, 32, 4]);
    }

    #[test]
    fn names_that_are_not_plain_identifiers_are_refused() {
        let op = RowOp::Delete {
            table: "rm_t; DROP TABLE events",
            key: key(),
        };
        assert!(matches!(statement(&op, ""), Err(Error::Invalid(_))));
        let op = RowOp::Update {
            table: "rm_t",
            key: vec![("Player-Id", Value::text("p1"))],
            values: vec![("x", Value::int(1))],
        };
        assert!(matches!(statement(&op, ""), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_statement_names_its_tables_in_braces_and_they_take_the_shadow_suffix() {
        let op = RowOp::Statement {
            table: "rm_a",
            sql: "UPDATE {rm_a} SET n = (SELECT SUM(n) FROM {rm_b}) WHERE k = $1",
            values: vec![Value::int(1)],
        };
        let (sql, values) = statement(&op, "__shadow").expect("sql");
        assert_eq!(
            sql,
            "UPDATE rm_a__shadow SET n = (SELECT SUM(n) FROM rm_b__shadow) WHERE k = $1"
        );
        assert_eq!(values, [Value::int(1)]);
        let bad = RowOp::Statement {
            table: "rm_a",
            sql: "DELETE FROM {rm_a; DROP TABLE events}",
            values: vec![],
        };
        assert!(matches!(statement(&bad, ""), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_url_names_its_backend() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").expect("pg"),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("sqlite:///tmp/loh.db").expect("sqlite"),
            Backend::Sqlite
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
