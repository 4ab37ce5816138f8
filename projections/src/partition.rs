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
//! Not wired into `loh` yet (it runs [`crate::all`], unsplit). Before it is: changing the number
//! of partitions of a model that already has rows needs a rebuild that also creates the new
//! partitions' checkpoints (a new partition starting at 0 would apply the log again on top of
//! the rows), and the status and `as_of_position` of a split model are the minimum of its
//! partitions' checkpoints.

use crate::fold::{Projection, RowOp, TableDef, Value};
use loh_events::StoredEvent;
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
            .map(|index| {
                let name: &'static str =
                    Box::leak(format!("{}_p{index}_of_{count}", inner.name()).into_boxed_str());
                Arc::new(Partition {
                    inner: inner.clone(),
                    index,
                    count,
                    name,
                }) as Arc<dyn Projection>
            })
            .collect()
    }

    /// The partition of a player id.
    pub fn of(player: &str, count: u32) -> u32 {
        // FNV-1a: stable across builds and processes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in player.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h % u64::from(count.max(1))) as u32
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

    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        let mut ops = self.inner.apply(event)?;
        ops.retain(|op| self.owns(op));
        Ok(ops)
    }

    fn partition_of(&self) -> Option<&'static str> {
        Some(self.inner.name())
    }
}
