//! `diff <projection>`: a live read model against the same model refolded from the events into a
//! scratch database, row by row, at the live model's checkpoint.

use crate::{Error, Result};
use async_trait::async_trait;
use loh_events::{
    AppendBatch, Appended, Checkpoint, EventStore, Head, JournalEntry, Lease, Snapshot,
    StoredEvent, WorldEntry,
};
use loh_projections::{Projector, ReadDb};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// One row that differs: its table and key, and both sides (`None` where the row is missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowDiff {
    pub table: String,
    pub key: Vec<Option<String>>,
    pub live: Option<Vec<Option<String>>>,
    pub rebuilt: Option<Vec<Option<String>>>,
}

/// What a diff found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub projection: String,
    /// The live model's checkpoint: the rebuilt model is folded to the same position.
    pub position: u64,
    pub rows_compared: u64,
    pub differences: Vec<RowDiff>,
}

fn db(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("read model: {e}"))
}

/// Diffs projection `name` in `live` against a refold of `store` into a scratch SQLite file
/// under `scratch_dir`.
pub async fn diff(
    store: Arc<dyn EventStore>,
    live: &ReadDb,
    name: &str,
    scratch_dir: &Path,
) -> Result<DiffReport> {
    let projection = loh_projections::by_name(name).map_err(db)?;
    let position = live.checkpoint(projection.name()).await.map_err(db)?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch_dir.join("diff.db").display()
    );
    let scratch = ReadDb::connect(&url).await.map_err(db)?;
    scratch.migrate().await.map_err(db)?;
    let bounded: Arc<dyn EventStore> = Arc::new(Bounded {
        inner: store,
        limit: position,
    });
    Projector::new(projection.clone(), scratch.clone(), bounded)
        .catch_up()
        .await
        .map_err(db)?;
    let mut report = DiffReport {
        projection: name.to_owned(),
        position,
        rows_compared: 0,
        differences: Vec::new(),
    };
    for table in projection.tables() {
        let a = rows(live, table.name, table.key, table.columns).await?;
        let b = rows(&scratch, table.name, table.key, table.columns).await?;
        report.rows_compared += a.len().max(b.len()) as u64;
        let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).cloned().collect();
        for key in keys {
            let (l, r) = (a.get(&key), b.get(&key));
            if l != r {
                report.differences.push(RowDiff {
                    table: table.name.to_owned(),
                    key,
                    live: l.cloned(),
                    rebuilt: r.cloned(),
                });
            }
        }
    }
    Ok(report)
}

type Rows = BTreeMap<Vec<Option<String>>, Vec<Option<String>>>;

/// Every row of `table` as text, keyed by its key columns; values normalised across backends.
async fn rows(db: &ReadDb, table: &str, key: &[&str], columns: &[&str]) -> Result<Rows> {
    let select: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
        .collect();
    let sql = format!("SELECT {} FROM {table}", select.join(", "));
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let mut out = Rows::new();
    for row in found {
        let mut values = Vec::with_capacity(columns.len());
        for c in columns {
            let v: Option<String> = row.try_get(*c).map_err(db_err)?;
            values.push(v.map(normalise));
        }
        let k = key
            .iter()
            .map(|k| values[columns.iter().position(|c| c == k).unwrap_or(0)].clone())
            .collect();
        out.insert(k, values);
    }
    Ok(out)
}

fn db_err(e: sqlx::Error) -> Error {
    db(e)
}

/// The same value prints the same on PostgreSQL and SQLite.
fn normalise(v: String) -> String {
    match v.as_str() {
        "t" | "true" => "1".to_owned(),
        "f" | "false" => "0".to_owned(),
        _ => match v.parse::<f64>() {
            Ok(f) if v.contains('.') || v.contains('e') => format!("{f}"),
            _ => v,
        },
    }
}

/// The store as it was at `limit`: reads stop there.
struct Bounded {
    inner: Arc<dyn EventStore>,
    limit: u64,
}

#[async_trait]
impl EventStore for Bounded {
    fn shard(&self) -> &str {
        self.inner.shard()
    }
    async fn acquire(&self) -> loh_events::Result<Lease> {
        Err(loh_events::Error::Fenced)
    }
    async fn append(&self, _: Lease, _: AppendBatch) -> loh_events::Result<Appended> {
        Err(loh_events::Error::Fenced)
    }
    async fn head(&self) -> loh_events::Result<Head> {
        let head = self.inner.head().await?;
        if head.position <= self.limit {
            return Ok(head);
        }
        Ok(match self.inner.read_from(self.limit, 1).await?.first() {
            Some(e) if self.limit > 0 => Head {
                position: e.position,
                hash: e.hash,
            },
            _ => Head {
                position: 0,
                hash: loh_events::GENESIS_HASH,
            },
        })
    }
    async fn read_from(&self, from: u64, limit: usize) -> loh_events::Result<Vec<StoredEvent>> {
        let mut events = self.inner.read_from(from, limit).await?;
        events.retain(|e| e.position <= self.limit);
        Ok(events)
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> loh_events::Result<Vec<StoredEvent>> {
        let mut events = self
            .inner
            .read_stream(stream_id, from_version, limit)
            .await?;
        events.retain(|e| e.position <= self.limit);
        Ok(events)
    }
    async fn read_journal(
        &self,
        from_tick: u64,
        limit: usize,
    ) -> loh_events::Result<Vec<JournalEntry>> {
        self.inner.read_journal(from_tick, limit).await
    }
    async fn last_seqs(&self) -> loh_events::Result<Vec<(Uuid, u64)>> {
        self.inner.last_seqs().await
    }
    async fn put_checkpoint(&self, _: &Checkpoint) -> loh_events::Result<()> {
        Err(loh_events::Error::Fenced)
    }
    async fn checkpoints(&self) -> loh_events::Result<Vec<Checkpoint>> {
        self.inner.checkpoints().await
    }
    async fn announce(&self, _: &WorldEntry) -> loh_events::Result<()> {
        Err(loh_events::Error::Fenced)
    }
    async fn worlds(&self) -> loh_events::Result<Vec<WorldEntry>> {
        self.inner.worlds().await
    }
    async fn character_home(&self, _: uuid::Uuid, _: i64) -> loh_events::Result<String> {
        Err(loh_events::Error::Fenced)
    }
    async fn arriving_hops(&self, limit: usize) -> loh_events::Result<Vec<loh_events::hop::Hop>> {
        self.inner.arriving_hops(limit).await
    }
    async fn put_snapshot(&self, _: &Snapshot) -> loh_events::Result<()> {
        Err(loh_events::Error::Fenced)
    }
    async fn snapshot_positions(&self) -> loh_events::Result<Vec<u64>> {
        let mut positions = self.inner.snapshot_positions().await?;
        positions.retain(|p| *p <= self.limit);
        Ok(positions)
    }
    async fn snapshot(&self, position: u64) -> loh_events::Result<Option<Snapshot>> {
        if position > self.limit {
            return Ok(None);
        }
        self.inner.snapshot(position).await
    }
    async fn prune_snapshots(&self, _: usize) -> loh_events::Result<u64> {
        Err(loh_events::Error::Fenced)
    }
}
