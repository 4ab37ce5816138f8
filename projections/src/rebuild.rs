//! Rebuilding a read model from position 0 into shadow tables, then swapping them in.
//!
//! 1. Every table of the projection is recreated empty as `<table>__shadow` (from its
//!    [`crate::TableDef`]).
//! 2. The whole log of every world ([`rebuild_worlds`]; one world: [`rebuild`]) is folded into
//!    the shadow tables, one transaction per batch, while the live tables keep serving reads and
//!    the live runners keep applying.
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
    /// Rebuilds this projector's read model from position 0 of its world's log (see the module
    /// docs) and returns the new checkpoint. Safe to call while the projector runs. Refused when
    /// the read model also holds other worlds: rebuild those with [`rebuild_worlds`].
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
/// and returns the new checkpoint. Refused ([`Error::Invalid`]) when the read model holds another
/// world's checkpoints too (the rebuild would drop that world's rows): see [`rebuild_worlds`].
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
    progress: impl FnMut(u64),
) -> Result<u64> {
    let done = rebuild_worlds(db, &[store], projection, batch, progress).await?;
    Ok(done.first().map(|(_, position)| *position).unwrap_or(0))
}

/// Rebuilds the read model of `projection` in `db` from the logs of every world in `stores`
/// (one store per world), into shadow tables swapped in at once, and returns each world's new
/// checkpoint. `progress` is called with the position folded so far in the world being folded.
///
/// Worlds are folded one after the other, each in its log's order. That is the order players
/// saw: a character is in one world at a time, so one player's events never interleave between
/// two logs, the per-player rows (skills, bank, wallet, ...) come out of their one world, and the
/// totals (economy, supply) are sums, whose order does not matter.
///
/// Refused ([`Error::Invalid`]) when the read database holds checkpoints of this model for a
/// world not in `stores`: the swap would drop that world's rows.
pub async fn rebuild_worlds(
    db: &ReadDb,
    stores: &[&dyn EventStore],
    projection: &dyn Projection,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(String, u64)>> {
    let name = projection.name();
    if let Some(model) = projection.partition_of() {
        return Err(Error::Invalid(format!(
            "{name} is a partition of {model}: rebuild {model}"
        )));
    }
    let worlds: Vec<&str> = stores.iter().map(|s| s.shard()).collect();
    if worlds.is_empty() {
        return Err(Error::Invalid(format!("rebuilding {name}: no world given")));
    }
    for (i, world) in worlds.iter().enumerate() {
        if worlds[..i].contains(world) {
            return Err(Error::Invalid(format!(
                "rebuilding {name}: world {world:?} given twice"
            )));
        }
    }
    let others: Vec<String> = db
        .worlds_of(name)
        .await?
        .into_iter()
        .filter(|w| !w.is_empty() && !worlds.contains(&w.as_str()))
        .collect();
    if !others.is_empty() {
        return Err(Error::Invalid(format!(
            "read model {name} also holds world(s) {others:?}: rebuild it from every world's log \
             (`loh projections rebuild` without --shards, or list them all)"
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
    tracing::info!(projection = name, ?worlds, "rebuilding into shadow tables");

    // Fold each world's log into the shadow tables.
    let mut positions = vec![0u64; stores.len()];
    for (store, position) in stores.iter().zip(&mut positions) {
        loop {
            let mut tx = db.pool().begin().await?;
            let (moved, more) = fold_batch(
                &mut tx,
                *store,
                projection,
                position,
                batch,
                u64::MAX,
                SHADOW,
            )
            .await?;
            tx.commit().await?;
            progress(*position);
            if moved == 0 || !more {
                break;
            }
        }
    }

    // Swap, after folding what was committed meanwhile, in one transaction.
    for world in &worlds {
        let world_db = db.in_world(world);
        world_db.adopt_legacy_checkpoints().await?;
        // A new read database or world: the model starts unsplit (a split model keeps its
        // partitions).
        match world_db.ensure_checkpoint(name, name).await {
            Ok(_) | Err(Error::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut tx = db.pool().begin().await?;
    // Lock every world's checkpoint rows of the model (queueing their runners), in one order.
    sqlx::query(
        "UPDATE projection_checkpoints SET position = position WHERE name = $1 OR name LIKE $2",
    )
    .bind(name)
    .bind(partitions_like(name))
    .execute(&mut *tx)
    .await?;
    for (store, position) in stores.iter().zip(&mut positions) {
        loop {
            let (_, more) = fold_batch(
                &mut tx,
                *store,
                projection,
                position,
                batch,
                u64::MAX,
                SHADOW,
            )
            .await?;
            if !more {
                break;
            }
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
    // Each world's partitions of the model (if it runs split) continue from the rebuilt rows too.
    for (world, position) in worlds.iter().zip(&positions) {
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $1 \
             WHERE shard = $4 AND (name = $2 OR name LIKE $3)",
        )
        .bind(to_sql(*position))
        .bind(name)
        .bind(partitions_like(name))
        .bind(*world)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        projection = name,
        checkpoints = ?positions,
        "rebuilt and swapped in"
    );
    Ok(worlds
        .iter()
        .map(|w| (*w).to_owned())
        .zip(positions)
        .collect())
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

const VERIFY: &str = "__verify";

/// A table of a read model that differs from its rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: &'static str,
    /// Rows of the live table the rebuild does not have.
    pub only_live: u64,
    /// Rows of the rebuild the live table does not have.
    pub only_rebuilt: u64,
}

/// Folds the whole log of every world in `stores` into scratch tables (`<table>__verify`) and
/// compares them, row for row, with the live tables of `projection`; returns the tables that
/// differ (none: the read model equals a rebuild). The live tables must be caught up to the
/// logs' heads and not being written (the campaign of `loh chaos` checks at its end, with every
/// process stopped and each projector caught up with [`Projector::catch_up`]). Nothing live is
/// changed; the scratch tables are dropped afterwards.
pub async fn differences(
    db: &ReadDb,
    stores: &[&dyn EventStore],
    projection: &dyn Projection,
    batch: usize,
) -> Result<Vec<Difference>> {
    let tables = projection.tables();
    for table in tables {
        if !is_identifier(table.name) || !table.columns.iter().all(|c| is_identifier(c)) {
            return Err(Error::Invalid(format!("table {:?}", table.name)));
        }
        let scratch = format!("{}{VERIFY}", table.name);
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {scratch}")))
            .execute(db.pool())
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {scratch} {}",
            table.ddl
        )))
        .execute(db.pool())
        .await?;
    }
    for store in stores {
        let mut position = 0;
        loop {
            let mut tx = db.pool().begin().await?;
            let (moved, more) = fold_batch(
                &mut tx,
                *store,
                projection,
                &mut position,
                batch.max(1),
                u64::MAX,
                VERIFY,
            )
            .await?;
            tx.commit().await?;
            if moved == 0 || !more {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for table in tables {
        let columns = table.columns.join(", ");
        let (live, scratch) = (table.name, format!("{}{VERIFY}", table.name));
        let count = |a: &str, b: &str| {
            format!(
                "SELECT COUNT(*) FROM (SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b}) d"
            )
        };
        let only_live: i64 = sqlx::query_scalar(AssertSqlSafe(count(live, &scratch)))
            .fetch_one(db.pool())
            .await?;
        let only_rebuilt: i64 = sqlx::query_scalar(AssertSqlSafe(count(&scratch, live)))
            .fetch_one(db.pool())
            .await?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {scratch}")))
            .execute(db.pool())
            .await?;
        if only_live != 0 || only_rebuilt != 0 {
            out.push(Difference {
                table: table.name,
                only_live: only_live as u64,
                only_rebuilt: only_rebuilt as u64,
            });
        }
    }
    Ok(out)
}
