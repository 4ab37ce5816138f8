//! Rebuilding a read model from position 0 into shadow tables, then swapping them in.
//!
//! 1. Every table of the projection is recreated empty as `<table>__shadow` (from its
//!    [`crate::TableDef`]).
//! 2. The whole log is folded into the shadow tables, one transaction per batch, while the live
//!    tables keep serving reads and the live runner keeps applying.
//! 3. One transaction locks the checkpoint row (queueing any runner behind it), folds the events
//!    committed meanwhile, renames `<table>` → `<table>__old` and `<table>__shadow` → `<table>`,
//!    drops the old tables and sets the checkpoint to the shadow's. Readers see the old model or
//!    the new one, never a mix; a runner whose batch was queued finds the checkpoint moved and
//!    reloads it.

use crate::db::{ReadDb, apply_ops, partitions_like, to_sql};
use crate::fold::{Projection, is_identifier};
use crate::runner::Projector;
use crate::{Error, Result};
use loh_events::EventStore;
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;

const SHADOW: &str = "__shadow";
const OLD: &str = "__old";

impl Projector {
    /// Rebuilds this projector's read model from position 0 (see the module docs) and returns
    /// the new checkpoint. Safe to call while the projector runs.
    pub async fn rebuild(&self) -> Result<u64> {
        rebuild(
            self.db(),
            &**self.store(),
            &**self.projection(),
            self.config().batch_size,
        )
        .await
    }
}

/// Rebuilds the read model of `projection` in `db` from `store`, `batch` events per transaction,
/// and returns the new checkpoint.
pub async fn rebuild(
    db: &ReadDb,
    store: &dyn EventStore,
    projection: &dyn Projection,
    batch: usize,
) -> Result<u64> {
    rebuild_with_progress(db, store, projection, batch, |_| {}).await
}

/// [`rebuild`], calling `progress` with the position folded so far after each batch.
pub async fn rebuild_with_progress(
    db: &ReadDb,
    store: &dyn EventStore,
    projection: &dyn Projection,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let name = projection.name();
    if let Some(model) = projection.partition_of() {
        return Err(Error::Invalid(format!(
            "{name} is a partition of {model}: rebuild {model}"
        )));
    }
    let batch = batch.max(1);
    for table in projection.tables() {
        if !is_identifier(table.name) {
            return Err(Error::Invalid(format!("table name {:?}", table.name)));
        }
        let shadow = format!("{}{SHADOW}", table.name);
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {shadow}")))
            .execute(db.pool())
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {shadow} {}",
            table.ddl
        )))
        .execute(db.pool())
        .await?;
    }
    tracing::info!(projection = name, "rebuilding into shadow tables");

    // Fold the log into the shadow tables.
    let mut position = 0u64;
    loop {
        let mut tx = db.pool().begin().await?;
        let (moved, more) = fold_batch(
            &mut tx,
            store,
            projection,
            &mut position,
            batch,
            u64::MAX,
            SHADOW,
        )
        .await?;
        tx.commit().await?;
        progress(position);
        if moved == 0 || !more {
            break;
        }
    }

    // Swap, after folding what was committed meanwhile, in one transaction.
    // A new read database: the model starts unsplit (a split model keeps its partitions).
    match db.ensure_checkpoint(name, name).await {
        Ok(_) | Err(Error::Invalid(_)) => {}
        Err(e) => return Err(e),
    }
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE projection_checkpoints SET position = position WHERE name = $1 OR name LIKE $2",
    )
    .bind(name)
    .bind(partitions_like(name))
    .execute(&mut *tx)
    .await?;
    loop {
        let (_, more) = fold_batch(
            &mut tx,
            store,
            projection,
            &mut position,
            batch,
            u64::MAX,
            SHADOW,
        )
        .await?;
        if !more {
            break;
        }
    }
    // Views are bound to the tables they were created on (PostgreSQL) or checked on rename
    // (SQLite): drop them around the swap.
    for (view, _) in crate::views::VIEWS {
        sqlx::query(AssertSqlSafe(format!("DROP VIEW IF EXISTS {view}")))
            .execute(&mut *tx)
            .await?;
    }
    for table in projection.tables() {
        let live = table.name;
        for sql in [
            format!("ALTER TABLE {live} RENAME TO {live}{OLD}"),
            format!("ALTER TABLE {live}{SHADOW} RENAME TO {live}"),
            format!("DROP TABLE {live}{OLD}"),
        ] {
            sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        // The old table took its indexes with it; the names are free again.
        for index in table.indexes {
            sqlx::query(AssertSqlSafe(*index)).execute(&mut *tx).await?;
        }
    }
    for (view, select) in crate::views::VIEWS {
        sqlx::query(AssertSqlSafe(format!("CREATE VIEW {view} AS {select}")))
            .execute(&mut *tx)
            .await?;
    }
    // The partitions of the model (if it runs split) continue from the rebuilt rows too.
    sqlx::query("UPDATE projection_checkpoints SET position = $1 WHERE name = $2 OR name LIKE $3")
        .bind(to_sql(position))
        .bind(name)
        .bind(partitions_like(name))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        projection = name,
        checkpoint = position,
        "rebuilt and swapped in"
    );
    Ok(position)
}

/// Folds up to `batch` events after `position`, and none after `until`, into the tables
/// `<table><suffix>` on `conn`; returns how many and whether the store may hold more.
pub(crate) async fn fold_batch(
    conn: &mut AnyConnection,
    store: &dyn EventStore,
    projection: &dyn Projection,
    position: &mut u64,
    batch: usize,
    until: u64,
    suffix: &str,
) -> Result<(usize, bool)> {
    let want = usize::try_from(until.saturating_sub(*position)).unwrap_or(usize::MAX);
    let events = store.read_from(*position + 1, batch.min(want)).await?;
    let mut ops = Vec::new();
    let mut folded = 0;
    for event in events.iter().take_while(|e| e.position <= until) {
        if event.position != *position + 1 {
            return Err(Error::MissingEvent(*position + 1));
        }
        ops.extend(projection.apply(event)?);
        *position = event.position;
        folded += 1;
    }
    apply_ops(conn, &ops, suffix).await?;
    Ok((folded, events.len() == batch))
}
