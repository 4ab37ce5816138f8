//! Partitioned consumption of a hot read model: N projectors, each applying the rows of the
//! players that hash to it.
//!
//! [`Partition::split`] turns a projection into `count` projections named
//! `<name>_p<index>_of_<count>`, each with its own checkpoint (and durable consumer). Each one
//! reads every event in position order but applies only the row operations whose `player_id` key
//! (or, for a [`RowOp::Statement`], first value) hashes to its index; operations without a player
//! go to partition 0. A player's rows are therefore written by one projector, in log order: per
//! player order holds, while the partitions commit in parallel transactions.
//!
//! Only models whose every operation on a player's rows depends on that player's rows alone may
//! be split: `holdings`, `wallet`, `skills`, `profile`, `player_position` ([`splittable`]).
//! A partition cannot be rebuilt on its own: rebuild the model by its name; the swap moves every
//! existing partition's checkpoint with it.
//!
//! # Changing the number of partitions
//! [`arrange`] runs before the projectors start (`loh projections run --partitions N` calls it
//! for every model). When the checkpoints in the read database belong to another arrangement, it
//! brings every existing projector up to the furthest one's checkpoint `T` (folding the missing
//! events of each partition into the same rows), then replaces their checkpoints by the new
//! arrangement's, all at `T`, in one transaction: the rows are then exactly the fold of the log up
//! to `T`, whatever the partitions were, and no rebuild is needed. A projector of the old
//! arrangement still running elsewhere finds its checkpoint gone at its next commit and stops
//! ([`crate::ReadDb`] never recreates a partition's checkpoint next to another arrangement's).
//!
//! The model's checkpoint — what `loh projections status` and the query API's `as_of_position`
//! report — is the lowest of its partitions' ([`crate::ReadDb::checkpoint`]).

use crate::db::{Backend, ReadDb, partitions_like, to_position, to_sql};
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::rebuild::fold_batch;
use crate::{Error, Result};
use loh_events::{EventBody, EventStore, StoredEvent};
use sqlx::Row;
use std::sync::Arc;

/// The models whose rows are all keyed by player and may be split.
pub fn splittable(name: &str) -> bool {
    matches!(
        name,
        "holdings" | "wallet" | "skills" | "profile" | "player_position"
    )
}

/// One partition of a read model.
pub struct Partition {
    inner: Arc<dyn Projection>,
    index: u32,
    count: u32,
    name: &'static str,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Partition {
    /// `count` partitions of `inner` (just `inner` when `count` ≤ 1 or the model is not
    /// [`splittable`]). Call once at start-up: each partition's name is allocated for the life of
    /// the process.
    pub fn split(inner: Arc<dyn Projection>, count: u32) -> Vec<Arc<dyn Projection>> {
        if count <= 1 || !splittable(inner.name()) {
            return vec![inner];
        }
        (0..count)
            .map(|index| Partition::one(inner.clone(), index, count))
            .collect()
    }

    /// Partition `index` of `count` of `inner`.
    pub fn one(inner: Arc<dyn Projection>, index: u32, count: u32) -> Arc<dyn Projection> {
        let name: &'static str = Box::leak(name(inner.name(), index, count).into_boxed_str());
        Arc::new(Partition {
            inner,
            index,
            count,
            name,
        })
    }

    /// The partition of a player id.
    pub fn of(player: &str, count: u32) -> u32 {
        (fnv1a(player.bytes()) % u64::from(count.max(1))) as u32
    }

    fn owns(&self, op: &RowOp) -> bool {
        let player = match op {
            RowOp::Upsert { key, .. }
            | RowOp::Update { key, .. }
            | RowOp::Increment { key, .. }
            | RowOp::Delete { key, .. } => {
                key.iter().find(|(c, _)| *c == "player_id").map(|(_, v)| v)
            }
            RowOp::Statement { values, .. } => values.first(),
        };
        match player {
            Some(Value::Text(Some(p))) => Partition::of(p, self.count) == self.index,
            _ => self.index == 0,
        }
    }
}

impl Projection for Partition {
    fn name(&self) -> &'static str {
        self.name
    }

    fn tables(&self) -> &'static [TableDef] {
        self.inner.tables()
    }

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let mut ops = self.inner.fold(event, body)?;
        ops.retain(|op| self.owns(op));
        Ok(ops)
    }

    fn partition_of(&self) -> Option<&'static str> {
        Some(self.inner.name())
    }
}

/// The projector name of partition `index` of `count` of `model`.
pub fn name(model: &str, index: u32, count: u32) -> String {
    format!("{model}_p{index}_of_{count}")
}

/// The projector names of `model` consumed in `count` partitions (the model's own name when it is
/// not split).
pub fn layout(model: &str, count: u32) -> Vec<String> {
    if count <= 1 || !splittable(model) {
        vec![model.to_owned()]
    } else {
        (0..count).map(|i| name(model, i, count)).collect()
    }
}

/// The projector of `model` called `projector` (the model itself, or one of its partitions).
fn projector(model: &Arc<dyn Projection>, projector: &str) -> Result<Arc<dyn Projection>> {
    if projector == model.name() {
        return Ok(model.clone());
    }
    let parsed = projector
        .strip_prefix(model.name())
        .and_then(|rest| rest.strip_prefix("_p"))
        .and_then(|rest| rest.split_once("_of_"))
        .and_then(|(i, n)| Some((i.parse::<u32>().ok()?, n.parse::<u32>().ok()?)));
    match parsed {
        Some((index, count)) if index < count && splittable(model.name()) => {
            Ok(Partition::one(model.clone(), index, count))
        }
        _ => Err(Error::Invalid(format!(
            "checkpoint {projector:?} is not a projector of {}",
            model.name()
        ))),
    }
}

/// What [`arrange`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrangement {
    /// The projectors whose checkpoints were there before.
    pub before: Vec<String>,
    /// The projectors now (the requested arrangement).
    pub after: Vec<String>,
    /// The position every projector of the new arrangement starts after, when it changed.
    pub moved_at: Option<u64>,
}

/// Makes the checkpoints of `model` in `store`'s world those of `count` partitions ([`layout`]),
/// keeping the rows exact (see the module docs). Idempotent; safe against a concurrent `arrange`
/// (one waits for the other) and against runners of the old arrangement (they stop at their next
/// commit). Other worlds' checkpoints are not touched.
pub async fn arrange(
    db: &ReadDb,
    store: &dyn EventStore,
    model: &Arc<dyn Projection>,
    count: u32,
    batch: usize,
) -> Result<Arrangement> {
    let name = model.name();
    // The checkpoints arranged are those of the store's world.
    let world = store.shard();
    let mut after = layout(name, count);
    after.sort();
    let like = partitions_like(name);
    let mut tx = db.pool().begin().await?;
    if db.backend() == Backend::Postgres {
        // Two processes arranging the same new model must not both insert.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(world, name))
            .execute(&mut *tx)
            .await?;
    }
    // Lock the rows (PostgreSQL) or take the write lock (SQLite) before reading them: runners
    // committing meanwhile queue behind this transaction.
    sqlx::query(
        "UPDATE projection_checkpoints SET position = position \
         WHERE shard = $3 AND (name = $1 OR name LIKE $2)",
    )
    .bind(name)
    .bind(&like)
    .bind(world)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT name, position FROM projection_checkpoints \
         WHERE shard = $3 AND (name = $1 OR name LIKE $2) ORDER BY name",
    )
    .bind(name)
    .bind(&like)
    .bind(world)
    .fetch_all(&mut *tx)
    .await?;
    let mut before = Vec::with_capacity(rows.len());
    for row in &rows {
        let projector: String = row.try_get("name")?;
        before.push((projector, to_position(row.try_get("position")?)));
    }
    let names: Vec<String> = before.iter().map(|(n, _)| n.clone()).collect();
    if names == after {
        tx.commit().await?;
        return Ok(Arrangement {
            before: names,
            after,
            moved_at: None,
        });
    }
    let target = before.iter().map(|(_, p)| *p).max().unwrap_or(0);
    for (projector_name, position) in &before {
        let projection = projector(model, projector_name)?;
        let mut at = *position;
        while at < target {
            let (folded, _) = fold_batch(
                &mut tx,
                store,
                &*projection,
                &mut at,
                batch.max(1),
                target,
                "",
            )
            .await?;
            if folded == 0 {
                return Err(Error::MissingEvent(at + 1));
            }
        }
    }
    sqlx::query(
        "DELETE FROM projection_checkpoints WHERE shard = $3 AND (name = $1 OR name LIKE $2)",
    )
    .bind(name)
    .bind(&like)
    .bind(world)
    .execute(&mut *tx)
    .await?;
    for projector in &after {
        sqlx::query(
            "INSERT INTO projection_checkpoints (shard, name, position) VALUES ($3, $1, $2)",
        )
        .bind(projector)
        .bind(to_sql(target))
        .bind(world)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if !names.is_empty() {
        tracing::info!(model = name, from = ?names, to = ?after, at = target, "re-arranged the partitions");
    }
    Ok(Arrangement {
        before: names,
        after,
        moved_at: Some(target),
    })
}

/// The advisory lock of a model's arrangement in a world.
fn lock_key(world: &str, model: &str) -> i64 {
    fnv1a(
        "loh.projection.arrangement:"
            .bytes()
            .chain(world.bytes())
            .chain([0])
            .chain(model.bytes()),
    ) as i64
}

/// FNV-1a: stable across builds and processes.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
